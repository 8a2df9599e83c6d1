"""The cells of Geoff's transformer by name, as `dlexam geoff --explain` and the /geoff page spell them.

A cell is ``NAME[row,column]``, rows and columns counted from 0 (``P[3,0]``: row 3, column 0 of P; in the exam's
example "D A A <START> A D <STOP>" that is <START>'s weight on D). An index on a token or dimension axis may be its
label too (``logits[6,<STOP>]``, ``R[6,A]``, ``dE[<START>,A]``; a model dimension also as ``d1``, ..); positions are
numbers (a token can occur twice).
The names count from 0, like an array (and ``svhn explain --at``); the explanations' words count positions from 1,
as the exam does ("z_5", "rows 5, 6, 7") and every view's labels do: row 3 of P is "position 4".
With k heads (Problem 2.4) a matrix of one head takes its head first: ``P[h2,3,0]``. ``P[3,:]`` and ``Z[6,:]``
name a whole row. Problem 2.5's numbers are named by their matrix: ``norm[W_Q]`` (at the query's T) or
``norm[W_Q,T=0]`` (a row of Problem 2.5's table: ``T=0``, ``T=sqrt``, ``T=0.5``), ``change[W_V]``, ``step_norm[W_V]``,
``loss_before``, ``loss_after`` (one gradient step's results: :class:`dlexam.geoff.step.StepSettings`). With k
identical heads ``norm[W_V]`` (Problem 2.5's table) and ``step_norm[W_V]`` are both the norm of the gradient a step
applies to the shared W_V, the heads' sum (heads with projections of their own: over every head's own). The names:

=================  =========================================  ==============================
name (aliases)     what                                        rows x columns
=================  =========================================  ==============================
X                  the embeddings of the tokens (rows of E)    positions x d_model
Q, K, V            X W_Q, X W_K, X W_V (per head)              positions x d_head
S (QK^T, scores)   Q K^T (per head; future cells are masked)   positions x positions
P (attention)      the causal attention matrix (per head)      positions x positions
Z                  P V (per head)                              positions x d_head
R                  [Z_1 ... Z_k] W_O                           positions x d_model
logits             R E^T                                       positions x vocabulary
loss[p]            the loss term of the token at position p    (under both conventions)
loss               the whole loss                              (under both conventions)
dW_Q dW_K dW_V     d loss / d W (per head with k heads)        d_model x d_head
dW_O               d loss / d W_O (multi_W_O with k heads)     d_head (k d_head) x d_model
dE                 d loss / d E                                vocabulary x d_model
norm[W]            |d loss / d W| (Frobenius; W: E, W_Q, W_K,  one number per matrix
                   W_V, W_O or multi_W_O), at T or T=...
change[W]          max |change| of W in one gradient step      one number per matrix
step_norm[W]       |the gradient one step applies to W|        one number per matrix
loss_before        the loss a gradient step differentiates     one number
loss_after         that loss at the stepped weights            one number
sqrt_d_k           sqrt(d_k), T's usual value (d_k: W_Q's      one number
                   columns, each head's query and key width)
=================  =========================================  ==============================
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from dlexam import limits
from dlexam.attention import Temperature, parse_temperature
from dlexam.errors import UserError
from dlexam.exact import exact_fraction
from dlexam.geoff.exact import Number
from dlexam.geoff.model import PARAMETERS
from dlexam.geoff.weights import GeoffWeights, axis_labels
from dlexam.spec.transformer import MATRIX_AXES, dimension_labels
from dlexam.words import counted

# canonical name -> (row axis, column axis, one matrix per head); a matrix's axes are MATRIX_AXES' (the one place
# that names them), a gradient's those of its matrix
MATRICES: dict[str, tuple[str, str | None, bool]] = {
    **{n: (*MATRIX_AXES[n], n in ("Q", "K", "V", "S", "P", "Z")) for n in ("X", "Q", "K", "V", "S", "P", "Z", "R",
                                                                          "logits")},
    "loss": ("positions", None, False),
    **{"d" + n: (*MATRIX_AXES[n], n != "W_O") for n in ("W_Q", "W_K", "W_V", "W_O")},
    "dE": (*MATRIX_AXES["E"], False),
    # Problem 2.5's numbers, one per matrix (its name is the index), and a gradient step's two losses
    "norm": ("parameters", None, False), "change": ("parameters", None, False),
    "step_norm": ("parameters", None, False),
    "loss_before": ("scalar", None, False), "loss_after": ("scalar", None, False),
    "sqrt_d_k": ("scalar", None, False),  # T = sqrt(d_k): the attention's usual temperature, from the weights' shape
}
BY_MATRIX = ("norm", "change", "step_norm")  # indexed by a matrix's name: norm[W_Q], change[W_V], step_norm[W_V]
WHOLE = ("loss", "loss_before", "loss_after", "sqrt_d_k")  # named without an index
ALIASES = {"QK^T": "S", "QKT": "S", "scores": "S", "attention": "P", "dmulti_W_O": "dW_O", "d_W_O": "dW_O"}
ROWS = ("P", "Z")  # the matrices whose whole row has one explanation: P[3,:], Z[6,:]
SPELLING = ("name a cell as NAME[row,column], counting from 0: P[3,0], S[3,0], Z[6,:], logits[6,<STOP>], loss[4], "
            "loss, dW_V[0,1]; NAME is one of X, Q, K, V, S, P, Z, R, logits, loss, dW_Q, dW_K, dW_V, dW_O, dE; with "
            "k heads a head first: P[h2,3,0]; Problem 2.5: norm[W_Q] or norm[W_Q,T=0] (T=sqrt, T=0.5), change[W_V], "
            "step_norm[W_V], loss_before, loss_after; the temperature sqrt(d_k): sqrt_d_k")
_CELL = re.compile(r"^\s*([A-Za-z_^]+)\s*(?:\[(.*)\])?\s*$")


@dataclass(frozen=True)
class Cell:
    """One cell (or one row: `col` None) of a matrix of Geoff's transformer; `head` counts from 0 (None: one head)."""

    matrix: str
    row: int | None = None
    col: int | None = None
    head: int | None = None
    parameter: str | None = None  # norm and change: the matrix (E, W_Q, W_K, W_V, W_O or multi_W_O)
    temperature: Temperature | None = None  # norm: the T of its row (None: the query's)

    @property
    def name(self) -> str:
        """The canonical spelling: "P[3,0]", "P[h2,3,0]", "Z[6,:]", "loss[4]", "loss", "norm[W_Q,T=0]"."""
        if self.parameter is not None:
            at = "" if self.temperature is None else f",T={temperature_name(self.temperature)}"
            return f"{self.matrix}[{self.parameter}{at}]"
        if self.row is None:
            return self.matrix
        parts = ([f"h{self.head + 1}"] if self.head is not None else []) + [str(self.row)]
        if MATRICES[self.matrix][1] is not None:
            parts.append(":" if self.col is None else str(self.col))
        return f"{self.matrix}[{','.join(parts)}]"


@dataclass(frozen=True)
class Space:
    """The cells a query has: its tokens, the weights' axes and its head count."""

    tokens: tuple[str, ...]
    heads: int  # 1, or the weights' k
    labels: dict[str, tuple[str, ...]]  # axis -> labels (geoff.weights.axis_labels, and "positions")
    unused: dict[str, str] = dataclasses.field(default_factory=dict)  # matrix -> why this run does not use it

    @classmethod
    def of(cls, weights: GeoffWeights, tokens, heads: int) -> Space:
        labels = dict(axis_labels(weights))
        labels["positions"] = tuple(str(i) for i in range(len(tokens)))
        labels["parameters"] = ("E", *PARAMETERS[:-1], weights.output_matrix(heads))  # what a step moves
        unused = {n: why for n in GeoffWeights.MATRICES if (why := weights.unused(n, heads)) is not None}
        return cls(tuple(tokens), heads, labels, unused)

    def axis(self, matrix: str, which: int) -> str:
        row, col, _ = MATRICES[matrix]
        axis = row if which == 0 else col
        if matrix == "dW_O" and which == 0 and self.heads > 1:
            return "concat_dims"  # k heads: the output matrix is multi_W_O, (k d_head) x d_model
        return axis

    def label(self, axis: str, i: int) -> str:
        """How an index reads in words: a position as its token ("<START>", or "A (position 5)", counted from 1 as
        the exam counts, where the token occurs more than once), any other index as its label."""
        if axis != "positions":
            return self.labels[axis][i]
        tok = self.tokens[i]
        return tok if self.tokens.count(tok) == 1 else f"{tok} (position {i + 1})"

    def per_head(self, matrix: str) -> bool:
        return MATRICES[matrix][2] and self.heads > 1


def short_float(x: float) -> str:
    """x as briefly as it reads back the same: "0.5", "0.1", "1e-06", else every digit it needs."""
    short = f"{float(x):g}"
    return short if float(short) == float(x) else repr(float(x))


def temperature_name(t: Temperature) -> str:
    """T as a cell's name writes it: "0", "sqrt", "0.5"."""
    return "sqrt" if t == "sqrt" else short_float(t)


def num(x: float, keep_nonzero: bool = False) -> Number:
    """A model value as the fraction it equals (within format_exact's tolerance, as every view prints it), else the
    float itself; `keep_nonzero` (a gradient's entry, a probability): a non-zero float is never the fraction 0."""
    f = exact_fraction(x, keep_nonzero=keep_nonzero)
    return f if f is not None else float(x)


def source(matrix: str, cells, head: int | None = None) -> dict:
    """Cells of one matrix a number came from: {"matrix", "head", "cells": [[row, column], ...]}."""
    return {"matrix": matrix, "head": head, "cells": [list(c) for c in cells]}


def _index(text: str, axis: str, space: Space, matrix: str, which: str) -> int:
    """The index `text` gives on `axis`, the matrix's `which` ("rows" or "columns": S and P have positions on both)."""
    labels = space.labels[axis]
    t = text.strip()
    if limits.digits(t) and len(t) <= 6:  # not "²", which int() refuses
        i = int(t)
    elif axis != "positions" and t in labels:
        i = labels.index(t)
    elif axis == "dims" and t in dimension_labels(len(labels)):  # d1 ..: a model dimension by number (as named once)
        i = dimension_labels(len(labels)).index(t)
    else:
        span = f"a whole number from 0 to {len(labels) - 1}"
        what = (f"a position, {span} (counting from 0)" if axis == "positions" else
                f"{span} or one of {', '.join(labels)}")
        raise UserError(f"{matrix}: {t!r:.40} is not an index here: give {what}")
    if not 0 <= i < len(labels):
        raise UserError(f"{matrix} has {len(labels)} {which} here (0-{len(labels) - 1}), got {i}")
    return i


def _meant(m: re.Match | None, text: str) -> str:
    """The cell an unknown name nearly names, said before the spelling guide: its case or underscores aside ("p[3,0]":
    "did you mean P[3,0]? "), or a weight, which the model is given, named for its gradient ("W_Q[0,1]": dW_Q[0,1]);
    "" where none is near."""
    if m is None:
        return ""
    key, rest = m.group(1).lower().replace("_", ""), text.strip()[len(m.group(1)):]
    weight = {w.lower().replace("_", ""): w for w in GeoffWeights.MATRICES}.get(key)  # the given weights
    if weight is not None:
        grad = "dW_O" if weight == "multi_W_O" else "d" + weight
        return f"{weight} is a weight the model is given, not a number it computes: its gradient is {grad}{rest}; "
    near = {n.lower().replace("_", ""): n for n in (*MATRICES, *ALIASES)}.get(key)
    return f"did you mean {ALIASES.get(near, near)}{rest}? " if near else ""


def parse_cell(text: str, space: Space) -> Cell:
    """The cell `text` names in `space` (UserError, one line, for anything else: the spelling is in the message)."""
    m = _CELL.match(str(text)[:200])
    name = ALIASES.get(m.group(1), m.group(1)) if m else None
    if m and m.group(1) == "dmulti_W_O" and "multi_W_O" in space.unused:  # one head: its output matrix is W_O
        raise UserError(f"{m.group(1)}: {space.unused['multi_W_O']}: name dW_O[...]")
    if name not in MATRICES:
        raise UserError(f"unknown cell {str(text)[:60]!r}: {_meant(m, str(text))}{SPELLING}")
    inside = m.group(2)
    if inside is None:
        if name not in WHOLE:
            raise UserError(f"{name} needs an index: {SPELLING}")
        return Cell(name)
    if name == "sqrt_d_k":
        raise UserError("sqrt_d_k takes no index: it is one number, sqrt of the width of a head's queries and keys")
    if name in WHOLE[1:]:
        raise UserError(f"{name} takes no index: it is one number, the loss of the gradient step")
    parts = [p.strip() for p in inside.split(",")]
    if name in BY_MATRIX:
        return _matrix_cell(name, parts, space)
    head = None
    if parts and re.fullmatch(r"h\d{1,3}", parts[0]):
        if not MATRICES[name][2]:
            raise UserError(f"{name} is one matrix for every head: name it without h1, h2 ({SPELLING})")
        head = int(parts[0][1:]) - 1
        if not 0 <= head < space.heads:
            raise UserError(f"{name}: head {parts[0]} does not exist: this model has {counted(space.heads, 'head')}, h1"
                            + (f"-h{space.heads}" if space.heads > 1 else ""))
        parts = parts[1:]
    if space.per_head(name) and head is None:
        raise UserError(f"{name}: with {space.heads} heads give the head first, e.g. {name}[h1,...]")
    if head is not None and not space.per_head(name):
        head = None  # h1 of a one-head model: the only head
    n_axes = 1 if MATRICES[name][1] is None else 2
    if len(parts) != n_axes:
        raise UserError(f"{name} takes {n_axes} index{'es' if n_axes > 1 else ''}, got {len(parts)}: {SPELLING}")
    row = _index(parts[0], space.axis(name, 0), space, name, "rows")
    col = None
    if n_axes == 2:
        if parts[1] == ":":
            if name not in ROWS:
                raise UserError(f"{name}: a whole row (:) is explained for P and Z only; name one column")
        else:
            col = _index(parts[1], space.axis(name, 1), space, name, "columns")
    return Cell(name, row, col, head)


def _matrix_cell(name: str, parts: list[str], space: Space) -> Cell:
    """norm[W_Q], norm[W_Q,T=0], change[W_V]: a matrix by its name (W_O and multi_W_O both name the output matrix
    the model uses), and for a norm the T of Problem 2.5's row."""
    labels = space.labels["parameters"]
    if re.fullmatch(r"h\d{1,3}", parts[0]):
        raise UserError(f"{name}[...] is one number over every head, for the whole matrix: name the matrix alone, "
                        f"{name}[W_Q]")
    if parts[0] in space.unused:  # multi_W_O with one head, which uses W_O
        raise UserError(f"{name}[{parts[0]}]: {space.unused[parts[0]]}: name {name}[W_O]")
    matrix = {"W_O": labels[-1], "multi_W_O": labels[-1]}.get(parts[0], parts[0])
    if matrix not in labels:
        raise UserError(f"{name}[...] takes a matrix, one of {', '.join(labels[:-1])}, W_O (multi_W_O); got "
                        f"{parts[0]!r:.40}")
    if len(parts) == 1:
        return Cell(name, parameter=matrix)
    t = parts[1]
    if len(parts) > 2 or not t.startswith("T="):
        raise UserError(f"{name}[{matrix}, ...]: after the matrix give only its temperature as T=0, T=sqrt or T=0.5, "
                        f"got {','.join(parts[1:])!r:.40}")
    if name != "norm":
        raise UserError(f"{name}[{matrix}] is a result of the gradient step at the step's own T: name it without T=")
    text = t[2:].strip()
    try:
        temperature = parse_temperature("sqrt" if text in ("sqrt", "sqrt(d_k)") else text)
    except UserError as e:
        raise UserError(f"{name}[{matrix},{t[:20]}]: {e}") from None
    return Cell(name, parameter=matrix, temperature=temperature)
