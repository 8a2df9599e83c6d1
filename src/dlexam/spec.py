"""The exam as data: everything the numbers of the exam depend on, as typed, torch-free dataclasses.

:meth:`ExamSpec.version_a` is the exam of 2025-01-22 as printed (Version A); a new version of the exam
(``dlexam variant``) is another value of the same type. Every number of the answer key, the report,
the web pages and the variants is computed from a spec; this module is the one place where Version A's
constants (shapes, sizes, weights, the head count, the example, the points) are typed.

Numbers are exact: matrices hold :class:`fractions.Fraction` entries. The derived arithmetic here is
plain integer arithmetic (output sizes, parameter counts), so a spec can be checked without torch;
the models build their layers from it (:mod:`dlexam.svhn.model`, :mod:`dlexam.geoff.model`).

A spec round-trips through JSON (:meth:`ExamSpec.to_dict`, :meth:`ExamSpec.from_dict`): fractions are
written as strings ("1/4", "3") and read back exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

Matrix = tuple[tuple[Fraction, ...], ...]
Pair = tuple[int, int]  # (rows, columns), as the exam writes sizes: 3x5 is (3, 5)


class SpecError(ValueError):
    """A spec that describes no well-formed exam (a non-rectangular matrix, a layer that does not fit)."""


# ---- numbers ------------------------------------------------------------------------------------

def number(value: Any) -> Fraction:
    """An exact number from an int, a Fraction or a string ("3", "-1/4", "0.25"); floats and bools are refused
    (a float is rarely the number that was meant: write "1/10", not 0.1)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise SpecError(f"spec numbers are exact: give {value!r} as an int or a fraction string")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise SpecError(f"not an exact number: {value!r}") from None
    raise SpecError(f"not an exact number: {value!r}")


def matrix(rows: Any, name: str = "matrix") -> Matrix:
    """A rectangular matrix of exact numbers from nested sequences."""
    if not isinstance(rows, list | tuple) or not rows or not all(isinstance(r, list | tuple) for r in rows):
        raise SpecError(f"{name} must be a non-empty list of rows")
    width = len(rows[0])
    if width == 0 or any(len(r) != width for r in rows):
        raise SpecError(f"{name} must be rectangular (rows of equal, non-zero length)")
    return tuple(tuple(number(v) for v in r) for r in rows)


def identity(n: int) -> Matrix:
    return tuple(tuple(Fraction(int(i == j)) for j in range(n)) for i in range(n))


def shape(m: Matrix) -> Pair:
    return len(m), len(m[0])


def text(x: Fraction) -> str:
    """A fraction as the spec's JSON writes it: '3', '-1/4'."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def matrix_text(m: Matrix) -> list[list[str]]:
    return [[text(v) for v in r] for r in m]


def _pair(value: Any, name: str) -> Pair:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (int(value[0]), int(value[1]))
    raise SpecError(f"{name} must be a whole number or a pair of whole numbers, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """(N + 2 P - F) / S + 1, the formula of the exam's solutions to P1.4 and Problem 1.3 (floor division,
    as PyTorch rounds; :func:`divides_evenly` tells whether the stride fits exactly)."""
    return (size + 2 * padding - kernel) // stride + 1


def divides_evenly(size: int, kernel: int, stride: int = 1, padding: int = 0) -> bool:
    """Whether (N + 2 P - F) / S is a whole number, so no row or column of the input is left out."""
    return (size + 2 * padding - kernel) % stride == 0


# ---- Problem 1: the CNN ------------------------------------------------------------------------

@dataclass(frozen=True)
class Conv:
    """A convolutional layer: `out_channels` filters of size `kernel`, with `stride` and zero `padding`."""

    name: str  # as the exam names it: "Conv-1"
    out_channels: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    kind: str = field(default="conv", init=False)

    def __post_init__(self) -> None:
        _normalise_window(self)
        if isinstance(self.out_channels, bool) or not isinstance(self.out_channels, int) or self.out_channels < 1:
            raise SpecError(f"{self.name}: out_channels must be a whole number >= 1")


@dataclass(frozen=True)
class Pool:
    """A pooling layer over each channel: `mode` "avg" (the exam's) or "max"."""

    name: str  # "AvgPool-1"
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    mode: str = "avg"
    kind: str = field(default="pool", init=False)

    def __post_init__(self) -> None:
        _normalise_window(self)
        if self.mode not in ("avg", "max"):
            raise SpecError(f"{self.name}: mode must be 'avg' or 'max'")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel, strict=True)):
            raise SpecError(f"{self.name}: a pool's padding must be at most half its window")


@dataclass(frozen=True)
class Linear:
    """The linear layer that maps the flattened activations to `out_features` logits."""

    name: str = "Linear"
    out_features: int = 10
    kind: str = field(default="linear", init=False)

    def __post_init__(self) -> None:
        if isinstance(self.out_features, bool) or not isinstance(self.out_features, int) or self.out_features < 1:
            raise SpecError(f"{self.name}: out_features must be a whole number >= 1")


def _normalise_window(layer: Conv | Pool) -> None:
    for name in ("kernel", "stride", "padding"):
        object.__setattr__(layer, name, _pair(getattr(layer, name), f"{layer.name} {name}"))


Layer = Conv | Pool | Linear
_LAYER_TYPES = {"conv": Conv, "pool": Pool, "linear": Linear}


@dataclass(frozen=True)
class LayerShape:
    """One row of Problem 1.2/1.3's table: a layer, its output (C, H, W) and its trainable parameters."""

    layer: Layer
    in_shape: tuple[int, int, int]  # (C, H, W)
    out_shape: tuple[int, int, int] | tuple[int]  # (C, H, W), or (features,) after the linear layer
    params: int


@dataclass(frozen=True)
class CNNSpec:
    """Problem 1: the input, the layer table, and the student's wrong in-features (Problem 1.3)."""

    input_size: Pair = (32, 32)  # (H, W)
    input_channels: int = 1  # grayscale
    layers: tuple[Layer, ...] = ()
    activation: str = "relu"  # after each conv (the exam's Figure 2, which would show it, is not in the text)
    student_linear_in: int = 0  # the in-features the student's nn.Linear has (Problem 1.3)
    # Wrong in-features the answer key runs to show PyTorch's error (Problem 1.3), in its order;
    # () means student_linear_in alone (none when that is 0 or the right value).
    tried_linear_in: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", _pair(self.input_size, "input_size"))
        object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.input_channels, bool) or not isinstance(self.input_channels, int) \
                or self.input_channels < 1:
            raise SpecError("input_channels must be a whole number >= 1")
        if min(self.input_size) < 1:
            raise SpecError("input_size must be at least 1x1")
        if not self.layers or not isinstance(self.layers[-1], Linear):
            raise SpecError("the layer table must end with the linear layer")
        if any(isinstance(layer, Linear) for layer in self.layers[:-1]):
            raise SpecError("the linear layer must be the last layer")
        if self.activation not in ("relu", "tanh", "sigmoid", "none"):
            raise SpecError("activation must be relu, tanh, sigmoid or none")
        self.table()  # every layer must fit its input
        tried = tuple(self.tried_linear_in) or tuple(
            n for n in (self.student_linear_in,) if n and n != self.flat_features())
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in (*tried, self.student_linear_in or 1)):
            raise SpecError("the student's in-features must be whole numbers >= 1")
        if self.flat_features() in tried:
            raise SpecError(f"tried_linear_in lists the right in-features, {self.flat_features()}: it must list "
                            "wrong ones")
        object.__setattr__(self, "tried_linear_in", tried)

    @property
    def num_classes(self) -> int:
        return self.layers[-1].out_features

    @property
    def convs(self) -> tuple[Conv, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Conv))

    @property
    def pools(self) -> tuple[Pool, ...]:
        return tuple(layer for layer in self.layers if isinstance(layer, Pool))

    def table(self) -> list[LayerShape]:
        """Every layer's input and output shape (C, H, W) and trainable parameters, by the exam's formulas."""
        c, (h, w) = self.input_channels, self.input_size
        rows = []
        for layer in self.layers:
            before = (c, h, w)
            if isinstance(layer, Linear):
                rows.append(LayerShape(layer, before, (layer.out_features,), (c * h * w + 1) * layer.out_features))
                continue
            (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
            if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
                raise SpecError(f"{layer.name}: kernel and stride must be >= 1 and padding >= 0")
            h, w = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
            if h < 1 or w < 1:
                raise SpecError(f"{layer.name}: a {kh}x{kw} window does not fit its {before[1]}x{before[2]} input")
            params = 0
            if isinstance(layer, Conv):
                params = layer.out_channels * (kh * kw * c + 1)
                c = layer.out_channels
            rows.append(LayerShape(layer, before, (c, h, w), params))
        return rows

    def flat_features(self) -> int:
        """The linear layer's in-features: C x H x W of the last map (Problem 1.3's answer)."""
        c, h, w = self.table()[-1].in_shape
        return c * h * w

    def total_params(self) -> int:
        return sum(r.params for r in self.table())

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the last map, which the head reads (Version A: 16 x 3 x 3)."""
        return self.table()[-1].in_shape

    def head_conv(self, whole_map: bool) -> Conv:
        """Problem 1.4: a conv with one filter per class that replaces Flatten + Linear.

        `whole_map`: its kernel covers the last map (v1: a 1x1 output per class, the linear layer with its
        weight reshaped); else 1x1 (v2: one map per class of the last map's size, which a global average
        pool turns into the logits). Named after the table's convs (Version A: Conv-3).
        """
        _, h, w = self.feature_shape
        return Conv(f"Conv-{len(self.convs) + 1}", self.num_classes, (h, w) if whole_map else (1, 1))

    def describe(self, times: str = "x") -> str:
        """The table in a line, as the exam lists it: 'Conv-1 (8 filters 5x5), AvgPool-1 (4x4, stride 4), ...,
        Linear(144, 10)'; strides and paddings are named where they are not 1 and 0 (a pool's stride always)."""
        parts = []
        for layer in self.layers:
            if isinstance(layer, Linear):
                parts.append(f"{layer.name}({self.flat_features()}, {layer.out_features})")
                continue
            size = f"{layer.kernel[0]}{times}{layer.kernel[1]}"
            words = [f"{layer.out_channels} filters {size}" if isinstance(layer, Conv) else size]
            if isinstance(layer, Pool) or layer.stride != (1, 1):
                words.append(f"stride {pair_text(layer.stride)}")
            if layer.padding != (0, 0):
                words.append(f"padding {pair_text(layer.padding)}")
            parts.append(f"{layer.name} ({', '.join(words)})")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        """Plain JSON types (what :meth:`from_dict` reads back)."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> CNNSpec:
        """The table :meth:`to_dict` wrote (SpecError for anything else)."""
        try:
            return cls(input_size=tuple(d["input_size"]), input_channels=int(d["input_channels"]),
                       activation=str(d["activation"]), student_linear_in=int(d["student_linear_in"]),
                       tried_linear_in=tuple(int(n) for n in d.get("tried_linear_in", ())),
                       layers=tuple(_layer(layer) for layer in d["layers"]))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"not a layer table ({type(exc).__name__}: {exc})") from None


def pair_text(p: Pair) -> str:
    """A (rows, columns) size as the exam writes it: '4' when both are 4, else '(1, 3)'."""
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"


# ---- Problem 2: Geoff's transformer -----------------------------------------------------------

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
    example_target: tuple[str, ...]  # the input deduplicated and sorted
    multi_heads: tuple[Head, ...]
    multi_W_O: Matrix  # (k d_head, d_model)
    temperatures: tuple[Fraction | str, ...] = (Fraction(0), "sqrt")
    start: str = "<START>"
    stop: str = "<STOP>"

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
        if list(self.example_target) != sorted(set(self.example_input)):
            raise SpecError("the example's target must be its input deduplicated and sorted")
        for t in self.temperatures:
            if t != "sqrt" and t < 0:
                raise SpecError("temperatures must be >= 0 or 'sqrt'")

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


# ---- Part 1's computable items ----------------------------------------------------------------

@dataclass(frozen=True)
class SoftmaxItem:
    """P1.1: temp-softmax_T(z) = softmax(z / T); the option about T -> 0 uses this z."""

    z: tuple[Fraction, ...] = ()
    # The limit as T -> 0 that the item's statement claims for z (Version A: (1,0,0,0), true);
    # () means the true limit.
    claimed_limit: tuple[Fraction, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "z", tuple(number(v) for v in self.z))
        if len(self.z) < 2:
            raise SpecError("P1.1's z needs at least two components")
        claimed = tuple(number(v) for v in self.claimed_limit) or self.limit_at_zero()
        if len(claimed) != len(self.z):
            raise SpecError("P1.1's claimed limit must have as many components as z")
        object.__setattr__(self, "claimed_limit", claimed)

    def limit_at_zero(self) -> tuple[Fraction, ...]:
        """softmax(z / T) as T -> 0+: the largest components of z share the weight equally, the others get 0."""
        top = max(self.z)
        ties = sum(v == top for v in self.z)
        return tuple(Fraction(1, ties) if v == top else Fraction(0) for v in self.z)

    def limit_at_infinity(self) -> tuple[Fraction, ...]:
        """softmax(z / T) as T -> infinity: the uniform distribution."""
        return (Fraction(1, len(self.z)),) * len(self.z)


@dataclass(frozen=True)
class ConvSizeItem:
    """P1.4: a filter of `kernel` with `stride`, `padding`, on an input of `input_size` (all (rows, columns))."""

    input_size: Pair
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)
    options: tuple[Pair, ...] = ()  # the output sizes the item offers (rows, columns); () when it asks for the size

    def __post_init__(self) -> None:
        for name in ("input_size", "kernel", "stride", "padding"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))
        object.__setattr__(self, "options", tuple(_pair(o, "an option") for o in self.options))
        if min(self.kernel) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise SpecError("P1.4 needs kernel and stride >= 1 and padding >= 0")
        if min(self.output_size()) < 1:
            raise SpecError(f"P1.4's {self.kernel} filter does not fit its {self.input_size} input")

    def output_size(self) -> Pair:
        return tuple(conv_output_size(n, f, s, p) for n, f, s, p in
                     zip(self.input_size, self.kernel, self.stride, self.padding, strict=True))


@dataclass(frozen=True)
class RNNItem:
    """P1.6: h_t = g(w h_{t-1} + a x_t), h_0 = 0, y_hat = h_T, loss (y_hat - y)^2 / 2; the SGD rule for
    `parameter` ("w" or "a") on a sequence of `length` elements."""

    length: int = 2
    parameter: str = "w"

    def __post_init__(self) -> None:
        if self.length < 1 or self.parameter not in ("w", "a"):
            raise SpecError("P1.6 needs length >= 1 and parameter 'w' or 'a'")


@dataclass(frozen=True)
class Part1Spec:
    softmax: SoftmaxItem
    conv_size: ConvSizeItem
    rnn: RNNItem


# ---- the exam ---------------------------------------------------------------------------------

QUESTION_IDS = (
    tuple(f"P1.{i}" for i in range(1, 9))
    + tuple(f"P2.{i}" for i in range(1, 4))
    + tuple(f"Pr1.{i}" for i in range(1, 5))
    + tuple(f"Pr2.{i}" for i in range(1, 6))
)


@dataclass(frozen=True)
class ExamSpec:
    """One version of the exam: Part 1's computable items, Problem 1 (the CNN), Problem 2 (the transformer),
    and the points of each question. `seed` is the variant's seed (None for a printed version)."""

    name: str
    part1: Part1Spec
    cnn: CNNSpec
    transformer: TransformerSpec
    points: tuple[tuple[str, int], ...]
    seed: int | None = None

    def __post_init__(self) -> None:
        ids = tuple(q for q, _ in self.points)
        if ids != QUESTION_IDS:
            raise SpecError("points must list every question, in the exam's order")

    def points_of(self, qid: str) -> int:
        return dict(self.points)[qid]

    @classmethod
    def version_a(cls) -> ExamSpec:
        """The exam of 2025-01-22, Version A, as printed."""
        return VERSION_A

    def to_dict(self) -> dict:
        """Plain JSON types; fractions as strings."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> ExamSpec:
        """The spec :meth:`to_dict` wrote (SpecError for anything else)."""
        try:
            p1, cnn, tr = d["part1"], d["cnn"], d["transformer"]
            heads = [Head(**h) for h in tr["multi_heads"]]
            return cls(
                name=str(d["name"]),
                seed=d.get("seed"),
                points=tuple((str(q), int(p)) for q, p in d["points"]),
                part1=Part1Spec(softmax=SoftmaxItem(z=tuple(p1["softmax"]["z"]),
                                                    claimed_limit=tuple(p1["softmax"].get("claimed_limit", ()))),
                                conv_size=ConvSizeItem(**p1["conv_size"]),
                                rnn=RNNItem(**p1["rnn"])),
                cnn=CNNSpec.from_dict(cnn),
                transformer=TransformerSpec(
                    symbols=tuple(tr["symbols"]), E=tr["E"], head=Head(**tr["head"]), W_O=tr["W_O"],
                    example_input=tuple(tr["example_input"]), example_target=tuple(tr["example_target"]),
                    multi_heads=tuple(heads), multi_W_O=tr["multi_W_O"], temperatures=tuple(tr["temperatures"]),
                    start=str(tr.get("start", "<START>")), stop=str(tr.get("stop", "<STOP>"))),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"not an exam spec ({type(exc).__name__}: {exc})") from None


def _layer(d: dict) -> Layer:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _LAYER_TYPES:
        raise SpecError(f"unknown layer kind {kind!r}")
    for key in ("kernel", "stride", "padding"):
        if key in d:
            d[key] = _pair(d[key], key)
    return _LAYER_TYPES[kind](**d)


def _to_plain(x: Any) -> Any:
    if isinstance(x, Fraction):
        return text(x)
    if hasattr(x, "__dataclass_fields__"):
        return {f.name: _to_plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, tuple | list):
        return [_to_plain(v) for v in x]
    return x


def _version_a() -> ExamSpec:
    w = ((0, 3), (1, 2), (2, 1), (3, 0))  # W_Q = W_K = W_V, as printed in Problem 2
    head = Head(W_Q=w, W_K=w, W_V=w)
    return ExamSpec(
        name="Deep Learning final exam, 2025-01-22, Version A",
        part1=Part1Spec(
            softmax=SoftmaxItem(z=(4, 3, 2, 1), claimed_limit=(1, 0, 0, 0)),
            conv_size=ConvSizeItem(input_size=(128, 128), kernel=(3, 5), stride=(1, 3), padding=(0, 0),
                                   options=((126, 124), (126, 42), (42, 126), (42, 42))),
            rnn=RNNItem(length=2, parameter="w"),
        ),
        cnn=CNNSpec(
            input_size=(32, 32),
            input_channels=1,
            layers=(
                Conv("Conv-1", out_channels=8, kernel=(5, 5), stride=(1, 1), padding=(0, 0)),
                Pool("AvgPool-1", kernel=(4, 4), stride=(4, 4)),
                Conv("Conv-2", out_channels=16, kernel=(4, 4), stride=(1, 1), padding=(1, 1)),
                Pool("AvgPool-2", kernel=(2, 2), stride=(2, 2)),
                Linear("Linear", out_features=10),
            ),
            activation="relu",
            # The student's code ("as seen below") is missing from the exam's text; 16 x 7 x 7 (Conv-2's
            # channels on AvgPool-1's 7 x 7 map, as if Conv-2 and AvgPool-2 kept the size) stands in for the
            # in-features it had. The key also runs LeNet-5's 16 x 5 x 5 and AvgPool-1's 8 x 7 x 7 flattened.
            student_linear_in=784,
            tried_linear_in=(400, 784, 392),
        ),
        transformer=TransformerSpec(
            symbols=("A", "B", "C", "D"),
            E=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)),
            head=head,
            W_O=((0, 1, 0, 1), (1, 0, 1, 0)),
            example_input=("D", "A", "A"),
            example_target=("A", "D"),
            multi_heads=(head, head),  # Problem 2.4: a second head identical to the first
            multi_W_O=identity(4),  # ... and W_O the 4x4 identity
            temperatures=(Fraction(0), "sqrt"),
        ),
        points=(
            *((f"P1.{i}", 4) for i in range(1, 9)),
            *((f"P2.{i}", 6) for i in range(1, 4)),
            ("Pr1.1", 5), ("Pr1.2", 5), ("Pr1.3", 10), ("Pr1.4", 5),
            ("Pr2.1", 5), ("Pr2.2", 8), ("Pr2.3", 5), ("Pr2.4", 4), ("Pr2.5", 3),
        ),
    )


VERSION_A = _version_a()
