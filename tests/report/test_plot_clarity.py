"""What a demanding reader asks of the report's figures, checked on the matplotlib figures themselves (before they
are rendered): every axis says what it is, series are told apart by more than colour, the legend covers no data,
tick labels are written in full, and the colours are ones a colour-blind reader can tell apart. (The 2026-12-07
audit: docs/report.md, "Figures a reader can read".)"""

from __future__ import annotations

import re

import matplotlib.colors
import numpy as np
import pytest

from dlexam.figures import new_figure, pyplot
from dlexam.report import plots
from dlexam.report.sections import cnn, sorting
from dlexam.report.sections import geoff as geoff_section

from ..experiments.helpers import colour_alone, legend_overlaps

# Okabe and Ito's palette ("Color Universal Design", 2002), typed in from their table, less its yellow
OKABE_ITO = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}


def _plain(label: str) -> str:
    """A tick label's text as drawn: mathtext's $\\mathdefault{2.30}$ is 2.30."""
    return re.sub(r"\$|\\mathdefault\{|\}", "", label)


def test_a_flat_curve_writes_its_tick_labels_in_full():
    """A loss that barely moves (2.30121 to 2.30124) had its ticks written as 0.00000 .. 0.00003 under an offset
    "+2.301" in the axis's corner, which a reader misses: each tick now reads the whole number. A factor the ticks
    still need (values of a millionth) is written x10^-6, not 1e-6."""
    fig, ax = new_figure(2, 1)
    ax[0, 0].plot([1, 2, 3], [2.30121, 2.30124, 2.30122])
    ax[0, 1].plot([1, 2, 3], [1e-6, 3e-6, 2e-6])
    fig.canvas.draw()
    try:
        axis = ax[0, 0].yaxis
        assert axis.get_offset_text().get_text() == ""
        shown = [_plain(t.get_text()) for t in axis.get_ticklabels() if t.get_text()]
        assert shown and all(label.startswith("2.30") for label in shown), shown
        factor = ax[0, 1].yaxis.get_offset_text().get_text()
        assert "times" in factor and "1e" not in factor, factor
    finally:
        pyplot().close(fig)


def test_series_take_colours_a_colour_blind_reader_tells_apart():
    """Lines drawn without a colour take the default cycle: matplotlib's own (tab:blue, tab:orange, tab:green, ..)
    puts orange beside green, which a red-green colour-blind reader confuses. Every figure's default colours are now
    Okabe and Ito's."""
    fig, ax = new_figure()
    lines = [ax[0, 0].plot([0, 1], [k, k])[0] for k in range(6)]
    try:
        colours = [matplotlib.colors.to_hex(line.get_color()) for line in lines]
        assert set(colours) <= OKABE_ITO and len(set(colours)) == 6, colours
    finally:
        pyplot().close(fig)


def _history(epochs: int) -> list[dict]:
    """A good run: accuracy rising to 100% at the last epoch (the top right corner, where a legend inside the axes
    goes first), the held-out curve crossing the training one."""
    return [{"epoch": e, "train_loss": 2.3 / e, "val_loss": 2.0 / e + 0.05, "train_accuracy": min(1.0, 0.2 * e),
             "val_accuracy": min(1.0, 0.3 + 0.1 * e)} for e in range(1, epochs + 1)]


@pytest.mark.parametrize("what", ["loss", "accuracy"])
def test_the_cnn_curves_say_what_they_show_and_tell_their_lines_apart(what):
    """The CNN section's curves were titled "loss" and "accuracy", drew accuracy from 0 to 1 where every other figure
    of the report draws percent, told the training and held-out lines apart by colour alone (both circles), and kept
    the legend inside the axes. Now: a title that says "per epoch", the unit on the axis, a marker each, the legend
    under the panel covering nothing."""
    history = _history(8)
    fig = plots.curves_figure(cnn.curve_series(history, what), x={n: list(range(1, 9)) for n in cnn.CURVE_NAMES},
                              **cnn.CURVE_OPTIONS[what])
    try:
        ax = fig.axes[0]
        assert "per epoch" in ax.get_title() and ax.get_xlabel() == "epoch"
        assert ("%" if what == "accuracy" else "nats") in ax.get_ylabel()
        lines = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
        assert set(lines) == {"training images", "held-out fonts"}
        key = "accuracy" if what == "accuracy" else "loss"
        scale = 100 if what == "accuracy" else 1
        assert lines["training images"] == pytest.approx([scale * r[f"train_{key}"] for r in history])
        assert lines["held-out fonts"] == pytest.approx([scale * r[f"val_{key}"] for r in history])
        assert colour_alone(fig) == []
        assert legend_overlaps(fig) == []
    finally:
        pyplot().close(fig)


# each matrix of Geoff's section and what its rows and columns are, written out by hand from Problem 2's definitions
GEOFF_AXES = {
    "X": ("position: token", "model dimension"),
    "Q": ("position: token", "head dimension"),
    "scores": ("query position: token", "key position: token"),
    "P": ("query position: token", "key position: token"),
    "Z": ("position: token", "head dimension"),
    "R": ("position: token", "model dimension"),
    "logits": ("position: token", "token"),
}


def test_every_heatmap_of_geoffs_matrices_names_its_rows_and_columns(monkeypatch):
    """The heatmaps named their cells ("1 D", "A", "d1") but not their axes: a reader had to know that the rows are
    positions and X's columns the model's dimensions (named after symbols) while Q's are a head's. Each is now
    labelled, in the desktop drawing and the narrow one."""
    from dlexam import geoff

    asked = {}

    def recording(m, **options):
        asked[options["title"]] = options
        desktop, narrow = plots.heatmap_figures(m, **options)
        found = (desktop.axes[0].get_ylabel(), desktop.axes[0].get_xlabel(),
                 narrow.axes[0].get_ylabel() or narrow.get_supylabel(), narrow.axes[-1].get_xlabel())
        pyplot().close(desktop)
        pyplot().close(narrow)
        asked[options["title"]] = found
        return plots.Drawing(b"", b"")

    monkeypatch.setattr(plots, "heatmap", recording)
    monkeypatch.setattr(geoff_section.page, "figure", lambda *args, **kwargs: "")
    result = geoff.run_geoff(geoff.EXAM_EXAMPLE, temperature=0.0, heads=1)
    for attr, title, caption in geoff_section.MATRICES:
        geoff_section.matrix_figure(result, attr, title, caption, geoff.EXAM_WEIGHTS)
        rows, cols = GEOFF_AXES[attr]
        assert asked[title] == (rows, cols, rows, cols), title


def test_the_sorting_heatmaps_name_their_rows_and_columns():
    """The attention of each decoding step: rows are the queries, columns the keys, both positions and tokens."""
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    a = attention_steps(compile_sorter(vocab.n_symbols), vocab, vocab.parse(sorting.EXAMPLE))
    desktop, narrow = plots.heatmap_figures(**sorting.attention_heatmap(a, "compiled"))
    try:
        assert (desktop.axes[0].get_ylabel(), desktop.axes[0].get_xlabel()) == (
            "query position: token", "key position: token")
        assert (narrow.axes[0].get_ylabel() or narrow.get_supylabel()) == "query position: token"
        assert narrow.axes[-1].get_xlabel() == "key position: token"
    finally:
        pyplot().close(desktop)
        pyplot().close(narrow)


def test_a_narrow_heatmap_in_several_panels_names_its_rows_once():
    """Split into panels, each panel had its own row title, longer than the panel is tall: it ran into the next
    panel's. It is said once, beside all of them."""
    m = np.arange(5 * 24, dtype=float).reshape(5, 24) / 7  # 24 columns of sevenths: too many for one narrow panel
    desktop, narrow = plots.heatmap_figures(m, title="wide", row_title="query position: token", col_title="key")
    try:
        assert len(narrow.axes) > 1
        assert narrow.get_supylabel() == "query position: token"
        assert all(ax.get_ylabel() == "" for ax in narrow.axes)
        assert [ax.get_xlabel() for ax in narrow.axes][-1] == "key"
    finally:
        pyplot().close(desktop)
        pyplot().close(narrow)


def test_the_reports_confusion_matrix_is_svhn_evaluates_drawing(monkeypatch):
    """The report drew its own confusion matrix ("true", "predicted", zeros blank) and `svhn evaluate` another
    ("true digit", "predicted digit", every 0 written): one drawing now, its axes naming the digits."""
    from dlexam.svhn import plots as svhn_plots

    confusion = np.diag([5] * 10)
    confusion[3, 8] = 2  # one mistake: a 3 read as 8
    seen = []
    real = svhn_plots.confusion_figure

    def keep(*args, **kwargs):
        fig = real(*args, **kwargs)
        seen.append((fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel(),
                     sorted(t.get_text() for t in fig.axes[0].texts)))
        return fig

    monkeypatch.setattr(svhn_plots, "confusion_figure", keep)
    plots.confusion(confusion, title="t", class_labels=[str(d) for d in range(10)])
    assert seen == [("true digit", "predicted digit", ["2"] + ["5"] * 10)]  # no cell of 0 written
