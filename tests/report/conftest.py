"""Fixtures of the report tests: a Chromium (or a skip with the reason) and one tiny report per run."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from pathlib import Path

import pytest

import dlexam.experiments
from dlexam.files import atomic_write_text
from dlexam.report import ReportSettings, build_report

from .browser import find_chromium

# The experiments the browser test's report runs: the cheapest three, including the one with the
# widest table (batch-size) for the overflow check. All of them together would take about 60 CPU-s
# more; each has its own --quick test in tests/experiments/, and `dlexam report` runs them all.
BROWSER_TEST_EXPERIMENTS = ("separable-logreg", "pooling", "batch-size")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (scripts/ensure-chromium.sh installs Debian's chromium as root)")
    return path


def from_quick_experiments(quick_experiment):
    """A run_experiment for the report's build that takes each (quick) run from `quick_experiment`, once per test
    run, and copies its files into the folder the report gave it, as the run would have written them there."""
    from dlexam.experiments import ExperimentResult

    def run(r):
        assert r.quick, r  # the report's test size runs every experiment in its quick mode
        result, folder = quick_experiment(r.name)
        r.out_dir.mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith(".dlexam"):  # the run folder's own bookkeeping stays
                shutil.copyfile(f, r.out_dir / f.name)
        moved = [str((r.out_dir / Path(f).name).resolve()) for f in result["figures"]]
        return ExperimentResult.from_json({**result, "figures": moved})

    return run


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory, exam_text, quick_experiment) -> tuple[Path, dict]:
    """(index.html, build summary) of the full report at the test size, built once per test run.

    Needs the exam text (the answer key reads it): `exam_text` skips with the reason where it is missing.

    Under pytest-xdist the workers share it: the first one builds it under a lock, the others wait.
    Its experiments are the runs of `quick_experiment` (tests/conftest.py), which tests/experiments reads too.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = root / "dlexam-tiny-report"
    summary = root / "dlexam-tiny-report.json"
    with open(root / "dlexam-tiny-report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not summary.exists():
            # Made before run_experiment is patched: a run of BY_THE_CLI goes through `dlexam experiment`, whose
            # run_experiment, patched, asked quick_experiment for the run it was making, and waited on its own lock.
            for name in BROWSER_TEST_EXPERIMENTS:
                quick_experiment(name)
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(dlexam.experiments, "run_experiment", from_quick_experiments(quick_experiment))
                result = build_report(out, ReportSettings(tiny=True, experiments=BROWSER_TEST_EXPERIMENTS))
            atomic_write_text(summary, json.dumps(result.to_dict()))
    return out / "index.html", json.loads(summary.read_text())


def external_references(html: str) -> list[str]:
    """Everything in the page that points outside it (an oracle independent of the report's code)."""
    found = []
    low = html.lower()
    for needle in ("http://", "https://", "file://", "<link", "<script", "@import", "url("):
        if needle in low:
            found.append(needle)
    found += [src[:60] for src in re.findall(r'\ssrc="([^"]*)"', html) if not src.startswith("data:image/png;base64,")]
    return found


@pytest.fixture(scope="session")
def find_external_references():
    return external_references
