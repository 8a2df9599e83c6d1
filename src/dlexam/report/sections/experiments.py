"""Section: every experiment of `dlexam experiment`, run in the report's mode, with its claim,
finding, table and figures."""

from __future__ import annotations

import json
from pathlib import Path

from dlexam.report import page
from dlexam.report.build import ReportContext


def experiment_names(registry) -> list[str]:
    return list(registry.keys() if hasattr(registry, "keys") else registry)


def figure_bytes(fig) -> tuple[bytes, str]:
    """(PNG bytes, caption) of one entry of an experiment's "figures": a path, or a dict with one."""
    if isinstance(fig, dict):
        path = Path(fig.get("path") or fig.get("file"))
        caption = fig.get("caption") or fig.get("title") or path.stem.replace("_", " ").replace("-", " ")
    else:
        path = Path(fig)
        caption = path.stem.replace("_", " ").replace("-", " ")
    return path.read_bytes(), caption


def render_experiment(result: dict) -> str:
    parts = [
        '<div class="claim">',
        f"<p><strong>Claim.</strong> {page.esc(result['claim'])}</p>",
        f"<p><strong>Finding.</strong> {page.esc(result['finding'])}</p>",
        "</div>",
    ]
    if result.get("table") is not None:
        parts.append(page.any_table(result["table"]))
    figs = [page.figure(*figure_bytes(f)) for f in result.get("figures") or []]
    if figs:
        parts.append(page.figure_row(figs))
    if result.get("numbers"):
        numbers = json.dumps(result["numbers"], indent=1, default=str)
        parts.append(
            f"<details><summary>All numbers (JSON)</summary><pre>{page.esc(numbers)}</pre></details>"
        )
    return "".join(parts)


def build(ctx: ReportContext) -> str:
    from dlexam.experiments import EXPERIMENTS, run_experiment

    names = experiment_names(EXPERIMENTS)
    if not names:
        raise ValueError("the experiment registry is empty")
    quick = ctx.settings.quick or ctx.settings.tiny
    command = "dlexam experiment NAME" + (" --quick" if quick else "")
    parts = [page.paragraph(
        f"{len(names)} experiments, each run here as `{command}`; each states the exam's claim, "
        "what the run showed, its table and its figures."
    )]
    for name in names:
        def one(name=name) -> str:
            result = run_experiment(name, ctx.work_dir / name, quick)
            return render_experiment(result)

        parts.append(f'<h3 id="experiment-{page.esc(name)}">{page.esc(name)}</h3>')
        parts.append(ctx.guard(f"experiment {name}", one))
    return "".join(parts)
