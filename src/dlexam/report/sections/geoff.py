"""Section: Geoff's matrices (Problems 2.2-2.5) as heatmaps, for the exam's example.

The training example "D A A <START> A D <STOP>" through the exam's fixed weights with argmax
attention (T = 0): X, Q = K = V, the scores Q K^T, the attention matrix P, Z = P V, R = Z W_O and
the logits R E^T, each cell labelled with its exact fraction (Problem 2.2); the loss under the
exam's convention and under teacher forcing (Problem 2.3); R with the spec's k heads and multi_W_O
(Version A: two identical heads and W_O = I_4, Problem 2.4); and the gradients that reach W_Q, W_K,
W_V, W_O at T = 0 and at T = sqrt(d_k) (Problem 2.5). All numbers come from
:func:`dlexam.geoff.run_geoff` and Problem 2.4's and 2.5's comparisons in :mod:`dlexam.geoff.compare`,
the same objects the CLI and the answer key show.
"""

from __future__ import annotations

import numpy as np

from dlexam.report import page, plots
from dlexam.report.context import ReportContext

# (attribute, title, caption) of each matrix, in the order the exam computes them.
MATRICES = [
    ("X", "X (embeddings)", "X: the rows of E for the tokens; <START> and <STOP> embed to zero."),
    ("Q", "Q = K = V = X W_Q", "Q = X W_Q; since W_Q = W_K = W_V, K and V are the same matrix."),
    ("scores", "scores Q Kᵀ", "Q Kᵀ; grey cells are hidden by the causal mask."),
    ("P", "P (attention)", "P: each row shares its weight equally among its largest visible scores (T = 0)."),
    ("Z", "Z = P V", "Z = P V: each position's average of the values it attends to."),
    ("R", "R = Z W_O", "R = Z W_O: the representation passed to the unembedding; each column is named after the "
                       "symbol whose embedding is that dimension's unit vector, so it is that symbol's logit."),
    ("logits", "logits R Eᵀ", "R Eᵀ: the logits over the vocabulary A B C D <START> <STOP>."),
]


# What each kind of axis (dlexam.spec.transformer.MATRIX_AXES) is, as a heatmap's axis label; an attention matrix's
# positions are the query's (rows) and the key's (columns): plots.ATTENTION_AXES
AXIS_TITLES = {"positions": "position: token", "dims": "model dimension", "head_dims": "head dimension",
               "concat_dims": "dimension of the heads side by side", "tokens": "token"}


def axis_titles(name: str) -> dict[str, str]:
    """The row and column titles of the matrix `name`'s heatmap (:func:`dlexam.report.plots.heatmap`'s
    `row_title`, `col_title`)."""
    from dlexam.spec.transformer import MATRIX_AXES

    rows, cols = plots.ATTENTION_AXES if name in ("S", "P") else (AXIS_TITLES[a] for a in MATRIX_AXES[name])
    return {"row_title": rows, "col_title": cols}


def as_matrix(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def position_labels(tokens) -> list[str]:
    return [f"{i + 1} {t}" for i, t in enumerate(tokens)]


def causal_hidden(n: int) -> np.ndarray:
    """(n, n) True above the diagonal: what the causal mask hides."""
    return np.triu(np.ones((n, n), dtype=bool), k=1)


def matrix_figure(result, attr: str, title: str, caption: str, weights) -> str:
    from dlexam.geoff.weights import labels

    m = as_matrix(getattr(result, attr))
    # rows and columns named as every view names them (geoff.weights.labels), the positions as "1 D", "2 A", ..
    name = "S" if attr == "scores" else attr
    rows, cols = map(list, labels(weights, name, position_labels(result.tokens)))
    masked = causal_hidden(len(rows)) if attr in ("scores", "P") else None
    png = plots.heatmap(m, title=title, row_labels=rows, col_labels=cols, masked=masked, **axis_titles(name))
    return page.figure(png, f"{caption} {value_range(m, masked)}",
                       alt=heatmap_alt(title, m, result.tokens, cols, tokens_as_columns=attr == "logits"))


def value_range(m: np.ndarray, masked=None) -> str:
    """'Visible values from 0 to 9/7.': the range of the cells a reader sees (the masked ones are grey)."""
    seen = m[~masked] if masked is not None else m.ravel()
    return f"Visible values from {plots.cell_label(float(seen.min()))} to {plots.cell_label(float(seen.max()))}."


def heatmap_alt(title: str, m: np.ndarray, tokens, cols, tokens_as_columns: bool = False) -> str:
    """What a heatmap of Geoff's matrices shows, in words, from the matrix itself."""
    what = ("the positions again" if list(cols) == position_labels(tokens)
            else f"the tokens {' '.join(cols)}" if tokens_as_columns
            else f"{m.shape[1]} dimensions, named {' '.join(cols)}")
    return (f"Heatmap of {title}, {m.shape[0]} × {m.shape[1]}: rows are the positions of "
            f"“{' '.join(tokens)}”, columns {what}, each cell labelled with its value.")


def loss_table(result) -> str:
    from dlexam.geoff import CONVENTION_NAMES

    rows = []
    for convention, term in result.loss.items():
        probs = ", ".join(f"{p:.4f}" for p in term["probabilities"])
        rows.append((CONVENTION_NAMES[convention], " ".join(term["targets"]), ", ".join(map(str, term["rows"])), probs,
                     f"{float(term['value']):.4f}"))
    header = ("convention", "targets", "logit rows", "probabilities of the targets", "loss")
    return page.table(rows, header, caption="Cross-entropy (summed) on the output tokens")


def gradient_table(comparison) -> str:
    rows = [(label, *(norms[name] for name in comparison.results[label].gradients))
            for label, norms in comparison.norms.items()]
    names = list(next(iter(comparison.results.values())).gradients)
    header = ("attention", *(f"‖∂L/∂{name}‖" for name in names))
    return page.table(rows, header, caption="Gradient norms of the teacher-forcing loss at the exam's weights")


def identity_rows(n: int) -> list[list[int]]:
    return [[int(i == j) for j in range(n)] for i in range(n)]


def rows(loss: dict) -> str:
    """The rows a loss convention reads, as the page names them: "rows 5-7"."""
    r = loss["rows"]
    return f"rows {r[0]}-{r[-1]}" if len(r) > 1 else f"row {r[0]}"


def subscript(n: int) -> str:
    return "".join("₀₁₂₃₄₅₆₇₈₉"[int(d)] for d in str(n))


def build(ctx: ReportContext) -> str:
    from dlexam import geoff

    example = geoff.EXAM_EXAMPLE
    argmax = geoff.run_geoff(example, temperature=0.0, heads=1)
    figs = [matrix_figure(argmax, attr, title, caption, geoff.EXAM_WEIGHTS) for attr, title, caption in MATRICES]
    parts = [
        page.paragraph(
            "Geoff's one-layer, one-head transformer with the exam's fixed W_Q = W_K = W_V, W_O and E, on the "
            f"training example “{example}” with causal argmax attention (T = 0). Cells show exact fractions "
            "where the value is rational; they match the exam's worked solution of Problems 2.2 and 2.3 wherever "
            "its printed matrices can be read (its printed Q Kᵀ, Z and R are garbled, rows missing: the answer "
            "key's PR22 and PR23 say which)."
        ).replace("PR22", '<a href="#Pr2.2">Pr2.2</a>').replace("PR23", '<a href="#Pr2.3">Pr2.3</a>'),
        page.figure_row(figs),
        '<h3 id="geoff-loss">Loss (Problem 2.3)</h3>',
        page.paragraph(
            "The exam scores each output token with the logit row at that token's own position "
            f"({rows(argmax.loss['exam'])}), which gives its {float(argmax.loss['exam']['value']):.4f}; standard "
            f"teacher forcing scores token t+1 with row t ({rows(argmax.loss['teacher_forcing'])}). Both:"
        ),
        loss_table(argmax),
    ]

    def two_heads() -> str:
        weights = geoff.EXAM_WEIGHTS
        heads = geoff.compare_heads(example, temperature=0.0, weights=weights)
        from dlexam.geoff.weights import labels

        r2, k, columns = heads.two, weights.heads, labels(weights, "R")[1]  # as the heatmaps name them
        identity = weights.multi_W_O == geoff.floats(identity_rows(len(weights.multi_W_O)))
        multi = f"W_O = I{subscript(len(weights.multi_W_O))}" if identity else "multi_W_O"
        same = weights.multi_heads is None
        fig1 = matrix_figure(argmax, "R", "R, one head, exam's W_O", "One head with the exam's W_O.", weights)
        if heads.same_R:
            finding = "R is identical, as the exam says."
        elif heads.permutation is not None:
            pairs = sorted({tuple(sorted((j, i))) for j, i in enumerate(heads.permutation) if i != j})
            swapped = ", ".join(f"{columns[a]}↔{columns[b]}" for a, b in pairs)
            concat, width = f"[{' '.join(['Z'] * k)}]", len(weights.multi_W_O)
            product = (f"{concat} I{subscript(width)} = Z [{' '.join(['I' + subscript(width // k)] * k)}]" if identity
                       else f"{concat} multi_W_O = Z times the sum of its {k} row blocks")
            finding = (f"R is not identical: its columns come out swapped ({swapped}), because {product}, which is not "
                       "Z W_O for the exam's W_O.")
        else:
            finding = "R is not identical to the one-head R."
        kind = "identical heads" if same else "heads"
        fig2 = matrix_figure(r2, "R", f"R, {k} {kind}, {multi}",
                             f"{k} {kind} concatenated, times {multi}.", weights)
        return (
            f'<h3 id="geoff-heads">{k} {kind} (Problem 2.4)</h3>'
            + page.paragraph(f"The exam says the result would be identical. Computed: {finding}")
            + page.figure_row([fig1, fig2])
            + loss_table(r2).replace("Cross-entropy (summed)", f"{k} heads: cross-entropy (summed)", 1)
        )

    def gradients() -> str:
        comparison = geoff.compare_gradients(example)
        _, sqrt_label = (label for label, _ in geoff.GRADIENT_TEMPERATURES)
        soft = comparison.results[sqrt_label]
        d_k = int(as_matrix(soft.Q).shape[-1])
        rows = position_labels(soft.tokens)
        p_soft, title = as_matrix(soft.P), f"P at T = √{d_k}"
        p_fig = page.figure(
            plots.heatmap(p_soft, title=title, row_labels=rows, col_labels=rows, masked=causal_hidden(len(rows)),
                          **axis_titles("P")),
            f"The same example at the usual T = √d_k = {soft.temperature:.4g}: the weights spread over every "
            f"visible position and depend smoothly on W_Q and W_K. {value_range(p_soft, causal_hidden(len(rows)))}",
            alt=heatmap_alt(title, p_soft, soft.tokens, rows),
        )
        return (
            '<h3 id="geoff-gradients">Which weights can learn (Problem 2.5)</h3>'
            + page.paragraph(geoff.GRADIENT_EXPLANATION)
            + gradient_table(comparison)
            + page.figure_row([p_fig])
        )

    parts.append(ctx.guard("Problem 2.4 (two heads)", two_heads))
    parts.append(ctx.guard("Problem 2.5 (gradients)", gradients))
    return "".join(parts)
