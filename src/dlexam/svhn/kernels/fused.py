"""Problem 1's two conv + ReLU + AvgPool stages as fused PyTorch operators for CPU training.

In PyTorch's eager mode a CPU training step of the exam's net is mostly memory traffic: the
(B, 8, 28, 28) map that Conv-1 writes is read and written again by ReLU, AvgPool-1, AvgPool-1's
backward (after a zero fill) and ReLU's backward, and at batch 256 it is 6.4 MB, more than the
cache holds; oneDNN's convolutions are slow for so few channels, and the same happens on a smaller
scale in stage 2. `fused.cpp` computes each pool cell's conv outputs in registers, rectifies and
averages them at once, and keeps one ReLU mask bit per conv output for the backward pass.

The operators (``torch.ops.dlexam.*``, made with ``torch.library.custom_op``, each with a fake
kernel for torch.compile and export):

    stage1_forward(x (B, 1, H, W), weight (8, 1, 5, 5), bias (8,))
        -> out (B, 8, Hp, Wp) channels-last, mask (B, 4 Hp, 4 Wp) uint8 (bit c: channel c > 0)
    stage1_backward(x, grad_out, mask) -> grad_weight, grad_bias
    stage2_forward(x (B, 8, H, W), weight (16, 8, 4, 4), bias (16,))
        -> out (B, 16, Hp, Wp) channels-last, mask (B, 2 Hp, 2 Wp) int16 (bit c: channel c > 0)
    stage2_backward(x, grad_out, mask, weight) -> grad_x (channels-last), grad_weight, grad_bias

The forward operators' autograd formulas call the backward ones. Stage 1 has no gradient for its
input (the images). The same function, not an approximation: tests check each stage against
nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd in float64. Inputs must be float32 CPU tensors of
the stage's shapes (anything else raises, before any pointer reaches the C code); the thread count
is torch.get_num_threads() at each call. torch.func transforms (vmap, grad) do not support these
operators: use PyTorch's layers there (``ExamCNN(fused=False)``).

:mod:`dlexam.svhn.kernels.build` compiles and caches the library; without a compiler, or with
``DLEXAM_FUSED=0``, :func:`available` is False and :class:`dlexam.svhn.model.ExamCNN` trains on
PyTorch's layers. :func:`status` says which.
"""

from __future__ import annotations

import ctypes
import threading

import torch
import torch.nn as nn
from torch import Tensor

from dlexam.svhn.kernels import build as kernel_build

# The shapes each stage's kernel is written for: Problem 1's Conv-1/AvgPool-1 and Conv-2/AvgPool-2
# (fused.cpp has them as constants, and the operators below spell them out in their layouts).
STAGES = {
    1: {"in_channels": 1, "out_channels": 8, "kernel": 5, "padding": 0, "pool": 4, "mask": torch.uint8},
    2: {"in_channels": 8, "out_channels": 16, "kernel": 4, "padding": 1, "pool": 2, "mask": torch.int16},
}
F32, CL = torch.float32, torch.channels_last

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # why the kernels are unavailable, once known


def _library() -> ctypes.CDLL:
    """The loaded kernels (built on first use); KernelUnavailable says why not."""
    global _lib, _reason
    if _lib is None:
        with _lock:
            if _lib is None and _reason is None:
                try:
                    _lib = _declare(kernel_build.load())
                except kernel_build.KernelUnavailable as exc:
                    _reason = str(exc)
    if _lib is None:
        raise kernel_build.KernelUnavailable(_reason)
    return _lib


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """The C signatures (pointers are passed as integers from Tensor.data_ptr(); the last int: threads)."""
    ptr, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.dlexam_stage1_forward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, cint]
    lib.dlexam_stage1_backward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, cint]
    lib.dlexam_stage2_forward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, cint]
    lib.dlexam_stage2_backward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, ptr, cint]
    for f in ("dlexam_stage1_forward", "dlexam_stage1_backward", "dlexam_stage2_forward", "dlexam_stage2_backward"):
        getattr(lib, f).restype = None
    return lib


def available() -> bool:
    try:
        _library()
    except kernel_build.KernelUnavailable:
        return False
    return True


def status() -> str:
    """'fused' when the kernels are in use, else 'eager (<reason>)'."""
    return "fused" if available() else f"eager ({_reason})"


def pooled_size(size: int, stage: int) -> int:
    """Rows (or columns) of stage `stage`'s output for `size` input rows: conv, then the pool's floor."""
    spec = STAGES[stage]
    return (size + 2 * spec["padding"] - spec["kernel"] + 1) // spec["pool"]


def computes(stage: int, conv: nn.Module, act: nn.Module, pool: nn.Module) -> bool:
    """Whether conv -> act -> pool is what stage `stage`'s operator computes."""
    spec = STAGES[stage]
    P, K, pad = spec["pool"], spec["kernel"], spec["padding"]
    return (
        isinstance(act, nn.ReLU)
        and type(pool) is nn.AvgPool2d
        and pool.kernel_size in (P, (P, P))
        and pool.stride in (P, (P, P))
        and pool.padding in (0, (0, 0))
        and not pool.ceil_mode
        and pool.divisor_override is None
        and type(conv) is nn.Conv2d
        and (conv.in_channels, conv.out_channels) == (spec["in_channels"], spec["out_channels"])
        and conv.kernel_size == (K, K)
        and conv.stride == (1, 1)
        and conv.padding == (pad, pad)
        and conv.padding_mode == "zeros"
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.bias is not None
    )


# ---- checks: every tensor is what the C code assumes before its address is taken ----------------
def _expect(op: str, name: str, t: Tensor, dtype: torch.dtype, shape: tuple[int, ...] | None = None) -> None:
    if t.dtype != dtype or t.device.type != "cpu":
        raise TypeError(f"dlexam::{op}: {name} must be a {dtype} CPU tensor, not {t.dtype} on {t.device}")
    if shape is not None and t.shape != shape:
        raise ValueError(f"dlexam::{op}: {name} must have shape {shape}, not {tuple(t.shape)}")


def _check_input(op: str, stage: int, x: Tensor) -> tuple[int, int, int, int, int]:
    """B, H, W, Hp, Wp for x, a (B, C_in, H, W) float32 CPU batch large enough for one pooled output."""
    spec = STAGES[stage]
    if x.dim() != 4 or x.shape[1] != spec["in_channels"]:
        raise ValueError(f"dlexam::{op}: x must be (B, {spec['in_channels']}, H, W), not {tuple(x.shape)}")
    B, _, H, W = x.shape
    Hp, Wp = pooled_size(H, stage), pooled_size(W, stage)
    if Hp < 1 or Wp < 1:
        raise ValueError(f"dlexam::{op}: x of {H}x{W} is too small for one pooled output")
    _expect(op, "x", x, F32)
    return B, H, W, Hp, Wp


def _check_params(op: str, stage: int, weight: Tensor, bias: Tensor | None = None) -> None:
    spec = STAGES[stage]
    CI, CO, K = spec["in_channels"], spec["out_channels"], spec["kernel"]
    _expect(op, "weight", weight, F32, (CO, CI, K, K))
    if bias is not None:
        _expect(op, "bias", bias, F32, (CO,))


def _check_grad(op: str, stage: int, grad: Tensor, mask: Tensor, B: int, Hp: int, Wp: int) -> None:
    spec = STAGES[stage]
    _expect(op, "grad", grad, F32, (B, spec["out_channels"], Hp, Wp))
    _expect(op, "mask", mask, spec["mask"], (B, Hp * spec["pool"], Wp * spec["pool"]))


def _ptr(t: Tensor, dtype: torch.dtype, shape: tuple[int, ...], layout=torch.contiguous_format) -> int:
    """t's address for the C code, once its dtype, device, shape and layout are what the code reads."""
    if t.dtype is not dtype or not t.is_cpu or t.shape != shape or not t.is_contiguous(memory_format=layout):
        raise RuntimeError(f"dlexam kernels: a {t.dtype} {tuple(t.shape)} tensor where {dtype} {shape} is read")
    return t.data_ptr()


def _forward_outputs(stage: int, B: int, Hp: int, Wp: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Empty (out, mask) of a forward operator; float32 whatever the default dtype (the C code writes floats)."""
    spec = STAGES[stage]
    P = spec["pool"]
    out = torch.empty((B, spec["out_channels"], Hp, Wp), dtype=F32, device=device, memory_format=CL)
    return out, torch.empty((B, Hp * P, Wp * P), dtype=spec["mask"], device=device)


# ---- stage 1: Conv-1 (1 -> 8, 5x5, pad 0) + ReLU + AvgPool-1 (4x4) ------------------------------
@torch.library.custom_op("dlexam::stage1_forward", mutates_args=(), device_types="cpu")
def stage1_forward(x: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check_input("stage1_forward", 1, x)
    _check_params("stage1_forward", 1, weight, bias)
    out, mask = _forward_outputs(1, B, Hp, Wp, x.device)
    xc = x.reshape(B, H, W).contiguous()  # (B, 1, H, W) -> (B, H, W): one channel, NCHW and NHWC alike
    wt = weight.reshape(8, 25).t().contiguous()  # (8, 1, 5, 5) -> (25, 8): a tap's 8 channels together
    _library().dlexam_stage1_forward(
        _ptr(xc, F32, (B, H, W)),
        B,
        H,
        W,
        _ptr(wt, F32, (25, 8)),
        _ptr(bias.contiguous(), F32, (8,)),
        _ptr(out, F32, (B, 8, Hp, Wp), CL),  # memory (B, Hp, Wp, 8)
        _ptr(mask, torch.uint8, (B, Hp * 4, Wp * 4)),
        torch.get_num_threads(),
    )
    return out, mask


@stage1_forward.register_fake
def _(x, weight, bias):
    B, _, _, Hp, Wp = _check_input("stage1_forward", 1, x)
    _check_params("stage1_forward", 1, weight, bias)
    return _forward_outputs(1, B, Hp, Wp, x.device)


@torch.library.custom_op("dlexam::stage1_backward", mutates_args=(), device_types="cpu")
def stage1_backward(x: Tensor, grad: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check_input("stage1_backward", 1, x)
    _check_grad("stage1_backward", 1, grad, mask, B, Hp, Wp)
    xc = x.reshape(B, H, W).contiguous()  # (B, 1, H, W) -> (B, H, W)
    g = grad.permute(0, 2, 3, 1).contiguous()  # (B, 8, Hp, Wp) -> (B, Hp, Wp, 8)
    dwb = torch.empty(25 * 8 + 8, dtype=F32)  # weight gradient (5, 5, 8), then bias gradient (8)
    _library().dlexam_stage1_backward(
        _ptr(xc, F32, (B, H, W)),
        B,
        H,
        W,
        _ptr(g, F32, (B, Hp, Wp, 8)),
        _ptr(mask, torch.uint8, (B, Hp * 4, Wp * 4)),
        _ptr(dwb, F32, (208,)),
        torch.get_num_threads(),
    )
    dw = dwb[:200].view(5, 5, 8).permute(2, 0, 1).contiguous().view(8, 1, 5, 5)  # (5, 5, 8) -> (8, 1, 5, 5)
    return dw, dwb[200:].clone()


@stage1_backward.register_fake
def _(x, grad, mask):
    B, _, _, Hp, Wp = _check_input("stage1_backward", 1, x)
    _check_grad("stage1_backward", 1, grad, mask, B, Hp, Wp)
    return x.new_empty((8, 1, 5, 5)), x.new_empty((8,))


def _stage1_setup(ctx, inputs, output) -> None:
    ctx.save_for_backward(inputs[0], output[1])  # x and the mask
    ctx.set_materialize_grads(False)  # the mask has no gradient: no zero-filled one


def _stage1_grads(ctx, grad, _mask_grad):
    if ctx.needs_input_grad[0]:
        raise RuntimeError("dlexam::stage1_forward has no gradient for its input x: use PyTorch's layers")
    x, mask = ctx.saved_tensors
    return None, *stage1_backward(x, grad, mask)


stage1_forward.register_autograd(_stage1_grads, setup_context=_stage1_setup)


# ---- stage 2: Conv-2 (8 -> 16, 4x4, pad 1) + ReLU + AvgPool-2 (2x2) -----------------------------
@torch.library.custom_op("dlexam::stage2_forward", mutates_args=(), device_types="cpu")
def stage2_forward(x: Tensor, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    B, H, W, Hp, Wp = _check_input("stage2_forward", 2, x)
    _check_params("stage2_forward", 2, weight, bias)
    out, mask = _forward_outputs(2, B, Hp, Wp, x.device)
    xh = x.permute(0, 2, 3, 1).contiguous()  # (B, 8, H, W) -> (B, H, W, 8): no copy when channels-last
    wt = weight.permute(2, 3, 1, 0).contiguous()  # (16, 8, 4, 4) -> (4, 4, 8, 16)
    _library().dlexam_stage2_forward(
        _ptr(xh, F32, (B, H, W, 8)),
        B,
        H,
        W,
        _ptr(wt, F32, (4, 4, 8, 16)),
        _ptr(bias.contiguous(), F32, (16,)),
        _ptr(out, F32, (B, 16, Hp, Wp), CL),  # memory (B, Hp, Wp, 16)
        _ptr(mask, torch.int16, (B, Hp * 2, Wp * 2)),
        torch.get_num_threads(),
    )
    return out, mask


@stage2_forward.register_fake
def _(x, weight, bias):
    B, _, _, Hp, Wp = _check_input("stage2_forward", 2, x)
    _check_params("stage2_forward", 2, weight, bias)
    return _forward_outputs(2, B, Hp, Wp, x.device)


@torch.library.custom_op("dlexam::stage2_backward", mutates_args=(), device_types="cpu")
def stage2_backward(x: Tensor, grad: Tensor, mask: Tensor, weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    B, H, W, Hp, Wp = _check_input("stage2_backward", 2, x)
    _check_grad("stage2_backward", 2, grad, mask, B, Hp, Wp)
    _check_params("stage2_backward", 2, weight)
    xh = x.permute(0, 2, 3, 1).contiguous()  # (B, 8, H, W) -> (B, H, W, 8)
    g = grad.permute(0, 2, 3, 1).contiguous()  # (B, 16, Hp, Wp) -> (B, Hp, Wp, 16)
    wtt = weight.permute(2, 3, 0, 1).contiguous()  # (16, 8, 4, 4) -> (4, 4, 16, 8)
    dwb = torch.empty(2048 + 16, dtype=F32)  # weight gradient (4, 4, 8, 16), then bias gradient (16)
    dx = torch.empty((B, 8, H, W), dtype=F32, memory_format=CL)
    _library().dlexam_stage2_backward(
        _ptr(xh, F32, (B, H, W, 8)),
        B,
        H,
        W,
        _ptr(g, F32, (B, Hp, Wp, 16)),
        _ptr(mask, torch.int16, (B, Hp * 2, Wp * 2)),
        _ptr(wtt, F32, (4, 4, 16, 8)),
        _ptr(dwb, F32, (2064,)),
        _ptr(dx, F32, (B, 8, H, W), CL),  # memory (B, H, W, 8)
        torch.get_num_threads(),
    )
    dw = dwb[:2048].view(4, 4, 8, 16).permute(3, 2, 0, 1).contiguous()  # (4, 4, 8, 16) -> (16, 8, 4, 4)
    return dx, dw, dwb[2048:].clone()


@stage2_backward.register_fake
def _(x, grad, mask, weight):
    B, H, W, Hp, Wp = _check_input("stage2_backward", 2, x)
    _check_grad("stage2_backward", 2, grad, mask, B, Hp, Wp)
    _check_params("stage2_backward", 2, weight)
    dx = torch.empty((B, 8, H, W), dtype=F32, device=x.device, memory_format=CL)
    return dx, x.new_empty((16, 8, 4, 4)), x.new_empty((16,))


def _stage2_setup(ctx, inputs, output) -> None:
    x, weight, _ = inputs
    ctx.save_for_backward(x, output[1], weight)  # x, the mask, the weight
    ctx.set_materialize_grads(False)


def _stage2_grads(ctx, grad, _mask_grad):
    x, mask, weight = ctx.saved_tensors
    return stage2_backward(x, grad, mask, weight)


stage2_forward.register_autograd(_stage2_grads, setup_context=_stage2_setup)

_FORWARD = {1: stage1_forward, 2: stage2_forward}


def conv_relu_avgpool(stage: int, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """avg_pool2d(relu(conv2d(x, weight, bias))) with stage `stage`'s sizes, as one fused operator."""
    return _FORWARD[stage](x, weight, bias)[0]
