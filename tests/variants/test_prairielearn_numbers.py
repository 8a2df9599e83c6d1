"""The PrairieLearn export reads a typed number by dlexam's rule (docs/variants.md, Grading): its server.py, run as
PrairieLearn runs it (a fresh interpreter with no site-packages, so neither torch nor an installed dlexam is
importable: only the copy in serverFilesCourse), reads each text of TABLE as `dlexam grade` does, says why a text
is no number in the same words, and scores the key's own values in full. Its grader called Python's Fraction on
the text: "2_16" scored as 216, "٢" as 2, and "1e999999999" built a billion-digit integer (minutes, for one
cell), so the guard below fails a hang instead of waiting for it.

Oracle: TABLE, written by hand (each text's value, or None for no number), checked against both readers; the key
of the variant built here by dlexam (with torch), its values typed as str(Fraction) or to 4 decimals."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import pytest

from dlexam.variants import exports, make_variant
from dlexam.variants.grade import UnreadableAnswer, read_number

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

V = make_variant(1)

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
for qid, seed, raw in json.loads(sys.argv[2]):
    sys.path.insert(0, "questions/dlexam-standard-" + qid)
    sys.modules.pop("server", None)
    import server
    data = {"params": {"seed": seed}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": raw,
            "partial_scores": {}}
    server.grade(data)
    say({"qid": qid, "score": data["score"], "partial": {k: p["score"] for k, p in data["partial_scores"].items()},
         "feedback": data.get("feedback", {}).get("unreadable", [])})
    sys.path.remove("questions/dlexam-standard-" + qid)
import dlexam
say({"dlexam": dlexam.__file__, "torch": "torch" in sys.modules, "numpy": "numpy" in sys.modules})
'''


def dlexams_reading(text: str) -> Fraction | str:
    """grade.read_number's value, or its message for a text it cannot read."""
    try:
        return read_number(text)
    except UnreadableAnswer as bad:
        return str(bad)


def typed_key(qid: str) -> dict[str, str]:
    """Every matrix cell and number of the question's key, as text, named as PrairieLearn's inputs are."""
    raw = {}
    for f in V.question(qid).fields:
        if f.kind == "matrix":
            n = len(f.answer[0])
            raw |= {f"{f.name}{n * i + j + 1}": str(x) for i, r in enumerate(f.answer) for j, x in enumerate(r)}
        elif f.kind == "number":
            raw[f.name] = str(f.answer) if isinstance(f.answer, Fraction) else f"{f.answer:.4f}"
    return raw


def run_exported(tmp_path, cases) -> list[dict]:
    """RUN in a fresh interpreter without site-packages in the exported course; its rows, one per line."""
    for name, data in exports.prairielearn(V).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    texts = json.dumps([(t, None if value is None else str(value)) for t, value in TABLE])
    try:
        p = subprocess.run([sys.executable, "-I", "-S", "-c", RUN, texts, json.dumps(cases)], cwd=tmp_path,
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
    s_name = V.question("Pr2.2").fields[0].name
    bad_s = {**typed_key("Pr2.2"), **{f"{s_name}{k + 1}": t for k, t in enumerate(BAD_CELLS)}}
    cases = [["Pr2-2", V.seed, typed_key("Pr2.2")], ["Pr2-3", V.seed, typed_key("Pr2.3")],
             ["Pr1-3", V.seed, typed_key("Pr1.3")], ["Pr2-2", V.seed, bad_s],
             ["Pr1-3", V.seed, typed_key("Pr1.3") | {"in_features": "1e10_000_000"}]]
    rows = run_exported(tmp_path, cases)
    *read, full22, full23, full13, bad22, bad13, where = rows
    assert where["dlexam"].startswith(str(tmp_path / "serverFilesCourse")) and not where["torch"]
    assert not where["numpy"]
    for (text, value), row in zip(TABLE, read, strict=True):
        assert row["text"] == text and row["read"] == (value is not None) and row["right"] == row["read"], row
    for row in (full22, full23, full13):  # the key's own values: full marks, nothing unreadable
        assert row["score"] == 1.0 and set(row["partial"].values()) == {1.0} and row["feedback"] == [], row
    s = V.question("Pr2.2").fields[0]
    cells = len(s.answer) * len(s.answer[0])
    assert bad22["partial"][s_name] == (cells - len(BAD_CELLS)) / cells
    cols = s.col_labels or [str(j + 1) for j in range(len(s.answer[0]))]
    row1 = s.row_labels[0] if s.row_labels else "1"
    assert bad22["feedback"] == [f"{s_name}, row {row1}, column {cols[k]}: {dlexams_reading(t)}"
                                 for k, t in enumerate(BAD_CELLS)]
    assert bad13["partial"]["in_features"] == 0.0 and bad13["partial"]["shapes"] == 1.0
    assert bad13["feedback"] == [f"in_features: {dlexams_reading('1e10_000_000')}"]
