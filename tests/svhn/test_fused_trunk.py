"""The fused trunk (Conv-1 .. AvgPool-2 per image) against PyTorch's layers and autograd, its sizes
derived from the exam's layer table, other tables, and the kernels' thread pool.

The oracle is F.conv2d -> F.relu -> F.avg_pool2d twice, in float64, with autograd.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam.spec import CNNSpec, Conv, ExamSpec, Linear, Pool
from dlexam.svhn.kernels import fused
from dlexam.svhn.kernels.geometry import Geometry, Unsupported, version_a
from dlexam.svhn.model import ExamCNN

pytestmark = pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")

A = version_a()
# Tables the kernels were not written for, but compute: other channel counts (Conv-1's rounded up to a
# power of two in the vector, three rows of 4 channels... of 16), kernels, paddings and pools.
OTHER = [
    Geometry(c1=4, k1=3, pad1=1, pool1=4, c2=12, k2=3, pad2=0, pool2=2),
    Geometry(c1=6, k1=4, pad1=2, pool1=2, c2=20, k2=5, pad2=2, pool2=3),
]


def reference(g: Geometry, x, w1, b1, w2, b2, grad):
    """Output and (w1, b1, w2, b2) gradients of <grad, trunk(x)> in float64."""
    params = [t.detach().double().requires_grad_() for t in (w1, b1, w2, b2)]
    h = F.avg_pool2d(F.relu(F.conv2d(x.double(), params[0], params[1], padding=g.pad1)), g.pool1)
    out = F.avg_pool2d(F.relu(F.conv2d(h, params[2], params[3], padding=g.pad2)), g.pool2)
    return (out, *torch.autograd.grad((out * grad.double()).sum(), params))


def inputs(g: Geometry, batch: int, height: int = 32, width: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    conv1 = nn.Conv2d(1, g.c1, g.k1, padding=g.pad1)
    conv2 = nn.Conv2d(g.c1, g.c2, g.k2, padding=g.pad2)
    x = torch.randn(batch, 1, height, width)
    grad = torch.randn(batch, g.c2, *g.output_size(height, width))
    return x, conv1, conv2, grad


def fused_result(g: Geometry, x, conv1, conv2, grad):
    out = fused.trunk(x, conv1, conv2, g)
    params = [conv1.weight, conv1.bias, conv2.weight, conv2.bias]
    return (out, *torch.autograd.grad((out * grad).sum(), params))


def assert_close_to(got, ref, tol=1e-4):
    torch.testing.assert_close(got[0].double(), ref[0], rtol=1e-5, atol=1e-5, msg="output")
    for name, a, b in zip(("w1", "b1", "w2", "b2"), got[1:], ref[1:], strict=True):
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol * (1 + b.abs().max().item()), msg=name)


@pytest.mark.parametrize(("batch", "height", "width"), [(1, 32, 32), (17, 32, 32), (64, 32, 32), (3, 21, 40)])
def test_trunk_matches_pytorch_layers(batch, height, width):
    x, conv1, conv2, grad = inputs(A, batch, height, width, seed=batch)
    got = fused_result(A, x, conv1, conv2, grad)
    assert got[0].shape == (batch, A.c2, *A.output_size(height, width)) and got[0].is_contiguous()
    assert_close_to(got, reference(A, x, conv1.weight, conv1.bias, conv2.weight, conv2.bias, grad))


@pytest.mark.parametrize("g", OTHER, ids=lambda g: f"c1={g.c1},k1={g.k1},pool1={g.pool1},c2={g.c2},k2={g.k2}")
def test_other_tables_match_pytorch_layers(g):
    x, conv1, conv2, grad = inputs(g, 20, 29, 34, seed=1)
    assert_close_to(fused_result(g, x, conv1, conv2, grad), reference(g, x, conv1.weight, conv1.bias,
                                                                       conv2.weight, conv2.bias, grad))


def test_examcnn_trains_another_table_with_the_kernels_it_derives():
    """A network of another table (here Conv-1 of 4 channels, 3x3, padding 1) is fused with its own sizes,
    and a training step equals PyTorch's layers'."""
    g = OTHER[0]
    h, w = g.output_size(32, 32)
    torch.manual_seed(0)
    a = ExamCNN()
    a.conv1 = nn.Conv2d(1, g.c1, g.k1, padding=g.pad1)  # Conv-2 no longer fits: PyTorch's layers until fuse_()
    assert not a.fused and a.engine == "eager (the fused kernels take one input channel)"
    a.conv2 = nn.Conv2d(g.c1, g.c2, g.k2, padding=g.pad2)
    a.pool1 = nn.AvgPool2d(g.pool1)
    a.fc = nn.Linear(g.c2 * h * w, 10)
    assert a.fuse_().fused and a.engine == "fused" and a._geometry == g
    b = ExamCNN(fused=False)
    b.conv1, b.conv2, b.pool1 = nn.Conv2d(1, g.c1, g.k1, padding=g.pad1), nn.Conv2d(g.c1, g.c2, g.k2, padding=g.pad2), \
        nn.AvgPool2d(g.pool1)
    b.fc = nn.Linear(g.c2 * h * w, 10)
    b.load_state_dict(a.state_dict())
    x, y = torch.randn(40, 1, 32, 32), torch.randint(0, 10, (40,))
    for model in (a, b):
        F.cross_entropy(model.train()(x), y).backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_results_do_not_depend_on_the_thread_count():
    """Chunks of images are fixed and their sums added in order: the same bits on 1, 2 or 3 threads."""
    x, conv1, conv2, grad = inputs(A, 100, seed=3)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2, 3, 2):
            torch.set_num_threads(threads)
            results.append(fused_result(A, x, conv1, conv2, grad))
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert torch.equal(a, b)


def test_the_sizes_come_from_the_exam_layer_table():
    cnn = ExamSpec.version_a().cnn
    conv1, pool1, conv2, pool2, _ = cnn.layers
    assert A == Geometry(conv1.out_channels, conv1.kernel[0], conv1.padding[0], pool1.kernel[0],
                         conv2.out_channels, conv2.kernel[0], conv2.padding[0], pool2.kernel[0])
    assert fused.STAGES[1]["out_channels"] == conv1.out_channels and fused.STAGES[2]["kernel"] == conv2.kernel[0]
    assert A.defines() == [f"-DDLEXAM_C1={conv1.out_channels}", f"-DDLEXAM_K1={conv1.kernel[0]}",
                           f"-DDLEXAM_C2={conv2.out_channels}", f"-DDLEXAM_K2={conv2.kernel[0]}"]
    model = ExamCNN().train()
    assert model.fused and model._geometry == A


def _table(**change) -> CNNSpec:
    """Version A's table with some layers replaced."""
    layers = dict(zip(("conv1", "pool1", "conv2", "pool2", "fc"), ExamSpec.version_a().cnn.layers, strict=True))
    layers.update(change)
    return CNNSpec(input_size=(32, 32), layers=tuple(layers.values()))


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (_table(pool1=Pool("MaxPool-1", kernel=4, stride=4, mode="max")), "square average pool"),
        (_table(conv1=Conv("Conv-1", out_channels=8, kernel=5, stride=2)), "stride 1"),
        (_table(conv1=Conv("Conv-1", out_channels=20, kernel=5)), "Conv-1 has 20 output channels"),
        (_table(conv2=Conv("Conv-2", out_channels=16, kernel=9, padding=4)), "9x9"),
        (_table(conv1=Conv("Conv-1", out_channels=2, kernel=5)), "multiple of 8"),  # 8 rows x 2 channels
        (CNNSpec(input_size=(32, 32), layers=(Conv("Conv-1", out_channels=8, kernel=5), Pool("P", kernel=4, stride=4),
                                              Linear())), "conv, pool, conv, pool, linear"),
        (CNNSpec(input_size=(32, 32), activation="tanh", layers=ExamSpec.version_a().cnn.layers), "ReLU"),
    ],
)
def test_tables_the_kernels_do_not_compute_are_refused_with_the_reason(table, reason):
    with pytest.raises(Unsupported, match=reason):
        Geometry.of(table)


def test_a_model_the_kernels_do_not_compute_says_so():
    model = ExamCNN()
    model.conv2 = nn.Conv2d(8, 16, 4, padding=1, stride=2)
    assert not model.fused and model.engine.startswith("eager (Conv-2: the fused kernels compute a plain nn.Conv2d")


def test_wrong_inputs_raise_before_any_pointer_reaches_the_kernels():
    x, conv1, conv2, _ = inputs(A, 2)
    w1, b1, w2, b2 = (t.detach() for t in (conv1.weight, conv1.bias, conv2.weight, conv2.bias))
    with pytest.raises(TypeError, match="x must be a torch.float32 CPU tensor"):
        fused.trunk_forward(x.double(), w1, b1, w2, b2, 0, 4, 1, 2)
    with pytest.raises(ValueError, match="do not fit"):
        fused.trunk_forward(x, w1, b1, w2[:, :4], b2, 0, 4, 1, 2)
    with pytest.raises(ValueError, match="too small"):
        fused.trunk_forward(x[:, :, :9, :9], w1, b1, w2, b2, 0, 4, 1, 2)
    with pytest.raises(Unsupported, match="padding 5"):
        fused.trunk_forward(x, w1, b1, w2, b2, 5, 4, 1, 2)
    out, saved = fused.trunk_forward(x, w1, b1, w2, b2, 0, 4, 1, 2)
    with pytest.raises(ValueError, match="saved must have shape"):
        fused.trunk_backward(x, out, saved[:, :10], w2, 5, 0, 4, 1, 2)


def test_opcheck():
    x, conv1, conv2, grad = inputs(A, 3, 21, 26)
    params = [t.detach().requires_grad_() for t in (conv1.weight, conv1.bias, conv2.weight, conv2.bias)]
    checks = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    result = torch.library.opcheck(fused.trunk_forward, (x, *params, 0, 4, 1, 2), raise_exception=False)
    assert result == dict.fromkeys(checks, "SUCCESS")
    out, saved = fused.trunk_forward(x, *(p.detach() for p in params), 0, 4, 1, 2)
    result = torch.library.opcheck(fused.trunk_backward, (x, grad, saved, params[2].detach(), 5, 0, 4, 1, 2),
                                   raise_exception=False)
    assert result == dict.fromkeys(checks, "SUCCESS")


POOL_CHILD = """
import os, sys, torch
from dlexam.svhn.kernels import fused
from dlexam.svhn.kernels.geometry import version_a
torch.set_num_threads(2)
g = version_a()
c1, c2 = torch.nn.Conv2d(1, 8, 5), torch.nn.Conv2d(8, 16, 4, padding=1)
x = torch.randn(64, 1, 32, 32)
with torch.no_grad():
    first = fused.trunk(x, c1, c2, g)
print(fused.wait_policy())
pid = os.fork()
if pid == 0:  # the child has no worker threads of the parent's pool: it must make its own
    with torch.no_grad():
        ok = torch.equal(fused.trunk(x, c1, c2, g), first)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.parametrize("policy", ["spin", "sleep"])
def test_the_pool_survives_fork_and_takes_a_forced_wait_policy(policy):
    env = {**os.environ, "DLEXAM_KERNEL_WAIT": policy}
    proc = subprocess.run([sys.executable, "-c", POOL_CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [policy]


def test_the_saved_layout_is_the_same_in_python_and_cpp():
    """Geometry.saved_bytes (what the operators allocate, symbolic under torch.compile) against fused.cpp's."""
    for g in (A, *OTHER):
        lib = fused.library_for(g.compiled)
        for height, width in ((32, 32), (21, 40), (17, 19), (64, 48)):
            got = lib.dlexam_trunk_saved_bytes(height, width, g.pad1, g.pool1, g.pad2, g.pool2)
            assert g.saved_bytes(height, width) == got


MIXED_BUILDS = """
import ctypes, torch
from dlexam.svhn.kernels import build, fused, library
from dlexam.svhn.kernels.geometry import version_a
torch.set_num_threads(2)
g = version_a()
native = library.library_for(g.compiled)
portable = library.declare(ctypes.CDLL(str(build.build(build.compiler(), [*build.PORTABLE_FLAGS, *g.defines()]))))
torch.manual_seed(0)
x = torch.randn(64, 8, 7, 7).abs().contiguous(memory_format=torch.channels_last)
conv = torch.nn.Conv2d(8, 16, 4, padding=1)
results = []
for lib in (portable, native, portable, native):  # each on both threads, the portable one's scratch first
    library._libs[g.compiled] = lib
    x1 = x.detach().requires_grad_()
    out = fused.conv_relu_avgpool(2, x1, conv.weight, conv.bias)
    results.append(torch.autograd.grad(out.square().sum(), [x1, conv.weight]))
for a, b in zip(results[0] + results[2], results[1] + results[3]):
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
print("ok")
"""


def test_a_portable_and_a_native_build_in_one_process(tmp_path, native_kernel_cache, portable_kernel_cache):
    """Each library keeps its own pool and scratch: a portable build's buffers (16-byte aligned) once
    reached the native build's AVX-512 code through symbols GCC made process-wide, and crashed it.

    Both libraries are this test run's builds (tests/svhn/conftest.py), copied into a cache of the test's own."""
    cache = shutil.copytree(native_kernel_cache, tmp_path / "cache")
    shutil.copytree(portable_kernel_cache, cache, dirs_exist_ok=True)
    env = {**os.environ, "DLEXAM_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-c", MIXED_BUILDS], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["ok"]
