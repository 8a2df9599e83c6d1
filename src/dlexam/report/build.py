"""Build the report: run each section builder on its own, assemble one page, write it atomically.

A section builder is a function ``build(ctx: ReportContext) -> str`` returning the section's HTML
body. Builders import what they show inside the function, so a missing or broken dependency
breaks only its own section: the page shows a red error box naming the failure there, and the
other sections are built as usual. A builder can also fence off a part of itself with
:meth:`ReportContext.guard`; a failed part is an error box inside the section, and the section
counts as failed.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dlexam.cpu import torch_threads
from dlexam.errors import UserError
from dlexam.files import atomic_open
from dlexam.report import page
from dlexam.report.context import ReportContext, ReportSettings, SectionSpec, short_traceback
from dlexam.report.sections import answers, cnn, experiments, geoff, sorting


@dataclass
class ReportResult:
    path: Path
    sections: list[page.RenderedSection]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sections)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "sections": [
                {"id": s.id, "title": s.title, "ok": s.ok, "error": s.error, "seconds": round(s.seconds, 2)}
                for s in self.sections
            ],
        }


def default_sections() -> list[SectionSpec]:
    """The report's sections, in page order."""
    return [
        SectionSpec("answer-key", "Answer key", answers.build),
        SectionSpec("geoff", "Geoff's transformer: the matrices of Problem 2", geoff.build),
        SectionSpec("sorting", "Sorting transformers: attention step by step", sorting.build),
        SectionSpec("cnn", "The SVHN CNN of Problem 1", cnn.build),
        SectionSpec("experiments", "Experiments: the exam's claims, measured", experiments.build),
    ]


def build_section(spec: SectionSpec, settings: ReportSettings, work_dir: Path,
                  out_dir: Path) -> page.RenderedSection:
    """Build one section; never raises (a failure is recorded in the returned section)."""
    ctx = ReportContext(settings, work_dir, out_dir)
    t0 = time.perf_counter()
    try:
        with torch_threads(1):
            body = spec.build(ctx)
        error = "; ".join(ctx.problems) if ctx.problems else None
        detail = ""
    except Exception as exc:  # noqa: BLE001 - a broken dependency must not take the page down
        body, error, detail = "", f"{type(exc).__name__}: {exc}", short_traceback(exc)
    return page.RenderedSection(spec.id, spec.title, body, error, detail, time.perf_counter() - t0)


INTRO = (
    '<p class="lead">The Deep Learning final exam of 2025-01-22 (version A), computed: the answer key '
    "checked question by question, the exact matrices of Geoff's transformer (Problem 2), transformers "
    "that really deduplicate and sort, the SVHN CNN of Problem 1, and experiments that measure the "
    "claims the exam makes in words.</p>"
)


def check_out_dir(out_dir: Path) -> Path:
    """The index.html to write; refuse to replace a file that the report did not write."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"out_dir {out_dir} exists and is not a folder")
    try:  # find out now, not after minutes of building, whether the folder takes files
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UserError(f"cannot write into out_dir {out_dir}: {exc.strerror or exc}") from None
    index = out_dir / "index.html"
    if index.exists():
        head = index.read_bytes()[:2000].decode("utf-8", "replace")
        if f'name="generator" content="{page.GENERATOR}"' not in head:
            raise UserError(f"{index} exists and was not written by dlexam report; not replacing it")
    return index


def write_page(index: Path, html: str) -> None:
    """Write the page atomically (with the permissions a plain open() would give)."""
    with atomic_open(index, "wb") as f:
        f.write(html.encode("utf-8"))


def build_report(
    out_dir: str | os.PathLike,
    settings: ReportSettings | None = None,
    sections: Sequence[SectionSpec] | None = None,
    progress: Callable[[page.RenderedSection], None] | None = None,
) -> ReportResult:
    """Build every section and write `out_dir`/index.html atomically. Returns what was built.

    `progress` is called with each finished section (the CLI prints a line per section).
    """
    settings = settings or ReportSettings()
    out_dir = Path(out_dir)
    index = check_out_dir(out_dir)
    specs = list(sections) if sections is not None else default_sections()
    t0 = time.perf_counter()
    built = []
    with tempfile.TemporaryDirectory(prefix="dlexam-report-") as tmp:
        for spec in specs:
            work = Path(tmp) / spec.id
            work.mkdir()
            section = build_section(spec, settings, work, out_dir)
            built.append(section)
            if progress is not None:
                progress(section)
    seconds = time.perf_counter() - t0
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    timings = ", ".join(f"{s.title.split(':')[0]} {s.seconds:.1f} s" for s in built)
    footer = page.esc(
        f"Built {stamp} by `dlexam report` ({settings.mode} mode) in {seconds:.1f} s: {timings}."
    )
    html = page.render_page("dlexam: the exam, computed", INTRO, built, footer)
    write_page(index, html)
    return ReportResult(index, built, seconds)
