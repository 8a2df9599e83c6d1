"""Problem 1: the exam's CNN for grayscale SVHN: pooling, parameter counts, shapes, a convolutional head.

Every size comes from the spec's layer table (:class:`dlexam.spec.CNNSpec`; each function takes an
:class:`~dlexam.spec.ExamSpec`, Version A by default). The numbers come from the project's SVHN model
(:mod:`dlexam.svhn.model`, read back by :mod:`dlexam.svhn.summary`: its layer table, its reproduction
of the student's bug, its convolutional heads) and, as an independent cross-check, from plain
``torch.nn`` layers built from the table (:func:`exam_layers`). For Version A the stated answers are read
from the exam text; for another version (a variant) they are its spec's exact arithmetic.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import torch
from torch import nn

from dlexam.answers import exam_source
from dlexam.answers.cnn_layers import (
    exam_input,
    exam_layers,
    hwc,
    printed,
    project_feature_rows,
    project_summary,
    torch_shape_table,
    trunk_names,
)
from dlexam.answers.registry import Answer, difference, not_read, question
from dlexam.spec import CNNSpec, Conv, ExamSpec, conv_output_size, pair_text
from dlexam.svhn import model as svhn_model
from dlexam.svhn import summary as svhn_summary

DT = torch.float64

PR11_SOLUTION = ("Pooling layers provide invariance to the neural network, making the model more robust to small "
                 "variations in the input, and increasing the receptive field of neurons in the deeper layers")
PR11_MAX_AVG = "average pooling layers smoothen out all the feature values within the patch"
# Problem 1's two headings in the text: the points each states are read (the second's are its first question's).
PR1_TITLE = "Problem 1: Convolutional Neural Networks ("
PR1_HEADING = "Problem 1: Convolutional neural networks ("
# Where the solution states each conv's count: the formula after the lead-in is read and evaluated.
_PR12_LEAD = ("num. weights = num. of filters \\times ((kernel width \\times kernel height \\times num. channels) "
              "+ bias) = $")
PR12_CONV1 = "Layer *Conv-1*: " + _PR12_LEAD
PR12_CONV2 = "Layer Conv-2: " + _PR12_LEAD
PR12_POOLS = "Layers AvqPool-1 and AvqPool-2 do not have trainable weights."
# Where the solution states each shape, the flattened size and the fix: what follows is read.
PR13_SHAPES = [f"The output of layer {name}, is of size $" for name in ("Conv-1", "AvgPool-1", "Conv-2", "AvgPool-2")]
PR13_FLAT = "Thus, after the flattening operation we obtain a vector of dimension $"
PR13_FIX = "Hence, the linear layer of the network should be initialized as "
PR13_STUDENT = "A student implemented the neural network depicted in Fig. 2 in Pytorch, as seen below."
PR14_V1 = ("Thus, if we apply a kernel with size 3×3 and with 10 output channels (filters) we will obtain outputs of "
           "dimension $")  # the shape that follows is read
PR14_Z3 = "to obtain z^3"  # the question's name for the logits, which the exam never defines
PR14_V2 = ("If we apply a kernel with size 1×1 and with 10 output channels (filters) we will obtain outputs of "
           "dimension")


def _heading_points(spec: ExamSpec) -> list[str]:
    """A note where Problem 1's second heading states other points than its first (the text's: 5 for 25, the
    first question's points run into it), with the questions' points from the spec; none where they agree."""
    title, heading = (exam_source.leading_number(exam_source.after(a, ")")) for a in (PR1_TITLE, PR1_HEADING))
    points = [spec.points_of(q) for q, _ in spec.points if q.startswith("Pr1.")]
    if title is None or heading is None or title == heading:
        return []
    first = f"the first question's {points[0]} points run into the heading" if heading == points[0] else \
        "a garbled heading"
    return [f"Problem 1's second heading reads '({heading:g} points)' where its first says {title:g} points, the "
            f"sum of its questions' {' + '.join(map(str, points))}: {first}."]


def _window_text(kernel) -> str:
    """'4' for a 4x4 window, '3x2' otherwise (the evidence keys name pools by their window)."""
    return str(kernel[0]) if kernel[0] == kernel[1] else f"{kernel[0]}x{kernel[1]}"


@question("Pr1.1")
def pr1_1(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    cnn = spec.cnn
    pools = cnn.pools
    # 1. small shifts: one active pixel at every position of a map that holds each pool's window a whole
    # number of times (twice over), moved one pixel right, through the table's pools (max and average for
    # the first, max for the others) and through no pool
    shift_pools: dict[str, nn.Module] = {}
    max_windows: dict[str, str] = {}  # each max pool's key -> its window, "4x4"
    for i, pool in enumerate(pools):
        window = _window_text(pool.kernel)
        modes = (("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)) if i == 0 else (("max", nn.MaxPool2d),)
        for mode, cls in modes:
            shift_pools.setdefault(f"{mode}_pool_{window}", cls(pool.kernel, pool.stride, pool.padding))
        max_windows.setdefault(f"max_pool_{window}", f"{pool.kernel[0]}x{pool.kernel[1]}")
    shift_pools["no_pool"] = nn.Identity()
    rows_n, cols_n = (2 * math.lcm(1, *(v for p in pools for v in (p.kernel[d], p.stride[d]))) for d in (0, 1))
    shifts, shift_fraction = {}, {}
    for name, pool in shift_pools.items():
        same = total = 0
        for r in range(rows_n):
            for c in range(cols_n):  # circular shift: every position moves one pixel right
                a = torch.zeros(1, 1, rows_n, cols_n)
                a[0, 0, r, c] = 1
                b = torch.roll(a, 1, dims=3)
                same += bool(torch.equal(pool(a), pool(b)))
                total += 1
        shifts[name] = same / total
        shift_fraction[name] = Fraction(same, total)
    # the same shift of a map of random values (seeded, 8 times as large): the lone pixel's count is not general,
    # every average moves, while a max stays where the largest value it sees stays inside its window
    field = torch.rand(1, 1, 8 * rows_n, 8 * cols_n, generator=torch.Generator().manual_seed(5), dtype=DT)
    moved = torch.roll(field, 1, dims=3)
    random_shifts = {name: float(torch.eq(pool(field), pool(moved)).to(DT).mean())
                     for name, pool in shift_pools.items()}
    # 2. max vs average on the same patches: a lone strong feature, and pure noise, in the first pool's window
    kh, kw = pools[0].kernel if pools else (2, 2)  # a table without pools: a 2x2 window shows the difference
    patch = torch.zeros(1, 1, kh, kw)
    patch[0, 0, min(1, kh - 1), min(2, kw - 1)] = 8.0
    noise = torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(11), dtype=DT)
    window = f"{kh}x{kw}"
    max_vs_avg = {
        f"lone_feature_8_in_{window}": {"max": float(nn.MaxPool2d((kh, kw))(patch)),
                                        "avg": float(nn.AvgPool2d((kh, kw))(patch))},
        f"unit_noise_{window}_windows": {"max_mean": float(nn.MaxPool2d((kh, kw))(noise).mean()),
                                         "avg_std": float(nn.AvgPool2d((kh, kw))(noise).std())},
    }
    lone = max_vs_avg[f"lone_feature_8_in_{window}"]
    # 3. receptive field of one central unit after the last pool, by autograd, with and without the pools,
    # through the project's ExamCNN trunk (no activation, conv weights 1) and through plain torch layers
    rf = {}
    for with_pools in (True, False):
        net = svhn_model.ExamCNN(svhn_model.CNNConfig(activation="none", cnn=cnn))
        if not with_pools:
            for name in net.pool_names:
                setattr(net, name, nn.Identity())
        plain = nn.Sequential(*[mod for _, mod in exam_layers(cnn) if with_pools or isinstance(mod, nn.Conv2d)])
        plain_convs = [mod for mod in plain if isinstance(mod, nn.Conv2d)]
        for name, trunk, convs in (("ExamCNN", net.trunk, [getattr(net, n) for n in net.conv_names]),
                                   ("torch_layers", plain, plain_convs)):
            with torch.no_grad():
                for conv in convs:
                    conv.weight.fill_(1.0)
            x = exam_input(cnn).requires_grad_(True)
            y = trunk(x)
            (grad,) = torch.autograd.grad(y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2], x)
            rows, cols = grad[0].ne(0).any(0).nonzero(as_tuple=True)  # (H, W) positions of any channel
            key = "with_pools" if with_pools else "convs_only"
            rf.setdefault(name, {})[key] = [int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)]
    rf["with_pools"], rf["convs_only"] = rf["ExamCNN"]["with_pools"], rf["ExamCNN"]["convs_only"]
    pooled = ""
    if pools:
        first = _window_text(pools[0].kernel)
        pooled = (f"a one-pixel shift of one active pixel leaves the {max_windows[f'max_pool_{first}']}-pooled map "
                  f"unchanged in {shifts[f'max_pool_{first}']:.0%} of positions (max) and "
                  f"{shifts[f'avg_pool_{first}']:.0%} (avg), ")
    windows = [f"{shift_fraction[key]} of positions for a {window} window" if i == 0 else
               f"{shift_fraction[key]} for {window}" for i, (key, window) in enumerate(max_windows.items())]
    notes = [f"The invariance is partial: a shift of one active pixel that stays inside a pooling window changes "
             f"nothing, one that crosses a window boundary does (hence {', '.join(windows)}). On a map of random "
             f"values the same shift moves every average-pooled value (a little) and keeps "
             f"{random_shifts[f'max_pool_{first}']:.0%} of the max-pooled ones exactly."] if windows else []
    if printed(spec):
        notes += ["The extraction spells AvgPool as 'AvqPool' in places.", "Figure 2 is missing from the text."]
        notes += _heading_points(spec)
    return Answer(
        id="Pr1.1",
        question="Key advantage of pooling; max vs average pooling",
        exam_answer=f"{PR11_SOLUTION} (...) {PR11_MAX_AVG}.",
        computed=(f"{pooled}{'the' if pooled else 'a one-pixel shift leaves the'} unpooled map in "
                  f"{shifts['no_pool']:.0%}; "
                  + (f"of a random map's {max_windows[f'max_pool_{first}']}-pooled values it leaves "
                     f"{random_shifts[f'max_pool_{first}']:.0%} (max) and {random_shifts[f'avg_pool_{first}']:.0%} "
                     f"(avg) unchanged; " if pools else "")
                  + "receptive "
                  f"field {rf['with_pools'][0]}x{rf['with_pools'][1]} with the pools vs {rf['convs_only'][0]}x"
                  f"{rf['convs_only'][1]} without; a lone 8 pools to {lone['max']:g} "
                  f"(max) vs {lone['avg']:g} (avg)"),
        verdict="conceptual",
        evidence={"unchanged_after_1px_shift": shifts, "unchanged_after_1px_shift_random_map": random_shifts,
                  "max_vs_avg": max_vs_avg, "receptive_field": rf},
        notes=notes,
        exam_quotes=[PR11_SOLUTION, PR11_MAX_AVG],
        explanation="Shift invariance, receptive field and max-vs-average behaviour computed now; "
                    "`dlexam experiment pooling` compares accuracy and robustness to 1-3 pixel shifts.",
    )


def _conv_formula(row, times: str = "×") -> str:
    """'8 × ((5 × 5 × 1) + 1)': a conv's weights and biases, as the exam's solution writes them."""
    (kh, kw), c_in = row.layer.kernel, row.in_shape[0]
    return f"{row.layer.out_channels} {times} (({kh} {times} {kw} {times} {c_in}) + 1)"


@question("Pr1.2")
def pr1_2(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    cnn = spec.cnn
    table = cnn.table()[:-1]
    rows = torch_shape_table(cnn)
    computed = {r["layer"]: r["params"] for r in rows}
    project = project_feature_rows(cnn)
    project_params = {k: r["params"] for k, r in project.items()}
    convs = [r for r in table if isinstance(r.layer, Conv)]
    unread: list[str] = []
    if printed(spec):  # the solution's formulas, read from the exam text and evaluated exactly
        anchors = dict(zip([r.layer.name for r in convs], (PR12_CONV1, PR12_CONV2), strict=True))
        stated = {name: exam_source.after(anchor) for name, anchor in anchors.items()}
        exam = {r.layer.name: exam_source.formula_value(stated[r.layer.name]) if r.layer.name in stated else 0
                for r in table}
        unread = [f"{name}'s count ({'no formula' if stated[name] is None else repr(stated[name])})"
                  for name in stated if exam[name] is None]
        formulas = {name: (f or "?").replace("\\times", "×") for name, f in stated.items()}
        quotes = [PR12_CONV1, PR12_CONV2, PR12_POOLS]
        notes = ["The solution gives the formulas, not the numbers; the key evaluates them: "
                 + ", ".join(f"{r.layer.out_channels} x {r.params // r.layer.out_channels} = {r.params}"
                             for r in convs) + "."]
    else:  # a variant: its solution is its spec's exact arithmetic
        exam = {r.layer.name: r.params for r in table}
        formulas = {r.layer.name: _conv_formula(r) for r in convs}
        quotes, notes = [], ["This version's solution is its spec's arithmetic (dlexam.spec.CNNSpec.table)."]
    agree = exam == computed and project_params == computed
    first_conv = convs[0].layer.name if convs else None
    parts = []
    for name in formulas:  # the pools' zero after the first conv, as the solution orders them
        parts.append(f"{name}: {formulas[name]} = {'?' if exam[name] is None else exam[name]}")
        if name == first_conv and len(formulas) < len(exam):
            parts.append("pools: 0")
    stated_text = "; ".join(parts) or "no conv: 0"
    names = trunk_names(cnn)
    if unread:
        verdict, explanation, stated_text = "unread", not_read(unread), f"not read: {stated_text}"
    elif agree:
        verdict, explanation = "agrees", ""
    else:
        verdict = "disagrees"
        explanation = "; ".join(
            [f"the exam states {name}: {formulas.get(name, '0')} = {exam[name]}, the torch layers count "
             f"{computed[name]}" for name in computed if exam[name] != computed[name]]
            + [f"the project model counts {name}: {project_params.get(name)}, the torch layers {computed[name]}"
               for name in computed if project_params.get(name) != computed[name]]) + "."
    return Answer(
        id="Pr1.2",
        question=f"Trainable weights of {', '.join(names)} (with biases)",
        exam_answer=stated_text,
        computed=", ".join(f"{k} {v}" for k, v in computed.items()) + " (counted from nn.Conv2d / nn.AvgPool2d"
                 + " and dlexam.svhn.model)",
        verdict=verdict,
        explanation=explanation,
        evidence={"exam_expressions_evaluated": exam, "torch_layers": computed, "project_model": project_params},
        notes=notes,
        exam_quotes=quotes,
    )


def _even_kernel_notes(cnn: CNNSpec, stated: bool) -> list[str]:
    """A note for each conv with an even kernel and padding, whose map shrinks by one (Version A: Conv-2)."""
    notes = []
    for r in cnn.table()[:-1]:
        layer = r.layer
        (k, kw), (p, pw) = layer.kernel, layer.padding
        if isinstance(layer, Conv) and k == kw and p == pw and k % 2 == 0 and p > 0 and layer.stride == (1, 1) \
                and r.in_shape[1] == r.in_shape[2]:
            n = r.in_shape[1]
            notes.append(f"{layer.name} has an even kernel ({k}) with padding {p}: {n} + {2 * p} - {k} + 1 = "
                         f"{r.out_shape[1]}{', as the solution says' if stated else ''}.")
    return notes


@question("Pr1.3")
def pr1_3(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    cnn = spec.cnn
    names, classes = trunk_names(cnn), cnn.num_classes
    rows = torch_shape_table(cnn)
    computed = {r["layer"]: r["output_shape"] for r in rows}
    flat = math.prod(computed[names[-1]]) if names else math.prod(exam_input(cnn).shape[1:])
    fix = f"nn.Linear({flat}, {classes})"
    unread: list[str] = []
    if printed(spec):  # the solution's shapes and fix, read from the exam text
        stated = {name: exam_source.after(q) for name, q in zip(names, PR13_SHAPES, strict=True)}
        exam = {name: exam_source.shape_hwc(v) for name, v in stated.items()}
        unread = [f"the output size of {name}" for name, v in exam.items() if v is None]
        m = re.fullmatch(r".*=\s*(\d+)\s*", exam_source.after(PR13_FLAT) or "")
        exam_flat = None if m is None else int(m.group(1))
        unread += [] if m else ["the flattened size"]
        m = re.match(r"nn\.Linear\(\s*(\d+)\s*,\s*(\d+)\s*\)", exam_source.after(PR13_FIX, "") or "")
        exam_fix = None if m is None else f"nn.Linear({m.group(1)}, {m.group(2)})"
        unread += [] if m else ["the fixed nn.Linear(...)"]
        quotes = [*PR13_SHAPES, PR13_FLAT, PR13_FIX, PR13_STUDENT]
        notes = ["The student's code ('as seen below') is missing from the extracted text, so the exact wrong "
                 "in_features cannot be read; the key shows the error any wrong value gives."]
    else:  # a variant: its solution is its spec's exact arithmetic
        exam = {r.layer.name: hwc(r.out_shape) for r in cnn.table()[:-1]}
        exam_flat = cnn.flat_features()
        exam_fix = fix
        quotes, notes = [], ["This version's solution is its spec's arithmetic (dlexam.spec.CNNSpec.table)."]
    feats = nn.Sequential(*[m for _, m in exam_layers(cnn)], nn.Flatten())
    x = exam_input(cnn, 2)
    with torch.no_grad():
        logits_shape = list(nn.Linear(flat, classes)(feats(x)).shape)
        wrong = {}
        for n_in in cnn.tried_linear_in:  # the student's value and other plausible wrong ones (dlexam.spec)
            try:
                nn.Linear(n_in, classes)(feats(x))
                wrong[str(n_in)] = "no error"
            except RuntimeError as exc:
                wrong[str(n_in)] = str(exc).splitlines()[0]
    project = project_feature_rows(cnn)
    project_shapes = {k: list(r["output_shape"]) for k, r in project.items()}
    # the project's reproduction of the student's bug, for the same wrong values and the right one
    student = {str(n): svhn_summary.student_bug(n, batch_size=2, cnn=cnn) for n in (*cnn.tried_linear_in, flat)}
    wrong_runs = [v for k, v in student.items() if k != str(flat)]
    project_ok = (project_shapes == computed and student[str(flat)]["error"] is None
                  and all(v["error"] and v["correct_in_features"] == flat for v in wrong_runs))
    answer_text = (" -> ".join("x".join(map(str, exam[n] or "?")) for n in names) + f" -> flatten "
                   f"{'?' if exam_flat is None else exam_flat} -> {exam_fix or '?'}")
    if unread:
        verdict, explanation, answer_text = "unread", not_read(unread), f"not read: {answer_text}"
    else:
        differ = [f"{n}: the exam states {'x'.join(map(str, exam[n]))}, torch gives "
                  f"{'x'.join(map(str, computed[n]))}" for n in names if exam[n] != computed[n]]
        differ += [] if exam_flat == flat else [f"the exam flattens to {exam_flat}, torch to {flat}"]
        differ += [] if exam_fix == fix else [f"the exam's fix is {exam_fix}, the layers need {fix}"]
        differ += [] if project_ok else [f"the project model gives {project_shapes} (student bug {student})"]
        verdict, explanation = ("disagrees", "; ".join(differ) + ".") if differ else ("agrees", "")
    return Answer(
        id="Pr1.3",
        question="Fix the student's linear layer: the shapes through the CNN",
        exam_answer=answer_text,
        computed=(" -> ".join("x".join(map(str, computed[n])) for n in names) + f" -> flatten {flat}; "
                  f"nn.Linear({flat}, {classes}) gives logits of shape {logits_shape} for a batch of "
                  f"{logits_shape[0]} images; another in_features raises a shape error"),
        verdict=verdict,
        explanation=explanation,
        evidence={"exam_shapes_HWC": exam, "torch_shapes_HWC": computed, "project_model_shapes": project_shapes,
                  "flattened": flat, "exam_flattened": exam_flat, "logits_shape_batch_2": logits_shape,
                  "errors_for_wrong_in_features": wrong,
                  "project_student_bug": {k: {"error": v["error"], "fix": v["fix"]} for k, v in student.items()}},
        notes=notes + _even_kernel_notes(cnn, printed(spec)),
        exam_quotes=quotes,
    )


@question("Pr1.4")
def pr1_4(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    cnn = spec.cnn
    c, h, w = cnn.feature_shape
    classes, flat = cnn.num_classes, cnn.flat_features()
    whole = cnn.head_conv(whole_map=True).kernel  # v1's kernel: the whole last map
    torch.manual_seed(14)
    pooled = torch.randn(2, c, h, w, dtype=DT)  # the last pool's output, (B, C, H, W)
    v1 = nn.Conv2d(c, classes, kernel_size=whole).to(DT)
    v2 = nn.Conv2d(c, classes, kernel_size=1).to(DT)
    gap = nn.AdaptiveAvgPool2d(1)
    with torch.no_grad():
        out1, out2 = v1(pooled), v2(pooled)
        out2_gap = gap(out2)
        # v1 is the Linear(C*H*W, classes) head in disguise: same weights reshaped (flatten order C, H, W)
        lin = nn.Linear(flat, classes).to(DT)
        lin.weight.copy_(v1.weight.reshape(classes, flat))
        lin.bias.copy_(v1.bias)
        same_as_linear = float((lin(pooled.flatten(1)) - out1.flatten(1)).abs().max())

    def n_params(m):
        return sum(p.numel() for p in m.parameters())

    def shape_text(shape: list[int]) -> str:
        return "x".join(map(str, shape))

    stated = printed(spec)
    if stated:  # the solution's v1 shape, read from the exam text; its v2 sentence is cut off
        v2_line = exam_source.line_of(PR14_V2)
        v2_truncated = None if v2_line is None else v2_line.rstrip().endswith("dimension")
        exam_v1 = exam_source.shape_hwc(exam_source.after(PR14_V1))
        exam_v2 = "... (sentence cut off)" if v2_truncated in (True, None) else exam_source.after(PR14_V2, "")
    else:  # a variant: its solution is its spec's exact arithmetic
        v2_truncated = None
        exam_v1 = [conv_output_size(h, whole[0]), conv_output_size(w, whole[1]), classes]
        exam_v2 = f"{h}x{w}x{classes}, and 1x1x{classes} after global average pooling"
    # the project's SVHN model with the two convolutional heads
    t1, t2 = project_summary(cnn, head="conv3x3"), project_summary(cnn, head="conv1x1-gap")
    head = f"conv{len(cnn.convs) + 1}"  # the head conv's module (Version A: conv3)
    fc = nn.Linear(flat, classes).to(DT)
    conv = svhn_summary.conv3x3_from_linear(fc, cnn).to(DT)
    with torch.no_grad():
        err = float((fc(pooled.flatten(1)) - conv(pooled).flatten(1)).abs().max())
    project = {"conv3x3": {"output_HWC": t1[head]["output_shape"], "params": t1[head]["params"]},
               "conv1x1-gap": {"conv_output_HWC": t2[head]["output_shape"], "params": t2[head]["params"],
                               "after_gap": t2["gap"]["output_shape"]},
               "conv3x3_from_linear_max_error": err}
    project_ok = (project["conv3x3"]["output_HWC"] == hwc(out1.shape)
                  and project["conv3x3"]["params"] == n_params(v1)
                  and project["conv1x1-gap"]["params"] == n_params(v2)
                  and project["conv3x3_from_linear_max_error"] < 1e-12)
    agree = exam_v1 == hwc(out1.shape) and project_ok
    if stated and exam_v1 is None:
        verdict, explanation = "unread", not_read(["v1's output size"])
    elif agree:
        verdict, explanation = "agrees", ""
    else:
        verdict, explanation = "disagrees", (f"v1 gives {shape_text(hwc(out1.shape))} (project model: {project}), "
                                             f"the exam says {shape_text(exam_v1 or [])}")
    note = ["Solution v2 is cut off in the text after 'we will obtain outputs of dimension'."] if v2_truncated else []
    if stated and exam_source.quote_found(PR14_Z3):
        note.append(f"The question asks for a projection 'to obtain z^3', a name Problem 1 never defines (the "
                    f"exam's z_1 and z_2 are P1.6's, another network): read here as the {classes} logits, the input "
                    f"of the Softmax layer.")
    if (h, w) != (1, 1):
        note.append(f"A 1x1 conv with {classes} filters gives {h}x{w}x{classes}, not 1x1x{classes}: it needs a "
                    f"global average pooling (or a further {h}x{w} pool) to reach R^{classes}, and then computes a "
                    f"different, smaller model ({n_params(v2)} parameters instead of {n_params(v1)}).")
    notes = [" ".join(note)] if note else []
    return Answer(
        id="Pr1.4",
        question=f"A convolution that replaces Flatten + Linear and outputs {classes} logits",
        exam_answer=(f"{'not read: ' if exam_v1 is None else ''}v1: a {h}x{w} conv with {classes} filters on the "
                     f"{h}x{w}x{c} map gives {shape_text(exam_v1 or ['?'])}; v2: a 1x1 conv with {classes} filters "
                     f"gives {exam_v2}"),
        computed=(f"v1 nn.Conv2d({c}, {classes}, {pair_text(whole)}): {shape_text(hwc(out1.shape))}, {n_params(v1)} "
                  f"parameters, equal to Linear({flat}, {classes}) with reshaped weights (error "
                  f"{difference(same_as_linear)}); "
                  f"v2 nn.Conv2d({c}, {classes}, 1): {shape_text(hwc(out2.shape))}, {n_params(v2)} parameters, "
                  f"{shape_text(hwc(out2_gap.shape))} only after global average pooling; dlexam.svhn.model's heads "
                  f"agree"),
        verdict=verdict,
        explanation=explanation,
        evidence={"v1": {"output_HWC": hwc(out1.shape), "params": n_params(v1), "exam_output_HWC": exam_v1,
                         f"max_error_vs_linear_{flat}_{classes}": same_as_linear},
                  "v2": {"output_HWC": hwc(out2.shape), "params": n_params(v2),
                         "after_global_avg_pool_HWC": hwc(out2_gap.shape), "exam_sentence_truncated": v2_truncated},
                  "project_model": project},
        notes=notes,
        exam_quotes=[PR14_V1, PR14_V2] if stated else [],
    )
