"""Process pools whose workers die with their parent: a killed command leaves no orphans behind.

A worker of a plain :class:`~concurrent.futures.ProcessPoolExecutor` outlives a parent killed with
SIGKILL (nothing runs in the parent to stop it) and goes on computing, parented to init, for as long
as its task takes, and then waits for work forever. A worker of :func:`process_pool` asks the kernel
to kill it when its parent dies (Linux's ``PR_SET_PDEATHSIG``) and checks that the parent it was
started for is still its parent (the parent may die before the request is made); where the kernel
offers no such request, a thread of the worker watches its parent's id and ends the worker when the
parent is gone. The pool's workers are started by the thread that submits work, the command's main
thread, whose end is the process's end.

A pool stopped early ends as Ctrl-C ends a command. The first SIGINT or SIGTERM a worker gets raises
KeyboardInterrupt or :class:`~dlexam.errors.Terminated` in its task, so the task's folders and locks are
closed (a later signal is ignored while it cleans up), and the worker then exits instead of taking the next
task; an idle worker just exits. Before, SIGTERM (sent to the whole process group by `timeout` or a service
manager) ended a worker where it stood: a report left its experiments' folders behind, each holding a lock
file. And a pool left by an exception (Ctrl-C or SIGTERM in the parent alone) cancels the tasks not started
and stops its workers so, rather than waiting for every submitted task to run to its end.
"""

from __future__ import annotations

import contextlib
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


_busy = False  # a worker: whether it is running a task
_stopping = False  # a worker: whether a SIGINT or SIGTERM has stopped it


def _stop_worker(signum, frame) -> None:
    """A worker's SIGINT and SIGTERM handler: the first signal ends the task as on Ctrl-C; an idle worker exits."""
    global _stopping
    if not _busy:
        os._exit(128 + signum)
    if _stopping:  # the task is closing its folders: let it finish
        return
    _stopping = True
    from dlexam.errors import Terminated

    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _start_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # a signal the command was started ignoring (SIGINT in a background job of a script) its workers ignore too, as
    # the command does: before, a Ctrl-C to the group ended the workers of a command that went on without them
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _stop_worker)


def _run_task(fn, *args, **kwargs):
    """A task in a worker; one stopped by a signal takes no further task, it exits once its own is closed."""
    global _busy
    if _stopping:
        os._exit(1)
    _busy = True
    try:
        return fn(*args, **kwargs)
    finally:
        _busy = False
        if _stopping:
            sys.stderr.flush()
            os._exit(1)


class _Pool(ProcessPoolExecutor):
    def submit(self, fn, /, *args, **kwargs):
        return super().submit(_run_task, fn, *args, **kwargs)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:  # nobody will collect the results: stop the workers, as Ctrl-C stops them
            self.stop()
        return super().__exit__(exc_type, exc, tb)

    def stop(self) -> None:
        """Cancel the tasks not started, end the running ones as on Ctrl-C (SIGTERM to each worker: each closes
        its folders) and wait for the workers to exit."""
        for pid in list(self._processes or ()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        self.shutdown(wait=True, cancel_futures=True)


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` fresh processes ("spawn": no forked copy of this process's torch thread
    pools) that die with this process (:func:`die_with_parent`) and end their tasks as Ctrl-C ends a command on
    SIGINT or SIGTERM (see the module docstring); one left by an exception stops its workers so."""
    return _Pool(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                 initializer=_start_worker, initargs=(os.getpid(),))


def collect(future):
    """`future.result()` of a pool's task; where the pool broke because a stop signal ended its workers (Ctrl-C
    reaches the whole process group), the stop this process received (:func:`dlexam.errors.stopped`), not
    BrokenProcessPool: a report stopped so ends as stopped even if its own KeyboardInterrupt was lost."""
    from concurrent.futures.process import BrokenProcessPool

    from dlexam.errors import stopped

    try:
        return future.result()
    except BrokenProcessPool:
        if (stop := stopped()) is not None:
            raise stop from None
        raise
