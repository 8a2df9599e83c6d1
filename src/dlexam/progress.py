"""Progress reports from long library calls to whoever shows them.

The library prints nothing. A long call (training, a download, the report) takes an optional
``progress`` callback and calls it with :class:`Progress` events; the command line turns them into
tqdm bars and log lines on stderr (:mod:`dlexam.commands.progress`), a test can collect them, and
``None`` discards them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Progress:
    """One event: `done` of `total` units of `task` finished, or a `message` line to log."""

    task: str  # what is running: "epoch 3", "sort train A-Z", "train_32x32.mat"
    done: int = 0  # units finished so far
    total: int | None = None  # units in all, when known
    unit: str = "step"
    info: dict = field(default_factory=dict)  # running figures to show beside the bar (loss, accuracy)
    message: str | None = None  # a whole line for the log (an epoch's summary, a warning)
    finished: bool = False  # the task is over: close its bar


ProgressFn = Callable[[Progress], None]


def report(progress: ProgressFn | None, event: Progress) -> None:
    """Call `progress` with `event` unless it is None."""
    if progress is not None:
        progress(event)


def log(progress: ProgressFn | None, task: str, message: str) -> None:
    """Send one log line."""
    report(progress, Progress(task, message=message))
