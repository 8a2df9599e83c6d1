"""Compiling fused.cpp into a shared library, caching it, and loading it safely.

The library is built on first use with the system's C++ compiler (``$CXX``, else ``c++``, ``g++`` or
``clang++``; about four seconds) into ``$DLEXAM_CACHE`` or ``~/.cache/dlexam``, one per set of
compile-time sizes (:class:`dlexam.svhn.kernels.geometry.Geometry`, as ``-D`` flags), under a name
keyed by the sources, the compiler, the flags, the sizes and the CPU. Each library is written
atomically (temporary file, then rename), and then its SHA-256 beside it (``<name>.so.sha256``,
also atomically). A cached library is loaded only if its contents still match that hash: a
truncated or damaged file (which ``dlopen`` may answer with SIGBUS, killing the process without a
message) is rebuilt instead, and so is one that fails to load. If the optimised build
(``-march=native``) fails, a portable one is tried. :func:`load` raises :class:`KernelUnavailable`,
with the reason, when neither works. The kernels' threads are their own (pool.h: pthreads and
futexes, so Linux), not OpenMP's.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from dlexam.cpu import cpu_flags, cpu_name
from dlexam.files import atomic_path, atomic_write_text, sha256_of

SOURCE = Path(__file__).with_name("fused.cpp")
HEADERS = [SOURCE.with_name(name) for name in ("simd.h", "pool.h", "stages.h", "stage1.h", "stage2.h", "head.h")]
FLAGS = ["-O3", "-march=native", "-pthread", "-shared", "-fPIC", "-std=c++17"]
PORTABLE_FLAGS = ["-O3", "-pthread", "-shared", "-fPIC", "-std=c++17"]  # second try: generic CPU


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
    return f"{cpu_name()}\n{' '.join(sorted(cpu_flags()))}"


def library_path(cxx: str, flags: list[str]) -> Path:
    """Where the library built by `cxx` with `flags` (the -D sizes among them) from the current sources is cached."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    sources = [p.read_bytes() for p in (SOURCE, *HEADERS)]
    parts = [*sources, version.encode(), " ".join(flags).encode(), _cpu_id().encode()]
    key = hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]
    return cache_dir() / f"fused-{key}.so"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verified(path: Path) -> bool:
    """Whether the cached library at `path` is whole: its contents match the hash written beside it."""
    try:
        return _sidecar(path).read_text().strip() == sha256_of(path)
    except OSError:  # either file missing or unreadable
        return False


def build(cxx: str, flags: list[str], *, force: bool = False) -> Path:
    """Compile fused.cpp with `flags` into the cache, unless a verified library is there; return it."""
    target = library_path(cxx, flags)
    if not force and verified(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)

    def compile_to(tmp: str) -> None:
        proc = subprocess.run([cxx, *flags, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=300,
                              cwd=SOURCE.parent)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise KernelUnavailable(f"{Path(cxx).name} failed: {last}")

    with atomic_path(target) as tmp:  # a reader sees no library or a whole one
        compile_to(str(tmp))
    atomic_write_text(_sidecar(target), sha256_of(target) + "\n")
    return target


def _load_flags(cxx: str, flags: list[str]) -> ctypes.CDLL:
    path = build(cxx, flags)
    try:
        return ctypes.CDLL(str(path))
    except OSError:  # whole but not loadable (another machine's build, say): build it again, once
        return ctypes.CDLL(str(build(cxx, flags, force=True)))


def target_flags() -> list[str]:
    """FLAGS, or, with ``DLEXAM_KERNEL_MARCH`` set (a recipe's pinned instruction set,
    dlexam.svhn.training.pinning), the same for that target with -ffp-contract=off: code, and so
    rounding, that does not depend on the CPU the library is built on."""
    march = os.environ.get("DLEXAM_KERNEL_MARCH")
    if not march:
        return FLAGS
    return [f"-march={march}" if f == "-march=native" else f for f in FLAGS] + ["-mtune=generic", "-ffp-contract=off"]


def load(defines: list[str]) -> ctypes.CDLL:
    """The kernels' library for the compile-time sizes `defines` (Geometry.defines()), built or taken from the
    cache; KernelUnavailable says why not."""
    if os.environ.get("DLEXAM_FUSED", "1") == "0":
        raise KernelUnavailable("disabled by DLEXAM_FUSED=0")
    cxx = compiler()
    if cxx is None:
        raise KernelUnavailable("no C++ compiler found (set CXX)")
    reason = ""
    for flags in (target_flags(), PORTABLE_FLAGS):
        try:
            return _load_flags(cxx, [*flags, *defines])
        except (OSError, KernelUnavailable, subprocess.SubprocessError) as exc:
            reason = f"could not build the kernel: {exc}"
    raise KernelUnavailable(reason)
