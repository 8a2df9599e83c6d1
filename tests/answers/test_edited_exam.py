"""`dlexam answers --exam FILE` on edited exam texts and on texts that are not the exam.

Each edited text is built here from the real exam text (the `exam_text` fixture), by one replacement
whose old and new strings are typed in by hand, and the expected values are the exam's numbers and
hand arithmetic (6 x (5 x 5 x 1 + 1) = 156), never the key's own output on the real text. The rules
(docs/answers.md): a text that is not the exam is one error line and exit status 2, checked before any
work; a changed number is read and compared (`disagrees`, naming it); a changed quote makes its question
`unread`, and no verdict rests on a quote the file does not hold.
"""

from __future__ import annotations

import itertools
import json

import pytest

from dlexam.answers import QUESTION_IDS, answer, answer_key
from dlexam.cli import main

pytestmark = pytest.mark.usefixtures("exam_text")  # skip where the real exam text is absent

EXAM_FILE = "deep-learning-final-exam-2025-01-22-version-A.txt"
# The real exam's verdicts (docs/answers.md, "What the key finds"), typed in by hand.
CONCEPTUAL = {"P1.5", "P2.1", "P2.2", "P2.3", "Pr1.1"}
DISAGREES = {"Pr2.4"}
PARTLY = {"Pr2.5"}  # W_Q and W_K frozen under argmax, as the exam says; W_V not; the fix right
REAL_VERDICTS = {q: "conceptual" if q in CONCEPTUAL else "disagrees" if q in DISAGREES else
                 "partly agrees" if q in PARTLY else "agrees" for q in QUESTION_IDS}
LOSS_LINE = ("$$L = -\\log P(y_5 = A) - \\log P(y_6 = D) - \\log P(y_7 = \\langle STOP \\rangle) = 4.2114.$$")
CONV1_FORMULA = "$8 \\times ((5 \\times 5 \\times 1) + 1)$"
NOT_THE_EXAM = ("none of the exam's 8 headings ('Deep Learning', 'Final Exam', 'January 22, 2025', 'Version A', "
                "...) is in it")
_names = itertools.count()


@pytest.fixture
def edited(exam_text, tmp_path, monkeypatch):
    """edited((old, new), ...) -> the path of the exam text with each `old` (which must occur exactly once)
    replaced by `new`, set as $DLEXAM_EXAM (undone after the test). A new file each call."""

    def make(*edits: tuple[str, str], text: str | None = None):
        text = exam_text if text is None else text
        for old, new in edits:
            assert text.count(old) == 1, (old, text.count(old))
            text = text.replace(old, new)
        path = tmp_path / f"exam-{next(_names)}.txt"
        path.write_bytes(text.encode("utf-8"))
        monkeypatch.setenv("DLEXAM_EXAM", str(path))
        return path

    return make


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---- case 1: the loss edited (4.2114 -> 4.3114) ---------------------------------------------------

def test_an_edited_loss_is_read_and_disagrees(edited, capsys):
    path = edited((LOSS_LINE, LOSS_LINE.replace("4.2114", "4.3114")))
    a = answer("Pr2.3").to_dict()
    assert a["verdict"] == "disagrees" and a["exam_quotes_found"] is True
    assert a["evidence"]["exam_printed"]["loss"] == 4.3114
    assert a["exam_answer"] == "L = 4.3114 (P(A) = 0.4547, P(D) = 0.4547, P(<STOP>) = 0.0717)"
    assert "4.3114" in a["explanation"] and "4.2114" in a["explanation"]  # the file's number, and the exam's own

    code, out, err = run(capsys, "answers", "--exam", str(path), "-q", "Pr2.3")
    assert (code, err) == (0, "")
    assert "Verdict:      disagrees" in out and "Exam answer:  L = 4.3114" in out

    code, out, err = run(capsys, "answers", "--exam", str(path))  # the whole table
    assert (code, err) == (0, "")
    row = next(line for line in out.splitlines() if line.startswith("Pr2.3 "))
    assert "DISAGREES" in row and "L = 4.3114" in row
    assert "20 questions: 12 agree, 1 partly agree, 2 disagree, 5 conceptual." in out


def test_the_rest_of_the_key_is_unchanged_by_one_edited_number(edited):
    edited((LOSS_LINE, LOSS_LINE.replace("4.2114", "4.3114")))
    verdicts = {a.id: a.verdict for a in answer_key()}
    assert verdicts == {**REAL_VERDICTS, "Pr2.3": "disagrees"}


def test_an_edited_probability_is_named(edited):
    line = "$$P(y_5 = A) = \\exp(3)/(2\\exp(3) + 4) = 0.4547$$"
    edited((line, line.replace("0.4547", "0.5547")))
    a = answer("Pr2.3").to_dict()
    assert a["verdict"] == "disagrees" and a["evidence"]["exam_printed"]["probabilities"][0] == 0.5547
    assert "P(A)" in a["explanation"] and "0.5547" in a["explanation"] and "4.2114" not in a["explanation"]


# ---- case 2: an option edited (126 x 42 -> 126 x 40) ----------------------------------------------

def test_an_edited_option_is_read_and_disagrees(edited, capsys):
    path = edited((" - 126 × 42\n", " - 126 × 40\n"))
    a = answer("P1.4").to_dict()
    # (128 - 3)/1 + 1 = 126 rows, floor((128 - 5)/3) + 1 = 42 columns: none of the file's options
    assert a["evidence"]["output_shape"] == [1, 1, 126, 42]
    assert [o["text"] for o in a["evidence"]["options"]] == ["126 × 124", "126 × 40", "42 × 126", "42 × 42"]
    assert a["evidence"]["exam_marks"] == [2] and a["evidence"]["computed_answer"] == []
    assert a["verdict"] == "disagrees" and a["exam_answer"] == "option 2: 126 × 40"
    assert "126 × 42" in a["explanation"] and "126 × 40" in a["explanation"]
    assert any("126 × 40" in note and "126 × 42" in note for note in a["notes"])  # the text vs dlexam.spec

    code, out, err = run(capsys, "answers", "--exam", str(path), "-q", "P1.4", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["verdict"] == "disagrees"
    code, out, err = run(capsys, "answers", "--exam", str(path))
    assert (code, err) == (0, "") and "P1.4 disagrees:" in out


def test_a_moved_mark_disagrees(edited):
    """The box moved from option 1 to option 2 of P1.1: the exam now marks a statement that is false."""
    edited((" - For all z, there is no finite", " - \\square For all z, there is no finite"),
           (" - \\square For any z, as $T \\to \\infty$", " - For any z, as $T \\to \\infty$"))
    a = answer("P1.1").to_dict()
    assert a["evidence"]["exam_marks"] == [2] and a["evidence"]["computed_answer"] == [1]
    assert a["verdict"] == "disagrees" and a["explanation"].startswith("The exam marks option 2:")


def test_a_reworded_statement_option_is_unread(edited):
    """P1.2's option 2 reworded: its line is gone (the old words still occur in the solution), so the
    mark cannot be read."""
    edited(("- no global minima.\n", "- no global minimum.\n"))
    a = answer("P1.2").to_dict()
    assert a["verdict"] == "unread" and a["exam_answer"].startswith("not read")
    assert a["evidence"]["exam_marks"] is None and a["explanation"]


# ---- case 4: a formula edited (Conv-1's 8 filters -> 6) --------------------------------------------

def test_an_edited_formula_is_evaluated_and_disagrees(edited, capsys):
    path = edited((CONV1_FORMULA, CONV1_FORMULA.replace("$8", "$6")))
    a = answer("Pr1.2").to_dict()
    assert a["exam_quotes_found"] is True
    assert a["evidence"]["exam_expressions_evaluated"] == {"Conv-1": 6 * (5 * 5 * 1 + 1), "AvgPool-1": 0,
                                                           "Conv-2": 16 * (4 * 4 * 8 + 1), "AvgPool-2": 0}
    assert a["evidence"]["torch_layers"]["Conv-1"] == 8 * (5 * 5 * 1 + 1) == 208
    assert a["verdict"] == "disagrees"
    assert a["exam_answer"].startswith("Conv-1: 6 × ((5 × 5 × 1) + 1) = 156;")
    assert "156" in a["explanation"] and "208" in a["explanation"]

    code, out, err = run(capsys, "answers", "--exam", str(path), "-q", "Pr1.2")
    assert (code, err) == (0, "")
    assert "Verdict:      disagrees" in out and "Exam answer:  Conv-1: 6 × ((5 × 5 × 1) + 1) = 156" in out
    assert "8 × ((5 × 5 × 1) + 1)" not in out  # nothing claims the text says what it does not


def test_a_formula_that_is_not_arithmetic_is_unread(edited):
    edited((CONV1_FORMULA, CONV1_FORMULA.replace("\\times 1)", "\\times one)")))
    a = answer("Pr1.2").to_dict()
    assert a["verdict"] == "unread" and a["exam_answer"].startswith("not read:")
    assert "Conv-1" in a["explanation"] and a["evidence"]["exam_expressions_evaluated"]["Conv-1"] is None


def test_an_edited_shape_and_matrix_are_read(edited, exam_text):
    edited(("The output of layer Conv-2, is of size $6 \\times 6 \\times 16$",
            "The output of layer Conv-2, is of size $5 \\times 5 \\times 16$"))
    a = answer("Pr1.3").to_dict()
    assert a["verdict"] == "disagrees" and a["evidence"]["exam_shapes_HWC"]["Conv-2"] == [5, 5, 16]
    assert "5x5x16" in a["explanation"] and "6x6x16" in a["explanation"]  # (7 + 2 - 4) + 1 = 6 by hand

    p_row = "0 & 1/2 & 1/2 & 0 & 0 & 0 & 0 \\\\ 1/4"  # P's third row, in Pr2.2's solution and Pr2.3's note
    first = exam_text.index(p_row)  # edit the first of the two printings only
    edited(text=exam_text[:first] + exam_text[first:].replace(p_row, "0 & 1/3 & 2/3 & 0 & 0 & 0 & 0 \\\\ 1/4", 1))
    a = answer("Pr2.2").to_dict()
    assert a["verdict"] == "disagrees" and a["evidence"]["exam_P"][2][:3] == ["0", "1/3", "2/3"]
    assert a["evidence"]["max_abs_difference_P_vs_exam"] == pytest.approx(1 / 6)  # |2/3 - 1/2|


# ---- the worked steps the key reads: Pr2.3's logits z_5..z_7, Pr2.2's Q = K = V -------------------

# Typed in from the exam's Problem 2.3 solution: z_7 = [9/7, 6/7, 9/7, 6/7] E^T = [9/7, 6/7, 9/7, 6/7, 0, 0].
Z7_LINE = ("\\mathbf{z}_{7}^{\\mathsf{T}} = [9/7, 6/7, 9/7, 6/7] \\mathbf{E}^{\\mathsf{T}} = "
           "[9/7, 6/7, 9/7, 6/7, 0, 0]$$")
# Typed in from the exam's Problem 2.2 solution: Q = K = V = X W_Q, its last matrix 7x2.
Q_RESULT = ("= \\begin{bmatrix} 3 & 0 \\\\ 0 & 3 \\\\ 0 & 3 \\\\ 0 & 0 \\\\ 0 & 3 \\\\ 3 & 0 \\\\ 0 & 0 "
            "\\end{bmatrix}$$")


def test_edited_logits_are_read_and_disagree(edited):
    """The key reads the logits the solution prints (z_7's <START> logit 0 -> 1 here): a changed one is compared,
    as the loss and the probabilities are, not read and dropped."""
    edited((Z7_LINE, Z7_LINE.replace("6/7, 0, 0]$$", "6/7, 1, 0]$$")))
    a = answer("Pr2.3").to_dict()
    assert a["exam_quotes_found"] is True
    assert a["evidence"]["exam_printed"]["logits_z5_z6_z7"][2] == pytest.approx([9 / 7, 6 / 7, 9 / 7, 6 / 7, 1, 0])
    assert a["verdict"] == "disagrees"
    assert "z_7" in a["explanation"] and "4.2114" not in a["explanation"]  # the loss itself still agrees


def test_unreadable_logits_are_unread(edited):
    edited((Z7_LINE, Z7_LINE.replace("6/7, 0, 0]$$", "6/7, 0, zero]$$")))
    a = answer("Pr2.3").to_dict()
    assert a["verdict"] == "unread" and a["exam_answer"].startswith("not read")
    assert "z_7" in a["explanation"]


def test_an_edited_q_is_read_and_disagrees(edited, exam_text):
    """Q = K = V = X W_Q is read from Pr2.2's solution; a changed entry (row 1: D's (3, 0) -> (3, 1)) disagrees
    even though the printed P is untouched."""
    line = next(line for line in exam_text.splitlines() if "Q = K = V = XW_Q" in line)
    assert line.endswith(Q_RESULT)
    edited((line, line[: -len(Q_RESULT)] + Q_RESULT.replace("3 & 0 \\\\ 0 & 3", "3 & 1 \\\\ 0 & 3", 1)))
    a = answer("Pr2.2").to_dict()
    assert a["evidence"]["max_abs_difference_P_vs_exam"] == 0
    assert a["evidence"]["max_abs_difference_QKV_vs_exam"] == 1  # |1 - 0|
    assert a["verdict"] == "disagrees" and "Q" in a["explanation"]


# ---- a quote the file does not hold: unread, never agrees -----------------------------------------

def test_an_edited_quote_makes_the_question_unread(edited, capsys):
    quote = "It was a wise decision, since for this particular problem"
    path = edited((quote, "It was an unwise decision, since for this particular problem"))
    a = answer("Pr2.1").to_dict()
    assert a["verdict"] == "unread" and a["exam_quotes_found"] is False
    assert len(a["exam_quotes_missing"]) == 1 and a["exam_quotes_missing"][0].startswith(quote)
    assert a["exam_answer"].startswith("not read: the exam text has no 'It was a wise decision")
    assert a["computed"].startswith("run_geoff on all 3 orders of 'D A A'")  # what was computed is still shown

    code, out, err = run(capsys, "answers", "--exam", str(path))
    assert (code, err) == (0, "")
    row = next(line for line in out.splitlines() if line.startswith("Pr2.1 "))
    assert "UNREAD" in row and "not read" in row
    assert ("20 questions: 12 agree, 1 partly agree, 1 disagree, 5 conceptual, 1 unread (not in the exam text "
            "given).") in out
    assert "  Pr2.1 unread: The exam text given does not contain 1 of the 1 quote this check reads" in out

    code, out, err = run(capsys, "answers", "--exam", str(path), "-q", "Pr2.1")
    assert (code, err) == (0, "")
    assert "Verdict:      unread" in out and "Exam quotes (1 NOT FOUND in the exam text, marked !):" in out
    assert f"  ! {a['exam_quotes_missing'][0]}" in out


def test_every_quote_of_every_question_is_checked(edited, exam_text):
    """Cut any one quote of any question in two (a dagger in its middle): that question is `unread`, names
    the quote, and does not raise."""
    real = {q: answer(q) for q in QUESTION_IDS}  # only to list each question's quotes
    for qid, a in real.items():
        assert a.exam_quotes, qid
        for quote in a.exam_quotes:
            half = len(quote) // 2
            edited(text=exam_text.replace(quote, quote[:half] + "\u2020" + quote[half:]))
            b = answer(qid).to_dict()
            assert b["verdict"] == "unread", (qid, quote, b["verdict"])
            assert quote in b["exam_quotes_missing"] and b["exam_quotes_found"] is False, (qid, quote)
            assert b["exam_answer"].startswith("not read"), (qid, quote)


def test_a_crlf_copy_of_the_exam_reads_the_same(edited, exam_text):
    edited(text=exam_text.replace("\n", "\r\n"))
    assert {a.id: a.verdict for a in answer_key()} == REAL_VERDICTS


def test_a_file_edited_in_place_is_read_again(edited):
    path = edited()
    assert answer("Pr2.3").verdict == "agrees"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("= 4.2114.$$", "= 4.31140.$$"), encoding="utf-8")  # another size too
    assert answer("Pr2.3").evidence["exam_printed"]["loss"] == 4.3114


def test_the_reports_answer_key_shows_unread(edited, tmp_path):
    from dlexam.report import ReportSettings
    from dlexam.report.context import ReportContext
    from dlexam.report.sections import answers

    edited(("It was a wise decision", "It was an unwise decision"))
    html = answers.build(ReportContext(ReportSettings(quick=True), tmp_path, tmp_path))
    assert "verdict-other\">unread<" in html and "“Unread” marks" in html


# ---- case 3: a text that is not the exam ----------------------------------------------------------

@pytest.mark.parametrize("content", ["garbage\n", "root:x:0:0:root:/root:/bin/bash\n", ""])
@pytest.mark.parametrize("command", [["answers"], ["answers", "-q", "Pr2.3"], ["answers", "--json"]])
def test_a_text_that_is_not_the_exam_is_one_line(tmp_path, monkeypatch, capsys, command, content):
    path = tmp_path / "not-the-exam.txt"
    path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("DLEXAM_EXAM", str(path))  # undone after the test (the CLI's --exam sets it)
    code, out, err = run(capsys, *command, "--exam", str(path))
    assert (code, out) == (2, "")
    assert err == f"dlexam: error: {path} is not the exam text ({EXAM_FILE}): {NOT_THE_EXAM}\n"


def test_a_text_without_some_headings_names_them(edited, capsys, exam_text):
    cut = exam_text[: exam_text.index("Part 2: Short Answer Questions")]  # Part 1 only
    path = edited(("Version A", "Version B"), text=cut)
    code, out, err = run(capsys, "answers", "--exam", str(path), "-q", "P1.4")
    assert (code, out) == (2, "")
    assert err == (f"dlexam: error: {path} is not the exam text ({EXAM_FILE}): it lacks 4 of the exam's 8 "
                   "headings: 'Version A', 'Part 2: Short Answer Questions', 'Problem 1: Convolutional Neural "
                   "Networks', 'Problem 2: Transformer Model for Deduplicating and Sorting'\n")


def test_the_report_refuses_a_text_that_is_not_the_exam_before_any_work(tmp_path, monkeypatch, capsys):
    path = tmp_path / "garbage.txt"
    path.write_text("garbage\n", encoding="utf-8")
    monkeypatch.setenv("DLEXAM_EXAM", str(path))
    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "report", "--quick", "--out", str(out_dir), "--exam", str(path))
    assert (code, out) == (2, "")
    assert err == (f"dlexam: error: report: the answer key needs the exam text: {path} is not the exam text "
                   f"({EXAM_FILE}): {NOT_THE_EXAM} (dlexam report --skip-missing builds the rest)\n")
    assert not out_dir.exists()  # checked before the folder, and before any section was built


def test_an_unread_answer_quotes_the_missing_text_as_the_file_has_it(edited):
    """An audit read `the exam text has no '$$L = -\\\\log P(y_5 = A) ...'`: Python's repr doubled the
    backslash the file has once. The message quotes the text as it is."""
    edited((LOSS_LINE, LOSS_LINE.replace("P(y_5 = A)", "P(y_5 = B)")))
    unread = [a for a in answer_key() if a.verdict == "unread"]
    assert unread
    for a in unread:
        assert "\\\\" not in a.exam_answer + a.explanation
    assert any("the exam text has no '$$L = -\\log P(y_5 = A)" in a.exam_answer for a in unread)
