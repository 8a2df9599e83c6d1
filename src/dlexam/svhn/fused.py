"""A fused CPU kernel for the first stage of Problem 1's CNN: Conv-1 + ReLU + AvgPool-1.

The exam's net spends most of a CPU training step on its first stage: the (B, 8, 28, 28) map
that Conv-1 writes is read and written five more times by ReLU, AvgPool-1, AvgPool-1's backward
(after a zero fill) and ReLU's backward, and at batch 256 it is 6.4 MB, more than the cache holds.
`fused.cpp` computes each 4x4 pool cell's 16 conv outputs in registers, rectifies and averages
them, and keeps only a one-byte ReLU mask per output for the backward pass, which needs only the
weight and bias gradients (the images need none).

The same function, not an approximation: tests check the forward pass and the gradients against
nn.Conv2d + nn.ReLU + nn.AvgPool2d and autograd. :class:`dlexam.svhn.model.ExamCNN` uses it in
training when it applies (ReLU, average pooling, float32 on the CPU, images that need no
gradient) and the kernel is available; anything else takes PyTorch's own layers.

The kernel is compiled on first use with the system's C++ compiler (``$CXX``, else ``c++`` or
``g++``; about a second) into ``$DLEXAM_CACHE`` or ``~/.cache/dlexam``, keyed by the source,
the compiler and the CPU, and written atomically. Without a compiler, or with
``DLEXAM_FUSED=0``, everything runs on PyTorch's layers: slower, the same results within float
rounding. :func:`status` says which.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("fused.cpp")
CHANNELS, KERNEL, POOL = 8, 5, 4  # the shapes the kernel is written for (Problem 1's Conv-1/Pool-1)
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
PORTABLE_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c++17"]  # second try: one thread, generic CPU

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason: str | None = None  # why the kernel is unavailable, once known


def cache_dir() -> Path:
    root = os.environ.get("DLEXAM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "dlexam"
    )
    return Path(root)


def _compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_id() -> str:
    """What -march=native depends on: the CPU's model and feature flags (Linux), else the platform."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        keep = [ln for ln in lines if ln.startswith(("model name", "flags"))][:2]
        return "\n".join(keep)
    except OSError:
        return platform.processor() + platform.machine()


def _build(cxx: str, flags: list[str]) -> Path:
    """Compile fused.cpp with `flags` into the cache (unless already there); return the library."""
    source = SOURCE.read_bytes()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256(b"\0".join([source, version.encode(), " ".join(flags).encode(), _cpu_id().encode()]))
    target = cache_dir() / f"fused-{key.hexdigest()[:16]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fused-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cxx, *flags, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeError(f"{Path(cxx).name} failed: {last}")
        os.replace(tmp, target)  # atomic: a reader sees no library or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load() -> ctypes.CDLL | None:
    global _lib, _reason
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None or _reason is not None:
            return _lib
        if os.environ.get("DLEXAM_FUSED", "1") == "0":
            _reason = "disabled by DLEXAM_FUSED=0"
            return None
        cxx = _compiler()
        if cxx is None:
            _reason = "no C++ compiler found (set CXX)"
            return None
        lib = None
        for flags in (FLAGS, PORTABLE_FLAGS):
            try:
                lib = ctypes.CDLL(str(_build(cxx, flags)))
                break
            except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                _reason = f"could not build the kernel: {exc}"
        if lib is None:
            return None
        _reason = None
        f32, i64, cint = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
        lib.dlexam_conv5_relu_avgpool4_forward.argtypes = [f32, i64, cint, cint, f32, f32, f32, f32]
        lib.dlexam_conv5_relu_avgpool4_forward.restype = None
        lib.dlexam_conv5_relu_avgpool4_backward.argtypes = [f32, i64, cint, cint, f32, f32, f32, f32]
        lib.dlexam_conv5_relu_avgpool4_backward.restype = None
        _lib = lib
        return _lib


def available() -> bool:
    return _load() is not None


def status() -> str:
    """'fused' when the kernel is in use, else 'eager (<reason>)'."""
    return "fused" if available() else f"eager ({_reason})"


class _ConvReluAvgPool(torch.autograd.Function):
    """(B, 1, H, W) images -> (B, 8, Hp, Wp) channels-last pooled maps; gradients for weight, bias."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        lib = _lib
        B, _, H, W = x.shape
        Hp, Wp = (H - KERNEL + 1) // POOL, (W - KERNEL + 1) // POOL
        x = x.detach().reshape(B, H, W).contiguous()  # one channel: NCHW and NHWC are the same bytes
        wt = weight.detach().reshape(CHANNELS, KERNEL * KERNEL).t().contiguous()  # (K*K, C)
        b = bias.detach().contiguous()
        out = torch.empty(B, Hp, Wp, CHANNELS)
        mask = torch.empty(B, Hp * POOL, Wp * POOL, dtype=torch.uint8)  # bit c: channel c > 0
        lib.dlexam_conv5_relu_avgpool4_forward(
            x.data_ptr(), B, H, W, wt.data_ptr(), b.data_ptr(), out.data_ptr(), mask.data_ptr()
        )
        ctx.save_for_backward(x, mask)
        return out.permute(0, 3, 1, 2)  # (B, C, Hp, Wp) view, channels-last memory

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, mask = ctx.saved_tensors
        B, H, W = x.shape
        g = grad.permute(0, 2, 3, 1).contiguous()  # (B, Hp, Wp, C)
        dw = torch.empty(KERNEL, KERNEL, CHANNELS)
        db = torch.empty(CHANNELS)
        _lib.dlexam_conv5_relu_avgpool4_backward(
            x.data_ptr(), B, H, W, g.data_ptr(), mask.data_ptr(), dw.data_ptr(), db.data_ptr()
        )
        return None, dw.permute(2, 0, 1).reshape(CHANNELS, 1, KERNEL, KERNEL), db


def applies(x: torch.Tensor, conv: torch.nn.Conv2d, act: torch.nn.Module, pool: torch.nn.Module) -> bool:
    """Whether conv -> act -> pool on `x` is the stage the kernel computes (and it is available)."""
    return (
        isinstance(act, torch.nn.ReLU)
        and type(pool) is torch.nn.AvgPool2d
        and pool.kernel_size in (POOL, (POOL, POOL))
        and pool.stride in (POOL, (POOL, POOL))
        and pool.padding in (0, (0, 0))
        and not pool.ceil_mode
        and pool.divisor_override is None
        and type(conv) is torch.nn.Conv2d
        and conv.in_channels == 1
        and conv.out_channels == CHANNELS
        and conv.kernel_size == (KERNEL, KERNEL)
        and conv.stride == (1, 1)
        and conv.padding == (0, 0)
        and conv.dilation == (1, 1)
        and conv.groups == 1
        and conv.bias is not None
        and x.dim() == 4
        and x.shape[1] == 1
        and x.shape[2] >= KERNEL + POOL - 1
        and x.shape[3] >= KERNEL + POOL - 1
        and x.dtype == conv.weight.dtype == torch.float32
        and x.device.type == conv.weight.device.type == "cpu"
        and not x.requires_grad
        and not _transformed()
        and available()
    )


def _transformed() -> bool:
    """Under torch.func (vmap, grad: per-example gradients), torch.compile or a JIT trace the
    kernel, which reads raw memory, cannot take part: PyTorch's layers run instead."""
    functorch_active = getattr(torch._C, "_are_functorch_transforms_active", lambda: False)
    return bool(functorch_active()) or torch.compiler.is_compiling() or torch.jit.is_tracing()


def conv_relu_avgpool(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """avg_pool2d(relu(conv(x)), 4) through the fused kernel; call only where :func:`applies`."""
    return _ConvReluAvgPool.apply(x, conv.weight, conv.bias)
