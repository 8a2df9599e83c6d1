"""Shared test fixtures."""

from __future__ import annotations

import fcntl
import io
import json
import os
from contextlib import redirect_stdout
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DLEXAM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def exam_text() -> str:
    path = SHARED / "exam" / "deep-learning-final-exam-2025-01-22-version-A.txt"
    if not path.exists():
        pytest.skip(f"exam text not found at {path}")
    return path.read_text()


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_shared(*parts): skip, saying why, where the shared data PARTS "
                            "(e.g. 'data', 'mnist-t10k') are absent (dlexam.shared: DLEXAM_SHARED or ../shared)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_shared"):
        skip_without_shared(*mark.args)


def skip_without_shared(*parts: str) -> Path:
    """The shared path PARTS, or a skip that says what is missing and where dlexam looked."""
    from dlexam import shared

    found = shared.find(*parts)
    if found is None:
        pytest.skip(f"needs the shared data {'/'.join(parts)}: {shared.how_to_get()}")
    return found


@pytest.fixture(scope="session")
def need_shared():
    """need_shared('data', 'mnist-t10k') -> the path, or the test skips saying what is missing."""
    return skip_without_shared


@pytest.fixture(scope="session")
def per_run_dir(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (the base temp folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def once_per_run(per_run_dir):
    """once_per_run(NAME, make) -> per_run_dir/NAME, made by make(path) once per test run: under pytest-xdist the
    first worker to ask makes it under a lock, the others wait for it. What it holds is read only."""

    def get(name: str, make) -> Path:
        path, done = per_run_dir / name, per_run_dir / f"{name}.done"
        with open(per_run_dir / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.exists():
                make(path)
                done.touch()
        return path

    return get


BY_THE_CLI = ("separable-logreg",)


@pytest.fixture(scope="session")
def quick_experiment(once_per_run):
    """quick_experiment(NAME) -> (what run_experiment returned, as JSON; its folder): NAME run once per test run
    with `ExperimentRun(NAME, folder, quick=True)`, as tests/experiments/test_NAME.py ran it in its own module.

    The run is shared (once_per_run): the experiment's tests and the report of the browser tests
    (tests/report/conftest.py) read the same one. Its folder is read only: a test that writes runs its own.
    The experiments of BY_THE_CLI are run as `dlexam experiment NAME --quick --out FOLDER --json` (in this process),
    and what it printed is what is returned: their tests check the command line's JSON."""
    from dlexam.cli import main
    from dlexam.cpu import torch_threads
    from dlexam.experiments import ExperimentRun, run_experiment
    from dlexam.files import atomic_write_text

    def run(path: Path, name: str) -> None:
        with torch_threads(1):  # as the report runs it: the same numbers whichever test asks first
            if name in BY_THE_CLI:
                buf = io.StringIO()
                with redirect_stdout(buf):
                    assert main(["experiment", name, "--quick", "--out", str(path / name), "--json"]) == 0
                result = json.loads(buf.getvalue())
            else:
                result = run_experiment(ExperimentRun(name, path / name, quick=True)).to_json()
        atomic_write_text(path / "returned.json", json.dumps(result))

    def get(name: str) -> tuple[dict, Path]:
        path = once_per_run(f"dlexam-quick-experiment-{name}", lambda p: run(p, name))
        return json.loads((path / "returned.json").read_text()), path / name

    return get
