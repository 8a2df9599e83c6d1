"""Geoff's transformer's numbers (Problem 2): the vocabulary and the weight matrices, Version A's or a variant's.

:class:`GeoffWeights` holds the matrices as floats (Version A's by default; :meth:`GeoffWeights.from_spec` for any
:class:`dlexam.spec.TransformerSpec`; a learner's edits), the vocabulary in the order of E's rows, and Problem
2.4's k heads (their output matrix is ``multi_W_O``). Version A's constants come from :mod:`dlexam.spec`, where
they are typed once. :func:`parse_sequence` reads a sequence of the vocabulary's tokens.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import torch

from dlexam.errors import UserError
from dlexam.spec import ExamSpec, TransformerSpec
from dlexam.spec.transformer import axes_of, labels_of

_A = ExamSpec.version_a().transformer  # Version A as printed: the defaults of every function here


def floats(m) -> tuple[tuple[float, ...], ...]:
    """A spec matrix (exact fractions) as the float rows the model is built from."""
    return tuple(tuple(float(v) for v in r) for r in m)


VOCAB = _A.vocab  # ("A", "B", "C", "D", "<START>", "<STOP>"): the tokens in the order of E's rows
START, STOP = VOCAB.index(_A.start), VOCAB.index(_A.stop)
EXAM_EXAMPLE = " ".join(_A.example)  # "D A A <START> A D <STOP>"

# The exam's matrices, as printed in Problem 2 (from dlexam.spec, where they are typed once).
E = floats(_A.E)
W_QKV = floats(_A.head.W_Q)  # W_Q = W_K = W_V
W_O = floats(_A.W_O)
# T x T matrices are computed and shown: the sequence is capped (a learner's example is a handful of tokens).
MAX_TOKENS = 64
# An edited weight must be a finite number no larger than this in magnitude.
MAX_WEIGHT = 1e6


def vocabulary_hint(vocab: tuple[str, ...] = VOCAB) -> str:
    return "the vocabulary is " + ", ".join(vocab)


def parse_sequence(text: str | list[str], vocab: tuple[str, ...] = VOCAB) -> list[int]:
    """Token ids (rows of E) of a space-separated sequence such as "D A A <START> A D <STOP>"."""
    words = text.split() if isinstance(text, str) else list(text)
    if not words:
        raise UserError(f"empty sequence: give tokens separated by spaces; {vocabulary_hint(vocab)}")
    if len(words) > MAX_TOKENS:
        raise UserError(f"sequence has {len(words)} tokens; at most {MAX_TOKENS} (its T x T matrices are shown)")
    ids = []
    for i, w in enumerate(words, start=1):
        if w not in vocab:
            raise UserError(f"unknown token {w!r} at position {i}; {vocabulary_hint(vocab)}")
        ids.append(vocab.index(w))
    return ids


def _rows(value, name: str, shape: tuple[int, int] | None) -> tuple[tuple[float, ...], ...]:
    """`value` as a rectangular float matrix (of `shape` where given), every entry finite and within MAX_WEIGHT."""
    ok = (isinstance(value, list | tuple) and len(value) > 0
          and all(isinstance(r, list | tuple) and len(r) == len(value[0]) > 0 for r in value))
    if not ok or (shape is not None and (len(value), len(value[0])) != shape):
        want = f"a {shape[0]}x{shape[1]} matrix" if shape is not None else "a rectangular matrix"
        raise UserError(f"{name} must be {want} of numbers")
    for r in value:
        for v in r:
            if isinstance(v, bool) or not isinstance(v, int | float | Fraction) or not math.isfinite(v) \
                    or abs(v) > MAX_WEIGHT:
                raise UserError(f"{name} entries must be finite numbers within +-{MAX_WEIGHT:g}, got {v!r}")
    return tuple(tuple(float(v) for v in r) for r in value)


@dataclass(frozen=True)
class GeoffWeights:
    """The model's matrices (floats) and its vocabulary: Version A's by default, a variant's
    (:meth:`from_spec`), or a learner's edits.

    One head (Problems 2.2-2.3) uses W_Q, W_K, W_V and the (d_head, d_model) `W_O`. The k heads of Problem 2.4
    are concatenated and multiplied by the (k d_head, d_model) `multi_W_O`; their projections are
    `multi_heads` ((W_Q, W_K, W_V) per head), or, when that is None, k copies of W_Q, W_K, W_V (identical
    heads, as Version A's). k is the number of d_head-row blocks of `multi_W_O`.
    """

    E: tuple = E  # (V, d_model): one row per token of `vocab`
    W_Q: tuple = W_QKV  # (d_model, d_head)
    W_K: tuple = W_QKV
    W_V: tuple = W_QKV
    W_O: tuple = W_O  # (d_head, d_model)
    multi_W_O: tuple = floats(_A.multi_W_O)  # (k d_head, d_model); Version A: I_4
    multi_heads: tuple | None = None  # ((W_Q, W_K, W_V), ...) for each of the k heads; None: k copies
    vocab: tuple = VOCAB  # the tokens in the order of E's rows: the symbols, then <START>, then <STOP>

    MATRICES = ("E", "W_Q", "W_K", "W_V", "W_O", "multi_W_O")  # the editable matrices, by name
    HEAD_MATRICES = ("W_Q", "W_K", "W_V")  # a head's own matrices, in the order of each entry of `multi_heads`

    def __post_init__(self) -> None:
        vocab = tuple(self.vocab)
        if len(vocab) < 3 or len(set(vocab)) != len(vocab) or not all(isinstance(t, str) and t for t in vocab):
            raise UserError("the vocabulary must be distinct tokens: the symbols, <START> and <STOP>")
        object.__setattr__(self, "vocab", vocab)
        E = _rows(self.E, "E", None)
        object.__setattr__(self, "E", E)
        if len(E) != len(vocab):
            raise UserError(f"E must have one row per token ({len(vocab)}), got {len(E)}")
        d_model = len(E[0])
        W_Q = _rows(self.W_Q, "W_Q", None)
        d_head = len(W_Q[0])
        for name, shape in self.shapes_for(d_model, d_head, len(vocab)).items():
            if name != "multi_W_O":
                object.__setattr__(self, name, _rows(getattr(self, name), name, shape))
        multi = _rows(self.multi_W_O, "multi_W_O", None)
        if len(multi) % d_head or len(multi) // d_head < 2 or len(multi[0]) != d_model:
            raise UserError(f"multi_W_O must be a (k {d_head})x{d_model} matrix for k >= 2 heads of width {d_head}")
        object.__setattr__(self, "multi_W_O", multi)
        if self.multi_heads is not None:
            heads = tuple(tuple(_rows(m, f"head {i + 1} {n}", (d_model, d_head)) for n, m in zip(
                self.HEAD_MATRICES, h, strict=True)) for i, h in enumerate(self.multi_heads))
            if len(heads) != self.heads:
                raise UserError(f"multi_heads must list the {self.heads} heads that multi_W_O combines")
            object.__setattr__(self, "multi_heads", heads)

    @staticmethod
    def shapes_for(d_model: int, d_head: int, vocab_size: int = 0, heads: int = 0) -> dict[str, tuple[int, int]]:
        return {"E": (vocab_size, d_model), "W_Q": (d_model, d_head), "W_K": (d_model, d_head),
                "W_V": (d_model, d_head), "W_O": (d_head, d_model), "multi_W_O": (heads * d_head, d_model)}

    @property
    def d_model(self) -> int:
        return len(self.E[0])

    @property
    def d_head(self) -> int:
        return len(self.W_Q[0])

    @property
    def heads(self) -> int:
        """k, the number of heads of Problem 2.4."""
        return len(self.multi_W_O) // self.d_head

    @property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """Each editable matrix's (rows, columns)."""
        return self.shapes_for(self.d_model, self.d_head, len(self.vocab), self.heads)

    @property
    def start(self) -> int:
        """The row of <START> (the symbols come first, then <START>, then <STOP>)."""
        return len(self.vocab) - 2

    def output_matrix(self, heads: int) -> str:
        """The name of the output matrix a model with `heads` heads uses: W_O for one, multi_W_O for k."""
        return "W_O" if heads == 1 else "multi_W_O"

    def unused(self, name: str, heads: int) -> str | None:
        """Why the matrix `name` plays no part in a run of `heads` heads, or None where it does. One head uses W_O,
        never multi_W_O (nor the k heads' own W_Q, W_K, W_V, `multi_heads`); k heads use both (multi_W_O, and W_O
        in the one-head model shown beside them, Problem 2.4), and W_O stays the exam's name of their output matrix.
        The one rule the API's edited `weights`, a step's `matrices`, `gradient_of`, ``dlexam geoff
        --step-matrices`` and the cells (change[multi_W_O]) refuse by: an edited multi_W_O with one head had been
        ignored, and a named one read as W_O, without a word."""
        if name == "multi_W_O" and heads == 1:
            return (f"heads = 1 uses W_O; multi_W_O is the output matrix of Problem 2.4's {self.heads} heads "
                    f"(heads = {self.heads})")
        if name == "multi_heads" and heads == 1:
            return (f"heads = 1 uses W_Q, W_K, W_V; multi_heads are the own matrices of Problem 2.4's {self.heads} "
                    f"heads (heads = {self.heads})")
        return None

    def projections(self, heads: int) -> list[tuple]:
        """(W_Q, W_K, W_V) of each head of a model with `heads` heads (1, or k)."""
        if heads == 1 or self.multi_heads is None:
            return [(self.W_Q, self.W_K, self.W_V)] * heads
        return list(self.multi_heads)

    def tensor(self, name: str, dtype=torch.float64) -> torch.Tensor:
        return torch.tensor(getattr(self, name), dtype=dtype)

    def to_json(self) -> dict:
        out = {name: [list(r) for r in getattr(self, name)] for name in self.MATRICES}
        if self.multi_heads is not None:
            out["multi_heads"] = [{n: [list(r) for r in m] for n, m in zip(self.HEAD_MATRICES, h, strict=True)}
                                  for h in self.multi_heads]
        return out

    def replace(self, **matrices) -> GeoffWeights:
        """A copy with some matrices replaced (a learner's edits, a gradient step)."""
        return dataclasses.replace(self, **matrices)

    @classmethod
    def from_spec(cls, t: TransformerSpec) -> GeoffWeights:
        """The weights of a spec's transformer (Version A's, or a variant's): exact fractions as floats."""
        same = all(h == t.head for h in t.multi_heads)
        return cls(E=floats(t.E), W_Q=floats(t.head.W_Q), W_K=floats(t.head.W_K), W_V=floats(t.head.W_V),
                   W_O=floats(t.W_O), multi_W_O=floats(t.multi_W_O), vocab=t.vocab,
                   multi_heads=None if same else tuple((floats(h.W_Q), floats(h.W_K), floats(h.W_V))
                                                       for h in t.multi_heads))

    def __reduce__(self):
        """Pickled (for `dlexam serve`'s worker processes): the exam's own weights by name, so the receiver gets
        its EXAM_WEIGHTS object back and the model built for it (:func:`shared_model`), others by value."""
        if self is EXAM_WEIGHTS:
            return "EXAM_WEIGHTS"
        return (GeoffWeights, tuple(getattr(self, f.name) for f in dataclasses.fields(self)))


EXAM_WEIGHTS = GeoffWeights()


def axis_labels(w: GeoffWeights) -> dict[str, tuple[str, ...]]:
    """The names every view gives the model's axes (:func:`dlexam.spec.transformer.axes_of`): ``tokens`` (the
    vocabulary, E's rows), ``dims`` (d_model: E's, X's, R's, W_O's and multi_W_O's columns, W_Q's rows; dimension j
    is named after the symbol whose embedding is the unit vector e_j, as in Version A's E = [I_4; 0; 0] and a
    variant's one-hot rows, else d1 ..), ``head_dims`` (d_head: d1 ..) and ``concat_dims`` (the k heads side by side,
    k d_head: d1 ..)."""
    return axes_of(w.vocab, w.E, w.d_head, w.heads)


def labels(w: GeoffWeights, name: str, positions=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The matrix `name`'s (row labels, column labels) (:data:`dlexam.spec.transformer.MATRIX_AXES`: E, W_Q, ..,
    multi_W_O, X, Q, K, V, S, P, Z, R, logits; a gradient is named as its matrix), positions as `positions`."""
    return labels_of(name, axis_labels(w), positions)


EMPTY_CELL = "is empty: type a number (such as 0.5, -2 or 1/3)"  # what a weight cell left empty is, after its name


def cell_words(w: GeoffWeights, name: str, i: int, j: int, head: int | None = None) -> str:
    """Entry (i, j) of the weight matrix `name` (E, W_Q, .., multi_W_O; with `head`, from 0, that head's own W_Q, W_K
    or W_V) in the words every refusal naming it uses, its row and column by the labels the views head them with
    (:func:`labels`): "E, row <START>, column B", "W_Q of head 2, row A, column d1". It read "E row 5, column 2"
    (counted from 1) until 2026-12-07, where /geoff shows the row <START> and the column B. A cell left empty is
    "<these words> " + :data:`EMPTY_CELL`, on /geoff (`/api/geoff/defaults`' ``empty_cell``) and from its server."""
    rows, cols = labels(w, name)
    return f"{name}{'' if head is None else f' of head {head + 1}'}, row {rows[i]}, column {cols[j]}"


def matrix_labels(w: GeoffWeights) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each editable matrix's (row labels, column labels), from :func:`labels`."""
    return {name: labels(w, name) for name in GeoffWeights.MATRICES}
