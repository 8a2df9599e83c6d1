"""Building, caching and loading the fused kernels' library, and every way of falling back.

Each case runs in a subprocess with its own cache directory (DLEXAM_CACHE), as a fresh
`dlexam svhn train` would: what it prints and its exit status are the evidence.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

# One training step of ExamCNN, as `dlexam svhn train` takes it; prints the engine it trained with.
TRAIN_STEP = """
import torch, torch.nn.functional as F
from dlexam.svhn.kernels import fused
from dlexam.svhn.model import ExamCNN
torch.set_num_threads(1)
model = ExamCNN().train()
loss = F.cross_entropy(model(torch.randn(8, 1, 32, 32)), torch.randint(0, 10, (8,)))
loss.backward()
assert torch.isfinite(model.conv1.weight.grad).all()
print(fused.status(), model.fused)
"""


def _run(code: str, env: dict) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}: {proc.stderr}"
    return proc.stdout.strip()


def _status_in_subprocess(env: dict) -> str:
    return _run("from dlexam.svhn.kernels import fused; print(fused.status())", env)


def _libraries(cache: Path) -> list[Path]:
    return sorted(cache.glob("fused-*.so"))


def test_disabled_or_without_a_compiler_training_falls_back_to_pytorch_layers(tmp_path):
    assert _status_in_subprocess({"DLEXAM_FUSED": "0"}) == "eager (disabled by DLEXAM_FUSED=0)"
    env = {"CXX": "false", "PATH": str(tmp_path), "DLEXAM_CACHE": str(tmp_path / "c")}
    assert _run(TRAIN_STEP, env) == "eager (no C++ compiler found (set CXX)) False"


def test_a_failing_compiler_gives_a_reason_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bin" / "c++"
    bad.parent.mkdir()
    bad.write_text("#!/bin/sh\necho 'c++ (fake) 1.0'\necho 'error: no such thing' >&2\nexit 1\n")
    bad.chmod(0o755)
    cache = tmp_path / "cache"
    status = _status_in_subprocess({"CXX": str(bad), "DLEXAM_CACHE": str(cache)})
    assert status == "eager (could not build the kernel: c++ failed: error: no such thing)"
    assert list(cache.iterdir()) == []  # no half-written library left behind


@pytest.fixture(scope="module")
def built(native_kernel_cache) -> Path:
    """A cache holding the library as a fresh process builds it (its status "fused"): one compile per test run
    (tests/svhn/conftest.py), read only here: each test writes to its copy."""
    return native_kernel_cache


def _copy_of(cache: Path, to: Path) -> Path:
    to.mkdir()
    for f in cache.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


def test_builds_into_the_cache_atomically_with_its_hash_and_reuses_it(built, tmp_path):
    cache = _copy_of(built, tmp_path / "cache")
    (lib,) = _libraries(cache)
    assert sorted(p.name for p in cache.iterdir()) == [lib.name, lib.name + ".sha256"]  # no temporary left
    assert (cache / (lib.name + ".sha256")).read_text().strip() == hashlib.sha256(lib.read_bytes()).hexdigest()
    mtime = lib.stat().st_mtime_ns
    assert _status_in_subprocess({"DLEXAM_CACHE": str(cache)}) == "fused"
    assert _libraries(cache) == [lib]
    assert lib.stat().st_mtime_ns == mtime  # reused, not rebuilt


@pytest.mark.parametrize("damage", ["truncated", "truncated, no hash", "not a library, its hash rewritten"])
def test_a_damaged_cached_library_is_rebuilt_and_training_goes_on(built, tmp_path, damage):
    """Issue 13: a truncated cached .so made every later `svhn train` die of SIGBUS, without a message."""
    cache = _copy_of(built, tmp_path / "cache")
    (lib,) = _libraries(cache)
    whole = lib.read_bytes()
    sidecar = cache / (lib.name + ".sha256")
    if damage.startswith("truncated"):
        lib.write_bytes(whole[: len(whole) // 2])
    if damage == "truncated, no hash":
        sidecar.unlink()
    if damage.startswith("not a library"):
        lib.write_bytes(b"\x7fELF" + b"\0" * 100)  # the hash matches: loading is what fails
        sidecar.write_text(hashlib.sha256(lib.read_bytes()).hexdigest() + "\n")
    assert _run(TRAIN_STEP, {"DLEXAM_CACHE": str(cache)}) == "fused True"
    assert _libraries(cache) == [lib] and len(lib.read_bytes()) == len(whole)  # rebuilt whole
    assert sidecar.read_text().strip() == hashlib.sha256(lib.read_bytes()).hexdigest()
