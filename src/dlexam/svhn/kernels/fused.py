"""Problem 1's conv + ReLU + AvgPool stages as fused PyTorch operators for CPU training.

In PyTorch's eager mode a CPU training step of the exam's net is mostly memory traffic: the
(B, 8, 28, 28) map that Conv-1 writes is read and written again by ReLU, AvgPool-1, AvgPool-1's
backward (after a zero fill) and ReLU's backward, and at batch 256 it is 6.4 MB, more than the
cache holds; oneDNN's convolutions are slow for so few channels. The C++ kernels (fused.cpp,
stage1.h, stage2.h) take one image at a time through Conv-1 .. AvgPool-2, computing each conv output in
vector registers, rectifying and pooling it at once and keeping one ReLU mask bit per conv output
for the backward pass; a batch is split between the kernels' own threads (pool.h).

The operators (``torch.ops.dlexam.*``, made with ``torch.library.custom_op``, each with a fake
kernel for torch.compile and export):

    trunk_forward(x (B, 1, H, W), w1, b1, w2, b2, pad1, pool1, pad2, pool2)
        -> out (B, C2, Hp, Wp), saved (B, S) uint8 (what the backward pass needs, per image)
    trunk_backward(x, grad_out, saved, w2, k1, pad1, pool1, pad2, pool2) -> dw1, db1, dw2, db2
    stage1_forward(x (B, 1, H, W), weight (8, 1, 5, 5), bias) -> out (B, 8, Hp, Wp) channels-last,
        mask (B, 4 Hp, 4 Wp) uint8 (bit c: channel c > 0)
    stage1_backward(x, grad_out, mask) -> grad_weight, grad_bias
    stage2_forward(x (B, 8, H, W), weight (16, 8, 4, 4), bias) -> out (B, 16, Hp, Wp), mask (B, 2 Hp, 2 Wp) int16
    stage2_backward(x, grad_out, mask, weight) -> grad_x (channels-last), grad_weight, grad_bias

``ExamCNN`` trains with the trunk; the stage operators (Version A's sizes) let the tests check each
stage alone. The forward operators' autograd formulas call the backward ones; Conv-1 has no
gradient for its input (the images). The same function, not an approximation: tests check every
output and gradient against nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd in float64. Inputs
must be float32 CPU tensors of the right shapes (anything else raises before a pointer reaches the
C code); the thread count is torch.get_num_threads() at each call (or :func:`own_threads`'s), and
results do not depend on it.
torch.func transforms (vmap, grad) do not support these operators: use PyTorch's layers there
(``ExamCNN(fused=False)``).

**Sizes** (issue 19): nothing here or in the C++ repeats the exam's sizes. :mod:`.geometry` derives
them from a layer table of :mod:`dlexam.spec` (the stage operators use ``ExamSpec.version_a()``'s)
or from a model's layers (:func:`choose`); the channel counts and kernel sizes are compile-time
constants, one cached library per set (:mod:`.build`); a network the kernels were not written for
gets PyTorch's layers and the reason (:func:`choose`). Without a compiler, or with
``DLEXAM_FUSED=0``, :func:`available` is False and :func:`status` says why.
"""

from __future__ import annotations

import ctypes
import functools

import torch
import torch.nn as nn
from torch import Tensor

from dlexam.svhn.kernels import build as kernel_build
from dlexam.svhn.kernels.geometry import Geometry, Unsupported
from dlexam.svhn.kernels.library import (
    F32,
    U8,
    Pinned,
    available,
    check_input,
    expect,
    kernel_threads,
    library_for,
    own_threads,
    status,
    wait_policy,
)
from dlexam.svhn.kernels.stage_ops import (
    STAGES,
    computes,
    conv_relu_avgpool,
    pooled_size,
    stage1_backward,
    stage1_forward,
    stage2_backward,
    stage2_forward,
    stage_sizes,
)

__all__ = [  # the stage operators and the status, for whoever imports them from here
    "STAGES", "available", "computes", "conv_relu_avgpool", "pooled_size", "stage1_backward", "stage1_forward",
    "stage2_backward", "stage2_forward", "status", "wait_policy", "choose", "geometry_of", "standardise", "trunk",
    "trunk_backward", "trunk_forward", "train_step", "start_standardise", "PendingBatch", "own_threads",
    "kernel_threads", "why_not",
]

# ---- which networks the kernels compute ------------------------------------------------------------
def geometry_of(conv1: nn.Module, act1: nn.Module, pool1: nn.Module, conv2: nn.Module, act2: nn.Module,
                pool2: nn.Module) -> Geometry:
    """The sizes of Conv-1 .. AvgPool-2 as the kernels compute them; Unsupported (with the reason) if they do not."""
    s1, s2 = stage_sizes(1, conv1, act1, pool1), stage_sizes(2, conv2, act2, pool2)
    if conv1.in_channels != 1 or conv2.in_channels != conv1.out_channels:
        raise Unsupported("the fused kernels take one input channel")
    return Geometry(*s1, *s2)


def why_not(cnn) -> str:
    """'eager (<why>)' for a layer table (dlexam.spec.CNNSpec) whose network the kernels do not train."""
    try:
        Geometry.of(cnn)
    except Unsupported as exc:
        return f"eager ({exc})"
    return "eager (the network's layers are not its table's two conv + ReLU + average-pool stages)"


def choose(*layers: nn.Module) -> tuple[Geometry | None, str]:
    """(the geometry, 'fused') if the kernels train these six layers (conv, act, pool twice), else
    (None, 'eager (<why not>)'): a network they were not written for, or no kernels here."""
    try:
        geometry = geometry_of(*layers)
        library_for(geometry.compiled)
    except (Unsupported, kernel_build.KernelUnavailable) as exc:
        return None, f"eager ({exc})"
    return geometry, "fused"


# ---- the trunk: Conv-1 .. AvgPool-2 -------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _cached_geometry(*sizes: int) -> Geometry:
    return Geometry(*sizes)


def _geometry(*sizes) -> Geometry:
    """Geometry(*sizes), cached unless the sizes are symbolic (fake tensors under torch.compile)."""
    return _cached_geometry(*sizes) if all(type(n) is int for n in sizes) else Geometry(*sizes)


def _saved_bytes(g: Geometry, H, W):
    return g.saved_bytes(H, W)


def _trunk_sizes(op: str, g: Geometry, x: Tensor, w2: Tensor, w1: Tensor | None = None):
    """B, H, W and the output's Hp, Wp of a trunk call with sizes g, after checking x and the weights."""
    if w1 is not None:
        expect(op, "w1", w1, F32, (g.c1, 1, g.k1, g.k1))
    expect(op, "w2", w2, F32, (g.c2, g.c1, g.k2, g.k2))
    B, H, W, _, _ = check_input(op, x, 1, g, 1)
    Hp, Wp = g.output_size(H, W)
    if Hp < 1 or Wp < 1:
        raise ValueError(f"dlexam::{op}: x of {H}x{W} is too small for one output of stage 2")
    return B, H, W, Hp, Wp


def _geometry_of_weights(op: str, w1_shape: tuple, w2: Tensor, pad1: int, pool1: int, pad2: int, pool2: int):
    if len(w1_shape) != 4 or w2.dim() != 4 or w1_shape[1] != 1 or w2.shape[1] != w1_shape[0]:
        raise ValueError(f"dlexam::{op}: w1 (C1, 1, K1, K1) and w2 (C2, C1, K2, K2) do not fit, "
                         f"{tuple(w1_shape)} and {tuple(w2.shape)}")
    return _geometry(w1_shape[0], w1_shape[2], pad1, pool1, w2.shape[0], w2.shape[2], pad2, pool2)


def _run_forward(g: Geometry, x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor):
    """(out (B, C2, Hp, Wp), saved (B, S) uint8) of the trunk on x (B, 1, H, W); every tensor is checked by
    Pinned (dtype, device, shape, layout) before its address reaches the C code."""
    B, _, H, W = x.shape
    Hp, Wp = g.output_size(H, W)
    out = torch.empty((B, g.c2, Hp, Wp), dtype=F32)
    saved = torch.empty((B, _saved_bytes(g, H, W)), dtype=U8)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for(g.compiled).dlexam_trunk_forward(
        pin(x.reshape(B, H, W).contiguous(), F32, (B, H, W)),  # (B, 1, H, W) -> (B, H, W): NCHW and NHWC alike
        B, H, W, g.pad1, g.pool1, g.pad2, g.pool2,
        pin(w1.contiguous(), F32, (g.c1, 1, g.k1, g.k1)), pin(b1.contiguous(), F32, (g.c1,)),
        pin(w2.contiguous(), F32, (g.c2, g.c1, g.k2, g.k2)), pin(b2.contiguous(), F32, (g.c2,)),
        pin(out, F32, (B, g.c2, Hp, Wp)), pin(saved, U8, tuple(saved.shape)), kernel_threads(),
    )
    return out, saved


def _run_backward(g: Geometry, x: Tensor, grad: Tensor, saved: Tensor, w2: Tensor):
    """(dw1, db1, dw2, db2) of the trunk, given the gradient of its output; checked as _run_forward's."""
    B, _, H, W = x.shape
    Hp, Wp = g.output_size(H, W)
    dw1, db1 = torch.empty((g.c1, 1, g.k1, g.k1), dtype=F32), torch.empty(g.c1, dtype=F32)
    dw2, db2 = torch.empty((g.c2, g.c1, g.k2, g.k2), dtype=F32), torch.empty(g.c2, dtype=F32)
    pin = Pinned()  # keeps the tensors below alive through the call
    library_for(g.compiled).dlexam_trunk_backward(
        pin(x.reshape(B, H, W).contiguous(), F32, (B, H, W)), B, H, W, g.pad1, g.pool1, g.pad2, g.pool2,
        pin(grad.contiguous(), F32, (B, g.c2, Hp, Wp)), pin(saved.contiguous(), U8, (B, _saved_bytes(g, H, W))),
        pin(w2.contiguous(), F32, (g.c2, g.c1, g.k2, g.k2)), dw1.data_ptr(), db1.data_ptr(), dw2.data_ptr(),
        db2.data_ptr(), kernel_threads(),
    )
    return dw1, db1, dw2, db2


@torch.library.custom_op("dlexam::trunk_forward", mutates_args=(), device_types="cpu")
def trunk_forward(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, pad1: int, pool1: int, pad2: int,
                  pool2: int) -> tuple[Tensor, Tensor]:
    g = _geometry_of_weights("trunk_forward", tuple(w1.shape), w2, pad1, pool1, pad2, pool2)
    _trunk_sizes("trunk_forward", g, x, w2, w1)
    expect("trunk_forward", "b1", b1, F32, (g.c1,))
    expect("trunk_forward", "b2", b2, F32, (g.c2,))
    return _run_forward(g, x, w1, b1, w2, b2)


@trunk_forward.register_fake
def _(x, w1, b1, w2, b2, pad1, pool1, pad2, pool2):
    g = _geometry_of_weights("trunk_forward", tuple(w1.shape), w2, pad1, pool1, pad2, pool2)
    B, H, W, Hp, Wp = _trunk_sizes("trunk_forward", g, x, w2, w1)
    return x.new_empty((B, g.c2, Hp, Wp), dtype=F32), x.new_empty((B, _saved_bytes(g, H, W)), dtype=U8)


@torch.library.custom_op("dlexam::trunk_backward", mutates_args=(), device_types="cpu")
def trunk_backward(x: Tensor, grad: Tensor, saved: Tensor, w2: Tensor, k1: int, pad1: int, pool1: int, pad2: int,
                   pool2: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    w1_shape = (w2.shape[1], 1, k1, k1) if w2.dim() == 4 else ()
    g = _geometry_of_weights("trunk_backward", w1_shape, w2, pad1, pool1, pad2, pool2)
    B, H, W, Hp, Wp = _trunk_sizes("trunk_backward", g, x, w2)
    expect("trunk_backward", "grad", grad, F32, (B, g.c2, Hp, Wp))
    expect("trunk_backward", "saved", saved, U8, (B, _saved_bytes(g, H, W)))
    return _run_backward(g, x, grad, saved, w2)


@trunk_backward.register_fake
def _(x, grad, saved, w2, k1, pad1, pool1, pad2, pool2):
    c1, c2 = w2.shape[1], w2.shape[0]
    return x.new_empty((c1, 1, k1, k1)), x.new_empty((c1,)), x.new_empty(tuple(w2.shape)), x.new_empty((c2,))


def _trunk_setup(ctx, inputs, output) -> None:
    x, w1, _, w2, _, *sizes = inputs
    ctx.save_for_backward(x, output[1], w2)  # the images, the saved maps and masks, Conv-2's weight
    ctx.sizes = (w1.shape[2], *sizes)
    ctx.set_materialize_grads(False)  # `saved` has no gradient: no zero-filled one


def _trunk_grads(ctx, grad, _saved_grad):
    if ctx.needs_input_grad[0]:
        raise RuntimeError("dlexam::trunk_forward has no gradient for its input x: use PyTorch's layers")
    x, saved, w2 = ctx.saved_tensors
    return None, *trunk_backward(x, grad, saved, w2, *ctx.sizes), None, None, None, None


trunk_forward.register_autograd(_trunk_grads, setup_context=_trunk_setup)


class _Trunk(torch.autograd.Function):
    """The trunk for ExamCNN's training step: the same two C calls as the operators above, without their
    dispatch (a registered operator's Python kernel and autograd formula cost ~0.1 ms a step more,
    measured; docs/svhn.md). torch.compile and export see ``torch.ops.dlexam.trunk_forward`` instead."""

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, g: Geometry):
        if x.dim() != 4 or x.shape[1] != 1 or min(g.output_size(x.shape[2], x.shape[3])) < 1:
            raise ValueError(f"the fused trunk takes (B, 1, H, W) images big enough for it, not {tuple(x.shape)}")
        out, saved = _run_forward(g, x, w1, b1, w2, b2)
        ctx.save_for_backward(x, saved, w2)
        ctx.geometry = g
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.needs_input_grad[0]:
            raise RuntimeError("the fused trunk has no gradient for its input x: use PyTorch's layers")
        x, saved, w2 = ctx.saved_tensors
        return None, *_run_backward(ctx.geometry, x, grad, saved, w2), None


def trunk(x: Tensor, conv1: nn.Conv2d, conv2: nn.Conv2d, g: Geometry) -> Tensor:
    """avg_pool2d(relu(conv2(avg_pool2d(relu(conv1(x)))))) with g's sizes, fused: (B, C2, Hp, Wp), contiguous."""
    return _Trunk.apply(x, conv1.weight, conv1.bias, conv2.weight, conv2.bias, g)


# ---- a whole training step: the trunk, the linear head and the loss --------------------------------------
def train_step(g: Geometry, x: Tensor, labels: Tensor, conv1: nn.Conv2d, conv2: nn.Conv2d, fc: nn.Linear,
               scale: float) -> tuple[float, int]:
    """The forward and backward pass of a training step of trunk + linear head + softmax cross-entropy in
    one C call (fused.cpp's dlexam_train_step), image by image on the kernels' threads: sets the .grad of
    conv1's, conv2's and fc's weights and biases to the gradients of
    ``scale * F.cross_entropy(fc(trunk(x).flatten(1)), labels, reduction="sum")`` and returns (that summed
    loss, unscaled, in double; the count of images whose first largest logit is their label). The same
    function as the layers and autograd, to float rounding (tested); no logits are returned and no graph
    is built. A .grad that is already a contiguous float32 tensor of its parameter's shape is overwritten
    in place (as optimizer.zero_grad() and backward() would leave it), else a new one is set.
    ValueError for a label outside [0, classes)."""
    B, H, W, Hp, Wp = _trunk_sizes("train_step", g, x, conv2.weight, conv1.weight)
    features = g.c2 * Hp * Wp
    classes = fc.out_features
    if fc.in_features != features or fc.bias is None or not 1 <= classes <= 64:
        raise ValueError(f"dlexam::train_step: the head must be a Linear({features}, 1..64) with a bias, not {fc}")
    if labels.dtype != torch.int64 or labels.shape != (B,):
        raise ValueError(f"dlexam::train_step: labels must be int64 ({B},), not {labels.dtype} {tuple(labels.shape)}")
    params = (conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias)
    grads = [_grad_buffer(p) for p in params]  # contiguous: what the C code writes
    loss, correct = ctypes.c_double(), ctypes.c_int64()
    pin = Pinned()  # keeps the tensors below alive through the call
    w1, b1, w2, b2, fw, fb = (pin(p.detach().contiguous(), F32, tuple(p.shape)) for p in params)
    status = library_for(g.compiled).dlexam_train_step(
        pin(x.reshape(B, H, W).contiguous(), F32, (B, H, W)), B, H, W, g.pad1, g.pool1, g.pad2, g.pool2,
        w1, b1, w2, b2, fw, fb, classes, pin(labels.contiguous(), torch.int64, (B,)), scale,
        *(pin(grad, F32, tuple(grad.shape)) for grad in grads), ctypes.byref(loss), ctypes.byref(correct),
        kernel_threads(),
    )
    if status != 0:
        raise ValueError(f"dlexam::train_step: a label is outside [0, {classes})")
    for p, grad in zip(params, grads, strict=True):
        if p.grad is grad:
            continue
        if p.is_contiguous():
            p.grad = grad
        else:  # a channels-last weight: its gradient in its layout, as autograd gives it (the fused SGD needs it)
            p.grad = torch.empty_like(p, requires_grad=False).copy_(grad)
    return loss.value, correct.value


def _grad_buffer(p: Tensor) -> Tensor:
    """p.grad, to be overwritten, where it is a float32 CPU tensor laid out as p is and p is contiguous; else a
    new contiguous tensor."""
    grad = p.grad
    if grad is not None and p.is_contiguous() and grad.dtype is F32 and grad.is_cpu and grad.shape == p.shape \
            and grad.is_contiguous() and not grad.requires_grad:
        return grad
    return torch.empty(p.shape, dtype=F32)


# ---- a training batch ---------------------------------------------------------------------------------
def standardise(images: Tensor, idx: Tensor, mean: Tensor, std: Tensor) -> Tensor | None:
    """(images[idx] - mean[idx]) / (std[idx] + 1) as float (B, 1, H, W), on the kernels' threads; the
    same numbers as dlexam.svhn.data.official.preprocess. None where the kernels are unavailable or the
    tensors are not uint8 (N, H, W) images with float (N,) statistics."""
    pending = start_standardise(images, idx, mean, std)
    return None if pending is None else pending.result()  # the caller takes the chunks no worker has


class PendingBatch:
    """A batch that the kernels' worker threads are standardising while the thread that started it goes on
    (:func:`start_standardise`); :meth:`result` waits for it. Call it from that same thread."""

    def __init__(self, pin, out: Tensor):
        self._pin, self._out = pin, out  # the C code writes into `out` and reads the pinned tensors until joined

    def result(self) -> Tensor:
        if self._pin is not None:
            library_for().dlexam_join()
            self._pin = None
        return self._out

    def __del__(self) -> None:
        if self._pin is not None:
            library_for().dlexam_join()


def start_standardise(images: Tensor, idx: Tensor, mean: Tensor, std: Tensor) -> PendingBatch | None:
    """:func:`standardise`, started on the kernels' worker threads (done at once with one thread); None
    where the kernels are unavailable or the tensors are not uint8 (N, H, W) images with float (N,)
    statistics."""
    if not (images.dtype == U8 and images.dim() == 3 and mean.dtype == F32 and std.dtype == F32 and available()):
        return None
    n, H, W = images.shape
    if mean.shape != (n,) or std.shape != (n,) or idx.dim() != 1:
        return None
    B = idx.shape[0]
    out = torch.empty((B, 1, H, W), dtype=F32)
    pin = Pinned()  # keeps the tensors below alive until the job is joined
    rc = library_for().dlexam_standardise_start(
        pin(images.contiguous(), U8, (n, H, W)), n, H * W, pin(idx.to(torch.int64).contiguous(), torch.int64, (B,)),
        B, pin(mean.contiguous(), F32, (n,)), pin(std.contiguous(), F32, (n,)), pin(out, F32, (B, 1, H, W)),
        kernel_threads(),
    )
    if rc != 0:
        raise IndexError(f"an index of the batch is outside the {n} images")
    return PendingBatch(pin, out)
