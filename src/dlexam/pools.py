"""Process pools whose workers die with their parent: a killed command leaves no orphans behind.

A worker of a plain :class:`~concurrent.futures.ProcessPoolExecutor` outlives a parent killed with
SIGKILL (nothing runs in the parent to stop it) and goes on computing, parented to init, for as long
as its task takes, and then waits for work forever. A worker of :func:`process_pool` asks the kernel
to kill it when its parent dies (Linux's ``PR_SET_PDEATHSIG``) and checks that the parent it was
started for is still its parent (the parent may die before the request is made); where the kernel
offers no such request, a thread of the worker watches its parent's id and ends the worker when the
parent is gone. The pool's workers are started by the thread that submits work, the command's main
thread, whose end is the process's end.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_SECONDS = 0.5  # how often the fallback watcher looks at its parent


def die_with_parent(parent_pid: int) -> None:
    """Run in a new child process: end it when `parent_pid` (its parent) dies, however it dies."""
    if not _kernel_kills_orphan():
        threading.Thread(target=_watch, args=(parent_pid,), name="dlexam-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request was made
        os._exit(1)


def _kernel_kills_orphan() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` fresh processes ("spawn": no forked copy of this process's torch thread
    pools) that die with this process (:func:`die_with_parent`)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))
