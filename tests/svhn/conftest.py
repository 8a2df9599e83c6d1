"""Fixtures for the SVHN tests: a tiny synthetic dataset in the official .mat format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    from dlexam.svhn.synthetic.digits import write_synthetic

    out = tmp_path_factory.mktemp("svhn-synth")
    write_synthetic(out, n_train=1200, n_test=300, seed=1)
    return out


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, synth_dir) -> Path:
    """A run directory made by the real command: `dlexam svhn train --quick`."""
    from dlexam.cli import main

    out = tmp_path_factory.mktemp("svhn-run") / "run"
    assert (
        main(
            [
                "svhn",
                "train",
                "--data",
                str(synth_dir),
                "--out",
                str(out),
                "--quick",
                "--quiet",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="session")
def native_kernel_cache(once_per_run) -> Path:
    """A kernel cache (DLEXAM_CACHE) holding only the fused kernels' library as a fresh process builds it, built
    once per test run (once_per_run: read it, or copy it before writing); a skip where the kernels cannot build."""
    from dlexam.svhn.kernels import fused

    if not fused.available():
        pytest.skip(f"fused kernel unavailable: {fused.status()}")

    def build(cache: Path) -> None:
        code = "from dlexam.svhn.kernels import fused; print(fused.status())"
        proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "DLEXAM_CACHE": str(cache)},
                              capture_output=True, text=True, timeout=300)
        assert (proc.returncode, proc.stdout.strip()) == (0, "fused"), proc.stderr

    return once_per_run("native-kernel-cache", build)


@pytest.fixture(scope="session")
def portable_kernel_cache(once_per_run) -> Path:
    """A kernel cache holding only the portable library of the exam's geometry (the second-try build: no
    -march=native), built once per test run (once_per_run: read it, or copy it before writing)."""
    from dlexam.svhn.kernels import build as kernel_build
    from dlexam.svhn.kernels.library import VERSION_A

    def build(cache: Path) -> None:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DLEXAM_CACHE", str(cache))
            kernel_build.build(kernel_build.compiler(), [*kernel_build.PORTABLE_FLAGS, *VERSION_A.defines()])

    return once_per_run("portable-kernel-cache", build)

