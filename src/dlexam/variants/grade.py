"""Grading a submission against a variant's key: exact for rationals, the key's tolerance for irrationals.

A submission maps answer ids (``Pr2.2.P``, ``P1.4.choice``) to answers: a number as text or JSON ("1/4",
"0.25", "2.5e-1", 3), a matrix as a list of rows, a choice as its option number. JSON (an object; the
output of ``dlexam variant --json`` is one too) or CSV (``id,value`` per line, a matrix one line per row
with its id repeated). ``seed`` and ``difficulty`` in a submission must name the variant graded.

Every answer field earns its share of the question's points; a matrix earns it cell by cell. Each wrong cell
or value is reported with the right value and a one-line reason. Essays are left to a person: their points
are reported as ``manual_points``. :func:`grade` is what `dlexam grade` and the web page's practice call.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

from dlexam.errors import UserError
from dlexam.plain import dumps
from dlexam.spec import text
from dlexam.variants.model import Field, Variant

MAX_SUBMISSION_BYTES = 1 << 20
MAX_NUMBER_TEXT = 64  # characters in one number ("-3/14", "0.1429", "2.5e-1"): a longer one is no answer
MAX_EXPONENT = 400  # |e| in "1e5": Fraction("1e99999999") would build a 100-million-digit integer


class SubmissionError(UserError):
    """A submission that cannot be graded: names the answer id and what is wrong with it."""


def parse_number(value, where: str) -> Fraction:
    """ "1/4", "0.25", "2.5e-1", 3 or 0.25 as an exact Fraction (a JSON float is read as the decimal it prints)."""
    if isinstance(value, bool) or value is None:
        raise SubmissionError(f"{where}: expected a number, got {dumps(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SubmissionError(f"{where}: expected a finite number, got {value}")
        value = repr(value)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        s = value.strip()
        if len(s) > MAX_NUMBER_TEXT or any(abs(int(e)) > MAX_EXPONENT for e in re.findall(r"[eE]\s*([+-]?\d+)", s)):
            raise SubmissionError(f"{where}: {s[:20]!r}... is no answer an exam asks for (at most "
                                  f"{MAX_NUMBER_TEXT} characters, exponents within +-{MAX_EXPONENT})")
        try:
            if "/" in s:
                num, den = s.split("/")
                return Fraction(Fraction(num.strip()), Fraction(den.strip()))
            return Fraction(s)
        except (ValueError, ZeroDivisionError):
            pass
    raise SubmissionError(f"{where}: not a number: {str(value)[:40]!r} (write 1/4, 0.25 or 2.5e-1)")


def read_submission(data: bytes, name: str = "submission") -> dict:
    """A submission file's answers: JSON (an object) or CSV (id,value...)."""
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{name}: larger than {MAX_SUBMISSION_BYTES} bytes; a submission is a few kB")
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError(f"{name}: not UTF-8 text (give JSON or CSV)") from None
    if body.lstrip().startswith(("{", "[")):
        try:
            obj = json.loads(body)
        except ValueError as exc:
            raise SubmissionError(f"{name}: not valid JSON ({exc})") from None
        if not isinstance(obj, dict):
            raise SubmissionError(f"{name}: a JSON submission is an object {{answer id: answer}}")
        return obj.get("key", obj) if isinstance(obj.get("key"), dict) else obj
    answers: dict = {}
    for n, row in enumerate(csv.reader(io.StringIO(body)), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#") or cells[0].lower() in ("id", "question"):
            continue
        if len(cells) < 2:
            raise SubmissionError(f"{name} line {n}: {cells[0]}: no value (write id,value)")
        answers.setdefault(cells[0], []).append(cells[1:])  # rows: a number is one row of one value
    return {k: rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows for k, rows in answers.items()}


@dataclass
class FieldResult:
    id: str
    question: str
    points: Fraction  # exact: the field's share of the question's points, times the fraction of it right
    max_points: Fraction
    correct: bool
    wrong: list[dict] = field(default_factory=list)  # each: where, given, expected, reason

    def to_json(self) -> dict:
        return {"id": self.id, "question": self.question, "points": float(self.points),
                "max_points": float(self.max_points), "correct": self.correct, "wrong": self.wrong}


@dataclass
class Grade:
    seed: int
    difficulty: str
    score: Fraction  # exact (points are the exam's, shared exactly between fields and cells)
    max_score: Fraction  # the points graded here: every question's but the essays'
    manual_points: Fraction  # essay points, for a person to grade
    fields: list[FieldResult]
    missing: list[str]

    def to_json(self) -> dict:
        return {"seed": self.seed, "difficulty": self.difficulty, "score": float(self.score),
                "max_score": float(self.max_score), "score_exact": text(self.score),
                "manual_points": float(self.manual_points), "missing": self.missing,
                "fields": [f.to_json() for f in self.fields]}


def _matrix(value, f: Field, aid: str) -> list[list[Fraction | None]]:
    """A matrix answer; a cell left empty ("" or null) is None: not answered, so wrong (the rest still earns its
    share, as a student who fills part of a matrix expects)."""
    rows, cols = len(f.answer), len(f.answer[0])
    if isinstance(value, str):  # "1, 0; 1/2, 1/2"
        value = [r.split(",") for r in value.split(";")]
    if not isinstance(value, list) or len(value) != rows:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise SubmissionError(f"{aid}: expected a matrix of {rows} rows, got {got}")
    out = []
    for i, r in enumerate(value, start=1):
        if not isinstance(r, list) or len(r) != cols:
            got = len(r) if isinstance(r, list) else repr(r)
            raise SubmissionError(f"{aid}: row {i} must have {cols} entries, got {got}")
        out.append([None if v is None or (isinstance(v, str) and not v.strip()) else
                    parse_number(v, f"{aid} row {i} column {j}") for j, v in enumerate(r, start=1)])
    return out


def _scalar(value, aid: str):
    """A number or a choice given as one row of one value ([["3"]], as a CSV line reads) is that value."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list) and len(value[0]) == 1:
        return value[0][0]
    if isinstance(value, list):
        raise SubmissionError(f"{aid}: expected one value, got {len(value)} rows")
    return value


def _choice(value, f: Field, aid: str) -> int:
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().isalpha():
        value = "abcdefgh".index(value.strip().lower()) + 1
    n = parse_number(value, aid)
    if n.denominator != 1 or not 1 <= n <= len(f.options):
        raise SubmissionError(f"{aid}: choose an option number from 1 to {len(f.options)}, got {value!r}")
    return int(n)


def grade_field(aid: str, qid: str, q_points: int, f: Field, value) -> FieldResult:
    share = f.points * q_points
    if f.kind == "matrix":
        got = _matrix(value, f, aid)
        wrong = []
        cells = [(i, j) for i in range(len(f.answer)) for j in range(len(f.answer[0]))]
        for i, j in cells:
            if got[i][j] != f.answer[i][j]:
                where = f"row {f.row_labels[i] if f.row_labels else i + 1}, column " + (
                    f.col_labels[j] if f.col_labels else str(j + 1))
                wrong.append({"where": where, "at": [i, j], "given": "" if got[i][j] is None else text(got[i][j]),
                              "expected": text(f.answer[i][j]),
                              "reason": ("not answered; " if got[i][j] is None else "")
                              + (f.reason(i, j) if f.reason else "")})
        right = len(cells) - len(wrong)
        return FieldResult(aid, qid, share * Fraction(right, len(cells)), share, not wrong, wrong)
    if f.kind != "matrix":
        value = _scalar(value, aid)
    if f.kind == "choice":
        got = _choice(value, f, aid)
        ok = got == f.answer
        wrong = [] if ok else [{"where": aid, "given": str(got), "expected": f"{f.answer}: {f.options[f.answer - 1]}",
                                "reason": f.why}]
        return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong)
    got = parse_number(value, aid)
    if f.exact:
        ok = got == f.answer
        expected = text(f.answer)
    else:
        ok = abs(float(got) - f.answer) <= f.tolerance
        expected = f"{f.answer:.4f} (within {f.tolerance:g}; exactly {f.closed_form})"
    given = value.strip() if isinstance(value, str) else text(got)  # as written: 3.11, not 311/100
    wrong = [] if ok else [{"where": aid, "given": given, "expected": expected, "reason": f.why}]
    return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong)


def grade(v: Variant, submission: dict) -> Grade:
    """Score `submission` (answer id -> answer) against variant `v`'s key."""
    for name, want in (("seed", v.seed), ("difficulty", v.difficulty)):
        if name in submission and str(submission[name]).strip() != str(want):
            raise SubmissionError(f"{name}: this submission is for variant {submission.get('seed', v.seed)} "
                                  f"({submission.get('difficulty', 'standard')}), not variant {v.seed} "
                                  f"({v.difficulty})")
    known = v.fields()
    if not any(k not in ("seed", "difficulty") for k in submission):
        raise SubmissionError("submission: no answers in it (give answer id -> answer, e.g. \"Pr2.2.P\")")
    unknown = [k for k in submission if k not in known and k not in ("seed", "difficulty")]
    if unknown:
        raise SubmissionError(f"{unknown[0]}: no such answer in variant {v.seed}; the answers are "
                              + ", ".join(known))
    results, missing, manual = [], [], Fraction(0)
    for aid, (q, f) in known.items():
        if f.kind == "essay":
            manual += f.points * q.points
            continue
        if aid not in submission:
            missing.append(aid)
            unanswered = {"where": aid, "given": "", "expected": "an answer", "reason": "not answered"}
            results.append(FieldResult(aid, q.id, Fraction(0), f.points * q.points, False, [unanswered]))
            continue
        results.append(grade_field(aid, q.id, q.points, f, submission[aid]))
    score = sum((r.points for r in results), Fraction(0))
    max_score = sum((r.max_points for r in results), Fraction(0))
    return Grade(v.seed, v.difficulty, score, max_score, manual, results, missing)
