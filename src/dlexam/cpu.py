"""CPU settings for the project's many small models.

On a 2-core machine, tiny tensors gain nothing from a second intra-op thread, and when other
processes keep the cores busy OpenMP's spinning threads make a step 10-50x slower (measured in the
answer key, the report and the experiments). :func:`torch_threads` runs a block on a fixed number
of threads, optionally with denormals flushed to zero, and restores both afterwards.

What the processor is, read once from /proc/cpuinfo (:func:`cpu_fields`): its name for a checkpoint's provenance
(:func:`cpu_name`), its flags for the instruction-set pin and the fused kernels' cache key (:func:`cpu_flags`).
Those need no torch, and the pin must run before torch loads, so torch is imported only where threads are set.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Iterator

from dlexam.errors import UserError


@contextlib.contextmanager
def torch_threads(threads: int = 1, *, flush_denormal: bool = False) -> Iterator[None]:
    """Run with `threads` intra-op threads (and denormals flushed to zero if asked); then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    if flush_denormal:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if flush_denormal:
            torch.set_flush_denormal(False)


@functools.cache
def cpu_fields() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo ("model name", "vendor_id", "cpu family", "model", "flags",
    ...); {} where that file is absent (not Linux)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """The processor's feature flags ("avx2", "fma", ...); empty where /proc/cpuinfo does not say."""
    return frozenset(cpu_fields().get("flags", "").split())


def cpu_name() -> str:
    """The processor, as /proc/cpuinfo names it: 'AMD EPYC (AuthenticAMD, family 25, model 17)'; the
    architecture alone where that file is absent. Two CPUs with the same instruction set can still add
    in another order: MKL, for one, picks its code by vendor and model (docs/svhn.md)."""
    fields = cpu_fields()
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    ids = [fields.get("vendor_id", "")]
    ids += [f"{key.split()[-1]} {fields[key]}" for key in ("cpu family", "model") if key in fields]
    return f"{fields['model name']} ({', '.join(i for i in ids if i)})"


# ---- the distributed world torchrun describes (no torch needed to read it) ----

TORCHRUN_ENV = ("RANK", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets beside WORLD_SIZE, and the group needs


def _whole_env(name: str, default: str | None = None) -> int:
    text = os.environ.get(name, default)
    if text is None or not (text.strip().isascii() and text.strip().isdigit()):
        raise UserError(f"{name}={text!r} in the environment is not a whole number; torchrun sets {name} "
                        "(start distributed training with torchrun --nproc_per_node=N -m dlexam svhn train ...)")
    return int(text)


def torchrun_world() -> tuple[int, int]:
    """(rank, world size) as torchrun's environment says; (0, 1) without WORLD_SIZE (or with 1). A distributed
    environment that torchrun would not have made (WORLD_SIZE > 1 without RANK, MASTER_ADDR or MASTER_PORT, a
    rank out of range, a number that is not one) is one UserError, not torch's traceback from its rendezvous."""
    world = _whole_env("WORLD_SIZE", "1")
    if world <= 1:
        return 0, 1
    missing = [name for name in TORCHRUN_ENV if not os.environ.get(name, "").strip()]
    if missing:
        raise UserError(f"WORLD_SIZE={world} in the environment says this is one of {world} processes of a "
                        f"distributed run, but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set; "
                        "start distributed training with torchrun (torchrun --nproc_per_node=N -m dlexam svhn "
                        "train ...), which sets them all, or unset WORLD_SIZE to train in one process")
    rank = _whole_env("RANK")
    if rank >= world:
        raise UserError(f"RANK={rank} in the environment is not one of the {world} ranks 0 to {world - 1} that "
                        f"WORLD_SIZE={world} says")
    return rank, world


def torchrun_local_rank(devices: int) -> int:
    """The GPU this rank takes, of the `devices` the machine has, as torchrun's LOCAL_RANK says (0 where it is not
    set). One that torchrun would not set (not a whole number, or no GPU of this machine) is one UserError, not a
    ValueError's traceback nor CUDA's "invalid device ordinal"."""
    local = _whole_env("LOCAL_RANK", "0")
    if local >= devices:
        raise UserError(f"LOCAL_RANK={local} in the environment is not one of the {devices} GPUs 0 to {devices - 1} "
                        "that this machine has")
    return local
