"""Follow-through: what an answer is given the student's own earlier answer (P from their S, the loss from their logit
rows, the in-features from their shapes), by a field's :class:`~dlexam.variants.model.FollowThrough` rules.

The grader (:mod:`dlexam.variants.grade`) says "right given your S" where a wrong answer is what its rule gives on the
answer the student gave for its source, and that differs from the key; it gives no points for it (each answer is
scored against the key, as the PrairieLearn, Moodle and Canvas exports score it: docs/variants.md, Grading). Each
rule needs only the rule's data and the source as read, so a saved key.json explains it too.
"""

from __future__ import annotations

import math
from fractions import Fraction

from dlexam.spec import text
from dlexam.variants.model import FollowThrough

Rows = list  # a matrix answer as read: rows of cells, each a Fraction, None (not answered) or UnreadableAnswer


def _numbers(row) -> tuple[Fraction, ...] | None:
    """A row as Fractions; None where a cell is missing or unreadable."""
    return tuple(row) if row is not None and all(isinstance(x, Fraction) for x in row) else None


def row_given(ft: FollowThrough, source: Rows, i: int) -> tuple[Fraction, ...] | None:
    """Row `i` of a matrix answer as rule `ft` computes it from the source matrix as read; None where the rows it
    needs are not all read."""
    if ft.rule == "argmax":  # P from S: row i's largest scores at positions 0..i share the weight (Problem 2.2)
        if i >= len(source) or (row := _numbers(source[i])) is None or i >= len(row):
            return None
        top = max(row[:i + 1])
        tied = [j for j in range(i + 1) if row[j] == top]
        return tuple(Fraction(1, len(tied)) if j in tied else Fraction(0) for j in range(len(row)))
    if ft.rule == "rows_times":  # logits from P: row rows[i] of the source times M
        k = ft.data["rows"][i]
        M = ft.data["M"]
        if k >= len(source) or (row := _numbers(source[k])) is None or len(row) != len(M):
            return None
        return tuple(sum((a * m[j] for a, m in zip(row, M, strict=True)), Fraction(0)) for j in range(len(M[0])))
    raise ValueError(f"{ft.rule} gives a number, not a matrix row")


def value_given(ft: FollowThrough, source) -> Fraction | float | None:
    """A number answer as rule `ft` computes it from the source as read (a matrix's rows, or a number); None where
    what it needs is not all read."""
    if ft.rule == "head_kernel":  # the head's parameters from the student's kernel side k: classes x (k k C + 1)
        if not isinstance(source, Fraction):
            return None
        return Fraction(ft.data["classes"]) * (source * source * ft.data["channels"] + 1)
    if not isinstance(source, list) or not source:
        return None
    if ft.rule == "loss":  # the summed cross-entropy of the targets, from the source's rows (times M where given)
        total = []
        for k, target in zip(ft.data["rows"], ft.data["targets"], strict=True):
            if k >= len(source) or (row := _numbers(source[k])) is None:
                return None
            if "M" in ft.data:
                M = ft.data["M"]
                if len(row) != len(M):
                    return None
                row = tuple(sum((a * m[j] for a, m in zip(row, M, strict=True)), Fraction(0))
                            for j in range(len(M[0])))
            if target >= len(row):
                return None
            top = max(row)  # log-sum-exp shifted by the largest logit
            try:
                total.append(math.log(math.fsum(math.exp(float(v - top)) for v in row)) - float(row[target] - top))
            except OverflowError:  # a logit typed as 1e400: no loss a student computes
                return None
        return math.fsum(total) if math.isfinite(math.fsum(total)) else None
    last = _numbers(source[-1])
    if ft.rule in ("flat", "side", "head"):
        if last is None or len(last) != 3:
            return None
        c, h, w = last
        if ft.rule == "flat":  # the linear layer's in-features: the last map flattened
            return c * h * w
        if ft.rule == "side":  # the head's kernel: the last map's side, where it is square
            return h if h == w else None
        return Fraction(ft.data["classes"]) * (h * w * c + 1)  # the head's parameters
    if ft.rule == "conv":  # a convolution's parameters from the channels of the shapes: C_i x (kh kw C_before + 1)
        i = ft.data["row"]
        if i >= len(source) or (mine := _numbers(source[i])) is None or not mine:
            return None
        before = Fraction(ft.data["in_channels"])
        if i > 0:
            if (prev := _numbers(source[i - 1])) is None or not prev:
                return None
            before = prev[0]
        kh, kw = ft.data["kernel"]
        return mine[0] * (kh * kw * before + 1)
    raise ValueError(f"{ft.rule} gives a matrix row, not a number")


def choice_given(ft: FollowThrough, source) -> int | None:
    """A choice as rule `ft` gives it from the source matrix as read: "same_as", the option that says the source is
    (`same`) or is not (`differs`) the matrix M (Pr2.4 (b): is your R the one-head R?); None where a cell is not
    read."""
    if ft.rule != "same_as":
        raise ValueError(f"{ft.rule} gives no choice")
    if not isinstance(source, list):
        return None
    M = ft.data["M"]
    if len(source) != len(M) or any(_numbers(r) is None or len(r) != len(m) for r, m in zip(source, M, strict=True)):
        return None
    return ft.data["same"] if all(tuple(r) == tuple(m) for r, m in zip(source, M, strict=True)) else ft.data["differs"]


def choice_words(ft: FollowThrough, same: bool) -> str:
    """The feedback for a choice that `ft` explains (your R is, or is not, the one-head R)."""
    return (f"right given your {ft.name}: it {'equals' if same else 'differs from'} {ft.how}; the error is in your "
            f"{ft.name}, and each answer is scored against the key")


def row_words(ft: FollowThrough, rows: list[str]) -> str:
    """The feedback for the rows of a matrix answer that `ft` explains, named as the answer's rows are."""
    which = f"row {rows[0]} is" if len(rows) == 1 else f"rows {', '.join(rows)} are"
    return (f"right given your {ft.name}: {which} what {ft.how} gives on your {ft.name}; the error is in your "
            f"{ft.name}, and each answer is scored against the key")


def value_words(ft: FollowThrough, value) -> str:
    """The feedback for a number answer that `ft` explains: what it gives, to 4 decimals where irrational."""
    shown = f"{value:.4f}" if isinstance(value, float) else text(value)
    return (f"right given your {ft.name}: {ft.how} is {shown}; the error is in your {ft.name}, and each answer is "
            "scored against the key")
