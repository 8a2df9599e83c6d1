"""What a report section builder gets: the settings, a scratch folder, and a way to fence off parts.

A section builder is a function ``build(ctx: ReportContext) -> str`` returning the section's HTML
body (one module each in :mod:`dlexam.report.sections`); :mod:`dlexam.report.build` runs them.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dlexam.report import page


@dataclass(frozen=True)
class ReportSettings:
    """How much work the report does. Section builders read the sizes they need from here."""

    quick: bool = False  # the CLI's --quick: every section, smaller runs (minutes, not hours)
    tiny: bool = False  # the test suite's size: every section, the smallest runs that still show it
    seed: int = 0
    # Which experiments to run, by name; None = every experiment in the registry. The report of the
    # CLI runs them all; the browser test picks a cheap few (each has its own --quick test).
    experiments: tuple[str, ...] | None = None
    # Processes running experiments side by side; None = one per CPU core (at most one per
    # experiment), 1 = in this process, one after the other.
    jobs: int | None = None
    force: bool = False  # replace index.html and experiment files even where dlexam did not write them

    @property
    def mode(self) -> str:
        return "tiny" if self.tiny else "quick" if self.quick else "full"

    @property
    def quick_experiments(self) -> bool:
        """Whether the experiments run as `dlexam experiment NAME --quick` (under --quick and at the test size)."""
        return self.quick or self.tiny

    def pick(self, full, quick, tiny):
        """The value of a size for this mode."""
        return tiny if self.tiny else quick if self.quick else full


@dataclass
class ReportContext:
    """What a section builder gets: the settings, a scratch folder, and a way to fence off parts."""

    settings: ReportSettings
    work_dir: Path  # scratch space of this section, deleted after the build
    out_dir: Path  # the report's folder: files a section keeps beside index.html (experiment results)
    problems: list[str] = field(default_factory=list)

    def guard(self, what: str, fn: Callable[[], str]) -> str:
        """Run one part of a section; on failure return an error box and record the problem."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - any failure becomes a visible error box
            self.problems.append(f"{what}: {type(exc).__name__}: {exc}")
            return page.error_box(what, exc, short_traceback(exc))


@dataclass(frozen=True)
class SectionSpec:
    id: str  # the anchor in the page (#geoff)
    title: str
    build: Callable[[ReportContext], str]


def short_traceback(exc: BaseException, frames: int = 4) -> str:
    """The last few frames of a traceback: enough to find the failure, short enough to read."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(lines[-(frames + 1):]).rstrip()
    return tail
