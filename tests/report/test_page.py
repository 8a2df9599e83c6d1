"""Unit tests of the report's building blocks: exact fractions, tables, embedded figures."""

from __future__ import annotations

import base64
import io
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from dlexam.report import page, plots


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0.75, "3/4"),
        (9 / 7, "9/7"),
        (6 / 7, "6/7"),
        (1 / 7, "1/7"),
        (1 / 3, "1/3"),
        (-0.5, "-1/2"),
        (3.0, "3"),
        (0.0, "0"),
        # P(y_5 = A) of Problem 2.3, exp(3) / (2 exp(3) + 4) = 0.4547: not rational, so a decimal
        (math.exp(3) / (2 * math.exp(3) + 4), "0.455"),
        (math.sqrt(2), "1.414"),
    ],
)
def test_cell_label_is_the_exact_fraction_where_rational(value, label):
    assert plots.cell_label(value) == label


def test_exact_fraction_rejects_large_denominators():
    from dlexam.exact import MAX_DENOMINATOR, exact_fraction

    assert exact_fraction(1 / (MAX_DENOMINATOR + 1)) is None
    assert exact_fraction(1 / 101) == Fraction(1, 101)
    assert exact_fraction(float("nan")) is None
    assert exact_fraction(math.pi) is None


def test_table_escapes_tokens_and_formats_numbers():
    html = page.table([("<START>", 0.123456789, 7)], ("token", "p", "n"))
    assert "&lt;START&gt;" in html and "<START>" not in html
    assert '<td data-label="p">0.1235</td>' in html and '<td data-label="n">7</td>' in html
    assert html.count("<th>") == 3


def test_any_table_accepts_the_shapes_libraries_return():
    records = page.any_table([{"batch": 1, "acc": 0.5}, {"batch": 2, "acc": 0.75, "note": "x"}])
    assert records.count("<th>") == 3 and ">note</td>" not in records and "<th>note</th>" in records
    columns_rows = page.any_table({"columns": ["a", "b"], "rows": [[1, 2], [3, 4]]})
    assert columns_rows.count("<tr>") == 3
    flat = page.any_table({"loss": 0.25})
    assert ">loss</td>" in flat and ">0.25</td>" in flat
    with pytest.raises(TypeError):
        page.any_table(3.5)


def test_figure_embeds_the_png_bytes_unchanged():
    png = plots.heatmap(np.array([[0.0, 0.5], [0.25, 1.0]]), title="t").png
    html = page.figure(png, "a <caption>")
    uri = html.split('src="', 1)[1].split('"', 1)[0]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == png
    assert "a &lt;caption&gt;" in html
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.width > 50 and im.height > 50
    with pytest.raises(ValueError):
        page.figure(b"GIF89a...", "not a png")


def test_heatmap_needs_a_matrix():
    with pytest.raises(ValueError):
        plots.heatmap(np.zeros(3), title="vector")


def test_error_box_names_the_failure():
    html = page.error_box("Section X", ModuleNotFoundError("No module named 'dlexam.nothing'"))
    assert 'class="error-box"' in html and "ModuleNotFoundError" in html and "dlexam.nothing" in html


def test_png_size_agrees_with_pillow_and_sets_the_figure_width():
    png = plots.heatmap(np.eye(3), title="eye", cell_inches=0.8).png
    with Image.open(io.BytesIO(png)) as im:
        assert page.png_size(png) == im.size
    assert f'<figure style="width:{im.size[0]}px">' in page.figure(png, "c")
    assert '<figure style="width:100px">' in page.figure(png, "c", width=100)


def test_geoff_attention_cells_read_as_the_exams_fractions():
    """The heatmap labels of P for "D A A <START> A D <STOP>" are the exam's P (Problem 2.2), typed in."""
    from dlexam.geoff import run_geoff

    exam_p = [
        ["1", "0", "0", "0", "0", "0", "0"],
        ["0", "1", "0", "0", "0", "0", "0"],
        ["0", "1/2", "1/2", "0", "0", "0", "0"],
        ["1/4", "1/4", "1/4", "1/4", "0", "0", "0"],
        ["0", "1/3", "1/3", "0", "1/3", "0", "0"],
        ["1/2", "0", "0", "0", "0", "1/2", "0"],
        ["1/7"] * 7,
    ]
    p = run_geoff("D A A <START> A D <STOP>", temperature=0.0).P.numpy()
    assert [[plots.cell_label(v) for v in row] for row in p] == exam_p


def test_nothing_measured_is_a_dash_not_none():
    """An audit saw Python's `None` in the skip-connections table, where the command line prints '-'."""
    assert page.fmt_number(None) == "-"
    assert "<td" in page.table([["plain", None]], ("net", "val acc")) and ">None<" not in page.table([["plain", None]])
    assert ">-</td>" in page.table([["plain", None]], ("net", "val acc"))


def test_backticked_commands_are_code_and_the_rest_is_escaped():
    """Commands were shown with their Markdown backticks (`dlexam answers`) instead of as code."""
    assert page.prose("run `dlexam answers` & see <b>") == "run <code>dlexam answers</code> &amp; see &lt;b&gt;"
    assert page.paragraph("by `dlexam report`") == "<p>by <code>dlexam report</code></p>"
    shown = page.table([[1]], caption="as `dlexam sort evaluate`")
    assert "<caption>as <code>dlexam sort evaluate</code></caption>" in shown


@pytest.fixture(scope="module")
def geoff_section_built(tmp_path_factory) -> tuple[str, dict]:
    """(the report's Geoff section as HTML, {title: (matrix, column labels)} of every heatmap it asked for): built
    once for the module, plots.heatmap recorded on the way. The recording draws nothing (drawing the section's 12
    heatmaps took 3.2 CPU-seconds): it returns a 1 x 1 picture, so the HTML is the section's own, its words, captions
    and alt texts, but for the pictures. The drawings themselves are the tiny report's (tests/report/conftest.py),
    which test_phone.py, test_build.py and test_browser.py look at; test_heatmap_legible.py draws Geoff's P. The
    tests only read it."""
    from dlexam.figures import Drawing
    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import geoff as geoff_section

    tmp_path = tmp_path_factory.mktemp("geoff-section")
    drawn, buf = {}, io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(buf, format="PNG")
    picture = Drawing(buf.getvalue(), buf.getvalue())

    def recording(m, **options):
        drawn[options["title"]] = (np.asarray(m), list(options.get("col_labels") or []))
        return picture

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(plots, "heatmap", recording)
        html = geoff_section.build(ReportContext(ReportSettings(), tmp_path / "work", tmp_path))
    return html, drawn


def test_the_two_head_finding_writes_the_product_as_an_equation(geoff_section_built):
    """An audit read "[Z Z] W_O = I₄ = Z times the sum of its 2 blocks" (W_O set equal to I₄ and to Z...); the
    product is [Z Z] I₄ = Z [I₂ I₂], as the answer key writes it (Pr2.4, exam weights: two heads of width 2)."""
    html, _ = geoff_section_built
    assert "because [Z Z] I₄ = Z [I₂ I₂], which is not Z W_O for the exam&#x27;s W_O." in html
    assert "= I₄ = Z times" not in html


def test_a_grid_of_small_images_restacks_four_to_a_row_at_their_drawn_size():
    drawing = plots.image_grid(np.random.default_rng(0).normal(size=(16, 5, 5)), title="grid", size_inches=0.9)
    (wide_w, _), (narrow_w, narrow_h) = page.png_size(drawing.png), page.png_size(drawing.narrow)
    assert wide_w > 700  # 8 images of 0.9 in to a row, at 110 dpi
    assert 350 <= narrow_w <= 420  # about 400 px wide
    assert 350 <= narrow_h <= 520  # 4 rows of 4 (2 to a row: 8 rows of 1.8 in, over 1,500 px)


def test_the_filter_grid_draws_its_colour_scale_symmetric_around_zero(monkeypatch):
    """The Conv-1 filters' grid had no colour bar (only its caption gave the scale). Both drawings now carry one,
    labelled, from -max|w| to +max|w| (max|w| = 0.8, typed by hand), with 0 at the diverging map's white middle."""
    import matplotlib.colors

    from dlexam.report import plots

    drawn = []
    monkeypatch.setattr(plots, "to_png", lambda fig, **kw: drawn.append(fig) or b"")
    monkeypatch.setattr(plots, "narrow_png", lambda fig, **kw: drawn.append(fig) or b"")
    filters = np.zeros((8, 5, 5))
    filters[0, 2, 2], filters[3, 0, 4] = 0.8, -0.5
    plots.image_grid(filters, title="Conv-1", scale_label="weight")
    assert len(drawn) == 2  # the desktop drawing and the narrow one
    for fig in drawn:
        bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
        assert len(bars) == 1
        bar = bars[0]._colorbar
        assert (bar.norm.vmin, bar.norm.vmax) == (-0.8, 0.8)
        assert bar.ax.get_xlabel() == "weight"
        assert [t.get_text() for t in bar.ax.get_xticklabels()] == ["\u22120.80", "0", "+0.80"]
        middle = matplotlib.colors.to_rgb(bar.cmap(bar.norm(0.0)))
        assert min(middle) > 0.9  # white-ish: RdBu_r's middle


def test_a_wide_heatmaps_narrow_drawing_keeps_its_rows_readable():
    rows, cols = 5, 12
    drawing = plots.heatmap(np.full((rows, cols), 0.5), title="wide", row_labels=list("ABCDE"))
    narrow_w, narrow_h = page.png_size(drawing.narrow)
    assert narrow_w <= 420
    assert narrow_h >= rows * 0.28 * 110  # rows at least 0.28 in tall at 110 dpi, not squeezed to the aspect


def _deepest_bracket(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        deepest = max(deepest, depth)
    assert depth == 0, text  # every bracket closed
    return deepest


@pytest.mark.parametrize("name", ["separable-logreg", "activations", "skip-connections", "attention-temperature",
                                  "batch-size", "pooling"])
def test_an_experiments_heading_nests_no_brackets(name):
    """Each experiment's heading names where the exam makes its claim; its claim sources carry brackets of their own
    ("Part 1, question 2 (worked solution)"), which the heading had put inside another pair."""
    import html
    import importlib
    import re

    from dlexam.experiments.registry import MODULES
    from dlexam.report.sections.experiments import render_experiment

    source = importlib.import_module(MODULES[name]).CLAIM_SOURCE
    out = render_experiment({"name": name, "claim": "a claim", "claim_source": source, "verdict": "supported",
                             "finding": "a finding"})
    heading = html.unescape(re.search(r"<strong>(The exam[^<]*)</strong>", out)[1])
    assert source in heading and heading.endswith(":")
    assert _deepest_bracket(heading) <= 1, heading


def test_the_confusion_caption_names_every_mistake_tied_as_the_most_common():
    """An audit read "The most common mistake: 0 read as 9 (6 times)" under a matrix where 7 read as 2 and 8 read
    as 0 also came 6 times each: the first of a tie was named as if it were the only one."""
    from dlexam.report.sections.cnn import confusion_caption

    m = np.diag([197, 196, 193, 179, 195, 190, 174, 196, 202, 171])
    m[0, 9] = m[7, 2] = m[8, 0] = 6  # the tie the report's --quick build drew
    m[1, 2] = m[3, 5] = 3
    caption = confusion_caption(m)
    assert "1,893 of 1,917 on the diagonal" in caption
    assert "3 mistakes tie as the most common, 6 times each: 0 read as 9, 7 read as 2 and 8 read as 0." in caption
    assert "The most common mistake:" not in caption
    m[7, 2] = m[8, 0] = 5  # one mistake alone at the top is still named as the one
    assert confusion_caption(m).endswith("The most common mistake: 0 read as 9 (6 times).")
    everywhere = np.ones((10, 10), dtype=int)  # 90 mistakes once each: four names, not ninety
    assert confusion_caption(everywhere).endswith(
        "90 mistakes tie as the most common, 1 time each: 0 read as 1, 0 read as 2, 0 read as 3 and 87 others.")


def test_the_answer_keys_links_to_quick_experiments_say_they_are_quick(tmp_path, exam_text, monkeypatch):
    """An audit read "Measured at scale: pooling" in the --quick report, over a pooling run of 2 epochs and one
    seed whose own finding begins "Quick run" and whose verdict is "inconclusive"."""
    import dlexam.answers
    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import answers as answers_section

    key = dlexam.answers.answer_key(["P1.2", "P2.1", "Pr1.1"])  # three questions an experiment measures
    monkeypatch.setattr(dlexam.answers, "answer_key", lambda ids=None: key)

    def links(settings):
        html = answers_section.build(ReportContext(settings, tmp_path / "work", tmp_path))
        return re.findall(r'<span class="note">([^<]*): <a href="#experiment-([a-z-]+)">', html)

    quick, full = links(ReportSettings(quick=True)), links(ReportSettings())
    assert [name for _, name in quick] == ["separable-logreg", "batch-size", "pooling"]
    assert {how for how, _ in quick} == {"Measured in a small, quick run"}
    assert {how for how, _ in links(ReportSettings(tiny=True))} == {"Measured in a small, quick run"}
    assert {how for how, _ in full} == {"Measured at scale"} and [n for _, n in full] == [n for _, n in quick]


def test_geoffs_heatmaps_name_the_columns_the_text_names(geoff_section_built):
    """An audit read "its columns come out swapped (A↔B, C↔D)" beside two heatmaps of R whose columns were
    numbered 1 2 3 4: nothing on the page said which column is A. R's columns are named after the symbols whose
    embeddings are those dimensions' unit vectors (the exam's E = [I₄; 0; 0]), so column A of R must be the
    logits' column A; and the two-head R's column A must be the one-head R's column B, as the text says."""
    html, drawn = geoff_section_built
    assert "its columns come out swapped (A↔B, C↔D)" in html
    logits, logit_cols = drawn["logits R Eᵀ"]
    assert logit_cols == ["A", "B", "C", "D", "<START>", "<STOP>"]  # the exam's vocabulary, E's rows
    one, two = drawn["R, one head, exam's W_O"], drawn["R, 2 identical heads, W_O = I₄"]
    for _, cols in (drawn["R = Z W_O"], one, two):
        assert cols == ["A", "B", "C", "D"]
    r, cols = drawn["R = Z W_O"]
    for j, name in enumerate(cols):
        assert np.array_equal(r[:, j], logits[:, logit_cols.index(name)])
    for a, b in (("A", "B"), ("C", "D")):
        assert np.array_equal(two[0][:, two[1].index(a)], one[0][:, one[1].index(b)])
    assert 'alt="Heatmap of R = Z W_O, 7 × 4: rows are the positions of' in html
    assert "columns 4 dimensions, named A B C D" in html


def test_the_loss_tables_conventions_read_as_the_cli_names_them():
    """An audit read the code names `exam` and `teacher_forcing` in the report's Loss (Problem 2.3) table; it
    names them as `dlexam geoff` prints them (typed here by hand)."""
    from types import SimpleNamespace

    from dlexam.report.sections.geoff import loss_table

    term = {"targets": ["A"], "rows": [4], "probabilities": [0.5], "value": 0.693}
    html = loss_table(SimpleNamespace(loss={"teacher_forcing": term, "exam": term}))
    assert "standard teacher forcing (logit row t predicts token t+1)" in html
    assert "the exam&#x27;s convention (each output token scored by its own row)" in html
    assert ">teacher_forcing<" not in html and ">exam<" not in html


def test_the_answer_keys_rows_are_anchored_as_on_answers_and_the_experiments_link_to_them(tmp_path, monkeypatch):
    """An audit followed index.html#Pr2.4 to nowhere (/answers#Pr2.4 works), and read "Part 1, question 2" in the
    experiments' table without a link to P1.2's row. The ids are /answers' (the question ids); separable-logreg
    measures P1.2's claim (the exam's Part 1, question 2), typed by hand."""
    import dlexam.answers
    from dlexam.answers.registry import Answer
    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import answers as answers_section
    from dlexam.report.sections.experiments import summary_table

    fake = [Answer(id=q, question="q", exam_answer="a", computed="c", verdict="agrees", evidence={})
            for q in ("P1.2", "Pr2.4")]
    monkeypatch.setattr(dlexam.answers, "answer_key", lambda: fake)
    html = answers_section.build(ReportContext(ReportSettings(tiny=True), tmp_path / "w", tmp_path))
    assert 'id="P1.2"' in html and 'id="Pr2.4"' in html
    done = {"separable-logreg": {"claim_source": "Part 1, question 2 (worked solution)", "verdict": "agrees"}}
    table = summary_table(["separable-logreg"], done)
    assert '<a href="#P1.2">Part 1, question 2 (worked solution)</a>' in table


def test_the_answer_keys_intro_says_which_conceptual_questions_an_experiment_measures(tmp_path, monkeypatch):
    """A student audit (2026-12-07) read "the experiments below measure them" of the 5 conceptual questions, but
    no experiment measures P1.5 (the auto-encoder's latent space): the intro names the ones an experiment measures
    and the one none does (typed by hand)."""
    import dlexam.answers
    from dlexam.answers.registry import Answer
    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import answers as answers_section

    fake = [Answer(id="P1.5", question="q", exam_answer="a", computed="c", verdict="conceptual", evidence={},
                   explanation="e"),
            Answer(id="P2.1", question="q", exam_answer="a", computed="c", verdict="conceptual", evidence={},
                   explanation="e", experiment="batch-size"),
            Answer(id="P1.2", question="q", exam_answer="a", computed="c", verdict="agrees", evidence={},
                   experiment="separable-logreg")]
    monkeypatch.setattr(dlexam.answers, "answer_key", lambda: fake)
    html = answers_section.build(ReportContext(ReportSettings(tiny=True), tmp_path / "w", tmp_path))
    intro = html.split("</p>", 1)[0]
    assert "measure them" not in intro, intro
    assert "the experiments below measure P2.1; none measures P1.5" in intro, intro


def test_the_sorters_accuracy_table_says_how_few_distinct_inputs_the_short_lengths_have(tmp_path):
    """An instructor's audit (2026-12-07): "200 random inputs per length" read 100.0% at length 2, where over A-D
    only 16 sequences exist and the draws repeat a few held-out ones; and the caption's `dlexam sort evaluate`
    command left out the report's seed (the command's default is 12345, the report's 0), so it drew other inputs.
    The oracle: every sequence of length 2 enumerated by itertools, held out or not by the split's rule."""
    import itertools

    import torch

    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import sorting
    from dlexam.sorting.data import is_heldout

    settings = ReportSettings(tiny=True)
    html = sorting.build(ReportContext(settings, tmp_path / "w", tmp_path))
    assert f"--seed {settings.seed}</code>" in html
    caption, body = re.search(r"<caption>(Held-out exact-match.*?)</caption>(.*?)</table>", html, re.S).groups()
    assert "distinct" in caption
    every = torch.tensor(list(itertools.product(range(4), repeat=2)))
    held = int(is_heldout(every, torch.full((16,), 2)).sum())
    assert 0 < held < 16
    row = re.search(r"<tr><td[^>]*>2</td><td[^>]*>(\d+)</td>", body)
    assert row is not None and int(row.group(1)) == held, body[:400]  # 50 draws of 2: both come


def test_geoffs_intro_names_every_garbled_matrix_it_shows(geoff_section_built):
    """An instructor's audit (2026-12-07): the intro said only the exam's "Z and R are garbled", beside a Q Kᵀ
    heatmap whose printed counterpart is garbled too (6 rows, the last of 8 entries: read by hand from the exam's
    Problem 2.2), and pointed to "the answer key above" without a link to the two rows that say how."""
    html, _ = geoff_section_built
    intro = html.split("</p>", 1)[0]
    assert "Q Kᵀ, Z and R" in intro, intro
    assert '<a href="#Pr2.2">' in intro and '<a href="#Pr2.3">' in intro, intro
