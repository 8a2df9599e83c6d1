"""Problem 1's layer table explained (dlexam.svhn.table_explain, `dlexam svhn summary --explain`): the arithmetic each
explanation writes, evaluated here, against PyTorch's own layers built here from the spec's numbers (nn.Conv2d,
nn.AvgPool2d / nn.MaxPool2d, nn.Linear) run on a zero tensor: output shapes from the tensors, windows from the modules,
weights and biases from `numel()`. Version A's total against the exam's answer, 3,722, typed in, and the shipped
model's own count; other tables and random valid ones (hypothesis) the same way."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from fractions import Fraction

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.spec import CNNSpec, Conv, ExamSpec
from dlexam.svhn.inference import load_model
from dlexam.svhn.model import CNNConfig
from dlexam.svhn.summary import layer_summary
from dlexam.svhn.table_explain import explain_number, explain_table

from .test_summary import OTHER_TABLES, tables

EXAM_TOTAL = 3722  # Problem 1.2's answer: 208 + 2,064 + 1,450


def evaluate(expression: str) -> int:
    """An explanation's arithmetic ("floor((32 + 2*0 - 5) / 1) + 1", "5 * 5 * 1 * 8"), evaluated exactly here."""
    assert re.fullmatch(r"[\d\s+\-*/()]*(floor[\d\s+\-*/()]*)*", expression), expression
    exact = re.sub(r"\d+", lambda m: f"F({m.group()})", expression)
    value = eval(exact, {"__builtins__": {}, "F": Fraction, "floor": math.floor})  # noqa: S307 - digits, + - * / floor
    assert Fraction(value).denominator == 1, expression
    return int(value)


def torch_layers(cnn: CNNSpec, head: str = "linear", pool: str | None = None) -> dict[str, dict]:
    """Each module's numbers from PyTorch: layers built here from the table's numbers, run on a zero tensor."""
    x = torch.zeros(1, cnn.input_channels, *cnn.input_size)
    out: dict[str, dict] = {}

    def run(name: str, module: nn.Module) -> None:
        nonlocal x
        with torch.no_grad():
            x = module(x)
        shape = list(x.shape[1:])
        row = {"output": [shape[1], shape[2], shape[0]] if len(shape) == 3 else shape,
               "weights": module.weight.numel() if hasattr(module, "weight") else 0,
               "biases": module.bias.numel() if getattr(module, "bias", None) is not None else 0,
               "params": sum(p.numel() for p in module.parameters())}
        if isinstance(module, nn.Conv2d | nn.AvgPool2d | nn.MaxPool2d):
            two = lambda v: [v, v] if isinstance(v, int) else list(v)  # noqa: E731
            row |= {"kernel": two(module.kernel_size), "stride": two(module.stride), "padding": two(module.padding)}
        if isinstance(module, nn.Linear):
            row["in_features"] = module.in_features
        out[name] = row

    convs = pools = 0
    for layer in cnn.layers[:-1]:
        if isinstance(layer, Conv):
            convs += 1
            run(f"conv{convs}", nn.Conv2d(x.shape[1], layer.out_channels, layer.kernel, layer.stride, layer.padding))
        else:
            pools += 1
            kind = nn.AvgPool2d if (pool or layer.mode) == "avg" else nn.MaxPool2d
            run(f"pool{pools}", kind(layer.kernel, layer.stride, layer.padding))
    classes = cnn.layers[-1].out_features
    if head == "linear":
        run("flatten", nn.Flatten())
        run("fc", nn.Linear(x.shape[1], classes))
    else:
        run(f"conv{convs + 1}", nn.Conv2d(x.shape[1], classes, list(x.shape[2:]) if head == "conv3x3" else 1))
        if head == "conv1x1-gap":
            run("gap", nn.AvgPool2d(list(x.shape[2:])))
        run("flatten", nn.Flatten())
    return out


def check(cfg: CNNConfig) -> dict:
    """Every number's arithmetic against PyTorch; every step's expression gives its value; the numbers are those of
    the table `layer_summary` reads back from the built model (what /cnn shows beside each explanation)."""
    numbers = explain_table(cfg)
    want = torch_layers(cfg.cnn, cfg.head, cfg.pool)
    assert list(dict.fromkeys(n.module for n in numbers.values())) == [*want, "total"]
    for n in numbers.values():
        for s in n.steps:
            assert evaluate(s.expression) == s.value, (n.name, s)
        evaluated = evaluate(n.steps[-1].expression)
        if isinstance(n.value, list):  # a window [rows, columns] or a shape [H, W, C] / [features]: a step each
            evaluated = [evaluate(s.expression) for s in n.steps]
        assert n.value == evaluated, n.name
        if n.module != "total":
            assert evaluated == want[n.module][n.field], (n.name, evaluated, want[n.module][n.field])
    total = evaluate(numbers["total.params"].steps[-1].expression)
    assert total == sum(row["params"] for row in want.values())
    shown = {r["module"]: r for r in layer_summary(cfg)}
    for n in numbers.values():
        if n.module != "total" and n.field != "in_features":
            assert shown[n.module]["output_shape" if n.field == "output" else n.field] == n.value, n.name
    return numbers


def test_version_a_every_number_against_pytorch_and_the_exams_total():
    numbers = check(CNNConfig(cnn=ExamSpec.version_a().cnn))
    assert evaluate(numbers["total.params"].steps[-1].expression) == EXAM_TOTAL
    assert numbers["total.params"].value == sum(p.numel() for p in load_model()[0].parameters()) == EXAM_TOTAL
    assert numbers["total.params"].text == "3,722"
    conv2 = numbers["conv2.output"]  # Problem 1.2/1.3's formula with Conv-2's own numbers (4x4, padding 1, on 7x7)
    assert [s.expression for s in conv2.steps] == ["floor((7 + 2*1 - 4) / 1) + 1"] * 2 + ["16"]
    assert numbers["conv1.weights"].steps[-1].expression == "5 * 5 * 1 * 8"  # F_h x F_w x C_in x C_out
    assert numbers["fc.in_features"].steps[-1].expression == "3 * 3 * 16"  # C x H x W of its input, as H x W x C
    assert numbers["fc.weights"].steps[-1].expression == "144 * 10"
    assert numbers["pool1.params"].value == 0 and numbers["pool1.output"].value == [7, 7, 8]


@pytest.mark.parametrize("head", ["conv3x3", "conv1x1-gap"])
@pytest.mark.parametrize("pool", ["avg", "max"])
def test_version_a_heads_and_pools(head, pool):
    numbers = check(CNNConfig(head=head, pool=pool))
    assert numbers["pool1.kernel"].layer == ("AvgPool-1" if pool == "avg" else "MaxPool-1")


@pytest.mark.parametrize("cnn", OTHER_TABLES, ids=["colour", "conv-conv", "pool-first"])
@pytest.mark.parametrize("head", ["linear", "conv3x3", "conv1x1-gap"])
def test_other_tables(cnn, head):
    check(CNNConfig(cnn=cnn, head=head))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from(["linear", "conv3x3", "conv1x1-gap"]))
def test_random_tables(cnn, head):
    check(CNNConfig(cnn=cnn, head=head))


def test_numbers_are_read_from_the_spec_not_typed():
    """A table with Conv-1 changed (7x7, stride 2, padding 3, 5 filters) gives that layer's arithmetic."""
    a = ExamSpec.version_a().cnn
    other = replace(a, layers=(Conv("Conv-1", 5, 7, 2, 3), *a.layers[1:]))
    out = explain_number("conv1.output", other)
    assert [s.expression for s in out.steps] == ["floor((32 + 2*3 - 7) / 2) + 1"] * 2 + ["5"]
    assert explain_number("total", other).value == check(CNNConfig(cnn=other))["total.params"].value


@pytest.mark.parametrize("name, words", [("conv9.output", "no number 'conv9.output'"), ("fc.kernel", "fc has no"),
                                         ("conv1", "conv1 has no"), ("", "no number ''")])
def test_a_bad_name_says_what_there_is(name, words):
    with pytest.raises(UserError, match=re.escape(words)):
        explain_number(name)


@pytest.mark.parametrize("head", ["conv3x3", "conv1x1-gap"])
def test_a_bad_name_with_a_conv_head_offers_only_names_that_table_has(head):
    """With a convolutional head there is no fc (nor in_features): the refusal offered "fc.weights" as its example
    and in_features as a field, both refused again when typed. Every name the refusal suggests must explain."""
    cfg = CNNConfig(head=head)
    with pytest.raises(UserError) as refusal:
        explain_number("fc.weights", cfg)
    words = str(refusal.value)
    layers, _, rest = words.split(";")[0].partition("LAYER one of ")[2].partition(" and FIELD one of ")
    fields, _, examples = rest.partition(" (")
    assert "fc" not in layers.split(", ") and "in_features" not in fields.split(", ")
    assert examples == "conv1.output, conv3.weights, total)"  # the head's weights, as fc.weights is the linear one's
    for example in examples.rstrip(")").split(", "):
        explain_number(example, cfg)  # raises where the refusal names a number that is not there


def test_summary_explain_command(capsys):
    assert main(["svhn", "summary", "--explain", "conv2.output", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == explain_number("conv2.output").to_json()
    assert main(["svhn", "summary", "--explain", "total"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("total.params: the network's trainable parameters = 3,722\n")
    assert "Conv-1 + AvgPool-1 + Conv-2 + AvgPool-2 + Flatten + Linear = 208 + 0 + 2064 + 0 + 0 + 1450 = 3722" in out
    assert main(["svhn", "summary", "--explain", "conv3.kernel", "--head", "conv3x3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == [3, 3]


@pytest.mark.parametrize("argv", [["--explain", "conv9.output"], ["--explain", "pool1.in_features", "--json"],
                                  ["--explain", "conv1.output", "--linear-in", "256"]])
def test_summary_explain_refusals_are_one_line_and_status_2(capsys, argv):
    assert main(["svhn", "summary", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err


def test_a_step_whose_formula_is_its_number_is_said_once(capsys):
    """A pooling layer's weights: the step's formula is "0" and so is its arithmetic; the command line wrote
    "weights: 0 = 0". nn.AvgPool2d has no parameters (the oracle); the line says 0 once."""
    assert sum(p.numel() for p in nn.AvgPool2d(4).parameters()) == 0
    assert main(["svhn", "summary", "--explain", "pool1.weights"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  weights: 0" in lines and not any("0 = 0" in line for line in lines), lines
    assert main(["svhn", "summary", "--explain", "conv1.weights"]) == 0  # a formula with arithmetic keeps it
    assert "  weights: F_h x F_w x C_in x C_out = 5 * 5 * 1 * 8 = 200" in capsys.readouterr().out.splitlines()


def test_a_variants_numbers_cite_the_variants_table_not_the_exams(capsys):
    """`svhn summary --variant 3 --explain conv2.output` cited 'the exam's layer table (Problem 1): Conv-2: 16
    filters 4x4, stride 1, padding 2', a layer the exam does not have (its Conv-2 pads 1): the variant's table."""
    for number in ("conv2.output", "fc.in_features"):
        assert main(["svhn", "summary", "--variant", "3", "--explain", number]) == 0
        source = capsys.readouterr().out.splitlines()[1]
        assert source.startswith("  (the variant's layer table (Problem 1") and "exam's" not in source, source
    assert main(["svhn", "summary", "--explain", "conv2.output"]) == 0
    assert "(the exam's layer table (Problem 1): Conv-2: 16 filters 4x4, stride 1, padding 1;" in \
        capsys.readouterr().out


@pytest.mark.parametrize("name, head, said", [
    ("gap.output", "linear", "; gap is a layer of the head conv1x1-gap, not of this network's (linear)"),
    ("conv3.weights", "linear",
     "; conv3 is a layer of the head conv3x3 or conv1x1-gap, not of this network's (linear)"),
    ("fc.weights", "conv3x3", "; fc is a layer of the head linear, not of this network's (conv3x3)"),
])
def test_a_layer_of_another_head_is_said_to_be_one(name, head, said):
    """`svhn summary --explain gap.output` listed the layers of the linear head alone: Problem 1.4's layers were
    no number at all. The heads' layers, typed here from Problem 1.3 and 1.4."""
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.table_explain import explain_number

    with pytest.raises(UserError) as refused:
        explain_number(name, CNNConfig(head=head))
    assert str(refused.value).endswith(said), str(refused.value)
    with pytest.raises(UserError) as refused:
        explain_number("conv9.output", CNNConfig(head=head))
    assert "is a layer of the head" not in str(refused.value)  # no head has it
