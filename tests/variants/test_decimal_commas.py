"""A decimal comma ("0,5") in a typed number or matrix row. On the old grader a row "0,5 0,25 1" was split at its
commas into the cells 0, "5 0" and "25 1": the 0 graded as the student's first cell (silently wrong against 1/2), the
others no number with a message that did not say why; and "0,5" in a matrix of one column ("0,5; 1") was the cell 0
with a 5 beyond the row, ignored. Now commas that can only be decimal commas stay in their cells, and each such cell
is wrong with a message naming it and asking for a decimal point. Commas that can be the commas between cells
separate cells as before.

Oracle: keys and typed rows written by hand, with which cells are right and which are refused as decimal commas."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dlexam.variants.grade import grade_field
from dlexam.variants.model import Field
from dlexam.variants.reading import read_number
from dlexam.variants.typed import UnreadableAnswer

ROW = Field("r", "matrix", ((Fraction(1, 2), Fraction(1, 4), Fraction(1)),), Fraction(1))
COLUMN = Field("c", "matrix", ((Fraction(1, 2),), (Fraction(1),)), Fraction(1))
SQUARE = Field("s", "matrix", ((Fraction(1, 2), Fraction(1, 4)), (Fraction(1), Fraction(0))), Fraction(1))
DECIMAL = "a decimal comma: write {}, with a decimal point"


def refused(f: Field, value) -> dict[tuple[int, int], str]:
    """{cell: its message} for each wrong cell of `value` graded against `f`."""
    r = grade_field(f"T.1.{f.name}", "T.1", 1, f, value)
    return {tuple(w["at"]): w.get("invalid", "wrong") for w in r.wrong}


@pytest.mark.parametrize("value", ["0,5 0,25 1", "[0,5 0,25 1]", ["0,5 0,25 1"], "0,5  0,25\t1"])
def test_a_row_with_spaces_and_decimal_commas_names_each_decimal_comma_cell(value):
    got = refused(ROW, value)
    assert set(got) == {(0, 0), (0, 1)}, got  # the third cell, 1, is right
    assert got[(0, 0)] == "not a number: '0,5' (" + DECIMAL.format("0.5") + ")"
    assert got[(0, 1)] == "not a number: '0,25' (" + DECIMAL.format("0.25") + ")"


def test_a_decimal_comma_in_a_one_column_matrix_is_no_cell_0():
    for value in ("0,5; 1", "0,5\n1", ["0,5", "1"], [["0,5"], ["1"]]):
        got = refused(COLUMN, value)
        assert list(got) == [(0, 0)] and DECIMAL.format("0.5") in got[(0, 0)], (value, got)
        assert grade_field("T.1.c", "T.1", 1, COLUMN, value).notes == []  # no "more than 1 entries" note


def test_a_whole_matrix_on_one_line_with_decimal_commas_is_read_row_by_row():
    got = refused(SQUARE, "0,5 0,25 1 0")
    assert set(got) == {(0, 0), (0, 1)} and DECIMAL.format("0.25") in got[(0, 1)]
    assert set(refused(SQUARE, "0,5 0,25; 1 0")) == {(0, 0), (0, 1)}


@pytest.mark.parametrize(("f", "value"), [
    (ROW, "1/2,1/4,1"), (ROW, "0.5, 0.25, 1"), (ROW, "[1/2, 1/4, 1]"), (ROW, "0.5 0.25 1"),
    (SQUARE, "1/2,1/4;1,0"), (SQUARE, "1/2,1/4,1,0"), (COLUMN, "1/2; 1"),
])
def test_commas_between_cells_still_separate_them(f, value):
    assert refused(f, value) == {}


def test_commas_that_can_be_separators_still_are():
    """"1,0" in a row of two is the cells 1 and 0 (as before), never a decimal comma: the key decides nothing."""
    two = Field("t", "matrix", ((Fraction(1), Fraction(0)),), Fraction(1))
    assert refused(two, "1,0") == {}
    assert set(refused(ROW, "0,5,1")) == {(0, 0), (0, 1)}  # three cells 0, 5, 1: a row of three, read as written


def test_a_number_with_a_comma_says_what_to_write():
    for text, why in [("0,5", DECIMAL.format("0.5")), ("-1,25e-1", DECIMAL.format("-1.25e-1")),
                      ("3,722", "a comma in a number: write 3722 without it, or 3.722 with a decimal point"),
                      ("1,000,000", "a thousands separator: write 1000000 without commas")]:
        with pytest.raises(UnreadableAnswer) as bad:
            read_number(text)
        assert str(bad.value) == f"not a number: {text!r} ({why})"
