"""Problem 1's layer table read back from a built network, the student's bug (1.3) and the conv head (1.4).

:func:`network_summary` is what ``dlexam svhn summary --json`` prints, an interface other tools rely on
(issue 19, item 6; docs/svhn.md): ``input`` [C, H, W], one object per layer in ``layers`` and
``total_params``. Nothing in it is typed in: the network is built from its :class:`dlexam.spec.CNNSpec`,
shapes come from a forward pass (forward hooks), windows from the layers themselves and counts from
their parameters. :func:`layer_summary` is the same table as the exam writes it (H x W x C), for the
text table, the report and the web page.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from dlexam.spec import CNNSpec, Conv, conv_output_size, divides_evenly, pair_text
from dlexam.spec.cnn import activation_label
from dlexam.svhn.model import CNNConfig, ExamCNN, version_a_table


def config_of(cfg: CNNConfig | CNNSpec | None) -> CNNConfig:
    if cfg is None:
        return CNNConfig()
    return CNNConfig(cnn=cfg) if isinstance(cfg, CNNSpec) else cfg


def _pair(v) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(v[0]), int(v[1])]


def pool_name(cfg: CNNConfig, layer, index: int) -> str:
    """The table's name, unless the config changes the pool's mode: then MaxPool-j / AvgPool-j."""
    mode = cfg.pool_mode(layer)
    return layer.name if mode == layer.mode else f"{mode.capitalize()}Pool-{index}"


def layer_table(cfg: CNNConfig | CNNSpec | None = None) -> list[dict]:
    """One row per layer of the network `cfg` builds (Version A's by default), in the order it runs.

    Each row: ``name`` (the table's: "Conv-1", "AvgPool-1", ...), ``module`` (conv1, pool1, flatten, fc,
    conv3, gap), ``kind`` (conv, pool, flatten, linear), ``out_shape`` ([C, H, W], or [features]),
    ``weights``, ``biases`` (the counts of the module's weight and bias) and ``params`` (trainable); convs
    add ``kernel``, ``stride``, ``padding`` ([rows, columns]),
    ``out_channels`` and ``activation``; pools ``mode``, ``kernel``, ``stride``, ``padding`` (global average
    pooling is the average pool whose window is the whole map); the linear layer ``in_features`` and
    ``out_features``. Problems 1.2 and 1.3 ask for these shapes and counts.
    """
    cfg = config_of(cfg)
    model = ExamCNN(cfg, fused=False)
    spec_of = dict(zip([n for n in model.stages if not n.startswith("act")], cfg.cnn.layers[:-1], strict=True))
    seen: dict[str, tuple[list[int], list[int]]] = {}  # module -> (input shape, output shape), batch dropped
    hooks = []
    for name, module in model.named_children():
        if not name.startswith("act"):

            def hook(_m, inp, out, name=name):
                seen[name] = (list(inp[0].shape[1:]), list(out.shape[1:]))

            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(torch.zeros(1, cfg.cnn.input_channels, *cfg.cnn.input_size))
    for h in hooks:
        h.remove()
    rows, pools = [], 0
    for name, module in model.named_children():
        if name not in seen:
            continue
        in_shape, out_shape = seen[name]
        row: dict = {"name": "", "module": name}
        if isinstance(module, nn.Conv2d):
            layer = spec_of.get(name) or cfg.cnn.head_conv(whole_map=cfg.head == "conv3x3")
            row |= {"name": layer.name, "kind": "conv", "kernel": _pair(module.kernel_size),
                    "stride": _pair(module.stride), "padding": _pair(module.padding),
                    "out_channels": module.out_channels,
                    "activation": cfg.activation if name in spec_of else "none"}
        elif isinstance(module, nn.AvgPool2d | nn.MaxPool2d):
            pools += 1
            row |= {"name": pool_name(cfg, spec_of[name], pools), "kind": "pool",
                    "mode": "avg" if isinstance(module, nn.AvgPool2d) else "max",
                    "kernel": _pair(module.kernel_size), "stride": _pair(module.stride),
                    "padding": _pair(module.padding)}
        elif isinstance(module, nn.AdaptiveAvgPool2d):  # the average over the whole map
            row |= {"name": "GlobalAvgPool", "kind": "pool", "mode": "avg", "kernel": in_shape[1:],
                    "stride": in_shape[1:], "padding": [0, 0]}
        elif isinstance(module, nn.Flatten):
            row |= {"name": "Flatten", "kind": "flatten"}
        else:
            row |= {"name": cfg.cnn.layers[-1].name, "kind": "linear", "in_features": module.in_features,
                    "out_features": module.out_features}
        counts = {kind: sum(p.numel() for n, p in module.named_parameters() if p.requires_grad and n == kind)
                  for kind in ("weight", "bias")}
        rows.append(row | {"out_shape": out_shape, "weights": counts["weight"], "biases": counts["bias"],
                           "params": sum(p.numel() for p in module.parameters() if p.requires_grad)})
    return rows


def network_summary(cfg: CNNConfig | CNNSpec | None = None) -> dict:
    """``dlexam svhn summary --json``: {"input": [C, H, W], "layers": :func:`layer_table`, "total_params",
    "config": the choices the table leaves open (activation, pool, head, linear_in)}. Takes a layer table
    (a :class:`CNNSpec`: a variant's, say) or a whole :class:`CNNConfig`."""
    cfg = config_of(cfg)
    rows = layer_table(cfg)
    config = {k: v for k, v in cfg.to_dict().items() if k != "cnn"}
    return {"input": [cfg.cnn.input_channels, *cfg.cnn.input_size], "layers": rows,
            "total_params": sum(r["params"] for r in rows), "config": config}


def layer_summary(cfg: CNNConfig | CNNSpec | None = None) -> list[dict]:
    """:func:`layer_table` as the exam writes it (see :func:`exam_rows`): the text table, the report, the web page."""
    cfg = config_of(cfg)
    return exam_rows(layer_table(cfg), cfg)


def exam_rows(rows: list[dict], cfg: CNNConfig) -> list[dict]:
    """Rows of :func:`layer_table` as {"layer" (with its activation, marked as assumed: "Conv-1 + ReLU (assumed:
    the exam's Figure 2 is missing)", :func:`dlexam.spec.cnn.activation_label`; the conv head: "Conv-3
    (3x3 head)"), "module", "output_shape" (H, W, C, the exam's order), "weights", "biases",
    "params"}, and a conv's or pool's
    "kernel", "stride" and "padding" ([rows, columns], as the modules have them)."""
    head = f"conv{len(cfg.cnn.convs) + 1}"
    stated = cfg.cnn != version_a_table()  # a variant's text states its ReLU; Version A's Figure 2 is missing
    out = []
    for r in rows:
        name = r["name"]
        if r["module"] == head:
            name += f" ({r['kernel'][0]}x{r['kernel'][1]} head)"
        elif r["kind"] == "conv" and (r["activation"] != "none" or cfg.activation == "none"):
            name += f" + {activation_label(r['activation'], stated)}"
        s = r["out_shape"]
        out.append({"layer": name, "module": r["module"], "output_shape": [s[1], s[2], s[0]] if len(s) == 3 else s,
                    "weights": r["weights"], "biases": r["biases"], "params": r["params"],
                    **{k: r[k] for k in ("kernel", "stride", "padding") if k in r}})
    return out


def _formula(n: int, kernel: int, stride: int, padding: int) -> str:
    """'(7 + 2 - 4)/1 + 1 = 6', with floor() where the stride does not divide evenly."""
    inner = f"({n}{f' + {2 * padding}' if padding else ''} - {kernel})/{stride}"
    if not divides_evenly(n, kernel, stride, padding):
        inner = f"floor({inner})"
    return f"{inner} + 1 = {conv_output_size(n, kernel, stride, padding)}"


def shape_arithmetic(cnn: CNNSpec | None = None) -> list[str]:
    """Problem 1.3's solution, one line a layer, from the table: the sizes that give the linear layer its
    in-features (Version A: ... -> 3x3x16, 3*3*16 = 144 -> nn.Linear(144, 10))."""
    cnn = cnn or version_a_table()
    rows = cnn.table()
    c, h, w = rows[0].in_shape
    lines = [f"input {h}x{w}x{c}"]
    for r in rows[:-1]:
        layer, (_, h, w), (c, oh, ow) = r.layer, r.in_shape, r.out_shape
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel, layer.stride, layer.padding
        window = f"{layer.name} {kh}x{kw} stride {pair_text(layer.stride)}"
        if isinstance(layer, Conv) or layer.padding != (0, 0):
            window += f" pad {pair_text(layer.padding)}"
        if (h, kh, sh, ph) == (w, kw, sw, pw):
            sizes = _formula(h, kh, sh, ph)
        else:
            sizes = f"rows {_formula(h, kh, sh, ph)}, columns {_formula(w, kw, sw, pw)}"
        lines.append(f"{window}: {sizes} -> {oh}x{ow}x{c}")
    c, h, w = cnn.feature_shape
    lines.append(f"Flatten: {h}*{w}*{c} = {cnn.flat_features()} -> nn.Linear({cnn.flat_features()}, "
                 f"{cnn.num_classes})")
    return lines


def student_bug(linear_in: int, batch_size: int = 64, cnn: CNNSpec | None = None) -> dict:
    """Problem 1.3: build the net with nn.Linear(linear_in, classes), run it, and report what happens.

    Returns {"linear_in", "layer" (the student's "nn.Linear(N, classes)"), "error" (PyTorch's own message, or
    None when the net runs), "batch_size" (the images run: the 64 of "(64x144 and 256x10)"), "error_words" (what each
    factor of the error's shapes is: "64x144: the batch of 64 images this check runs, each 3x3x16 = 144 features
    after Flatten; 256x10: the weight of nn.Linear(256, 10), transposed"; None when the net runs, or where the error
    names other shapes), "correct_in_features", "fix" (None when the net runs: until 2026-12-07 the right N got
    "self.fc = nn.Linear(144, 10)  # was nn.Linear(144, 10)", which `svhn summary` did not print), "arithmetic"}.
    """
    cnn = cnn or version_a_table()
    model = ExamCNN(CNNConfig(linear_in=linear_in, cnn=cnn), fused=False)
    error = None
    try:
        with torch.no_grad():
            model(torch.zeros(batch_size, cnn.input_channels, *cnn.input_size))
    except RuntimeError as exc:
        error = str(exc).strip().splitlines()[0]
    correct, classes = cnn.flat_features(), cnn.num_classes
    layer = f"nn.Linear({int(linear_in)}, {classes})"
    c, h, w = cnn.feature_shape
    words = None  # F.linear's mat1 is the flattened batch, its mat2 the weight transposed: said where the error says so
    if error is not None and f"({batch_size}x{correct} and {int(linear_in)}x{classes})" in error:
        words = (f"{batch_size}x{correct}: the batch of {batch_size} images this check runs, each {h}x{w}x{c} = "
                 f"{correct} features after Flatten; {int(linear_in)}x{classes}: the weight of {layer}, transposed")
    return {
        "linear_in": int(linear_in),
        "layer": layer,
        "error": error,
        "batch_size": batch_size,
        "error_words": words,
        "correct_in_features": correct,
        "fix": None if error is None else f"self.fc = nn.Linear({correct}, {classes})  # was {layer}",
        "arithmetic": shape_arithmetic(cnn),
    }


def conv3x3_from_linear(fc: nn.Linear, cnn: CNNSpec | None = None) -> nn.Conv2d:
    """Problem 1.4 v1: the conv whose kernel covers the last map (3x3, 16 -> 10 in Version A) and computes
    exactly what the linear head does.

    nn.Flatten orders the C*H*W features as (C, H, W), so the weight (classes, C*H*W) reshapes to the conv
    weight (classes, C, H, W) directly.
    """
    cnn = cnn or version_a_table()
    c, h, w = cnn.feature_shape
    classes = cnn.num_classes
    if tuple(fc.weight.shape) != (classes, c * h * w):
        raise ValueError(f"the table's linear layer is ({classes}, {c * h * w}); this one is "
                         f"{tuple(fc.weight.shape)}")
    kernel = cnn.head_conv(whole_map=True).kernel
    conv = nn.Conv2d(c, classes, kernel_size=kernel[0] if kernel[0] == kernel[1] else kernel)
    with torch.no_grad():
        conv.weight.copy_(fc.weight.reshape(classes, c, h, w))  # (classes, C*H*W) -> (classes, C, H, W)
        conv.bias.copy_(fc.bias)
    return conv

