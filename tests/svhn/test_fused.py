"""The fused conv + ReLU + pool operators of both stages against PyTorch's own layers and autograd.

The oracle is nn.Conv2d -> nn.ReLU -> nn.AvgPool2d in float64 with autograd: the kernels (float32)
must agree with it about as closely as PyTorch's own float32 layers do. torch.library.opcheck checks
the operators' registrations (schema, autograd, fake kernels, torch.compile's AOT dispatch).
"""

from __future__ import annotations

import ctypes
import shutil

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam.svhn.kernels import build as kernel_build
from dlexam.svhn.kernels import fused, library
from dlexam.svhn.kernels.library import VERSION_A
from dlexam.svhn.model import CNNConfig, ExamCNN

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")


def reference(stage: int, x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor):
    """Output and (input, weight, bias) gradients of <g, avgpool(relu(conv(x)))> in float64."""
    spec = fused.STAGES[stage]
    xd = x.detach().double().requires_grad_()
    w = conv.weight.detach().double().requires_grad_()
    b = conv.bias.detach().double().requires_grad_()
    out = F.avg_pool2d(F.relu(F.conv2d(xd, w, b, padding=spec["padding"])), spec["pool"])
    return (out, *torch.autograd.grad((out * g.double()).sum(), [xd, w, b]))


def fused_result(stage: int, x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor):
    """The same from the fused operator; the input gradient only for stage 2 (stage 1 has none)."""
    x = x.detach().requires_grad_(stage == 2)
    out = fused.conv_relu_avgpool(stage, x, conv.weight, conv.bias)
    wrt = [x, conv.weight, conv.bias] if stage == 2 else [conv.weight, conv.bias]
    grads = torch.autograd.grad((out * g).sum(), wrt)
    return (out, *grads) if stage == 2 else (out, None, *grads)


def check_stage(stage: int, x: torch.Tensor, conv: nn.Conv2d, g: torch.Tensor, tol: float = 1e-4) -> None:
    assert_matches(fused_result(stage, x, conv, g), reference(stage, x, conv, g), tol)


def assert_matches(got: tuple, ref: tuple, tol: float = 1e-4) -> None:
    """A fused result (output, then input, weight and bias gradients) against the float64 oracle's."""
    torch.testing.assert_close(got[0].double(), ref[0], rtol=1e-5, atol=1e-5, msg="output")
    for name, a, b in zip(("input grad", "weight grad", "bias grad"), got[1:], ref[1:], strict=True):
        if a is not None:
            torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol, msg=name)


def stage_inputs(stage: int, batch: int, height: int, width: int, seed: int = 0):
    torch.manual_seed(seed)
    spec = fused.STAGES[stage]
    conv = nn.Conv2d(spec["in_channels"], spec["out_channels"], spec["kernel"], padding=spec["padding"])
    x = torch.randn(batch, spec["in_channels"], height, width)
    if stage == 2:  # as stage 1 hands it over: non-negative, channels-last
        x = x.abs().contiguous(memory_format=torch.channels_last)
    pooled = (fused.pooled_size(height, stage), fused.pooled_size(width, stage))
    g = torch.randn(batch, spec["out_channels"], *pooled)
    return x, conv, g


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 32, 32), (7, 32, 32), (64, 32, 32), (3, 13, 22)])
def test_stage1_matches_pytorch_layers(batch, height, width):
    x, conv, g = stage_inputs(1, batch, height, width, seed=batch)
    check_stage(1, x, conv, g)
    out = fused.conv_relu_avgpool(1, x, conv.weight, conv.bias)
    assert out.shape == (batch, 8, (height - 4) // 4, (width - 4) // 4) and out.dtype == torch.float32
    assert out.is_contiguous(memory_format=torch.channels_last)  # what Conv-2 wants


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 7, 7), (5, 7, 7), (64, 7, 7), (3, 5, 10), (2, 6, 3)])
def test_stage2_matches_pytorch_layers(batch, height, width):
    x, conv, g = stage_inputs(2, batch, height, width, seed=batch)
    check_stage(2, x, conv, g)
    check_stage(2, -x, conv, g)  # mostly negative conv outputs: most of the mask off
    out = fused.conv_relu_avgpool(2, x.contiguous(), conv.weight, conv.bias)  # NCHW input works too
    assert out.shape == (batch, 16, (height - 1) // 2, (width - 1) // 2)


def test_kernels_are_as_close_to_float64_as_pytorch_float32_layers():
    for stage, size in ((1, 32), (2, 7)):
        x, conv, g = stage_inputs(stage, 64, size, size, seed=5)
        ref = reference(stage, x, conv, g)
        got = fused_result(stage, x, conv, g)
        spec = fused.STAGES[stage]
        eager = F.avg_pool2d(F.relu(conv(x)), spec["pool"])
        eager_gw = torch.autograd.grad((eager * g).sum(), conv.weight)[0]
        assert (got[2].double() - ref[2]).abs().max() <= 4 * (eager_gw.double() - ref[2]).abs().max() + 1e-6


def test_relu_gradient_is_zero_where_the_conv_output_is_exactly_zero():
    """PyTorch's ReLU passes no gradient at 0; the masks must agree (zero weights: outputs = bias)."""
    for stage, size, out_ch in ((1, 32, 8), (2, 7, 16)):
        x, conv, g = stage_inputs(stage, 4, size, size)
        with torch.no_grad():
            conv.weight.zero_()
            conv.bias.copy_(torch.arange(out_ch) % 4 - 1.0)  # -1, 0, 1, 2, -1, 0, ...
        ref = reference(stage, x, conv, g)
        got = fused_result(stage, x, conv, g)
        torch.testing.assert_close(got[0].double(), ref[0])
        dead = (torch.arange(out_ch) % 4) < 2  # bias -1 or 0: no gradient
        assert got[3][dead].abs().max() == 0 and ref[3][dead].abs().max() == 0
        torch.testing.assert_close(got[3].double(), ref[3], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got[2].double(), ref[2], rtol=1e-5, atol=1e-5)


def test_channel_bits_of_the_masks_are_not_mixed_up():
    """Each channel alive in a different share of positions: a swapped bit would route gradient wrongly."""
    for stage, size in ((1, 32), (2, 7)):
        x, conv, g = stage_inputs(stage, 5, size, size, seed=3)
        n = conv.out_channels
        with torch.no_grad():
            conv.weight.mul_(torch.linspace(0.1, 2, n)[:, None, None, None])
            conv.bias.copy_(torch.linspace(-1.5, 1.5, n))
        check_stage(stage, x, conv, g)


FUSED_NODES = {f"GeneratedBackwardFor_dlexam_stage{s}_forward_defaultBackward" for s in (1, 2)}
TRUNK_NODES = {"_TrunkBackward"}  # what ExamCNN trains with (fused.trunk)


def graph_nodes(t: torch.Tensor) -> set[str]:
    """Names of the autograd nodes behind t."""
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None and type(node).__name__ not in seen:
            seen.add(type(node).__name__)
            todo.extend(n for n, _ in node.next_functions)
    return seen


def test_training_step_of_examcnn_matches_pytorch_layers():
    """A whole ExamCNN step, fused (both stages) and unfused: same loss, same gradients."""
    torch.manual_seed(0)
    a = ExamCNN(fused=True).to(memory_format=torch.channels_last)
    b = ExamCNN(fused=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(32, 1, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (32,))
    losses = []
    for model in (a, b):
        model.train()
        logits = model(x)
        assert (TRUNK_NODES <= graph_nodes(logits)) == (model is a) and model.fused == (model is a)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("stage", [1, 2])
def test_results_depend_only_on_the_inputs_and_thread_count(stage):
    x, conv, g = stage_inputs(stage, 50, 32 if stage == 1 else 7, 32 if stage == 1 else 7)
    before = torch.get_num_threads()
    try:
        results = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            first = fused_result(stage, x, conv, g)
            again = fused_result(stage, x, conv, g)
            for u, v in zip(first[1:], again[1:], strict=True):
                assert u is None or torch.equal(u, v)  # bit for bit at a fixed thread count
            results[threads] = first
    finally:
        torch.set_num_threads(before)
    for u, v in zip(results[1], results[2], strict=True):
        assert u is None or torch.allclose(u, v, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stage", [1, 2])
def test_results_do_not_depend_on_the_default_dtype(stage):
    """Bug 2: outputs and gradients were allocated in the default dtype, so after
    torch.set_default_dtype(torch.float64) the kernels' floats landed in float64 buffers."""
    x, conv, g = stage_inputs(stage, 6, 32 if stage == 1 else 7, 32 if stage == 1 else 7, seed=2)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = fused_result(stage, x, conv, g)
    finally:
        torch.set_default_dtype(before)
    assert_matches(got, reference(stage, x, conv, g))
    for a, b in zip(got, fused_result(stage, x, conv, g), strict=True):  # bit for bit as under float32
        assert a is None or (a.dtype == torch.float32 and torch.equal(a, b))


def test_wrong_inputs_raise_before_any_pointer_reaches_the_kernels():
    x, conv, g = stage_inputs(1, 2, 32, 32)
    w, b = conv.weight.detach(), conv.bias.detach()
    with pytest.raises(TypeError, match="x must be a torch.float32 CPU tensor, not torch.float64"):
        fused.stage1_forward(x.double(), w, b)
    with pytest.raises(TypeError, match="bias must be a torch.float32 CPU tensor"):
        fused.stage1_forward(x, w, b.half())
    with pytest.raises(ValueError, match=r"weight must have shape \(8, 1, 5, 5\)"):
        fused.stage1_forward(x, w[:4], b)
    with pytest.raises(ValueError, match=r"x must be \(B, 8, H, W\)"):
        fused.stage2_forward(x, w, b)
    with pytest.raises(ValueError, match="too small for one pooled output"):
        fused.stage1_forward(x[:, :, :7], w, b)
    out, mask = fused.stage1_forward(x, w, b)
    with pytest.raises(TypeError, match="mask must be a torch.uint8 CPU tensor"):
        fused.stage1_backward(x, g, mask.to(torch.int16))
    with pytest.raises(ValueError, match="grad must have shape"):
        fused.stage1_backward(x, g[:, :, :3], mask)
    # strided views are copied into the layouts the kernels read, never read as if contiguous
    check_stage(1, torch.randn(2, 1, 64, 64)[:, :, ::2, 1::2], conv, g)
    x2, conv2, g2 = stage_inputs(2, 3, 7, 7)
    check_stage(2, x2.transpose(2, 3), conv2, g2)


def test_the_thread_count_is_passed_to_the_kernels(monkeypatch):
    assert fused.available()
    calls, lib = [], library._libs[VERSION_A.compiled]

    class Spy:  # the library, recording the last argument (the thread count) of every call
        def __getattr__(self, name):
            kernel = getattr(lib, name)
            return lambda *args: calls.append(args[-1]) or kernel(*args)

    monkeypatch.setitem(library._libs, VERSION_A.compiled, Spy())
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for stage in (1, 2):
                fused_result(stage, *stage_inputs(stage, 4, 9, 9))
    finally:
        torch.set_num_threads(before)
    assert calls == [1] * 4 + [2] * 4  # forward and backward of both stages, at each count


def opcheck_cases():
    """(operator, arguments) for torch.library.opcheck: each operator, on a batch and image size of
    its own, with gradients wanted for every input that has a gradient formula."""
    x1, c1, g1 = stage_inputs(1, 3, 13, 22)
    x2, c2, g2 = stage_inputs(2, 2, 5, 10)
    w1, b1, w2, b2 = (t.detach().requires_grad_() for t in (c1.weight, c1.bias, c2.weight, c2.bias))
    mask1 = fused.stage1_forward(x1, w1, b1)[1]
    mask2 = fused.stage2_forward(x2, w2, b2)[1]
    return [
        pytest.param(fused.stage1_forward, (x1, w1, b1), id="stage1_forward"),  # images: no gradient
        pytest.param(fused.stage2_forward, (x2.requires_grad_(), w2, b2), id="stage2_forward"),
        pytest.param(fused.stage1_backward, (x1, g1, mask1), id="stage1_backward"),
        pytest.param(fused.stage2_backward, (x2.detach(), g2, mask2, w2.detach()), id="stage2_backward"),
    ]


@pytest.mark.parametrize(("op", "args"), opcheck_cases())
def test_opcheck(op, args):
    """All four of opcheck's checks apply to every operator. The backward operators have no gradient
    formula of their own (no double backward), so they are checked with inputs that need none:
    test_autograd_registration then only confirms that nothing claims otherwise."""
    result = torch.library.opcheck(op, args, raise_exception=False)
    assert result == dict.fromkeys(
        ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic"), "SUCCESS"
    )


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
    assert not model.fused, why
    assert not fused.computes(1, model.conv1, model.act1, model.pool1), why
    assert not fused.computes(2, model.conv2, model.act2, model.pool2), why
    assert not TRUNK_NODES & graph_nodes(model(torch.zeros(2, 1, 32, 32))), why
    assert model.engine.startswith("eager (") and model.engine != "eager (not fused)", model.engine


def test_the_engine_is_chosen_when_built_and_used_only_in_training():
    model = ExamCNN().train()
    x = torch.zeros(2, 1, 32, 32)
    assert model.fused and model.engine == "fused" and fused.computes(1, model.conv1, model.act1, model.pool1)
    assert TRUNK_NODES <= graph_nodes(model(x))
    with torch.no_grad():
        assert model(x).grad_fn is None  # no gradients wanted: PyTorch's layers
    assert not TRUNK_NODES & graph_nodes(model(x.clone().requires_grad_()))  # input grads: stage 1 has none
    assert not TRUNK_NODES & graph_nodes(model.double()(x.double()))  # float64: PyTorch's layers
    # per-example gradients with torch.func (the batch-size experiment) need PyTorch's layers
    model = ExamCNN().train().unfuse_()
    assert not model.fused
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi):
        return torch.func.functional_call(model, p, (xi[None],)).sum()

    per_example = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0))(params, torch.randn(3, 1, 32, 32))
    assert per_example["conv1.weight"].shape == (3, 8, 1, 5, 5)
    assert model.fuse_().fused
    model.pool1 = nn.Identity()  # an experiment swapping a layer out: the engine is chosen again
    assert not model.fused and not TRUNK_NODES & graph_nodes(model(torch.zeros(2, 1, 11, 11)))
    assert model.engine == "eager (the fused kernels compute average pooling, not Identity)"
    # forward hooks on the exam's layers still see them in evaluation (the layer table relies on it)
    seen = []
    model = ExamCNN().eval()
    model.pool1.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape)))
    with torch.no_grad():
        model(x)
    assert seen == [(2, 8, 7, 7)]
    assert list(model.state_dict()) == list(ExamCNN(fused=False).state_dict())  # checkpoints unchanged


def test_portable_build_computes_the_same(tmp_path, monkeypatch, portable_kernel_cache):
    """The second-try build (no -march=native, no OpenMP) must be just as right (built once per test run:
    tests/svhn/conftest.py; copied into a cache of the test's own)."""
    monkeypatch.setenv("DLEXAM_CACHE", str(shutil.copytree(portable_kernel_cache, tmp_path / "cache")))
    flags = [*kernel_build.PORTABLE_FLAGS, *VERSION_A.defines()]
    lib = ctypes.CDLL(str(kernel_build.build(kernel_build.compiler(), flags)))
    monkeypatch.setitem(library._libs, VERSION_A.compiled, library.declare(lib))
    check_stage(1, *stage_inputs(1, 9, 32, 32, seed=1))
    check_stage(2, *stage_inputs(2, 9, 7, 7, seed=1))


@settings(max_examples=40, deadline=None)
@given(
    stage=st.sampled_from([1, 2]),
    batch=st.integers(1, 5),
    height=st.integers(0, 12),
    width=st.integers(0, 12),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
    seed=st.integers(0, 2**16),
)
def test_any_shape_and_scale_matches_pytorch_layers(stage, batch, height, width, scale, seed):
    """Random image sizes (down to one pool cell) and magnitudes, both stages, float64 oracle."""
    least = 8 if stage == 1 else 3  # the smallest input that gives one pooled output
    x, conv, g = stage_inputs(stage, batch, least + height, least + width, seed=seed)
    x = x * scale
    ref = reference(stage, x, conv, g)
    got = fused_result(stage, x, conv, g)
    for a, b in zip(got, ref, strict=True):
        if a is not None:
            bound = 1e-5 * (1 + b.abs().max().item())
            assert (a.double() - b).abs().max().item() <= bound * (10 if a is not got[0] else 1)
