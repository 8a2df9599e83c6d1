"""Section: Geoff's matrices (Problems 2.2 and 2.3) as heatmaps, for the exam's example.

The training example "D A A <START> A D <STOP>" through the exam's fixed weights with argmax
attention (T = 0): X, Q = K = V, the scores Q K^T, the attention matrix P, Z = P V, R = Z W_O and
the logits R E^T, each cell labelled with its exact fraction. The same example with the usual
T = sqrt(d_k) follows, to show what Problem 2.5's fix changes.
"""

from __future__ import annotations

import math

import numpy as np

from dlexam.report import page, plots
from dlexam.report.build import ReportContext

EXAMPLE = "D A A <START> A D <STOP>"
VOCAB = ["A", "B", "C", "D", "<START>", "<STOP>"]  # Problem 2's vocabulary, in E's row order

# (attribute, title, caption) of each matrix, in the order the exam computes them.
MATRICES = [
    ("X", "X (embeddings)", "X: the rows of E for the tokens; <START> and <STOP> embed to zero."),
    ("Q", "Q = K = V = X W_Q", "Q = X W_Q; since W_Q = W_K = W_V, K and V are the same matrix."),
    ("scores", "scores Q Kᵀ", "Q Kᵀ; grey cells are hidden by the causal mask."),
    ("P", "P (attention)", "P: row i shares its weight equally among the largest unmasked scores (T = 0)."),
    ("Z", "Z = P V", "Z = P V: each position's average of the values it attends to."),
    ("R", "R = Z W_O", "R = Z W_O: the representation passed to the unembedding."),
    ("logits", "logits R Eᵀ", "R Eᵀ: the logits over the vocabulary A B C D <START> <STOP>."),
]


def _np(t) -> np.ndarray:
    a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    return a.reshape(a.shape[-2], a.shape[-1]) if a.ndim > 2 else a  # (T, d): drop batch/head axes of 1


def _labels(tokens) -> list[str]:
    return [f"{i + 1} {t}" for i, t in enumerate(tokens)]


def matrix_figures(result, prefix: str = "") -> list[str]:
    """One heatmap figure per matrix of a run_geoff result."""
    tokens = list(result.tokens)
    rows = _labels(tokens)
    causal_hidden = np.triu(np.ones((len(tokens), len(tokens)), dtype=bool), k=1)
    figs = []
    for attr, title, caption in MATRICES:
        m = _np(getattr(result, attr))
        cols = None
        masked = None
        if attr in ("scores", "P"):
            cols = rows
            masked = causal_hidden
        elif attr == "logits" and m.shape[1] == len(VOCAB):
            cols = VOCAB
        png = plots.heatmap(m, title=prefix + title, row_labels=rows, col_labels=cols, masked=masked)
        figs.append(page.figure(png, caption, alt=f"heatmap of {title}"))
    return figs


def loss_table(result) -> str:
    loss = getattr(result, "loss", None) or {}
    rows = []
    for k, v in loss.items():
        if hasattr(v, "tolist"):
            v = v.tolist()
        if isinstance(v, list):
            v = ", ".join(page.fmt_number(x) for x in v)
        rows.append((k, v))
    return page.table(rows, ("quantity", "value"), caption="Cross-entropy on the output tokens A D <STOP>")


def build(ctx: ReportContext) -> str:
    from dlexam.geoff import run_geoff

    parts = [
        page.paragraph(
            "Geoff's one-layer, one-head transformer with the exam's fixed W_Q = W_K = W_V, W_O and E, "
            f"on the training example “{EXAMPLE}” with causal argmax attention (T = 0, Problem 2.2). "
            "Cells show exact fractions where the value is rational."
        )
    ]
    argmax = run_geoff(EXAMPLE, temperature=0.0, heads=1, gradients=False)
    parts.append(page.figure_row(matrix_figures(argmax)))
    parts.append("<h3>Loss (Problem 2.3)</h3>")
    parts.append(loss_table(argmax))

    def softmax_part() -> str:
        d_k = _np(argmax.Q).shape[-1]
        t = math.sqrt(d_k)
        soft = run_geoff(EXAMPLE, temperature=t, heads=1, gradients=False)
        rows = _labels(soft.tokens)
        hidden = np.triu(np.ones((len(rows), len(rows)), dtype=bool), k=1)
        p_fig = page.figure(
            plots.heatmap(_np(soft.P), title=f"P at T = √{d_k}", row_labels=rows, col_labels=rows,
                          masked=hidden),
            f"The same example with the usual temperature T = √d_k = {t:.4g}: weights spread over every "
            "visible position, and they depend smoothly on W_Q and W_K (Problem 2.5).",
        )
        return "<h3>The same example at T = √d_k</h3>" + page.figure_row([p_fig]) + loss_table(soft)

    parts.append(ctx.guard("Geoff at T = √d_k", softmax_part))
    return "".join(parts)
