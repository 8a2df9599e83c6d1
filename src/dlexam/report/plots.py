"""Matplotlib figures for the report, each returned as a :class:`~dlexam.figures.Drawing`: PNG bytes as drawn
for a desktop window and restacked for a narrow screen (Agg backend, nothing on screen).

`heatmap` annotates each cell with its exact fraction where the value is one (3/4, 9/7, 1/7: the
project's one formatter, :func:`dlexam.exact.format_exact`), and with a rounded decimal otherwise.
Figures render through :mod:`dlexam.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.ticker
import numpy as np

from dlexam.exact import format_exact
from dlexam.figures import Drawing, new_figure, render, restack, to_png


def cell_label(x: float, decimals: int = 3) -> str:
    """'3/4', '9/7', '0', '-2', or a rounded decimal '0.455' for irrational-looking values."""
    return format_exact(x, decimals)


def heatmap(matrix, **options) -> Drawing:
    """A heatmap of a 2-D matrix with one label per cell, drawn for a desktop and for a narrow screen (the
    options: :func:`heatmap_figures`)."""
    desktop, narrow = heatmap_figures(matrix, **options)
    return Drawing(to_png(desktop), to_png(narrow))


def heatmap_figures(
    matrix,
    *,
    title: str,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    masked=None,
    cmap: str = "Blues",
    cell_inches: float = 0.52,
    annotate: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
):
    """(desktop, narrow): the figures :func:`heatmap` renders, not yet rendered.

    `masked` (same shape, boolean, True = hidden by the causal mask) draws those cells grey.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {m.shape}")

    def draw():
        rows, cols = m.shape
        label_w = 0.9 if row_labels is not None else 0.3
        fig, axes = new_figure(width=label_w + cols * cell_inches + 0.3, height=0.75 + rows * cell_inches * 0.82)
        ax = axes[0][0]
        shown = np.ma.masked_array(m, mask=np.asarray(masked, dtype=bool) if masked is not None else None)
        cm = matplotlib.colormaps[cmap].with_extremes(bad="#e4e6e9")
        lo = float(np.nanmin(m)) if vmin is None else vmin
        hi = float(np.nanmax(m)) if vmax is None else vmax
        if hi <= lo:
            hi = lo + 1.0
        ax.imshow(shown, cmap=cm, vmin=lo, vmax=hi, aspect="auto")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        xlabels = list(col_labels) if col_labels is not None else [str(j + 1) for j in range(cols)]
        ylabels = list(row_labels) if row_labels is not None else [str(i + 1) for i in range(rows)]
        slanted = max(map(len, xlabels), default=0) > 3
        ax.set_xticklabels(xlabels, fontsize=8, rotation=45 if slanted else 0,
                           ha="right" if slanted else "center")
        ax.set_yticklabels(ylabels, fontsize=8)
        ax.tick_params(length=0)
        cells = []
        if annotate:
            fontsize = 8 if cols <= 7 else 6.5
            for i in range(rows):
                for j in range(cols):
                    v = m[i, j]
                    hidden = masked is not None and bool(np.asarray(masked)[i, j])
                    frac = (v - lo) / (hi - lo)
                    color = "#8a9099" if hidden else ("white" if frac > 0.6 else "#1d232a")
                    cells.append(ax.text(j, i, cell_label(v), ha="center", va="center", fontsize=fontsize,
                                         color=color))
        for spine in ax.spines.values():
            spine.set_visible(False)
        return fig, ax, cells

    desktop, _, _ = draw()
    narrow, ax, cells = draw()
    restack(narrow)
    rows, cols = m.shape
    # On the narrow drawing, rows at least 0.28 in tall (a wide matrix, kept at its aspect, squeezes them
    # flat) and each cell's label no wider than its cell (a cell may be ~0.25 in wide there).
    width, height = narrow.get_size_inches()
    narrow.set_size_inches(width, max(height, 1.3 + rows * 0.28))  # 1.3 in: title and slanted column labels
    narrow.canvas.draw()
    cell_pt = ax.bbox.width / cols / narrow.dpi * 72
    for text in cells:
        text.set_fontsize(min(text.get_fontsize(), cell_pt / (0.62 * max(len(text.get_text()), 1))))
    return desktop, narrow


def curves(
    series: dict[str, Sequence[float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x: dict[str, Sequence[float]] | None = None,
    logy: bool = False,
    integer_x: bool = False,
    size: tuple[float, float] = (5.2, 3.2),
) -> Drawing:
    """Line plot of named series (e.g. train/validation loss per epoch)."""
    fig, axes = new_figure(width=size[0], height=size[1])
    ax = axes[0][0]
    for name, ys in series.items():
        xs = (x or {}).get(name, range(1, len(ys) + 1))
        ax.plot(list(xs), list(ys), marker="o" if len(ys) <= 20 else None, markersize=3, label=name)
    if logy:
        ax.set_yscale("log")
    if integer_x:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize=8)
    return render(fig)


def image_grid(images, *, title: str, labels: Sequence[str] | None = None, ncols: int = 8,
               cmap: str = "RdBu_r", symmetric: bool = True, size_inches: float = 0.9) -> Drawing:
    """Small images (N, H, W) side by side, e.g. conv filters; one shared, symmetric colour scale."""
    imgs = np.asarray(images, dtype=np.float64)
    n = imgs.shape[0]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = new_figure(ncols, nrows, width=size_inches, height=size_inches + 0.45 / nrows)
    bound = float(np.abs(imgs).max()) or 1.0
    vmin, vmax = (-bound, bound) if symmetric else (float(imgs.min()), float(imgs.max()))
    for idx, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if idx >= n:
            ax.axis("off")
            continue
        ax.imshow(imgs[idx], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[idx], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return render(fig)


def confusion(matrix, *, title: str, class_labels: Sequence[str]) -> Drawing:
    """A confusion matrix (rows = true class, columns = predicted) with counts in the cells."""
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    fig, axes = new_figure(width=0.42 * n + 1.4, height=0.42 * n + 1.0)
    ax = axes[0][0]
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_labels, fontsize=8)
    ax.set_yticklabels(class_labels, fontsize=8)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    ax.set_title(title, fontsize=10)
    hi = m.max() or 1.0
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > 0.6 * hi else "#1d232a")
    return render(fig)
