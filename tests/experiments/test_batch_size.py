"""batch-size (Part 2, Q1) in --quick mode, and its measuring tools against independent oracles."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlexam.experiments import ExperimentRun, run_experiment
from dlexam.experiments import batch_size as B
from dlexam.experiments.memory import peak_rss_step, saved_tensor_bytes

from .helpers import check_result


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    return run_experiment(ExperimentRun("batch-size", out, quick=True)).to_json(), out


def test_result_files(run):
    check_result(run[0], run[1], "batch-size")
    assert [r["batch"] for r in run[0]["table"]] == list(B.BatchSizeConfig.quick().batch_sizes)


def test_noise_follows_sampling_theory(run):
    n = run[0]["numbers"]
    rows = n["noise"]["by_batch"]
    sizes = n["batch_sizes"]
    for b in sizes:
        r = rows[str(b)]
        if b < n["n_train"]:
            assert 0.4 < r["measured"] / r["theory"] < 2.5, b
        else:  # the whole training set: the minibatch gradient is the full gradient
            assert r["theory"] == 0 and r["measured"] < 1e-8 * n["noise"]["tr_sigma"]
    measured = [rows[str(b)]["measured"] for b in sizes]
    assert measured == sorted(measured, reverse=True)


def test_saved_memory_grows_with_batch(run):
    mem = run[0]["numbers"]["memory"]
    saved = [mem[str(b)]["saved_for_backward_mib"] for b in run[0]["numbers"]["batch_sizes"]]
    assert saved == sorted(saved) and saved[-1] > 10 * saved[0]


def test_noise_theory_against_enumeration_of_all_minibatches():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(7, 3))  # 7 per-example gradients in R^3
    full = g.mean(0)
    tr_sigma = ((g - full) ** 2).sum(1).mean()
    for b in range(1, 8):
        dists = [((g[list(c)].mean(0) - full) ** 2).sum() for c in itertools.combinations(range(7), b)]
        assert np.mean(dists) == pytest.approx(B.noise_theory(7, b, tr_sigma), abs=1e-12)


def test_per_example_gradients_against_a_loop():
    torch.manual_seed(0)
    model = B.new_model(0)
    x, y = torch.randn(5, 1, 32, 32), torch.randint(0, 10, (5,))
    got = B.per_example_sq_norms(model, x, y, chunk=2)
    want = []
    for i in range(5):
        grads = torch.autograd.grad(F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), list(model.parameters()))
        want.append(sum(gr.pow(2).sum() for gr in grads).item())
    assert got.tolist() == pytest.approx(want, rel=1e-4)
    full = B.flat_grad(model, x, y, chunk=2)
    ref = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    torch.testing.assert_close(full, torch.cat([r.flatten() for r in ref]), rtol=1e-5, atol=1e-7)


def test_saved_tensor_bytes_of_a_product():
    a = torch.randn(1000, requires_grad=True)
    b = torch.randn(1000, requires_grad=True)
    assert saved_tensor_bytes(lambda: (a * b).sum()) == 2 * 1000 * 4  # a * b saves a and b


def test_peak_rss_sees_a_large_allocation():
    got = peak_rss_step(lambda: torch.ones(25_000_000).add_(1))  # 95.4 MiB
    if got is None:
        pytest.skip("peak RSS cannot be measured here (no fork or no /proc)")
    assert 90 < got < 130
