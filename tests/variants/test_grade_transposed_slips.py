"""A matrix given transposed with a slip or two is named as transposed, and its wrong values are pointed at.

The grader named a transposed answer only when every value of it was right. One wrong value more, and a square
answer was scored cell by cell with no word of the transposition, and a matrix that is not square with its cells
read where they land in the key's shape (every cell wrong, notes of rows ignored or missing). Now an answer that,
read transposed, has at most max(2, a tenth of the cells) wrong values, and (square) fewer than half as many as it
has wrong where its cells stand, is named "transposed, and k values wrong as well", each wrong value named in the
key's coordinates. Points as for an answer transposed without a slip: a square one keeps the cells right where they
land, one that is not square earns nothing.

Oracle: matrices typed here by hand, in Fraction; the fields are built here, not drawn.
"""

from __future__ import annotations

from fractions import Fraction as F

from dlexam.variants.grade import grade_field
from dlexam.variants.model import Field

TRANSPOSED = "the matrix given is the right one transposed"
WIDE = Field("M", "matrix", ((F(1), F(1, 2), F(0)), (F(-3), F(2, 7), F(5))), F(1), "M",
             row_labels=("a", "b"), col_labels=("x", "y", "z"))
SQUARE = Field("S", "matrix", ((F(1), F(2), F(3)), (F(4), F(5), F(6)), (F(7), F(8), F(10))), F(1), "S")
SYMMETRIC = Field("Y", "matrix", ((F(1), F(2)), (F(2), F(3))), F(1), "Y")
POINTS = 6  # the question's points: each field here is all of them


def graded(f: Field, rows: list[list[str]]):
    return grade_field(f.name, "Q", POINTS, f, rows)


def test_a_wide_matrix_transposed_with_one_wrong_value_is_named_and_the_value_pointed_at():
    exact = graded(WIDE, [["1", "-3"], ["1/2", "2/7"], ["0", "5"]])
    assert exact.mistake.startswith(TRANSPOSED) and exact.points == 0  # as before: no value in its place
    r = graded(WIDE, [["1", "-3"], ["1/2", "9/7"], ["0", "5"]])  # the key's row b, column y given as 9/7
    assert r.points == 0 and not r.correct
    assert r.mistake.startswith(TRANSPOSED), (r.mistake, r.wrong)
    assert "1 value wrong" in r.mistake and "row b, column y (given 9/7, is 2/7)" in r.mistake, r.mistake
    (cell,) = [w for w in r.wrong if "at" in w]
    assert (cell["where"], cell["at"], cell["given"], cell["expected"]) == ("row b, column y", [1, 1], "9/7", "2/7")
    assert cell["reason"].startswith(TRANSPOSED)


def test_two_wrong_values_are_named_and_three_of_six_are_too_many():
    r = graded(WIDE, [["1", "-3"], ["1/4", "9/7"], ["0", "5"]])
    assert r.mistake.startswith(TRANSPOSED) and "2 values wrong" in r.mistake, r.mistake
    assert "row a, column y (given 1/4, is 1/2)" in r.mistake and "row b, column y (given 9/7, is 2/7)" in r.mistake
    assert sorted(w["at"] for w in r.wrong if "at" in w) == [[0, 1], [1, 1]]
    r = graded(WIDE, [["2", "-3"], ["1/4", "9/7"], ["0", "5"]])  # half of it wrong: no longer "a slip or two"
    assert TRANSPOSED not in r.mistake


def test_a_square_matrix_transposed_with_a_slip_keeps_the_cells_right_where_they_land():
    exact = graded(SQUARE, [["1", "4", "7"], ["2", "5", "8"], ["3", "6", "10"]])
    assert exact.mistake.startswith(TRANSPOSED) and exact.points == F(POINTS * 3, 9)  # the diagonal: 3 of 9
    off = graded(SQUARE, [["1", "4", "70"], ["2", "5", "8"], ["3", "6", "10"]])  # the key's row 3, column 1: 70
    assert off.mistake.startswith(TRANSPOSED) and "1 value wrong" in off.mistake, off.mistake
    assert "row 3, column 1 (given 70, is 7)" in off.mistake
    assert off.points == F(POINTS * 3, 9) and len(off.wrong) == 6  # that cell was wrong where it lands already
    assert all(w["reason"].startswith(TRANSPOSED) for w in off.wrong)
    (slip,) = [w for w in off.wrong if w["at"] == [0, 2]]
    assert "row 3, column 1" in slip["cell"], slip
    diagonal = graded(SQUARE, [["1", "4", "7"], ["2", "50", "8"], ["3", "6", "10"]])
    assert "row 2, column 2 (given 50, is 5)" in diagonal.mistake, diagonal.mistake
    assert diagonal.points == F(POINTS * 2, 9) and len(diagonal.wrong) == 7


def test_a_slip_in_place_is_not_named_a_transposition():
    r = graded(SQUARE, [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "99"]])
    assert r.mistake == "" and r.points == F(POINTS * 8, 9) and len(r.wrong) == 1
    r = graded(SYMMETRIC, [["1", "2"], ["2", "4"]])  # transposed or not, the same: one wrong value, nothing more
    assert r.mistake == "" and r.points == F(POINTS * 3, 4)
