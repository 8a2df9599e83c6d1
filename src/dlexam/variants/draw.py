"""Drawing a new version of the exam from a seed: Part 1's computable items, Problem 1's CNN, Problem 2's transformer.

A draw is an :class:`dlexam.spec.ExamSpec` plus the choices the spec does not hold (which P1.1 statement is
the false one, the order of the options). Sizes stay near Version A's (``Difficulty``: sequence lengths,
matrix sizes and weight magnitudes within about 1.5x of A's); ``harder`` gives Problem 2.4 two heads with
different weights. A draw is not yet a variant: :mod:`dlexam.variants.checks` decides whether it is
well-posed, and :func:`dlexam.variants.build.make_variant` draws again until it is.

Plain Python over :mod:`dlexam.spec` (no torch): the same draw can run where only the standard library is.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from fractions import Fraction

from dlexam.spec import (
    TASKS,
    VERSION_A,
    CNNSpec,
    Conv,
    ConvSizeItem,
    ExamSpec,
    Head,
    Linear,
    Part1Spec,
    Pool,
    RNNItem,
    SoftmaxItem,
    TransformerSpec,
    conv_output_size,
)

DIFFICULTIES = ("standard", "harder")
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Difficulty:
    """The ranges a draw comes from. Version A: 4 symbols, d_model 4, d_head 2, an input of 3 symbols, weights
    0..3, a 32x32 input image, a 128x128 map for P1.4."""

    name: str = "standard"
    symbols: tuple[int, int] = (3, 5)  # how many symbols (A, B, ...)
    input_length: tuple[int, int] = (3, 4)  # the example's input length
    d_head: tuple[int, int] = (2, 2)
    weight_max: int = 3  # W_Q, W_K, W_V entries in 0..weight_max
    distinct_heads: bool = False  # Problem 2.4's second head has its own weights
    image: tuple[int, int] = (24, 44)  # Problem 1's square input size
    conv_map: tuple[int, int] = (90, 180)  # P1.4's input size

    @classmethod
    def named(cls, name: str) -> Difficulty:
        if name == "standard":
            return cls()
        if name == "harder":
            return cls(name="harder", symbols=(4, 5), input_length=(4, 4), distinct_heads=True)
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {name!r}")


# Pr2.5 (b)'s remedies for the frozen W_Q and W_K (dlexam.variants.problem2_gradients words and keys them): Version
# A's softmax at T = sqrt(d_head), or a learning rate ten times larger (which scales each update, not the gradient)
REMEDIES = ("softmax", "learning-rate")
# what Pr2.5 (a) asks for: the matrices whose gradient is exactly zero (Version A), or those whose gradient is not
# (the same key, the complementary sets as options: a memorised "only W_Q and W_K" is then wrong)
PR25_ASKS = ("zero", "nonzero")
# Problem 2's tasks a variant draws from (dlexam.spec.TASKS): two that do not depend on the input's order, two that do
VARIANT_TASKS = ("dedupe-sort", "dedupe-descending", "first-occurrence", "reverse")
# the yes/no items, each shown in its own drawn order (Version A's order, yes first, where no order is drawn)
YES_NO_ITEMS = ("Pr2.1", "Pr2.4", "Pr2.5.softmax")


@dataclass(frozen=True)
class Draw:
    """A drawn exam: the spec (which holds P1.1's claimed limit and P1.4's options, in the order shown), the
    order of the other multiple-choice items' options, and (where autograd ran) Problem 2.5's gradients.

    `orders` is keyed by question id ("P1.1"; "Pr2.5" is Pr2.5 (a)) or, for the second item of a question with two
    (:data:`YES_NO_ITEMS`), by answer id; an item without an order is shown in the exam's own order.
    `gradients` is :func:`dlexam.variants.evidence.zero_gradients`' result, filled in by
    :func:`dlexam.variants.build.attempt` where torch is available: Problem 2.5's key is computed from it, and
    without it (the torch-free generator) that question is not built."""

    spec: ExamSpec
    orders: dict[str, tuple[int, ...]] = field(default_factory=dict)  # question -> option order (a permutation)
    gradients: dict | None = None  # "argmax" | "softmax" -> {"zero": [names], "norms": {name: float}}
    remedy: str = "softmax"  # what Pr2.5 (b) proposes (REMEDIES; Version A: softmax)
    asks: str = "zero"  # what Pr2.5 (a) asks for (PR25_ASKS; Version A: the zero gradients)


# ---- Part 1 ---------------------------------------------------------------------------------------

def draw_part1(rng: random.Random, d: Difficulty) -> Part1Spec:
    """P1.1's z and the limit its statement claims (the true one, or a wrong one-hot: then the other statement about
    uniformity is the true version, so one statement is false either way), P1.4's filter and input, P1.6's
    parameter."""
    n = rng.randint(3, 5)
    z = [rng.randint(-3, 6) for _ in range(n)]
    false_one = rng.choice(("uniform", "limit"))
    top = max(z)
    winners = [i for i, v in enumerate(z) if v == top]
    if false_one == "limit":  # claim the weight goes to one component that is not (the only) maximum
        wrong = rng.choice([i for i in range(n) if i != winners[0]])
        claim = tuple(Fraction(int(i == wrong)) for i in range(n))
    else:  # the true limit: the tied maxima share the weight
        claim = tuple(Fraction(1, len(winners)) if i in winners else Fraction(0) for i in range(n))
    # P1.4 by construction: the output size first, then an input it comes from exactly (stride dividing
    # N + 2P - F); the checks confirm it
    kernel = (rng.randint(2, 7), rng.randint(2, 7))
    stride = (rng.randint(1, 3), rng.randint(1, 3))
    padding = (rng.randint(0, 2), rng.randint(0, 2))
    size = tuple(_input_for(rng, d.conv_map, kernel[i], stride[i], padding[i]) for i in (0, 1))
    return Part1Spec(softmax=SoftmaxItem(z=tuple(z), claimed_limit=claim),
                     conv_size=ConvSizeItem(input_size=size, kernel=kernel, stride=stride, padding=padding),
                     rnn=RNNItem(length=2, parameter=rng.choice(("w", "a"))))


def _input_for(rng: random.Random, span: tuple[int, int], kernel: int, stride: int, padding: int) -> int:
    """An input size in `span` whose convolution output is a whole number: N = (M - 1) S + F - 2P."""
    lo = -(-(span[0] - kernel + 2 * padding) // stride) + 1
    hi = (span[1] - kernel + 2 * padding) // stride + 1
    return (rng.randint(lo, hi) - 1) * stride + kernel - 2 * padding


# ---- Problem 1 ------------------------------------------------------------------------------------

def draw_cnn(rng: random.Random, d: Difficulty) -> CNNSpec:
    """Built backwards from the last map (2x2 to 4x4), so that every pooling window tiles its input exactly."""
    c1, c2 = rng.choice((4, 6, 8, 10, 12)), rng.choice((8, 12, 16, 20, 24))
    k1, k2 = rng.randint(3, 7), rng.randint(2, 5)
    pad1, pad2 = rng.randint(0, 2), rng.randint(0, 2)
    p1, p2 = rng.randint(2, 4), rng.randint(2, 3)
    last = rng.randint(2, 4)
    pool1_out = last * p2 + k2 - 1 - 2 * pad2  # Conv-2's input
    size = pool1_out * p1 + k1 - 1 - 2 * pad1  # Conv-1's input: the image
    mode = rng.choice(("avg", "avg", "max"))
    layers = (
        Conv("Conv-1", out_channels=c1, kernel=k1, stride=1, padding=pad1),
        Pool(f"{mode.capitalize()}Pool-1", kernel=p1, stride=p1, mode=mode),
        Conv("Conv-2", out_channels=c2, kernel=k2, stride=1, padding=pad2),
        Pool(f"{mode.capitalize()}Pool-2", kernel=p2, stride=p2, mode=mode),
        Linear("Linear", out_features=VERSION_A.cnn.num_classes),  # the digits, as in Version A
    )
    # a window that does not fit raises SpecError: the draw is refused and drawn again (make_variant)
    cnn = CNNSpec(input_size=(size, size), input_channels=rng.choice((1, 1, 3)), layers=layers, activation="relu")
    forgot = cnn.table()[-2].in_shape  # the student forgot the last pooling layer
    student = forgot[0] * forgot[1] * forgot[2]
    return CNNSpec(input_size=cnn.input_size, input_channels=cnn.input_channels, layers=layers,
                   activation="relu", student_linear_in=student)


# ---- Problem 2 ------------------------------------------------------------------------------------

def _matrix(rng: random.Random, rows: int, cols: int, values) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(rng.choice(values) for _ in range(cols)) for _ in range(rows))


def _head(rng: random.Random, d_model: int, d_head: int, top: int) -> Head:
    w = _matrix(rng, d_model, d_head, range(0, top + 1))
    return Head(W_Q=w, W_K=w, W_V=w)  # W_Q = W_K = W_V, as in the exam


def draw_transformer(rng: random.Random, d: Difficulty) -> TransformerSpec:
    n = rng.randint(*d.symbols)
    symbols = tuple(LETTERS[:n])
    d_model, d_head = n, rng.randint(*d.d_head)
    order = list(range(n))
    rng.shuffle(order)  # which dimension each symbol's one-hot embedding uses
    rows = [tuple(int(j == order[i]) for j in range(d_model)) for i in range(n)]
    start = tuple(0 for _ in range(d_model))
    # <STOP> embeds as the sum of 2 or more symbols' one-hot dimensions: never another token's row (which Version
    # A's zero <STOP> is: its <START> row); the checks confirm it
    ones = set(rng.sample(range(d_model), rng.randint(2, d_model)))
    stop = tuple(int(j in ones) for j in range(d_model))
    E = (*rows, start, stop)
    head = _head(rng, d_model, d_head, d.weight_max)
    W_O = _matrix(rng, d_head, d_model, (0, 1))
    second = _head(rng, d_model, d_head, d.weight_max) if d.distinct_heads else head
    zeros = tuple(tuple(0 for _ in range(d_model)) for _ in range(d_head))
    halves = tuple(tuple(Fraction(v, 2) for v in r) for r in W_O)
    kind = rng.choice(("identity", "stacked", "halves", "second", "random"))
    multi = {
        "identity": tuple(tuple(int(i == j) for j in range(d_model)) for i in range(2 * d_head)),
        "stacked": (*W_O, *zeros),
        "halves": (*halves, *halves),
        "second": (*zeros, *W_O),
        "random": _matrix(rng, 2 * d_head, d_model, (0, 1)),
    }[kind]
    length = rng.randint(*d.input_length)
    example = tuple(rng.choice(symbols) for _ in range(length))
    return TransformerSpec(symbols=symbols, E=E, head=head, W_O=W_O, example_input=example,
                           example_target=tuple(sorted(set(example))), multi_heads=(head, second),
                           multi_W_O=multi, temperatures=(Fraction(0), "sqrt"))


def draw(rng: random.Random, d: Difficulty, seed: int) -> Draw:
    """One draw: every part from `rng`, the exam's points, and the options' order."""
    part1 = draw_part1(rng, d)
    cnn, transformer = draw_cnn(rng, d), draw_transformer(rng, d)
    orders = {q: tuple(rng.sample(range(4), 4)) for q in ("P1.1", "P1.4", "P1.6", "Pr2.5")}
    # drawn last, so that every earlier number of a seed's draws stays what it was before they were shuffled
    orders |= {item: tuple(rng.sample(range(2), 2)) for item in YES_NO_ITEMS}
    # and Problem 2's task after them: half the tasks need no positions, half do (Pr2.1's key is computed)
    task = TASKS[rng.choice(VARIANT_TASKS)]
    transformer = replace(transformer, task=task.name, example_target=task.target(transformer.example_input))
    remedy = rng.choice(REMEDIES)  # and Pr2.5 (b)'s remedy after it: it changes no number
    asks = rng.choice(PR25_ASKS)  # and what Pr2.5 (a) asks for last: nor does it
    c = part1.conv_size
    candidates = p14_candidates(c)
    part1 = replace(part1, conv_size=replace(c, options=tuple(candidates[i] for i in orders.pop("P1.4"))))
    spec = ExamSpec(name=f"dlexam variant {seed} ({d.name})", part1=part1, cnn=cnn, transformer=transformer,
                    points=VERSION_A.points, seed=seed)
    return Draw(spec=spec, orders=orders, remedy=remedy, asks=asks)


def p14_candidates(c: ConvSizeItem) -> list[tuple[int, int]]:
    """P1.4's options before shuffling: the right size, its transpose, the sizes with the strides and with the
    padding forgotten (the checks refuse a draw where two coincide)."""
    (n_h, n_w), (f_h, f_w), (s_h, s_w), (p_h, p_w) = c.input_size, c.kernel, c.stride, c.padding
    right = c.output_size()
    return [right, (right[1], right[0]), (n_h + 2 * p_h - f_h + 1, n_w + 2 * p_w - f_w + 1),
            (conv_output_size(n_h, f_h, s_h), conv_output_size(n_w, f_w, s_w))]
