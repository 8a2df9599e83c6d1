"""Section: every experiment of `dlexam experiment` (issue 6, part 1), run in the report's mode:
the exam's claim, the verdict, what the run showed, its table and its figures.

Each experiment also keeps its files (PNG figures, result.json) in DIR/experiments/NAME/ beside
the page; the page itself embeds the figures and needs none of them.
"""

from __future__ import annotations

import json
from pathlib import Path

from dlexam.report import page
from dlexam.report.build import ReportContext

MAX_NUMBERS_CHARS = 20_000  # the collapsed JSON of an experiment's numbers; result.json has all


def figure_bytes(fig) -> tuple[bytes, str]:
    """(PNG bytes, caption) of one entry of an experiment's "figures": a path, or a dict with one."""
    if isinstance(fig, dict):
        path = Path(fig.get("path") or fig.get("file"))
        caption = fig.get("caption") or fig.get("title") or ""
    else:
        path, caption = Path(fig), ""
    return path.read_bytes(), caption or path.stem.replace("_", " ").replace("-", " ")


def render_experiment(result: dict) -> str:
    source = f" ({result['claim_source']})" if result.get("claim_source") else ""
    parts = [
        '<div class="claim">',
        f"<p><strong>The exam{page.esc(source)}:</strong> “{page.esc(result['claim'])}”</p>",
        f"<p><strong>Verdict:</strong> {page.verdict_badge(result.get('verdict', 'no verdict'))}</p>",
        f"<p><strong>Finding.</strong> {page.esc(result['finding'])}</p>",
        "</div>",
    ]
    if result.get("table"):
        parts.append(page.any_table(result["table"]))
    figs = [page.figure(*figure_bytes(f)) for f in result.get("figures") or []]
    if figs:
        parts.append(page.figure_row(figs))
    details = {k: result[k] for k in ("config", "quick", "seconds", "data") if k in result}
    if result.get("numbers"):
        details["numbers"] = result["numbers"]
    if details:
        text = json.dumps(details, indent=1, default=str)
        if len(text) > MAX_NUMBERS_CHARS:
            text = text[:MAX_NUMBERS_CHARS] + "\n... (cut here; result.json has everything)"
        parts.append(f"<details><summary>Settings and all numbers (JSON)</summary><pre>{page.esc(text)}</pre>"
                     "</details>")
    return "".join(parts)


def build(ctx: ReportContext) -> str:
    from dlexam.experiments import EXPERIMENTS, run_experiment

    registry = list(EXPERIMENTS.keys())
    if not registry:
        raise ValueError("the experiment registry is empty")
    chosen = ctx.settings.experiments
    unknown = sorted(set(chosen or ()) - set(registry))
    if unknown:
        raise ValueError(f"unknown experiment(s) {', '.join(unknown)}; the registry has {', '.join(registry)}")
    names = [n for n in registry if chosen is None or n in chosen]
    quick = ctx.settings.quick or ctx.settings.tiny
    command = "dlexam experiment NAME" + (" --quick" if quick else "")
    subset = "" if len(names) == len(registry) else f" (a selection of the {len(registry)} in the registry)"
    parts = [page.paragraph(
        f"{len(names)} experiments{subset}, each run here as `{command}`, each held against the exam's "
        "words. Their figures and result.json are also in experiments/NAME/ beside this page."
    )]
    for name in names:
        def one(name=name) -> str:
            return render_experiment(run_experiment(name, ctx.out_dir / "experiments" / name, quick))

        parts.append(f'<h3 id="experiment-{page.esc(name)}">{page.esc(name)}</h3>')
        parts.append(ctx.guard(f"experiment {name}", one))
    return "".join(parts)
