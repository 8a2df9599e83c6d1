"""Where each number of Problem 1's layer table comes from (Problems 1.2 and 1.3): its arithmetic, as data.

Click a number of /cnn's layer table, or ask ``dlexam svhn summary --explain conv2.output``, and see what made it.
:func:`explain_table` writes out every number of the table of the network a :class:`CNNConfig` builds (Version A's
by default), from the layer table itself (:meth:`dlexam.spec.CNNSpec.table`, the exam as data; nothing typed here):

- a conv layer's output size per side is ``floor((N + 2P - F) / S) + 1`` with its own N, P, F and S, its channels
  its filters; its weights ``F_h x F_w x C_in x C_out``, its biases ``C_out``, its parameters their sum;
- a pooling layer's output size by the same formula, its channels those of its input, and no parameters;
- Flatten's features ``H x W x C`` of its input; the linear layer's ``in_features`` the same product, its weights
  ``in_features x out_features``, its biases ``out_features``;
- the total: the sum of the layers' parameters (Version A: 208 + 0 + 2064 + 0 + 0 + 1450 = 3,722).

A number is named ``LAYER.FIELD``: LAYER the network's module as :func:`dlexam.svhn.summary.layer_table` names it
(conv1, pool1, conv2, pool2, flatten, fc; Problem 1.4's heads conv3 and gap) or ``total``, FIELD one of
:data:`FIELDS`. Each :class:`Step` holds its formula in symbols, what the symbols stand for, the same formula with
the numbers (an expression a test can evaluate: whole numbers, ``+ - * /``, ``floor``) and its value.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlexam.errors import UserError
from dlexam.spec import CNNSpec, Conv, Pool, conv_output_size, pair_text
from dlexam.svhn.model import HEADS, CNNConfig, version_a_table
from dlexam.svhn.summary import config_of, pool_name

FIELDS = ("kernel", "stride", "padding", "output", "in_features", "weights", "biases", "params")
SIDES = ("rows", "columns")
OUTPUT_FORMULA = "floor((N + 2P - F) / S) + 1"


@dataclass(frozen=True)
class Step:
    """One line of arithmetic: `formula` in symbols, `where` what they stand for, `expression` the formula with the
    numbers, `value` what it gives."""

    what: str  # "rows", "columns", "channels", "features", "weights", "biases", "params", "in_features", ...
    formula: str  # "floor((N + 2P - F) / S) + 1"
    where: str  # "N = 32 (its input's rows), P = 0 (padding), F = 5 (kernel), S = 1 (stride)"
    expression: str  # "floor((32 + 2*0 - 5) / 1) + 1"
    value: int

    def to_json(self) -> dict:
        return {"what": self.what, "formula": self.formula, "where": self.where, "expression": self.expression,
                "value": self.value}


@dataclass(frozen=True)
class TableNumber:
    """One number of the layer table and its arithmetic.

    `value` is a count (the last step's value), a window's [rows, columns] or an output shape as the exam writes it,
    [H, W, C] (or [features]): one step per side or dimension, in that order.
    """

    name: str  # "conv1.output"
    layer: str  # the table's name: "Conv-1", "AvgPool-1", "Flatten", "Linear", "total"
    module: str  # "conv1", ..., "fc"; "total"
    field: str  # one of FIELDS
    title: str  # "Conv-1's output (H x W x C)"
    value: int | list[int]
    text: str  # as the table writes it: "28 x 28 x 8", "5x5", "2,064"
    source: str  # where the layer's own numbers come from
    steps: tuple[Step, ...]

    def to_json(self) -> dict:
        return {"name": self.name, "layer": self.layer, "module": self.module, "field": self.field,
                "title": self.title, "value": self.value, "text": self.text, "source": self.source,
                "steps": [s.to_json() for s in self.steps]}


def _shape_text(shape: tuple[int, int, int]) -> str:
    c, h, w = shape
    return f"{h} x {w} x {c}"


def _given(what: str, value: int, words: str) -> Step:
    return Step(what, words, "", str(value), value)


def _size_steps(layer: Conv | Pool, in_shape: tuple[int, int, int]) -> list[Step]:
    """The output's rows and columns by floor((N + 2P - F) / S) + 1, each side with its own numbers."""
    steps = []
    for side, n, f, s, p in zip(SIDES, in_shape[1:], layer.kernel, layer.stride, layer.padding, strict=True):
        steps.append(Step(side, OUTPUT_FORMULA,
                          f"N = {n} (its input's {side}), P = {p} (padding), F = {f} (kernel), S = {s} (stride)",
                          f"floor(({n} + 2*{p} - {f}) / {s}) + 1", conv_output_size(n, f, s, p)))
    return steps


class _Table:
    """The numbers of one table, gathered row by row."""

    def __init__(self) -> None:
        self.numbers: dict[str, TableNumber] = {}
        self.params: list[tuple[str, int]] = []  # (layer name, its parameters), in the table's order

    def add(self, module: str, layer: str, field: str, title: str, value, text: str, source: str,
            steps: list[Step]) -> None:
        name = f"{module}.{field}"
        self.numbers[name] = TableNumber(name, layer, module, field, f"{layer}'s {title}", value, text, source,
                                         tuple(steps))

    def counts(self, module: str, layer: str, source: str, weights: Step, biases: Step) -> None:
        """A layer's weights, biases and parameters (their sum)."""
        self.add(module, layer, "weights", "weights", weights.value, f"{weights.value:,}", source, [weights])
        self.add(module, layer, "biases", "biases", biases.value, f"{biases.value:,}", source, [biases])
        total = Step("params", "weights + biases", f"weights = {weights.expression}, biases = {biases.expression}",
                     f"{weights.value} + {biases.value}", weights.value + biases.value)
        self.add(module, layer, "params", "trainable parameters", total.value, f"{total.value:,}", source,
                 [weights, biases, total])
        self.params.append((layer, total.value))

    def flatten(self, shape: tuple[int, int, int], what: str) -> None:
        """Flatten: its features, H x W x C of its input, and no parameters."""
        source = f"Flatten: lays out its input, {what}"
        features = _flat_step(shape, "features")
        self.add("flatten", "Flatten", "output", "output (features)", [features.value], f"{features.value:,}",
                 source, [features])
        nothing = "Flatten only lays its input out again"
        self.counts("flatten", "Flatten", source, Step("weights", "0", nothing, "0", 0),
                    Step("biases", "0", nothing, "0", 0))

    def window(self, module: str, layer: Conv | Pool, name: str, in_shape: tuple[int, int, int], source: str,
               kernel_steps: list[Step] | None = None) -> tuple[int, int, int]:
        """A conv's or a pool's kernel, stride, padding, output and counts; its output shape (C, H, W)."""
        c_in = in_shape[0]
        for field, pair in (("kernel", layer.kernel), ("stride", layer.stride), ("padding", layer.padding)):
            steps = kernel_steps if field == "kernel" and kernel_steps else [
                _given(side, v, f"{name}'s {field} ({side}) in the layer table") for side, v in zip(SIDES, pair,
                                                                                                   strict=True)]
            text = f"{pair[0]}x{pair[1]}" if field == "kernel" else pair_text(pair)
            self.add(module, name, field, field, list(pair), text, source, steps)
        sizes = _size_steps(layer, in_shape)
        if isinstance(layer, Conv):
            c_out = layer.out_channels
            channels = _given("channels", c_out, "C_out (its filters)")
            (fh, fw) = layer.kernel
            weights = Step("weights", "F_h x F_w x C_in x C_out",
                           f"F_h = {fh}, F_w = {fw} (kernel), C_in = {c_in} (its input's channels), C_out = {c_out} "
                           "(filters)", f"{fh} * {fw} * {c_in} * {c_out}", fh * fw * c_in * c_out)
            biases = Step("biases", "C_out", "one bias per filter", str(c_out), c_out)
        else:
            channels = _given("channels", c_in, "C_in (a pool works on each channel alone)")
            weights = Step("weights", "0", "pooling averages or takes the maximum: nothing to learn", "0", 0)
            biases = Step("biases", "0", "pooling has no bias", "0", 0)
        out = (channels.value, sizes[0].value, sizes[1].value)
        self.add(module, name, "output", "output (H x W x C)", [out[1], out[2], out[0]], _shape_text(out), source,
                 [*sizes, channels])
        self.counts(module, name, source, weights, biases)
        return out


def _flat_step(shape: tuple[int, int, int], what: str) -> Step:
    c, h, w = shape
    return Step(what, "H x W x C of its input", f"its input is {h} x {w} x {c}", f"{h} * {w} * {c}", c * h * w)


def _window_words(layer: Conv | Pool, name: str) -> str:
    what = f"{layer.out_channels} filters" if isinstance(layer, Conv) else "a window"
    return (f"{name}: {what} {layer.kernel[0]}x{layer.kernel[1]}, stride {pair_text(layer.stride)}, padding "
            f"{pair_text(layer.padding)}")


def explain_table(cfg: CNNConfig | CNNSpec | None = None) -> dict[str, TableNumber]:
    """Every number of the layer table of the network `cfg` builds (a :class:`CNNConfig`, or a layer table with the
    exam's open choices: Version A's by default), by name (``conv1.kernel``, ..., ``fc.params``, ``total.params``),
    in the table's order, with the arithmetic that makes it."""
    cfg = config_of(cfg)
    cnn = cfg.cnn
    table = "the exam's layer table" if cnn == version_a_table() else "the variant's layer table"  # a variant's own
    t = _Table()
    convs = pools = 0
    previous = f"the {cnn.input_size[0]} x {cnn.input_size[1]} x {cnn.input_channels} image"
    shape = (cnn.input_channels, *cnn.input_size)
    for row in cnn.table()[:-1]:
        layer = row.layer
        if isinstance(layer, Conv):
            convs += 1
            module, name = f"conv{convs}", layer.name
        else:
            pools += 1
            module, name = f"pool{pools}", pool_name(cfg, layer, pools)
        source = f"{table} (Problem 1): {_window_words(layer, name)}; its input: {previous}"
        shape = t.window(module, layer, name, row.in_shape, source)
        previous = f"{name}'s {_shape_text(shape)}"
    classes = cnn.num_classes
    if cfg.head == "linear":
        if cfg.linear_in != cnn.flat_features():
            raise UserError(f"nn.Linear({cfg.linear_in}, {classes}) does not fit the {_shape_text(shape)} map before "
                            f"it: the network does not run (`dlexam svhn summary --linear-in {cfg.linear_in}`)")
        t.flatten(shape, f"{previous}, as one vector (PyTorch's order: C, H, W)")
        name = cnn.layers[-1].name
        source = (f"{table} (Problem 1.3): {name} maps the flattened {previous} to the {classes} "
                  "classes")
        in_features = _flat_step(shape, "in_features")
        t.add("fc", name, "in_features", "in_features", in_features.value, f"{in_features.value:,}", source,
              [in_features])
        t.add("fc", name, "output", "output (features)", [classes], str(classes), source,
              [_given("features", classes, "out_features (the classes)")])
        t.counts("fc", name, source, Step("weights", "in_features x out_features",
                                          f"in_features = {in_features.expression} = {in_features.value}, "
                                          f"out_features = {classes} (the classes)",
                                          f"{in_features.value} * {classes}", in_features.value * classes),
                 Step("biases", "out_features", "one bias per class", str(classes), classes))
    else:  # Problem 1.4: a conv with one filter per class (its kernel the last map's size, or 1x1 then the average)
        whole = cfg.head == "conv3x3"
        head = cnn.head_conv(whole_map=whole)
        kernel_steps = None
        if whole:
            kernel_steps = [_given(side, n, f"its input's {side}: the kernel covers the whole map")
                            for side, n in zip(SIDES, shape[1:], strict=True)]
        source = (f"Problem 1.4 ({'v1' if whole else 'v2'}): {_window_words(head, head.name)}, one filter per class, "
                  f"in place of Flatten and the linear layer; its input: {previous}")
        shape = t.window(f"conv{convs + 1}", head, head.name, shape, source, kernel_steps)
        previous = f"{head.name}'s {_shape_text(shape)}"
        if not whole:
            gap = Pool("GlobalAvgPool", kernel=shape[1:], stride=shape[1:])
            source = f"Problem 1.4 (v2): the average of each of its input's maps; its input: {previous}"
            steps = [_given(side, n, f"its input's {side}: the window is the whole map")
                     for side, n in zip(SIDES, shape[1:], strict=True)]
            shape = t.window("gap", gap, gap.name, shape, source, steps)
            previous = f"GlobalAvgPool's {_shape_text(shape)}"
        t.flatten(shape, f"{previous}, as one vector: the {classes} logits")
    names, counts = zip(*t.params, strict=True)
    total = Step("params", " + ".join(names), "each layer's parameters (weights + biases)",
                 " + ".join(map(str, counts)), sum(counts))
    t.numbers["total.params"] = TableNumber("total.params", "total", "total", "params",
                                            "the network's trainable parameters", total.value, f"{total.value:,}",
                                            "the sum of the layers' parameters", (total,))
    return t.numbers


def explain_number(name: str, cfg: CNNConfig | CNNSpec | None = None) -> TableNumber:
    """The number `name` (``LAYER.FIELD``: ``conv2.output``, ``fc.weights``; ``total`` is ``total.params``) of the
    table :func:`explain_table` writes out; a UserError naming the choices for any other name."""
    numbers = explain_table(cfg)
    key = str(name).strip()
    key = "total.params" if key == "total" else key
    if key in numbers:
        return numbers[key]
    layers = list(dict.fromkeys(n.module for n in numbers.values()))
    module, _, field = key.partition(".")
    if module in layers:
        fields = [n.field for n in numbers.values() if n.module == module]
        raise UserError(f"{module} has no {field or 'FIELD'!r:.40} in the layer table: choose from "
                        f"{', '.join(fields)} ({module}.{fields[0]}, say)")
    fields = [f for f in FIELDS if any(n.field == f for n in numbers.values())]  # a conv head has no in_features
    head = next(k for k in reversed(numbers) if k.endswith(".weights") and numbers[k].value)  # fc's, or conv3's
    raise UserError(f"no number {str(name)!r:.40} in the layer table: name one as LAYER.FIELD with LAYER one of "
                    f"{', '.join(layers)} and FIELD one of {', '.join(fields)} (conv1.output, {head}, total)"
                    + _other_head(module, config_of(cfg)))


def _other_head(module: str, cfg: CNNConfig) -> str:
    """Where `module` is a layer of another of Problem 1's heads (conv3 of conv3x3, gap of conv1x1-gap), which head
    it is; else nothing (no flag named: the web page's layer table asks this too)."""
    from dataclasses import replace

    heads = [h for h in HEADS if h != cfg.head
             and any(n.module == module for n in explain_table(replace(cfg, head=h)).values())]
    return (f"; {module} is a layer of the head {' or '.join(heads)}, not of this network's ({cfg.head})"
            if heads else "")
