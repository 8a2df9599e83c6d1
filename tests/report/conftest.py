"""Fixtures of the report tests: a Chromium (or a skip with the reason) and one tiny report per run."""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory, exam_text) -> tuple[Path, dict]:
    """(index.html, build summary) of the full report at the test size, built once per test run.

    Needs the exam text (the answer key reads it): `exam_text` skips with the reason where it is missing.

    Under pytest-xdist the workers share it: the first one builds it under a lock, the others wait.
    """
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = root / "dlexam-tiny-report"
    summary = root / "dlexam-tiny-report.json"
    with open(root / "dlexam-tiny-report.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not summary.exists():
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
