"""Problem 1 and Part 1's computable items for a version of the exam that is not Version A (issue 19): each
answer function takes the spec, and its numbers are checked here against oracles computed by hand or with
plain torch, never against the function's own output. No exam text is needed: a version the text does not
print states its answers through its spec's exact arithmetic."""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from dlexam.answers.part1_math import p1_1, p1_4
from dlexam.answers.part1_models import bptt_gradient, p1_6
from dlexam.answers.problem1 import pr1_1, pr1_2, pr1_3, pr1_4
from dlexam.spec import CNNSpec, Conv, ConvSizeItem, ExamSpec, Linear, Pool, RNNItem, SoftmaxItem

A = ExamSpec.version_a()
# 24x30 -> Conv-1 3x3 -> 22x28x6 -> AvgPool-1 2 -> 11x14x6 -> Conv-2 3x3 pad 1 -> 11x14x8 -> AvgPool-2 2 -> 5x7x8
CNN = CNNSpec(input_size=(24, 30), layers=(
    Conv("Conv-1", 6, 3), Pool("AvgPool-1", 2, 2), Conv("Conv-2", 8, 3, padding=1), Pool("AvgPool-2", 2, 2),
    Linear(out_features=5)), student_linear_in=100)
VARIANT = replace(A, name="a variant", seed=7, cnn=CNN, part1=replace(
    A.part1, softmax=SoftmaxItem(z=(2, 2, 1)),
    conv_size=ConvSizeItem(input_size=(64, 50), kernel=(5, 3), stride=(2, 2), padding=(1, 0),
                           options=((31, 24), (30, 24), (32, 25), (31, 48))),
    rnn=RNNItem(length=3, parameter="a")))
BY_HAND_HWC = {"Conv-1": [22, 28, 6], "AvgPool-1": [11, 14, 6], "Conv-2": [11, 14, 8], "AvgPool-2": [5, 7, 8]}


def receptive_field(layers) -> int:
    """The textbook recursion: r += (k - 1) * jump, jump *= stride, for square windows."""
    r, jump = 1, 1
    for layer in layers:
        r += (layer.kernel[0] - 1) * jump
        jump *= layer.stride[0]
    return r


def test_pr1_2_counts():
    a = pr1_2(VARIANT).to_dict()
    by_hand = {"Conv-1": 6 * (3 * 3 * 1 + 1), "AvgPool-1": 0, "Conv-2": 8 * (3 * 3 * 6 + 1), "AvgPool-2": 0}
    ev = a["evidence"]
    assert ev["torch_layers"] == ev["project_model"] == ev["exam_expressions_evaluated"] == by_hand
    assert a["verdict"] == "agrees" and a["exam_quotes"] == []
    assert a["exam_answer"] == "Conv-1: 6 × ((3 × 3 × 1) + 1) = 60; pools: 0; Conv-2: 8 × ((3 × 3 × 6) + 1) = 440"


def test_pr1_3_shapes_and_the_students_error():
    a = pr1_3(VARIANT).to_dict()
    ev = a["evidence"]
    assert ev["torch_shapes_HWC"] == ev["project_model_shapes"] == ev["exam_shapes_HWC"] == BY_HAND_HWC
    assert ev["flattened"] == ev["exam_flattened"] == 5 * 7 * 8 and ev["logits_shape_batch_2"] == [2, 5]
    assert ev["errors_for_wrong_in_features"] == {"100": "mat1 and mat2 shapes cannot be multiplied (2x280 and 100x5)"}
    assert ev["project_student_bug"]["280"]["error"] is None
    assert a["verdict"] == "agrees" and a["exam_answer"].endswith("-> flatten 280 -> nn.Linear(280, 5)")


def test_pr1_4_conv_heads():
    a = pr1_4(VARIANT).to_dict()
    v1, v2 = a["evidence"]["v1"], a["evidence"]["v2"]
    assert v1["output_HWC"] == v1["exam_output_HWC"] == [1, 1, 5] and v1["params"] == 5 * (8 * 5 * 7) + 5
    assert v1["max_error_vs_linear_280_5"] < 1e-12
    assert v2["output_HWC"] == [5, 7, 5] and v2["params"] == 5 * 8 + 5 and v2["after_global_avg_pool_HWC"] == [1, 1, 5]
    assert a["evidence"]["project_model"]["conv3x3"] == {"output_HWC": [1, 1, 5], "params": 1405}
    assert a["verdict"] == "agrees" and a["question"].endswith("outputs 5 logits")


def test_pr1_1_pools_of_the_table():
    ev = pr1_1(VARIANT).to_dict()["evidence"]
    # both pools are 2x2: a one-pixel shift stays in its window for 1 of 2 columns
    assert ev["unchanged_after_1px_shift"] == {"max_pool_2": 0.5, "avg_pool_2": 0.5, "no_pool": 0.0}
    r_pools, r_convs = receptive_field(CNN.layers[:-1]), receptive_field(CNN.convs)
    assert (r_pools, r_convs) == (10, 5)
    for model in ("ExamCNN", "torch_layers"):
        assert ev["receptive_field"][model] == {"with_pools": [r_pools] * 2, "convs_only": [r_convs] * 2}
    assert ev["max_vs_avg"]["lone_feature_8_in_2x2"] == {"max": 8.0, "avg": 2.0}
    # Version A by the same recursion: the numbers its own test types in by hand
    assert receptive_field(A.cnn.layers[:-1]) == 24 and receptive_field(A.cnn.convs) == 8


def test_p1_1_limit_with_ties_and_a_wrong_claim():
    z = torch.tensor([2.0, 2.0, 1.0], dtype=torch.float64)
    near_zero = torch.softmax(z / 0.01, -1)  # the oracle: T -> 0 shares the weight between the tied maxima
    assert torch.allclose(near_zero, torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64), atol=1e-40)
    a = p1_1(VARIANT).to_dict()
    assert [o["holds"] for o in a["evidence"]["options"]] == [False, True, True, True]
    assert a["evidence"]["options"][2]["argmax_limit"] == [0.5, 0.5, 0.0]
    assert a["verdict"] == "agrees" and a["evidence"]["exam_marks"] == [1] and a["exam_quotes"] == []
    wrong = replace(VARIANT, part1=replace(VARIANT.part1, softmax=SoftmaxItem(z=(2, 2, 1), claimed_limit=(1, 0, 0))))
    a = p1_1(wrong).to_dict()
    assert [o["holds"] for o in a["evidence"]["options"]] == [False, True, False, True]
    assert a["evidence"]["computed_answer"] == a["evidence"]["exam_marks"] == [1, 3]
    assert "max_abs_distance_to_(1,0,0)_by_T" in a["evidence"]["options"][2]
    assert "(1/3,1/3,1/3)" in a["computed"]


def test_p1_4_options_against_conv2d():
    a = p1_4(VARIANT).to_dict()
    # by hand: rows floor((64 + 2 - 5) / 2) + 1 = 31, columns floor((50 - 3) / 2) + 1 = 24
    assert a["evidence"]["output_shape"] == [1, 1, 31, 24]
    assert a["evidence"]["computed_answer"] == a["evidence"]["exam_marks"] == [1] and a["verdict"] == "agrees"
    assert a["evidence"]["formula"] == "floor((N - F) / S) + 1: rows floor((64+2-5)/2)+1 = 31, columns " \
                                       "floor((50-3)/2)+1 = 24"
    assert a["question"] == "Output of a 5x3 conv, stride 2, padding (1, 0), on 64x50"


def _rnn_loss(a, w, xs, y, g=math.tanh):
    h = 0.0
    for x in xs:
        h = g(w * h + a * x)
    return 0.5 * (h - y) ** 2


def test_p1_6_closed_form_against_finite_differences():
    a_, w_, xs, y, eps = 0.7, -1.3, [0.4, -0.9, 1.1], 0.25, 1e-6
    for name in ("a", "w"):
        up = {"a": a_ + eps, "w": w_ + eps}
        down = {"a": a_ - eps, "w": w_ - eps}
        fd = (_rnn_loss(up["a"] if name == "a" else a_, up["w"] if name == "w" else w_, xs, y)
              - _rnn_loss(down["a"] if name == "a" else a_, down["w"] if name == "w" else w_, xs, y)) / (2 * eps)
        closed = bptt_gradient(name, torch.tensor(a_), torch.tensor(w_), [torch.tensor(x) for x in xs],
                               torch.tensor(y), torch.tanh, lambda z: 1 - torch.tanh(z) ** 2)
        assert math.isclose(float(closed), fd, rel_tol=1e-6)
    a = p1_6(VARIANT).to_dict()
    assert a["verdict"] == "agrees" and a["evidence"]["length"] == 3 and a["evidence"]["parameter"] == "a"
    assert a["question"] == "SGD update of a for a three-step scalar RNN with squared loss"


def test_version_a_is_the_default():
    assert pr1_2().to_dict()["evidence"]["torch_layers"] == {"Conv-1": 208, "AvgPool-1": 0, "Conv-2": 2064,
                                                             "AvgPool-2": 0}


def test_version_a_quotes_say_what_its_spec_says(exam_text):
    """What the key reads Version A's stated answers from, and Version A's spec, hold the same numbers
    (the spec is what the computations use, the exam text what the exam prints)."""
    from dlexam.answers import exam_source, part1_math, problem1

    item = A.part1
    options = exam_source.options_after(part1_math.P14_STEM, exam_text)
    assert [exam_source.size_pair(o) for o, _ in options] == list(item.conv_size.options)
    assert "For z = (4,3,2,1)" in part1_math.P11_OPTIONS[2] and part1_math.P11_OPTIONS[2].endswith("(1,0,0,0).")
    assert part1_math._vector_text(item.softmax.z) == "(4,3,2,1)"
    assert part1_math._vector_text(item.softmax.claimed_limit) == "(1,0,0,0)"
    rows = A.cnn.table()
    read = [exam_source.shape_hwc(exam_source.after(q, "$", exam_text)) for q in problem1.PR13_SHAPES]
    assert read == [problem1.hwc(r.out_shape) for r in rows[:-1]]
    assert exam_source.after(problem1.PR13_FLAT, "$", exam_text).endswith(f"= {A.cnn.flat_features()}")
