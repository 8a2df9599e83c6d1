"""Moodle's cloze gaps read decimals only, so a matrix question in moodle.xml must say so, and what it says must score.

Oracle: how Moodle reads and scores a typed number in a NUMERICAL gap, restated from its source (moodle/moodle,
question/type/numerical/questiontype.php, qtype_numerical_answer_processor::build_regex and apply_units: a number is
the longest prefix made of a sign, digits, a decimal point and digits and an exponent, and whatever follows is a
unit; question/type/numerical/question.php, qtype_numerical_answer::get_tolerance_interval for the nominal
tolerance type a cloze gap uses: answer -/+ (tolerance + 10^-precision * max(1, |answer|)), PHP's precision 14).
Read that way "1/4" is the number 1 with the unit "/4": the exam's "Give exact fractions" cannot be followed in
Moodle, and a student who followed it got no cell of 1/4 right.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from html.parser import HTMLParser

import pytest

from dlexam.spec import text
from dlexam.variants import exports, make_variant

MOODLE_NUMBER = re.compile(r"([+-]?[,\d]*)(?:\.(\d*))?(?:(?:e|E|(?:x|\*|×)10(?:\^|\*\*))([+-]?\d+))?")
GAP = re.compile(r"\{(\d+):NUMERICAL:=([^:}]+):([^}]*)\}")
PRECISION = Fraction(1, 10**14)


def moodle_reads(typed: str) -> Fraction | None:
    """The number Moodle takes from a typed answer (its unit, the rest, set aside), or None."""
    m = MOODLE_NUMBER.match(typed.strip())
    whole, decimals, exponent = m.group(1).replace(",", ""), m.group(2) or "", m.group(3)
    if whole in ("", "+", "-") and not decimals:
        return None
    value = Fraction(f"{whole if whole not in ('', '+', '-') else whole + '0'}.{decimals or '0'}")
    return value * Fraction(10) ** int(exponent) if exponent else value


def accepted(typed: str, answer: str, tolerance: str) -> bool:
    value, key = moodle_reads(typed), Fraction(answer)
    margin = Fraction(tolerance or "0") + PRECISION * max(1, abs(key))
    return value is not None and key - margin <= value <= key + margin


def as_told(x: Fraction) -> str:
    """What a student who follows 'a decimal, exactly where finite, else rounded to 4 places' types for x."""
    d = x.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    places = 4
    if d == 1:
        places = next(k for k in range(60) if (x * 10**k).denominator == 1)
    n = abs(x) * 10**places
    rounded = int(n) + (n - int(n) >= Fraction(1, 2))  # half up, as taught
    digits = str(rounded).rjust(places + 1, "0")
    return ("-" if x < 0 else "") + (digits[:-places] + "." + digits[-places:] if places else digits)


class Words(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.feed(html)

    def handle_data(self, data):
        self.parts.append(data)


def test_the_oracle_reads_as_moodles_tests_do():
    # cases from Moodle's own answerprocessor_test (parse_response_provider), restated: the number part only
    assert moodle_reads("3.142") == Fraction("3.142") and moodle_reads(".2") == Fraction("0.2")
    assert moodle_reads("-1.") == -1 and moodle_reads("3.142E-4") == Fraction("3.142e-4")
    assert moodle_reads("3x10^8") == 3 * 10**8 and moodle_reads("1,000,000") == 10**6
    assert moodle_reads("3 frogs") == 3 and moodle_reads("frog") is None
    assert moodle_reads("1/4") == 1  # a fraction is its numerator followed by a unit


@pytest.mark.parametrize("seed,difficulty", [(0, "standard"), (1, "standard"), (7, "standard"), (3, "harder")])
def test_cloze_questions_say_to_type_decimals_and_those_decimals_score(seed, difficulty):
    v = make_variant(seed, difficulty)
    keys = {f"dlexam {seed} {aid}": f for aid, (_, f) in v.fields().items()}
    clozes = [q for q in ET.fromstring(exports.moodle_xml(v)).findall("question") if q.get("type") == "cloze"]
    assert clozes
    fractions_asked = 0
    for q in clozes:
        body = q.findtext("questiontext/text")
        f = keys[q.findtext("name/text")]
        cells = [x for row in f.answer for x in row]
        gaps = GAP.findall(body)
        assert len(gaps) == len(cells)
        for x, (_, answer, tolerance) in zip(cells, gaps, strict=True):
            if x.denominator != 1:  # the exam's way of writing it does not score in Moodle
                fractions_asked += 1
                assert not accepted(text(x), answer, tolerance), (f.name, text(x))
            assert accepted(as_told(x), answer, tolerance), (f.name, x, as_told(x), answer, tolerance)
        words = " ".join(Words(body).parts)
        assert "decimal" in words and "not fractions" in words, f.name  # said in the question, before its grid
        # its examples are true: "a/b as d" with d exactly a/b where that is a finite decimal, else within 5e-5
        examples = re.findall(r"(-?\d+/\d+) as (-?\d+\.\d+)", words)
        assert examples
        for frac, dec in examples:
            exact, typed = Fraction(frac), Fraction(dec)
            finite = (exact * 10**len(dec.split(".")[1])).denominator == 1
            assert typed == exact if finite else abs(typed - exact) <= Fraction(5, 10**5), (frac, dec)
    assert fractions_asked or seed != 0  # seed 0's P has 1/4 and 1/2: the case is exercised


def numericals(v) -> list[tuple[ET.Element, object]]:
    keys = {f"dlexam {v.seed} {aid}": f for aid, (_, f) in v.fields().items()}
    return [(q, keys[q.findtext("name/text")]) for q in ET.fromstring(exports.moodle_xml(v)).findall("question")
            if q.get("type") == "numerical"]


def with_number_key(answer: Fraction):
    """Variant 1 with Pr1.3's first exact number field keyed `answer`, set by hand (no variant's number field has a
    fraction for its key today: an export must not depend on that): (the variant, its question, the field)."""
    import dataclasses

    v = make_variant(1)
    q = v.question("Pr1.3")
    f = next(f for f in q.fields if f.kind == "number" and f.exact)
    changed = dataclasses.replace(f, answer=answer)
    v = dataclasses.replace(v, questions=tuple(
        dataclasses.replace(x, fields=tuple(changed if y is f else y for y in x.fields)) if x is q else x
        for x in v.questions))
    return v, v.question("Pr1.3"), changed


@pytest.mark.parametrize("answer", [Fraction(7, 2), Fraction(1, 7), Fraction(-3, 8), Fraction(13)])
def test_a_numerical_question_says_to_type_a_decimal_and_that_decimal_scores(answer):
    """A numerical question said nothing of decimals, where the exam says to give exact fractions: a student who
    typed an answer of 7/2 as 7/2 was marked by its numerator, 7 (wrong; and a wrong 13/2 where the key is 13,
    right). The question says to type a decimal, as the cloze questions do, with examples that are true, and the
    decimal a student so told types scores. The answer is set by hand (no variant's number question has a fraction
    for its key today: an export must not depend on that)."""
    v, q, changed = with_number_key(answer)
    (el,) = [el for el, g in numericals(v) if g is changed]
    typed, tolerance = el.findtext("answer/text"), el.findtext("answer/tolerance")
    assert accepted(as_told(answer), typed, tolerance), (as_told(answer), typed, tolerance)
    if answer.denominator != 1:
        assert not accepted(text(answer), typed, tolerance)  # the fraction, as the exam writes it, cannot score
    # Moodle reads a fraction by its numerator: 13/2 scores where the key is 13, what the question warns of
    assert accepted(f"{answer.numerator}/2", typed, tolerance) == (answer.denominator == 1)
    words = " ".join(Words(el.findtext("questiontext/text")).parts)
    assert "decimal" in words and "not fractions" in words, words
    for frac, dec in re.findall(r"(-?\d+/\d+) as (-?\d+\.\d+)", words):
        exact, told = Fraction(frac), Fraction(dec)
        finite = (exact * 10**len(dec.split(".")[1])).denominator == 1
        assert told == exact if finite else abs(told - exact) <= Fraction(5, 10**5), (frac, dec)


def test_every_exact_numerical_question_of_a_variant_says_so():
    v = make_variant(0)
    found = numericals(v)
    assert found
    for el, f in found:
        words = " ".join(Words(el.findtext("questiontext/text")).parts)
        assert ("not fractions" in words) == f.exact, (f.name, words[-200:])
