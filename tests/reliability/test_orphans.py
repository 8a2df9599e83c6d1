"""No orphans: a command killed with SIGKILL takes its helper processes with it. The report runs its
experiments in a pool of worker processes, and `experiment batch-size` measures memory in a forked
child; before dlexam.pools, a killed report left its pool working on, parented to init, for good.

Each test starts the real machinery in a fresh Python, waits until its helper processes run, kills
the parent with SIGKILL and then watches every process that descended from it: all must be gone within
a few seconds (the oracle is the kernel's process table, /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")


def _parents() -> dict[int, int]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            out[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after "(comm)": the parent
    return out


def _descendants(pid: int) -> set[int]:
    parents, found, todo = _parents(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        todo += list(kids - found)
        found |= kids
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its exit status is left


def _kill_and_watch(parent: subprocess.Popen, wanted: int, ready_s: float = 120) -> tuple[set[int], set[int]]:
    """Wait until `parent` has at least `wanted` descendants, SIGKILL it, and return (its descendants
    then, those still alive 10 s later)."""
    deadline = time.monotonic() + ready_s
    kids: set[int] = set()
    while time.monotonic() < deadline and len(kids) < wanted:
        assert parent.poll() is None, parent.stderr.read().decode()[-2000:]
        time.sleep(0.2)
        kids = _descendants(parent.pid)
    assert len(kids) >= wanted, f"only {len(kids)} helper processes started"
    time.sleep(1.0)  # let them get to work
    kids = _descendants(parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    end = time.monotonic() + 10
    while time.monotonic() < end and any(_alive(k) for k in kids):
        time.sleep(0.2)
    left = {k for k in kids if _alive(k)}
    for k in left:  # never leave them running after the test, whatever it found
        os.kill(k, signal.SIGKILL)
    return kids, left


_REPORT = """
import sys
from dlexam.report import ReportSettings, build_report
from dlexam.report.build import default_sections
experiments = [s for s in default_sections() if s.id == "experiments"]
build_report(sys.argv[1], ReportSettings(quick=True, experiments=("separable-logreg", "pooling"), jobs=2),
             sections=experiments)
"""


def test_a_killed_report_takes_its_experiment_pool_with_it(tmp_path):
    """The report's own code path (`dlexam report` builds the same section the same way): two pool workers
    running quick experiments, the parent killed."""
    parent = subprocess.Popen([sys.executable, "-c", _REPORT, str(tmp_path / "report")], stderr=subprocess.PIPE,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    kids, left = _kill_and_watch(parent, wanted=2)
    assert not left, f"{len(left)} of {len(kids)} pool processes outlived the killed report"


_EXPERIMENT = """
import sys, time
from dlexam.experiments.memory import peak_rss_step
peak_rss_step(lambda: time.sleep(300))   # the batch-size experiment's measuring child, held at work
"""


def test_a_killed_experiment_takes_its_measuring_child_with_it():
    parent = subprocess.Popen([sys.executable, "-c", _EXPERIMENT], stderr=subprocess.PIPE,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    kids, left = _kill_and_watch(parent, wanted=1)
    assert not left, "the measuring child outlived the killed experiment"
