"""Memory of one training step, measured two ways (for the batch-size experiment).

1. :func:`saved_tensor_bytes`: the bytes autograd keeps for the backward pass (activations), summed
   over distinct storages through ``torch.autograd.graph.saved_tensors_hooks``. Exact and
   deterministic, but it counts only tensors saved for backward, not the temporaries, the
   gradients, the optimiser state or allocator overhead.
2. :func:`peak_rss_step`: the growth of the peak resident set size of a forked child that runs
   one forward + backward + optimiser step, over its resident size just before (after a warm-up
   step and ``malloc_trim``). The peak is the kernel's VmHWM, restarted from the current RSS by
   writing 5 to /proc/self/clear_refs (else ``getrusage`` ru_maxrss, which cannot see growth below
   the RSS at fork). It sees everything the step touches, at page granularity, but memory the
   allocator still holds can hide small steps; it needs ``os.fork`` and Linux's /proc; where they
   are unavailable or the child fails, it returns None. PyTorch has no CPU allocator statistics
   (``torch.cuda.max_memory_allocated`` is for GPUs only) and tracemalloc does not see tensor
   memory (PyTorch allocates it outside Python's allocator), so neither is used.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
from collections.abc import Callable

import torch

from dlexam.plain import dumps
from dlexam.pools import die_with_parent


def saved_tensor_bytes(step: Callable[[], torch.Tensor]) -> int:
    """Bytes of the distinct storages autograd saves while `step()` builds its loss."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: resident now, VmHWM: peak resident), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Restart the kernel's peak-RSS counter (VmHWM) from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_rss_step(
    step: Callable[[], None], warmup: Callable[[], None] | None = None, timeout_s: float = 120.0
) -> float | None:
    """Peak RSS growth in MiB while a forked child runs `step()` once; None where it cannot be measured.

    The child first runs `warmup()` (e.g. the same step on one example), so that one-off costs (the
    autograd thread, kernel caches, a malloc arena) are not charged to `step`.
    """
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/status"):
        return None
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: measure, report through the pipe, and leave without cleanup
        code = 1
        die_with_parent(parent)  # a killed experiment leaves no measuring child behind
        try:
            os.close(r)
            torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork
            (torch.ones(8, requires_grad=True) * 2).sum().backward()  # first-use set-up outside the measure
            if warmup is not None:
                warmup()
            _malloc_trim()
            reset = _reset_peak()
            base = _status_kb("VmRSS")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            step()
            if reset:  # VmHWM restarted from the current RSS: the step's own peak
                report = {"base": base, "peak": _status_kb("VmHWM")}
            else:  # ru_maxrss still holds the fork-time RSS: growth counts only above it
                report = {"base": max(base, before), "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
            os.write(w, dumps(report).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], timeout_s)
        raw = os.read(r, 4096) if ready else b""
    finally:
        os.close(r)
        if not raw:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        os.waitpid(pid, 0)
    if not raw:
        return None
    m = json.loads(raw)
    return max(0, m["peak"] - m["base"]) / 1024.0
