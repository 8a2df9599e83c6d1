"""The fused kernels' libraries, loaded once per set of compile-time sizes, and the checks every operator
makes before a pointer reaches the C code (used by :mod:`.fused` and :mod:`.stage_ops`)."""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections.abc import Iterator

import torch
from torch import Tensor

from dlexam.svhn.kernels import build as kernel_build
from dlexam.svhn.kernels.geometry import Geometry, defines, version_a

F32, CL, U8 = torch.float32, torch.channels_last, torch.uint8
VERSION_A = version_a()


def mask_dtype(channels: int) -> torch.dtype:
    """The ReLU mask's element: one bit per channel."""
    return U8 if channels <= 8 else torch.int16 if channels <= 16 else torch.int32 if channels <= 32 else torch.int64


_lock = threading.Lock()
_libs: dict[tuple[int, ...], ctypes.CDLL] = {}  # by compiled sizes
_failures: dict[tuple[int, ...], str] = {}


def library_for(compiled: tuple[int, ...] = VERSION_A.compiled) -> ctypes.CDLL:
    """The loaded kernels for these compile-time sizes (built on first use); KernelUnavailable says why not."""
    lib = _libs.get(compiled)
    if lib is not None:
        return lib
    with _lock:
        if compiled not in _libs and compiled not in _failures:
            try:
                lib = declare(kernel_build.load(defines(compiled)))
                got = (ctypes.c_int * 4)()
                lib.dlexam_geometry(got)
                if tuple(got) != tuple(compiled):
                    raise kernel_build.KernelUnavailable(f"the library has sizes {tuple(got)}, not {compiled}")
                _libs[compiled] = lib
            except kernel_build.KernelUnavailable as exc:
                _failures[compiled] = str(exc)
    if compiled not in _libs:
        raise kernel_build.KernelUnavailable(_failures[compiled])
    return _libs[compiled]


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """The C signatures (pointers are passed as integers from Tensor.data_ptr(); the last int: threads)."""
    p, i64, i = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    dims = [i64, i, i, i, i]  # B, H, W, padding, pool
    trunk_dims = [i64, i, i, i, i, i, i]  # B, H, W, pad1, pool1, pad2, pool2
    for name, args, ret in (
        ("dlexam_geometry", [p], None),
        ("dlexam_wait_policy", [], ctypes.c_char_p),
        ("dlexam_stage1_forward", [p, *dims, p, p, p, p, i], None),
        ("dlexam_stage1_backward", [p, *dims, p, p, p, p, i], None),
        ("dlexam_stage2_forward", [p, *dims, p, p, p, p, i], None),
        ("dlexam_stage2_backward", [p, *dims, p, p, p, p, p, p, i], None),
        ("dlexam_trunk_saved_bytes", [i] * 6, i64),
        ("dlexam_trunk_forward", [p, *trunk_dims, p, p, p, p, p, p, i], None),
        ("dlexam_trunk_backward", [p, *trunk_dims, p, p, p, p, p, p, p, i], None),
        ("dlexam_train_step", [p, *trunk_dims, *[p] * 6, i, p, ctypes.c_float, *[p] * 6, p, p, i], i),
        ("dlexam_standardise_start", [p, i64, i64, p, i64, p, p, p, i], i),
        ("dlexam_join", [], None),
        ("dlexam_pool_check", [i, i64], i64),
    ):
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = ret
    return lib


_threads = threading.local()  # .count: this thread's kernels run on that many threads (see own_threads)


def kernel_threads() -> int:
    """The threads the kernels use for a call from this thread: torch.get_num_threads(), unless
    own_threads set a count of their own."""
    return getattr(_threads, "count", None) or torch.get_num_threads()


@contextlib.contextmanager
def own_threads(model: torch.nn.Module) -> Iterator[None]:
    """While training `model`: if it (or the module DDP wraps) runs the fused kernels, they keep
    torch.get_num_threads() threads of their own pool and PyTorch's operations run on one thread.

    The rest of a fused step (the linear head, the loss, the optimizer) is too small for a second thread
    to help, yet PyTorch's OpenMP wakes one for seven regions a step (MKL's sgemm, the fused SGD, the
    loss's backward), tens of microseconds each where it sleeps between them (OMP_WAIT_POLICY=PASSIVE),
    and a spinning one would take the core the kernels' worker needs. Restored on exit."""
    inner = getattr(model, "module", model)
    if not getattr(inner, "fused", False) or getattr(_threads, "count", None):
        yield
        return
    before = torch.get_num_threads()
    _threads.count = before
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        _threads.count = None


def available() -> bool:
    """Whether the kernels for Version A's sizes can be used here."""
    try:
        library_for()
    except kernel_build.KernelUnavailable:
        return False
    return True


def status() -> str:
    """'fused' when the kernels (Version A's sizes) are in use, else 'eager (<reason>)'."""
    return "fused" if available() else f"eager ({_failures[VERSION_A.compiled]})"


def wait_policy() -> str:
    """How the kernels' threads wait now: 'spin' (the machine has cores to spare) or 'sleep' (pool.h)."""
    return library_for().dlexam_wait_policy().decode() if available() else "none"


# ---- checks: every tensor is what the C code assumes before its address is taken --------------------
def expect(op: str, name: str, t: Tensor, dtype: torch.dtype, shape: tuple[int, ...] | None = None) -> None:
    if t.dtype != dtype or t.device.type != "cpu":
        raise TypeError(f"dlexam::{op}: {name} must be a {dtype} CPU tensor, not {t.dtype} on {t.device}")
    if shape is not None and t.shape != shape:
        raise ValueError(f"dlexam::{op}: {name} must have shape {shape}, not {tuple(t.shape)}")


def check_input(op: str, x: Tensor, channels: int, g: Geometry, stage: int) -> tuple[int, int, int, int, int]:
    """B, H, W, Hp, Wp for x, a (B, channels, H, W) float32 CPU batch large enough for one pooled output."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"dlexam::{op}: x must be (B, {channels}, H, W), not {tuple(x.shape)}")
    B, _, H, W = x.shape
    s = g.stage(stage)
    Hp, Wp = ((n + 2 * s["padding"] - s["kernel"] + 1) // s["pool"] for n in (H, W))
    if Hp < 1 or Wp < 1:
        raise ValueError(f"dlexam::{op}: x of {H}x{W} is too small for one pooled output")
    expect(op, "x", x, F32)
    return B, H, W, Hp, Wp


class Pinned:
    """Addresses for one C call. Each tensor whose address it gives stays referenced by it (so a temporary
    `.contiguous()` copy is not freed while the C code reads it): keep the Pinned until the call returns."""

    def __init__(self) -> None:
        self.tensors: list[Tensor] = []

    def __call__(self, t: Tensor, dtype: torch.dtype, shape: tuple[int, ...], layout=torch.contiguous_format) -> int:
        """t's address, once its dtype, device, shape and layout are what the C code reads."""
        if t.dtype is not dtype or not t.is_cpu or t.shape != shape or not t.is_contiguous(memory_format=layout):
            raise RuntimeError(f"dlexam kernels: a {t.dtype} {tuple(t.shape)} tensor where {dtype} {shape} is read")
        self.tensors.append(t)
        return t.data_ptr()
