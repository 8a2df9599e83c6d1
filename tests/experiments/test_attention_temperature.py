"""attention-temperature (Problems 2.2, 2.5) in --quick mode, with oracles that do not use autograd."""

from __future__ import annotations

import pytest
import torch

from dlexam.experiments import ExperimentRun, run_experiment
from dlexam.experiments import attention_temperature as A
from dlexam.geoff import START, STOP, exam_model

from .helpers import check_result

# The exam's matrices, typed in from Problem 2 (independent of dlexam.geoff's copy).
EXAM_W = torch.tensor([[0.0, 3], [1, 2], [2, 1], [3, 0]])
EXAM_W_O = torch.tensor([[0.0, 1, 0, 1], [1, 0, 1, 0]])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("attention")
    return run_experiment(ExperimentRun("attention-temperature", out, quick=True)).to_json(), out


def test_result_files(run):
    check_result(run[0], run[1], "attention-temperature")


def test_argmax_freezes_w_q_and_w_k_only(run):
    runs = run[0]["numbers"]["runs"]
    argmax, soft = runs["T = 0 (argmax)"], runs["T = sqrt(d_k)"]
    assert argmax["moved"]["W_Q"] == 0.0 and argmax["moved"]["W_K"] == 0.0
    assert not argmax["grad_ever_nonzero"]["W_Q"] and not argmax["grad_ever_nonzero"]["W_K"]
    assert argmax["moved"]["W_V"] > 0.01 and argmax["moved"]["W_O"] > 0.01
    assert soft["moved"]["W_Q"] > 0.01 and soft["moved"]["W_K"] > 0.01
    assert run[0]["verdict"] == "partly supported"


def test_experiment_starts_from_the_exams_weights():
    m = exam_model(1, 0.0, torch.float32)
    mats = A.matrices(m)
    torch.testing.assert_close(mats["W_Q"][0], EXAM_W)
    torch.testing.assert_close(mats["W_V"][0], EXAM_W)
    torch.testing.assert_close(mats["W_O"], EXAM_W_O)


def test_batches_hold_sorted_deduplicated_targets():
    inputs = [[3, 0, 0], [2], [1, 3, 1, 0, 2]]
    lengths = torch.tensor([len(x) for x in inputs])
    padded = torch.tensor([x + [0] * (5 - len(x)) for x in inputs])
    tokens, pad, targets = A.make_batch(padded, lengths)
    for i, x in enumerate(inputs):
        n = int(pad[i].sum())
        seq = tokens[i, :n].tolist()
        want = sorted(set(x)) + [STOP]
        assert seq == x + [START] + want  # the whole sequence x <START> y <STOP>
        got = [t for t in targets[i].tolist() if t != -100]
        assert got == want  # scored: the output tokens, each predicted from the previous position
        assert targets[i, len(x)].item() == want[0]  # <START>'s row predicts the first output


def _loss_at(model, batch, T):
    with torch.no_grad():
        return A.batch_loss(model, batch, T).item()


def test_finite_differences_zero_for_w_q_but_not_w_v():
    """Oracle without autograd: at T = 0 the loss is flat in W_Q (piecewise constant), not in W_V."""
    batch = A.make_batch(*A.random_inputs(32, 5, torch.Generator().manual_seed(3)))
    model = exam_model(1, 0.0, torch.float64)
    base = _loss_at(model, batch, 0.0)
    layer = model.layers[0]
    for name, param, flat in (("W_Q", layer.W_Q, True), ("W_K", layer.W_K, True), ("W_V", layer.W_V, False)):
        diffs = []
        for idx in [(0, i, j) for i in range(4) for j in range(2)]:
            with torch.no_grad():
                param[idx] += 1e-4
            diffs.append(abs(_loss_at(model, batch, 0.0) - base))
            with torch.no_grad():
                param[idx] -= 1e-4
        if flat:
            assert max(diffs) == 0.0, name
        else:
            assert max(diffs) > 1e-7, name
