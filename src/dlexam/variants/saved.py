"""A variant as its key.json recorded it: what `dlexam grade --key FILE` grades against.

`dlexam variant --out DIR` writes key.json (the `--json` object): the seed, the difficulty, the fingerprint, and per
answer id its kind, share of the question's points (exact, and as a float), answer, tolerance, options and labels,
with each question's points. That is everything the grader needs, so a class's answer sheets can be graded against
the exam they were given even after dlexam draws that seed otherwise (the fingerprints then differ, and `--variant
N` refuses them). It also keeps the reasons the grader shows beside a wrong answer (why a value or a choice is
right, why each option is wrong, why each cell of a matrix holds its value), so a saved key explains a mistake as
the variant does; a key.json written before they were kept grades the same, showing the right answers without them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from dlexam.errors import UserError
from dlexam.plain import loads
from dlexam.variants.model import (
    FINGERPRINT_LENGTH,
    FOLLOW_KINDS,
    FOLLOW_RULES,
    KINDS,
    Field,
    FollowThrough,
    Mistake,
    Question,
)
from dlexam.variants.reading import read_number
from dlexam.variants.typed import shown

MAX_KEY_BYTES = 16 << 20  # a key.json is tens of kB


@dataclass(frozen=True)
class SavedKey:
    """The part of a :class:`~dlexam.variants.model.Variant` that grading reads, from a key.json."""

    seed: int
    difficulty: str
    fingerprint: str
    questions: tuple[Question, ...]

    def fields(self) -> dict[str, tuple[Question, Field]]:
        """answer id -> (question, field), in the key's order."""
        return {q.answer_id(f): (q, f) for q in self.questions for f in q.fields}


def read_key(data: bytes, name: str = "key.json") -> SavedKey:
    """A key.json's bytes -> :class:`SavedKey`; anything that is not such a file is one :class:`UserError` naming
    what is wrong with it."""
    if len(data) > MAX_KEY_BYTES:
        raise UserError(f"{name}: larger than {MAX_KEY_BYTES} bytes; a key.json is tens of kB")
    try:
        d = loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"{name}: not a key.json of `dlexam variant` (not UTF-8 JSON: {exc})") from None
    try:
        return _saved(d)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, AttributeError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"{name}: not a key.json of `dlexam variant --out` ({what})") from None


def _saved(d: dict) -> SavedKey:
    if not isinstance(d, dict) or not isinstance(d["fields"], dict) or not isinstance(d["points"], dict):
        raise ValueError("expected an object with fields and points")
    seed, difficulty = d["seed"], d["difficulty"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or not isinstance(difficulty, str):
        raise ValueError("its seed or difficulty is not a variant's")
    fingerprint = d.get("fingerprint", "")
    if not isinstance(fingerprint, str) or len(fingerprint) not in (0, FINGERPRINT_LENGTH):
        raise ValueError("its fingerprint is not 12 hex digits")
    by_question: dict[str, list[Field]] = {}
    for aid, f in d["fields"].items():
        qid, _, fname = aid.rpartition(".")
        if f["question"] != qid or not fname:
            raise ValueError(f"answer id {aid!r} is not its question's ({f['question']!r})")
        by_question.setdefault(qid, []).append(_field(fname, f))
    questions = []
    for qid, fields in by_question.items():
        points = d["points"][qid]
        if isinstance(points, bool) or not isinstance(points, int) or points < 0:
            raise ValueError(f"{qid}'s points are not a whole number")
        questions.append(Question(qid, "", points, (), tuple(fields), ()))
    return SavedKey(seed, difficulty, fingerprint.lower(), tuple(questions))


def _share(f: dict) -> Fraction:
    """A field's share of its question's points: key.json's exact `share` ("2/3"), else (a key written before
    it had one) its `points`, a float, read back to the fraction it rounds (denominators up to 1000)."""
    x = f["points"]
    if isinstance(x, bool) or not isinstance(x, int | float) or not 0 <= x <= 1 or not math.isfinite(x):
        raise ValueError(f"a share of points {x!r}")
    if "share" not in f:
        return Fraction(x).limit_denominator(1000)
    share = f["share"]
    if not isinstance(share, str) or not re.fullmatch(r"\d+(/\d+)?", share):
        raise ValueError(f"a share of points {share!r} (a fraction such as \"2/3\")")
    exact = Fraction(share)
    if not 0 <= exact <= 1 or abs(float(exact) - x) > 1e-9:
        raise ValueError(f"a share of points {share} that is not its points' {x!r}")
    return exact


def _exact(name: str, x) -> Fraction:
    """A keyed exact number ("1/4", "3", 2) -> Fraction, read as an answer is: a text too long or an exponent too
    large ("1e999999999", which Fraction would expand into a billion-digit integer) is no key's."""
    try:
        return read_number(x)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _field(name: str, f: dict) -> Field:
    kind = f["kind"]
    if kind not in KINDS:
        raise ValueError(f"a field of kind {kind!r}")
    answer = f["answer"]
    tolerance = None
    options, row_labels, col_labels, option_reasons = (
        _texts(f.get(k, ())) for k in ("options", "row_labels", "col_labels", "option_reasons"))
    if kind == "matrix":
        answer = tuple(tuple(_exact(name, x) for x in row) for row in answer)
        if not answer or not answer[0] or any(len(r) != len(answer[0]) for r in answer):
            raise ValueError(f"{name}: a matrix answer that is not rectangular")
        for labels, n, what in ((row_labels, len(answer), "rows"), (col_labels, len(answer[0]), "columns")):
            if labels and len(labels) != n:
                raise ValueError(f"{name}: {len(labels)} labels for {n} {what}")
    elif kind == "number":
        if f.get("tolerance") is None:
            answer = _exact(name, answer)
        else:
            answer, tolerance = float(f["value"]), float(f["tolerance"])
            if not (math.isfinite(answer) and math.isfinite(tolerance) and tolerance >= 0):
                raise ValueError(f"{name}: a value or tolerance that is not finite, or a negative tolerance")
    elif kind == "choice":
        if isinstance(answer, str) and answer.strip().isdecimal() and len(answer.strip()) <= 9:
            answer = int(answer)
        if isinstance(answer, bool) or not isinstance(answer, int) or not 1 <= answer <= len(options):
            raise ValueError(f"{name}: option {shown(answer)} of {len(options)}")
    reason = None
    if "cell_reasons" in f:  # why each cell of a matrix holds its value (a key from before has none)
        cells = tuple(_texts(row, "a row of cell reasons") for row in f["cell_reasons"])
        if kind != "matrix" or [len(r) for r in cells] != [len(r) for r in answer]:
            raise ValueError(f"{name}: cell reasons that are not its matrix's shape")
        reason = lambda i, j: cells[i][j]  # noqa: E731 (Field.reason is a callable)
    mistakes = tuple(_mistake(name, kind, answer, m) for m in f.get("mistakes", ()))  # a key from before has none
    follows = tuple(_follow(name, kind, answer, x) for x in f.get("follows", ()))  # since 2026-12-07
    return Field(name, kind, answer, _share(f), label=str(f.get("label", "")), tolerance=tolerance,
                 closed_form=str(f.get("closed_form", "")), options=options, row_labels=row_labels,
                 col_labels=col_labels, reason=reason, why=str(f.get("why", "")), option_reasons=option_reasons,
                 mistakes=mistakes, follows=follows)


def _follow(name: str, kind: str, answer, x: dict) -> FollowThrough:
    """A follow-through rule as key.json keeps it: its source, rule, words, and the data its rule reads
    (:data:`~dlexam.variants.model.FOLLOW_RULES`: whole numbers, lists of them, and a loss's or a product's matrix
    `M` of exact numbers), each checked here so that grading never fails on it: the rule one for the field's `kind`
    (:data:`~dlexam.variants.model.FOLLOW_KINDS`), a product's one source row for each of the `answer`'s rows."""
    rule = x["rule"]
    if rule not in FOLLOW_RULES or not isinstance(x["data"], dict):
        raise ValueError(f"{name}: a follow-through rule {rule!r}")
    if FOLLOW_KINDS[rule] != kind:
        raise ValueError(f"{name}: a follow-through rule {rule!r}, which explains a {FOLLOW_KINDS[rule]}, on a {kind}")
    wants = FOLLOW_RULES[rule] | ({"M": "matrix"} if rule == "loss" and "M" in x["data"] else {})
    if set(x["data"]) != set(wants):
        raise ValueError(f"{name}: follow-through data {sorted(x['data'])} for rule {rule!r}")
    data = {}
    for k, kind in wants.items():
        v = x["data"][k]
        if kind == "matrix":
            v = tuple(tuple(_exact(name, c) for c in row) for row in v)
            if not v or not v[0] or any(len(r) != len(v[0]) for r in v):
                raise ValueError(f"{name}: a follow-through matrix that is not rectangular")
        elif not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 1 << 20
                     for i in (v if kind is list and isinstance(v, list) else [v if kind is int else None])):
            raise ValueError(f"{name}: follow-through data {k} that are not whole numbers")
        data[k] = v
    if ((rule == "loss" and len(data["rows"]) != len(data["targets"])) or (rule == "conv" and len(data["kernel"]) != 2)
            or (rule == "rows_times" and len(data["rows"]) != len(answer))):
        raise ValueError(f"{name}: follow-through data of the wrong length for rule {rule!r}")
    return FollowThrough(str(x["source"]), rule, str(x["name"]), str(x["how"]), data)


def _mistake(name: str, kind: str, answer, m: dict) -> Mistake:
    """A named mistake's whole answer as key.json keeps it: exact values as the key's are (tolerance null), or
    floats within a tolerance; a matrix of the answer's shape."""
    tolerance = m["tolerance"]
    if tolerance is None:
        value = (lambda x: _exact(name, x))
    else:
        tolerance = float(tolerance)
        value = float
        if not (math.isfinite(tolerance) and tolerance >= 0):
            raise ValueError(f"{name}: a mistake's tolerance that is not finite, or negative")
    if kind == "matrix":
        given = tuple(tuple(value(x) for x in row) for row in m["answer"])
        if [len(r) for r in given] != [len(r) for r in answer]:
            raise ValueError(f"{name}: a mistake that is not its matrix's shape")
    elif kind == "number":
        given = value(m["answer"])
    else:
        raise ValueError(f"{name}: a mistake of a {kind}")
    return Mistake(given, str(m["why"]), tolerance)


def _texts(values, what: str = "") -> tuple[str, ...]:
    """A key's list of texts (options, labels, reasons); with `what`, anything but a list is refused as that."""
    if what and not isinstance(values, list):
        raise ValueError(f"{what} that is not a list")
    return tuple(map(str, values))
