"""The command line's view of library progress: tqdm bars and log lines on stderr.

Library calls report :class:`dlexam.progress.Progress` events to a callback; :class:`ProgressPrinter`
is the callback the commands pass. Bars are drawn only where stderr is a terminal; log lines are
always written (unless the command was asked to be quiet, which passes no callback at all).
"""

from __future__ import annotations

import sys


class ProgressPrinter:
    """A callable for `progress=`: one tqdm bar per running task, messages as whole lines."""

    def __init__(self, stream=None, bars: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bars = self.stream.isatty() if bars is None else bars
        self._open: dict = {}

    def __call__(self, event) -> None:
        if event.message is not None:
            self._write(event.message)
            return
        if not self.bars:
            return
        bar = self._open.get(event.task)
        if bar is None and not event.finished:
            from tqdm import tqdm

            bar = self._open[event.task] = tqdm(total=event.total, desc=event.task, unit=event.unit,
                                                file=self.stream, leave=False, dynamic_ncols=True)
        if bar is None:
            return
        bar.n = event.done
        if event.info:
            bar.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in event.info.items()},
                            refresh=False)
        bar.refresh()
        if event.finished:
            bar.close()
            del self._open[event.task]

    def _write(self, line: str) -> None:
        if self._open:
            from tqdm import tqdm

            tqdm.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def printer(quiet: bool = False) -> ProgressPrinter | None:
    """The progress callback for a command: None when it was asked to be quiet."""
    return None if quiet else ProgressPrinter()
