"""Run `dlexam` commands in child processes that the test kills with SIGKILL at any instant, cheaply.

A fresh `python -m dlexam` spends a second or more importing torch (and torch._dynamo, which the
first optimizer imports) before any work: twenty kills would be twenty imports. Here a forkserver
imports dlexam and torch once, and each command runs in a
process forked from it, which the test kills after a chosen delay (or which kills itself at a chosen
point of a file commit: :func:`run` with `kill_at`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

PRELOAD = ["torch", "torch._dynamo", "numpy", "scipy.io", "matplotlib.pyplot", "dlexam.cli", "dlexam.runs",
           "dlexam.sorting.train", "dlexam.sorting.evaluate", "dlexam.svhn.training.runs", "dlexam.svhn.plots",
           "dlexam.figures"]
_ctx = None


def _context():
    global _ctx
    if _ctx is None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # the forkserver and its children inherit it
        os.environ.setdefault("MPLBACKEND", "Agg")  # as dlexam.figures sets it
        _ctx = multiprocessing.get_context("forkserver")
        _ctx.set_forkserver_preload(PRELOAD)
    return _ctx


def _child(args: list[str], kill_at: tuple[str, str, int] | None) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if kill_at is not None:
        _kill_at(*kill_at)
    from dlexam.cli import main

    os._exit(main(args))


def _kill_at(when: str, name: str, nth: int) -> None:
    """SIGKILL this process just `when` ("before" or "after") its `nth` (1-based) os.replace onto `name`."""
    real, seen = os.replace, [0]

    def replace(src, dst, *a, **kw):
        hit = False
        if os.path.basename(os.fspath(dst)) == name:
            seen[0] += 1
            hit = seen[0] == nth
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *a, **kw)
        if hit and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replace


def start(args: list[str]):
    """Start `dlexam ARGS` in a forked child and return its process (join it; .exitcode is its status)."""
    p = _context().Process(target=_child, args=(list(args), None))
    p.start()
    return p


def run(args: list[str], *, kill_after: float | None = None, kill_at: tuple[str, str, int] | None = None,
        timeout: float = 120) -> int:
    """Run `dlexam ARGS` in a forked child; SIGKILL it after `kill_after` seconds if it still runs.
    Returns its exit status, or -9 when it was killed."""
    p = _context().Process(target=_child, args=(list(args), kill_at))
    p.start()
    if kill_after is not None:
        p.join(kill_after)
        if p.exitcode is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:  # it ended on its own just now (its status reaches us a moment later)
                pass
    p.join(timeout)
    if p.exitcode is None:
        p.kill()
        p.join()
        raise TimeoutError(f"dlexam {' '.join(args)} ran past {timeout} s")
    return p.exitcode


def window(args: list[str], last: str) -> float:
    """Run to the end (it must succeed); the seconds from its start to the last write of the file `last`:
    the span in which a kill lands on the work, not on what follows it."""
    run(["sort", "D A"])  # the forkserver is started (and its imports done) before the clock starts
    start = time.time()
    code = run(args)
    assert code == 0, f"dlexam {' '.join(args)} exited {code}"
    return max(0.05, os.stat(last).st_mtime - start)
