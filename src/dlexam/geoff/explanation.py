"""What an explanation of one number of Geoff's transformer is (:class:`Explanation`), and the small pieces of
arithmetic every kind of cell writes: a vector, an exact sum, a dot product term by term. The explanations
themselves: :mod:`dlexam.geoff.explain` (the matrices, the losses, the gradients) and
:mod:`dlexam.geoff.explain_steps` (Problem 2.5's gradient norms and a gradient step's results)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from dlexam.geoff.cells import Cell
from dlexam.geoff.exact import Number, number_text


def vec(xs) -> str:
    return "(" + ", ".join(number_text(x) for x in xs) + ")"


def total(xs) -> Number:
    """An exact sum where every term is a Fraction, else a float sum (math.fsum)."""
    xs = list(xs)
    if all(isinstance(x, Fraction) for x in xs):
        return sum(xs, Fraction(0))
    return math.fsum(float(x) for x in xs)


def dot(a, b) -> tuple[str, Number]:
    """a . b written out term by term ("0*3 + 0*0") and its value; a term with an exact 0 factor is exactly 0, so a
    sum of such terms is the fraction 0 ("0"), not the float 0.0 written "0.0000" (logits[A, <STOP>] at T = 0.5 was
    "3.0000*0 + 4.569e-8*0 + ... = 0.0000" until 2026-12-07: E's <STOP> row is 0)."""
    products = [x * y if isinstance(x, Fraction) and isinstance(y, Fraction)
                else Fraction(0) if _exact_zero(x) or _exact_zero(y) else float(x) * float(y)
                for x, y in zip(a, b, strict=True)]
    return " + ".join(f"{number_text(x)}*{number_text(y)}" for x, y in zip(a, b, strict=True)), total(products)


def _exact_zero(x) -> bool:
    return isinstance(x, Fraction) and x == 0


@dataclass
class Explanation:
    """The arithmetic of one cell (or one row of P or Z): what the views show when a number is clicked."""

    cell: Cell
    # embedding | product | attention | mix | loss_term | loss | gradient | norm | change | step_norm | step_loss
    # | scale (sqrt_d_k)
    kind: str
    title: str  # the cell with its labels: "P[<START>, D]"
    value: float | list[float]  # the model's own number (a row: its numbers)
    computed: Number | list[Number]  # what the arithmetic below gives: a Fraction where every operand is one
    summary: str  # the arithmetic in one line
    lines: list[str] = field(default_factory=list)  # more of it, line by line
    sources: list[dict] = field(default_factory=list)  # the cells it came from: {"matrix", "head", "cells"}
    closed_form: str = ""  # the value in closed form where it is not rational (softmax, the loss)
    extra: dict = field(default_factory=dict)  # kind-specific numbers (a loss term's two conventions)
    heads: int = 1  # the heads of the model explained: 1, or the weights' k (Problem 2.4); set by Explainer.explain

    @property
    def text(self) -> str:
        """As `dlexam geoff --explain` prints it."""
        return "\n".join([self.summary, *("  " + line for line in self.lines)])

    def to_json(self) -> dict:
        many = isinstance(self.computed, list)
        out = {"cell": self.cell.name, "heads": self.heads, "matrix": self.cell.matrix, "head": self.cell.head,
               "row": self.cell.row, "col": self.cell.col, "parameter": self.cell.parameter, "kind": self.kind,
               "title": self.title, "value": self.value,
               "computed": [float(x) for x in self.computed] if many else float(self.computed),
               "exact": [number_text(x) for x in self.computed] if many else number_text(self.computed),
               "summary": self.summary, "lines": self.lines, "sources": self.sources,
               "closed_form": self.closed_form}
        return {**out, **self.extra}
