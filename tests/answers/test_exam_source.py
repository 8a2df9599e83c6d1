"""The exam-text readers against hand-typed expectations, and every quote against the exam file."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dlexam.answers import exam_source, part1_logreg, part1_math, part1_models, part1_parallel
from dlexam.answers.problem2 import align_rows

# Which option the exam marks, read off the PDF by hand (1-based); P1.6 prints none (its correct
# option is missing from the extracted text).
MARKED_BY_HAND = {
    "P1.1": (part1_math.P11_OPTIONS, [1]),
    "P1.2": (part1_logreg.P12_OPTIONS, [2]),
    "P1.3": (part1_logreg.P13_OPTIONS, [1]),
    "P1.4": (["126 × 124", "126 × 42", "42 × 126", "42 × 42"], [2]),  # typed off the PDF
    "P1.5": (part1_models.P15_OPTIONS, [3]),
    "P1.6": (part1_models.P16_OPTIONS, []),
    "P1.7": (part1_parallel.P17_OPTIONS, [3]),
    "P1.8": (part1_models.P18_OPTIONS, [3]),
}


@pytest.mark.parametrize("qid", sorted(MARKED_BY_HAND))
def test_marked_option_read_from_the_text(exam_text, qid):
    options, marks = MARKED_BY_HAND[qid]
    for o in options:
        assert o in exam_text
    assert [i + 1 for i in exam_source.marked_options(options, exam_text)] == marks


def test_p1_4_options_are_read_after_the_question(exam_text):
    read = exam_source.options_after(part1_math.P14_STEM, exam_text)
    assert read == [("126 × 124", False), ("126 × 42", True), ("42 × 126", False), ("42 × 42", False)]


def test_options_after_stops_at_the_solution_and_the_next_question():
    text = "Q? stem\n - \\Box one\n\n - two\nSolution: two\n - three\n"
    assert exam_source.options_after("stem", text) == [("one", False), ("two", True)]
    text = "1. (4 points) stem\n - a\n - \\square b\n2. (4 points) next\n - c\n"
    assert exam_source.options_after("stem", text) == [("a", True), ("b", False)]
    assert exam_source.options_after("absent", text) is None


def test_after_reads_what_follows_a_lead_in():
    text = "x\n$$L = a + b = 4.3114.$$\nThe output is of size $6 \\times 6$, where\n"
    assert exam_source.after("$$L = a + b = ", "", text) == "4.3114.$$"
    assert exam_source.leading_number(exam_source.after("$$L = a + b = ", "", text)) == 4.3114
    assert exam_source.after("is of size $", "$", text) == "6 \\times 6"
    assert exam_source.after("no such lead-in", "$", text) is None
    assert exam_source.leading_number("abc") is None and exam_source.leading_number(None) is None


def test_marked_options_on_a_made_up_text():
    text = "- \\square alpha\n- beta\n \\Box gamma\n\u25a1 delta\n"
    assert exam_source.marked_options(["alpha", "beta", "gamma", "delta"], text) == [1]
    assert exam_source.marked_options(["alpha", "missing"], text) is None


def test_parse_matrix_fractions_and_ragged_rows():
    m = exam_source.parse_matrix("\\begin{bmatrix} 1 & 0 \\\\ 1/2 & \\frac{9}{7} \\\\ 0 & 0 & 0 \\end{bmatrix}")
    assert m == [[1, 0], [Fraction(1, 2), Fraction(9, 7)], [0, 0, 0]]


def test_arithmetic_evaluates_exam_formulas_and_nothing_else():
    assert exam_source.arithmetic("8 \\times ((5 \\times 5 \\times 1) + 1)") == 208
    assert exam_source.arithmetic("16 \\times ((4 \\times 4 \\times 8) + 1)") == 2064
    assert exam_source.arithmetic("(128 - 5)/3 + 1") == 42
    with pytest.raises(ValueError):
        exam_source.arithmetic("__import__('os').getcwd()")


def test_align_rows_locates_a_missing_and_a_long_row():
    import torch

    true = torch.tensor([[1.0, 0], [0, 1], [2, 2], [3, 3]])
    printed = [[1, 0], [2, 2], [0, 0, 0]]  # row 2 dropped, last row with an extra entry
    got = align_rows([[Fraction(v) for v in r] for r in printed], true)
    assert got["missing_true_rows"] == [2]
    assert got["malformed_printed_rows"] == [{"printed_row": 3, "entries": 3, "expected_entries": 2}]


def test_exam_path_honours_DLEXAM_SHARED(tmp_path, monkeypatch):
    (tmp_path / "exam").mkdir()
    (tmp_path / "exam" / exam_source.EXAM_FILE).write_text("x")
    monkeypatch.setenv("DLEXAM_SHARED", str(tmp_path))
    assert exam_source.exam_path() == tmp_path / "exam" / exam_source.EXAM_FILE
