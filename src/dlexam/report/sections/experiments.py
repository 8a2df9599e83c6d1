"""Section: every experiment of `dlexam experiment` (issue 6, part 1), run in the report's mode:
the exam's claim, the verdict, what the run showed, its table and its figures.

Each experiment also keeps its files (PNG figures, result.json) in DIR/experiments/NAME/ beside
the page; the page itself embeds the figures and needs none of them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from dlexam.figures import narrow_name
from dlexam.plain import dumps
from dlexam.report import page
from dlexam.report.context import ReportContext

MAX_NUMBERS_CHARS = 20_000  # the collapsed JSON of an experiment's numbers; result.json has all


def experiment_figure(path: str, captions: dict) -> str:
    """One of an experiment's figures as HTML: its alt text and caption from the result's "captions" (what the
    experiment measured), and its drawing for narrow screens where the experiment wrote one beside it."""
    path = Path(path)
    said = captions.get(path.name)
    if not said:
        raise ValueError(f"the experiment gives figure {path.name} no alt text or caption")
    narrow = path.with_name(narrow_name(path.name))
    return page.figure(path.read_bytes(), said["caption"], alt=said["alt"],
                       narrow=narrow.read_bytes() if narrow.is_file() else None)


def render_experiment(result: dict) -> str:
    # "The exam, Part 1, question 2 (worked solution):" (a source in brackets had nested its own: "The exam (Part 1,
    # question 2 (worked solution)):")
    source = f", {result['claim_source']}" if result.get("claim_source") else ""
    parts = [
        '<div class="claim">',
        f"<p><strong>The exam{page.esc(source)}:</strong> “{page.esc(result['claim'])}”</p>",
        f"<p><strong>Verdict:</strong> {page.verdict_badge(result.get('verdict', 'no verdict'))}</p>",
        f"<p><strong>Finding.</strong> {page.prose(result['finding'])}</p>",
        "</div>",
    ]
    if result.get("table"):
        parts.append(page.any_table(result["table"]))
    figs = [experiment_figure(f, result.get("captions") or {}) for f in result.get("figures") or []]
    if figs:
        parts.append(page.figure_row(figs))
    details = {k: result[k] for k in ("config", "quick", "seconds", "data") if k in result}
    if result.get("numbers"):
        details["numbers"] = result["numbers"]
    if details:
        text = dumps(details, indent=1, default=str)
        if len(text) > MAX_NUMBERS_CHARS:
            text = text[:MAX_NUMBERS_CHARS] + "\n... (cut here; result.json has everything)"
        parts.append(f"<details><summary>Settings and all numbers (JSON)</summary><pre>{page.esc(text)}</pre>"
                     "</details>")
    return "".join(parts)


def build(ctx: ReportContext) -> str:
    from dlexam.experiments import EXPERIMENTS, ExperimentRun, run_experiment

    registry = list(EXPERIMENTS.keys())
    if not registry:
        raise ValueError("the experiment registry is empty")
    chosen = ctx.settings.experiments
    unknown = sorted(set(chosen or ()) - set(registry))
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; the registry has {', '.join(registry)}")
    names = [n for n in registry if chosen is None or n in chosen]
    quick = ctx.settings.quick_experiments
    force = ctx.settings.force
    command = "dlexam experiment NAME" + (" --quick" if quick else "")
    subset = "" if len(names) == len(registry) else f" (a selection of the {len(registry)} in the registry)"
    parts = [page.paragraph(
        f"{len(names)} experiments{subset}, each run here as `{command}`, each held against the exam's "
        "words. Their figures and result.json are also in experiments/NAME/ beside this page."
    )]
    out = ctx.out_dir / "experiments"
    done: dict[str, dict] = {}  # name -> result, for the summary table
    # The test size runs in this process: starting a fresh Python per worker costs more than it saves.
    jobs = ctx.settings.jobs or (1 if ctx.settings.tiny else min(len(names), os.cpu_count() or 1))
    if jobs > 1 and len(names) > 1:
        # Each experiment runs single-threaded: side by side in fresh processes that die with this one
        # (dlexam.pools: a killed report leaves no orphans), collected in the registry's order.
        from dlexam.pools import collect, process_pool

        with process_pool(jobs) as pool:
            futures = {n: pool.submit(run_experiment, ExperimentRun(n, out / n, quick, force)) for n in names}
            sections = [experiment_part(ctx, n, functools.partial(collect, futures[n]), done) for n in names]
    else:
        sections = [experiment_part(ctx, n, lambda n=n: run_experiment(ExperimentRun(n, out / n, quick, force)), done)
                    for n in names]
    return "".join(parts) + summary_table(names, done) + "".join(sections)


def experiment_part(ctx: ReportContext, name: str, result: Callable[[], dict], done: dict) -> str:
    """The subsection of one experiment; `result` runs it (or waits for it); `done` collects it."""

    def run_and_render() -> str:
        done[name] = result().to_json()
        return render_experiment(done[name])

    heading = f'<h3 id="experiment-{page.esc(name)}">{page.esc(name)}</h3>'
    return heading + ctx.guard(f"experiment {name}", run_and_render)


def claim_link(name: str, source: str) -> str:
    """Where the exam makes experiment `name`'s claim, linked to its question's row of the answer key
    (answers.registry.EXPERIMENT_OF; a report without the key keeps the text, page.render_page)."""
    from dlexam.answers.registry import EXPERIMENT_OF

    qid = next((q for q, n in EXPERIMENT_OF.items() if n == name), None)
    return page.esc(source) if qid is None or not source else f'<a href="#{page.esc(qid)}">{page.esc(source)}</a>'


def summary_table(names: list[str], done: dict[str, dict]) -> str:
    """One line per experiment: where the exam makes the claim, and the verdict (or the failure)."""
    rows = []
    for name in names:
        link = f'<a href="#experiment-{page.esc(name)}">{page.esc(name)}</a>'
        r = done.get(name)
        if r is None:
            rows.append((link, "", '<span class="verdict verdict-disagrees">failed (see below)</span>'))
        else:
            rows.append((link, claim_link(name, r.get("claim_source", "")),
                         page.verdict_badge(r.get("verdict", "no verdict"))))
    return page.table(rows, ("experiment", "the exam's claim", "verdict"), raw_html_columns=range(3),
                      caption="Verdicts at a glance")
