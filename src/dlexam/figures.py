"""Matplotlib figures as PNG: the one place the project renders and saves a figure.

Everything draws on the non-interactive Agg backend (nothing opens a window) and renders with the
same settings, so a figure in the report, an experiment's folder and a training run look alike.
:func:`save_png` writes atomically (:mod:`dlexam.files`). PNGs carry no "Software" stamp, so the
same figure gives the same bytes.

A figure can also be drawn for a narrow screen (:func:`restack`, :func:`save_into` with ``narrow=True``):
its panels one above the other (two side by side where they are small), :data:`NARROW_PX` (400) pixels wide
(:func:`narrow_png`), so that on a phone it is shown near its drawn size and its text stays readable. It is
written beside the figure as ``NAME.narrow.png`` (:func:`narrow_name`); the report shows it below 700 px. A
figure that goes only into the report is rendered both ways at once by :func:`render` (a :class:`Drawing`).
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

DPI = 110
NARROW_WIDTH_IN = 3.6  # a narrow figure's width in inches, its layout's: 396 pixels at DPI, a phone's screen at ~90%
NARROW_PX = 400  # a narrow drawing's PNG width in pixels, exactly: what is drawn, centred, with its margins
PAD_IN = 0.06  # the white margin around what is drawn, in inches


# Okabe and Ito's colours, safe for the common colour-blindnesses, in the order a figure's series take them (their
# yellow, faint on white, is left out): every figure draws its series in these, the default colour cycle too.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#808080"  # a reference series (a baseline, chance, a control) beside the coloured ones
MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # with the colours, so that no two series differ in colour alone


def series_style(i: int) -> dict:
    """The `i`-th series' colour and marker (keyword arguments of ``ax.plot``): its own colour and its own marker, so
    that two series stay apart where they overlap, in greyscale and for a colour-blind reader."""
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)]}


def reference_style(i: int) -> dict:
    """A reference series' style (a baseline, a control): :data:`GREY` with the `i`-th marker, so that it stays apart
    from the coloured series :func:`series_style` draws beside it by its marker as well as its colour."""
    return {"color": GREY, "marker": MARKERS[i % len(MARKERS)]}


def staggered(i: int, n: int, points: int, marks: int = 8) -> tuple[int, int]:
    """``markevery`` for the `i`-th of `n` series of `points` points each: about `marks` markers a line, each series'
    a little after the one before, so that where the lines lie on each other their markers still show side by side
    (at the same points, the last drawn had hidden the others')."""
    every = max(1, points // marks)
    return (i * every // max(1, n)) % every, every


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: it is slow to import), with the project's settings:
    the colour cycle :data:`COLOURS`, and tick labels written in full (no offset such as "+2.301" or "1e-5" in an
    axis's corner, which a reader misses: a flat curve's ticks had read 0.0002 under "+2.301"); a factor
    too large or small for the ticks is written x10^n, not 1e-5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    matplotlib.rcParams.update({"axes.prop_cycle": cycler(color=COLOURS), "axes.formatter.useoffset": False,
                                "axes.formatter.use_mathtext": True})
    return plt


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 5.2, height: float = 3.8):
    """(figure, axes[nrows][ncols]) with a constrained layout; width and height are per panel, in inches."""
    fig, axes = pyplot().subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    return fig, axes


PALETTE = 256  # colours of a saved PNG (its palette): exact for a figure with at most this many
PALETTE_TOLERANCE = 16  # grey levels (of 255) a pixel may move in any channel when a figure's colours are reduced
PALETTE_SPECKS = 0.001  # the share of pixels that may move more; a figure with more is saved in full colour


def laid_out(fig):
    """Lay `fig` out as drawing it would (its layout engine, then each panel's aspect), without drawing it; returns the
    renderer to measure it with: where its panels are, its tight box, the sizes of its texts and legends. A figure is
    measured several times before it is saved (:func:`restack`, :func:`narrow_png`); painting each time had cost an
    eighth of the activations' and skip-connections' drawing time, and the draw that placed what it did not measure
    (``fig.draw_without_rendering``) half of what was left. The PNGs are the same bytes.

    What only a draw places, the entries inside a legend (where each label stands), needs :func:`drawn`."""
    renderer = fig.canvas.get_renderer()
    _apply_aspects(fig, renderer)  # as Figure.draw: before the layout, and again after it, as each Axes.draw
    engine = fig.get_layout_engine()
    if engine is not None and fig.axes:
        engine.execute(fig)
    _apply_aspects(fig, renderer)
    return renderer


def drawn(fig):
    """:func:`laid_out`, and everything in `fig` placed where drawing it puts it (a legend's entries too), without
    painting a pixel; returns the renderer to measure it with."""
    fig.draw_without_rendering()
    return fig.canvas.get_renderer()


def _apply_aspects(fig, renderer) -> None:
    """Each axes of `fig` (and each inset axes) shrunk to its aspect ratio, as a draw does before it draws it."""
    for ax in fig.axes:
        for a in (ax, *(c for c in ax.get_children() if hasattr(c, "apply_aspect"))):
            locator = a.get_axes_locator()
            a.apply_aspect(locator(a, renderer) if locator else None)


def to_png(fig, dpi: int = DPI, *, close: bool = True) -> bytes:
    """Render `fig` to PNG bytes and close it (unless `close` is False: it is drawn again).

    The PNG is an indexed-colour image of at most :data:`PALETTE` colours (:func:`palette_png`): a quarter to a
    third of matplotlib's RGBA bytes, which matters for the report's page, which embeds each figure twice."""
    buf = io.BytesIO()
    own_dpi = fig.dpi
    try:
        fig.set_dpi(dpi)  # laid out and measured as savefig draws it
        box = fig.get_tightbbox(laid_out(fig)).padded(PAD_IN)
        _save_laid_out(fig, buf, dpi, box)  # savefig draws at `dpi` and puts the figure's own back
    finally:
        fig.set_dpi(own_dpi)
        if close:
            pyplot().close(fig)
    return palette_png(buf.getvalue())


def _save_laid_out(fig, buf, dpi: int, box) -> None:
    """Save `fig`, just :func:`laid_out` at `dpi`, as PNG into `buf`, cropped to `box` (inches), without laying it
    out again: savefig lays a figure with a layout engine out first, in a draw of its own."""
    engine = fig.get_layout_engine()
    fig.set_layout_engine(None)
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches=box, metadata={"Software": None})
    finally:
        fig.set_layout_engine(engine)


def narrow_png(fig, dpi: int = DPI, *, close: bool = True) -> bytes:
    """`fig`, a figure laid out for a narrow screen (:func:`restack`), as PNG bytes exactly :data:`NARROW_PX` wide
    (as :func:`to_png`: indexed colour, closed unless `close` is False).

    :func:`to_png` crops to what is drawn, so its width had followed the tick labels, the legends and the blank
    an image grid leaves (346 to 408 pixels out of 3.6 in figures). Here the crop keeps the height of what is drawn
    (and :data:`PAD_IN` above and below) and is exactly NARROW_PX wide, centred on what is drawn; where that is
    wider than the crop allows, the figure is first made narrower (its layout redone) until it fits, so nothing
    is cut. (A drawing that does not narrow with its figure, a legend wider than the screen, is kept whole: wider.)"""
    from matplotlib.transforms import Bbox

    width = (NARROW_PX + 0.5) / dpi  # Agg makes the canvas int(width * dpi) pixels wide: 400.5 -> 400
    buf = io.BytesIO()
    own_dpi = fig.dpi
    try:
        fig.set_dpi(dpi)  # measured as savefig draws it
        for attempt in range(6):
            box = fig.get_tightbbox(laid_out(fig))
            over = box.width + 2 * PAD_IN - NARROW_PX / dpi  # inches too wide
            w, h = fig.get_size_inches()
            if over <= 0 or attempt == 5 or over > w / 2:
                break
            fig.set_size_inches(w - over - 0.5 / dpi, h)
        fig.set_dpi(own_dpi)
        middle, half = (box.x0 + box.x1) / 2, (width / 2 if over <= 0 else box.width / 2 + PAD_IN)
        crop = Bbox([[middle - half, box.y0 - PAD_IN], [middle + half, box.y1 + PAD_IN]])
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches=crop, metadata={"Software": None})
    finally:
        fig.set_dpi(own_dpi)
        if close:
            pyplot().close(fig)
    return palette_png(buf.getvalue())


def palette_png(png: bytes, colours: int = PALETTE) -> bytes:
    """`png` (an opaque figure: matplotlib draws on a white face) as an indexed-colour PNG where that keeps it.

    A figure of at most `colours` distinct colours keeps every pixel. A figure with more (anti-aliased edges,
    colour maps) gets the `colours` that median cut finds, without dithering, so flat areas stay flat; where that
    would move more than :data:`PALETTE_SPECKS` of the pixels by more than :data:`PALETTE_TOLERANCE` levels (a
    colour map over a large area bands), it is kept in full colour instead (RGB, losslessly). Deterministic: the
    same figure gives the same bytes. A figure with any transparent pixel is returned unchanged."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        if im.mode == "RGBA" and im.getextrema()[3][0] < 255:
            return png
        rgb = im.convert("RGB")
    exact = rgb.getcolors(colours)  # None: more than `colours` colours
    if exact is not None:
        out_image = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=len(exact))
    else:
        out_image = rgb.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        moved = np.abs(np.asarray(out_image.convert("RGB"), dtype=np.int16) - np.asarray(rgb, dtype=np.int16))
        if (moved.max(axis=-1) > PALETTE_TOLERANCE).mean() > PALETTE_SPECKS:
            out_image = rgb
    out = io.BytesIO()
    out_image.save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Drawing:
    """One figure rendered twice: `png` for a desktop window, `narrow` for a narrow screen (:func:`restack`)."""

    png: bytes
    narrow: bytes


def render(fig) -> Drawing:
    """`fig` as PNG bytes, as drawn and restacked for a narrow screen; closes it. (A figure whose narrow drawing
    is laid out anew, not restacked, makes its `Drawing` from the two figures' :func:`to_png`: the report's
    heatmaps, `report.plots.heatmap`, with :func:`narrow_png`.)"""
    png = to_png(fig, close=False)
    restack(fig)
    return Drawing(png, narrow_png(fig))


def narrow_name(name: str) -> str:
    """The file name of a figure's narrow drawing: curves.png -> curves.narrow.png."""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.narrow.{ext}" if dot else f"{name}.narrow"


def restack(fig, width: float = NARROW_WIDTH_IN):
    """Lay `fig`'s panels out for a narrow screen, in place: one column (two where a panel is at most 2.6 in
    wide, as many as fit at their drawn width where that is more: a grid of small images), `width` inches
    wide (saved :data:`NARROW_PX` pixels wide by :func:`narrow_png`), each panel keeping its aspect ratio; titles
    wrap; legends go under their panels, and a legend of the whole figure (:func:`figure_legend`) under them all
    in as many of its columns as fit. Returns `fig`.

    Panels are the axes placed on a grid (a twin axis moves with its panel; a colorbar follows its axes)."""
    panels: dict[tuple[int, int], list] = {}  # (row, column) of the original grid -> the axes there
    for a in fig.axes:
        spec = a.get_subplotspec()
        if spec is not None:
            panels.setdefault((spec.rowspan.start, spec.colspan.start), []).append(a)
    if not panels:
        return fig
    first = next(iter(panels.values()))[0].get_subplotspec().get_gridspec()
    rows, cols = first.get_geometry()
    old_w, old_h = fig.get_size_inches()
    panel_w, panel_h = old_w / cols, old_h / rows
    ncols = min(len(panels), max(2 if panel_w <= 2.6 else 1, math.floor(width / panel_w + 1e-9)))
    nrows = -(-len(panels) // ncols)
    grid = fig.add_gridspec(nrows, ncols)
    for i, key in enumerate(sorted(panels)):
        for a in panels[key]:
            a.set_subplotspec(grid[i // ncols, i % ncols])
    fig.set_size_inches(width, width / ncols * panel_h / panel_w * nrows)
    for text in [fig._suptitle, *(a.title for a in fig.axes)]:  # long titles wrap within the narrow width
        if text is not None:
            text.set_wrap(True)
    _legends_under_panels(fig)
    _figure_legends_fit(fig)
    return fig


def legend_below(ax, *args, **kwargs):
    """``ax.legend(*args, **kwargs)`` under the panel's x-axis label, centred, where it can cover no data (a legend
    inside the axes, even at loc="best", can: matplotlib picks the place that covers the least). Returns it."""
    return _legends_below(ax.figure, {ax: (args, kwargs)})[0]


def figure_legend(fig, handles, labels, **kwargs):
    """One legend for all of `fig`'s panels, where each would show the same entries: centred under the panels,
    outside every axes (the constrained layout makes room for it), so it covers no data. `kwargs` go to
    ``fig.legend`` (``ncols``, ``fontsize``); :func:`restack` keeps it under the panels in as many of its columns as
    fit the narrow width. Returns it."""
    return fig.legend(handles, labels, loc="outside lower center", **kwargs)


def _figure_legends_fit(fig) -> None:
    """A restacked figure's legends of the whole figure (:func:`figure_legend`), made again in as many of their
    columns as fit its width, from the artists drawn (an error bar's legend handle is its bars alone: made again from
    it, the pooling figure's narrow legend had lost its markers); the figure grows by each one's height, so the panels
    keep theirs."""
    drawn = {}  # label -> the artist drawn under it: a legend's own handles are copies, an error bar's only its bars
    for a in fig.axes:
        for handle, label in zip(*a.get_legend_handles_labels(), strict=True):
            drawn.setdefault(label, handle)
    for old in list(fig.legends):
        labels = [t.get_text() for t in old.get_texts()]
        handles = [drawn.get(label, h) for h, label in zip(old.legend_handles, labels, strict=True)]
        size = old.get_texts()[0].get_fontsize() if labels else None
        ncols = _legend_columns(fig, old)
        old.remove()
        width = fig.get_size_inches()[0]
        for n in range(ncols, 0, -1):
            legend = figure_legend(fig, handles, labels, ncols=n, fontsize=size)
            extent = legend.get_window_extent(laid_out(fig))
            if extent.width / fig.dpi <= width - 0.1 or n == 1:
                break
            legend.remove()
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h + extent.height / fig.dpi + 0.05)


def _legend_columns(fig, legend) -> int:
    """How many columns `legend` is drawn in: the distinct left edges of its labels, measured on the drawn figure
    (matplotlib keeps the ncols it was given only in a private attribute)."""
    renderer = drawn(fig)
    return max(1, len({round(t.get_window_extent(renderer).x0) for t in legend.get_texts()}))


def _legends_below(fig, legends: dict) -> list:
    """Put each of `legends` ({axes: (args, kwargs) of its legend}) under its panel's tick and axis labels, at a
    fixed distance in inches (so a panel resized by the layout or by :func:`restack` keeps it there)."""
    from matplotlib.transforms import ScaledTranslation

    for ax in legends:
        if ax.get_legend() is not None:
            ax.get_legend().remove()  # measured without it
    renderer = laid_out(fig)
    made = []
    for ax, (args, kwargs) in legends.items():
        drop = max(0.0, (ax.bbox.y0 - ax.get_tightbbox(renderer).y0) / fig.dpi) + 0.05  # inches under the axes
        place = ax.transAxes + ScaledTranslation(0, -drop, fig.dpi_scale_trans)
        made.append(ax.legend(*args, loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=place,
                              borderaxespad=0, **kwargs))
    return made


def _legends_under_panels(fig) -> None:
    """Every legend of a narrow drawing goes under its panel: placed inside a narrow panel, matplotlib's best place
    still covered the data of 9 of the experiments' 14 narrow figures with legends; a legend wider than its panel
    had squeezed the panel to a sliver. The figure grows by each row's tallest legend, so the panels keep their
    height."""
    legends = {}
    for a in fig.axes:
        legend = a.get_legend()
        if legend is None:
            continue
        handles, labels = a.get_legend_handles_labels()
        size = legend.get_texts()[0].get_fontsize() if legend.get_texts() else None
        legends[a] = ((handles, labels), {"fontsize": size})
    if not legends:
        return
    _legends_below(fig, legends)
    renderer = laid_out(fig)
    rows: dict[int, float] = {}  # a grid row -> the height of its tallest legend, in inches
    for a in legends:
        row = a.get_subplotspec().rowspan.start
        rows[row] = max(rows.get(row, 0.0), a.get_legend().get_window_extent(renderer).height / fig.dpi + 0.05)
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + sum(rows.values()))


def save_png(fig, path: str | os.PathLike, dpi: int = DPI) -> str:
    """Render `fig` and write it to `path` atomically; returns the absolute path as a string."""
    from dlexam.files import atomic_write_bytes

    atomic_write_bytes(path, to_png(fig, dpi))
    return str(Path(path).resolve())


def save_into(out, name: str, fig, *, narrow: bool = False) -> str:
    """Render `fig` into the :class:`~dlexam.files.OutputDir` `out` as `name` (checked there and
    recorded as dlexam's); returns the absolute path as a string. With `narrow`, also its drawing for a
    narrow screen as :func:`narrow_name` (`name`) (see :func:`restack`)."""
    if not narrow:
        return str(out.write_bytes(name, to_png(fig)).resolve())
    drawing = render(fig)
    path = out.write_bytes(name, drawing.png)
    out.write_bytes(narrow_name(name), drawing.narrow)
    return str(path.resolve())
