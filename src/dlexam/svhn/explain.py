"""Where one number of Problem 1's CNN comes from: the exact arithmetic behind one cell of a feature map.

Click a pixel of a feature map (the web page's /cnn) or ask ``dlexam svhn explain IMAGE --layer conv1 --at
0,12,9`` and see what made it. One function per kind of cell:

- :func:`explain_conv`: a pixel of Conv-1 or Conv-2 (with its activation) is
  ``act(sum over the input channels and the k x k window of patch * kernel + bias)``: the window of the layer's
  input (the standardised image for Conv-1, Pool-1's maps for Conv-2, zeros where the window hangs over the
  padding), the kernel, the products, the bias, the sum and the activation;
- :func:`explain_pool`: a pixel of Pool-1 or Pool-2 is the average (or the maximum) of its block of the conv map
  before it;
- :func:`explain_logit`: a logit is ``bias + sum of 144 products`` of Pool-2's 3x3x16 values and the head's
  weights (Problem 1.3's Linear(144, 10), or Problem 1.4's conv heads, which are linear in the same values),
  summarised: per-channel sums and the largest products.

Every size (kernel, stride, padding, channels, map sizes) is read from the model's modules and the maps its own
layers produced (:func:`dlexam.svhn.inspect.feature_maps`), never typed here. The arithmetic is redone in float64
from the float32 values the model holds; ``model_value`` is the model's own float32 output for the same cell,
so the two can be compared (they agree to about 1e-6).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from dlexam import limits
from dlexam.errors import UserError
from dlexam.spec.cnn import activation_label
from dlexam.svhn.data.official import blank_fields
from dlexam.svhn.inspect import STAGES, FeatureMaps, feature_maps
from dlexam.svhn.model import ExamCNN

LAYERS = (*STAGES, "logits")
# Each stage's input: the stage before it ("image" is the standardised image the model reads).
SOURCES = {"conv1": "image", "pool1": "conv1", "conv2": "pool1", "pool2": "conv2", "logits": "pool2"}
ACTIVATIONS = {"conv1": "act1", "conv2": "act2"}
TOP_PRODUCTS = 5  # a logit's largest positive and negative products, listed one by one


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass
class Window:
    """Where a cell's window lies in its input map: rows top .. top+height-1, columns left .. left+width-1
    (coordinates of the unpadded input: negative or past the edge where it covers the padding)."""

    top: int
    left: int
    height: int
    width: int
    stride: tuple[int, int]
    padding: tuple[int, int]

    def to_json(self) -> dict:
        return {"top": self.top, "left": self.left, "height": self.height, "width": self.width,
                "stride": list(self.stride), "padding": list(self.padding)}


def _window(module: nn.Module, i: int, j: int) -> Window:
    kh, kw = _pair(module.kernel_size)
    sh, sw = _pair(module.stride)
    ph, pw = _pair(module.padding)
    return Window(top=i * sh - ph, left=j * sw - pw, height=kh, width=kw, stride=(sh, sw), padding=(ph, pw))


def _cut(x: torch.Tensor, w: Window) -> tuple[torch.Tensor, torch.Tensor]:
    """The window of the (C, H, W) map `x`, zeros outside it: ((C, kh, kw) values, (kh, kw) True where padding)."""
    c, h, wd = x.shape
    out = torch.zeros(c, w.height, w.width, dtype=torch.float64)
    padded = torch.ones(w.height, w.width, dtype=torch.bool)
    r0, r1 = max(w.top, 0), min(w.top + w.height, h)
    c0, c1 = max(w.left, 0), min(w.left + w.width, wd)
    if r0 < r1 and c0 < c1:
        out[:, r0 - w.top:r1 - w.top, c0 - w.left:c1 - w.left] = x[:, r0:r1, c0:c1].double()
        padded[r0 - w.top:r1 - w.top, c0 - w.left:c1 - w.left] = False
    return out, padded


def _rows(t: torch.Tensor) -> list:
    return t.tolist()


@dataclass
class ConvCell:
    """One pixel of a conv layer's map after its activation: act(sum(patch * kernel) + bias)."""

    layer: str  # "conv1" or "conv2"
    at: tuple[int, int, int]  # (channel, row, column) of the output map, from 0
    source: str  # the input map: "image" (standardised) or "pool1"
    window: Window
    patch: torch.Tensor  # (C_in, kh, kw) float64: the input under the window, 0 where it covers the padding
    padded: torch.Tensor  # (kh, kw) bool: True where the window covers the padding
    kernel: torch.Tensor  # (C_in, kh, kw) float64: the filter of output channel `at[0]`
    bias: float
    activation: str  # "relu", "tanh", "sigmoid" or "none"
    model_value: float  # the model's own output at `at` (float32)
    blank: bool = False  # the image is of one colour: nothing to read (dlexam.svhn.data.official.blank)

    @property
    def products(self) -> torch.Tensor:
        return self.patch * self.kernel  # (C_in, kh, kw)

    @property
    def channel_sums(self) -> torch.Tensor:
        return self.products.sum(dim=(1, 2))  # (C_in,)

    @property
    def total(self) -> float:
        """The sum of every product (the bias not included)."""
        return float(self.products.sum())

    @property
    def pre_activation(self) -> float:
        return self.total + self.bias

    @property
    def value(self) -> float:
        return float(_activate(self.activation, torch.tensor(self.pre_activation, dtype=torch.float64)))

    def to_json(self) -> dict:
        return {"kind": "conv", "layer": self.layer, "at": list(self.at), "source": self.source,
                "window": self.window.to_json(), "patch": _rows(self.patch), "padded": _rows(self.padded),
                "kernel": _rows(self.kernel), "products": _rows(self.products),
                "channel_sums": _rows(self.channel_sums), "sum": self.total, "bias": self.bias,
                "pre_activation": self.pre_activation, "activation": self.activation,
                "activation_label": activation_label(self.activation), "value": self.value,
                "model_value": self.model_value, **blank_fields(self.blank)}


@dataclass
class PoolCell:
    """One pixel of a pooling layer's map: the average (or the maximum) of its block of the map before it."""

    layer: str  # "pool1" or "pool2"
    at: tuple[int, int, int]
    source: str  # "conv1" or "conv2"
    mode: str  # "avg" or "max"
    window: Window
    block: torch.Tensor  # (kh, kw) float64
    model_value: float
    blank: bool = False  # the image is of one colour: nothing to read

    @property
    def value(self) -> float:
        return float(self.block.mean() if self.mode == "avg" else self.block.max())

    @property
    def picked(self) -> list[int] | None:
        """For max pooling, the (row, column) of the block's largest value."""
        if self.mode != "max":
            return None
        k = int(self.block.argmax())
        return [k // self.block.shape[1], k % self.block.shape[1]]

    def to_json(self) -> dict:
        return {"kind": "pool", "layer": self.layer, "at": list(self.at), "source": self.source, "mode": self.mode,
                "window": self.window.to_json(), "block": _rows(self.block), "sum": float(self.block.sum()),
                "count": self.block.numel(), "value": self.value, "picked": self.picked,
                "model_value": self.model_value, **blank_fields(self.blank)}


@dataclass
class LogitCell:
    """One logit: bias + the sum of the products of Pool-2's values with the head's weights for that digit."""

    digit: int
    head: str  # the model's head: "linear", "conv3x3" or "conv1x1-gap"
    inputs: torch.Tensor  # (C, H, W) float64: Pool-2's map
    weights: torch.Tensor  # (C, H, W) float64: the weight each input value is multiplied by for this digit
    bias: float
    model_value: float
    probability: float  # softmax of the model's 10 logits, this digit's
    logits: tuple[float, ...] = ()  # the model's own logits, every digit's: the softmax that gives `probability`
    blank: bool = False  # the image is of one colour: nothing to read

    @property
    def products(self) -> torch.Tensor:
        return self.inputs * self.weights  # (C, H, W)

    @property
    def value(self) -> float:
        return float(self.products.sum()) + self.bias

    @property
    def weights_words(self) -> str:
        """What the weights are, in words: a global-average head's are its 1x1 conv's divided by the places."""
        _, h, w = self.inputs.shape
        if self.head == "conv1x1-gap":
            return (f"the {self.head} head's weights (its 1x1 conv's weight for each channel / {h * w}: the global "
                    f"average's share of each of the {h}x{w} places)")
        return f"the {self.head} head's weights"

    def largest(self, sign: int, n: int = TOP_PRODUCTS) -> list[dict]:
        """The `n` largest products of `sign` (+1 or -1), each with its place (channel, row, column)."""
        p = self.products.flatten() * sign  # (C*H*W,)
        order = torch.argsort(p, descending=True)[:n]
        _, h, w = self.products.shape
        out = []
        for k in order.tolist():
            if p[k] <= 0:
                break
            c, i, j = k // (h * w), (k // w) % h, k % w
            out.append({"at": [c, i, j], "input": float(self.inputs[c, i, j]), "weight": float(self.weights[c, i, j]),
                        "product": float(self.products[c, i, j])})
        return out

    def to_json(self) -> dict:
        p = self.products
        return {"kind": "logit", "layer": "logits", "at": [self.digit], "digit": self.digit, "head": self.head,
                "source": "pool2", "count": p.numel(), "inputs": _rows(self.inputs), "weights": _rows(self.weights),
                "products": _rows(p), "channel_sums": _rows(p.sum(dim=(1, 2))),
                "positive_sum": float(p.clamp(min=0).sum()), "negative_sum": float(p.clamp(max=0).sum()),
                "largest_positive": self.largest(+1), "largest_negative": self.largest(-1),
                "sum": float(p.sum()), "bias": self.bias, "value": self.value, "model_value": self.model_value,
                "probability": self.probability, "logits": list(self.logits), "weights_words": self.weights_words,
                **blank_fields(self.blank)}


Cell = ConvCell | PoolCell | LogitCell


def _activate(name: str, x: torch.Tensor) -> torch.Tensor:
    return {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "none": lambda t: t}[name](x)


def stage_maps(model: ExamCNN, image: torch.Tensor) -> tuple[FeatureMaps, dict[str, torch.Tensor]]:
    """The model's own maps for `image` (:func:`feature_maps`) and each stage's input and output by name, the
    standardised image included as "image" (1, H, W)."""
    from dlexam.svhn.data.official import preprocess

    fm = feature_maps(model, image)
    maps = {"image": preprocess(image.unsqueeze(0))[0], **{s: getattr(fm, s) for s in STAGES}}  # (C, H, W) each
    return fm, maps


def _check_at(layer: str, at: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    names = ("channel", "row", "column") if len(shape) == 3 else ("digit",)
    ok = len(at) == len(shape) and all(isinstance(v, int) and 0 <= v < n for v, n in zip(at, shape, strict=False))
    if not ok:
        if len(shape) == 3:
            where = (f"{layer} has {shape[0]} maps of {shape[1]}x{shape[2]}: give channel,row,column with channel "
                     f"0-{shape[0] - 1}, row 0-{shape[1] - 1} and column 0-{shape[2] - 1}")
        else:
            where = f"{layer} has {shape[0]} values: give one digit 0-{shape[0] - 1}"
        got = ",".join(map(str, at)) if at else "nothing"
        raise UserError(f"{where} (got {got}; {', '.join(names)} count from 0)")
    return tuple(at)


def explain_conv(model: ExamCNN, maps: dict[str, torch.Tensor], layer: str, at: tuple[int, int, int]) -> ConvCell:
    """A pixel of `layer`'s map (conv1 or conv2, after its activation): its window of the input, the kernel, the
    bias, the sum and the activation (Problem 1's Conv-1 is 5x5, stride 1, no padding; Conv-2 4x4, padding 1)."""
    conv: nn.Conv2d = getattr(model, layer)
    c, i, j = _check_at(layer, at, tuple(maps[layer].shape))
    window = _window(conv, i, j)
    patch, padded = _cut(maps[SOURCES[layer]], window)
    return ConvCell(layer=layer, at=(c, i, j), source=SOURCES[layer], window=window, patch=patch, padded=padded,
                    kernel=conv.weight[c].detach().double(),  # (C_in, kh, kw)
                    bias=float(conv.bias[c].detach()) if conv.bias is not None else 0.0,
                    activation=model.cfg.activation, model_value=float(maps[layer][c, i, j]))


def explain_pool(model: ExamCNN, maps: dict[str, torch.Tensor], layer: str, at: tuple[int, int, int]) -> PoolCell:
    """A pixel of `layer`'s map (pool1 or pool2): the block of the conv map before it that it averages (4x4,
    stride 4 for Pool-1; 2x2, stride 2 for Pool-2 in the exam), or takes the maximum of."""
    pool = getattr(model, layer)
    c, i, j = _check_at(layer, at, tuple(maps[layer].shape))
    window = _window(pool, i, j)
    block, _ = _cut(maps[SOURCES[layer]][c:c + 1], window)  # (1, kh, kw)
    mode = "max" if isinstance(pool, nn.MaxPool2d) else "avg"
    return PoolCell(layer=layer, at=(c, i, j), source=SOURCES[layer], mode=mode, window=window, block=block[0],
                    model_value=float(maps[layer][c, i, j]))


def head_weights(model: ExamCNN, digit: int, shape: tuple[int, int, int]) -> tuple[torch.Tensor, float]:
    """The weights (C, H, W) that multiply Pool-2's values, and the bias, of `digit`'s logit: the head is linear in
    Pool-2's map whichever head the model has."""
    head = model.cfg.head
    if head == "linear":  # Flatten orders the features (C, H, W)
        w = model.fc.weight[digit].detach().double().reshape(shape)  # (C*H*W,) -> (C, H, W)
        return w, float(model.fc.bias[digit].detach())
    w = model.conv3.weight[digit].detach().double()  # (C, kh, kw)
    if head == "conv3x3":  # one window covering the whole map: the weights line up with the inputs
        return w.expand(shape), float(model.conv3.bias[digit].detach())
    _, h, wd = shape  # conv1x1-gap: a 1x1 conv at every place, then the average over the h x w places
    return (w / (h * wd)).expand(shape), float(model.conv3.bias[digit].detach())  # (C, 1, 1) -> (C, H, W)


def explain_logit(model: ExamCNN, maps: dict[str, torch.Tensor], fm: FeatureMaps, digit: int) -> LogitCell:
    """Logit `digit`: bias + sum of Pool-2's values times the head's weights (144 products for the exam's
    3x3x16 map and Linear(144, 10))."""
    (digit,) = _check_at("logits", (digit,), tuple(fm.logits.shape))
    inputs = maps["pool2"].double()  # (C, H, W)
    weights, bias = head_weights(model, digit, tuple(inputs.shape))
    return LogitCell(digit=digit, head=model.cfg.head, inputs=inputs, weights=weights.contiguous(), bias=bias,
                     model_value=float(fm.logits[digit]), probability=float(fm.probabilities[digit]),
                     logits=tuple(fm.logits.tolist()))


def explain(model: ExamCNN, image: torch.Tensor, layer: str, at: tuple[int, ...]) -> Cell:
    """The arithmetic of one cell of `layer` (conv1, pool1, conv2, pool2 or logits) at `at` ((channel, row,
    column), or (digit,) for the logits) for a uint8 32x32 `image`; `blank` where the image is of one colour."""
    if layer not in LAYERS:
        raise UserError(f"unknown layer {layer!r}: choose from {', '.join(LAYERS)}")
    fm, maps = stage_maps(model, image)
    if layer == "logits":
        (digit,) = _check_at("logits", tuple(at), tuple(fm.logits.shape))
        cell = explain_logit(model, maps, fm, digit)
    elif layer.startswith("conv"):
        cell = explain_conv(model, maps, layer, at)
    else:
        cell = explain_pool(model, maps, layer, at)
    cell.blank = fm.blank  # one colour: the standardised image is all zeros; every number follows from the biases
    return cell


def parse_at(text: str) -> tuple[int, ...]:
    """"0,12,9" -> (0, 12, 9); "7" -> (7,). Whole numbers from 0, separated by commas."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or not all(limits.digits(p) and len(p) <= 6 for p in parts):
        raise UserError(f"--at must be whole numbers from 0 separated by commas (channel,row,column such as 0,12,9, "
                        f"or one digit for the logits), got {text!r:.40}")
    return tuple(int(p) for p in parts)
