"""Canvas scores a fill-in-multiple-blanks answer by its text, so a matrix item in qti.zip must say which texts score.

Oracle: Canvas's rule, restated from instructure/canvas-lms
(app/models/quizzes/quiz_question/fill_in_multiple_blanks_question.rb, matching_answer?): a blank's response scores
when, trimmed and lower-cased, it equals the text of one of that blank's answers, trimmed and lower-cased. Nothing
reads it as a number: 2/4 for a cell of 1/2, which dlexam grade and the exam's instructions take, scores nothing.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction

import pytest

from dlexam.variants import exports, make_variant

from .test_moodle_decimals import Words

NS = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"


def canvas_scores(typed: str, answers: list[str]) -> bool:
    return any(typed.strip().lower() == a.strip().lower() for a in answers)


def lowest_terms(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def shortest_decimal(x: Fraction) -> str | None:
    """x with the fewest decimal places that hold it exactly, at least one (None: a whole number, or no such)."""
    if x.denominator == 1:
        return None
    for places in range(1, 40):
        if (x * 10**places).denominator == 1:
            n = abs(x) * 10**places
            digits = str(int(n)).rjust(places + 1, "0")
            return ("-" if x < 0 else "") + digits[:-places] + "." + digits[-places:]
    return None


@pytest.mark.parametrize("seed,difficulty", [(0, "standard"), (1, "standard"), (7, "standard"), (3, "harder")])
def test_matrix_items_say_which_texts_canvas_scores_and_those_score(seed, difficulty):
    v = make_variant(seed, difficulty)
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(v))) as z:
        (name,) = [n for n in z.namelist() if n != "imsmanifest.xml"]
        root = ET.fromstring(z.read(name))
    fields = v.fields()
    matrices = 0
    for item in root.iter(f"{NS}item"):
        q, f = fields[item.get("title").split()[0]]
        if f.kind != "matrix":
            continue
        matrices += 1
        lids = item.findall(f".//{NS}response_lid")
        cells = [x for row in f.answer for x in row]
        assert len(lids) == len(cells)
        for lid, x in zip(lids, cells, strict=True):
            answers = [m.text for m in lid.iter(f"{NS}mattext")][1:]  # the first names the blank
            assert canvas_scores(lowest_terms(x), answers), (f.name, x)
            if (dec := shortest_decimal(x)) is not None:
                assert canvas_scores(dec, answers), (f.name, x, dec)
            if x.denominator != 1:  # the same value written otherwise scores nothing
                assert not canvas_scores(f"{2 * x.numerator}/{2 * x.denominator}", answers)
        words = " ".join(Words(item.find(f"{NS}presentation/{NS}material/{NS}mattext").text).parts)
        assert "lowest terms" in words and "decimal" in words, f.name  # said before the grid
        # its examples hold by Canvas's rule: "a/b as d" is a's shortest decimal; "a/b, not c/d" is a/b's other form
        for frac, dec in re.findall(r"(-?\d+/\d+) as (-?\d+\.\d+)", words):
            assert shortest_decimal(Fraction(frac)) == dec
        for good, bad in re.findall(r"(-?\d+/\d+), not (-?\d+/\d+)", words):
            assert Fraction(good) == Fraction(bad) and lowest_terms(Fraction(good)) == good != bad
    assert matrices == 5
