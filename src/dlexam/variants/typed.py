"""A number as a student types it ("1/4", "0.25", "2.5e-1"): the one rule by which dlexam reads typed numbers.

ASCII digits 0-9, a sign, a decimal point, an exponent (within +-MAX_EXPONENT), and a/b of two such numbers, at
most MAX_NUMBER_TEXT characters, spaces around; nothing else of what Python's int and Fraction take ("2_16" is
216 to them, "٢" is 2, and "1e999999999" builds a billion-digit integer). Text outside the rule is an
:class:`UnreadableAnswer` whose message says why, naming the character where one does.

A number read is compared with the key's by :func:`scores` alone: an exact key (a Fraction) by :func:`same_value`
(the fraction itself, or the double nearest it written out in full, 0.14285714285714285 for 1/7; a key of 0 by 0
alone, not by 1e-400, whose nearest double is 0.0 too), a key with a tolerance (a float: a loss) by :func:`near`,
within the one :func:`window` that every export of dlexam's encodes too (Moodle's answer and tolerance, Canvas's
bounds, PrairieLearn's server.py, which grades with this file).

Standard library only: the grader reads every typed number with :func:`read_text` (`dlexam.variants.reading`) and
compares it with :func:`scores` (`dlexam.variants.grade`), and the PrairieLearn export copies this file into the course
(``serverFilesCourse/dlexam/variants/typed.py``), where its server.py grades with both, so a PrairieLearn server
reads and scores a typed number exactly as `dlexam grade` does.
"""

from __future__ import annotations

import json
import re
import unicodedata
from fractions import Fraction

MAX_NUMBER_TEXT = 64  # characters in one number ("-3/14", "0.1429", "2.5e-1"): a longer one is no answer
MAX_EXPONENT = 400  # |e| in "1e5": Fraction("1e99999999") would build a 100-million-digit integer
SHOWN_CHARS = 40  # of an unreadable answer, quoted back in its feedback
KEY_PLACES = 6  # a key with a tolerance (a loss) is written, and its window centred, to these decimal places

DECIMAL = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"  # 3, -0.25, .5, 2.5e-1: ASCII digits only
NUMBER = re.compile(rf"(?P<num>{DECIMAL})(?:\s*/\s*(?P<den>{DECIMAL}))?")  # a decimal, or one over another: 1/4


class UnreadableAnswer(ValueError):
    """One answer, or one matrix cell, that cannot be read as what its field asks for; the message says what is
    wrong with it ("not a number: 'abc' ..."). It costs that answer or cell its points, nothing more."""


def shown(value) -> str:
    """An answer as written, for feedback: text as typed, anything else as JSON; at most SHOWN_CHARS characters."""
    if isinstance(value, str):
        out = value.strip()
    else:
        try:
            out = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):
            out = type(value).__name__
    return out if len(out) <= SHOWN_CHARS else out[:SHOWN_CHARS - 3] + "..."


def foreign(s: str) -> str:
    """Why text is no number though it looks like one, where a character of it says so: a digit other than 0-9
    (Arabic-Indic "٢", full-width "２", "²", "½": Python's int and Fraction read some of them), a decimal comma
    ("0,5"; "3,722" may be a thousands separator too) or "_" (which they read as a digit group: "2_16" as 216, where a
    student meant 2/16 or a subscript); "" for any other text."""
    for c in s:
        if c.isnumeric() and not "0" <= c <= "9":
            name = unicodedata.name(c, f"U+{ord(c):04X}")
            return f"{c!r} is {name}: write numbers with the digits 0-9"
    if "," in s and NUMBER.fullmatch(point := s.replace(",", ".")):
        if re.fullmatch(r"[+-]?[0-9]{1,3},[0-9]{3}", s):  # 3,722: a thousands separator, or a decimal comma
            return f"a comma in a number: write {s.replace(',', '')} without it, or {point} with a decimal point"
        return f"a decimal comma: write {point}, with a decimal point"
    if re.fullmatch(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+", s):  # 1,000,000
        return f"a thousands separator: write {s.replace(',', '')} without commas"
    if "_" in s:
        if m := re.fullmatch(r"([0-9]+)_([0-9]+)", s):  # 2_16: 216, or 2/16; 1_0: 10 alone (1/0 is no fraction)
            fraction = f", or {m[1]}/{m[2]} for a fraction" if m[2].strip("0") else ""
            return f"'_' is no part of a number: write {m[1]}{m[2]}{fraction}"
        return "'_' is no part of a number: write the digits without it (1000, not 1_000)"
    return ""


def read_text(value: str) -> Fraction:
    """Typed text as an exact Fraction, read by :data:`NUMBER` alone (a minus sign copied from typeset text, U+2212,
    is "-"); :class:`UnreadableAnswer` for anything else. Nothing longer than MAX_NUMBER_TEXT characters or with an
    exponent beyond +-MAX_EXPONENT is evaluated, so no text makes this slow."""
    s = value.strip().replace("\u2212", "-")
    m = NUMBER.fullmatch(s) if len(s) <= MAX_NUMBER_TEXT else None  # ASCII digits only from here on
    if len(s) > MAX_NUMBER_TEXT or m and any(abs(int(e)) > MAX_EXPONENT for e in re.findall(r"[eE]([+-]?\d+)", s)):
        raise UnreadableAnswer(f"{s[:20]!r}... is no answer an exam asks for (at most {MAX_NUMBER_TEXT} "
                               f"characters, exponents within +-{MAX_EXPONENT})")
    if m:
        if m["den"] is None:
            return Fraction(m["num"])
        if Fraction(m["den"]) == 0:
            raise UnreadableAnswer(f"not a number: {shown(value)!r} (a fraction's denominator is 0)")
        return Fraction(Fraction(m["num"]), Fraction(m["den"]))
    if why := foreign(s):
        raise UnreadableAnswer(f"not a number: {shown(value)!r} ({why})")
    raise UnreadableAnswer(f"not a number: {shown(value)!r} (write 1/4, 0.25 or 2.5e-1)")


def same_value(got: Fraction, want) -> bool:
    """An exact answer: the fraction itself, or the double nearest it written out in full (a program's 1/3 as JSON
    prints it, 0.3333333333333333). No decimal of 12 or fewer digits is that double unless it is the fraction, so a
    rounded one (0.3333) stays wrong. Zero is only zero: a number that is not 0 never scores a key of 0, though its
    nearest double may be 0.0 ("1e-400"), and 0 never scores a key that is not 0."""
    if got == want:
        return True
    if got == 0 or want == 0:  # not both: 1e-400 rounds to the double 0.0, and is still no zero
        return False
    try:
        return float(got) == float(want)
    except OverflowError:
        return False


def key_decimal(answer) -> str:
    """A key as the decimal every document and export writes: `answer` (a float or a Fraction) rounded to
    KEY_PLACES decimal places in exact arithmetic (half to even on an exact tie, as format(x, ".6f") rounds a
    float): 7.753048132831031 is "7.753048", 1/7 is "0.142857"."""
    n = round(Fraction(answer) * 10**KEY_PLACES)
    whole, frac = divmod(abs(n), 10**KEY_PLACES)
    return f"{'-' if n < 0 else ''}{whole}.{frac:0{KEY_PLACES}d}"


def bounds(centre: str, tolerance: float) -> tuple[Fraction, Fraction]:
    """[centre - tolerance, centre + tolerance] in exact decimals: `centre` a decimal as written ("7.753048"), the
    tolerance its shortest decimal (5e-4 is 0.0005 exactly, not the double nearest it). Both ends are in."""
    t = Fraction(repr(float(tolerance)))
    return Fraction(centre) - t, Fraction(centre) + t


def written(x: Fraction) -> str:
    """A finite decimal written out exactly, no trailing zeros (17.006956, 0.0312, -3): a window's end."""
    places = 0
    while (x * 10**places).denominator != 1:
        places += 1
        if places > 2 * MAX_EXPONENT:
            raise ValueError(f"{x} has no finite decimal")
    n = abs(x * 10**places).numerator
    digits = str(n).rjust(places + 1, "0")
    return ("-" if x < 0 else "") + (f"{digits[:-places]}.{digits[-places:]}" if places else digits)


def bounds_text(centre: str, tolerance: float) -> tuple[str, str]:
    """The two ends of :func:`bounds` as decimals, exactly (17.007456 -/+ 5e-4: 17.006956 and 17.007956; float
    arithmetic wrote 17.006956000000002)."""
    low, high = bounds(centre, tolerance)
    return written(low), written(high)


def window(answer, tolerance: float) -> tuple[Fraction, Fraction]:
    """The numbers a key with a tolerance accepts, the one window of every grader of dlexam's: centred on the key
    as written (:func:`key_decimal`: 7.753048 for a loss of 7.75304813...), not on its exact value, so that both ends
    are short decimals that Moodle (an answer and a tolerance), Canvas (two bounds) and `dlexam grade` are given
    exactly, and the key printed with its tolerance is the whole rule. A number rounded from the exact value to at
    most KEY_PLACES places and within the tolerance of it is within this window too (both are multiples of 1e-6 and
    the centre is at most 5e-7 from the exact value), so the centre costs no answer the question asks for."""
    return bounds(key_decimal(answer), tolerance)


def near(got: Fraction, answer, tolerance: float) -> bool:
    """Whether `got`, a number read exactly, is in :func:`window` (exact arithmetic: "1e400" is far from every
    answer, and an answer at an end of the window is in it)."""
    low, high = window(answer, tolerance)
    return low <= got <= high


def scores(got: Fraction | None, answer, tolerance: float | None = None) -> bool:
    """Whether a number read from an answer (None: nothing read) scores against the key's `answer`: a float (an
    irrational number, a loss) within its `tolerance` (:func:`near`), any other (a Fraction: a number field's
    exact value, a matrix cell) exactly (:func:`same_value`)."""
    if got is None:
        return False
    return near(got, answer, tolerance) if isinstance(answer, float) else same_value(got, answer)
