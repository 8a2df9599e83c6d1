"""Fused CPU kernels for training Problem 1's CNN: Conv-1 + ReLU + AvgPool-1 and Conv-2 + ReLU + AvgPool-2.

In PyTorch's eager mode a CPU training step of the exam's net is mostly memory traffic: the
(B, 8, 28, 28) map that Conv-1 writes is read and written again by ReLU, AvgPool-1, AvgPool-1's
backward (after a zero fill) and ReLU's backward, and at batch 256 it is 6.4 MB, more than the
cache holds; oneDNN's convolutions are slow for so few channels, and the same happens on a smaller
scale in stage 2. `fused.cpp` computes each pool cell's conv outputs in registers, rectifies and
averages them at once, and keeps one ReLU mask bit per conv output for the backward pass.

The same function, not an approximation: tests check each stage's output and gradients against
nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd in float64. :class:`dlexam.svhn.model.ExamCNN`
uses a stage in training when it applies (ReLU, average pooling with the exam's sizes, float32 on
the CPU, no torch.func / torch.compile) and the kernels are available; anything else takes
PyTorch's own layers.

The kernels are compiled on first use and cached by :mod:`dlexam.svhn.kernel_build`. Without a
compiler, or with ``DLEXAM_FUSED=0``, everything runs on PyTorch's layers: slower, the same results
within float rounding. :func:`status` says which.
"""

from __future__ import annotations

import ctypes
import threading

import torch

from dlexam.svhn import kernel_build

# The shapes each stage's kernel is written for: Problem 1's Conv-1/AvgPool-1 and Conv-2/AvgPool-2.
STAGES = {
    1: {"in_channels": 1, "out_channels": 8, "kernel": 5, "padding": 0, "pool": 4},
    2: {"in_channels": 8, "out_channels": 16, "kernel": 4, "padding": 1, "pool": 2},
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # why the kernel is unavailable, once known


def _load() -> ctypes.CDLL | None:
    global _lib, _reason
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None or _reason is not None:
            return _lib
        try:
            lib = kernel_build.load()
        except kernel_build.KernelUnavailable as exc:
            _reason = str(exc)
            return None
        _declare(lib)
        _lib = lib
        return _lib


def _declare(lib: ctypes.CDLL) -> None:
    """The C signatures (pointers are passed as integers from Tensor.data_ptr(); the last int: threads)."""
    ptr, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    lib.dlexam_stage1_forward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, cint]
    lib.dlexam_stage1_backward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, cint]
    lib.dlexam_stage2_forward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, cint]
    lib.dlexam_stage2_backward.argtypes = [ptr, i64, cint, cint, ptr, ptr, ptr, ptr, ptr, cint]
    for f in ("dlexam_stage1_forward", "dlexam_stage1_backward", "dlexam_stage2_forward", "dlexam_stage2_backward"):
        getattr(lib, f).restype = None


def available() -> bool:
    return _load() is not None


def status() -> str:
    """'fused' when the kernel is in use, else 'eager (<reason>)'."""
    return "fused" if available() else f"eager ({_reason})"


def _pooled(size: int, stage: int) -> int:
    spec = STAGES[stage]
    return (size + 2 * spec["padding"] - spec["kernel"] + 1) // spec["pool"]


class _Stage1(torch.autograd.Function):
    """(B, 1, H, W) images -> (B, 8, Hp, Wp) channels-last maps; gradients for weight and bias only."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        C, K = weight.shape[0], weight.shape[-1]
        Hp, Wp = _pooled(H, 1), _pooled(W, 1)
        P = STAGES[1]["pool"]
        x = x.detach().reshape(B, H, W).contiguous()  # one channel: NCHW and NHWC are the same bytes
        wt = weight.detach().reshape(C, K * K).t().contiguous()  # (K*K, C)
        out = torch.empty(B, Hp, Wp, C, dtype=torch.float32)  # the C code writes floats, whatever the default
        mask = torch.empty(B, Hp * P, Wp * P, dtype=torch.uint8)  # bit c: channel c > 0
        b = bias.detach().contiguous()
        threads = torch.get_num_threads()
        _lib.dlexam_stage1_forward(
            x.data_ptr(), B, H, W, wt.data_ptr(), b.data_ptr(), out.data_ptr(), mask.data_ptr(), threads
        )
        ctx.save_for_backward(x, mask)
        return out.permute(0, 3, 1, 2)  # (B, C, Hp, Wp) view of channels-last memory

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, mask = ctx.saved_tensors
        B, H, W = x.shape
        spec = STAGES[1]
        C, K = spec["out_channels"], spec["kernel"]
        g = grad.permute(0, 2, 3, 1).contiguous()  # (B, Hp, Wp, C)
        dwb = torch.empty(K * K * C + C, dtype=torch.float32)
        _lib.dlexam_stage1_backward(
            x.data_ptr(), B, H, W, g.data_ptr(), mask.data_ptr(), dwb.data_ptr(), torch.get_num_threads()
        )
        dw = dwb[: K * K * C].reshape(K, K, C).permute(2, 0, 1).reshape(C, 1, K, K)
        return None, dw, dwb[K * K * C :]


class _Stage2(torch.autograd.Function):
    """(B, 8, H, W) maps -> (B, 16, Hp, Wp) channels-last maps; gradients for input, weight, bias."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, CI, H, W = x.shape
        CO = weight.shape[0]
        Hp, Wp = _pooled(H, 2), _pooled(W, 2)
        P = STAGES[2]["pool"]
        xh = x.detach().permute(0, 2, 3, 1).contiguous()  # (B, H, W, CI): no copy when channels-last
        w = weight.detach()
        wt = w.permute(2, 3, 1, 0).contiguous()  # (K, K, CI, CO)
        out = torch.empty(B, Hp, Wp, CO, dtype=torch.float32)
        mask = torch.empty(B, Hp * P, Wp * P, dtype=torch.int16)  # bit co: channel co > 0
        b = bias.detach().contiguous()
        threads = torch.get_num_threads()
        _lib.dlexam_stage2_forward(
            xh.data_ptr(), B, H, W, wt.data_ptr(), b.data_ptr(), out.data_ptr(), mask.data_ptr(), threads
        )
        ctx.save_for_backward(xh, mask, w)
        return out.permute(0, 3, 1, 2)  # (B, CO, Hp, Wp) view of channels-last memory

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xh, mask, w = ctx.saved_tensors
        B, H, W, CI = xh.shape
        CO, K = w.shape[0], w.shape[-1]
        g = grad.permute(0, 2, 3, 1).contiguous()  # (B, Hp, Wp, CO)
        wtt = w.permute(2, 3, 0, 1).contiguous()  # (K, K, CO, CI)
        dwb = torch.empty(K * K * CI * CO + CO, dtype=torch.float32)
        dx = torch.empty(B, H, W, CI, dtype=torch.float32) if ctx.needs_input_grad[0] else None
        _lib.dlexam_stage2_backward(
            xh.data_ptr(),
            B,
            H,
            W,
            g.data_ptr(),
            mask.data_ptr(),
            wtt.data_ptr(),
            dwb.data_ptr(),
            None if dx is None else dx.data_ptr(),
            torch.get_num_threads(),
        )
        dw = dwb[: K * K * CI * CO].reshape(K, K, CI, CO).permute(3, 2, 0, 1)  # (CO, CI, K, K)
        dx = None if dx is None else dx.permute(0, 3, 1, 2)  # (B, CI, H, W) view, channels-last
        return dx, dw, dwb[K * K * CI * CO :]


def applies(stage: int, x: torch.Tensor, conv: torch.nn.Module, act: torch.nn.Module, pool: torch.nn.Module) -> bool:
    """Whether conv -> act -> pool on `x` is what stage `stage`'s kernel computes (and it is available)."""
    spec = STAGES[stage]
    P, K, pad = spec["pool"], spec["kernel"], spec["padding"]
    return (
        isinstance(act, torch.nn.ReLU)
        and type(pool) is torch.nn.AvgPool2d
        and pool.kernel_size in (P, (P, P))
        and pool.stride in (P, (P, P))
        and pool.padding in (0, (0, 0))
        and not pool.ceil_mode
        and pool.divisor_override is None
        and type(conv) is torch.nn.Conv2d
        and conv.in_channels == spec["in_channels"]
        and conv.out_channels == spec["out_channels"]
        and conv.kernel_size == (K, K)
        and conv.stride == (1, 1)
        and conv.padding == (pad, pad)
        and conv.padding_mode == "zeros"
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.bias is not None
        and x.dim() == 4
        and x.shape[1] == spec["in_channels"]
        and _pooled(x.shape[2], stage) >= 1
        and _pooled(x.shape[3], stage) >= 1
        and x.dtype == conv.weight.dtype == torch.float32
        and x.device.type == conv.weight.device.type == "cpu"
        and (stage > 1 or not x.requires_grad)  # stage 1 gives no gradient for its input
        and not _transformed()
        and available()
    )


def _transformed() -> bool:
    """Under torch.func (vmap, grad: per-example gradients), torch.compile or a JIT trace the
    kernels, which read raw memory, cannot take part: PyTorch's layers run instead."""
    functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)
    return bool(functorch_active()) or torch.compiler.is_compiling() or torch.jit.is_tracing()


def conv_relu_avgpool(stage: int, x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """avg_pool2d(relu(conv(x))) with stage `stage`'s sizes, fused; call only where :func:`applies`."""
    return (_Stage1 if stage == 1 else _Stage2).apply(x, conv.weight, conv.bias)
