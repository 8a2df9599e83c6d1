"""A matrix cell is one number, however the matrix reaches the grader (docs/variants.md, Grading): a cell typed into
/practice's or PrairieLearn's input of that cell, a JSON list of rows of cells, a row written as text (at commas, or
at the spaces between numbers, as NumPy and MATLAB print a row), a CSV line with a cell per number or one cell for the
whole row, and a flat list. "2 / 14" is 2/14 in every one: the spaces beside a fraction's "/" join, never split. On
the old grader a row written with spaces ("2 / 14 0 1/2"), a CSV line of one cell, or a JSON row of one text split
"2 / 14" into the three cells 2, "/" and 14, shifting the row's other cells, and a flat JSON list holding " 2 / 14 "
was read as one row per entry; PrairieLearn's input read 2/14. A sign apart from its number ("- 1/4 0 1/2": the next
number's, or a subtraction?) makes its row unreadable, with a message saying so, instead of a cell "-" that shifts
the cells after it.

Oracle: ROWS, written by hand: a 2x3 key, what is typed into each cell, and which cells are right. Each form below
is built from the typed cells, and `dlexam grade` (grade_field) must mark exactly those cells right in every form;
the exported PrairieLearn grade_exact.py, run in an interpreter without site-packages (test_prairielearn_numbers'
run_exported), must give the same share of the matrix and name the same cells as unreadable."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from dlexam.variants.grade import grade_field
from dlexam.variants.model import Field
from dlexam.variants.submission import read_submission

from .test_prairielearn_numbers import run_exported

KEY = ((Fraction(1, 7), Fraction(0), Fraction(1, 2)), (Fraction(1), Fraction(-1, 4), Fraction(3)))
F = Field("m", "matrix", KEY, Fraction(1))
T, W = True, False
ROWS = [  # (what is typed into each cell, row by row; which cells are right)
    ([[" 2 / 14 ", "0", "1/2"], ["1", "-1/4", "3"]], [[T, T, T], [T, T, T]]),
    ([["2 /14", "0/3", "1 / 2"], ["1/1", "-2 / 8", "6/2"]], [[T, T, T], [T, T, T]]),
    ([["0.14285714285714285", "-0", "0.5"], ["1.0", "-0.25", "30/10"]], [[T, T, T], [T, T, T]]),
    ([["1 / 8", "1e-400", "1/2"], ["1", "1/4", "3"]], [[W, W, T], [T, W, T]]),  # 1e-400 is no 0
    ([["1/7", "0", "abc"], ["1", "-1/4", "3e0"]], [[T, T, W], [T, T, T]]),
    ([["1/7", "0", "1/2 /"], ["1 / 4 / 2", "-1/4", "3"]], [[T, T, W], [W, T, T]]),  # a "/" too many: no number
]


def forms(cells: list[list[str]]) -> dict[str, object]:
    """The typed cells as each way of writing a matrix gives them to `dlexam grade`."""
    csv_cells = "id,value\n" + "".join(f"T.1.m,{','.join(r)}\n" for r in cells)
    csv_rows = "id,value\n" + "".join(f"T.1.m,{' '.join(r)}\n" for r in cells)
    out = {
        "/practice's inputs (rows of trimmed cells)": [[c.strip() for c in r] for r in cells],
        "JSON rows of cells": cells,
        "rows as text, commas": [", ".join(r) for r in cells],
        "rows as text, spaces": [" ".join(r) for r in cells],
        "rows as text, spaces, in brackets": ["[" + " ".join(r) + "]" for r in cells],
        "MATLAB": "[" + "; ".join(" ".join(r) for r in cells) + "]",
        "NumPy": "[[" + "]\n [".join(" ".join(r) for r in cells) + "]]",
        "text, commas and lines": "\n".join(", ".join(r) for r in cells),
        "CSV, a cell per number": read_submission(csv_cells.encode())["T.1.m"],
        "CSV, a row in one cell": read_submission(csv_rows.encode())["T.1.m"],
        "flat JSON list": [c for r in cells for c in r],
    }
    if not any(c.strip().endswith("/") for r in cells for c in r):  # else that "/" joins the next row's first number
        out["flat text on one line"] = " ".join(c for r in cells for c in r)
    return out


def wrong_cells(value) -> set[tuple[int, int]]:
    r = grade_field("T.1.m", "T.1", 1, F, value)
    return {tuple(w["at"]) for w in r.wrong}


def wanted_wrong(right) -> set[tuple[int, int]]:
    return {(i, j) for i, row in enumerate(right) for j, ok in enumerate(row) if not ok}


@pytest.mark.parametrize(("cells", "right"), ROWS)
def test_every_form_reads_a_cell_as_one_number(cells, right):
    for name, value in forms(cells).items():
        assert wrong_cells(value) == wanted_wrong(right), (name, value)


def test_a_row_of_one_spaced_fraction_is_one_cell():
    """A short row given as one text ("2 / 14": a CSV line "T.1.m,2 / 14", a JSON row ["2 / 14"]) is that row's first
    cell, the others not answered, as PrairieLearn reads "2 / 14" typed into the first cell alone."""
    for value in ([[" 2 / 14 "], ["1", "-1/4", "3"]], read_submission(b"T.1.m,2 / 14\nT.1.m,1,-1/4,3\n")["T.1.m"]):
        r = grade_field("T.1.m", "T.1", 1, F, value)
        assert {tuple(w["at"]) for w in r.wrong} == {(0, 1), (0, 2)}, r.wrong
        assert all(w["reason"] == "not answered" for w in r.wrong)
        assert r.notes == ["row 1 has fewer than 3 entries: the missing ones count as not answered"]


def test_a_one_column_matrixs_cell_is_never_split():
    """/practice sends a matrix of one column as rows of one cell: "1 2" typed there is no number (PrairieLearn's
    input says so too), not the cell 1 with a 2 beyond the row; " 2 / 14 " is 2/14."""
    col = Field("c", "matrix", ((Fraction(1),), (Fraction(1, 7),)), Fraction(1))
    r = grade_field("T.1.c", "T.1", 1, col, [["1 2"], [" 2 / 14 "]])
    (w,) = r.wrong
    assert w["at"] == [0, 0] and w["invalid"].startswith("not a number: '1 2'") and r.notes == []


REFUSED = ["- 1/7 0 1/2", "1/7 0 + 1/2", "1/7 - 0 1/2", "\u2212 1/7 0 1/2", "[1/7 0 - 1/2]"]


@pytest.mark.parametrize("row", REFUSED)
def test_a_sign_apart_from_its_number_makes_its_row_unreadable(row):
    """Never a cell "-" that shifts the row's other cells (on the old grader "1/7 0 + 1/2" scored its first two cells
    and read "+" as the third); the other rows are graded as usual."""
    for value in ([row, "1 -1/4 3"], f"{row}; 1 -1/4 3", read_submission(f"T.1.m,{row}\nT.1.m,1 -1/4 3\n".encode())
                  ["T.1.m"]):
        r = grade_field("T.1.m", "T.1", 1, F, value)
        assert r.points == Fraction(1, 2), (value, r.wrong)
        assert [w["at"] for w in r.wrong] == [[0, 0], [0, 1], [0, 2]]
        for w in r.wrong:
            assert w["invalid"].startswith(f"a sign apart from its number in {row.strip()!r}: "), w
            assert "Write the sign against its number (-1/4), or put commas between the numbers" in w["invalid"]


def test_a_whole_matrix_on_one_line_with_a_sign_apart_is_unreadable():
    """One line for a matrix of two rows: neither its rows nor its flat list can be told, so the matrix is wrong as a
    whole, with the reason."""
    (w,) = grade_field("T.1.m", "T.1", 1, F, "- 1/7 0 1/2 1 -1/4 3").wrong
    assert w["invalid"].startswith("a sign apart from its number in '- 1/7 0 1/2 1 -1/4 3'")


PRAIRIELEARN = r'''
import json, sys
sys.path[:0] = ["serverFilesCourse"]
from fractions import Fraction
from dlexam.variants.grade_exact import exact_score
from dlexam.variants.model import Field, Question
key = tuple(tuple(Fraction(x) for x in r) for r in json.loads(sys.argv[1]))
for raw in json.loads(sys.argv[2]):
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": raw,
            "partial_scores": {}}
    exact_score(Question("T.1", "typed", 1, (), (Field("m", "matrix", key, Fraction(1)),), ()), data)
    print(json.dumps({"score": data["partial_scores"]["m"]["score"],
                      "unreadable": data.get("feedback", {}).get("unreadable", [])}), flush=True)
'''


def test_prairielearn_reads_each_cell_as_dlexam_grade_does(tmp_path):
    raws = [{f"m{3 * i + j + 1}": c for i, r in enumerate(cells) for j, c in enumerate(r)} for cells, _ in ROWS]
    key = json.dumps([[str(x) for x in r] for r in KEY])
    rows = run_exported(tmp_path, raws, script=PRAIRIELEARN, texts=key)
    for (cells, right), row in zip(ROWS, rows, strict=True):
        assert row["score"] == sum(map(sum, right)) / 6, (cells, row)
        unread = {f"m, row {i + 1}, column {j + 1}" for i, r in enumerate(cells) for j, c in enumerate(r)
                  if c.strip() in ("abc", "1/2 /", "1 / 4 / 2")}
        assert {u.split(":")[0] for u in row["unreadable"]} == unread, row
