"""Problem 2 as data: Geoff's one-layer transformer (vocabulary, E, the heads, W_O, the example, the temperatures)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlexam.spec.numbers import Matrix, SpecError, matrix, number, shape

# ---- Problem 2: Geoff's transformer -----------------------------------------------------------

def dimension_labels(n: int) -> tuple[str, ...]:
    """The names of `n` model dimensions no token names (E's columns, a head's): d1, d2, .."""
    return tuple(f"d{j + 1}" for j in range(n))


def output_labels(symbols, E) -> tuple[str, ...]:
    """The names of the model's d_model dimensions where they meet E^T: R's columns (R = Z W_O, and the logits are
    R E^T), so W_O's and multi_W_O's columns too. Dimension j is named after the symbol whose embedding (E's row,
    `symbols` in the order of its first rows) is the unit vector e_j: then R's column j is that symbol's logit, as
    in Version A's E = [I_4; 0; 0] (columns A, B, C, D) and a variant's one-hot rows. Where E has no such symbol for
    every dimension (or two for one), d1, d2, .. (:func:`dimension_labels`). The one definition: the grader's
    matrices, the variant's tables and every view of :mod:`dlexam.geoff` (``axis_labels``) name them so."""
    d = len(E[0])
    unit = [[s for s, row in zip(symbols, E, strict=False) if row[j] == 1 and sum(abs(v) for v in row) == 1]
            for j in range(d)]
    return tuple(u[0] for u in unit) if all(len(u) == 1 for u in unit) else dimension_labels(d)


# Every matrix of Problem 2 by its name: (the axis of its rows, the axis of its columns). The one place that says
# what a matrix's rows and columns index, for every view (`dlexam geoff`, /geoff, the report, a variant's documents
# and exports; a gradient is named as its matrix). The exam's own notation: E (V x d_model) has a row per token and a
# column per model dimension, the dimensions X = rows of E carries into X W_Q and R = Z W_O carries out to R E^T.
# tokens: the vocabulary; dims: the d_model dimensions (:func:`output_labels`); head_dims: a head's d_head (d1, ..);
# concat_dims: the k heads side by side (d1, ..); positions: the sequence's.
MATRIX_AXES: dict[str, tuple[str, str]] = {
    "E": ("tokens", "dims"), "W_Q": ("dims", "head_dims"), "W_K": ("dims", "head_dims"),
    "W_V": ("dims", "head_dims"), "W_O": ("head_dims", "dims"), "multi_W_O": ("concat_dims", "dims"),
    "X": ("positions", "dims"), "Q": ("positions", "head_dims"), "K": ("positions", "head_dims"),
    "V": ("positions", "head_dims"), "S": ("positions", "positions"), "P": ("positions", "positions"),
    "Z": ("positions", "head_dims"), "R": ("positions", "dims"), "logits": ("positions", "tokens"),
}


def axes_of(vocab, E, d_head: int, heads: int) -> dict[str, tuple[str, ...]]:
    """The labels of each axis of :data:`MATRIX_AXES` but the positions: the tokens, the d_model dimensions (named
    after the symbol whose embedding is that unit vector, :func:`output_labels`: A, B, C, D for Version A's
    E = [I_4; 0; 0]), a head's dimensions and the k heads' (d1, d2, ..)."""
    return {"tokens": tuple(vocab), "dims": output_labels(tuple(vocab)[:-2], E), "head_dims": dimension_labels(d_head),
            "concat_dims": dimension_labels(heads * d_head)}


def labels_of(name: str, axes: dict[str, tuple[str, ...]], positions=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The matrix `name`'s (row labels, column labels), from `axes` (:func:`axes_of`); a positions axis takes
    `positions` (the sequence's tokens, or however a view numbers them)."""
    return tuple(tuple(positions) if a == "positions" else axes[a] for a in MATRIX_AXES[name])


@dataclass(frozen=True)
class Task:
    """What the model is meant to output for an input: Version A's "deduplicate and sort", or another task of a
    variant. `says` completes "map a sequence of symbols to ..."; `title` completes "a transformer that ...".
    Whether positional encodings were a sound choice for the task (Pr2.1) is computed, never stated here:
    :func:`dlexam.geoff.positions.bag_determines_next_token`."""

    name: str
    says: str
    title: str

    def target(self, given: tuple[str, ...]) -> tuple[str, ...]:
        """The output for the input `given` (symbols in lexicographic order sort as strings)."""
        return _TARGETS[self.name](tuple(given))


_TARGETS = {
    "dedupe-sort": lambda x: tuple(sorted(set(x))),
    "dedupe-descending": lambda x: tuple(sorted(set(x), reverse=True)),
    "first-occurrence": lambda x: tuple(dict.fromkeys(x)),
    "reverse": lambda x: tuple(reversed(x)),
}
TASKS = {t.name: t for t in (
    Task("dedupe-sort", "the same symbols with duplicates removed, in alphabetical order", "deduplicates and sorts"),
    Task("dedupe-descending", "the same symbols with duplicates removed, in reverse alphabetical order",
         "deduplicates and sorts in reverse"),
    Task("first-occurrence", "the same symbols with duplicates removed, in the order each first appears",
         "deduplicates in order of appearance"),
    Task("reverse", "the same symbols in reverse order, duplicates kept", "reverses its input"),
)}

@dataclass(frozen=True)
class Head:
    """One attention head's projections, each (d_model, d_head)."""

    W_Q: Matrix
    W_K: Matrix
    W_V: Matrix

    def __post_init__(self) -> None:
        for name in ("W_Q", "W_K", "W_V"):
            object.__setattr__(self, name, matrix(getattr(self, name), name))
        if not shape(self.W_Q) == shape(self.W_K) == shape(self.W_V):
            raise SpecError("W_Q, W_K and W_V must have the same shape (d_model, d_head)")


@dataclass(frozen=True)
class TransformerSpec:
    """Problem 2: Geoff's one-layer decoder (no positions, feed-forward or residual, causal mask).

    Problems 2.2-2.3 use `head` and the (d_head, d_model) `W_O`; Problem 2.4 uses the k heads of
    `multi_heads`, concatenated and multiplied by the (k d_head, d_model) `multi_W_O` (Version A: two copies
    of `head` and W_O = I_4). `temperatures` are those the exam asks about: 0 (argmax, Problem 2.2) and
    "sqrt" (T = sqrt(d_head), Problem 2.5).
    """

    symbols: tuple[str, ...]  # the symbols to sort, in lexicographic order
    E: Matrix  # (V, d_model): one row per symbol, then <START>, then <STOP>
    head: Head
    W_O: Matrix  # (d_head, d_model)
    example_input: tuple[str, ...]
    example_target: tuple[str, ...]  # the task's output for the input (Version A: deduplicated and sorted)
    multi_heads: tuple[Head, ...]
    multi_W_O: Matrix  # (k d_head, d_model)
    temperatures: tuple[Fraction | str, ...] = (Fraction(0), "sqrt")
    start: str = "<START>"
    stop: str = "<STOP>"
    task: str = "dedupe-sort"  # a name of TASKS: what the model is meant to do (Version A: deduplicate and sort)

    def __post_init__(self) -> None:
        object.__setattr__(self, "E", matrix(self.E, "E"))
        object.__setattr__(self, "W_O", matrix(self.W_O, "W_O"))
        object.__setattr__(self, "multi_W_O", matrix(self.multi_W_O, "multi_W_O"))
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "example_input", tuple(self.example_input))
        object.__setattr__(self, "example_target", tuple(self.example_target))
        object.__setattr__(self, "multi_heads", tuple(self.multi_heads))
        object.__setattr__(self, "temperatures",
                           tuple(t if t == "sqrt" else number(t) for t in self.temperatures))
        if len(set(self.vocab)) != len(self.vocab) or any(not s or " " in s for s in self.vocab):
            raise SpecError("the vocabulary's tokens must be distinct words without spaces")
        if list(self.symbols) != sorted(self.symbols):
            raise SpecError("symbols must be listed in lexicographic order")
        d_model, d_head = shape(self.head.W_Q)
        if shape(self.E) != (len(self.vocab), d_model):
            raise SpecError(f"E must be {len(self.vocab)}x{d_model} (one row per token, d_model columns)")
        if shape(self.W_O) != (d_head, d_model):
            raise SpecError(f"W_O must be {d_head}x{d_model} (d_head x d_model)")
        if len(self.multi_heads) < 2 or any(shape(h.W_Q) != (d_model, d_head) for h in self.multi_heads):
            raise SpecError(f"Problem 2.4 needs k >= 2 heads, each with {d_model}x{d_head} projections")
        if shape(self.multi_W_O) != (self.heads * d_head, d_model):
            raise SpecError(f"multi_W_O must be {self.heads * d_head}x{d_model} (k d_head x d_model)")
        unknown = [t for t in self.example_input + self.example_target if t not in self.symbols]
        if unknown or not self.example_input:
            raise SpecError(f"the example must be non-empty and use the symbols {self.symbols}")
        if self.task not in TASKS:
            raise SpecError(f"the task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.example_target != self.goal.target(self.example_input):
            raise SpecError(f"the example's target must be the task's output for its input: {self.goal.says}")
        for t in self.temperatures:
            if t != "sqrt" and t < 0:
                raise SpecError("temperatures must be >= 0 or 'sqrt'")

    @property
    def goal(self) -> Task:
        """The task the model is meant to do (:data:`TASKS`)."""
        return TASKS[self.task]

    @property
    def vocab(self) -> tuple[str, ...]:
        """The tokens in the order of E's rows."""
        return (*self.symbols, self.start, self.stop)

    @property
    def d_model(self) -> int:
        return shape(self.E)[1]

    @property
    def d_head(self) -> int:
        return shape(self.W_O)[0]

    @property
    def heads(self) -> int:
        """k, the number of heads of Problem 2.4."""
        return len(self.multi_heads)

    @property
    def example(self) -> tuple[str, ...]:
        """The training example: input, <START>, target, <STOP> ("D A A <START> A D <STOP>")."""
        return (*self.example_input, self.start, *self.example_target, self.stop)
