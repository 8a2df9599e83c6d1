"""What a variant is made of: questions, their answer fields, and the blocks their text is written in.

A :class:`Question` has an exam id (``Pr2.2``), the exam's points, a prompt and a worked solution (lists of
:data:`Block`), and one or more :class:`Field` s, the answers a student submits. A field's answer id is
``Pr2.2.P`` (``question.field``); its kind says how it is graded:

- ``matrix``: exact fractions, partial credit per cell, a one-line reason for each cell;
- ``number``: an exact fraction, or an irrational value with a closed form and an absolute tolerance;
- ``choice``: the 1-based number of the one correct option;
- ``essay``: a model answer, graded by a person (its points are reported apart).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from dlexam.spec import ExamSpec, Matrix, text
from dlexam.variants.typed import key_decimal

KINDS = ("matrix", "number", "choice", "essay")


# ---- text blocks --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Text:
    """A paragraph of plain text (no markup)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A matrix or a table, with optional row labels. Every table has column labels: a matrix given none
    gets c1, c2, ..., the one place they are made, so that every document and export heads its columns alike (Problem
    2's matrices are named by their axes: dlexam.spec.transformer.MATRIX_AXES)."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    row_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.header and self.rows:
            object.__setattr__(self, "header", tuple(f"c{j + 1}" for j in range(len(self.rows[0]))))


@dataclass(frozen=True)
class Options:
    """The options of a multiple-choice item, numbered from 1 (`label` names the item when a question has two)."""

    options: tuple[str, ...]
    label: str = ""


@dataclass(frozen=True)
class Items:
    """A bulleted list."""

    items: tuple[str, ...]


Block = Text | Table | Options | Items


def matrix_table(caption: str, m: Matrix, rows: tuple[str, ...] = (), cols: tuple[str, ...] = ()) -> Table:
    return Table(caption, tuple(cols), tuple(tuple(text(v) for v in r) for r in m), tuple(rows))


# ---- questions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mistake:
    """A whole answer one named mistake gives, computed from the variant (P without the causal mask, the loss in
    log base 10, a layer's weights without its biases), and the words that name it. The grader
    (:func:`dlexam.variants.mistakes.whole_mistake`) names it beside each wrong value, or each wrong cell of the rows
    it explains, where the answer given is what the mistake gives: exactly (`tolerance` None, as the key's exact
    values score) or within `tolerance` of each value (an irrational one: softmax's weights, a loss)."""

    answer: object  # Matrix (Fractions, or floats with a tolerance) | Fraction | float
    why: str
    tolerance: float | None = None

    def to_json(self) -> dict:
        value = self.answer
        if isinstance(value, tuple):
            value = [[text(x) if isinstance(x, Fraction) else x for x in r] for r in value]
        elif isinstance(value, Fraction):
            value = text(value)
        return {"answer": value, "why": self.why, "tolerance": self.tolerance}


FOLLOW_RULES = {  # each follow-through rule (variants.follow) and its data: a whole number, or a list of them
    "argmax": {}, "rows_times": {"rows": list, "M": "matrix"}, "loss": {"rows": list, "targets": list},
    "flat": {}, "side": {}, "head": {"classes": int}, "head_kernel": {"classes": int, "channels": int},
    "conv": {"row": int, "kernel": list, "in_channels": int},
    "same_as": {"M": "matrix", "same": int, "differs": int},
}
FOLLOW_KINDS = {  # the kind of answer each follow-through rule explains (variants.follow: a row, a number, a choice)
    "argmax": "matrix", "rows_times": "matrix", "same_as": "choice",
    **{rule: "number" for rule in ("loss", "flat", "side", "head", "head_kernel", "conv")},
}


@dataclass(frozen=True)
class FollowThrough:
    """How an answer follows from another answer of the same sheet (`source`, an answer id), so that one wrong only
    because it used the student's own wrong earlier answer correctly is said to be (P from the student's S, the
    loss from their logit rows): :mod:`dlexam.variants.follow` computes it by `rule` (:data:`FOLLOW_RULES`) from
    `data` (ints, lists of ints, a matrix `M` of Fractions). `name` is the source as the feedback names it ("S"),
    `how` how the answer is made of it ("causal argmax"; a number's: "the loss of your logit rows"). It explains;
    it earns nothing (each answer is scored against the key, as every export scores it)."""

    source: str
    rule: str
    name: str
    how: str
    data: dict = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.rule not in FOLLOW_RULES:
            raise ValueError(f"unknown follow-through rule {self.rule!r}")

    def to_json(self) -> dict:
        data = {k: [[text(x) for x in r] for r in v] if k == "M" else v for k, v in self.data.items()}
        return {"source": self.source, "rule": self.rule, "name": self.name, "how": self.how, "data": data}


def distinct(answer, candidates: list[Mistake]) -> tuple[Mistake, ...]:
    """The mistakes whose answers differ from the right answer and from each earlier one's: by more than the
    mistake's tolerance somewhere, or (exact) in some value, so that no answer is named by the wrong mistake."""
    def flat(x) -> list:
        return [float(v) for r in x for v in r] if isinstance(x, tuple) else [float(x)]

    kept: list[Mistake] = []
    seen = [flat(answer)]  # the right answer's values and each kept mistake's, each read once
    for m in candidates:
        slack, mine = 2 * (m.tolerance or 0), flat(m.answer)
        if all(any(abs(a - b) > slack for a, b in zip(mine, other, strict=True)) for other in seen):
            kept.append(m)
            seen.append(mine)
    return tuple(kept)


@dataclass(frozen=True)
class Field:
    """One answer of a question. `points` is this field's share of the question's points."""

    name: str  # "P", "loss", "choice"
    kind: str
    answer: object  # Matrix | Fraction | float | int (choice) | str (essay)
    points: Fraction
    label: str = ""  # what the student writes here, in a few words
    tolerance: float | None = None  # absolute, for an irrational number
    closed_form: str = ""  # an irrational number exactly ("log(2 e^3 + 4) - 3")
    options: tuple[str, ...] = ()  # a choice's options, in the order shown
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()
    reason: Callable[[int, int], str] | None = None  # why a matrix cell (row, column) holds its value
    why: str = ""  # why a number or a choice is right, in a line
    option_reasons: tuple[str, ...] = ()  # a choice's: why picking each option is wrong, in a line, in the order
    #                                       shown ("" for the right one); () where no option has a reason of its own
    mistakes: tuple[Mistake, ...] = ()  # whole answers that named mistakes give, the first that fits named
    follows: tuple[FollowThrough, ...] = ()  # how it follows from the sheet's earlier answers, the first that fits

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}")
        if self.option_reasons and len(self.option_reasons) != len(self.options):
            raise ValueError(f"{len(self.option_reasons)} option reasons for {len(self.options)} options")

    @property
    def exact(self) -> bool:
        return self.kind == "number" and isinstance(self.answer, Fraction)

    def key_value(self):
        """The answer as a submission writes it (a valid submission: the key)."""
        if self.kind == "matrix":
            return [[text(v) for v in r] for r in self.answer]
        if self.kind == "number":
            return text(self.answer) if self.exact else key_decimal(self.answer)  # the centre of its window
        return self.answer

    def to_json(self) -> dict:
        out = {"kind": self.kind, "points": float(self.points), "share": str(self.points), "answer": self.key_value(),
               "label": self.label}
        if self.kind == "number" and not self.exact:
            out |= {"tolerance": self.tolerance, "closed_form": self.closed_form, "value": self.answer}
        if self.options:
            out["options"] = list(self.options)
        if self.row_labels:
            out["row_labels"], out["col_labels"] = list(self.row_labels), list(self.col_labels)
        # the reasons the grader shows beside a wrong answer, so that a saved key explains as the variant does
        if self.why:
            out["why"] = self.why
        if self.option_reasons:
            out["option_reasons"] = list(self.option_reasons)
        if self.mistakes:
            out["mistakes"] = [m.to_json() for m in self.mistakes]
        if self.follows:
            out["follows"] = [x.to_json() for x in self.follows]
        if self.reason is not None:
            out["cell_reasons"] = [[self.reason(i, j) for j in range(len(r))] for i, r in enumerate(self.answer)]
        return out


@dataclass(frozen=True)
class Question:
    id: str  # the exam's id: "Pr2.2"
    title: str
    points: int
    prompt: tuple[Block, ...]
    fields: tuple[Field, ...]
    solution: tuple[Block, ...]
    topic: str = ""  # "attention", "convolution", ...
    context: tuple[Block, ...] = ()  # the setting the question shares with its problem's other questions

    def answer_id(self, f: Field) -> str:
        return f"{self.id}.{f.name}"

    def points_split(self) -> tuple[Fraction, Fraction]:
        """(auto, manual): the question's points times the summed weights of its graded fields and of its essays,
        exactly (Pr2.1, 5 points: 2 for the choice, 3 for the essay)."""
        return points_split((self,))


def points_weights(questions) -> dict[str, int]:
    """Answer id -> its field's points (its share times its question's points) as the smallest whole numbers in the
    same ratio, over all of `questions` (Pr2.3 and Pr2.4 together: logits 4, loss 6, R 4, same 2, loss 2; Pr1.2's
    1.25 points a layer beside Pr1.1's 3: 5 and 12): the weights of one PrairieLearn question's elements."""
    points = {q.answer_id(f): q.points * f.points for q in questions for f in q.fields}
    scale = math.lcm(*(p.denominator for p in points.values()))
    whole = {aid: int(p * scale) for aid, p in points.items()}
    common = math.gcd(*whole.values())
    return {aid: w // common for aid, w in whole.items()}


def points_split(questions) -> tuple[Fraction, Fraction]:
    """(auto, manual) of `questions` together: the points of their graded fields and of their essays, exactly
    (Problem 1: 23 and 2, Pr1.1's essay graded by a person)."""
    auto = sum((q.points * f.points for q in questions for f in q.fields if f.kind != "essay"), Fraction(0))
    manual = sum((q.points * f.points for q in questions for f in q.fields if f.kind == "essay"), Fraction(0))
    return auto, manual


@dataclass
class Attempt:
    """One draw and the checks it failed (empty: the draw was accepted)."""

    number: int
    failures: list[str]


FINGERPRINT_LENGTH = 12  # hex digits of SHA-256: 48 bits, far more than there are variants to tell apart
SUBMISSION_META = ("seed", "difficulty", "fingerprint")  # what names the variant in a submission: not answers


@dataclass
class Variant:
    """A version of the exam that passed every check: its spec, questions, and how it was found."""

    seed: int
    difficulty: str
    spec: ExamSpec
    questions: tuple[Question, ...]
    attempts: list[Attempt] = field(default_factory=list)  # every draw, the accepted one last
    checks: dict[str, str] = field(default_factory=dict)  # check name -> what it makes sure of
    draw: object = None  # the accepted draw (dlexam.variants.draw.Draw): the choices the spec does not hold

    def question(self, qid: str) -> Question:
        return next(q for q in self.questions if q.id == qid)

    def fields(self) -> dict[str, tuple[Question, Field]]:
        """answer id -> (question, field), in the exam's order."""
        return {q.answer_id(f): (q, f) for q in self.questions for f in q.fields}

    @functools.cached_property
    def fingerprint(self) -> str:
        """What grading this variant depends on, hashed: its spec and every field's kind, answer, points and
        tolerance. A dlexam that draws seed N otherwise (a new task, another order of options) gives it another
        fingerprint, so a key or an answer sheet made for one is never graded against the other."""
        fields = {aid: [f.kind, f.key_value(), str(f.points * q.points), f.tolerance]
                  for aid, (q, f) in self.fields().items()}
        payload = json.dumps({"spec": self.spec.to_dict(), "fields": fields}, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:FINGERPRINT_LENGTH]

    def key(self) -> dict:
        """The answer key as a submission: ``seed``, ``difficulty``, ``fingerprint`` and answer id -> answer
        (essays omitted)."""
        answers = {aid: f.key_value() for aid, (_, f) in self.fields().items() if f.kind != "essay"}
        return {"seed": self.seed, "difficulty": self.difficulty, "fingerprint": self.fingerprint, **answers}

    def key_details(self) -> dict:
        """Every field with its kind, points, tolerance and closed form (key.json's ``fields``)."""
        return {aid: {"question": q.id, **f.to_json()} for aid, (q, f) in self.fields().items()}

    def to_json(self) -> dict:
        return {"seed": self.seed, "difficulty": self.difficulty, "fingerprint": self.fingerprint,
                "spec": self.spec.to_dict(), "key": self.key(),
                "fields": self.key_details(),
                "points": {q.id: q.points for q in self.questions},
                "attempts": [{"attempt": a.number, "failures": a.failures} for a in self.attempts]}
