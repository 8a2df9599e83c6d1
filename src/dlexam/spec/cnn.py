"""Problem 1 as data: the CNN's input, its layer table and the student's wrong in-features."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from dlexam.errors import UnknownKey
from dlexam.limits import known_keys
from dlexam.spec.numbers import Pair, SpecError, conv_output_size, pair, pair_text, to_plain

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
        object.__setattr__(layer, name, pair(getattr(layer, name), f"{layer.name} {name}"))


Layer = Conv | Pool | Linear
_LAYER_TYPES = {"conv": Conv, "pool": Pool, "linear": Linear}

ACTIVATION_NAMES = {"relu": "ReLU", "tanh": "tanh", "sigmoid": "sigmoid"}
ASSUMED_ACTIVATION = "relu"  # the table's activation after each conv (the exam's Figure 2 is missing)


def activation_label(activation: str, stated: bool = False) -> str:
    """The activation after each conv as every view names it: the exam never names one (its Figure 2, which
    would show it, is not in the text), so the table's ReLU is "ReLU (assumed: the exam's Figure 2 is missing)";
    any other (a model option, --activation) was chosen: "tanh (chosen instead of the assumed ReLU)", and
    "none (no activation, chosen instead of the assumed ReLU)". `stated`: the table's own text names it (a
    variant's says "then ReLU"): "ReLU (the variant's)", "tanh (chosen instead of the variant's ReLU)"."""
    table = ACTIVATION_NAMES[ASSUMED_ACTIVATION]
    if activation == ASSUMED_ACTIVATION:
        return f"{table} (the variant's)" if stated else f"{table} (assumed: the exam's Figure 2 is missing)"
    whose = f"the variant's {table}" if stated else f"the assumed {table}"
    if activation == "none":
        return f"none (no activation, chosen instead of {whose})"
    return f"{ACTIVATION_NAMES.get(activation, activation)} (chosen instead of {whose})"


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
    activation: str = ASSUMED_ACTIVATION  # after each conv (the exam's Figure 2 is not in the text)
    student_linear_in: int = 0  # the in-features the student's nn.Linear has (Problem 1.3)
    # Wrong in-features the answer key runs to show PyTorch's error (Problem 1.3), in its order;
    # () means student_linear_in alone (none when that is 0 or the right value).
    tried_linear_in: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", pair(self.input_size, "input_size"))
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
        return to_plain(self)

    @classmethod
    def from_dict(cls, d: dict, *, known_keys_only: bool = False) -> CNNSpec:
        """The table :meth:`to_dict` wrote (SpecError for anything else). With `known_keys_only` (a checkpoint's
        table: `svhn.model.CNNConfig.from_dict`) a key the table or a layer does not have is refused, naming it and
        the nearest one (:func:`dlexam.limits.known_keys`), where it was dropped or a TypeError's words."""
        try:
            if known_keys_only:
                _known(d, [f.name for f in fields(cls)], "")
            return cls(input_size=tuple(d["input_size"]), input_channels=int(d["input_channels"]),
                       activation=str(d["activation"]), student_linear_in=int(d["student_linear_in"]),
                       tried_linear_in=tuple(int(n) for n in d.get("tried_linear_in", ())),
                       layers=tuple(_layer(layer, i, known_keys_only) for i, layer in enumerate(d["layers"], 1)))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"not a layer table ({type(exc).__name__}: {exc})") from None


def _known(d: dict, allowed: list[str], where: str) -> None:
    try:
        known_keys(d, allowed)
    except UnknownKey as exc:
        raise SpecError(f"{where}{exc}") from None


def _layer(d: dict, number: int = 0, known_keys_only: bool = False) -> Layer:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _LAYER_TYPES:
        raise SpecError(f"unknown layer kind {kind!r}")
    if known_keys_only:
        _known(d, [f.name for f in fields(_LAYER_TYPES[kind]) if f.init], f"layer {number} ({d.get('name', '?')}): ")
    for key in ("kernel", "stride", "padding"):
        if key in d:
            d[key] = pair(d[key], key)
    return _LAYER_TYPES[kind](**d)
