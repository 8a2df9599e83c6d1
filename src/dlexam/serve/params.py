"""Request fields -> typed values for the library, each refusal naming its field.

A field arrives as text in a query string (``?heads=2``) or typed in a JSON body (``{"heads": 2}``);
each converter takes either and raises :class:`BadRequest` (status 400 unless said otherwise)
with the field's name. Library checks that go further (tokens, weights, temperatures) raise
:class:`dlexam.errors.UserError`; :func:`field` turns those into a BadRequest for the field. A variant is read
from its seed and difficulty fields (:func:`variant_of`), for Geoff's model and for /practice.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from dlexam import limits
from dlexam.errors import BadValue, InputsTogether, UserError
from dlexam.plain import given_twice
from dlexam.words import sequence_advice

MAX_TEXT = 2_000  # characters in any text field (a sequence of 64 tokens is well under this)
MAX_NUMBER_TEXT = 64  # characters in a number written as text
MAX_DEPTH = 16  # levels of nesting in a JSON body; the pages' deepest is 4 (the body, answers, a matrix, its rows)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


class BadRequest(Exception):
    """A request the server refuses: a status, the field at fault and a one-line message."""

    def __init__(self, field: str | None, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status

    def to_json(self) -> dict:
        return {"error": self.message, "field": self.field}


def known(src: Iterable[str], allowed: tuple[str, ...], where: str) -> None:
    """Refuse the first field of `src` (a query string's or a JSON body's names) that is not in `allowed`: a 400
    naming it, the nearest allowed name and every one `where` takes. Without it a misspelt field ("temprature") was
    dropped and its default used without a word."""
    for name in src:
        if name not in allowed:
            shown = name if len(name) <= 40 else name[:40] + "..."
            near = difflib.get_close_matches(shown, allowed, n=1, cutoff=0.7)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            takes = ", ".join(allowed) if allowed else "no field"
            raise BadRequest(shown, f"unknown field {shown!r}{hint}: {where} takes {takes}")


def once(pairs: Iterable[tuple[str, Any]], where: str) -> None:
    """Refuse the first name given twice among `pairs` (a query string's ``multi_items()``): a 400 naming it. Without
    it ``?T=0.5&T=2`` was answered at T = 2 without a word."""
    name = given_twice(n for n, _ in pairs)
    if name is not None:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise BadRequest(shown, f"{shown} is given twice in {where}: give it once")


@contextlib.contextmanager
def field(name: str):
    """Run a library call; its UserError becomes a BadRequest naming `name` (none for InputsTogether: the message
    names the inputs, such as the weights with the temperature)."""
    try:
        yield
    except InputsTogether as exc:
        raise BadRequest(None, str(exc)) from None
    except UserError as exc:
        raise BadRequest(name, str(exc)) from None


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words (a body's reader speaks JSON, not Python: "a list", never "list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r:.20}"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def text(name: str, value: Any, *, max_chars: int = MAX_TEXT) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " ".join(value)  # a JSON list of tokens
    if value is None:  # absent from the body, or null ("image must be text, got NoneType" until 2026-12-07)
        raise BadRequest(name, f"{name} is missing: give it as text")
    if not isinstance(value, str):
        raise BadRequest(name, f"{name} must be text, got {json_kind(value)}")
    if len(value) > max_chars:
        # the field is named by "field" and by the page before the message (it read "sequence: seq is 3,000 ...")
        raise BadRequest(name, f"the text is {len(value):,} characters; at most {max_chars:,} are read")
    return value


def flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE + FALSE:
        return value.strip().lower() in TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise BadRequest(name, f"{name} must be true or false (1 or 0), got {value!r:.40}")


def whole(name: str, value: Any, allowed: tuple[int, ...]) -> int:
    if isinstance(value, str) and limits.digits(value.strip()) and len(value) <= MAX_NUMBER_TEXT:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise BadRequest(name, f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r:.40}")
    return value


def seed(name: str, value: Any) -> int:
    """A variant's seed: a whole number from 0 to 2^63 - 1 (as `dlexam variant --seed` takes it)."""
    top = 2**63 - 1
    if isinstance(value, str) and limits.digits(value.strip()) and len(value.strip()) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise BadRequest(name, f"{name} must be a variant's seed, a whole number from 0 to {top}, got {value!r:.40}")
    return value


def as_float(value: int | float) -> float:
    """float(value), infinity for an integer too large for a float (a 400-digit JSON integer: an OverflowError
    and a 500 before), so that the caller's finiteness check refuses it."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def typed(name: str, text: str) -> None:
    """Refuse text float64 cannot hold (1e-400, 1e400: :func:`dlexam.limits.unheld`), naming the field and the text as
    typed, as :func:`json_body` refuses such a JSON number ("lr: 1e-400 is too small ...")."""
    problem = limits.unheld(text) if len(text) <= MAX_NUMBER_TEXT else None
    if problem is not None:
        raise BadRequest(name, f"{name}: {problem}")


def typed_number(name: str, text: str) -> float | None:
    """Text typed in a number field (/geoff's T and lr, /sort's temperature) read by the rule of /geoff's weight
    cells: dlexam's one reader of typed numbers (:func:`dlexam.variants.typed.read_text`: ASCII digits 0-9, a sign, a
    point, an exponent, a/b), as the double nearest it (float(Fraction(1, 10)), 0.1). None where `text` is no number
    by that rule: the caller refuses it in its own words and adds :func:`why_not`. A number float64 cannot hold is
    refused here, naming the field and the text as typed (:func:`typed`). Until 2026-12-07 these fields went by
    float()'s rules, so T = '1_0' was 10 and T = '\u0662' (ARABIC-INDIC DIGIT TWO) 2, which a weight cell refuses."""
    from dlexam.variants.typed import UnreadableAnswer, foreign, read_text

    try:
        f = read_text(text)
    except UnreadableAnswer:
        if not foreign(text.strip()):
            typed(name, text)  # 1e500, past read_text's exponents: float64 cannot hold it, said so as typed
        return None
    typed(name, text)  # 1e-400, 1e400
    try:
        x = float(f)
    except OverflowError:  # a fraction past float64's range: 1e300/1e-300
        x = math.inf if f > 0 else -math.inf
    if x == 0 and f != 0:  # a fraction below it: 1/1e400
        raise BadRequest(name, f"{name}: {text.strip()[:40]} is too small for a float64 number, which reads it as 0")
    return x


def why_not(text: str) -> str:
    """What a refusal of `text` adds where it looks like a number but is none by :func:`typed_number`'s rule, in the
    words of a weight cell's and the grader's refusal (:func:`dlexam.variants.typed.foreign`): " ('_' is no part of a
    number: write 10, or 1/10 for a fraction)", " (a decimal comma: write 0.5, with a decimal point)"; else ""."""
    from dlexam.variants.typed import foreign

    why = foreign(text.strip())
    return f" ({why})" if why else ""


def number(name: str, value: Any, lo: float, hi: float) -> float:
    """A finite number in (lo, hi], as JSON gives it or as text read by :func:`typed_number` (a weight cell's rule:
    "1/10" is 0.1, "1_0" is no number); a refusal quotes text as it was typed ("got '0'", never "got 0.0")."""
    given = value
    if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
        read = typed_number(name, value)
        value = value if read is None else read
    if isinstance(value, int) and not isinstance(value, bool):
        value = as_float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or not lo < value <= hi:
        shown = given.strip() if isinstance(given, str) else given
        why = why_not(given) if isinstance(given, str) else ""
        raise BadRequest(name, f"{name} must be a finite number in ({lo:g}, {hi:g}], got {shown!r:.40}{why}")
    return float(value)


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise BadRequest(name, f"{name} must be one of {', '.join(allowed)}, got {value!r:.40}")
    return value


def names(name: str, value: Any, allowed: tuple[str, ...], **model) -> tuple[str, ...]:
    """A list of matrix names from `allowed` (JSON list, or comma-separated text), in `allowed`'s order. Each is
    refused naming the field and what it got: an item that is no name, then the library's checks, the ones
    `dlexam geoff --step-matrices` makes (:func:`dlexam.geoff.step.matrix_names`: a name not allowed, with the nearest
    one; a name listed twice; W_O and multi_W_O, two names of the output matrix; given `model`'s weights and heads,
    multi_W_O with one head, which uses W_O). They had been taken without a word
    (["W_V", "W_V"] as ["W_V"], ["W_O", "multi_W_O"] as one of them) or refused as "must list some of ..., got [...]"
    without saying which item."""
    from dlexam.geoff.step import matrix_names

    if isinstance(value, str) and len(value) <= MAX_TEXT:
        value = value.split(",") if value.strip() else []  # "E,,W_Q": matrix_names refuses its empty item
    if not isinstance(value, list) or not value:
        raise BadRequest(name, f"{name} must list some of {', '.join(allowed)}, got {value!r:.60}")
    for v in value:
        if not isinstance(v, str):
            raise BadRequest(name, f"{name}: {v!r:.40} is no matrix name; list some of {', '.join(allowed)}")
    try:
        return matrix_names(name, value, allowed, **model)
    except UserError as exc:
        raise BadRequest(name, str(exc)) from None


def temperature(name: str, value: Any):
    """0 (argmax), a number above 0 or 'sqrt' (sqrt(d_k)): :data:`dlexam.bounds.QUERY_TEMPERATURES`, what `dlexam geoff
    --temperature` takes. Text is 'sqrt' or a number read by :func:`typed_number`, the rule of /geoff's weight cells
    ("1/2" is 0.5; "1_0" and "\u0662" are no numbers, refused saying why: :func:`why_not`), a number float64 cannot
    hold refused naming it as typed ("T: 1e-400 is too small ..."); a JSON value is checked against the same values.
    Every other refusal says the words of the command line's --help, naming the field: "T must be 0, a number in (0,
    inf), or 'sqrt', got -1"."""
    from dlexam.bounds import QUERY_TEMPERATURES

    try:
        if isinstance(value, str) and len(value) <= MAX_NUMBER_TEXT:
            shown = value.strip()
            if shown == "sqrt":
                return "sqrt"
            read = typed_number(name, value)
            if read is not None:
                return QUERY_TEMPERATURES.check(name, read, shown=shown[:40])
            raise BadRequest(name, f"{name} must be {QUERY_TEMPERATURES.words()}, got {shown[:40]!r}{why_not(value)}")
        if isinstance(value, int | float) and not isinstance(value, bool):  # a JSON number; 10**400 as infinity
            return QUERY_TEMPERATURES.check(name, as_float(value), shown=f"{value!r:.40}")
    except BadValue as exc:
        raise BadRequest(name, exc.named({exc.name: name})) from None
    raise BadRequest(name, f"{name} must be {QUERY_TEMPERATURES.words()}, got {value!r:.40}")


@contextlib.contextmanager
def tokens(name: str, text: str, symbols, *, start: str | None = None):
    """Parse a sequence: a UserError becomes a BadRequest naming `name`, with what to write instead where there is
    something to suggest (dlexam.words.sequence_advice, which `dlexam geoff` and `dlexam sort` say too): "separate
    tokens with spaces: D A A", "symbols are case-sensitive: D A A", and for a sorter's input (`start`: the <START>
    it decodes from) given as a training example, "D A A <START> A D <STOP>", the input alone."""
    try:
        yield
    except UserError as exc:
        hint = sequence_advice(text, symbols, start=start)
        raise BadRequest(name, f"{exc}; {hint}" if hint else str(exc)) from None


def has_variant(src: Mapping) -> bool:
    """Whether a request names a variant: drawing one takes ~0.1-0.5 s the first time, too long for the event loop
    (with --workers 0 it runs in a thread)."""
    return src.get("variant") not in (None, "")


def variant_of(src: Mapping, name: str = "variant"):
    """The variant a request names: its seed in the field `name` (``variant``; /practice's ``seed``) and
    ``difficulty`` (standard unless given)."""
    from dlexam.variants import make_variant
    from dlexam.variants.draw import DIFFICULTIES

    variant_seed = seed(name, src.get(name))
    difficulty = choice("difficulty", src.get("difficulty", "standard"), tuple(DIFFICULTIES))
    with field(name):
        return make_variant(variant_seed, difficulty)


def _no_constants(word: str):
    raise ValueError(f"{word} is not JSON")


class _Unheld(float):
    """A JSON number float64 cannot hold, read as 0 or infinity (json_body refuses it, naming its field): `problem`
    says so with the number as written (:func:`dlexam.limits.unheld`)."""

    problem = ""


def _read_float(text: str) -> float:
    value = float(text)
    if (value == 0 or math.isinf(value)) and (problem := limits.unheld(text)) is not None:
        value = _Unheld(value)
        value.problem = problem
    return value


class _Twice(dict):
    """A JSON object that had a key twice (json keeps the last value; json_body refuses it, naming the key)."""

    twice = ""


def _object(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        obj = _Twice(obj)
        obj.twice = given_twice(k for k, _ in pairs)
    return obj


def _weight_cell(path: tuple) -> bool:
    """Whether a place in a body is one entry of a weight matrix: weights.W_V[i][j] or
    weights.multi_heads[h].W_Q[i][j]."""
    cell = path[-2:]
    return bool(path) and path[0] == "weights" and len(path) in (4, 6) and all(isinstance(i, int) for i in cell)


def _field_of(path: tuple) -> str:
    """The field a place in a body belongs to, as refusals name it: a weight matrix `weights.W_V`, else the body's
    own field (`answers`, `gradient_of`), or `body` for the body itself."""
    if not path:
        return "body"
    return f"weights.{path[1]}" if path[0] == "weights" and len(path) > 1 else str(path[0])


def _check(x: Any, path: tuple = ()) -> None:
    """Refuse, naming the field: nesting deeper than MAX_DEPTH, a key given twice, a number float64 reads as 0 or
    infinity."""
    if len(path) >= MAX_DEPTH:
        raise BadRequest(_field_of(path), f"{_field_of(path)} is nested more than {MAX_DEPTH} levels deep (the pages' "
                                          "requests nest 4 at most)")
    if isinstance(x, _Twice):
        where = _field_of((*path, x.twice))
        raise BadRequest(where, f"{str(x.twice)[:40]!r} is given twice in {'.'.join(map(str, path)) or 'the body'}: "
                                "give it once")
    if isinstance(x, _Unheld) and not _weight_cell(path):  # a weight's cell: refused by the matrix's reader
        name = _field_of(path)  # (dlexam.serve.geoff_params.matrix), which names it as /geoff does
        raise BadRequest(name, f"{name}: {x.problem}")
    items = x.items() if isinstance(x, dict) else enumerate(x) if isinstance(x, list) else ()
    for key, value in items:
        _check(value, (*path, key))


def json_body(raw: bytes) -> dict:
    """A JSON object from a request body; NaN, Infinity, deep nesting and bad UTF-8 are refused, and so is a number
    float64 cannot hold (1e-400, 1e400), which it would read as 0 or infinity without a word (as the page once took a
    typed weight), a key given twice (json keeps the last one without a word) and nesting deeper than MAX_DEPTH (a
    worker's pickle of a body nested 500 deep ran out of recursion: a 500)."""
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constants, parse_float=_read_float,
                         object_pairs_hook=_object)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest("body", f"the body is not JSON: {str(exc)[:100]}") from None
    if not isinstance(obj, dict):
        raise BadRequest("body", f"the body must be a JSON object, got {json_kind(obj)}")
    _check(obj)
    return obj
