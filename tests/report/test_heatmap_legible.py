"""A heatmap's cell labels read in the browser, on a desktop window and on a phone, and stay inside their cells.

The figures are the report's own heatmaps: the sorting section's two attention maps (5 decoding steps by 12
positions: the compiled sorter's and the shipped trained sorter's, whose labels are the widest, "2.29e-5") and
Geoff's P (7 x 7), laid out by the report's own page code (`page.figure`, `page.figure_row`, `page.render_page`)
and opened in headless Chromium at 1280 x 800 and 390 x 844. Chromium says which drawing it shows (the desktop
PNG or the narrow one) and at what width; the drawing's figure says the font size of its smallest cell label, in
points at the figures' dpi, and where each label lies against its cell. The size a reader sees, in CSS px, is
the one times the other: pt x dpi / 72 image pixels, times the shown width over the image's own width.
"""

from __future__ import annotations

import pytest

from dlexam.figures import DPI, Drawing, narrow_png, to_png
from dlexam.report import page, plots
from dlexam.report.sections import geoff as report_geoff
from dlexam.report.sections import sorting

from .browser import playwright_tab

# CSS px of the smallest cell label: a desktop window shows the desktop drawing at its own size, where the
# report's label floor (7 pt at 110 dpi, docs/report.md) is 10.7 px; a phone shows the narrow drawing at ~88%.
SMALLEST_CSS_PX = {(1280, 800): 10.5, (390, 844): 9.0}


@pytest.fixture(scope="module")
def heatmaps() -> list[dict]:
    """The report's heatmaps, each as the arguments of plots.heatmap_figures."""
    from dlexam import geoff
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.inspect import attention_steps
    from dlexam.sorting.shipped import load_shipped
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    inputs = vocab.parse(sorting.EXAMPLE)
    out = [sorting.attention_heatmap(attention_steps(compile_sorter(vocab.n_symbols), vocab, inputs), "compiled"),
           sorting.attention_heatmap(attention_steps(load_shipped().model, vocab, inputs), "trained")]
    r = geoff.run_geoff(geoff.EXAM_EXAMPLE, temperature="sqrt")  # 7 positions: P is 7 x 7
    labels = report_geoff.position_labels(r.tokens)
    out.append({"matrix": report_geoff.as_matrix(r.P), "title": "Geoff's P", "row_labels": labels,
                "col_labels": labels, "masked": report_geoff.causal_hidden(len(r.tokens))})
    return out


def drawn_labels(fig) -> dict:
    """The smallest cell label's size (pt) and every label that reaches past its cell (by the figure's geometry)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    sizes, outside = [], []
    for ax in fig.axes:
        if not ax.texts:
            continue
        cell_w = ax.bbox.width / len(ax.get_xticks())
        cell_h = ax.bbox.height / len(ax.get_yticks())
        for t in ax.texts:
            sizes.append(t.get_fontsize())
            box = t.get_window_extent(renderer)
            x, _ = ax.transData.transform(t.get_position())  # the centre of its cell
            if box.x0 < x - cell_w / 2 - 0.5 or box.x1 > x + cell_w / 2 + 0.5 or box.height > cell_h:
                outside.append((t.get_text(), round(box.width, 1), round(cell_w, 1)))
    return {"pt": min(sizes), "outside": outside}


def shown_in_chromium(html_text: str, tmp_path, size: tuple[int, int]) -> list[dict]:
    index = tmp_path / "index.html"
    index.write_text(html_text)
    with playwright_tab(*size) as tab:
        tab.goto(index.as_uri())
        tab.wait_for_load_state("load")
        return tab.evaluate("""() => Array.from(document.querySelectorAll("main figure")).map(f => {
          const img = f.querySelector("img"), source = f.querySelector("source");
          return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
                  narrow: Boolean(source) && img.currentSrc === source.srcset};
        })""")


@pytest.fixture(scope="module")
def drawn_page(heatmaps) -> tuple[list[dict], str]:
    """([{narrow drawing?: drawn_labels of that drawing}] per heatmap, the page that shows them all): drawn once for
    the module (the same drawings are opened at each window size); the tests only read them."""
    labels, figures = [], []
    for args in heatmaps:
        desktop, narrow = plots.heatmap_figures(**args)
        labels.append({False: drawn_labels(desktop), True: drawn_labels(narrow)})
        figures.append(page.figure(Drawing(to_png(desktop), narrow_png(narrow)), args["title"], alt=args["title"]))
    html_text = page.render_page("heatmaps", "", [page.RenderedSection("sorting", "Heatmaps",
                                                                       page.figure_row(figures))])
    return labels, html_text


@pytest.mark.parametrize("size", list(SMALLEST_CSS_PX), ids=lambda s: f"{s[0]}x{s[1]}")
def test_heatmap_cell_labels_read_at_their_shown_size_and_stay_in_their_cells(heatmaps, drawn_page, tmp_path, size):
    labels, html_text = drawn_page
    shown = shown_in_chromium(html_text, tmp_path, size)
    assert len(shown) == len(heatmaps)
    for args, drawn, img in zip(heatmaps, labels, shown, strict=True):
        assert img["narrow"] == (size[0] < 700), (args["title"], img)  # the report's narrow-screen switch
        label = drawn[img["narrow"]]
        css_px = label["pt"] * DPI / 72 * img["shown"] / img["natural"]
        assert css_px >= SMALLEST_CSS_PX[size], (
            f"{args['title']}: its smallest cell label is {label['pt']} pt, shown at {css_px:.2f} CSS px at {size}")
        assert not label["outside"], (args["title"], label["outside"])
