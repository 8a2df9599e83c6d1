"""Numbers on platforms that read decimals only: the decimal an export keys, and the one sentence that says so.

The exam asks for exact fractions, but Moodle and Canvas read a typed number as a decimal: Moodle's numerical
answer processor takes the digits before the first other character and calls the rest a unit ("1/4" is 1 with the
unit "/4"); Canvas's quiz page (classic quizzes, which import QTI 1.2) reads a whole text as a decimal, empties a
box holding anything else ("1/4"), and writes what it read back rounded to 4 places (JavaScript's toFixed(4)) before
saving it: 0.03125 is saved as 0.0313. The QTI 1.2 specification's fibtype="Decimal" names the kind of text too (its
values: String, Integer, Decimal, Scientific, Boolean), and a fraction is none of them. PrairieLearn reads fractions
(pl-number-input's allow-fractions) and needs none of this.

A `Reader` holds a platform's facts; `decimal` keys an exact answer for it and `instruction` tells the student how
to type it, from the same facts and the same examples, so that what a question says is what it scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlexam.variants.model import Field
from dlexam.variants.typed import key_decimal

PLACES = 4  # a number with no finite decimal (or, on Canvas, none of at most 4 places) is typed rounded to these
TOLERANCE = 5e-5  # half a unit in the 4th place: a number rounded to 4 places is within it of the exact one
EXAMPLES = (Fraction(1, 4), Fraction(1, 32), Fraction(1, 7))  # the instruction's: 2, 5 and no finite places


@dataclass(frozen=True)
class Reader:
    """How a platform reads a typed number."""

    platform: str
    fraction: str  # what it does with a typed fraction, in words
    rounds: bool = False  # it saves a typed number rounded to PLACES decimal places (Canvas)


# Moodle: a standalone numerical question and a cloze gap alike read "7/2" as 7 with the unit "/2"
# (qtype_numerical's answer processor); it says "do not include a unit" while the attempt is open, but a quiz graded
# at its end grades the 7: an answer of 7/2 typed as the exam asks is wrong, and a wrong 13/2 where the key is 13 is
# right. Said for every exact answer, a whole number's too, since the student's own answer may be a fraction.
MOODLE = Reader("Moodle", "1/4 would be read as 1")
# Canvas's classic quizzes (ui/features/take_quiz: numberHelper.parse, then toFixed(4), when the box loses focus)
CANVAS = Reader("Canvas", "it empties a box holding 1/4", rounds=True)


def places(x: Fraction) -> int | None:
    """The decimal places of x's finite expansion (its denominator has no prime factor but 2 and 5), else None."""
    d, twos, fives = x.denominator, 0, 0
    while d % 2 == 0:
        d, twos = d // 2, twos + 1
    while d % 5 == 0:
        d, fives = d // 5, fives + 1
    return max(twos, fives) if d == 1 else None


def terminating(x: Fraction) -> bool:
    """Whether x has a finite decimal expansion."""
    return places(x) is not None


def fixed(x: Fraction, digits: int) -> str:
    """x rounded to `digits` decimal places, in integer arithmetic: exact for any size (through a float, 2**53 + 1
    was written 9007199254740992, and an exact answer keyed with tolerance 0 was then a wrong one)."""
    n = round(x * 10**digits)
    sign, n = ("-" if n < 0 else ""), abs(n)
    whole, frac = divmod(n, 10**digits)
    return f"{sign}{whole}" + (f".{frac:0{digits}d}" if digits else "")


def decimal(x: Fraction | float, rounds: bool = False) -> tuple[str, float]:
    """(the answer as a decimal, the tolerance that accepts it): exact with tolerance 0 where it has a finite decimal
    the platform keeps whole; else within TOLERANCE, which takes the number rounded to 4 places (on a platform that
    `rounds` to 4 places, 1/32's 0.03125 is saved as 0.0313: 0.03125 keyed within TOLERANCE takes it, and 0.0312)."""
    if isinstance(x, Fraction) and terminating(x):
        exact = places(x)
        return fixed(x, exact), (TOLERANCE if rounds and exact > PLACES else 0.0)
    return key_decimal(x), TOLERANCE  # 1/7: 0.142857 within 5e-5, which takes 0.1429


def keyed(f: Field, rounds: bool = False) -> tuple[str, float]:
    """(the decimal a number field is keyed by, its tolerance) on a platform that reads decimals: an exact answer by
    :func:`decimal`, one with a tolerance (a loss) by its key's own window (typed.window: the key to KEY_PLACES
    places, the key's tolerance), the window `dlexam grade` scores it by."""
    return decimal(f.answer, rounds) if f.exact else (key_decimal(f.answer), f.tolerance)


def as_typed(x: Fraction, rounds: bool) -> str:
    """What a student who follows the instruction types for x: its finite decimal where the platform keeps it
    whole, else x rounded half up to PLACES places."""
    exact = places(x)
    if exact is not None and (not rounds or exact <= PLACES):
        return fixed(x, exact)
    n = abs(x) * 10**PLACES
    rounded = int(n) + (n - int(n) >= Fraction(1, 2))
    return ("-" if x < 0 else "") + fixed(Fraction(rounded, 10**PLACES), PLACES)


def instruction(reader: Reader, what: str) -> str:
    """The sentence a question with an exact number puts before its answer: `what` is "the answer" or "each cell".
    Moodle: "Moodle reads decimals, not fractions (1/4 would be read as 1): type the answer as a decimal, exactly
    where it has a finite one (1/4 as 0.25, 1/32 as 0.03125), else rounded to at least 4 decimal places (1/7 as
    0.1429)." Canvas keeps 4 places, so 1/32 is among the rounded examples there."""
    def whole(x):
        return places(x) is not None and (not reader.rounds or places(x) <= PLACES)

    def listed(xs):
        return ", ".join(f"{x.numerator}/{x.denominator} as {as_typed(x, reader.rounds)}" for x in xs)

    kept = f" and keeps {PLACES} decimal places of a typed number" if reader.rounds else ""
    where = f"at most {PLACES} decimal places" if reader.rounds else "a finite one"
    least = "" if reader.rounds else "at least "
    return (f"{reader.platform} reads decimals, not fractions ({reader.fraction}){kept}: type {what} as a decimal, "
            f"exactly where it has {where} ({listed([x for x in EXAMPLES if whole(x)])}), else rounded to {least}"
            f"{PLACES} decimal places ({listed([x for x in EXAMPLES if not whole(x)])}).")
