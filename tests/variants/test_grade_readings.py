"""The grader's readings and reasons of the 2026-12-07 audit: a choice written "option 2" or as the grader shows
it ("2: 89 x 66") is read where that is unambiguous; a receptive field off by one is named so; a shift of several
rows is worded for the count; a wrong cell of the two-head R is written as the product that makes it. Oracles:
options and values typed here by hand from the variants' printed exams (seed 7: P1.4's options are 66 x 89,
89 x 66, 65 x 85, 131 x 89, the first right)."""

from __future__ import annotations

import re

import pytest

from dlexam.variants import make_variant
from dlexam.variants.grade import grade

V7 = make_variant(7)


def result(v, aid, value):
    (r,) = [r for r in grade(v, {aid: value}).fields if r.id == aid]
    return r


@pytest.mark.parametrize("written, option", [("option 2", 2), ("Option 1", 1), ("option b", 2), ("OPTION (a)", 1),
                                             ("2: 89 x 66", 2), ("1: 66 x 89", 1), ("1:  66  X 89 ", 1)])
def test_a_choice_written_option_n_or_as_the_grader_shows_it_is_read(written, option):
    r = result(V7, "P1.4.choice", written)
    assert r.correct == (option == 1)
    assert not any("invalid" in w for w in r.wrong)
    assert r.notes == [f"{written.strip()!r} read as option {option}"]
    if option == 2:
        assert r.wrong[0]["given"] == "2: 89 x 66"


@pytest.mark.parametrize("written, whose", [("2: 66 x 89", "option 1's"), ("1: 65 x 85", "option 3's"),
                                            ("1: 66 x 90", "no option's")])
def test_a_number_and_another_options_text_is_not_guessed(written, whose):
    r = result(V7, "P1.4.choice", written)
    assert not r.correct and r.points == 0
    assert r.wrong[0]["invalid"].startswith(f"{written!r} names option {written[0]}, but its text is {whose}")


def test_a_plain_choice_has_no_note():
    assert result(V7, "P1.4.choice", "1").notes == [] and result(V7, "P1.4.choice", 1).notes == []


def test_a_receptive_field_off_by_one_is_named():
    """Variant 3's receptive field is 26 (1 + 2 + 3 + 3 x 4 + 2 x 4, its printed layers: Conv-1 3x3, a 4x4 pool of
    stride 4, Conv-2 4x4, a 3x3 pool); 25 leaves out the starting pixel, 27 counts it again with Conv-1's 3."""
    v = make_variant(3)
    assert v.fields()["Pr1.1.rf"][1].answer == 26
    low = result(v, "Pr1.1.rf", "25").wrong[0]["reason"]
    high = result(v, "Pr1.1.rf", 27).wrong[0]["reason"]
    assert low.startswith("off by one: 25 leaves out the pixel r starts from") and "1 more, 26" in low
    assert high.startswith("off by one: 27 counts the first layer's 3 pixels") and "adds k - 1 = 2" in high
    assert result(v, "Pr1.1.rf", 24).wrong[0]["reason"].startswith("r = 1 + ")  # two off: only the formula


def test_a_shift_of_several_rows_is_worded_for_their_count():
    """Variant 7's Pr1.3.shapes (4 layers, C, H, W, no two rows alike) given with rows 1-3 the right rows 2-4 and a
    last row of its own: three rows shifted, said as three, not "this row"."""
    shapes = V7.fields()["Pr1.3.shapes"][1].answer
    assert len(shapes) == 4 and len(set(shapes)) == 4
    given = [[str(x) for x in r] for r in (*shapes[1:], [x + 100 for x in shapes[-1]])]
    r = result(V7, "Pr1.3.shapes", given)
    assert r.mistake == "these 3 rows given are each the right matrix's next row: the rows are shifted by one"


@pytest.mark.parametrize(("seed", "difficulty"), [(7, "standard"), (0, "harder")])
def test_a_wrong_two_head_r_cell_is_a_product_to_follow(seed, difficulty):
    """Each wrong cell of Pr2.4's R says the row of [Z_1 Z_2], multi_W_O's column (the spec's, by its label) and the
    number they make, written term by term; checked here in Fraction arithmetic against the key's cell."""
    from fractions import Fraction

    v = make_variant(seed, difficulty)
    t = v.spec.transformer
    f = v.fields()["Pr2.4.R"][1]
    wrong = [[str(x + 1) for x in r] for r in f.answer]
    r = result(v, "Pr2.4.R", wrong)
    assert len(r.wrong) == len(f.answer) * len(f.answer[0])
    for w in r.wrong:
        i, j = w["at"]
        m = re.fullmatch(r"row (\d+) of \[Z_1 Z_2\] times column (\S+) of multi_W_O: \(([^)]*)\) \. \(([^)]*)\) = "
                         r"(.+) = (\S+)", w["reason"])
        assert m, w["reason"]
        z, col = ([Fraction(x) for x in g.split(", ")] for g in (m[3], m[4]))
        assert int(m[1]) == i + 1 and m[2] == f.col_labels[j]
        assert col == [row[j] for row in t.multi_W_O] and len(z) == t.heads * t.d_head
        assert Fraction(m[6]) == sum(a * b for a, b in zip(z, col, strict=True)) == f.answer[i][j]
        terms = [s.split(" x ") for s in m[5].split(" + ")]
        assert [(Fraction(a.strip("()")), Fraction(b.strip("()"))) for a, b in terms] == list(zip(z, col, strict=True))


# variant 7's shapes, (C, H, W) per layer, worked by hand from its printed layers: 26x26 in; Conv-1 10 of 3x3 -> 24;
# AvgPool-1 4x4 stride 4 -> 6; Conv-2 24 of 3x3 padding 1 -> 6; AvgPool-2 2x2 stride 2 -> 3
SHAPES_7 = [(10, 24, 24), (10, 6, 6), (24, 6, 6), (24, 3, 3)]


@pytest.mark.parametrize("form", ["{}x{}x{}", "{} x {} x {}", "{} × {} × {}", "{}X{}X{}", "({}, {}, {})",
                                  "({} {} {})", "[{}, {}, {}]"])
def test_a_shape_written_c_x_h_x_w_or_in_parentheses_is_read(form):
    """A shape on one line as Version A writes one (28 x 28 x 8) or as Python prints a tuple, "(10, 24, 24)": read
    as its three numbers. "10 x 24 x 24" was the cells 10, 'x', 24 (and the rest ignored): one unreadable, one right
    by accident; "10x24x24" one cell, no number."""
    rows = [form.format(*s) for s in SHAPES_7]
    for value in (rows, [[r] for r in rows], "; ".join(rows)):  # JSON rows, CSV lines of one cell, one text
        r = result(V7, "Pr1.3.shapes", value)
        assert r.correct and r.notes == [], (value, r.wrong[:2], r.notes)


def test_a_shape_in_height_x_width_x_channels_is_read_and_named():
    r = result(V7, "Pr1.3.shapes", [f"{h} x {w} x {c}" for c, h, w in SHAPES_7])
    assert not r.correct and not any("invalid" in w for w in r.wrong)
    assert r.mistake.startswith("each row given as (height, width, channels)"), r.mistake


def test_x_between_other_things_is_no_shape():
    r = result(V7, "Pr1.3.shapes", ["10 x 24 x", "x10 x 6 x 6", "24 x 6 x 6 x", "24 x x 3 x 3"])
    assert r.points == 0 and all("invalid" in w for w in r.wrong), r.wrong


def test_a_word_with_an_x_is_still_one_unreadable_cell():
    r = result(V7, "Pr1.3.shapes", ["10, 24, max", "10, 6, 6", "24, 6, 6", "24, 3, 3"])
    (w,) = r.wrong
    assert w["given"] == "max" and w["invalid"].startswith("not a number: 'max'"), w


@pytest.mark.parametrize("form", ["[{}, {}, {}]", "({}, {}, {})", "[{},{},{}]"])
def test_a_shape_row_in_brackets_on_a_csv_line_unquoted_is_read(form):
    """`Pr1.3.shapes,[10, 24, 24]` on a CSV line: the commas split it into the cells "[10", "24", "24]", two of them
    no number, where the same row quoted was read whole."""
    from dlexam.variants.submission import read_submission

    sheet = "".join(f"Pr1.3.shapes,{form.format(*s)}\n" for s in SHAPES_7).encode()
    r = result(V7, "Pr1.3.shapes", read_submission(sheet)["Pr1.3.shapes"])
    assert r.correct and r.notes == [], (r.wrong[:2], r.notes)
    whole = read_submission(b"P2.3.R,[[1, 0], [0, 1]]\n")["P2.3.R"]  # a whole matrix on one line stays as written
    assert whole == [["[[1", "0]", "[0", "1]]"]]


@pytest.mark.parametrize("written, word", [("yes", "yes"), (" No ", "no"), ("YES, R is the same", "yes"),
                                           ("no, r differs", "no")])
def test_a_yes_or_no_written_for_a_yes_or_no_choice_is_read(written, word):
    """Pr2.4 (b) asks "Is R the same as with one head?" with the options "yes, R is the same" and "no, R differs":
    a student writes "yes". It was "not a number: 'yes' (an option is 1-2 or a-b)"."""
    (f,) = [f for f in V7.question("Pr2.4").fields if f.name == "same"]
    (option,) = [i + 1 for i, o in enumerate(f.options) if o.startswith(word + ",")]
    r = result(V7, "Pr2.4.same", written)
    assert not any("invalid" in w for w in r.wrong), r.wrong
    assert r.correct == (option == f.answer) and r.notes == [f"{written.strip()!r} read as option {option}"]


def test_a_word_that_is_no_options_or_several_is_still_unreadable():
    assert result(V7, "Pr2.4.same", "maybe").wrong[0]["invalid"].startswith("not a number: 'maybe'")
    assert result(V7, "Pr2.4.same", "R").wrong[0]["invalid"].startswith("option R is not one of a-b")
