"""The exam as data (dlexam.spec): Version A's derived numbers against PyTorch's own layers and the exam's
printed solution, the JSON round trip, and specs that describe no exam refused."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest
import torch
import torch.nn as nn

from dlexam.spec import (
    CNNSpec,
    Conv,
    ConvSizeItem,
    ExamSpec,
    Linear,
    Pool,
    SoftmaxItem,
    SpecError,
    TransformerSpec,
    number,
)


def torch_shapes(cnn: CNNSpec) -> list[tuple]:
    """Each layer's output shape as PyTorch computes it on a zero image of the spec's input size."""
    x = torch.zeros(1, cnn.input_channels, *cnn.input_size)
    shapes = []
    for layer in cnn.layers:
        if isinstance(layer, Conv):
            m = nn.Conv2d(x.shape[1], layer.out_channels, layer.kernel, layer.stride, layer.padding)
        elif isinstance(layer, Pool):
            m = (nn.AvgPool2d if layer.mode == "avg" else nn.MaxPool2d)(layer.kernel, layer.stride, layer.padding)
        else:
            m = nn.Sequential(nn.Flatten(), nn.Linear(x[0].numel(), layer.out_features))
        x = m(x)
        shapes.append((tuple(x.shape[1:]), sum(p.numel() for p in m.parameters())))
    return shapes


def test_version_a_table_is_the_exams_solution():
    cnn = ExamSpec.version_a().cnn
    # Problem 1.3's worked solution: 28x28x8, 7x7x8, 6x6x16, 3x3x16, flatten 144; Problem 1.2: 8(5*5*1+1), 16(4*4*8+1)
    assert [r.out_shape for r in cnn.table()] == [(8, 28, 28), (8, 7, 7), (16, 6, 6), (16, 3, 3), (10,)]
    assert [r.params for r in cnn.table()] == [8 * (5 * 5 * 1 + 1), 0, 16 * (4 * 4 * 8 + 1), 0, 144 * 10 + 10]
    assert cnn.flat_features() == 144 and cnn.total_params() == 3722


def test_version_a_table_matches_pytorch():
    cnn = ExamSpec.version_a().cnn
    assert [(r.out_shape, r.params) for r in cnn.table()] == torch_shapes(cnn)


def test_other_tables_match_pytorch():
    cnn = CNNSpec(input_size=(28, 36), input_channels=3, layers=(
        Conv("Conv-1", 6, (3, 5), (2, 1), (1, 2)), Pool("MaxPool-1", (2, 3), (2, 3), mode="max"),
        Conv("Conv-2", 4, 3), Linear(out_features=7)))
    assert [(r.out_shape, r.params) for r in cnn.table()] == torch_shapes(cnn)


def test_version_a_transformer_and_part1():
    a = ExamSpec.version_a()
    t = a.transformer
    assert " ".join(t.example) == "D A A <START> A D <STOP>"
    assert t.vocab == ("A", "B", "C", "D", "<START>", "<STOP>")
    assert (t.d_model, t.d_head, t.heads) == (4, 2, 2)
    assert t.head.W_Q == tuple(tuple(Fraction(v) for v in r) for r in ((0, 3), (1, 2), (2, 1), (3, 0)))
    # P1.4's solution: rows (128 - 3) + 1 = 126, columns (128 - 5)/3 + 1 = 42
    assert a.part1.conv_size.output_size() == (126, 42)
    assert sum(p for _, p in a.points) == 100 and a.points_of("Pr1.3") == 10


def test_json_round_trip_is_exact():
    a = ExamSpec.version_a()
    assert ExamSpec.from_dict(json.loads(json.dumps(a.to_dict()))) == a


@pytest.mark.parametrize("bad", [0.5, True, "x", None, "1/0"])
def test_numbers_are_exact(bad):
    with pytest.raises(SpecError):
        number(bad)


def test_ill_formed_specs_are_refused():
    a = ExamSpec.version_a()
    with pytest.raises(SpecError, match="does not fit"):
        CNNSpec(input_size=(8, 8), layers=(Conv("Conv-1", 8, 9), Linear()))
    with pytest.raises(SpecError, match="end with the linear"):
        CNNSpec(layers=(Conv("Conv-1", 8, 5),))
    t = a.transformer
    fields = {f: getattr(t, f) for f in ("symbols", "E", "head", "W_O", "example_input", "example_target",
                                         "multi_heads", "multi_W_O")}
    with pytest.raises(SpecError, match="the task's output for its input: the same symbols with duplicates removed, "
                       "in alphabetical order"):
        TransformerSpec(**{**fields, "example_target": ("D", "A")})
    # another task takes its own target: D A A reversed, and deduplicated in order of appearance
    assert TransformerSpec(**{**fields, "task": "reverse", "example_target": ("A", "A", "D")}).example[-4:] == (
        "A", "A", "D", "<STOP>")
    kept = TransformerSpec(**{**fields, "task": "first-occurrence", "example_target": ("D", "A")})
    with pytest.raises(SpecError, match="in the order each first appears"):
        TransformerSpec(**{**fields, "task": "first-occurrence", "example_target": ("A", "D")})
    assert ExamSpec.from_dict(replace(a, transformer=kept).to_dict()).transformer == kept  # the task round-trips
    with pytest.raises(SpecError, match="the task must be one of"):
        TransformerSpec(**{**fields, "task": "sort"})
    with pytest.raises(SpecError, match="multi_W_O"):
        TransformerSpec(**{**fields, "multi_W_O": ((1, 0, 0, 0),) * 2})
    with pytest.raises(SpecError):
        ExamSpec.from_dict({"name": "x"})


def test_version_a_cnn_derived_sizes():
    cnn = ExamSpec.version_a().cnn
    # the exam's Problem 1 as listed in its text, and Problem 1.4's two conv heads
    assert cnn.describe() == ("Conv-1 (8 filters 5x5), AvgPool-1 (4x4, stride 4), Conv-2 (16 filters 4x4, "
                              "padding 1), AvgPool-2 (2x2, stride 2), Linear(144, 10)")
    assert cnn.feature_shape == (16, 3, 3)
    assert (cnn.head_conv(whole_map=True).name, cnn.head_conv(whole_map=True).kernel) == ("Conv-3", (3, 3))
    assert cnn.head_conv(whole_map=False).kernel == (1, 1) and cnn.head_conv(False).out_channels == 10
    assert cnn.student_linear_in in cnn.tried_linear_in and cnn.flat_features() not in cnn.tried_linear_in


def test_cnn_tables_round_trip_and_refusals():
    cnn = CNNSpec(input_size=(28, 36), input_channels=3, layers=(
        Conv("Conv-1", 6, (3, 5), (2, 1), (1, 2)), Pool("MaxPool-1", (2, 3), (2, 3), mode="max"),
        Linear(out_features=7)), student_linear_in=5)
    assert CNNSpec.from_dict(json.loads(json.dumps(cnn.to_dict()))) == cnn
    assert cnn.tried_linear_in == (5,)  # the student's value, when no other is listed
    with pytest.raises(SpecError, match="wrong ones"):
        CNNSpec(input_size=(8, 8), layers=(Conv("Conv-1", 2, 3), Linear()), tried_linear_in=(72,))
    with pytest.raises(SpecError, match="half its window"):
        Pool("AvgPool-1", 2, 2, padding=2)
    with pytest.raises(SpecError, match="out_features"):
        Linear(out_features=0)
    with pytest.raises(SpecError, match="activation"):
        CNNSpec(input_size=(8, 8), layers=(Conv("Conv-1", 2, 3), Linear()), activation="gelu")
    # a student whose in-features are right is no wrong value to try
    right = CNNSpec(input_size=(8, 8), layers=(Conv("Conv-1", 2, 3), Linear()), student_linear_in=72)
    assert right.flat_features() == 2 * 6 * 6 and right.tried_linear_in == ()
    with pytest.raises(SpecError):
        CNNSpec.from_dict({"layers": [{"kind": "conv"}]})


def test_part1_items_exact_limits_and_options():
    a = ExamSpec.version_a().part1
    assert a.softmax.limit_at_zero() == a.softmax.claimed_limit == (1, 0, 0, 0)
    assert a.softmax.limit_at_infinity() == (Fraction(1, 4),) * 4
    tie = SoftmaxItem(z=("3/2", "3/2", 1))  # the two largest share the weight as T -> 0
    assert tie.limit_at_zero() == (Fraction(1, 2), Fraction(1, 2), 0) == tie.claimed_limit
    assert SoftmaxItem(z=(2, 1), claimed_limit=(1, 0)).claimed_limit == (1, 0)
    with pytest.raises(SpecError):
        SoftmaxItem(z=(2, 1), claimed_limit=(1, 0, 0))
    # P1.4: the printed options, one of which is the output size
    assert [o == a.conv_size.output_size() for o in a.conv_size.options] == [False, True, False, False]
    with pytest.raises(SpecError, match="does not fit"):
        ConvSizeItem(input_size=4, kernel=5, stride=1)
