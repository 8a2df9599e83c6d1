"""The PrairieLearn export reads a typed number by dlexam's rule (docs/variants.md, Grading): its server.py, run as
PrairieLearn runs it (a fresh interpreter with no site-packages, so neither torch nor an installed dlexam is
importable: only the copy in serverFilesCourse), reads each text of TABLE as `dlexam grade` does, says why a text
is no number in the same words, and scores the key's own values in full. Its grader called Python's Fraction on
the text: "2_16" scored as 216, "٢" as 2, and "1e999999999" built a billion-digit integer (minutes, for one
cell), so the guard below fails a hang instead of waiting for it.

Oracle: TABLE, written by hand (each text's value, or None for no number), checked against both readers; the key
of the variant built here by dlexam (with torch), its values typed as str(Fraction) or to 4 decimals.

They also compare a typed number with the key as `dlexam grade` does (its same_value and near): SAME, written by hand
from the rule (an exact key: the fraction itself, or any decimal whose nearest double is the key's nearest double,
such as 0.14285714285714285, 1/7 as a program prints it; a key with a tolerance: within it), is checked against
grade.grade_field and against the exported grade_exact.exact_score, as a number field and as a matrix cell. The
exported server compared an exact key with ==, so 0.14285714285714285 for 1/7 earned credit from `dlexam grade`
and /practice but not from PrairieLearn. A key of 0 takes 0 alone: "1e-400", whose nearest double is 0.0, earned its
credit from both. A cell is one number ("2 / 14" in one cell is 2/14), where dlexam grade split the one cell of a
one-column matrix at its spaces (tests/variants/test_matrix_cells.py: matrices of several columns)."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.grade import grade, grade_field
from dlexam.variants.model import Field
from dlexam.variants.reading import read_number
from dlexam.variants.typed import UnreadableAnswer

TABLE = [  # (typed text, its value; None: no number)
    ("1/4", Fraction(1, 4)), ("0.25", Fraction(1, 4)), ("2.5e-1", Fraction(1, 4)), (".5", Fraction(1, 2)),
    (" -3 / 14 ", Fraction(-3, 14)), ("\u22122", Fraction(-2)), ("+7", Fraction(7)), ("1E2", Fraction(100)),
    ("216", Fraction(216)), ("1e400", Fraction(10**400)), ("1e-400", Fraction(1, 10**400)),
    ("1" * 64, Fraction(int("1" * 64))),
    ("2_16", None), ("1_000", None), ("1e10_000_000", None), ("1e4_01", None),
    ("\u0662", None), ("\u0661\u0660\u0668", None), ("\uff12", None), ("\u00b2", None), ("\u00bd", None),
    ("1e999999999", None), ("1e401", None), ("1" * 65, None), ("1/0", None), ("abc", None), ("nan", None),
    ("inf", None), ("0x10", None), ("1/2/3", None), ("1,5", None), ("", None),
]
BAD_CELLS = ["2_16", "\u0662", "1e999999999", "1e10_000_000"]  # typed into the first cells of a matrix
HANG_GUARD_S = 60  # the whole run takes about a second; on the old grader "1e999999999" took minutes

# (the key: a Fraction, or (value, tolerance) for an irrational one; typed text; right?), by hand from the rule
SAME = [
    (Fraction(1, 7), "1/7", True), (Fraction(1, 7), "2/14", True), (Fraction(1, 7), "1/8", False),
    (Fraction(1, 7), "0.14285714285714285", True),  # repr(1/7): the double nearest 1/7, written out in full
    (Fraction(1, 7), "1.4285714285714285e-1", True),
    # the double itself, exactly (2^-55 apart from its neighbours)
    (Fraction(1, 7), "0.142857142857142849212692681248881854116916656494140625", True),
    (Fraction(1, 7), "0.14285714285714286", True),  # 1.08e-17 above it, under half of 2^-55: rounds to it
    (Fraction(1, 7), "0.1428571428571428", False),  # 4.9e-17 below it: another double
    (Fraction(1, 7), "0.142857", False), (Fraction(1, 7), "0.1429", False), (Fraction(1, 7), "-1/7", False),
    (Fraction(1, 3), "0.3333333333333333", True), (Fraction(1, 3), "1/3", True),
    (Fraction(1, 3), "0.333333333333", False), (Fraction(1, 3), "0.3333", False),
    (Fraction(-1, 3), "-0.3333333333333333", True), (Fraction(-1, 3), "0.3333333333333333", False),
    (Fraction(1, 4), "0.25", True), (Fraction(1, 4), "0.2500000000000000001", True),  # 1e-19 off: the same double
    (Fraction(108), "108", True), (Fraction(108), "108.0", True), (Fraction(108), "1.08e2", True),
    (Fraction(108), "216/2", True), (Fraction(108), "109", False),
    (Fraction(108), "108.000000000000001", True),  # 1e-15 off, under half of 2^-46 (108's spacing): 108.0
    (Fraction(108), "107.99999999999999", False),  # 1e-14 off: the double below 108
    (Fraction(108), "1e400", False),  # beyond float's range: far from every answer
    (Fraction(0), "0", True), (Fraction(0), "-0.0", True), (Fraction(0), "1e-300", False),
    # zero is only zero: these round to the double 0.0, and are not 0 (dlexam grade and PrairieLearn credited them)
    (Fraction(0), "1e-400", False), (Fraction(0), "-1e-400", False), (Fraction(0), "1e-330", False),
    (Fraction(0), "1/1e400", False), (Fraction(0), "0/7", True), (Fraction(0), "0e5", True),
    (Fraction(1, 10**400), "0", False), (Fraction(1, 10**400), "1e-400", True),  # and 0 is no key that is not 0
    # a cell is one number, its spaces around "/" included, as a number field reads it (dlexam grade split the one
    # cell of a one-column matrix at its spaces: " 2 / 14 " as 2, "/" and 14, so it was wrong, and "1 2" as 1)
    (Fraction(1, 7), " 2 / 14 ", True), (Fraction(1, 4), "1 /4", True), (Fraction(1, 4), "1/ 4", True),
    (Fraction(1), "1 2", False), (Fraction(2), "1 2", False), (Fraction(-1, 4), "- 1/4", False),
    (Fraction(10**400), "1e400", True), (Fraction(10**400), "1.0000000000000001e400", False),  # no double
    ((2.5, 0.01), "2.5", True), ((2.5, 0.01), "5/2", True), ((2.5, 0.01), "2.505", True), ((2.5, 0.01), "2.495", True),
    ((2.5, 0.01), "2.52", False), ((2.5, 0.01), "2.48", False), ((2.5, 0.01), "-2.5", False),
    ((2.5, 0.01), "1e400", False),
]

V = make_variant(1)

# Each (question, seed, raw inputs) of argv[2] graded by the exported question's own server.grade: one row each.
SERVER_GRADE = r'''
for qid, seed, raw, *parsed in json.loads(sys.argv[2]):
    sys.path.insert(0, "questions/dlexam-standard-" + qid)
    sys.modules.pop("server", None)
    import server
    # parsed: what the elements' parse() and grade() left (submitted_answers, partial_scores), where given
    submitted, partial = parsed or ({}, {})
    data = {"params": {"seed": seed}, "correct_answers": {}, "submitted_answers": submitted,
            "raw_submitted_answers": raw, "partial_scores": partial}
    server.grade(data)
    print(json.dumps({"qid": qid, "score": data["score"],
                      "partial": {k: p["score"] for k, p in data["partial_scores"].items()},
                      "feedback": data.get("feedback", {}).get("unreadable", [])}), flush=True)
    sys.path.remove("questions/dlexam-standard-" + qid)
'''

RUN = r'''
import json, sys
sys.path[:0] = ["serverFilesCourse"]
from dlexam.variants import grade_exact
def say(row):
    print(json.dumps(row), flush=True)
from fractions import Fraction
for text, value in json.loads(sys.argv[1]):
    got = grade_exact.fraction(text)
    say({"text": text, "read": got is not None, "right": value is not None and got == Fraction(value)})
''' + SERVER_GRADE + r'''
import dlexam
say({"dlexam": dlexam.__file__, "torch": "torch" in sys.modules, "numpy": "numpy" in sys.modules})
'''


def dlexams_reading(text: str) -> Fraction | str:
    """reading.read_number's value, or its message for a text it cannot read."""
    try:
        return read_number(text)
    except UnreadableAnswer as bad:
        return str(bad)


# the PrairieLearn questions (folders) of Problems 1 and 2: each Problem's questions as one (docs/variants.md)
FOLDERS = {"Pr1": ("Pr1.1", "Pr1.2", "Pr1.3", "Pr1.4"), "Pr2": ("Pr2.1", "Pr2.2", "Pr2.3", "Pr2.4")}


def element(qid: str, f, k: int = 1) -> str:
    """A field's answers-name in question.html: its answer id, '.' and '-' written '_' (Pr2.2.S: Pr2_2_S); Pr1.2's,
    whose names are its drawn layers' (AvgPool-1 or MaxPool-1), by the field's position k from 1 (Pr1_2_layer2)."""
    return f"Pr1_2_layer{k}" if qid == "Pr1.2" else f"{qid}.{f.name}".replace(".", "_").replace("-", "_")


def typed_key(folder: str) -> dict[str, str]:
    """Every matrix cell and number of the question's parts' key, as text, named as PrairieLearn's inputs are."""
    raw = {}
    for qid in FOLDERS[folder]:
        for k, f in enumerate(V.question(qid).fields, start=1):
            name = element(qid, f, k)
            if f.kind == "matrix":
                n = len(f.answer[0])
                raw |= {f"{name}{n * i + j + 1}": str(x) for i, r in enumerate(f.answer) for j, x in enumerate(r)}
            elif f.kind == "number":
                raw[name] = str(f.answer) if isinstance(f.answer, Fraction) else f"{f.answer:.4f}"
    return raw


def run_exported(tmp_path, cases, script=RUN, texts=None) -> list[dict]:
    """`script` (RUN) in a fresh interpreter without site-packages in the exported course; its rows, one per line."""
    for name, data in exports.prairielearn(V).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    if texts is None:
        texts = json.dumps([(t, None if value is None else str(value)) for t, value in TABLE])
    try:
        p = subprocess.run([sys.executable, "-I", "-S", "-c", script, texts, json.dumps(cases)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired as e:
        hung = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
    else:
        hung = None
    if hung is not None:  # outside the except: the report is the rows, not the command line
        pytest.fail(f"server.py hung past {HANG_GUARD_S} s; the rows before it:\n{hung[-3000:]}")
    assert p.returncode == 0, p.stderr[-2000:]
    return [json.loads(line) for line in p.stdout.splitlines()]


def test_the_table_is_what_dlexam_grade_reads():
    for text, value in TABLE:
        got = dlexams_reading(text)
        assert got == value if value is not None else isinstance(got, str), (text, got)


def test_prairielearn_reads_typed_numbers_as_dlexam_grade_does(tmp_path):
    s_name = element("Pr2.2", V.question("Pr2.2").fields[0])
    bad_s = {**typed_key("Pr2"), **{f"{s_name}{k + 1}": t for k, t in enumerate(BAD_CELLS)}}
    cases = [["Pr2", V.seed, typed_key("Pr2")], ["Pr1", V.seed, typed_key("Pr1")], ["Pr2", V.seed, bad_s],
             ["Pr1", V.seed, typed_key("Pr1") | {"Pr1_3_in_features": "1e10_000_000"}]]
    rows = run_exported(tmp_path, cases)
    *read, full2, full1, bad22, bad13, where = rows
    assert where["dlexam"].startswith(str(tmp_path / "serverFilesCourse")) and not where["torch"]
    assert not where["numpy"]
    for (text, value), row in zip(TABLE, read, strict=True):
        assert row["text"] == text and row["read"] == (value is not None) and row["right"] == row["read"], row
    for row in (full2, full1):  # the key's own values: full marks, nothing unreadable
        assert row["score"] == 1.0 and set(row["partial"].values()) == {1.0} and row["feedback"] == [], row
    s = V.question("Pr2.2").fields[0]
    cells = len(s.answer) * len(s.answer[0])
    assert bad22["partial"][s_name] == (cells - len(BAD_CELLS)) / cells
    cols = s.col_labels or [str(j + 1) for j in range(len(s.answer[0]))]
    row1 = s.row_labels[0] if s.row_labels else "1"
    # a part's field named by its answer id, where the question holds a Problem's parts
    assert bad22["feedback"] == [f"Pr2.2.S, row {row1}, column {cols[k]}: {dlexams_reading(t)}"
                                 for k, t in enumerate(BAD_CELLS)]
    assert bad13["partial"]["Pr1_3_in_features"] == 0.0 and bad13["partial"]["Pr1_3_shapes"] == 1.0
    assert bad13["feedback"] == [f"Pr1.3.in_features: {dlexams_reading('1e10_000_000')}"]


COMPARE = r'''
import json, sys
sys.path[:0] = ["serverFilesCourse"]
from fractions import Fraction
from dlexam.variants.grade_exact import exact_score
from dlexam.variants.model import Field, Question
def score(fields, raw):
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": raw,
            "partial_scores": {}}
    exact_score(Question("T.1", "typed", 1, (), tuple(fields), ()), data)
    return {k: p["score"] for k, p in data["partial_scores"].items()}
for key, tolerance, text in json.loads(sys.argv[1]):
    if tolerance is None:  # an exact key: as a number and as the one cell of a matrix
        key = Fraction(key)
        got = score([Field("n", "number", key, Fraction(1, 2)), Field("m", "matrix", ((key,),), Fraction(1, 2))],
                    {"n": text, "m1": text})
    else:
        got = score([Field("n", "number", float(key), Fraction(1), tolerance=tolerance)], {"n": text})
    print(json.dumps({"text": text, "number": got["n"], "cell": got.get("m")}), flush=True)
''' + SERVER_GRADE


def dlexam_grades(key, text: str) -> tuple[bool, bool | None]:
    """`dlexam grade`'s verdict on `text` for `key` (a Fraction, or (value, tolerance)): as a number field, and as
    the one cell of a matrix (None for a key with a tolerance: matrices are exact)."""
    if isinstance(key, Fraction):
        number = Field("n", "number", key, Fraction(1))
        cell = Field("m", "matrix", ((key,),), Fraction(1))
        return (grade_field("T.1.n", "T.1", 1, number, text).correct,
                grade_field("T.1.m", "T.1", 1, cell, [[text]]).correct)
    value, tolerance = key
    number = Field("n", "number", value, Fraction(1), tolerance=tolerance)
    return grade_field("T.1.n", "T.1", 1, number, text).correct, None


def test_the_comparison_table_is_what_dlexam_grade_scores():
    for key, text, right in SAME:
        assert dlexam_grades(key, text) == (right, right if isinstance(key, Fraction) else None), (key, text)


def beyond_the_last_digit(x: Fraction) -> str:
    """A key's value typed with a 1 appended 20 digits after the point: another decimal, the same double."""
    assert x.denominator in (1, 2, 4)  # as a decimal, at most 2 places: 0.25, 1.75
    return f"{float(x):.2f}" + "0" * 18 + "1"


def test_prairielearn_compares_typed_numbers_as_dlexam_grade_does(tmp_path):
    texts = json.dumps([(str(key), None, text) if isinstance(key, Fraction) else (key[0], key[1], text)
                        for key, text, _ in SAME])
    p = V.question("Pr2.2").fields[1]  # P: argmax weights, 1/4 and 1/2 among them
    assert p.name == "P" and any(x.denominator > 1 for r in p.answer for x in r)
    long_p = {**typed_key("Pr2"), **{f"Pr2_2_P{len(r) * i + j + 1}": beyond_the_last_digit(x)
                                     for i, r in enumerate(p.answer) for j, x in enumerate(r) if x.denominator > 1}}
    rows = run_exported(tmp_path, [["Pr2", V.seed, long_p]], script=COMPARE, texts=texts)
    *compared, whole = rows
    for (key, text, right), row in zip(SAME, compared, strict=True):
        assert row["text"] == text, row
        want = {"text": text, "number": float(right), "cell": float(right) if isinstance(key, Fraction) else None}
        assert row == want, (key, row)
    # the whole question through server.grade, as `dlexam grade` scores the same texts: every cell right
    submission = {f"Pr2.2.{f.name}": [[long_p[f"Pr2_2_{f.name}{len(f.answer[0]) * i + j + 1}"]
                                       for j in range(len(f.answer[0]))] for i in range(len(f.answer))]
                  for f in V.question("Pr2.2").fields}
    assert all(r.correct for r in grade(V, submission).fields if r.question == "Pr2.2")
    assert whole["partial"]["Pr2_2_S"] == whole["partial"]["Pr2_2_P"] == 1.0, whole


# A part left blank (2026-12-07). PrairieLearn grades a submission only if no element's parse() found a format error
# (docs/question/server.md at 88fb855: grade() "only runs if parse() did not produce format errors"), and a blank
# pl-number-input, pl-matrix-component-input cell, pl-multiple-choice or pl-rich-text-editor is one unless the
# element says allow-blank="true" (docs/elements/*.md at 88fb855). With it, pl-number-input and
# pl-matrix-component-input parse a blank as their blank-value, 0 unless given (pl-number-input's may be "", which
# stays ""), and grade that: a blank where the key is 0 is right to the element. server.py's grade() runs after the
# elements' and scores every number and cell again from the raw text. The model below is typed from those facts
# (not PrairieLearn's code); the oracle is each part's weight, the fields' points, typed by hand for variant 1.
AUTO_WEIGHTS = {  # the weights of the fields PrairieLearn grades (the essays are a person's), from the exam's points
    "Pr1": {"Pr1_1_rf": 12, "Pr1_2_layer1": 5, "Pr1_2_layer2": 5, "Pr1_2_layer3": 5, "Pr1_2_layer4": 5,
            "Pr1_3_shapes": 24, "Pr1_3_in_features": 16, "Pr1_4_kernel": 8, "Pr1_4_filters": 4, "Pr1_4_params": 8},
    "Pr2": {"Pr2_1_wise": 2, "Pr2_2_S": 3, "Pr2_2_P": 5, "Pr2_3_logits": 2, "Pr2_3_loss": 3, "Pr2_4_R": 2,
            "Pr2_4_same": 1, "Pr2_4_loss": 1},
}


def pl_elements(page: str) -> dict[str, tuple[str, dict[str, str]]]:
    """question.html's answer elements: answers-name (an essay's file-name) -> (tag, attributes)."""
    from html.parser import HTMLParser

    found = {}

    class Elements(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("pl-number-input", "pl-matrix-component-input", "pl-multiple-choice"):
                found[a["answers-name"]] = (tag, a)
            elif tag == "pl-rich-text-editor":
                found[a["file-name"]] = (tag, a)

    Elements().feed(page)
    return found


def pl_parse_and_grade(elements, raw, choices, keys):
    """The elements' parse() and grade() of a submission, as PrairieLearn's docs describe them: None if a blank is a
    format error (then nothing is graded); else (submitted_answers, partial_scores). `raw`: the typed texts by input
    name; `choices`: multiple choice -> True (the right option), or None (none chosen); `keys`: number and cell
    inputs -> their key, which an element's own comparison (value == key, enough here) credits."""
    submitted, partial = {}, {}
    for name, (tag, a) in elements.items():
        blank_ok = a.get("allow-blank") == "true"
        if tag == "pl-multiple-choice":
            if choices[name] is None and not blank_ok:
                return None
            partial[name] = {"score": float(bool(choices[name])), "weight": int(a["weight"])}
        elif tag == "pl-rich-text-editor":
            if not blank_ok:  # the essays are left blank in every submission here
                return None
        else:
            cells = [k for k in raw if k == name] if tag == "pl-number-input" else \
                [k for k in raw if k.startswith(name) and k[len(name):].isdigit()]
            right = 0
            for k in cells:
                text = raw[k]
                if not text.strip():
                    if not blank_ok:
                        return None
                    text = a.get("blank-value", "0")
                value = text if text == "" else float(Fraction(text))
                submitted[k] = value
                right += value != "" and value == float(Fraction(keys[k]))
            partial[name] = {"score": right / len(cells), "weight": int(a["weight"])}
    return submitted, partial


def blank_cases():
    """(folder, raw, choices, the score it must get): the key typed but for its blanks."""
    def key_with(folder, blank):
        return {k: ("" if any(k.startswith(b) for b in blank) else t) for k, t in typed_key(folder).items()}

    choices = {"Pr2_1_wise": True, "Pr2_4_same": True}
    return [
        # a whole part left blank: the others' share exactly (Pr2.3: logits 2 + loss 3 of 19)
        ("Pr2", key_with("Pr2", ["Pr2_3_"]), choices, Fraction(14, 19)),
        # a multiple choice left blank (Pr2.4 (b), weight 1)
        ("Pr2", typed_key("Pr2"), {**choices, "Pr2_4_same": None}, Fraction(18, 19)),
        # Pr1.2 blank, whose pooling layers' key is 0: a blank is no 0 (20 of 92)
        ("Pr1", key_with("Pr1", ["Pr1_2_"]), {}, Fraction(72, 92)),
        # one number whose key is 0 (Pr1.2's second layer, AvgPool-1) left blank, the rest right
        ("Pr1", key_with("Pr1", ["Pr1_2_layer2"]), {}, Fraction(87, 92)),
    ]


def test_a_blank_part_scores_0_and_the_others_are_graded(tmp_path):
    """A student who leaves a part blank gets the other parts graded, and exactly their weights' share: the blank
    scores 0, also where its key is 0 (a blank-value of 0 is the key there, and the element credits it). Until
    2026-12-07 no element allowed a blank, so such a submission was not graded at all."""
    assert V.question("Pr1.2").fields[1].answer == 0 and V.question("Pr1.2").fields[3].answer == 0
    files = exports.prairielearn(V)
    cases, wants = [], []
    for folder, raw, choices, want in blank_cases():
        elements = pl_elements(files[f"questions/dlexam-standard-{folder}/question.html"].decode())
        assert {n for n, (t, _) in elements.items() if t != "pl-rich-text-editor"} == set(AUTO_WEIGHTS[folder])
        assert {n: int(a["weight"]) for n, (t, a) in elements.items() if "weight" in a} == AUTO_WEIGHTS[folder]
        parsed = pl_parse_and_grade(elements, raw, choices, typed_key(folder))
        assert parsed is not None, f"{folder}: a blank is a format error, so nothing is graded"
        cases.append([folder, V.seed, raw, *parsed])
        wants.append(want)
    rows = run_exported(tmp_path, cases)[len(TABLE):-1]
    for (folder, _, raw, *_), row, want in zip(cases, rows, wants, strict=True):
        assert row["score"] == pytest.approx(float(want), abs=1e-12), (folder, row)
        assert row["feedback"] == [], row  # a blank is no unreadable number: nothing to explain
        blank = {n for n in AUTO_WEIGHTS[folder] if any(k.startswith(n) and not t for k, t in raw.items())}
        assert all(row["partial"][n] < 1 for n in blank), row


def test_a_blank_never_scores_where_the_key_is_0(tmp_path):
    """A blank number or matrix cell whose key is 0 scores nothing, whatever the elements parsed it as (their
    blank-value: 0, or "" for pl-number-input), and also where the raw text is absent and only the parsed "" is
    there; a typed 0 there scores."""
    rows = run_exported(tmp_path, [], script=COMPARE_ZERO, texts=json.dumps(None))
    assert rows == [{"blank": 0.0, "parsed_zero": 0.0, "parsed_empty_only": 0.0, "typed_zero": 1.0, "feedback": []}]


COMPARE_ZERO = r'''
import json, sys
sys.path[:0] = ["serverFilesCourse"]
from fractions import Fraction
from dlexam.variants.grade_exact import exact_score
from dlexam.variants.model import Field, Question
FIELDS = (Field("n", "number", Fraction(0), Fraction(1, 2)), Field("m", "matrix", ((Fraction(0),),), Fraction(1, 2)))
def score(raw, submitted, partial=None):
    data = {"params": {}, "correct_answers": {}, "submitted_answers": submitted, "raw_submitted_answers": raw,
            "partial_scores": partial or {}}
    exact_score(Question("T.1", "typed", 1, (), FIELDS, ()), data)
    return data["score"], data.get("feedback", {}).get("unreadable", [])
credited = {"n": {"score": 1.0, "weight": 1}, "m": {"score": 1.0, "weight": 1}}  # as the elements grade 0 == 0
blank, said = score({"n": "", "m1": ""}, {"n": "", "m1": 0.0, "m": {"_value": [[0.0]]}}, credited)
parsed_zero, _ = score({"n": "", "m1": ""}, {"n": 0.0, "m1": 0.0, "m": [[0.0]]}, credited)
empty_only, said2 = score({}, {"n": ""})
typed_zero, _ = score({"n": "0", "m1": "0"}, {})
print(json.dumps({"blank": blank, "parsed_zero": parsed_zero, "parsed_empty_only": empty_only,
                  "typed_zero": typed_zero, "feedback": said + said2}))
'''
