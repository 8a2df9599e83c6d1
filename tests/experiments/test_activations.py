"""activations (Part 2, Q2) in --quick mode, and its measuring tools against independent oracles."""

from __future__ import annotations

import math

import pytest
import torch

from dlexam.experiments import ExperimentRun, run_experiment
from dlexam.experiments.activations import VANISHING_FACTOR, per_block_factor
from dlexam.experiments.deep_mlp import DeepMLP, DeepMLPConfig
from dlexam.experiments.training import grad_norms

from .helpers import check_result


@pytest.fixture(scope="module")
def run(tmp_path_factory, need_shared):
    need_shared("data", "mnist-t10k")  # the experiment trains on real MNIST digits
    out = tmp_path_factory.mktemp("activations")
    return run_experiment(ExperimentRun("activations", out, quick=True)).to_json(), out


def test_result_files(run):
    check_result(run[0], run[1], "activations")
    assert len(run[0]["table"]) == 6


def test_sigmoid_vanishes_and_he_relu_does_not(run):
    rows = {(r["activation"], r["init"]): r for r in run[0]["table"]}
    for init in ("default", "matched"):
        # sigma' <= 1/4: with these weight scales the gradient must shrink fast towards the input
        assert rows[("sigmoid", init)]["factor/block@init"] < 0.5
    assert rows[("relu", "matched")]["factor/block@init"] > VANISHING_FACTOR
    assert rows[("relu", "matched")]["factor/block@init"] > rows[("relu", "default")]["factor/block@init"]


def test_per_block_factor_of_a_geometric_sequence():
    norms = [3.0 * 0.5 ** (10 - l) for l in range(1, 11)]  # shrinks by 1/2 per block towards the input
    assert per_block_factor(norms) == pytest.approx(0.5)
    assert per_block_factor([1.0] * 5) == pytest.approx(1.0)


def test_grad_norms_against_a_hand_built_network():
    torch.manual_seed(0)
    model = DeepMLP(DeepMLPConfig(in_features=6, width=5, depth=3, n_classes=4, activation="tanh", init="matched"))
    x, y = torch.randn(7, 6), torch.randint(0, 4, (7,))
    got = grad_norms(model, model.layer_weights(), x, y)
    # the same network written out by hand, differentiated by autograd
    W = [model.inp.weight, *(b.weight for b in model.blocks), model.out.weight]
    b = [model.inp.bias, *(b.bias for b in model.blocks), model.out.bias]
    h = x @ W[0].T + b[0]
    for i in range(1, 4):
        h = torch.tanh(h @ W[i].T + b[i])
    logits = h @ W[4].T + b[4]
    loss = -(logits.log_softmax(-1)[torch.arange(7), y]).mean()
    want = [g.norm().item() for g in torch.autograd.grad(loss, W[1:4])]
    assert got == pytest.approx(want, rel=1e-5)


def test_matched_init_variances():
    torch.manual_seed(0)
    relu = DeepMLP(DeepMLPConfig(width=512, depth=1, activation="relu", init="matched"))
    tanh = DeepMLP(DeepMLPConfig(width=512, depth=1, activation="tanh", init="matched"))
    assert relu.blocks[0].weight.var().item() == pytest.approx(2 / 512, rel=0.05)  # He
    assert tanh.blocks[0].weight.var().item() == pytest.approx(2 / 1024, rel=0.05)  # Glorot
    default = DeepMLP(DeepMLPConfig(width=512, depth=1, activation="relu", init="default"))
    assert default.blocks[0].weight.abs().max().item() <= 1 / math.sqrt(512)
