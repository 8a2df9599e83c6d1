"""A numerical item in qti.zip says how to type its answer on Canvas, and what it says scores there.

Oracle: how Canvas (classic quizzes, the importer of QTI 1.2) reads a number typed into a numerical question,
restated from instructure/canvas-lms:

- ui/features/take_quiz/jquery/index.js: when the box loses focus its text is read by numberHelper.parse
  (ui/shared/i18n/numberHelper.ts: parse-decimal-number's whole-text pattern, digits with an optional point and
  digits, else parseFloat for a text with an "e"); a text that is no number ("1/4") empties the box (while typing,
  "only numerical values are accepted"), and a number is written back as val.toFixed(4): JavaScript's toFixed
  rounds the double to 4 places, a tie to the larger magnitude. So 0.03125 becomes 0.0313 and 0.142857 becomes
  0.1429 before the answer is saved, and 0.00004 as 0 (text2qti refuses answers below 1e-4 for this: gpoore/text2qti
  issue 51). The iOS app rounds to 4 places too (instructure/canvas-ios pull request 1143).
- app/models/quizzes/quiz_question/numerical_question.rb: the saved text as a BigDecimal, scored when
  exact - margin <= it <= exact + margin (inclusive), or within a range; the QTI item's varequal is the exact
  value and its vargte/varlte bounds the range (gems/plugins/qti_exporter/lib/qti/numeric_interaction.rb).

A key of 1/32 written as 0.03125 with no tolerance (as for Moodle, which keeps every place) could not be scored on
Canvas: the 0.03125 the question asked for was saved as 0.0313.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from fractions import Fraction
from pathlib import Path

import pytest

from dlexam.spec import text
from dlexam.variants import exports, make_variant

from .test_moodle_decimals import Words, with_number_key

NS = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CANVAS_NUMBER = re.compile(r"\s*([+-]?)(\d*)(?:\.(\d*))?\s*")  # parse-decimal-number's pattern ("," aside)


def canvas_saves(typed: str) -> Fraction | None:
    """The number Canvas's quiz page saves for a typed text (None: the box is emptied)."""
    m = CANVAS_NUMBER.fullmatch(typed)
    if not m or not (m.group(2) or m.group(3)):
        return None
    value = Fraction(float(f"{m.group(1)}{m.group(2) or '0'}.{m.group(3) or '0'}"))  # the double parseFloat gives
    n = abs(value) * 10**4
    rounded = int(n) + (n - int(n) >= Fraction(1, 2))  # toFixed(4): the nearest, a tie to the larger n
    return Fraction(rounded if value >= 0 else -rounded, 10**4)


def canvas_scores(typed: str, item: ET.Element) -> bool:
    saved = canvas_saves(typed)
    cond = item.find(f".//{NS}respcondition/{NS}conditionvar")
    exact = Fraction(cond.findtext(f".//{NS}varequal"))
    low, high = Fraction(cond.findtext(f".//{NS}vargte")), Fraction(cond.findtext(f".//{NS}varlte"))
    return saved is not None and (saved == exact or low <= saved <= high)


def as_told(x: Fraction) -> str:
    """What a student told 'a decimal, exactly where it has at most 4 places, else rounded to 4' types (half up)."""
    places = next((k for k in range(5) if (x * 10**k).denominator == 1), 4)
    n = abs(x) * 10**places
    digits = str(int(n) + (n - int(n) >= Fraction(1, 2))).rjust(places + 1, "0")
    return ("-" if x < 0 else "") + (digits[:-places] + "." + digits[-places:] if places else digits)


def full_decimal(x: Fraction) -> str | None:
    """x's finite decimal expansion, every place (None where it has none)."""
    places = next((k for k in range(60) if (x * 10**k).denominator == 1), None)
    if places is None:
        return None
    n = abs(x) * 10**places
    digits = str(int(n)).rjust(places + 1, "0")
    return ("-" if x < 0 else "") + (digits[:-places] + "." + digits[-places:] if places else digits)


def items(v) -> dict[str, ET.Element]:
    with zipfile.ZipFile(io.BytesIO(exports.qti_zip(v))) as z:
        (name,) = [n for n in z.namelist() if n != "imsmanifest.xml"]
        root = ET.fromstring(z.read(name))
    return {item.get("title").split()[0]: item for item in root.iter(f"{NS}item")}


def words(item: ET.Element) -> str:
    return " ".join(Words(item.find(f"{NS}presentation/{NS}material/{NS}mattext").text).parts)


def test_the_oracle_reads_as_canvas_does():
    assert canvas_saves("1/4") is None and canvas_saves("abc") is None and canvas_saves("") is None
    assert canvas_saves("0.03125") == Fraction("0.0313") and canvas_saves("0.142857") == Fraction("0.1429")
    assert canvas_saves("-0.03125") == Fraction("-0.0313") and canvas_saves("3.5") == Fraction(7, 2)
    assert canvas_saves("0.00005") == Fraction(1, 10**4) and canvas_saves("0.00004") == 0  # text2qti's 1e-4 floor
    assert canvas_saves(".25") == Fraction(1, 4) and canvas_saves("13") == 13


@pytest.mark.parametrize("answer", [Fraction(7, 2), Fraction(1, 7), Fraction(-3, 8), Fraction(13), Fraction(1, 32),
                                    Fraction(-1, 64), Fraction(2, 3)])
def test_a_numerical_item_says_to_type_a_decimal_and_that_decimal_scores_on_canvas(answer):
    """The item said nothing of how to type the answer, where the exam asks for exact fractions, which Canvas erases;
    and a key with more than 4 decimal places was keyed exactly, where Canvas saves 4. The answer is set by hand
    (no variant's number field has a fraction for its key today: an export must not depend on that)."""
    v, q, changed = with_number_key(answer)
    item = items(v)[q.answer_id(changed)]
    assert canvas_scores(as_told(answer), item), as_told(answer)
    if full_decimal(answer) is not None:  # the exact decimal, every place typed: Canvas saves 4 of them
        assert canvas_scores(full_decimal(answer), item), full_decimal(answer)
    assert not canvas_scores(text(answer), item) or answer.denominator == 1  # a fraction is erased
    wrong = answer + Fraction(1, 1000)
    assert not canvas_scores(as_told(wrong), item), as_told(wrong)  # the range is no wider than the rounding
    said = words(item)
    assert "decimal" in said and "not fractions" in said, said
    examples = re.findall(r"(-?\d+/\d+) as (-?\d+\.\d+)", said)
    assert examples, said
    for frac, dec in examples:  # each example, typed into Canvas, is within the rounding of its fraction
        saved, exact = canvas_saves(dec), Fraction(frac)
        assert saved == exact if (exact * 10**4).denominator == 1 else abs(saved - exact) <= Fraction(5, 10**5), (
            frac, dec)


def test_every_exact_numerical_item_of_a_variant_says_so_and_a_loss_does_not():
    v = make_variant(0)
    fields = v.fields()
    found = 0
    for aid, item in items(v).items():
        f = fields[aid][1]
        if f.kind != "number":
            continue
        found += 1
        assert ("not fractions" in words(item)) == f.exact, (aid, words(item)[-200:])
        if f.exact:
            assert canvas_scores(as_told(f.answer), item)
    assert found


def test_the_instruction_is_written_once():
    """Moodle's and Canvas's instructions come from one sentence, not copies of it."""
    folder = Path(exports.__file__).parent
    holding = [p.name for p in sorted(folder.glob("*.py")) if "not fractions" in p.read_text(encoding="utf-8")]
    assert len(holding) == 1, holding


def test_prairielearn_number_inputs_take_fractions():
    """PrairieLearn's inputs read fractions (allow-fractions, its help text says so) and its grader reads them
    exactly (test_prairielearn_numbers.py): its questions ask for no decimals."""
    from dlexam.variants.exports.prairielearn import groups, question_html

    inputs = 0
    for g in groups(make_variant(0)):
        page = question_html(g)
        for tag in re.findall(r"<pl-(?:number|matrix-component)-input [^>]*>", page):
            inputs += 1
            assert 'allow-fractions="true"' in tag, tag
        assert "not fractions" not in page
    assert inputs
