"""Building, caching and loading the fused kernels' library, and every way of falling back.

Each case runs in a subprocess with its own cache directory (DLEXAM_CACHE), as a fresh process
would: what it prints and its exit status are the evidence.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlexam.svhn import fused


def _run(code: str, env: dict) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}: {proc.stderr}"
    return proc.stdout.strip()


def _status_in_subprocess(env: dict) -> str:
    return _run("from dlexam.svhn import fused; print(fused.status())", env)


def _libraries(cache: Path) -> list[Path]:
    return sorted(cache.glob("fused-*.so"))


def test_disabled_or_without_a_compiler_training_falls_back_to_pytorch_layers(tmp_path):
    assert _status_in_subprocess({"DLEXAM_FUSED": "0"}) == "eager (disabled by DLEXAM_FUSED=0)"
    status = _status_in_subprocess({"CXX": "false", "PATH": str(tmp_path), "DLEXAM_CACHE": str(tmp_path / "c")})
    assert status == "eager (no C++ compiler found (set CXX))"


def test_a_failing_compiler_gives_a_reason_and_leaves_no_file(tmp_path):
    bad = tmp_path / "bin" / "c++"
    bad.parent.mkdir()
    bad.write_text("#!/bin/sh\necho 'c++ (fake) 1.0'\necho 'error: no such thing' >&2\nexit 1\n")
    bad.chmod(0o755)
    cache = tmp_path / "cache"
    status = _status_in_subprocess({"CXX": str(bad), "DLEXAM_CACHE": str(cache)})
    assert status == "eager (could not build the kernel: c++ failed: error: no such thing)"
    assert list(cache.iterdir()) == []  # no half-written library left behind


@pytest.mark.skipif(not fused.available(), reason=f"fused kernel unavailable: {fused.status()}")
def test_builds_into_the_cache_atomically_and_reuses_it(tmp_path):
    cache = tmp_path / "cache"
    assert _status_in_subprocess({"DLEXAM_CACHE": str(cache)}) == "fused"
    (lib,) = _libraries(cache)
    assert [p.name for p in cache.iterdir()] == [lib.name]  # no temporary left
    mtime = lib.stat().st_mtime_ns
    assert _status_in_subprocess({"DLEXAM_CACHE": str(cache)}) == "fused"
    assert _libraries(cache) == [lib]
    assert lib.stat().st_mtime_ns == mtime  # reused, not rebuilt
