"""One window for a number with a tolerance: `dlexam grade`, Moodle, Canvas and PrairieLearn accept the same answers.

`dlexam grade` centred a loss's window on its exact value (7.7530481328...) while Moodle and Canvas were given the
6-decimal key (7.753048) as the centre: the windows differed by up to 5e-7 at their ends, and an answer such as
7.7525486 (the exact value minus 0.0004995) scored in `dlexam grade` and not on Moodle. The window is now defined
once (`dlexam.variants.typed.window`), centred on the key as written.

Oracles, each read from the exported file, not from dlexam's function:
- Moodle: the numerical question's <answer> and <tolerance>, read as qtype_numerical_answer::get_tolerance_interval
  reads them (nominal: answer -/+ (tolerance + 1e-14 * max(1, |answer|))), restated in test_moodle_decimals.accepted;
- Canvas: the item's varequal and varlte, read as canvas-lms's importer reads them (qti_exporter's
  numeric_interaction.rb: exact = the varequal text, margin = varlte - exact in BigDecimal) and scored as
  numerical_question.rb scores them (exact -/+ margin, both ends in, BigDecimal);
- PrairieLearn: the exported server.py's own grading, run without torch (test_prairielearn_numbers.run_exported),
  and question.html's atol.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.grade import grade

from .test_moodle_decimals import accepted
from .test_prairielearn_numbers import COMPARE, run_exported
from .test_qti_decimals import NS, items

V = make_variant(1)  # the variant test_prairielearn_numbers exports (its V)
LOSSES = [aid for aid, (_, f) in V.fields().items() if f.kind == "number" and not f.exact]
STEPS = [Fraction(0), Fraction(1, 10**12), Fraction(1, 10**9), Fraction(1, 10**7), Fraction(4, 10**7),
         Fraction(1, 10**6)]  # from each end of a window, in and out: 1e-7 and 4e-7 told the two centres apart


def decimal_text(x: Fraction) -> str:
    """x (a finite decimal) written out in full."""
    places = next(k for k in range(40) if (x * 10**k).denominator == 1)
    n = abs(x) * 10**places
    digits = str(n.numerator).rjust(places + 1, "0")
    return ("-" if x < 0 else "") + (digits[:-places] + "." + digits[-places:] if places else digits)


def moodle_window(aid: str) -> tuple[str, str]:
    """(answer, tolerance) of the numerical question for `aid` in moodle.xml."""
    quiz = ET.fromstring(exports.moodle_xml(V))
    (q,) = [q for q in quiz.iter("question") if q.findtext("name/text", "").endswith(f" {aid}")]
    return q.findtext("answer/text"), q.findtext("answer/tolerance")


def canvas_window(aid: str) -> tuple[Fraction, Fraction]:
    """The window Canvas builds from the item: exact -/+ (varlte - exact)."""
    cond = items(V)[aid].find(f".//{NS}respcondition/{NS}conditionvar")
    exact = Fraction(cond.findtext(f".//{NS}varequal"))
    margin = Fraction(cond.findtext(f".//{NS}varlte")) - exact
    return exact - margin, exact + margin


def ends(aid: str) -> list[str]:
    """Answers at, just inside and just outside both ends of the window the Canvas item encodes."""
    low, high = canvas_window(aid)
    return sorted({decimal_text(edge + sign * step) for edge in (low, high) for step in STEPS for sign in (1, -1)})


def dlexam_scores(aid: str, answer: str) -> bool:
    (result,) = [r for r in grade(V, {aid: answer}).fields if r.id == aid]
    return result.correct


@pytest.mark.parametrize("aid", LOSSES)
def test_grade_and_the_moodle_and_canvas_windows_agree_at_both_ends(aid):
    answer, tolerance = moodle_window(aid)
    low, high = canvas_window(aid)
    assert (low + high) / 2 == Fraction(answer) and (high - low) / 2 == Fraction(tolerance)  # one window, two files
    for typed in ends(aid):
        verdict = dlexam_scores(aid, typed)
        assert verdict == accepted(typed, answer, tolerance), (typed, "Moodle")
        assert verdict == (low <= Fraction(typed) <= high), (typed, "Canvas")


def test_the_answer_that_told_the_centres_apart():
    """The exact value minus 0.0004995 rounded to 7 places: inside a window centred on the exact value, outside the
    one centred on the key; every grader now says the same of it."""
    aid = LOSSES[0]
    _, f = V.fields()[aid]
    answer, tolerance = moodle_window(aid)
    centre_gap = Fraction(answer) - Fraction(f.answer)  # the key minus the exact value
    edge = Fraction(answer) - Fraction(tolerance)
    typed = decimal_text(edge - centre_gap / abs(centre_gap) * Fraction(1, 10**7))  # outside, toward the exact value
    assert abs(Fraction(typed) - Fraction(f.answer)) <= Fraction(tolerance)  # within the tolerance of the exact value
    assert not accepted(typed, answer, tolerance) and not dlexam_scores(aid, typed)


def test_prairielearn_grades_the_ends_as_dlexam_grade_does(tmp_path):
    aid = LOSSES[0]
    q, f = V.fields()[aid]
    # Problem 2's PrairieLearn question holds its parts, each field's element named after its answer id
    html = exports.prairielearn(V)[f"questions/dlexam-{V.difficulty}-Pr2/question.html"].decode()
    (atol,) = re.findall(rf'answers-name="{aid.replace(".", "_")}"[^>]*atol="([^"]+)"', html)
    assert Fraction(atol) == Fraction(moodle_window(aid)[1])
    typed = ends(aid)
    rows = run_exported(tmp_path, [], script=COMPARE, texts=json.dumps([(f.answer, f.tolerance, t) for t in typed]))
    assert len(rows) == len(typed)
    for text, row in zip(typed, rows, strict=True):
        assert row["text"] == text and row["number"] == float(dlexam_scores(aid, text)), row


def test_the_worked_solution_states_the_window_every_grader_uses():
    """A teacher grading the paper by the worked solution (Markdown and PDF alike) read '4.1085 (...; tolerance
    0.0005)': a third centre, 4.1085, where the graders centre on 4.108472 (4.10896 scored, and was wrong by hand)."""
    from dlexam.variants import documents

    text = documents.markdown(V, solution=True)
    for aid in LOSSES:
        q, f = V.fields()[aid]
        stated = re.findall(r"accepted: (\S+) -/\+ (\S+), (\S+) to (\S+)\)", text)
        assert stated, "the solution states no window"
        low, high = canvas_window(aid)
        assert (Fraction(stated[0][2]), Fraction(stated[0][3])) == (low, high)
        for typed in ends(aid):
            assert dlexam_scores(aid, typed) == (Fraction(stated[0][2]) <= Fraction(typed) <= Fraction(stated[0][3]))
