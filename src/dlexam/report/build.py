"""Build the report: run each section builder on its own, assemble one page, write it atomically.

A section builder is a function ``build(ctx: ReportContext) -> str`` returning the section's HTML
body. Builders import what they show inside the function, so a missing or broken dependency
breaks only its own section: the page shows a red error box naming the failure there, and the
other sections are built as usual. A builder can also fence off a part of itself with
:meth:`ReportContext.guard`; a failed part is an error box inside the section, and the section
counts as failed.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dlexam.cpu import torch_threads
from dlexam.errors import UserError
from dlexam.files import OutputDir, check_dir_path
from dlexam.report import page
from dlexam.report.context import ReportContext, ReportSettings, SectionSpec, short_traceback
from dlexam.report.sections import answers, cnn, experiments, geoff, sorting
from dlexam.runs import RunFolder
from dlexam.shared import SharedDataMissing


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


INDEX = "index.html"
INTRO = (
    '<p class="lead">The Deep Learning final exam of 2025-01-22 (version A), computed: the answer key '
    "checked question by question, the exact matrices of Geoff's transformer (Problem 2), transformers "
    "that really deduplicate and sort, the SVHN CNN of Problem 1, and experiments that measure the "
    "claims the exam makes in words.</p>"
)


def open_out_dir(out_dir: Path, settings: ReportSettings, specs: Sequence[SectionSpec], *,
                 forceable: bool = True) -> RunFolder:
    """The report's folder, a run folder (:class:`dlexam.runs.RunFolder`) checked and locked before any
    work: index.html and the experiments' files there may be replaced only where dlexam wrote them (or
    with force), and never where a link stands. `forceable`: whether the caller offers force (`report
    --force`; `demo` has none), which its refusals then name."""
    index = Path(out_dir) / INDEX
    # a page an earlier dlexam wrote, before files were recorded, counts as dlexam's
    ours = index.is_file() and not index.is_symlink() and \
        f'name="generator" content="{page.GENERATOR}"' in index.read_bytes()[:2000].decode("utf-8", "replace")
    if ours:
        OutputDir(out_dir).record(INDEX)  # recorded, so the page may be replaced as dlexam's
    out = RunFolder(out_dir, writes=(INDEX,), force=settings.force, what="--out", forceable=forceable)
    try:
        if any(spec.id == "experiments" for spec in specs):
            from dlexam.experiments import MODULES, files_written

            for name in settings.experiments or MODULES:
                if name in MODULES:
                    for folder in (out.path / "experiments", out.path / "experiments" / name):
                        if folder.is_symlink():  # a planted link would carry the experiment's files out of --out
                            raise UserError(f"{folder} is a symbolic link; dlexam never writes an experiment's files "
                                            "through one (remove it)")
                    writes = files_written(importlib.import_module(MODULES[name]).FIGURES)
                    # adopted: an interrupted report leaves none of these folders behind, empty
                    sub = out.adopt(OutputDir(out.path / "experiments" / name, force=settings.force,
                                              run_files=writes, forceable=forceable))
                    sub.claim(*writes)
    except BaseException:
        out.close()
        raise
    return out


def missing_inputs(settings: ReportSettings, specs: Sequence[SectionSpec]) -> dict[str, str]:
    """What the chosen sections need from the shared folder (dlexam.shared) and cannot read, before any
    work: {section id or "experiment NAME": one phrase saying what is missing and where it was looked for}."""
    from dlexam import shared
    from dlexam.answers import exam_source
    from dlexam.experiments.registry import MODULES, SHARED_INPUTS

    missing = {}
    for spec in specs:
        if spec.id == "answer-key":
            try:
                exam_source.require_exam_text()  # there, a text, and this exam (its headings)
            except shared.SharedDataMissing as exc:
                missing[spec.id] = f"the answer key needs the exam text: {exc}"
        elif spec.id == "experiments":
            for name in settings.experiments or MODULES:
                try:
                    if name in SHARED_INPUTS:
                        shared.shared_path(*SHARED_INPUTS[name])
                except shared.SharedDataMissing as exc:
                    missing[f"experiment {name}"] = f"the experiment {name} needs {exc}"
    return missing


def without_missing(settings: ReportSettings, specs: Sequence[SectionSpec]
                    ) -> tuple[ReportSettings, list[SectionSpec], dict[str, str]]:
    """The settings and sections that need nothing missing from the shared folder, and what was left
    out ({part: why}); a clone without ../shared builds the rest."""
    from dataclasses import replace

    from dlexam.experiments.registry import MODULES

    missing = missing_inputs(settings, specs)
    kept = [s for s in specs if s.id not in missing]
    left = [n for n in (settings.experiments or MODULES) if f"experiment {n}" not in missing]
    if any(s.id == "experiments" for s in kept) and len(left) < len(settings.experiments or MODULES):
        if left:
            settings = replace(settings, experiments=tuple(left))
        else:
            kept = [s for s in kept if s.id != "experiments"]
    return settings, kept, missing


def build_report(
    out_dir: str | os.PathLike,
    settings: ReportSettings | None = None,
    sections: Sequence[SectionSpec] | None = None,
    progress: Callable[[page.RenderedSection], None] | None = None,
    *,
    forceable: bool = True,
) -> ReportResult:
    """Build every section and write `out_dir`/index.html atomically. Returns what was built.

    The shared inputs the sections need are checked first (:func:`missing_inputs`): where one is
    missing nothing is built (SharedDataMissing, one line); :func:`without_missing` picks the rest.

    `progress` is called with each finished section (the CLI prints a line per section). `forceable`: whether
    the caller offers force (:func:`open_out_dir`).
    """
    settings = settings or ReportSettings()
    specs = list(sections) if sections is not None else default_sections()
    check_dir_path(out_dir, "--out")  # the user's own mistake first, then what is missing; nothing created
    missing = missing_inputs(settings, specs)  # before any work: a page with holes is not a report
    if missing:
        raise SharedDataMissing("report: " + "; ".join(missing.values()) +
                                " (dlexam report --skip-missing builds the rest)")
    with open_out_dir(Path(out_dir), settings, specs, forceable=forceable) as out:
        t0 = time.perf_counter()
        built = []
        with tempfile.TemporaryDirectory(prefix="dlexam-report-") as tmp:
            for spec in specs:
                work = Path(tmp) / spec.id
                work.mkdir()
                section = build_section(spec, settings, work, out.path)
                built.append(section)
                if progress is not None:
                    progress(section)
        seconds = time.perf_counter() - t0
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        timings = ", ".join(f"{s.title.split(':')[0]} {s.seconds:.1f} s" for s in built)
        footer = page.prose(
            f"Built {stamp} by `dlexam report` ({settings.mode} mode) in {seconds:.1f} s: {timings}."
        )
        html = page.render_page("dlexam: the exam, computed", INTRO, built, footer)
        index = out.write_text(INDEX, html)
    return ReportResult(index, built, seconds)
