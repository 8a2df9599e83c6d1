"""Fixtures for the SVHN tests: a tiny synthetic dataset in the official .mat format."""

from __future__ import annotations

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
