"""The fused Conv-1 + ReLU + AvgPool-1 kernel against PyTorch's own layers and autograd.

The oracle is nn.Conv2d -> nn.ReLU -> nn.AvgPool2d in float64 with autograd: the kernel (float32)
must agree with it as closely as PyTorch's own float32 layers do.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam.svhn import fused
from dlexam.svhn.model import CNNConfig, ExamCNN

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")


def reference(x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor):
    """Output and (weight, bias) gradients of <g, avgpool4(relu(conv(x)))> in float64."""
    w = conv.weight.detach().double().requires_grad_()
    b = conv.bias.detach().double().requires_grad_()
    out = F.avg_pool2d(F.relu(F.conv2d(x.double(), w, b)), 4)
    gw, gb = torch.autograd.grad((out * g.double()).sum(), [w, b])
    return out, gw, gb


def fused_result(x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor):
    out = fused.conv_relu_avgpool(x, conv)
    gw, gb = torch.autograd.grad((out * g).sum(), [conv.weight, conv.bias])
    return out, gw, gb


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 32, 32), (7, 32, 32), (64, 32, 32), (3, 13, 22)])
def test_forward_and_gradients_match_pytorch_layers(batch, height, width):
    torch.manual_seed(batch)
    conv = nn.Conv2d(1, 8, 5)
    x = torch.randn(batch, 1, height, width)
    pooled = ((height - 4) // 4, (width - 4) // 4)
    g = torch.randn(batch, 8, *pooled)
    ref_out, ref_gw, ref_gb = reference(x, conv, g)
    out, gw, gb = fused_result(x, conv, g)
    assert out.shape == (batch, 8, *pooled) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)  # what Conv-2 wants
    torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw.double(), ref_gw, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-4, atol=1e-4)
    # and at least as close as PyTorch's own float32 layers
    eager = F.avg_pool2d(F.relu(conv(x)), 4)
    egw, egb = torch.autograd.grad((eager * g).sum(), [conv.weight, conv.bias])
    assert (gw.double() - ref_gw).abs().max() <= 4 * (egw.double() - ref_gw).abs().max() + 1e-6


def test_relu_gradient_is_zero_where_the_conv_output_is_exactly_zero():
    """PyTorch's ReLU passes no gradient at 0; the mask must agree (zero weights: every output 0)."""
    conv = nn.Conv2d(1, 8, 5)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.copy_(torch.tensor([0.0, 1, 0, -1, 0, 2, 0, -2]))
    x = torch.randn(4, 1, 32, 32)
    g = torch.randn(4, 8, 7, 7)
    ref_out, ref_gw, ref_gb = reference(x, conv, g)
    out, gw, gb = fused_result(x, conv, g)
    torch.testing.assert_close(out.double(), ref_out)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-5, atol=1e-5)
    assert gb[[0, 2, 4, 6, 3, 7]].abs().max() == 0  # outputs 0 or negative: no gradient
    torch.testing.assert_close(gw.double(), ref_gw, rtol=1e-5, atol=1e-5)


def test_channel_bits_of_the_mask_are_not_mixed_up():
    """Each channel alive in a different region: a swapped bit would route gradient wrongly."""
    torch.manual_seed(3)
    conv = nn.Conv2d(1, 8, 5)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(8, 1, 5, 5) * torch.linspace(0.1, 2, 8)[:, None, None, None])
        conv.bias.copy_(torch.linspace(-3, 3, 8))
    x = torch.randn(5, 1, 32, 32)
    g = torch.randn(5, 8, 7, 7)
    ref_out, ref_gw, ref_gb = reference(x, conv, g)
    out, gw, gb = fused_result(x, conv, g)
    torch.testing.assert_close(gw.double(), ref_gw, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-4, atol=1e-4)


def test_training_step_of_examcnn_matches_pytorch_layers():
    """A whole ExamCNN step, fused and unfused: same loss, same gradients for every parameter."""
    torch.manual_seed(0)
    a = ExamCNN(fused=True).to(memory_format=torch.channels_last)
    b = ExamCNN(fused=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(32, 1, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (32,))
    losses = []
    for model in (a, b):
        model.train()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_results_depend_only_on_the_inputs_and_thread_count():
    conv = nn.Conv2d(1, 8, 5)
    x = torch.randn(50, 1, 32, 32)
    g = torch.randn(50, 8, 7, 7)
    before = torch.get_num_threads()
    try:
        results = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            first = fused_result(x, conv, g)
            again = fused_result(x, conv, g)
            for u, v in zip(first, again, strict=True):
                assert torch.equal(u, v)  # bit for bit at a fixed thread count
            results[threads] = first
    finally:
        torch.set_num_threads(before)
    for u, v in zip(results[1], results[2], strict=True):
        torch.testing.assert_close(u, v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("cfg", "why"),
    [
        (CNNConfig(pool="max"), "max pooling"),
        (CNNConfig(activation="tanh"), "tanh"),
        (CNNConfig(activation="none"), "no activation"),
    ],
)
def test_variants_the_kernel_does_not_compute_take_pytorch_layers(cfg, why):
    model = ExamCNN(cfg).train()
    assert not fused.applies(torch.zeros(2, 1, 32, 32), model.conv1, model.act1, model.pool1), why


def test_the_kernel_is_used_only_in_training_and_only_where_it_applies():
    model = ExamCNN().train()
    x = torch.zeros(2, 1, 32, 32)
    assert fused.applies(x, model.conv1, model.act1, model.pool1)
    assert not fused.applies(x.double(), model.conv1, model.act1, model.pool1)
    assert not fused.applies(x.clone().requires_grad_(), model.conv1, model.act1, model.pool1)  # input gradients
    # per-example gradients with torch.func (the batch-size experiment) go through PyTorch's layers
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi):
        return torch.func.functional_call(model, p, (xi[None],)).sum()

    per_example = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0))(params, torch.randn(3, 1, 32, 32))
    assert per_example["conv1.weight"].shape == (3, 8, 1, 5, 5)
    model.pool1 = nn.Identity()  # an experiment swapping a layer out
    assert not fused.applies(x, model.conv1, model.act1, model.pool1)
    # forward hooks on the exam's layers still see them in evaluation (the layer table relies on it)
    seen = []
    model = ExamCNN().eval()
    model.pool1.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
    with torch.no_grad():
        model(x)
    assert seen == [(2, 8, 7, 7)]


def _status_in_subprocess(env: dict) -> str:
    code = "from dlexam.svhn import fused; print(fused.status())"
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_disabled_or_without_a_compiler_training_falls_back_to_pytorch_layers(tmp_path):
    assert _status_in_subprocess({"DLEXAM_FUSED": "0"}) == "eager (disabled by DLEXAM_FUSED=0)"
    status = _status_in_subprocess({"CXX": "false", "PATH": str(tmp_path), "DLEXAM_CACHE": str(tmp_path / "c")})
    assert status == "eager (no C++ compiler found (set CXX))"


def test_a_failing_compiler_gives_a_reason_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bin" / "c++"
    bad.parent.mkdir()
    bad.write_text("#!/bin/sh\necho 'c++ (fake) 1.0'\necho 'error: no such thing' >&2\nexit 1\n")
    bad.chmod(0o755)
    cache = tmp_path / "cache"
    status = _status_in_subprocess({"CXX": str(bad), "DLEXAM_CACHE": str(cache)})
    assert status == "eager (could not build the kernel: c++ failed: error: no such thing)"
    assert list(cache.iterdir()) == []  # no half-written library left behind


def test_builds_into_the_cache_atomically_and_reuses_it(tmp_path):
    cache = tmp_path / "cache"
    assert _status_in_subprocess({"DLEXAM_CACHE": str(cache)}) == "fused"
    built = sorted(p.name for p in cache.iterdir())
    assert len(built) == 1 and built[0].startswith("fused-") and built[0].endswith(".so")
    mtime = (cache / built[0]).stat().st_mtime_ns
    assert _status_in_subprocess({"DLEXAM_CACHE": str(cache)}) == "fused"
    assert sorted(p.name for p in cache.iterdir()) == built
    assert (cache / built[0]).stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_portable_build_computes_the_same(tmp_path, monkeypatch):
    """The second-try build (no -march=native, no OpenMP) must be just as right."""
    import ctypes

    monkeypatch.setenv("DLEXAM_CACHE", str(tmp_path))
    lib = ctypes.CDLL(str(fused._build(fused._compiler(), fused.PORTABLE_FLAGS)))
    for name in ("dlexam_conv5_relu_avgpool4_forward", "dlexam_conv5_relu_avgpool4_backward"):
        getattr(lib, name).argtypes = getattr(fused._lib, name).argtypes
    monkeypatch.setattr(fused, "_lib", lib)
    torch.manual_seed(1)
    conv = nn.Conv2d(1, 8, 5)
    x = torch.randn(9, 1, 32, 32)
    g = torch.randn(9, 8, 7, 7)
    ref_out, ref_gw, ref_gb = reference(x, conv, g)
    out, gw, gb = fused_result(x, conv, g)
    torch.testing.assert_close(out.double(), ref_out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(gw.double(), ref_gw, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-4, atol=1e-4)
