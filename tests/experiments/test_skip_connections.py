"""skip-connections (Part 2, Q3) in --quick mode."""

from __future__ import annotations

import pytest
import torch

from dlexam.experiments import ExperimentRun, run_experiment
from dlexam.experiments.deep_mlp import DeepMLP, DeepMLPConfig

from .helpers import check_result


@pytest.fixture(scope="module")
def run(tmp_path_factory, need_shared):
    need_shared("data", "mnist-t10k")  # the experiment trains on real MNIST digits
    out = tmp_path_factory.mktemp("skip")
    return run_experiment(ExperimentRun("skip-connections", out, quick=True)).to_json(), out


def test_result_files(run):
    check_result(run[0], run[1], "skip-connections")


def test_residual_net_passes_gradients_and_trains(run):
    rows = {r["model"]: r for r in run[0]["table"]}
    plain, res = rows["plain"], rows["residual"]
    assert res["grad factor/block@init"] > plain["grad factor/block@init"]
    assert res["first/last grad@init"] > 100 * plain["first/last grad@init"]
    assert res["train acc"] > plain["train acc"] + 0.3
    assert run[0]["verdict"] in ("supported", "partly supported")


def test_residual_block_is_identity_plus_branch():
    torch.manual_seed(0)
    cfg = DeepMLPConfig(in_features=3, width=4, depth=1, n_classes=2, residual=True)
    m = DeepMLP(cfg)
    x = torch.randn(5, 3)
    h = m.inp(x)
    want = m.out(h + torch.relu(m.blocks[0](h)))
    torch.testing.assert_close(m(x), want)
