"""Checks of the numbers a user gives (flags, configs, checkpoint files), each one clear line.

A setting outside its range is refused before any work, with a message that names the parameter (a
:class:`dlexam.errors.BadValue`, which the command line says with the flag's name):
no flag is silently replaced by a default, and no NaN, infinity or absurd size reaches a model.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dlexam.errors import BadValue, UnheldNumber, UnknownKey


def digits(text: str) -> bool:
    """Whether `text` is ASCII decimal digits only: str.isdigit() also holds for '²' and '٢', which int() refuses
    or reads as another digit (every reader of a whole number a user typed asks this, not isdigit())."""
    return text.isascii() and text.isdigit()


def underflows(text: str) -> bool:
    """Whether a number written as `text` is not 0 but float64 reads it as 0 (1e-400, below the smallest float64,
    about 5e-324)."""
    mantissa = text.strip().lower().split("e")[0]
    try:
        return float(text) == 0 and any(c in "123456789" for c in mantissa)
    except ValueError:
        return False


def overflows(text: str) -> bool:
    """Whether a finite number written as `text` is read by float64 as infinity (1e400, above about 1.8e308)."""
    try:
        return math.isinf(float(text)) and "inf" not in text.lower()
    except ValueError:
        return False


def unheld(text: str) -> str | None:
    """Why float64 cannot hold the number written as `text`, naming it as written ("1e-400 is too small for a float64
    number, which reads it as 0: ..."), or None where it can (or `text` is no number). float() reads such a number
    as 0 or infinity without a word: a learning rate of 1e-400 was refused as "got 0.0", a number nobody typed."""
    shown = text.strip()[:40]
    if underflows(text):
        return (f"{shown} is too small for a float64 number, which reads it as 0 (the smallest size it "
                "holds is 5e-324)")
    if overflows(text):
        return (f"{shown} is too large for a float64 number, which reads it as infinity: type a number of size at "
                "most 1.7e308")
    return None


def decimal_comma(text: str) -> str:
    """What a refusal of `text` adds where it is no number but reads as one with its comma a point ("0,5",
    "-1,25e-3"): ' (a decimal comma: write 0.5, with a decimal point)', and for "1,000", which may be a thousands
    separator too, both readings; "" for any other text. The words of /geoff's weight cells and of the grader
    (dlexam.variants.typed.foreign, which a course's copy keeps standard-library only)."""
    shown = text.strip()
    if not re.fullmatch(r"[+-]?[0-9]+,[0-9]+(?:[eE][+-]?[0-9]+)?", shown):
        return ""
    point = shown.replace(",", ".")
    if re.fullmatch(r"[+-]?[0-9]{1,3},[0-9]{3}", shown):  # 1,000: a thousands separator, or a decimal comma
        return f" (a comma in a number: write {shown.replace(',', '')} without it, or {point} with a decimal point)"
    return f" (a decimal comma: write {point}, with a decimal point)"


def float_text(text: str) -> float:
    """A number typed as text (a flag, a form field, a query string) as float64, by float()'s rules: ValueError for
    text that is no number; UnheldNumber (a UserError), naming the text as typed (:func:`unheld`), for a number
    float64 cannot hold. Every reader of a typed float asks this (the temperature of `dlexam geoff --temperature` and
    of /api/geoff alike, through attention.parse_temperature; `dlexam geoff --lr`; every number flag), in ASCII
    digits alone: float() also reads '1_0' as 10 and an Arabic-Indic or full-width 2 as 2, which are no numbers here,
    as they are none to /geoff's fields and the grader (dlexam.variants.typed); until 2026-12-07 `geoff --temperature
    1_0` ran at T = 10."""
    shown = text.strip()
    if "_" in shown or not shown.isascii():
        raise ValueError(f"could not convert string to float: {text!r}")
    value = float(text)
    problem = unheld(text)
    if problem is not None:
        raise UnheldNumber(problem)
    return value


@dataclass(frozen=True)
class Span:
    """The accepted values of a number setting: the interval from `lo` to `hi`, an end open where asked, whole
    numbers only where `whole`. :meth:`words` is the one wording of a range: a flag's --help states it and a refusal
    says it ("--lr must be a number in (0, 10], got 0"), both from the same bounds as the check, so the two can never
    disagree (tests/reliability/test_float_flags.py reads each flag's range from its help and checks the refusal)."""

    lo: float
    hi: float
    whole: bool = False
    lo_open: bool = False
    hi_open: bool = False

    def words(self) -> str:
        """"a whole number in [1, 65536]", "a number in (0, 10]": round brackets for an open end."""
        kind = "a whole number" if self.whole else "a number"
        return (f"{kind} in {'(' if self.lo_open else '['}{_bound(self.lo)}, {_bound(self.hi)}"
                f"{')' if self.hi_open else ']'}")

    def holds(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int if self.whole else int | float):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # an int is finite (and may be past a float's range)
            return False
        lo, hi = self.lo, self.hi
        return (lo < value if self.lo_open else lo <= value) and (value < hi if self.hi_open else value <= hi)

    def check(self, name: str, value: Any, *, optional: bool = False, note: str = "",
              error: type[BadValue] = BadValue) -> Any:
        """`value` if it lies in the span (None too where `optional`); `error` (a BadValue) naming `name` otherwise,
        its message "must be <words>[ note], got <value>"."""
        if value is None and optional:
            return None
        if not self.holds(value):
            raise error(name, value, f"must be {self.words()}{note}, got {value!r}")
        return value if self.whole else float(value)


@dataclass(frozen=True)
class Temperatures:
    """The accepted values of an attention temperature: the numbers of `span`, 0 too where `argmax` (argmax attention,
    the T -> 0 limit), and 'sqrt' (sqrt(d_k), which the model resolves). :meth:`words` is their one wording, as
    :meth:`Span.words` is a range's: a temperature flag's --help states it and its refusal says it ("temperature must
    be 0, a number in (0, inf), or 'sqrt', got -1"), /api/geoff's T and /api/sort's temperature as well
    (tests/reliability/test_float_flags.py, tests/serve/test_api.py)."""

    span: Span
    argmax: bool = False

    def words(self) -> str:
        """"0, a number in (0, inf), or 'sqrt'", "a number in (0, 1000000], or 'sqrt'"."""
        return f"{'0, ' if self.argmax else ''}{self.span.words()}, or 'sqrt'"

    def holds(self, value: Any) -> bool:
        if isinstance(value, str):
            return value == "sqrt"
        if self.argmax and not isinstance(value, bool) and isinstance(value, int | float) and value == 0:
            return True
        return self.span.holds(value)

    def check(self, name: str, value: Any, *, optional: bool = False, shown: str | None = None,
              error: type[BadValue] = BadValue) -> float | str | None:
        """`value` (a number or 'sqrt') if it is one of these temperatures, as a float (-0 as 0: never "T = -0") or
        'sqrt' (None too where `optional`); `error` (a BadValue) naming `name` otherwise, its message "must be
        <words>, got <shown>" (`shown`: the value as typed; default its repr)."""
        if value is None and optional:
            return None
        if not self.holds(value):
            raise error(name, value, f"must be {self.words()}, got {repr(value) if shown is None else shown}")
        return "sqrt" if value == "sqrt" else float(value) + 0.0

    def read(self, name: str, text: str) -> float | str:
        """A temperature typed as text: 'sqrt' (spaces around it aside), or a number by :func:`float_text`'s rules
        (a number float64 cannot hold is refused naming it as typed: UnheldNumber), checked as :meth:`check` checks
        it. The refusal quotes a number as typed ("got -1", "got nan") and other text as text ("got 'abc'")."""
        shown = text.strip()
        if shown == "sqrt":
            return "sqrt"
        try:
            value = float_text(text)
        except ValueError:
            return self.check(name, text, shown=repr(shown[:40]) + decimal_comma(text))
        return self.check(name, value, shown=shown[:40])


def _bound(x: float) -> str:
    """An end of a span as Python writes it, exactly (1e-07 as 1e-07, 4294967295 whole, 10.0 as 10)."""
    if isinstance(x, int) or (isinstance(x, float) and math.isfinite(x) and x == int(x) and abs(x) < 1e16):
        return str(int(x))
    return repr(x)


def whole(name: str, value: Any, lo: int, hi: int, *, optional: bool = False) -> int | None:
    """`value` as a whole number in [lo, hi] (None allowed when `optional`); UserError otherwise."""
    return Span(lo, hi, whole=True).check(name, value, optional=optional)


def number(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
           optional: bool = False) -> float | None:
    """`value` as a finite number in the interval [lo, hi] (ends open where asked); UserError otherwise."""
    return Span(lo, hi, lo_open=lo_open, hi_open=hi_open).check(name, value, optional=optional)


def known_keys(d: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Refuse a config (read from a file: a checkpoint's model config or settings) holding a key that `allowed` does
    not name, rather than drop it: :class:`UnknownKey` naming the first such key, and the nearest allowed key where
    one is close ("unknown key 'activaton'; did you mean 'activation'?"). The one check of every config's
    ``from_dict`` (the SVHN CNN's, its layer table's and training's, the sorter's model and training)."""
    allowed = list(allowed)
    unknown = sorted(str(k) for k in d if k not in allowed)
    if not unknown:
        return
    near = difflib.get_close_matches(unknown[0], allowed, n=1)
    more = len(unknown) - 1
    raise UnknownKey(f"unknown key {unknown[0]!r}" + (f"; did you mean {near[0]!r}?" if near else "")
                     + (f" (and {more} more: {', '.join(map(repr, unknown[1:4]))}{', ...' if more > 3 else ''})"
                        if more else ""))


def choice(name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        raise BadValue(name, value, f"must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


# Seeds: torch.Generator.manual_seed takes 0 .. 2**64 - 1, and the trainers derive further seeds from
# the one given (seed * 1,000,003 + epoch, say), so a seed must leave room for that.
MAX_SEED = 2**32 - 1
THREADS_PER_CPU = 4  # more threads than this per CPU only adds waiting (and a million of them crash torch)


SEED = Span(0, MAX_SEED, whole=True)  # a seed of the SVHN commands (svhn train, svhn synth, sort evaluate)


def seed(name: str, value: Any, hi: int = MAX_SEED) -> int:
    """`value` as a seed, a whole number from 0 to `hi` (default 2**32 - 1: :data:`SEED`); UserError otherwise."""
    return Span(0, hi, whole=True).check(name, value)


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity), at least 1."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def max_threads() -> int:
    """The most torch threads a flag may ask for: 4 per CPU this process may run on."""
    return THREADS_PER_CPU * cpu_count()


def thread_span() -> Span:
    """The thread counts a flag may ask for: 1 to :func:`max_threads`."""
    return Span(1, max_threads(), whole=True)


def threads_note() -> str:
    """What the top of :func:`thread_span` is, in words (a --help and a refusal say it after the span)."""
    return f" ({THREADS_PER_CPU} per CPU; this machine has {cpu_count()})"


def threads(name: str, value: Any, *, optional: bool = False) -> int | None:
    """`value` as a thread count, 1 to 4x the CPUs (:func:`thread_span`); UserError otherwise."""
    return thread_span().check(name, value, optional=optional, note=threads_note())
