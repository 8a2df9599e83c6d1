"""One `dlexam serve` per test process (pytest-xdist worker), with a trained sorter beside the compiled one."""

from __future__ import annotations

import pytest

from .client import Server, train_tiny_sorter


@pytest.fixture(scope="session")
def sort_run(tmp_path_factory):
    return train_tiny_sorter(tmp_path_factory.mktemp("sort-run") / "run")


@pytest.fixture(scope="session")
def server(sort_run):
    s = Server("--sort-checkpoint", str(sort_run))
    yield s
    rc = s.stop()
    assert rc in (0, 130), s.stderr
    assert "Traceback" not in s.stderr, s.stderr
