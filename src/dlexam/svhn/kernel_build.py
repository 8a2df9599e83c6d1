"""Compiling fused.cpp into a shared library, caching it, and loading it.

The library is built on first use with the system's C++ compiler (``$CXX``, else ``c++``, ``g++`` or
``clang++``; about two seconds) into ``$DLEXAM_CACHE`` or ``~/.cache/dlexam``, under a name keyed by
the source, the compiler, the flags and the CPU, and written atomically (temporary file, then
rename). If the optimised build (``-march=native``, OpenMP) fails, a portable one is tried.
:func:`load` raises :class:`KernelUnavailable`, with the reason, when neither works.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fused.cpp")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c++17"]
PORTABLE_FLAGS = ["-O3", "-shared", "-fPIC", "-std=c++17"]  # second try: one thread, generic CPU


class KernelUnavailable(RuntimeError):
    """The kernels cannot be used here; the message says why."""


def cache_dir() -> Path:
    root = os.environ.get("DLEXAM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "dlexam"
    )
    return Path(root)


def compiler() -> str | None:
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


def library_path(cxx: str, flags: list[str]) -> Path:
    """Where the library built by `cxx` with `flags` from the current source is cached."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    parts = [SOURCE.read_bytes(), version.encode(), " ".join(flags).encode(), _cpu_id().encode()]
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    return cache_dir() / f"fused-{key}.so"


def build(cxx: str, flags: list[str]) -> Path:
    """Compile fused.cpp with `flags` into the cache (unless already there); return the library."""
    target = library_path(cxx, flags)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".fused-", suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cxx, *flags, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise KernelUnavailable(f"{Path(cxx).name} failed: {last}")
        os.replace(tmp, target)  # atomic: a reader sees no library or a whole one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def load() -> ctypes.CDLL:
    """The kernels' library, built or taken from the cache; KernelUnavailable says why not."""
    if os.environ.get("DLEXAM_FUSED", "1") == "0":
        raise KernelUnavailable("disabled by DLEXAM_FUSED=0")
    cxx = compiler()
    if cxx is None:
        raise KernelUnavailable("no C++ compiler found (set CXX)")
    reason = ""
    for flags in (FLAGS, PORTABLE_FLAGS):
        try:
            return ctypes.CDLL(str(build(cxx, flags)))
        except (OSError, KernelUnavailable, subprocess.SubprocessError) as exc:
            reason = f"could not build the kernel: {exc}"
    raise KernelUnavailable(reason)
