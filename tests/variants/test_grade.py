"""dlexam.variants.grade: full marks for the key, zero for a wrong key, the exact partial credit for one wrong cell;
number forms; CSV; a submission for another variant, with an unknown answer id or none, refused with the answer id
named (a malformed answer costs only its own points: test_grade_malformed.py)."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from dlexam.spec import text
from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.reading import read_number
from dlexam.variants.submission import SubmissionError, read_submission
from dlexam.variants.typed import UnreadableAnswer

V = make_variant(1)


def key() -> dict:
    return json.loads(json.dumps(V.key()))


def test_the_key_gets_full_marks_and_a_wrong_key_zero():
    g = grade(V, key())
    assert g.score == g.max_score == sum(q.points for q in V.questions) - g.manual_points
    wrong = key()
    for aid, (_, f) in V.fields().items():
        if f.kind == "matrix":
            wrong[aid] = [[text(x + 1) for x in r] for r in f.answer]
        elif f.kind == "choice":
            wrong[aid] = f.answer % len(f.options) + 1
        elif f.kind == "number":
            wrong[aid] = str(f.answer + 1)
    g = grade(V, wrong)
    assert g.score == 0 and all(not r.correct for r in g.fields)


def test_one_wrong_cell_costs_exactly_its_share():
    sub = key()
    P = V.question("Pr2.2").fields[1]
    cells = len(P.answer) * len(P.answer[0])
    sub["Pr2.2.P"][-1][0] = text(P.answer[-1][0] + Fraction(1, 3))
    g = grade(V, sub)
    expected = g.max_score - 8 * Fraction(5, 8) / cells  # Pr2.2 has 8 points, P 5/8 of them
    assert g.score == expected  # exact
    (bad,) = [w for r in g.fields for w in r.wrong]
    assert bad["expected"] == text(P.answer[-1][0]) and bad["where"].startswith(f"row {len(P.answer)} ")
    assert "weight" in bad["reason"]


def test_the_reason_for_a_tie():
    v = make_variant(1)
    sub = json.loads(json.dumps(v.key()))
    P = v.question("Pr2.2").fields[1].answer
    row = next(i for i, r in enumerate(P) if sum(x > 0 for x in r) > 1)  # a row whose maxima tie
    sub["Pr2.2.P"][row] = ["0"] * len(P)
    reasons = {w["reason"] for r in grade(v, sub).fields for w in r.wrong}
    n = sum(x > 0 for x in P[row])
    assert any(f"its {n} visible scores" in r and f"argmax shares the weight: 1/{n} each" in r
               for r in reasons), reasons


@pytest.mark.parametrize("form", ["1/4", "0.25", "2.5e-1", 0.25, " 1 / 4 ", "25/100"])
def test_number_forms(form):
    assert read_number(form) == Fraction(1, 4)


@pytest.mark.parametrize("bad, says", [("abc", "not a number: 'abc'"), ("1/0", "not a number: '1/0'"),
                                       (None, "expected a number, got null"), (True, "expected a number, got true"),
                                       ([1], r"expected a number, got \[1\]"),
                                       (float("nan"), "expected a finite number, got nan")])
def test_bad_numbers(bad, says):
    with pytest.raises(UnreadableAnswer, match=f"^{says}"):
        read_number(bad)


@pytest.mark.parametrize(("literal", "right"), [("0", True), ("0.0", True), ("-0.0", True), ("0e5", True),
                                                ("1e-400", False), ("-1e-400", False), ("1e-330", False),
                                                ("5e-324", False), ("1e400", False), ("1e999", False)])
def test_a_json_number_a_double_cannot_hold_is_read_as_written(literal, right):
    """A key of 0 (a pooling layer's parameters, a masked attention weight) takes 0 alone. A JSON number 1e-400 is
    0.0 to float64 (and to json.loads): `dlexam grade` read it so and gave it 0's credit, though the same text typed
    as a string scored nothing. Oracle: by hand, only the literals that are 0 are right."""
    pool = next(aid for aid, (_, f) in V.fields().items() if aid.startswith("Pr1.2.") and f.answer == 0)
    p = V.question("Pr2.2").fields[1]
    i, j = next((i, j) for i, r in enumerate(p.answer) for j, x in enumerate(r) if x == 0)
    cells = [[text(x) for x in r] for r in p.answer]
    cells[i][j] = "CELL"
    body = json.dumps({pool: "NUMBER", "Pr2.2.P": cells}).replace('"NUMBER"', literal).replace('"CELL"', literal)
    g = grade(V, read_submission(body.encode()))
    number, matrix = (next(r for r in g.fields if r.id == aid) for aid in (pool, "Pr2.2.P"))
    assert number.correct is right and matrix.correct is right, (number.wrong, matrix.wrong)
    if not right:
        assert number.wrong[0]["given"] == literal and matrix.wrong[0]["at"] == [i, j]


def test_rationals_are_exact_and_irrationals_use_the_tolerance():
    sub = key()
    f = V.question("Pr2.3").fields[1]
    sub["Pr2.3.loss"] = f"{f.answer:.4f}"  # 4 decimals: within the stated tolerance
    assert grade(V, sub).score == grade(V, key()).max_score
    sub["Pr2.3.loss"] = str(f.answer + 2 * f.tolerance)
    assert not next(r for r in grade(V, sub).fields if r.id == "Pr2.3.loss").correct
    # a weight like 1/3 written as a decimal is not exact: wrong (the first variant with such a weight)
    v, i, j = next((v, i, j) for v in map(make_variant, range(1, 50))
                   for i, r in enumerate(v.question("Pr2.2").fields[1].answer)
                   for j, x in enumerate(r) if x.denominator % 3 == 0)
    sub = json.loads(json.dumps(v.key()))
    sub["Pr2.2.P"][i][j] = f"{float(v.question('Pr2.2').fields[1].answer[i][j]):.4f}"
    assert not next(r for r in grade(v, sub).fields if r.id == "Pr2.2.P").correct


def test_csv_submission():
    lines = ["id,value", f"seed,{V.seed}"]
    for aid, value in V.key().items():
        if aid in ("seed", "difficulty"):
            continue
        if isinstance(value, list):
            lines += [",".join([aid, *row]) for row in value]
        else:
            lines.append(f"{aid},{value}")
    sub = read_submission("\n".join(lines).encode())
    g = grade(V, sub)
    assert g.score == g.max_score


@pytest.mark.parametrize("sep", [";", "\t"])
def test_csv_separated_by_semicolons_or_tabs(sep):
    """Excel in a decimal-comma locale (Portugal's, where this exam was set) saves CSV with ';' between cells, and a
    spreadsheet's text export uses tabs: such a sheet is read as the comma one is (it was refused: "id;value: no
    such answer"), and a decimal comma in it is still the one answer it costs, with the usual message."""
    lines = [f"id{sep}value", f"seed{sep}{V.seed}"]
    for aid, value in V.key().items():
        if aid in ("seed", "difficulty"):
            continue
        rows = value if isinstance(value, list) else [[str(value)]]
        lines += [sep.join([aid, *row]) for row in rows]
    g = grade(V, read_submission("\r\n".join(lines).encode("utf-8-sig")))
    assert g.score == g.max_score
    lines = [line for line in lines if not line.startswith("Pr2.3.loss")] + [f"Pr2.3.loss{sep}4,1085"]
    r = next(r for r in grade(V, read_submission("\n".join(lines).encode())).fields if r.id == "Pr2.3.loss")
    assert not r.correct and r.wrong[0]["invalid"].startswith("not a number: '4,1085' (a decimal comma")
    # a comma CSV whose first answer is a matrix written as text with ';' between rows stays a comma CSV
    sub = read_submission(b'Pr2.2.P,"1, 0; 1/2, 1/2"\nseed,1\n')
    assert sub == {"Pr2.2.P": "1, 0; 1/2, 1/2", "seed": "1"}


def test_variant_json_is_a_submission():
    sub = read_submission(json.dumps(V.to_json(), default=str).encode())
    assert grade(V, sub).score == grade(V, key()).max_score


@pytest.mark.parametrize("change, needle", [
    ({"seed": 2}, "^seed: this submission is for variant 2"),
    ({"seed": 0}, r"^seed: this submission is for variant 0 \(standard\), not variant 1"),
    ({"seed": [["2"]]}, "^seed: this submission is for variant 2"),  # a CSV line "seed,2"
    ({"difficulty": "harder"}, "^difficulty"),
    ({"Pr2.9.x": 1}, "^Pr2.9.x: no such answer in variant 1; the answers are P1.1.choice, "),
    ({"P1.2.choice": 1}, "^P1.2.choice: no such answer"),  # Version A's question, not a variant's: wrong file
])
def test_bad_submissions_name_the_field(change, needle):
    with pytest.raises(SubmissionError, match=needle):
        grade(V, {**key(), **change})


def test_an_empty_submission_is_refused():
    for data in (b"", b"{}", b'{"seed": 1}', b"id,value\n"):
        with pytest.raises(SubmissionError, match="no answers"):
            grade(V, read_submission(data))


def test_unreadable_files():
    with pytest.raises(SubmissionError, match="not valid JSON"):
        read_submission(b"{oops", "s.json")
    with pytest.raises(SubmissionError, match="not UTF-8"):
        read_submission(b"\xff\xfe\x00", "s.csv")


def test_an_empty_matrix_cell_is_unanswered_and_the_rest_still_earns_its_share():
    for empty in ("", "  ", None):
        sub = key()
        sub["Pr2.2.P"] = [list(r) for r in sub["Pr2.2.P"]]
        sub["Pr2.2.P"][1][0] = empty
        r = next(r for r in grade(V, sub).fields if r.id == "Pr2.2.P")
        n = len(sub["Pr2.2.P"]) ** 2
        assert r.points == r.max_points * Fraction(n - 1, n) and not r.correct
        (w,) = r.wrong
        assert w["at"] == [1, 0] and w["given"] == "" and w["reason"].startswith("not answered; ")
        assert w["expected"] == str(V.question("Pr2.2").fields[1].answer[1][0])


@pytest.mark.parametrize("huge", ["1e999999999", "1/1e-99999999", "1" * 65, "2.5E+401"])
def test_a_number_no_exam_asks_for_is_refused_at_once(huge):
    with pytest.raises(UnreadableAnswer, match="no answer an exam asks for"):
        read_number(huge)  # Fraction("1e999999999") alone would build a billion-digit integer
    assert read_number("2.5e-1") == Fraction(1, 4) and read_number("1e400") == 10**400
    g = grade(V, {**key(), "Pr1.3.in_features": huge})  # in a submission: that answer is wrong, nothing more
    (r,) = [r for r in g.fields if not r.correct]
    assert r.id == "Pr1.3.in_features" and "no answer an exam asks for" in r.wrong[0]["invalid"]


def test_a_submission_for_another_drawing_of_the_seed_is_refused_by_its_fingerprint():
    """A key or answer sheet written by a dlexam that drew seed 1 otherwise carries another fingerprint."""
    other = make_variant(2).fingerprint
    assert other != V.fingerprint and len(V.fingerprint) == 12 and int(V.fingerprint, 16) >= 0
    with pytest.raises(SubmissionError) as e:
        grade(V, {**key(), "fingerprint": other})
    msg = str(e.value)
    assert msg.startswith("fingerprint:") and other in msg and V.fingerprint in msg and "\n" not in msg
    g = grade(V, {**key(), "fingerprint": V.fingerprint.upper()})  # as a spreadsheet may capitalise it
    assert g.score == g.max_score
    no_print = {k: v for k, v in key().items() if k != "fingerprint"}  # a sheet without one is graded as before
    assert grade(V, no_print).score == g.max_score


def test_a_sheet_of_the_other_difficulty_is_named_as_such():
    """The paper asks students to begin with the seed and the fingerprint, not the difficulty, so a harder exam's
    sheets graded without --difficulty harder differ from variant 1 (standard) by their fingerprint alone: they were
    refused as if "another dlexam drew that exam for seed 1", sending the instructor to a key.json, when this dlexam
    draws that exam itself. The refusal now names the variant the fingerprint is (the harder one, made here) and
    the difficulty to grade it with; a fingerprint of no difficulty of the seed is refused as before."""
    harder = make_variant(1, "harder")
    sheet = {k: v for k, v in json.loads(json.dumps(harder.key())).items() if k != "difficulty"}
    with pytest.raises(SubmissionError) as e:
        grade(V, sheet)
    msg = str(e.value)
    assert msg.startswith("fingerprint:") and "variant 1 (harder)" in msg and "--difficulty harder" in msg, msg
    assert "another dlexam" not in msg and "\n" not in msg
    assert grade(harder, sheet).score == grade(harder, sheet).max_score  # graded as the harder one, it is right
    with pytest.raises(SubmissionError) as e:
        grade(V, {**sheet, "fingerprint": make_variant(2).fingerprint})
    assert "another dlexam drew that exam" in str(e.value)


def test_a_sheet_of_the_other_difficulty_is_named_as_such_against_a_saved_key_too():
    """`grade --key` with the standard exam's key.json and a harder exam's sheet (no difficulty on it) said "another
    dlexam drew that exam" until 2026-12-07, though this dlexam draws it: it names the variant and the difficulty as
    `--variant` does, and where to find that exam's key."""
    from dlexam.variants.saved import read_key

    saved = read_key(json.dumps(V.to_json()).encode())
    harder = make_variant(1, "harder")
    sheet = {k: v for k, v in json.loads(json.dumps(harder.key())).items() if k != "difficulty"}
    with pytest.raises(SubmissionError) as e:
        grade(saved, sheet)
    msg = str(e.value)
    assert msg.startswith("fingerprint:") and "variant 1 (harder)" in msg and "--difficulty harder" in msg, msg
    assert "another dlexam" not in msg and "key.json" in msg and "\n" not in msg
    with pytest.raises(SubmissionError) as e:  # a fingerprint of neither difficulty: as before
        grade(saved, {**sheet, "fingerprint": make_variant(2).fingerprint})
    assert "another dlexam drew that exam" in str(e.value)


def test_the_fingerprint_follows_what_grading_depends_on():
    import dataclasses
    import subprocess
    import sys

    code = "from dlexam.variants import make_variant; print(make_variant(1).fingerprint)"
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert again.stdout.strip() == V.fingerprint  # the same in another process: no hash seed, no dict order
    q = V.question("Pr1.3")
    f = next(f for f in q.fields if f.kind == "number")
    changed = dataclasses.replace(f, answer=f.answer + 1)
    moved = dataclasses.replace(V, questions=tuple(
        dataclasses.replace(x, fields=tuple(changed if y is f else y for y in x.fields)) if x is q else x
        for x in V.questions))
    assert moved.fingerprint != V.fingerprint  # one answer changed
    heavier = dataclasses.replace(V, questions=tuple(
        dataclasses.replace(x, points=x.points + 1) if x is q else x for x in V.questions))
    assert heavier.fingerprint != V.fingerprint  # one question's points changed
    assert make_variant(1, "harder").fingerprint != V.fingerprint


@pytest.mark.parametrize("line, says", [
    ("Pr1.3.in_features 108", "Pr1.3.in_features 108: no such answer in variant 1: is it Pr1.3.in_features with its "
                              "answer, 108, in the same cell? Write the id and the answer in cells of their own: "
                              "Pr1.3.in_features,108"),
    ("Pr1.3.in_features: 108", "is it Pr1.3.in_features with its answer, 108, in the same cell?"),
    ("Pr1.3.in_features=108", "is it Pr1.3.in_features with its answer, 108, in the same cell?"),
    ("pr1.3.IN_FEATURES,108", "pr1.3.IN_FEATURES: no such answer in variant 1: is it Pr1.3.in_features? Answer ids are "
                              "written as the exam prints them"),
])
def test_an_answer_id_run_into_its_answer_or_miscased_names_the_id_meant(line, says):
    """A CSV line whose id and answer lost their separator ("Pr1.3.in_features 108") or whose id is miscased
    refuses the sheet, as any unknown id does (it may be another exam's), but names the id it almost is and how to
    write the line; it said only "no such answer" and listed every id."""
    with pytest.raises(SubmissionError) as bad:
        grade(V, read_submission(f"seed,1\nP1.4.choice,1\n{line}\n".encode(), "answers.csv"))
    assert says in str(bad.value), str(bad.value)
