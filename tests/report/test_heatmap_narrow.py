"""A heatmap's narrow (phone) drawing keeps every cell's number, never smaller than a readable floor.

The figures are the report's sorting section's own (its example "D A C A B D": 5 decoding steps by 12
positions, the compiled sorter's and the shipped trained sorter's attention), measured on the built
matplotlib figure before it is saved: the smallest font size of any text drawn, each cell label's width
against its cell's, and each (row, column) cell's label against the desktop drawing's label of the same cell.
"""

from __future__ import annotations

from collections import Counter

import matplotlib.text
import pytest

from dlexam.figures import NARROW_WIDTH_IN
from dlexam.report import plots
from dlexam.report.sections import sorting

FLOOR_PT = 7.0  # the floor docs/report.md states, at the figure's own dpi


@pytest.fixture(scope="module")
def sorting_examples() -> dict:
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.shipped import load_shipped
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    inputs = vocab.parse(sorting.EXAMPLE)
    return {"compiled": attention_steps(compile_sorter(vocab.n_symbols), vocab, inputs),
            "trained": attention_steps(load_shipped().model, vocab, inputs)}


def cells_by_name(fig) -> dict[tuple[str, str], matplotlib.text.Text]:
    """(row label, column label) -> the text drawn in that cell, over every panel of `fig`."""
    out = {}
    for ax in fig.axes:
        xs = {round(x): t.get_text() for x, t in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)}
        ys = {round(y): t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
        for text in ax.texts:
            x, y = text.get_position()
            key = (ys[round(y)], xs[round(x)])
            assert key not in out, f"two labels in cell {key}"
            out[key] = text
    return out


@pytest.mark.parametrize("model", ["compiled", "trained"])
def test_the_sorting_heatmaps_narrow_labels_stay_readable_and_complete(sorting_examples, model):
    a = sorting_examples[model]
    args = sorting.attention_heatmap(a, f"{model} sorter: attention per decoding step")
    rows, cols = args["matrix"].shape
    assert (rows, cols) == (len(a.steps), len(a.tokens)) == (5, 12)
    desktop, narrow = plots.heatmap_figures(**args)
    narrow.canvas.draw()
    desktop.canvas.draw()
    drawn = [t for t in narrow.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    smallest = min(drawn, key=lambda t: t.get_fontsize())
    assert smallest.get_fontsize() >= FLOOR_PT, (
        f"{smallest.get_text()!r} is drawn at {smallest.get_fontsize():.2f} pt on the narrow drawing")
    assert narrow.get_size_inches()[0] <= NARROW_WIDTH_IN + 1e-9

    # every cell keeps its number, in its own row and column (the alt text says each cell is labelled)
    wide, small = cells_by_name(desktop), cells_by_name(narrow)
    assert len(wide) == rows * cols and set(small) == set(wide)
    assert {k: t.get_text() for k, t in small.items()} == {k: t.get_text() for k, t in wide.items()}
    assert Counter(t.get_text() for t in small.values()) == Counter(t.get_text() for t in wide.values())

    # and fits inside its cell
    renderer = narrow.canvas.get_renderer()
    for ax in narrow.axes:
        cell_px = ax.bbox.width / len(ax.get_xticks())
        for text in ax.texts:
            assert text.get_window_extent(renderer).width <= cell_px, (text.get_text(), cell_px)
