"""The fused training step (fused.cpp's dlexam_train_step: trunk, linear head and cross-entropy, forward and
backward, image by image) against PyTorch's layers, F.cross_entropy and autograd in float64; the direct
fused SGD against optimizer.step(); and the kernels' thread pool running every chunk once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam.svhn.kernels import fused
from dlexam.svhn.kernels.geometry import Geometry, version_a
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import train_one_epoch
from dlexam.svhn.training.step import make_optimizer, sgd_step

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")

A = version_a()
OTHER = Geometry(c1=4, k1=3, pad1=1, pool1=4, c2=12, k2=3, pad2=0, pool2=2)


def layers(g: Geometry, height: int, width: int, classes: int, seed: int):
    torch.manual_seed(seed)
    conv1 = nn.Conv2d(1, g.c1, g.k1, padding=g.pad1)
    conv2 = nn.Conv2d(g.c1, g.c2, g.k2, padding=g.pad2)
    hp, wp = g.output_size(height, width)
    fc = nn.Linear(g.c2 * hp * wp, classes)
    with torch.no_grad():
        fc.weight.mul_(4.0)  # logits spread enough for the softmax to matter
    return conv1, conv2, fc


def reference(g: Geometry, x, y, conv1, conv2, fc, scale):
    """(summed loss, correct, gradients of scale * summed loss) from PyTorch's layers in float64."""
    params = [t.detach().double().requires_grad_() for t in (conv1.weight, conv1.bias, conv2.weight, conv2.bias,
                                                             fc.weight, fc.bias)]
    h = F.avg_pool2d(F.relu(F.conv2d(x.double(), params[0], params[1], padding=g.pad1)), g.pool1)
    h = F.avg_pool2d(F.relu(F.conv2d(h, params[2], params[3], padding=g.pad2)), g.pool2)
    logits = F.linear(h.flatten(1), params[4], params[5])
    loss = F.cross_entropy(logits, y, reduction="sum")
    grads = torch.autograd.grad(loss * scale, params)
    return float(loss.detach()), int((logits.argmax(1) == y).sum()), grads


@pytest.mark.parametrize(
    ("g", "batch", "height", "width", "classes", "scale"),
    [
        (A, 1, 32, 32, 10, 1.0),
        (A, 37, 32, 32, 10, 1 / 37),  # chunks of 8 and the tail's chunks of 2
        (A, 256, 32, 32, 10, 1 / 256),  # the loop's batch
        (A, 5, 21, 40, 3, 0.5),
        (A, 9, 32, 32, 17, 2.0),  # two vectors of classes
        (OTHER, 11, 24, 28, 64, 0.25),
    ],
    ids=lambda v: str(v) if not isinstance(v, Geometry) else ("A" if v == A else "other"),
)
def test_the_step_is_layers_cross_entropy_and_autograd(g, batch, height, width, classes, scale):
    conv1, conv2, fc = layers(g, height, width, classes, seed=batch)
    x = torch.randn(batch, 1, height, width)
    y = torch.randint(0, classes, (batch,))
    loss, correct = fused.train_step(g, x, y, conv1, conv2, fc, scale)
    ref_loss, ref_correct, ref_grads = reference(g, x, y, conv1, conv2, fc, scale)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert correct == ref_correct
    params = (conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias)
    for name, p, ref in zip(("w1", "b1", "w2", "b2", "fc.weight", "fc.bias"), params, ref_grads, strict=True):
        assert p.grad.dtype == torch.float32 and p.grad.shape == p.shape
        torch.testing.assert_close(p.grad.double(), ref, rtol=1e-4, atol=1e-5 * (1 + ref.abs().max().item()), msg=name)


def test_the_step_overwrites_gradients_and_gives_the_same_bits_on_any_thread_count():
    conv1, conv2, fc = layers(A, 32, 32, 10, seed=1)
    x, y = torch.randn(100, 1, 32, 32), torch.randint(0, 10, (100,))
    params = (conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias)
    for p in params:
        p.grad = torch.full_like(p, 7.0)  # a stale gradient: overwritten, not added to
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3, 2):
            torch.set_num_threads(threads)
            loss, correct = fused.train_step(A, x, y, conv1, conv2, fc, 0.01)
            results.append((loss, correct, [p.grad.clone() for p in params]))
    finally:
        torch.set_num_threads(before)
    _, _, ref_grads = reference(A, x, y, conv1, conv2, fc, 0.01)
    torch.testing.assert_close(results[0][2][4].double(), ref_grads[4], rtol=1e-4, atol=1e-6)
    for loss, correct, grads in results[1:]:
        assert (loss, correct) == results[0][:2]
        assert all(torch.equal(a, b) for a, b in zip(grads, results[0][2], strict=True))


def test_bad_labels_and_heads_raise_before_the_kernels_run():
    conv1, conv2, fc = layers(A, 32, 32, 10, seed=0)
    x = torch.randn(4, 1, 32, 32)
    with pytest.raises(ValueError, match="outside"):
        fused.train_step(A, x, torch.tensor([0, 1, 10, 2]), conv1, conv2, fc, 1.0)
    with pytest.raises(ValueError, match="outside"):
        fused.train_step(A, x, torch.tensor([0, -1, 3, 2]), conv1, conv2, fc, 1.0)
    assert conv1.weight.grad is None  # nothing written
    with pytest.raises(ValueError, match="int64"):
        fused.train_step(A, x, torch.tensor([0, 1, 2, 3], dtype=torch.int32), conv1, conv2, fc, 1.0)
    with pytest.raises(ValueError, match="Linear"):
        fused.train_step(A, x, torch.tensor([0, 1, 2, 3]), conv1, conv2, nn.Linear(100, 10), 1.0)
    with pytest.raises(TypeError):
        fused.train_step(A, x.double(), torch.tensor([0, 1, 2, 3]), conv1, conv2, fc, 1.0)


def test_examcnn_takes_the_fused_step_only_where_it_computes_the_same():
    x, y = torch.randn(8, 1, 32, 32), torch.randint(0, 10, (8,))
    model = ExamCNN()
    assert model.fused_step(x, y, 1.0) is not None
    declined = {
        "evaluation": ExamCNN().eval(),
        "unfused": ExamCNN(fused=False),
        "a conv head": ExamCNN(CNNConfig(head="conv1x1-gap")),
    }
    for why, m in declined.items():
        assert m.fused_step(x, y, 1.0) is None, why
    hooked = ExamCNN()
    handle = hooked.fc.register_forward_hook(lambda *args: None)
    assert hooked.fused_step(x, y, 1.0) is None
    handle.remove()
    assert hooked.fused_step(x, y, 1.0) is not None
    hooked.conv2.weight.register_hook(lambda grad: grad)
    assert hooked.fused_step(x, y, 1.0) is None
    assert model.fused_step(x.double(), y, 1.0) is None
    with torch.no_grad():
        assert model.fused_step(x, y, 1.0) is None


def test_an_epoch_with_the_fused_step_is_the_epoch_through_autograd(monkeypatch):
    """The same epochs twice: the fused step, and the model's layers with autograd (fused_step declined).
    The model is channels last, as the loop trains it: a gradient in another layout than its weight's
    made the fused SGD update the wrong elements (1% off after 20 steps; caught here)."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (600, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (600,), generator=g)
    cfg = TrainConfig(batch_size=64, seed=3, lr=0.01)
    runs = []
    for whole_step in (True, False):
        torch.manual_seed(0)
        model = ExamCNN().to(memory_format=torch.channels_last)
        if not whole_step:
            monkeypatch.setattr(model, "fused_step", lambda *args: None)
        opt = make_optimizer(model, cfg)
        stats = [train_one_epoch(model, opt, images, labels, epoch=e, cfg=cfg, total_steps=20) for e in range(2)]
        runs.append((model, stats))
    (fast, fast_stats), (slow, slow_stats) = runs
    for a, b in zip(fast_stats, slow_stats, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert abs(round(a["accuracy"] * 600) - round(b["accuracy"] * 600)) <= 3  # argmaxes at near-ties may differ
    for (name, p), q in zip(fast.named_parameters(), slow.parameters(), strict=True):
        for layout in (torch.contiguous_format, torch.channels_last):  # channels-last weights: channels-last gradients
            assert p.grad.is_contiguous(memory_format=layout) == p.is_contiguous(memory_format=layout), name
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_sgd_step_is_optimizer_step_bit_for_bit():
    """sgd_step calls the one kernel optimizer.step() calls, with the same arguments."""
    torch.manual_seed(0)
    models = [ExamCNN(fused=False) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [make_optimizer(m, TrainConfig()) for m in models]
    assert opts[0].param_groups[0]["fused"]
    for step in range(5):
        grads = [torch.randn_like(p) for p in models[0].parameters()]
        for m, opt in zip(models, opts, strict=True):
            opt.param_groups[0]["lr"] = 0.1 / (step + 1)
            for p, grad in zip(m.parameters(), grads, strict=True):
                p.grad = grad.clone()
        opts[0].step()
        sgd_step(opts[1])
        for p, q in zip(models[0].parameters(), models[1].parameters(), strict=True):
            assert torch.equal(p, q)
            assert torch.equal(opts[0].state[p]["momentum_buffer"], opts[1].state[q]["momentum_buffer"])
    adam = make_optimizer(models[1], TrainConfig(optimizer="adam"))  # anything else: optimizer.step() itself
    sgd_step(adam)
    assert all(int(s["step"]) == 1 for s in adam.state.values())


POOL_CHECK = """
import sys
from dlexam.svhn.kernels.library import library_for
print(library_for().dlexam_pool_check(int(sys.argv[1]), 100_000))
"""


@pytest.mark.parametrize(("threads", "policy"), [(2, "spin"), (2, "sleep"), (3, "spin")])
def test_jobs_back_to_back_run_every_chunk_exactly_once(threads, policy):
    """100,000 jobs of 1 to 40 chunks, each published as the last ends. Before the pool closed a job's
    state first when publishing the next, a worker still reading the old one could claim a chunk past
    its end and count down the new job's chunks: the caller then waited forever (this hung in seconds)."""
    env = {**os.environ, "DLEXAM_KERNEL_WAIT": policy}
    proc = subprocess.run([sys.executable, "-c", POOL_CHECK, str(threads)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0"]
