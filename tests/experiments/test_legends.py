"""No legend of an experiment's figure covers its data, on a desktop or in the narrow drawing; the check itself
(`helpers.legend_overlaps`) is tested here too."""

from __future__ import annotations

import numpy as np

from dlexam.figures import new_figure, pyplot, restack

from .helpers import legend_overlaps


def test_the_legend_checker_sees_a_legend_on_a_curve():
    """The oracle itself: a legend placed over the middle of a line, and one clear of it."""
    from dlexam.figures import new_figure, pyplot

    from .helpers import legend_overlaps

    fig, ax = new_figure(2, 1)
    for a, where in zip(ax[0], ("center", "lower right"), strict=True):
        a.plot([0, 1], [0, 1], label="the diagonal")
        a.scatter([0.5], [0.5], label="its midpoint")
        a.legend(loc=where)
    found = legend_overlaps(fig)
    pyplot().close(fig)
    assert len(found) == 2 and all(f.startswith("'':") for f in found)  # the line and the point, left panel only
    assert "line 'the diagonal'" in found[0] and "PathCollection 'its midpoint', 1 points" in found[1]



def test_the_legend_checker_sees_a_legend_on_a_bar():
    """Bars are Rectangle patches, neither lines nor collections: the checker had passed a legend drawn over the
    tallest of three bars (the attention-temperature experiment draws its distances moved as bars). Left panel:
    the legend at the top centre, over the middle bar only; right panel: at the top left, above the short first
    bar. Where the bars stand is matplotlib's (their data extent through the axes' transform)."""
    fig, ax = new_figure(2, 1)
    for a, where in zip(ax[0], ("upper center", "upper left"), strict=True):
        a.bar([0, 1, 2], [1.0, 3.0, 1.0], 0.8, label="heights")
        a.set(title=where, ylim=(0, 3.2))
        a.legend(loc=where)
    found = legend_overlaps(fig)
    pyplot().close(fig)
    assert found == ["'upper center': bars 'heights', 1 under the legend"]


def _filled_panels(legend: bool):
    fig, ax = new_figure(2, 1)
    x = np.linspace(0, 1, 50)
    for a in ax[0]:
        for k in range(12):
            a.plot(x, x + k / 6, label=f"curve {k}" if k < 3 else None)
        a.set(xlabel="x", ylabel="y")
        if legend:
            a.legend(fontsize=8)
    return fig, ax


def test_the_narrow_drawing_puts_every_legend_under_its_panel():
    """Panels filled with curves: wherever matplotlib's loc="best" puts a legend inside a narrow panel, it covers
    some (before, restack kept them inside: 9 of the experiments' 14 narrow figures with legends covered data). The
    drawing grows by the legends, so each panel keeps the height it has without one."""
    fig, ax = _filled_panels(legend=True)
    bare, bare_ax = _filled_panels(legend=False)
    labels = [[t.get_text() for t in a.get_legend().get_texts()] for a in ax[0]]
    restack(fig)
    restack(bare)
    try:
        assert [[t.get_text() for t in a.get_legend().get_texts()] for a in ax[0]] == labels  # the same legends
        assert all(a.get_legend().get_texts()[0].get_fontsize() == 8 for a in ax[0])
        assert legend_overlaps(fig) == []
        renderer = fig.canvas.get_renderer()
        for a in ax[0]:  # under the panel's x-axis label, inside the figure
            box = a.get_legend().get_window_extent(renderer)
            assert box.y1 <= a.xaxis.label.get_window_extent(renderer).y0 and box.y0 >= 0
        bare.canvas.draw()
        for a, b in zip(ax[0], bare_ax[0], strict=True):
            assert abs(a.bbox.height - b.bbox.height) < 0.05 * b.bbox.height
    finally:
        pyplot().close(fig)
        pyplot().close(bare)
