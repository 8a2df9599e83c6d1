"""Problem 1's CNN: the layer table against the exam's numbers, the variants, the student's bug."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

from dlexam.cli import main
from dlexam.spec import conv_output_size
from dlexam.svhn.model import CNNConfig, ExamCNN, count_parameters
from dlexam.svhn.summary import conv3x3_from_linear, layer_summary, student_bug

# Typed in from the exam's solution to Problems 1.2 and 1.3: (H, W, C) and trainable weights.
EXAM_ROWS = [
    ([28, 28, 8], 8 * (5 * 5 * 1 + 1)),  # Conv-1: 208
    ([7, 7, 8], 0),  # AvgPool-1
    ([6, 6, 16], 16 * (4 * 4 * 8 + 1)),  # Conv-2: 2064
    ([3, 3, 16], 0),  # AvgPool-2
    ([144], 0),  # Flatten
    ([10], 144 * 10 + 10),  # Linear(144, 10): 1450
]


def test_summary_matches_the_exam():
    rows = layer_summary(CNNConfig())
    assert [(r["output_shape"], r["params"]) for r in rows] == EXAM_ROWS
    assert sum(r["params"] for r in rows) == 3722
    assert [r["params"] for r in rows] == [208, 0, 2064, 0, 0, 1450]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "none"])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_trunk_is_the_same_for_every_variant(activation, pool):
    for head in ("linear", "conv3x3", "conv1x1-gap"):
        rows = layer_summary(CNNConfig(activation=activation, pool=pool, head=head))
        assert [(r["output_shape"], r["params"]) for r in rows[:4]] == EXAM_ROWS[:4]
        model = ExamCNN(CNNConfig(activation=activation, pool=pool, head=head))
        assert model(torch.zeros(3, 1, 32, 32)).shape == (3, 10)
        assert count_parameters(model) == sum(r["params"] for r in rows)


def test_heads_of_problem_1_4():
    v1 = layer_summary(CNNConfig(head="conv3x3"))
    assert (v1[4]["output_shape"], v1[4]["params"]) == ([1, 1, 10], 10 * (3 * 3 * 16) + 10)
    assert sum(r["params"] for r in v1) == 3722  # same count as Linear(144, 10)
    v2 = layer_summary(CNNConfig(head="conv1x1-gap"))
    assert (v2[4]["output_shape"], v2[4]["params"]) == ([3, 3, 10], 10 * 16 + 10)  # 170
    assert v2[5]["output_shape"] == [1, 1, 10]
    assert sum(r["params"] for r in v2) == 208 + 2064 + 170


def test_conv3x3_head_is_the_linear_head():
    torch.manual_seed(0)
    fc = nn.Linear(144, 10)
    feats = torch.randn(5, 16, 3, 3, dtype=torch.float64)
    conv = conv3x3_from_linear(fc).double()
    want = feats.reshape(5, 144) @ fc.weight.double().T + fc.bias.double()  # (5, 144) @ (144, 10)
    torch.testing.assert_close(conv(feats).reshape(5, 10), want)
    # and a whole network: the linear model vs the conv3x3 model with the reshaped weights
    lin = ExamCNN(CNNConfig(head="linear")).double()
    cnn = ExamCNN(CNNConfig(head="conv3x3")).double()
    sd = {k: v for k, v in lin.state_dict().items() if not k.startswith("fc.")}
    sd["conv3.weight"] = lin.fc.weight.detach().reshape(10, 16, 3, 3)  # (10, 144) -> (10, C, H, W)
    sd["conv3.bias"] = lin.fc.bias.detach()
    cnn.load_state_dict(sd)
    x = torch.randn(4, 1, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(cnn(x), lin(x))


def test_forward_matches_functional_oracle():
    torch.manual_seed(1)
    m = ExamCNN(CNNConfig(activation="tanh")).double()
    x = torch.randn(2, 1, 32, 32, dtype=torch.float64)
    F = torch.nn.functional
    h = F.avg_pool2d(torch.tanh(F.conv2d(x, m.conv1.weight, m.conv1.bias)), 4, 4)
    h = F.avg_pool2d(torch.tanh(F.conv2d(h, m.conv2.weight, m.conv2.bias, padding=1)), 2, 2)
    torch.testing.assert_close(m(x), h.flatten(1) @ m.fc.weight.T + m.fc.bias)


def test_conv_output_size_formula():
    assert conv_output_size(32, 5) == 28
    assert conv_output_size(28, 4, 4) == 7
    assert conv_output_size(7, 4, 1, 1) == 6
    assert conv_output_size(6, 2, 2) == 3


def test_student_bug_reproduces_pytorchs_error():
    bug = student_bug(256)
    assert bug["error"] == "mat1 and mat2 shapes cannot be multiplied (64x144 and 256x10)"
    assert bug["correct_in_features"] == 144 and bug["layer"] == "nn.Linear(256, 10)"
    assert "nn.Linear(144, 10)" in bug["fix"]
    # the exam's worked solution to Problem 1.3, line by line
    assert bug["arithmetic"] == ["input 32x32x1", "Conv-1 5x5 stride 1 pad 0: (32 - 5)/1 + 1 = 28 -> 28x28x8",
                                 "AvgPool-1 4x4 stride 4: (28 - 4)/4 + 1 = 7 -> 7x7x8",
                                 "Conv-2 4x4 stride 1 pad 1: (7 + 2 - 4)/1 + 1 = 6 -> 6x6x16",
                                 "AvgPool-2 2x2 stride 2: (6 - 2)/2 + 1 = 3 -> 3x3x16",
                                 "Flatten: 3*3*16 = 144 -> nn.Linear(144, 10)"]
    assert student_bug(144)["error"] is None


def test_the_student_bugs_error_says_what_its_numbers_are(capsys):
    """PyTorch's "(64x144 and 400x10)" did not say that 64 is the batch the check ran (a figure of dlexam's, not of the
    exam's): the output names each factor. Oracle: Problem 1.3's worked solution, 3x3x16 = 144, typed by hand."""
    bug = student_bug(400)
    assert bug["batch_size"] == 64 and "(64x144 and 400x10)" in bug["error"]
    assert bug["error_words"] == ("64x144: the batch of 64 images this check runs, each 3x3x16 = 144 features after "
                                  "Flatten; 400x10: the weight of nn.Linear(400, 10), transposed")
    assert student_bug(144)["error_words"] is None
    assert main(["svhn", "summary", "--linear-in", "400"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x144 and 400x10)"
    assert lines[1] == f"  ({bug['error_words']})"


def test_summary_command(capsys):
    assert main(["svhn", "summary", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_params"] == 3722 and out["input"] == [1, 32, 32]
    hwc = [[s[1], s[2], s[0]] if len(s) == 3 else s for s in (r["out_shape"] for r in out["layers"])]
    assert hwc == [r[0] for r in EXAM_ROWS]
    assert [r["kind"] for r in out["layers"]] == ["conv", "pool", "conv", "pool", "flatten", "linear"]
    assert main(["svhn", "summary"]) == 0
    text = capsys.readouterr().out
    assert "3,722" in text and "28 x 28 x 8" in text and "32 x 32 x 1" in text
    assert main(["svhn", "summary", "--linear-in", "400"]) == 0
    text = capsys.readouterr().out
    assert "(64x144 and 400x10)" in text and "nn.Linear(144, 10)" in text
    assert main(["svhn", "summary", "--linear-in", "0"]) == 2


def test_bad_config_is_rejected():
    with pytest.raises(ValueError):
        CNNConfig(head="dense")
