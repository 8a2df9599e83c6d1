"""A malformed answer costs only its own points (or its cells'), with feedback saying what is wrong with it; only a
submission that leaves nothing to grade is refused. The audit's cases on variant 7 (`dlexam variant --seed 7`).

Oracles: the exam's points typed in (P1.x 4 each; Pr2.2's S 3 and P 5 of its 8; Pr1.3's in_features 4 of its 10;
57 points graded automatically, 5 more of essays), the shares of a matrix's cells counted by hand as Fractions, and
the variant's key (full marks: tests/variants/test_grade.py)."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.submission import SubmissionError, read_submission

V = make_variant(7)
FULL = Fraction(57)  # variant 7's points graded automatically (62 less the 5 of the two essays)
N = len(V.spec.transformer.example)  # Pr2.2.P is N x N; variant 7's example has 7 tokens
P_POINTS, S_POINTS, CHOICE_POINTS, IN_FEATURES_POINTS = Fraction(5), Fraction(3), Fraction(4), Fraction(4)


def key() -> dict:
    return json.loads(json.dumps(V.key()))


def field(g, aid):
    return next(r for r in g.fields if r.id == aid)


def test_variant_7_is_the_audits():
    assert N == 7 and grade(V, key()).score == grade(V, key()).max_score == FULL


@pytest.mark.parametrize("answer, says", [
    (9, "option 9 is not one of 1-4"), (0, "option 0 is not one of 1-4"), (-1, "option -1 is not one of 1-4"),
    (2.5, "option 2.5 is not one of 1-4"), ("9", "option 9 is not one of 1-4"),
    ("abc", "not a number: 'abc' (an option is 1-4 or a-d)"), ("z", "option z is not one of a-d (or 1-4)"),
    ("é", "option é is not one of a-d (or 1-4)"), (True, "not a number: 'true'"), ({"a": 1}, "not a number: '{"),
    ([["1", "2"]], 'expected one value, got 2: [["1", "2"]]'),
])
def test_a_malformed_choice_costs_its_points_and_says_what_is_wrong(answer, says):
    g = grade(V, {**key(), "P1.1.choice": answer})
    assert g.score == FULL - CHOICE_POINTS  # every other answer still earns its points
    r = field(g, "P1.1.choice")
    assert r.points == 0 and not r.correct and g.missing == []
    (w,) = r.wrong
    assert w["invalid"].startswith(says) and w["reason"].startswith(w["invalid"])
    right = V.question("P1.1").fields[0]
    assert w["expected"] == f"{right.answer}: {right.options[right.answer - 1]}"


def test_the_audits_one_line_submissions_grade():
    """`{"P1.1.choice": 9}` alone: graded (0 of 57), not refused; the feedback names the option."""
    for answer, says in ((9, "option 9 is not one of 1-4"), ("abc", "not a number: 'abc'")):
        g = grade(V, read_submission(json.dumps({"P1.1.choice": answer}).encode(), "b1.json"))
        assert g.score == 0 and g.max_score == FULL and "P1.1.choice" not in g.missing
        assert field(g, "P1.1.choice").wrong[0]["invalid"].startswith(says)
        assert len(g.missing) == len([a for a, (_, f) in V.fields().items() if f.kind != "essay"]) - 1


@pytest.mark.parametrize("answer, says", [
    ("many", "not a number: 'many' (write 1/4, 0.25 or 2.5e-1)"), ("1/0", "not a number: '1/0'"),
    ("1" * 65, "'11111111111111111111'... is no answer an exam asks for"), (True, "expected a number, got true"),
    ([["108", "9"]], "expected one value, got 2"), ([["108"], ["108"]], "expected one value, got 2"),
    ({"x": 1}, 'expected a number, got {"x": 1}'),
])
def test_a_malformed_number_costs_its_points(answer, says):
    g = grade(V, {**key(), "Pr1.3.in_features": answer})
    assert g.score == FULL - IN_FEATURES_POINTS
    (w,) = field(g, "Pr1.3.in_features").wrong
    assert w["invalid"].startswith(says) and w["expected"] == str(V.question("Pr1.3").fields[1].answer)


def test_an_unreadable_value_in_one_row_is_quoted_as_written():
    g = grade(V, {**key(), "P1.1.choice": [["9", "", ""]]})  # a CSV line "P1.1.choice,9,,"
    (w,) = field(g, "P1.1.choice").wrong
    assert w["given"] == "9" and w["invalid"] == "option 9 is not one of 1-4"


def test_a_number_in_one_row_with_trailing_empty_cells_is_that_number():
    """A CSV line `Pr1.3.in_features,108,,` (a spreadsheet's trailing commas) is the answer 108."""
    right = str(V.question("Pr1.3").fields[1].answer)
    for answer in ([[right, "", ""]], [[right]], [right], [["", right]]):
        assert grade(V, {**key(), "Pr1.3.in_features": answer}).score == FULL


@pytest.mark.parametrize("empty", ["", "  ", None, [], [[]], [[""]], [["", ""], [""]]])
def test_an_answer_with_nothing_in_it_is_left_out(empty):
    for aid, share in (("Pr1.3.in_features", IN_FEATURES_POINTS), ("Pr2.2.P", P_POINTS),
                       ("P1.4.choice", CHOICE_POINTS)):
        g = grade(V, {**key(), aid: empty})
        assert g.score == FULL - share and g.missing == [aid]
        assert field(g, aid).wrong == [{"where": aid, "given": "", "expected": "an answer", "reason": "not answered"}]


def test_the_audits_three_row_matrix_counts_the_missing_rows_as_unanswered():
    """P given with its first 3 rows (right): 21 of 49 cells right, the 28 of rows 4-7 not answered."""
    sub = key()
    sub["Pr2.2.P"] = sub["Pr2.2.P"][:3]
    g = grade(V, sub)
    r = field(g, "Pr2.2.P")
    assert r.points == P_POINTS * Fraction(21, 49) and g.score == FULL - P_POINTS * Fraction(28, 49)
    assert len(r.wrong) == 28 and all(w["reason"].startswith("not answered") and w["given"] == "" for w in r.wrong)
    assert {tuple(w["at"]) for w in r.wrong} == {(i, j) for i in range(3, 7) for j in range(7)}
    assert r.notes == ["3 of 7 rows given: rows 4-7 count as not answered"]


def test_short_rows_count_their_missing_cells_as_unanswered():
    sub = key()
    sub["Pr2.2.P"][1] = sub["Pr2.2.P"][1][:5]  # row 2: 5 of 7 entries
    sub["Pr2.2.P"][4] = sub["Pr2.2.P"][4][:6]  # row 5: 6 of 7
    g = grade(V, sub)
    r = field(g, "Pr2.2.P")
    assert g.score == FULL - P_POINTS * Fraction(3, 49)
    assert {tuple(w["at"]) for w in r.wrong} == {(1, 5), (1, 6), (4, 6)}
    assert r.notes == ["rows 2, 5 have fewer than 7 entries: the missing ones count as not answered"]


def test_notes_name_the_rows_as_the_cells_do():
    """Pr2.3's logit rows are those at positions 4-6, and each wrong cell is named so ("row 6 D, column A"); the
    notes on a short answer named them by their count from 1 ("row 3 counts as not answered", "row 1 has fewer than 6
    entries"), so a sheet's feedback spoke of rows 1-3 and rows 4-6 for the same three rows. Variant 7's rows,
    from its printed exam: positions 4-6 of D A A <START> A D <STOP>."""
    sub = key()
    sub["Pr2.3.logits"] = [sub["Pr2.3.logits"][0][:4], sub["Pr2.3.logits"][1]]
    r = field(grade(V, sub), "Pr2.3.logits")
    assert r.notes == ["2 of 3 rows given: row 6 D counts as not answered",
                       "row 4 <START> has fewer than 6 entries: the missing ones count as not answered"], r.notes
    named = {w["where"].split(", column")[0].removeprefix("Pr2.3.logits ") for w in r.wrong}
    assert named == {"row 4 <START>", "row 6 D"}


def test_rows_and_cells_beyond_the_shape_are_ignored_and_noted():
    sub = key()
    sub["Pr2.2.P"] = [row + ["9"] for row in sub["Pr2.2.P"]] + [["1"] * 7, ["2"]]
    g = grade(V, sub)
    assert g.score == FULL  # the 7 x 7 cells are right; nothing beyond them is graded
    assert field(g, "Pr2.2.P").notes == ["9 rows given for 7: rows 8-9 are ignored",
                                         "rows 1-7 have more than 7 entries: those after entry 7 are ignored"]
    sub["Pr2.2.P"] = [row + ["", " "] for row in key()["Pr2.2.P"]] + [["", ""], []]  # empty extras: trailing commas
    g = grade(V, sub)
    assert g.score == FULL and field(g, "Pr2.2.P").notes == []


def test_an_unreadable_cell_costs_that_cell_only():
    sub = key()
    sub["Pr2.2.P"][6][2] = "abc"
    sub["Pr2.2.S"][0][0] = {"x": 1}
    g = grade(V, sub)
    assert g.score == FULL - P_POINTS / 49 - S_POINTS / 49
    (w,) = field(g, "Pr2.2.P").wrong
    assert w["at"] == [6, 2] and w["given"] == "abc"
    assert w["invalid"] == "not a number: 'abc' (write 1/4, 0.25 or 2.5e-1)"
    assert w["reason"].startswith(w["invalid"] + "; ") and len(w["reason"]) > len(w["invalid"]) + 2  # and why
    assert w["expected"] == str(V.question("Pr2.2").fields[1].answer[6][2])
    (w,) = field(g, "Pr2.2.S").wrong
    assert w["at"] == [0, 0] and w["invalid"] == 'expected a number, got {"x": 1}' and w["given"] == '{"x": 1}'


@pytest.mark.parametrize("answer", [5, 2.5, {"rows": 7}, True])
def test_a_matrix_that_is_no_list_of_rows_costs_the_matrix(answer):
    g = grade(V, {**key(), "Pr2.2.P": answer})
    assert g.score == FULL - P_POINTS
    (w,) = field(g, "Pr2.2.P").wrong
    assert "at" not in w and w["expected"].startswith("[1, 0, 0")
    assert w["invalid"] == f"expected a matrix (7 rows of 7 numbers), got {json.dumps(answer)}"


def test_rows_written_as_text_are_read():
    """A matrix as text ("1, 0; 1/2, 1/2") or as a list of rows of text ("1, 0, 0"): the same cells."""
    rows = key()["Pr2.2.P"]
    for answer in ("; ".join(", ".join(r) for r in rows), [", ".join(r) for r in rows]):
        assert grade(V, {**key(), "Pr2.2.P": answer}).score == FULL


def test_everything_malformed_still_grades_zero():
    sub = {aid: ("abc" if f.kind != "matrix" else [["abc"]]) for aid, (_, f) in V.fields().items()
           if f.kind != "essay"}
    g = grade(V, sub)
    assert g.score == 0 and g.max_score == FULL and g.missing == []
    assert all(w.get("invalid") or w["reason"].startswith("not answered") for r in g.fields for w in r.wrong)


def test_a_csv_with_malformed_lines_grades_the_rest():
    """A class's CSV: a value-less line and a line with an extra value cost those answers; the rest is graded."""
    lines = ["id,value", "seed,7,"]
    for aid, value in key().items():
        if aid in ("seed", "difficulty"):
            continue
        if aid == "P1.4.choice":
            lines.append(aid)  # no value at all: not answered
        elif aid == "Pr1.3.in_features":
            lines.append(f"{aid},{value},9")  # two values
        elif isinstance(value, list):
            lines += [",".join([aid, *row]) + "," for row in value]  # trailing comma on each row
        else:
            lines.append(f"{aid},{value}")
    g = grade(V, read_submission("\n".join(lines).encode()))
    assert g.score == FULL - CHOICE_POINTS - IN_FEATURES_POINTS and g.missing == ["P1.4.choice"]
    assert field(g, "Pr1.3.in_features").wrong[0]["invalid"].startswith("expected one value, got 2")


@pytest.mark.parametrize("data, says", [
    (b"{oops", "not valid JSON"), (b"\xff\xfe\x00", "not UTF-8"), (b"[1]", "a JSON submission is an object"),
    (b"[" * 100_000, "not valid JSON"), (b"{}", "no answers"), (b"id,value\n# nothing\n", "no answers"),
    (b'{"Pr9.9.x": 1}', "Pr9.9.x: no such answer in variant 7"), (b"hello\n", "hello: no such answer"),
    (b'{"P1.1.choice": 1, "seed": 8}', "seed: this submission is for variant 8"),
    (b"P1.1.choice," + b"1" * 200_000, "line 1: not CSV (field larger than field limit"),
])
def test_what_leaves_nothing_to_grade_is_still_refused(data, says):
    with pytest.raises(SubmissionError, match=re.escape(says)):
        grade(V, read_submission(data, "s"))


@pytest.mark.parametrize("far", ["1e400", "-1e400", "1e400/3", [["1e400"]]])
def test_a_number_beyond_floats_range_is_as_wrong_as_any_far_off_number(far):
    """"1e400" for a loss (a number the key holds within a tolerance): OverflowError from float(). Oracle: it grades
    exactly as a far-off number float can hold does, in every field."""
    tolerant = [aid for aid, (_, f) in V.fields().items() if f.kind == "number" and not f.exact]
    assert tolerant  # the losses of Problem 2
    for aid in tolerant:
        g, plain_wrong = grade(V, {**key(), aid: far}), grade(V, {**key(), aid: "99999"})
        assert [(f.id, f.points, f.correct) for f in g.fields] == [
            (f.id, f.points, f.correct) for f in plain_wrong.fields]
        assert g.score < FULL and field(g, aid).points == 0


@pytest.mark.parametrize("far", ["1e400", "-1e400"])
def test_a_matrix_cell_beyond_floats_range_is_as_wrong_as_any_far_off_cell(far):
    """"1e400" in a cell of a matrix answered in full: the search for one mistake that explains the whole matrix
    (times one factor) took float() of it, and `dlexam grade` ended in an OverflowError traceback. Oracle: it grades
    exactly as a far-off number float can hold does, in the cell of each matrix whose key is not 0."""
    matrices = [aid for aid, (_, f) in V.fields().items() if f.kind == "matrix"]
    assert matrices
    for aid in matrices:
        answer = V.fields()[aid][1].answer
        i, j = next((i, j) for i, r in enumerate(answer) for j, x in enumerate(r) if x)
        sub, plain = key(), key()
        sub[aid][i][j], plain[aid][i][j] = far, "99999"
        g, plain_wrong = grade(V, sub), grade(V, plain)
        assert [(f.id, f.points, f.correct) for f in g.fields] == [
            (f.id, f.points, f.correct) for f in plain_wrong.fields]
        assert [w["at"] for w in field(g, aid).wrong] == [[i, j]]


def test_a_json_number_of_thousands_of_digits_is_refused_in_plain_words():
    """json's own message advised "use sys.set_int_max_str_digits() to increase the limit" (cut at 100 characters:
    "use sys.set_in")."""
    with pytest.raises(SubmissionError, match="not valid JSON \\(a whole number of more than [0-9,]+ digits\\)$"):
        read_submission(b'{"Pr1.3.in_features": ' + b"9" * 5000 + b"}", "s.json")


@pytest.mark.parametrize("body", [b"null", b"true", b" 42\n", b'"Pr1.3.in_features"'])
def test_json_that_is_no_object_is_refused_as_json_not_read_as_csv(body):
    """`null` was read as a CSV sheet whose one answer id is "null" ("null: no such answer"). The same words as
    for a JSON array, the other JSON that is no object."""
    with pytest.raises(SubmissionError) as array:
        read_submission(b"[1, 2]", "s.json")
    with pytest.raises(SubmissionError) as err:
        read_submission(body, "s.json")
    assert str(err.value) == str(array.value) == "s.json: a JSON submission is an object {answer id: answer}"


def test_a_json_answer_given_twice_is_refused_not_graded_on_its_last_value():
    """json keeps the last of two equal keys without a word: a sheet with "P1.1.choice" twice was graded on the
    second. Oracle: the key given once in the same sheet is read."""
    once = read_submission(b'{"P1.1.choice": 2, "Pr1.3.in_features": "108"}', "s.json")
    assert once == {"P1.1.choice": 2, "Pr1.3.in_features": "108"}
    with pytest.raises(SubmissionError, match="^s.json: not valid JSON \\(the key 'P1.1.choice' is given twice"):
        read_submission(b'{"P1.1.choice": 1, "Pr1.3.in_features": "108", "P1.1.choice": 2}', "s.json")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=70),
                    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                    max_leaves=40)
ANSWERS = [aid for aid, (_, f) in V.fields().items() if f.kind != "essay"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(aid=st.sampled_from(ANSWERS), answer=JSON)
def test_any_json_answer_costs_at_most_its_own_points(aid, answer):
    """Whatever JSON one answer holds, the grade is computed, that answer earns between 0 and its share, and every
    other answer keeps its points."""
    g = grade(V, {**key(), aid: answer})
    r = field(g, aid)
    assert 0 <= r.points <= r.max_points
    assert g.score - r.points == FULL - r.max_points
    assert all(isinstance(w["reason"], str) and isinstance(w["given"], str) for w in r.wrong)
    json.dumps(g.to_json(), allow_nan=False)


# ---- a matrix written as one flat list (docs/variants.md: read row by row when it has exactly rows*cols cells) --

def test_a_flat_list_of_every_cell_is_read_row_by_row():
    """Pr2.2.P as 49 numbers in one JSON list, as one text line, as one CSV line: full marks, with a note (it
    used to be read as 49 one-cell rows, earning the cells of column 1 that happened to match)."""
    rows = key()["Pr2.2.P"]
    flat = [c for r in rows for c in r]  # row-major, typed out here from the key's rows
    csv_line = read_submission(("id,value\nPr2.2.P," + ",".join(flat) + ",,\n").encode())["Pr2.2.P"]
    for written in (flat, [float(Fraction(c)) if Fraction(c).denominator in (1, 2, 4) else c for c in flat],
                    ", ".join(flat), csv_line):
        g = grade(V, {**key(), "Pr2.2.P": written})
        r = field(g, "Pr2.2.P")
        assert g.score == FULL and r.correct, written
        assert r.notes == [f"the {N * N} numbers were given in one flat list: read row by row, as {N} rows of {N}"]


def test_a_flat_list_read_row_by_row_is_graded_cell_by_cell():
    """Written column by column (P transposed), each cell that differs from P's is wrong: counted by hand from
    the key's rows, 1/49 of P's 5 points each."""
    rows = key()["Pr2.2.P"]
    by_columns = [rows[i][j] for j in range(N) for i in range(N)]
    differing = sum(rows[i][j] != rows[j][i] for i in range(N) for j in range(N))
    assert differing > 0
    r = field(grade(V, {**key(), "Pr2.2.P": by_columns}), "Pr2.2.P")
    assert r.points == P_POINTS * Fraction(N * N - differing, N * N) and len(r.wrong) == differing


@pytest.mark.parametrize("cut", [1, 7, 30])
def test_a_flat_list_of_the_wrong_length_costs_the_matrix_and_says_so(cut):
    """48, 42 or 19 numbers in one list cannot be placed in a 7x7 matrix: the matrix's points are lost, with a
    message saying how to write it, and nothing else is."""
    flat = [c for r in key()["Pr2.2.P"] for c in r][:-cut]
    for written in (flat, read_submission(("Pr2.2.P," + ",".join(flat)).encode())["Pr2.2.P"]):
        g = grade(V, {**key(), "Pr2.2.P": written})
        r = field(g, "Pr2.2.P")
        assert g.score == FULL - P_POINTS and r.points == 0
        said = f"a flat list of {N * N - cut} numbers, not {N} rows of {N}: write the matrix as a list of rows"
        assert len(r.wrong) == 1 and r.wrong[0]["invalid"].startswith(said)


def test_rows_are_still_rows():
    """What is written as rows is read as rows: one short CSV line is row 1 (the other rows not answered)."""
    first = key()["Pr2.2.P"][0]
    r = field(grade(V, {**key(), "Pr2.2.P": [first]}), "Pr2.2.P")
    assert r.points == P_POINTS * Fraction(N, N * N) and r.notes[0].startswith(f"1 of {N} rows given")


def test_a_number_split_at_its_decimal_comma_on_a_csv_line_says_so():
    """`Pr2.3.loss,17,0075` (a decimal-comma locale's habit, the CSV's separator a comma): RFC 4180 makes it two
    cells, refused as before, and the message now says that the comma split the number and what to write, as it
    does for "17,0075" in quotes; it said only "expected one value, got 2: [["17", "0075"]]"."""
    loss = V.question("Pr2.3").fields[1].answer
    typed = f"{loss:.4f}"  # the loss to 4 decimals, as asked
    whole, decimals = typed.split(".")
    in_features = str(V.question("Pr1.3").fields[1].answer)
    sub = read_submission(f"seed,7\nPr2.3.loss,{whole},{decimals}\nPr1.3.in_features,1,{in_features:0>3}\n"
                          .encode(), "answers.csv")
    g = grade(V, sub)
    (w,) = field(g, "Pr2.3.loss").wrong
    assert w["invalid"].startswith("expected one value, got 2")
    assert f"{whole},{decimals}" in w["invalid"] and "split" in w["invalid"], w["invalid"]
    assert f"a decimal comma: write {typed}, with a decimal point" in w["invalid"], w["invalid"]
    (w,) = field(g, "Pr1.3.in_features").wrong  # 1,080: a thousands separator or a decimal comma
    assert (f"a comma in a number: write 1{in_features:0>3} without it, or 1.{in_features:0>3} with a decimal point"
            in w["invalid"]), w["invalid"]


def test_two_numbers_on_a_line_are_not_called_a_decimal_comma():
    """`Pr1.3.in_features,108,9`: no number with a comma (108,9 could be 108.9, but `108, 9` typed with a space,
    or a sign, is two values); only a pair a comma number's pattern reads says so."""
    for line in ("Pr1.3.in_features,108, -9", "Pr1.3.in_features,1/2,5", "Pr1.3.in_features,108,9,1"):
        g = grade(V, read_submission(f"seed,7\n{line}\n".encode(), "answers.csv"))
        (w,) = field(g, "Pr1.3.in_features").wrong
        assert "comma" not in w["invalid"], (line, w["invalid"])


def test_an_answer_given_on_two_csv_lines_says_so():
    """`P1.1.choice,3` and later `P1.1.choice,1` (a student correcting an answer below it): wrong, as before, and the
    message says the id is on two lines, not only 'expected one value, got 2: [["3"], ["1"]]'."""
    g = grade(V, read_submission(b"seed,7\nP1.1.choice,3\nPr1.3.in_features,108\nP1.1.choice,1\n", "answers.csv"))
    (w,) = field(g, "P1.1.choice").wrong
    assert w["invalid"].startswith("expected one value, got 2")
    assert "P1.1.choice is on 2 lines (3, then 1): give each answer once" in w["invalid"], w["invalid"]
