"""What a typed number may be: ASCII digits 0-9, a sign, a decimal point, an exponent, a/b (docs/variants.md,
Grading). Python's int and Fraction read more: "2_16" as 216 (a digit group), Arabic-Indic or full-width digits
as 0-9, and "1e4_01" past the grader's exponent cap. A student who types the key's digits that way gets no point
for them: the answer is unreadable (wrong, ``invalid`` naming the character), the rest of the sheet is graded.

Oracles: the key's own value (variant 7's Pr1.3.in_features, a whole number of 3 digits, and P1.1's option),
rewritten with the digits' Unicode counterparts by :func:`unicodedata.lookup` by name, or grouped with "_" (which
Python's int reads back as the key: checked here, so each case is one the old grader scored right); the exam's
points typed in (test_grade_malformed.py)."""

from __future__ import annotations

import json
import unicodedata
from fractions import Fraction

import pytest

from dlexam.cli import main
from dlexam.variants import make_variant
from dlexam.variants.grade import grade

V = make_variant(7)
FULL, IN_FEATURES_POINTS, CHOICE_POINTS = Fraction(57), Fraction(4), Fraction(4)
ANSWER = V.question("Pr1.3").fields[1].answer  # in_features: 108 in variant 7
DIGIT_NAMES = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")


def written_in(script: str, n) -> str:
    """`n`'s decimal digits as the digits named "`script` DIGIT ONE" ... in Unicode."""
    return "".join(unicodedata.lookup(f"{script} DIGIT {DIGIT_NAMES[int(d)]}") for d in str(n))


def key() -> dict:
    return json.loads(json.dumps(V.key()))


def field(g, aid):
    return next(r for r in g.fields if r.id == aid)


def test_the_key_has_the_digits_these_cases_need():
    assert isinstance(ANSWER, Fraction) and ANSWER.denominator == 1 and len(str(ANSWER)) == 3


@pytest.mark.parametrize("script", ["ARABIC-INDIC", "EXTENDED ARABIC-INDIC", "DEVANAGARI", "FULLWIDTH",
                                    "MATHEMATICAL BOLD"])
def test_the_keys_number_in_other_digits_is_unreadable(script):
    typed = written_in(script, ANSWER)
    assert int(typed) == ANSWER  # Python reads it as the key: the old grader gave it full marks
    g = grade(V, {**key(), "Pr1.3.in_features": typed})
    assert g.score == FULL - IN_FEATURES_POINTS
    (w,) = field(g, "Pr1.3.in_features").wrong
    first = typed[0]
    assert w["invalid"] == (f"not a number: {typed!r} ({first!r} is {unicodedata.name(first)}: write numbers "
                            "with the digits 0-9)")
    assert w["reason"].startswith(w["invalid"]) and w["given"] == typed


@pytest.mark.parametrize("cut", [1, 2])
def test_digits_grouped_with_an_underscore_are_unreadable(cut):
    digits = str(ANSWER)
    typed = digits[:cut] + "_" + digits[cut:]
    assert int(typed) == ANSWER  # "1_08" is 108 to Python
    g = grade(V, {**key(), "Pr1.3.in_features": typed})
    assert g.score == FULL - IN_FEATURES_POINTS
    (w,) = field(g, "Pr1.3.in_features").wrong
    assert w["invalid"] == (f"not a number: {typed!r} ('_' is no part of a number: write {digits}, or "
                            f"{digits[:cut]}/{digits[cut:]} for a fraction)")


@pytest.mark.parametrize("typed", ["1_0/4", "1.0_8e2", "1_08.0", "10_8/1"])
def test_an_underscore_anywhere_in_a_number_is_unreadable(typed):
    g = grade(V, {**key(), "Pr1.3.in_features": typed})
    (w,) = field(g, "Pr1.3.in_features").wrong
    assert w["invalid"].startswith(f"not a number: {typed!r} ('_' is no part of a number")


def test_an_exponent_past_the_cap_is_refused_though_grouped():
    """ "1e4_01" is 10^401 to Fraction: the cap of +-400 on exponents was read from "4" alone, so "1e10_000_000"
    (33 million bits, seconds per cell) went through it. Now unreadable, never evaluated."""
    g = grade(V, {**key(), "Pr1.3.in_features": "1e4_01"})
    (w,) = field(g, "Pr1.3.in_features").wrong
    assert "invalid" in w and "'_' is no part of a number" in w["invalid"]


def test_a_choice_in_other_digits_says_why():
    right = V.question("P1.1").fields[0].answer
    typed = written_in("ARABIC-INDIC", right)
    g = grade(V, {**key(), "P1.1.choice": typed})
    assert g.score == FULL - CHOICE_POINTS
    (w,) = field(g, "P1.1.choice").wrong
    assert w["invalid"] == (f"not a number: {typed!r} ({typed!r} is {unicodedata.name(typed)}: write numbers with "
                            "the digits 0-9; an option is 1-4 or a-d)")


@pytest.mark.parametrize("typed, value", [
    ("108", 108), ("+108", 108), (" 108 ", 108), ("108.", 108), ("108.0", 108), ("1.08e2", 108), ("1.08E+2", 108),
    ("10800e-2", 108), ("216/2", 108), ("216 / 2", 108), ("-216/-2", 108), ("1/4", Fraction(1, 4)),
    (".25", Fraction(1, 4)), ("2.5e-1", Fraction(1, 4)), ("\u22121/4", Fraction(-1, 4)), ("0.5/2", Fraction(1, 4)),
])
def test_what_the_grammar_reads(typed, value):
    g = grade(V, {**key(), "Pr1.3.in_features": typed})
    r = field(g, "Pr1.3.in_features")
    assert r.correct == (value == ANSWER)
    if value != ANSWER:
        (w,) = r.wrong
        assert "invalid" not in w and w["given"] == typed.strip()


def test_the_command_line_grades_it_and_exits_0(capsys, tmp_path):
    """An unreadable answer in a submission is a grading result (exit 0, the feedback on stdout), not a usage
    error."""
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"seed,7\nPr1.3.in_features,{str(ANSWER)[:1]}_{str(ANSWER)[1:]}\n", encoding="utf-8")
    code = main(["grade", "--variant", "7", str(sheet)])
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    assert "Pr1.3.in_features: " in out.out and "'_' is no part of a number" in out.out
