"""Problem 1: the exam's CNN for grayscale SVHN: pooling, parameter counts, shapes, a convolutional head.

The numbers come from the project's SVHN model (:mod:`dlexam.svhn.model`: its layer table, its
reproduction of the student's bug, its convolutional heads) and, as an independent cross-check,
from plain ``torch.nn`` layers built as the exam lists them (:func:`exam_layers`).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from dlexam.answers import exam_source
from dlexam.answers.registry import Answer, question
from dlexam.svhn import model as svhn_model

DT = torch.float64

PR11_SOLUTION = ("Pooling layers provide invariance to the neural network, making the model more robust to small "
                 "variations in the input, and increasing the receptive field of neurons in the deeper layers")
PR11_MAX_AVG = "average pooling layers smoothen out all the feature values within the patch"
PR12_CONV1 = "8 \\times ((5 \\times 5 \\times 1) + 1)"
PR12_CONV2 = "16 \\times ((4 \\times 4 \\times 8) + 1)"
PR12_POOLS = "Layers AvqPool-1 and AvqPool-2 do not have trainable weights."
PR13_SHAPES = ["The output of layer Conv-1, is of size $28 \\times 28 \\times 8$",
               "The output of layer AvgPool-1, is of size $7 \\times 7 \\times 8$",
               "The output of layer Conv-2, is of size $6 \\times 6 \\times 16$",
               "The output of layer AvgPool-2, is of size $3 \\times 3 \\times 16$"]
PR13_FLAT = "we obtain a vector of dimension $3 \\times 3 \\times 16 = 144$"
PR13_FIX = "the linear layer of the network should be initialized as nn.Linear(144, 10)."
PR13_STUDENT = "A student implemented the neural network depicted in Fig. 2 in Pytorch, as seen below."
PR14_V1 = ("Thus, if we apply a kernel with size 3×3 and with 10 output channels (filters) we will obtain outputs of "
           "dimension $1\\times1\\times10$.")
PR14_V2 = ("If we apply a kernel with size 1×1 and with 10 output channels (filters) we will obtain outputs of "
           "dimension")
LAYER_NAMES = ("Conv-1", "AvgPool-1", "Conv-2", "AvgPool-2")


def exam_layers(pool: str = "avg") -> list[tuple[str, nn.Module]]:
    """The four feature layers exactly as the exam lists them, as plain torch layers (no activation)."""
    pool_cls = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
    return [("Conv-1", nn.Conv2d(1, 8, kernel_size=5, stride=1, padding=0)),
            ("AvgPool-1", pool_cls(kernel_size=4, stride=4)),
            ("Conv-2", nn.Conv2d(8, 16, kernel_size=4, stride=1, padding=1)),
            ("AvgPool-2", pool_cls(kernel_size=2, stride=2))]


def torch_shape_table() -> list[dict]:
    """Output shape [H, W, C] and trainable parameters of each exam layer, from a real forward pass."""
    x = torch.zeros(1, 1, 32, 32)
    rows = []
    for name, layer in exam_layers():
        x = layer(x)  # (1, C, H, W)
        rows.append({"layer": name, "output_shape": [x.shape[2], x.shape[3], x.shape[1]],
                     "params": sum(p.numel() for p in layer.parameters() if p.requires_grad)})
    return rows


MODULE_ROWS = {"conv1": "Conv-1", "pool1": "AvgPool-1", "conv2": "Conv-2", "pool2": "AvgPool-2"}


def project_summary(**config) -> dict[str, dict]:
    """The SVHN model's own layer table (``layer_summary``), keyed by module name (conv1, pool1, ...)."""
    return {r["module"]: dict(r) for r in svhn_model.layer_summary(svhn_model.CNNConfig(**config))}


def project_feature_rows(**config) -> dict[str, dict]:
    """The four feature layers of the project's table, renamed to the exam's layer names."""
    rows = project_summary(**config)
    return {MODULE_ROWS[k]: rows[k] for k in MODULE_ROWS}


def _exam_shape(snippet: str) -> list[int]:
    m = re.search(r"(\d+)\s*\\times\s*(\d+)\s*\\times\s*(\d+)", snippet)
    return [int(v) for v in m.groups()]


@question("Pr1.1")
def pr1_1() -> Answer:
    # 1. small shifts: one active pixel at every position of an 8x8 map, moved one pixel right
    shifts = {}
    for name, pool in (("max_pool_4", nn.MaxPool2d(4)), ("avg_pool_4", nn.AvgPool2d(4)),
                       ("max_pool_2", nn.MaxPool2d(2)), ("no_pool", nn.Identity())):
        same = total = 0
        for r in range(8):
            for c in range(8):  # circular shift: every position moves one pixel right
                a = torch.zeros(1, 1, 8, 8)
                a[0, 0, r, c] = 1
                b = torch.roll(a, 1, dims=3)
                same += bool(torch.equal(pool(a), pool(b)))
                total += 1
        shifts[name] = same / total
    # 2. max vs average on the same patches: a lone strong feature, and pure noise
    patch = torch.zeros(1, 1, 4, 4)
    patch[0, 0, 1, 2] = 8.0
    noise = torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(11), dtype=DT)
    max_vs_avg = {
        "lone_feature_8_in_4x4": {"max": float(nn.MaxPool2d(4)(patch)), "avg": float(nn.AvgPool2d(4)(patch))},
        "unit_noise_4x4_windows": {"max_mean": float(nn.MaxPool2d(4)(noise).mean()),
                                   "avg_std": float(nn.AvgPool2d(4)(noise).std())},
    }
    # 3. receptive field of one central unit after AvgPool-2, by autograd, with and without the pools,
    # through the project's ExamCNN trunk (no activation, conv weights 1) and through plain torch layers
    rf = {}
    for with_pools in (True, False):
        net = svhn_model.ExamCNN(svhn_model.CNNConfig(activation="none"))
        if not with_pools:
            net.pool1, net.pool2 = nn.Identity(), nn.Identity()
        plain = nn.Sequential(*[mod for _, mod in exam_layers() if with_pools or isinstance(mod, nn.Conv2d)])
        plain_convs = [mod for mod in plain if isinstance(mod, nn.Conv2d)]
        for name, trunk, convs in (("ExamCNN", net.trunk, [net.conv1, net.conv2]),
                                   ("torch_layers", plain, plain_convs)):
            with torch.no_grad():
                for conv in convs:
                    conv.weight.fill_(1.0)
            x = torch.zeros(1, 1, 32, 32, requires_grad=True)
            y = trunk(x)
            c = y.shape[-1] // 2
            (grad,) = torch.autograd.grad(y[0, 0, c, c], x)
            rows, cols = grad[0, 0].ne(0).nonzero(as_tuple=True)
            key = "with_pools" if with_pools else "convs_only"
            rf.setdefault(name, {})[key] = [int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)]
    rf["with_pools"], rf["convs_only"] = rf["ExamCNN"]["with_pools"], rf["ExamCNN"]["convs_only"]
    return Answer(
        id="Pr1.1",
        question="Key advantage of pooling; max vs average pooling",
        exam_answer=f"{PR11_SOLUTION} (...) {PR11_MAX_AVG}.",
        computed=(f"a one-pixel shift leaves the 4x4-pooled map unchanged in {shifts['max_pool_4']:.0%} of positions "
                  f"(max) and {shifts['avg_pool_4']:.0%} (avg), the unpooled map in {shifts['no_pool']:.0%}; receptive "
                  f"field {rf['with_pools'][0]}x{rf['with_pools'][1]} with the pools vs {rf['convs_only'][0]}x"
                  f"{rf['convs_only'][1]} without; a lone 8 pools to {max_vs_avg['lone_feature_8_in_4x4']['max']:g} "
                  f"(max) vs {max_vs_avg['lone_feature_8_in_4x4']['avg']:g} (avg)"),
        verdict="conceptual",
        evidence={"unchanged_after_1px_shift": shifts, "max_vs_avg": max_vs_avg, "receptive_field": rf},
        notes=["The invariance is partial: a shift that stays inside a pooling window changes nothing, one that "
               "crosses a window boundary does (hence 3/4 of positions for a 4x4 window, 1/2 for 2x2).",
               "The extraction spells AvgPool as 'AvqPool' in places.", "Figure 2 is missing from the text."],
        exam_quotes=[PR11_SOLUTION, PR11_MAX_AVG],
        explanation="Shift invariance, receptive field and max-vs-average behaviour computed now; "
                    "`dlexam experiment pooling` compares accuracy and robustness to 1-3 pixel shifts.",
        experiment="pooling",
    )


@question("Pr1.2")
def pr1_2() -> Answer:
    rows = torch_shape_table()
    computed = {r["layer"]: r["params"] for r in rows}
    project = project_feature_rows()
    project_params = {k: r["params"] for k, r in project.items()}
    exam = {"Conv-1": int(exam_source.arithmetic(PR12_CONV1)), "AvgPool-1": 0,
            "Conv-2": int(exam_source.arithmetic(PR12_CONV2)), "AvgPool-2": 0}
    agree = exam == computed and project_params == computed
    return Answer(
        id="Pr1.2",
        question="Trainable weights of Conv-1, AvgPool-1, Conv-2, AvgPool-2 (with biases)",
        exam_answer=(f"Conv-1: {PR12_CONV1} = {exam['Conv-1']}; pools: 0; Conv-2: {PR12_CONV2} = {exam['Conv-2']}"
                     .replace("\\times", "×")),
        computed=", ".join(f"{k} {v}" for k, v in computed.items()) + " (counted from nn.Conv2d / nn.AvgPool2d"
                 + " and dlexam.svhn.model)",
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else f"exam {exam}, torch layers {computed}, project model {project_params}",
        evidence={"exam_expressions_evaluated": exam, "torch_layers": computed, "project_model": project_params},
        notes=["The solution gives the formulas, not the numbers; the key evaluates them: 8 x 26 = 208, 16 x 129 = "
               "2064."],
        exam_quotes=[PR12_CONV1, PR12_CONV2, PR12_POOLS],
    )


@question("Pr1.3")
def pr1_3() -> Answer:
    rows = torch_shape_table()
    computed = {r["layer"]: r["output_shape"] for r in rows}
    exam = {name: _exam_shape(q) for name, q in zip(LAYER_NAMES, PR13_SHAPES, strict=True)}
    flat = 1
    for v in computed["AvgPool-2"]:
        flat *= v
    feats = nn.Sequential(*[m for _, m in exam_layers()], nn.Flatten())
    x = torch.zeros(2, 1, 32, 32)
    with torch.no_grad():
        logits_shape = list(nn.Linear(flat, 10)(feats(x)).shape)
        wrong = {}
        for n_in in (400, 16 * 7 * 7, 8 * 7 * 7):  # plausible wrong guesses; the student's code is not in the text
            try:
                nn.Linear(n_in, 10)(feats(x))
                wrong[str(n_in)] = "no error"
            except RuntimeError as exc:
                wrong[str(n_in)] = str(exc).splitlines()[0]
    project = project_feature_rows()
    project_shapes = {k: list(r["output_shape"]) for k, r in project.items()}
    # the project's reproduction of the student's bug, for the same wrong values and the right one
    student = {str(n): svhn_model.student_bug(n, batch_size=2) for n in (400, 16 * 7 * 7, 8 * 7 * 7, 144)}
    exam_flat = int(re.search(r"= (\d+)", PR13_FLAT).group(1))
    project_ok = (project_shapes == computed and student["144"]["error"] is None
                  and all(v["error"] and v["correct_in_features"] == flat for k, v in student.items() if k != "144"))
    agree = exam == computed and exam_flat == flat and project_ok
    return Answer(
        id="Pr1.3",
        question="Fix the student's linear layer: the shapes through the CNN",
        exam_answer=(" -> ".join("x".join(map(str, exam[n])) for n in LAYER_NAMES)
                     + f" -> flatten {exam_flat} -> " + re.search(r"nn\.Linear\(\d+, \d+\)", PR13_FIX).group(0)),
        computed=(" -> ".join("x".join(map(str, computed[n])) for n in LAYER_NAMES) + f" -> flatten {flat}; "
                  f"nn.Linear({flat}, 10) gives logits {logits_shape}; another in_features raises a shape error"),
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else f"exam {exam} (flat {exam_flat}), torch {computed} (flat {flat}), project "
                                     f"{project_shapes}, student bug {student}",
        evidence={"exam_shapes_HWC": exam, "torch_shapes_HWC": computed, "project_model_shapes": project_shapes,
                  "flattened": flat, "exam_flattened": exam_flat, "logits_shape_batch_2": logits_shape,
                  "errors_for_wrong_in_features": wrong,
                  "project_student_bug": {k: {"error": v["error"], "fix": v["fix"]} for k, v in student.items()}},
        notes=["The student's code ('as seen below') is missing from the extracted text, so the exact wrong "
               "in_features cannot be read; the key shows the error any wrong value gives.",
               "Conv-2 has an even kernel (4) with padding 1: 7 + 2 - 4 + 1 = 6, as the solution says."],
        exam_quotes=[*PR13_SHAPES, PR13_FLAT, PR13_FIX, PR13_STUDENT],
    )


@question("Pr1.4")
def pr1_4() -> Answer:
    torch.manual_seed(14)
    pooled = torch.randn(2, 16, 3, 3, dtype=DT)  # AvgPool-2's output, (B, C, H, W)
    v1 = nn.Conv2d(16, 10, kernel_size=3).to(DT)
    v2 = nn.Conv2d(16, 10, kernel_size=1).to(DT)
    gap = nn.AdaptiveAvgPool2d(1)
    with torch.no_grad():
        out1, out2 = v1(pooled), v2(pooled)
        out2_gap = gap(out2)
        # v1 is the Linear(144, 10) head in disguise: same weights reshaped (flatten order C, H, W)
        lin = nn.Linear(144, 10).to(DT)
        lin.weight.copy_(v1.weight.reshape(10, 144))
        lin.bias.copy_(v1.bias)
        same_as_linear = float((lin(pooled.flatten(1)) - out1.flatten(1)).abs().max())

    def hwc(t):
        return [t.shape[2], t.shape[3], t.shape[1]]

    def n_params(m):
        return sum(p.numel() for p in m.parameters())

    v2_line = exam_source.line_of(PR14_V2)
    v2_truncated = None if v2_line is None else v2_line.rstrip().endswith("dimension")
    exam_v1 = _exam_shape(PR14_V1)
    # the project's SVHN model with the two convolutional heads
    t1, t2 = project_summary(head="conv3x3"), project_summary(head="conv1x1-gap")
    fc = nn.Linear(144, 10).to(DT)
    conv = svhn_model.conv3x3_from_linear(fc).to(DT)
    with torch.no_grad():
        err = float((fc(pooled.flatten(1)) - conv(pooled).flatten(1)).abs().max())
    project = {"conv3x3": {"output_HWC": t1["conv3"]["output_shape"], "params": t1["conv3"]["params"]},
               "conv1x1-gap": {"conv_output_HWC": t2["conv3"]["output_shape"], "params": t2["conv3"]["params"],
                               "after_gap": t2["gap"]["output_shape"]},
               "conv3x3_from_linear_max_error": err}
    project_ok = (project["conv3x3"]["output_HWC"] == hwc(out1)
                  and project["conv3x3"]["params"] == n_params(v1)
                  and project["conv1x1-gap"]["params"] == n_params(v2)
                  and project["conv3x3_from_linear_max_error"] < 1e-12)
    agree = exam_v1 == hwc(out1) and project_ok
    return Answer(
        id="Pr1.4",
        question="A convolution that replaces Flatten + Linear and outputs 10 logits",
        exam_answer=(f"v1: a 3x3 conv with 10 filters on the 3x3x16 map gives {'x'.join(map(str, exam_v1))}; "
                     "v2: a 1x1 conv with 10 filters gives ... (sentence cut off)"),
        computed=(f"v1 nn.Conv2d(16, 10, 3): {'x'.join(map(str, hwc(out1)))}, {n_params(v1)} parameters, equal to "
                  f"Linear(144, 10) with reshaped weights (error {same_as_linear:.0e}); v2 nn.Conv2d(16, 10, 1): "
                  f"{'x'.join(map(str, hwc(out2)))}, {n_params(v2)} parameters, 1x1x10 only after global average "
                  f"pooling; dlexam.svhn.model's heads agree"),
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else f"v1 gives {hwc(out1)} (project model: {project}), the exam says {exam_v1}",
        evidence={"v1": {"output_HWC": hwc(out1), "params": n_params(v1), "exam_output_HWC": exam_v1,
                         "max_error_vs_linear_144_10": same_as_linear},
                  "v2": {"output_HWC": hwc(out2), "params": n_params(v2), "after_global_avg_pool_HWC": hwc(out2_gap),
                         "exam_sentence_truncated": v2_truncated},
                  "project_model": project},
        notes=["Solution v2 is cut off in the text after 'we will obtain outputs of dimension'. A 1x1 conv with 10 "
               "filters gives 3x3x10, not 1x1x10: it needs a global average pooling (or a further 3x3 pool) to "
               "reach R^10, and then computes a different, smaller model (170 parameters instead of 1450)."],
        exam_quotes=[PR14_V1, PR14_V2],
    )
