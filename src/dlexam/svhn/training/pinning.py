"""The instruction set a recipe trains with, pinned so that a rebuild gives the same weights on other CPUs.

A float sum rounds differently when its terms are added in another order, and the order depends on
the vector width of the code that adds them: PyTorch's own kernels (chosen at start-up by the CPU's
capability: DEFAULT, AVX2 or AVX512), MKL's matrix products (its code path by CPU) and the fused
training kernels (compiled with ``-march=native``). An AVX512 machine rebuilt the shipped model
with weights up to 0.24 away from one built on an AVX2 machine (issue 21).

`dlexam svhn train --recipe` therefore pins, before torch is loaded (torch and MKL read these once):

    ATEN_CPU_CAPABILITY=avx2   PyTorch's vectorised kernels take their AVX2 code path
    MKL_CBWR=COMPATIBLE,STRICT MKL's conditional numerical reproducibility on its COMPATIBLE branch
                               (SSE2 without the approximate reciprocals), strictly: the one branch
                               MKL runs alike on Intel and other vendors' CPUs. Its AVX2 branch is
                               Intel's only: elsewhere MKL dispatches as it likes, and an AMD EPYC
                               rebuilt the model pinned to it with weights up to 1.26 away.
    DLEXAM_KERNEL_MARCH=x86-64-v3
                               the fused kernels compiled for x86-64-v3 (AVX2, FMA) with
                               -ffp-contract=off, not for the build machine's own CPU

on x86-64 CPUs that have AVX2 and FMA (every x86-64-v3 CPU: Intel since 2013, AMD since 2015). In the
recipe only the scene renderer's blur (a batched matrix product) reaches MKL; training does not.
Values the user set win; ``DLEXAM_PIN_ISA=0`` turns the pin off (the machine's own fastest code,
and weights that may differ in the last bits elsewhere). :func:`state` says what a process actually
runs with, and the recipe records it with the checkpoint. docs/svhn.md says where bit-identity was
checked and what the pin costs.

No torch import here: :func:`pin` must run before torch is loaded.
"""

from __future__ import annotations

import os
import platform
import sys

from dlexam.cpu import cpu_flags

PINNED = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_CBWR": "COMPATIBLE,STRICT",
    "DLEXAM_KERNEL_MARCH": "x86-64-v3",
}
PINNED_CAPABILITY = "AVX2"  # torch.backends.cpu.get_cpu_capability() under the pin


def can_pin() -> bool:
    """Whether this machine runs the pinned code: x86-64 with AVX2 and FMA (read from /proc/cpuinfo)."""
    return platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= cpu_flags()


def pin() -> bool:
    """Set the pinned environment for this process (and its children) if torch is not loaded yet and the
    CPU can run it; a value already in the environment is kept. Returns whether the pin is in place."""
    if "torch" in sys.modules or not can_pin() or os.environ.get("DLEXAM_PIN_ISA", "1") == "0":
        return is_pinned_environment()
    for name, value in PINNED.items():
        os.environ.setdefault(name, value)
    return is_pinned_environment()


def is_pinned_environment() -> bool:
    return all(os.environ.get(name, "").lower() == value.lower() for name, value in PINNED.items())


def state() -> dict:
    """What this process trains with: torch's CPU capability, MKL's reproducibility mode, the kernels'
    target, and whether that is the pin (a recipe records it beside the checkpoint's provenance)."""
    import torch

    capability = str(torch.backends.cpu.get_cpu_capability())
    info = {name: os.environ.get(name) for name in PINNED}
    info["cpu_capability"] = capability
    info["pinned"] = is_pinned_environment() and capability == PINNED_CAPABILITY
    return info
