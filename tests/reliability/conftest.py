"""Fixtures of the reliability suite: a small synthetic SVHN folder and a quick training run."""

from __future__ import annotations

import pytest

from dlexam.cli import main


# Both once per test process, for every module (they were made again for each): tests read them, copy them before
# writing, or are refused writing into them (and check that nothing changed).
@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    assert main(["svhn", "synth", "--out", str(d), "--train", "600", "--test", "100", "--seed", "1"]) == 0
    return d


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory, synth_dir):
    run = tmp_path_factory.mktemp("runs") / "quick"
    assert main(["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet",
                 "--threads", "1"]) == 0
    return run
