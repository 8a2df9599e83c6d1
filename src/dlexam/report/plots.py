"""Matplotlib figures for the report, each returned as a :class:`~dlexam.figures.Drawing`: PNG bytes as drawn
for a desktop window and restacked for a narrow screen (Agg backend, nothing on screen).

`heatmap` annotates each cell with its exact fraction where the value is one (3/4, 9/7, 1/7: the
project's one formatter, :func:`dlexam.exact.format_exact`), and with a rounded decimal otherwise.
Figures render through :mod:`dlexam.figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.ticker
import numpy as np

from dlexam.exact import format_exact
from dlexam.figures import (
    NARROW_WIDTH_IN,
    Drawing,
    laid_out,
    legend_below,
    narrow_png,
    new_figure,
    pyplot,
    render,
    series_style,
    to_png,
)

# an attention heatmap's row and column titles (the query's positions, the key's), for Problem 2's S and P and the
# sorters' attention alike
ATTENTION_AXES = ("query position: token", "key position: token")


def cell_label(x: float, decimals: int = 3) -> str:
    """'3/4', '9/7', '0', '-2', or a rounded decimal '0.455' for irrational-looking values."""
    return format_exact(x, decimals)


LABEL_PT = 8.0  # tick labels, and cell labels where they fit
NARROW_LABEL_FLOOR_PT = 7.0  # no cell label of either drawing is smaller (10.7 px at DPI)
NARROW_ROW_INCHES = (0.3, 0.43)  # a narrow panel's row height: room for a 7-8 pt label and its margins, up to
#                                 the desktop drawing's (0.52 in cells, 0.82 as tall as wide)


@dataclass(frozen=True)
class _Cells:
    """What every panel of one heatmap shares: the values, which are masked, the colour scale, the axes' labels."""

    m: np.ndarray  # (rows, cols)
    hidden: np.ndarray  # (rows, cols) bool: grey, hidden by the causal mask
    cmap: object
    lo: float
    hi: float
    xlabels: list[str]
    ylabels: list[str]

    def paint(self, ax, columns: range, fontsize: float | None) -> list:
        """Draw `columns` of the matrix on `ax`, each cell labelled at `fontsize` (None: no labels); the labels."""
        part = np.ma.masked_array(self.m[:, columns], mask=self.hidden[:, columns])  # (rows, len(columns))
        ax.imshow(part, cmap=self.cmap, vmin=self.lo, vmax=self.hi, aspect="auto")
        ax.set_xticks(range(len(columns)))
        ax.set_yticks(range(len(self.ylabels)))
        slanted = max(map(len, self.xlabels), default=0) > 3
        ax.set_xticklabels([self.xlabels[j] for j in columns], fontsize=LABEL_PT, rotation=45 if slanted else 0,
                           ha="right" if slanted else "center")
        ax.set_yticklabels(self.ylabels, fontsize=LABEL_PT)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if fontsize is None:
            return []
        cells = []
        for i in range(len(self.ylabels)):
            for k, j in enumerate(columns):
                v = self.m[i, j]
                frac = (v - self.lo) / (self.hi - self.lo)
                color = "#8a9099" if self.hidden[i, j] else ("white" if frac > 0.6 else "#1d232a")
                cells.append(ax.text(k, i, cell_label(v), ha="center", va="center", fontsize=fontsize, color=color))
        return cells


def heatmap(matrix, **options) -> Drawing:
    """A heatmap of a 2-D matrix with one label per cell, drawn for a desktop and for a narrow screen (the
    options: :func:`heatmap_figures`)."""
    desktop, narrow = heatmap_figures(matrix, **options)
    return Drawing(to_png(desktop), narrow_png(narrow))


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
    row_title: str | None = None,
    col_title: str | None = None,
):
    """(desktop, narrow): the figures :func:`heatmap` renders, not yet rendered.

    `row_title` and `col_title` name what the rows and the columns are (the y- and x-axis labels: "position: token",
    "model dimension"), in both drawings; the tick labels alone ("1 D", "A") had left a reader to guess.

    `masked` (same shape, boolean, True = hidden by the causal mask) draws those cells grey. The desktop drawing's
    cells are `cell_inches` wide, each label as large as its cell allows up to LABEL_PT (:func:`fit_labels`:
    8 pt in every heatmap of the report; it had been 6.5 pt above 7 columns). The narrow drawing
    (:func:`narrow_heatmap`) keeps every cell's label at NARROW_LABEL_FLOOR_PT or more, splitting the columns
    into panels stacked one above the other where they would not fit side by side.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {m.shape}")
    rows, cols = m.shape
    lo = float(np.nanmin(m)) if vmin is None else vmin
    hi = float(np.nanmax(m)) if vmax is None else vmax
    if hi <= lo:
        hi = lo + 1.0
    grid = _Cells(m, np.zeros(m.shape, dtype=bool) if masked is None else np.asarray(masked, dtype=bool),
                  matplotlib.colormaps[cmap].with_extremes(bad="#e4e6e9"), lo, hi,
                  list(col_labels) if col_labels is not None else [str(j + 1) for j in range(cols)],
                  list(row_labels) if row_labels is not None else [str(i + 1) for i in range(rows)])
    label_w = (0.9 if row_labels is not None else 0.3) + (0.25 if row_title else 0.0)
    desktop, axes = new_figure(width=label_w + cols * cell_inches + 0.3,
                               height=0.75 + rows * cell_inches * 0.82 + (0.25 if col_title else 0.0))
    cells = grid.paint(axes[0][0], range(cols), LABEL_PT if annotate else None)
    axes[0][0].set_title(title, fontsize=10)
    _axis_titles(axes[0][0], row_title, col_title)
    if cells:  # each label as large as its cell allows, up to LABEL_PT, never under the floor (as on a phone)
        fit_labels(laid_out(desktop), [(axes[0][0], range(cols), cells)])
    return desktop, narrow_heatmap(grid, title, annotate, row_title=row_title, col_title=col_title)


def _axis_titles(ax, row_title: str | None, col_title: str | None) -> None:
    """What a heatmap's rows and columns are, as its y- and x-axis labels."""
    if row_title:
        ax.set_ylabel(row_title, fontsize=9)
    if col_title:
        ax.set_xlabel(col_title, fontsize=9)


def narrow_heatmap(grid: _Cells, title: str, annotate: bool, *, row_title: str | None = None,
                   col_title: str | None = None):
    """The heatmap NARROW_WIDTH_IN wide, its columns in as few panels stacked one above the other as let every
    cell's label fit its cell at NARROW_LABEL_FLOOR_PT or more (one panel where they fit side by side); each label
    then as large as fits, up to LABEL_PT. Every cell keeps its number: a reader of a phone sees what the desktop
    drawing shows, a panel at a time (the same colour scale in every panel). The rows are named once, beside the
    panels, the columns under the last (`row_title`, `col_title`)."""
    cols = grid.m.shape[1]
    per_panel = cols
    while True:
        fig, panels = _panels(grid, title, per_panel, annotate, row_title, col_title)
        if not annotate:
            return fig
        renderer = laid_out(fig)
        # each label's width at the floor (a text's width grows in proportion to its size) over its cell's width
        need = max(t.get_window_extent(renderer).width / t.get_fontsize() * NARROW_LABEL_FLOOR_PT
                   / (0.9 * ax.bbox.width / len(columns)) for ax, columns, cells in panels for t in cells)
        if need <= 1 or per_panel == 1:  # one column a panel: labels at the floor even where wider than it
            break
        pyplot().close(fig)
        per_panel = max(1, min(per_panel - 1, int(per_panel / need)))
        per_panel = -(-cols // -(-cols // per_panel))  # the same number of panels, as even as they go
    fit_labels(renderer, panels)
    return fig


def fit_labels(renderer, panels) -> None:
    """Each cell label of `panels` ([(axes, columns, labels)], drawn) as large as 90% of its cell's width allows,
    up to LABEL_PT, and never under NARROW_LABEL_FLOOR_PT."""
    for ax, columns, cells in panels:
        cell_px = 0.9 * ax.bbox.width / len(columns)
        for t in cells:
            width = t.get_window_extent(renderer).width
            t.set_fontsize(max(NARROW_LABEL_FLOOR_PT, min(LABEL_PT, t.get_fontsize() * cell_px / width)))


def _panels(grid: _Cells, title: str, per_panel: int, annotate: bool, row_title: str | None = None,
            col_title: str | None = None):
    """A narrow figure of the heatmap's columns, `per_panel` to a panel, and [(axes, columns, cell labels)]."""
    rows, cols = grid.m.shape
    chunks = [range(start, min(start + per_panel, cols)) for start in range(0, cols, per_panel)]
    slanted = max(map(len, grid.xlabels), default=0) > 3
    cell_w = (NARROW_WIDTH_IN - 1.2) / per_panel  # about: 1.2 in go to the row labels and the margins
    row_h = min(max(NARROW_ROW_INCHES[0], 0.82 * cell_w), NARROW_ROW_INCHES[1])  # the desktop's aspect where it fits
    panel_h = rows * row_h + (0.8 if slanted else 0.35)  # the cells, then the column labels
    fig, axes = pyplot().subplots(len(chunks), 1, squeeze=False, layout="constrained",
                                  figsize=(NARROW_WIDTH_IN, 0.35 + len(chunks) * panel_h + (0.25 if col_title else 0)))
    fig.suptitle(title, fontsize=10, wrap=True)
    panels = [(ax, columns, grid.paint(ax, columns, NARROW_LABEL_FLOOR_PT if annotate else None))
              for ax, columns in zip(axes[:, 0], chunks, strict=True)]
    for k, ax in enumerate(axes[:, 0]):  # the columns named under the last panel
        _axis_titles(ax, row_title if len(chunks) == 1 else None, col_title if k == len(chunks) - 1 else None)
    if row_title and len(chunks) > 1:  # the rows named once, beside every panel: on each, it ran into the next
        fig.supylabel(row_title, fontsize=9)
    return fig, panels


def curves(series: dict[str, Sequence[float]], **options) -> Drawing:
    """Line plot of named series (e.g. train/validation loss per epoch), drawn for a desktop and a narrow screen (the
    options: :func:`curves_figure`)."""
    return render(curves_figure(series, **options))


def curves_figure(
    series: dict[str, Sequence[float]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x: dict[str, Sequence[float]] | None = None,
    logy: bool = False,
    integer_x: bool = False,
    ylim: tuple[float, float] | None = None,
    size: tuple[float, float] = (5.2, 3.2),
):
    """The figure of :func:`curves`, not yet rendered. Each series has its own colour and marker
    (:func:`dlexam.figures.series_style`: two that cross stay apart without colour; they had shared one marker), and
    the legend is under the panel, where it covers no curve (inside it, a rising accuracy curve ran under it)."""
    fig, axes = new_figure(width=size[0], height=size[1])
    ax = axes[0][0]
    for i, (name, ys) in enumerate(series.items()):
        xs = (x or {}).get(name, range(1, len(ys) + 1))
        style = series_style(i)
        ax.plot(list(xs), list(ys), color=style["color"], marker=style["marker"] if len(ys) <= 20 else None,
                markersize=4, label=name)
    if logy:
        ax.set_yscale("log")
    if integer_x:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        legend_below(ax, fontsize=8, ncols=len(series))
    return fig


def image_grid(images, *, title: str, labels: Sequence[str] | None = None, ncols: int = 8,
               cmap: str = "RdBu_r", symmetric: bool = True, size_inches: float = 0.9,
               scale_label: str | None = None) -> Drawing:
    """Small images (N, H, W) side by side, e.g. conv filters, on one shared colour scale: symmetric around 0
    (`symmetric`, for a diverging `cmap`: 0 is its middle colour) or from the smallest value to the largest.
    `scale_label` draws that scale as a colour bar under the images, labelled with it (what a colour means).
    The narrow drawing has as many images to a row as fit at their drawn size, the colour bar under them all."""
    imgs = np.asarray(images, dtype=np.float64)
    bound = float(np.abs(imgs).max()) or 1.0
    scale = (-bound, bound) if symmetric else (float(imgs.min()), float(imgs.max()))
    n = imgs.shape[0]
    options = dict(title=title, labels=labels, cmap=cmap, scale=scale, size_inches=size_inches,
                   scale_label=scale_label)
    desktop = _grid_figure(imgs, min(ncols, n), **options)
    narrow = _grid_figure(imgs, min(n, max(1, int(NARROW_WIDTH_IN // size_inches))), **options)
    return Drawing(to_png(desktop), narrow_png(narrow))


def _grid_figure(imgs: np.ndarray, ncols: int, *, title: str, labels, cmap: str, scale: tuple[float, float],
                 size_inches: float, scale_label: str | None):
    """The figure of :func:`image_grid`, `ncols` images to a row."""
    n = imgs.shape[0]
    nrows = -(-n // ncols)
    bar_in = 0.75 if scale_label else 0.0  # the colour bar, its ticks and its label, under the images
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(size_inches * ncols, size_inches * nrows + 0.45 + bar_in),
                                  squeeze=False, layout="constrained")
    shown = None
    for idx, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if idx >= n:
            ax.axis("off")
            continue
        shown = ax.imshow(imgs[idx], cmap=cmap, vmin=scale[0], vmax=scale[1], interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[idx], fontsize=8)
    if scale_label and shown is not None:
        ticks = [scale[0], 0.0, scale[1]] if scale[0] < 0 < scale[1] else list(scale)
        bar = fig.colorbar(shown, ax=list(axes.flat), location="bottom", shrink=min(1.0, 4.0 / ncols), aspect=30,
                           ticks=ticks)
        bar.ax.tick_params(labelsize=8)
        bar.ax.set_xticklabels([f"{t:+.2f}".replace("-", "\u2212") if t else "0" for t in ticks])
        bar.set_label(scale_label, fontsize=8)
    fig.suptitle(title, fontsize=10, wrap=True)
    return fig


def confusion(matrix, *, title: str, class_labels: Sequence[str] | None = None) -> Drawing:
    """A confusion matrix (rows = true class, columns = predicted) with counts in the cells: `svhn evaluate`'s drawing
    (:func:`dlexam.svhn.plots.confusion_figure`: classes 0 .. n - 1 unless `class_labels` names them), for a desktop
    and a narrow screen."""
    from dlexam.svhn.plots import confusion_figure

    return render(confusion_figure(matrix, title=title, class_labels=class_labels))
