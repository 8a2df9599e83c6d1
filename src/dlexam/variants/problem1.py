"""Problem 1 of a variant: a small CNN's receptive field, parameter counts, shapes and a convolutional head.

Every number is integer arithmetic on the spec's layer table (:meth:`dlexam.spec.CNNSpec.table`, the exam's
formula (N + 2P - F)/S + 1); the checks compare the shapes with PyTorch's own layers.
"""

from __future__ import annotations

from fractions import Fraction

from dlexam.spec import CNNSpec, Conv, ExamSpec, Pool
from dlexam.spec.numbers import conv_output_size
from dlexam.variants.model import Field, FollowThrough, Items, Mistake, Question, Table, Text, distinct


def param_mistakes(filters: int, kernel: tuple[int, int], channels: int) -> tuple[Mistake, ...]:
    """A convolution's parameter count as common mistakes give it: the biases left out, each filter counted over one
    input channel (where there are several), or over the layer's output channels (where they differ)."""
    (kh, kw), right = kernel, filters * (kernel[0] * kernel[1] * channels + 1)
    out = [Mistake(Fraction(filters * kh * kw * channels), f"the weights without the biases: {filters} x {kh} x {kw} "
                   f"x {channels} = {filters * kh * kw * channels}; each of the {filters} filters has a bias too")]
    if channels > 1:
        out.append(Mistake(Fraction(filters * (kh * kw + 1)), f"{filters} x ({kh} x {kw} + 1) = "
                           f"{filters * (kh * kw + 1)} counts one input channel: each filter spans all {channels}"))
    if filters != channels:
        swapped = filters * (kh * kw * filters + 1)
        out.append(Mistake(Fraction(swapped), f"{filters} x ({kh} x {kw} x {filters} + 1) = {swapped} counts the "
                           f"{filters} output channels as its input: each filter spans the {channels} input channels"))
    return tuple(m for m in out if m.answer != right)


SIZE_SLIPS = {  # a slip in the output size (N + 2P - F)/S + 1: (numerator, divisor) it computes, and its words
    "padding": (lambda n, k, s, p: (n - k, s), "without its zero padding"),
    "plus one": (lambda n, k, s, p: (n + 2 * p - k - s, s), "without the + 1"),
    "stride": (lambda n, k, s, p: (n + 2 * p - k, 1), "with its stride left out"),
}
SLIP_TEXT = {  # the slipped formula on a layer's height n: k kernel, s stride, p padding, x the slip's size
    "padding": lambda n, k, s, p, x: f"({n} - {k})/{s} + 1 = {x}",
    "plus one": lambda n, k, s, p, x: f"({n} + {2 * p} - {k})/{s} = {x}",
    "stride": lambda n, k, s, p, x: f"({n} + {2 * p} - {k}) + 1 = {x}",
}


def slipped_sizes(cnn: CNNSpec, slip: str, at: int | None) -> tuple[tuple[tuple[int, int, int], ...], str] | None:
    """The feature layers' output shapes (C, H, W) with `slip` (:data:`SIZE_SLIPS`) made at layer `at` (None: at
    every layer), each later layer computed right from the size before it, and the slipped layer's height as
    computed, beside the right formula on that height ("(6 - 3)/1 + 1 = 4, where (6 + 2 - 3)/1 + 1 = 6"); None
    where a division is not exact (no one size to name) or a size is below 1."""
    c, (h, w) = cnn.input_channels, cnn.input_size
    out, said = [], ""
    for i, layer in enumerate(cnn.layers[:-1]):
        sizes = []
        for n, k, st, pd in zip((h, w), layer.kernel, layer.stride, layer.padding, strict=True):
            top, div = SIZE_SLIPS[slip][0](n, k, st, pd) if at in (None, i) else (n + 2 * pd - k, st)
            if top % div or top // div + 1 < 1:
                return None
            sizes.append(top // div + 1)
            if i == at and not said:
                right = f"({n} + {2 * pd} - {k})/{st} + 1 = {conv_output_size(n, k, st, pd)}"
                said = f"{SLIP_TEXT[slip](n, k, st, pd, top // div + 1)}, where {right}"
        h, w = sizes
        c = layer.out_channels if isinstance(layer, Conv) else c
        out.append((c, h, w))
    return tuple(out), said


def shape_mistakes(cnn: CNNSpec, shapes) -> tuple[Mistake, ...]:
    """Pr1.3 (a)'s: each row as (height, width, channels), Version A's order; and the output size with a slip
    (:data:`SIZE_SLIPS`: the padding, the + 1 or the stride left out) at one layer, the layers after it computed
    right from the wrong size, or at every layer."""
    layers = cnn.layers[:-1]
    out = [Mistake(tuple((hh, ww, cc) for cc, hh, ww in shapes),
                   "each row given as (height, width, channels), the order of Version A's 28 x 28 x 8: the question "
                   "asks for (channels, height, width), PyTorch's order")]
    for slip, (_, words) in SIZE_SLIPS.items():
        for at in (*range(len(layers)), None):
            if (slipped := slipped_sizes(cnn, slip, at)) is None:
                continue
            wrong, said = slipped
            if at is None:
                why = f"every layer's size {words}: (N + 2P - F)/S + 1 is the output size"
            else:
                later = "; the layers after it follow from that size" if at < len(layers) - 1 else ""
                why = f"{layers[at].name}'s size {words}: {said}{later}"
            out.append(Mistake(tuple(tuple(Fraction(x) for x in r) for r in wrong), why))
    return distinct(shapes, out)


def flat_mistakes(cnn: CNNSpec) -> tuple[Mistake, ...]:
    """Pr1.3 (b)'s: the last map's H x W (its channels left out), and an earlier layer's map flattened (the layers
    after it left out; the student's own number is the map before the last layer)."""
    table = cnn.table()[:-1]
    c, h, w = table[-1].out_shape
    out = [Mistake(Fraction(h * w), f"{h} x {w} = {h * w} leaves out the {c} channels: flattening gives C x H x W")]
    for k in range(len(table) - 2, -1, -1):
        cc, hh, ww = table[k].out_shape
        out.append(Mistake(Fraction(cc * hh * ww), f"{cc} x {hh} x {ww} = {cc * hh * ww} is {table[k].layer.name}'s "
                           f"map flattened: the linear layer reads the map after {table[-1].layer.name}, "
                           f"{c} x {h} x {w}"))
    return distinct(Fraction(c * h * w), out)


def receptive_field(cnn: CNNSpec) -> int:
    """The side of the input window one unit after the last feature layer sees (square kernels and strides):
    r <- r + (k - 1) j, j <- j s, layer by layer from r = j = 1."""
    r, jump = 1, 1
    for layer in cnn.layers[:-1]:
        r += (layer.kernel[0] - 1) * jump
        jump *= layer.stride[0]
    return r


def rf_mistakes(cnn: CNNSpec) -> tuple[Mistake, ...]:
    """Pr1.1 (a)'s mistakes: the receptive field after an earlier layer (the layers after it left out), the strides
    left out (1 + the sum of k - 1), each layer's own stride counted in its step, and one off by one (the starting
    pixel left out, or counted again with the first layer's k pixels); each only where it differs from the answer
    and from the ones before."""
    layers, steps, right = cnn.layers[:-1], _rf_steps(cnn), receptive_field(cnn)
    out = []
    for k in range(len(layers) - 2, -1, -1):  # the nearest layer first: "MaxPool-2 forgotten" before the others
        rest = [layer.name for layer in layers[k + 1:]]
        later = rest[0] if len(rest) == 1 else ", ".join(rest[:-1]) + f" and {rest[-1]}"
        out.append(Mistake(Fraction(steps[k]), f"{steps[k]} is the receptive field after {layers[k].name}: {later} "
                           f"after it widen{'s' if len(rest) == 1 else ''} it to {right}"))
    flat = 1 + sum(layer.kernel[0] - 1 for layer in layers)
    out.append(Mistake(Fraction(flat), f"{flat} leaves the strides out: 1 + "
                       + " + ".join(f"({layer.kernel[0]} - 1)" for layer in layers)
                       + ": a layer after a stride-s layer steps s input pixels at a time"))
    own, jump = 1, 1  # each layer's k - 1 times the strides up to and including its own
    for layer in layers:
        jump *= layer.stride[0]
        own += (layer.kernel[0] - 1) * jump
    out.append(Mistake(Fraction(own), f"{own} counts each layer's own stride too: a layer adds (k - 1) times the "
                       "product of the strides before it, not including its own"))
    first = layers[0].kernel[0]
    out.append(Mistake(Fraction(right - 1), f"off by one: {right - 1} leaves out the pixel r starts from (r = 1 before "
                       f"any layer); the sum of (k - 1) x the strides before each layer is {right - 1}, and the field "
                       f"is 1 more, {right}"))
    out.append(Mistake(Fraction(right + 1), f"off by one: {right + 1} counts the first layer's {first} pixels besides "
                       f"the one r starts from; {layers[0].name} adds k - 1 = {first - 1} to r = 1, since its {first} "
                       f"pixels include that one, so the field is {right}"))
    return distinct(Fraction(right), out)


def layer_line(layer) -> str:
    if isinstance(layer, Conv):
        return (f"{layer.name}: {layer.out_channels} filters of {layer.kernel[0]}x{layer.kernel[1]}, stride "
                f"{layer.stride[0]}, zero padding {layer.padding[0]}, then ReLU")
    if isinstance(layer, Pool):
        (kh, kw), s = layer.kernel, layer.stride[0]
        return f"{layer.name}: {layer.mode} pooling over {kh}x{kw} windows, stride {s}"
    return f"{layer.name}: flatten, then a fully connected layer to {layer.out_features} outputs"


def setting(cnn: CNNSpec) -> list:
    c, (h, w) = cnn.input_channels, cnn.input_size
    kind = "grayscale" if c == 1 else f"{c}-channel"
    return [Text(f"A CNN classifies {h}x{w} {kind} images into {cnn.num_classes} classes. Its layers, in order:"),
            Items(tuple(layer_line(layer) for layer in cnn.layers))]


def size_reason(row, dim: int) -> str:
    layer, n = row.layer, row.in_shape[1 + dim]
    k, s, p = layer.kernel[dim], layer.stride[dim], layer.padding[dim]
    return f"(N + 2P - F)/S + 1 = ({n} + {2 * p} - {k})/{s} + 1 = {row.out_shape[1 + dim]}"


def questions(spec: ExamSpec) -> list[Question]:
    cnn, pts = spec.cnn, dict(spec.points)
    table = cnn.table()
    features, linear = table[:-1], table[-1]
    flat = cnn.flat_features()
    c, h, w = linear.in_shape
    rf = receptive_field(cnn)
    shapes = tuple(tuple(Fraction(v) for v in r.out_shape) for r in features)
    names = tuple(r.layer.name for r in features)
    common = setting(cnn)

    def shape_reason(i: int, j: int) -> str:
        row = features[i]
        if j == 0:
            return (f"{row.layer.name} has {row.out_shape[0]} filters" if isinstance(row.layer, Conv) else
                    f"pooling keeps the {row.out_shape[0]} channels")
        return f"{row.layer.name}: " + size_reason(row, j - 1)

    def param_why(row) -> str:
        if isinstance(row.layer, Conv):
            (kh, kw), cin = row.layer.kernel, row.in_shape[0]
            return f"{row.layer.out_channels} x ({kh} x {kw} x {cin} + 1) = {row.params}"
        return "pooling has no trainable weights: 0"

    head_params = cnn.num_classes * (h * w * c + 1)
    return [
        Question("Pr1.1", "Receptive field and pooling", pts["Pr1.1"], (
            Text(f"(a) How many input pixels wide is the receptive field of one unit in the output of "
                 f"{features[-1].layer.name} (ignore the image border)? (b) What does pooling buy the network, and "
                 "how do max and average pooling differ?"),), (
            Field("rf", "number", Fraction(rf), Fraction(3, 5), "pixels",
                  why=rf_arithmetic(cnn), mistakes=rf_mistakes(cnn)),
            Field("pooling", "essay", "Pooling makes the features robust to small shifts of the input and widens "
                  "the receptive field of deeper units at no cost in weights. Max pooling keeps the strongest "
                  "response in each window; average pooling smooths all of them.", Fraction(2, 5), "a few lines")), (
            Items(tuple(f"after {r.layer.name}: r = {v}" for r, v in zip(features, _rf_steps(cnn), strict=True))),
            Text(f"The receptive field is {rf}x{rf} input pixels.")), "convolution", tuple(common)),
        Question("Pr1.2", "Trainable parameters", pts["Pr1.2"], (
            Text("How many trainable parameters (weights and biases) does each of " + ", ".join(names)
                 + " have?"),), tuple(
            Field(r.layer.name, "number", Fraction(r.params), Fraction(1, len(features)), "parameters",
                  why=param_why(r), mistakes=param_mistakes(r.layer.out_channels, r.layer.kernel, r.in_shape[0])
                  if isinstance(r.layer, Conv) else (), follows=(FollowThrough(
                      "Pr1.3.shapes", "conv", "shapes", f"{r.layer.name}'s count from the channels C of your shapes, "
                      f"C x ({r.layer.kernel[0]} x {r.layer.kernel[1]} x C before + 1)", {
                          "row": i, "kernel": list(r.layer.kernel), "in_channels": cnn.input_channels}),)
                  if isinstance(r.layer, Conv) else ()) for i, r in enumerate(features)), (
            Items(tuple(f"{r.layer.name}: {param_why(r)}" for r in features)),), "convolution", tuple(common)),
        Question("Pr1.3", "Shapes and the student's linear layer", pts["Pr1.3"], (
            Text(f"A student wrote the last layer as nn.Linear({cnn.student_linear_in}, {cnn.num_classes}) and "
                 "got a shape mismatch. (a) Give the output shape (channels, height, width) of each of "
                 + ", ".join(names) + ". (b) How many in-features must the linear layer have?"),), (
            Field("shapes", "matrix", shapes, Fraction(3, 5), "C, H, W per layer", row_labels=names,
                  col_labels=("C", "H", "W"), reason=shape_reason, mistakes=shape_mistakes(cnn, shapes)),
            Field("in_features", "number", Fraction(flat), Fraction(2, 5), "in-features", mistakes=flat_mistakes(cnn),
                  follows=(FollowThrough("Pr1.3.shapes", "flat", "shapes", "your last shape flattened, C x H x W"),),
                  why=f"the last map is {c} x {h} x {w} = {flat} values when flattened; the student's "
                      f"{cnn.student_linear_in} is the map before {features[-1].layer.name}")), (
            Table("output shapes", ("C", "H", "W", "because"), tuple(
                (*map(str, r.out_shape), size_reason(r, 0)) for r in features), names),
            Text(f"Flattening {c}x{h}x{w} gives {flat}: nn.Linear({flat}, {cnn.num_classes}). The student's "
                 f"{cnn.student_linear_in} is the size before {features[-1].layer.name}, the last pooling "
                 "layer forgotten.")), "convolution", tuple(common)),
        Question("Pr1.4", "A convolutional head", pts["Pr1.4"], (
            Text("Replace the flatten and linear layers by one convolution (stride 1, no padding) whose output is "
                 f"1x1x{cnn.num_classes}. "
                 "Give (a) its kernel size (the side of a square kernel), (b) its number of filters, (c) its "
                 "number of trainable parameters."),), (
            Field("kernel", "number", Fraction(h), Fraction(2, 5), "kernel side",
                  why=f"the kernel must cover the whole {h}x{w} map to leave 1x1",
                  follows=(FollowThrough("Pr1.3.shapes", "side", "shapes", "your last shape's side"),)),
            Field("filters", "number", Fraction(cnn.num_classes), Fraction(1, 5), "filters",
                  why=f"one filter per class: {cnn.num_classes}", mistakes=distinct(Fraction(cnn.num_classes), [
                      Mistake(Fraction(c), f"{c} is the last map's channels: each filter spans all {c} of them, and "
                                           f"there is one filter per class, {cnn.num_classes}")])),
            Field("params", "number", Fraction(head_params), Fraction(2, 5), "parameters",
                  why=f"{cnn.num_classes} x ({h} x {w} x {c} + 1) = {head_params}, as many as the linear layer",
                  mistakes=param_mistakes(cnn.num_classes, (h, w), c), follows=(
                      FollowThrough("Pr1.4.kernel", "head_kernel", "kernel", f"{cnn.num_classes} x (k x k x {c} + 1) "
                                    "with your kernel side k", {"classes": cnn.num_classes, "channels": c}),
                      FollowThrough("Pr1.3.shapes", "head", "shapes", f"{cnn.num_classes} x (H x W x C + 1) of your "
                                    "last shape", {"classes": cnn.num_classes})))), (
            Text(f"A {h}x{w} convolution with {cnn.num_classes} filters over the {c} channels of the last map: "
                 f"{cnn.num_classes} x ({h} x {w} x {c} + 1) = {head_params} parameters, the same function as the "
                 "linear layer."),), "convolution", tuple(common)),
    ]


def rf_arithmetic(cnn: CNNSpec) -> str:
    """The receptive field's sum, term by term: "r = 1 + (6 - 1) x 1 + (4 - 1) x 1 + (3 - 1) x 4 = 17: each layer
    adds (k - 1) times the product of the strides before it" (the grader's reason for a wrong Pr1.1.rf)."""
    terms, jump = [], 1
    for layer in cnn.layers[:-1]:
        terms.append(f"({layer.kernel[0]} - 1) x {jump}")
        jump *= layer.stride[0]
    return (f"r = 1 + {' + '.join(terms)} = {receptive_field(cnn)}: each layer adds (k - 1) times the product of the "
            "strides before it")


def _rf_steps(cnn: CNNSpec) -> list[int]:
    r, jump, out = 1, 1, []
    for layer in cnn.layers[:-1]:
        r += (layer.kernel[0] - 1) * jump
        jump *= layer.stride[0]
        out.append(r)
    return out
