"""Argument types shared by the command groups: library parsers used as argparse `type=` functions.

The library's parsers raise errors that name the parameter ("temperature must be ..."); wrapped by
:func:`library_type`, argparse reports them with the flag in front ("argument --temperature:
temperature must be ..."), as one line with exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlexam.errors import BadValue, UserError, unusable_path
from dlexam.limits import Span, Temperatures, digits, float_text, thread_span, threads_note


def library_type(parse: Callable[[str], Any], name: str | None = None) -> Callable[[str], Any]:
    """`parse` as an argparse type: its UserError becomes argparse's one-line usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name or parse.__name__
    return convert


def temperature(text: str):
    """--temperature (`geoff`, `sort`, `sort evaluate`): one of :data:`dlexam.bounds.QUERY_TEMPERATURES`, 0 (argmax), a
    number above 0 or 'sqrt', read as the library's one temperature parser reads it (:func:`dlexam.attention.
    parse_temperature` is `QUERY_TEMPERATURES.read`, here without importing torch: a bad temperature is refused
    before torch loads)."""
    from dlexam.bounds import QUERY_TEMPERATURES

    return library_type(lambda t: QUERY_TEMPERATURES.read("temperature", t), "temperature")(text)


# A number typed as text, by float()'s rules, as a plain float: a number float64 cannot hold is refused naming it as
# typed (limits.float_text). The type of the benchmarks' number flags (a parser outside dlexam.cli); dlexam's own
# flags take :func:`float_number`, which also keeps the text for a range check's message.
float_reader = library_type(float_text, "float")


class TypedNumber(float):
    """A number flag's value, float64, with `text` as it was typed: a range check that refuses it quotes the text
    ("--lr must be ..., got 0", never "got 0.0": :func:`dlexam.cli.flag_message`). The command line's parser hands
    the commands a plain float (dlexam.cli.Parser), so that no config or checkpoint holds this class."""

    text: str


def float_number(text: str) -> float:
    """Every number flag's type (`sort train --lr`, `--label-smoothing`, `svhn train --lr`, `--val-fraction`, `serve`'s
    timeouts, `geoff --lr`): float()'s rules ("invalid float value: 'x'", as type=float says), but a number float64
    cannot hold is refused naming it as typed ("1e-400 is too small for a float64 number, ...":
    :func:`dlexam.limits.float_text`), never read as 0 or infinity (`sort train --lr 1e-400` was refused as
    "got 0.0", a number nobody typed, and `--label-smoothing 1e-400` ran with 0). NaN and infinity are numbers
    here: the range check that follows refuses them where a flag needs a finite number, quoting them as typed."""
    value = TypedNumber(float_reader(text))
    value.text = text.strip()
    return value


float_number.__name__ = "float"  # argparse's "invalid float value: 'x'"


def ranged(span: Span | Temperatures, note: str = "") -> str:
    """A number flag's range as its --help states it: the span's words (:meth:`dlexam.limits.Span.words`; a
    temperature's :meth:`dlexam.limits.Temperatures.words`, "0, a number in (0, inf), or 'sqrt'"), the very words its
    refusal says ("--lr must be a number in (0, 10], got 0"), and `note` after them. Every number flag's help says
    its range so (tests/reliability/test_float_flags.py checks each against its refusal)."""
    return span.words() + note


def whole_number(span: Span, note: str = "") -> Callable[[str], int]:
    """The type of a whole-number flag, its range checked as it is read, before the command runs and so before it
    imports torch (`svhn train --epochs 0` was refused after a second of torch's import, until 2026-12-07): int()'s
    rules in ASCII digits, then "must be <the span's words>[ note], got <text>" outside `span`, which the command
    line's parser says as "--epochs must be ..." (dlexam.cli.Parser). The library checks its configs against the same
    span (dlexam.bounds), for its other callers and for values no flag gave (a resumed run's own)."""

    def read(text: str) -> int:
        shown = text.strip()
        if not digits(shown.removeprefix("-").removeprefix("+")):
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}")
        value = int(shown)
        if not span.holds(value):
            raise argparse.ArgumentTypeError(f"must be {span.words()}{note}, got {shown}")
        return value

    read.__name__ = "int"
    read.span = span  # what the census of number flags reads
    return read


def number_in(span: Span) -> Callable[[str], float]:
    """The type of a number flag whose range is checked as it is read, before the command runs (no torch):
    :func:`float_number`'s reading (a number float64 cannot hold refused as typed), then "must be <the span's words>,
    got <text as typed>" outside `span` (NaN and infinity too, where the span is finite)."""

    def read(text: str) -> float:
        value = float_number(text)
        if not span.holds(float(value)):
            raise argparse.ArgumentTypeError(f"must be {span.words()}, got {value.text}")
        return value

    read.__name__ = "float"  # argparse's "invalid float value: 'x'"
    read.span = span  # what the census of number flags reads
    read.reads = float_number  # and that it reads its text as every number flag does
    return read


def threads() -> Callable[[str], int]:
    """The type of a --threads flag: 1 to 4 per CPU this process may run on (:func:`dlexam.limits.thread_span`; a
    million threads crashed torch), its refusal saying why the top is where it is, as :func:`dlexam.limits.threads`
    says it."""
    return whole_number(thread_span(), threads_note())


def sqrt_or_number(temperatures: Temperatures) -> Callable[[str], Any]:
    """The type of a temperature flag whose numbers the library checks against `temperatures` (`sort train
    --temperature-start`, `--temperature-end`: :data:`dlexam.bounds.SCHEDULE_TEMPERATURES`): a number is read as
    :func:`float_number` reads it and checked against them as it is read, quoted as typed ("--temperature-end must be
    a number in (0, 1000000], or 'sqrt', got 0", the words of its help, :func:`ranged`); other text is 'sqrt' or is
    refused here in those words ("must be a number in (0, 1000000], or 'sqrt', got 'abc'"), never in the query
    temperatures' ("0, ...": 0 is none of these)."""

    def read(text: str) -> Any:
        try:
            value = float_number(text)
        except ValueError:  # no number: 'sqrt', or no temperature at all
            try:
                return temperatures.read("temperature", text)
            except BadValue as exc:
                raise argparse.ArgumentTypeError(exc.problem) from None
        try:  # checked as it is read, before torch loads, and quoted as typed ("got nan", "got 0")
            temperatures.check("temperature", float(value), shown=value.text)
        except BadValue as exc:
            raise argparse.ArgumentTypeError(exc.problem) from None
        return value

    read.__name__ = "temperature"
    read.temperatures = temperatures
    return read


def given(text: str) -> str:
    """A flag's text, which must not be empty: `--vocab ""` or `--question ""` is refused, never read as
    "not given" and silently replaced by the default."""
    if text == "":
        raise argparse.ArgumentTypeError("an empty value; give one, or leave the flag out for its default")
    return text


def path_text(text: str) -> str:
    """A file or folder named on the command line, as text: never empty (`Path("")` is the current folder, so
    `--out "$UNSET"` would write into it, and `--shared ""` would silently mean the default folder), and no name the
    file system refuses as too long (a name in it over 255 bytes: every look at it, even "is it there?", raised
    OSError, a traceback from `svhn train --out`, `sort --checkpoint`, `answers --exam`, `--shared`, ... until
    2026-12-07)."""
    if text == "":
        raise argparse.ArgumentTypeError("an empty path; name a file or folder (. is the current folder)")
    problem = unusable_path(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def path(text: str) -> Path:
    """:func:`path_text` as a Path."""
    return Path(path_text(text))


def out_folder_text(text: str) -> str:
    """A folder a command writes into (`--out`, `svhn download --root`), as text, refused as it is read (before the
    command imports torch) where it cannot become a folder: a file, a dangling link, a path under a file
    (:func:`dlexam.files.check_dir_path`, which the writer asks again when it writes)."""
    from dlexam.files.folder import check_dir_path

    try:
        check_dir_path(path_text(text), "")
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None
    return text


def out_folder(text: str) -> Path:
    """:func:`out_folder_text` as a Path."""
    return Path(out_folder_text(text))


def existing(what: str, kind: Callable[[str], Any] = str) -> Callable[[str], Any]:
    """The type of a flag naming a file or folder to read (`--checkpoint`, an image): refused as it is read, before the
    command imports torch, where nothing is there ("checkpoint not found: X", a dangling link named as such:
    :func:`dlexam.errors.missing`). What the file holds is the reader's to check. `kind` makes the value (str, Path)."""

    def read(text: str) -> Any:
        from dlexam.errors import missing

        if not Path(path_text(text)).exists():
            raise argparse.ArgumentTypeError(f"{what} not found: {missing(text)}")
        return kind(text)

    read.__name__ = what
    return read
