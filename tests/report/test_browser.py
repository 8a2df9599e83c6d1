"""The report in a real browser (headless Chromium): every section is there and healthy, no image
is broken, nothing overflows its box, nothing is fetched from outside the page.

The checker itself is tested first, on a page made to fail each check.
"""

from __future__ import annotations

import base64

import pytest

from dlexam.report import ReportSettings, SectionSpec, build_report, default_sections, page, plots

from .browser import check_page

WIDTHS = (1280, 800, 500)  # a desktop window, a narrow one, a phone (500: headless Chromium's minimum)

BAD_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body { margin: 0; } main { width: 600px; }
pre { white-space: pre; } .wide td { white-space: nowrap; } .far { position: relative; left: 2000px; }
</style></head><body><main>
<section id="good" class="report-section" data-status="ok"><h2>Good</h2><img id="ok" src="%(png)s"></section>
<section id="bad" class="report-section" data-status="error"><h2>Bad</h2>
<div class="error-box">it failed</div>
<img id="broken" src="data:image/png;base64,AAAA">
<div class="box" style="width: 200px"><pre>%(long)s</pre></div>
<div style="width: 300px"><table class="wide"><tr><td>%(long)s</td></tr></table></div>
<p class="far">far away</p>
</section></main></body></html>"""


def test_the_checker_flags_every_kind_of_problem(tmp_path, chromium):
    png = page.png_data_uri(plots.heatmap([[0.0, 1.0]], title="ok").png)
    bad = tmp_path / "bad.html"
    bad.write_text(BAD_PAGE % {"png": png, "long": "x" * 400})
    r = check_page(bad, width=1000, chromium=chromium)

    assert [(s["id"], s["status"], s["error_boxes"]) for s in r["sections"]] == [
        ("good", "ok", 0), ("bad", "error", 1)]
    images = {i["index"]: i for i in r["images"]}
    assert images[0]["complete"] and images[0]["natural_width"] > 0  # the real PNG
    assert images[1]["natural_width"] == 0  # the broken one
    problems = {(o["element"].split(".")[0], o["problem"]) for o in r["overflows"]}
    assert ("div", "content wider than its box") in problems  # the 200px box around the long <pre>
    assert ("pre", "outside the window") in problems or ("pre", "content wider than its box") in problems
    assert any(o["element"].startswith("p") and o["problem"] == "outside the window" for o in r["overflows"])
    assert any(o["problem"] == "page wider than the window" for o in r["overflows"])


def test_the_checker_sees_what_comes_from_outside_the_page(tmp_path, chromium):
    other = tmp_path / "other.png"
    other.write_bytes(plots.heatmap([[1.0]], title="outside").png)
    p = tmp_path / "fetching.html"
    # port 9 (discard) on the loopback: refused at once, no network needed, but still a fetch
    p.write_text(f'<!DOCTYPE html><html><body><img src="{other.as_uri()}">'
                 '<img src="http://127.0.0.1:9/x.png"></body></html>')
    r = check_page(p, chromium=chromium)
    assert r["resources"] == ["http://127.0.0.1:9/x.png"]
    assert [i["embedded"] for i in r["images"]] == [False, False]
    assert r["images"][0]["natural_width"] > 0  # the file loaded, but it is not part of the page


def section_problems(r: dict) -> list[str]:
    problems = []
    expected = [(s.id, s.title) for s in default_sections()]
    shown = [(s["id"], s["title"]) for s in r["sections"]]
    if shown != expected:
        problems.append(f"sections shown {shown} != expected {expected}")
    for s in r["sections"]:
        if s["status"] != "ok" or s["error_boxes"]:
            problems.append(f"section {s['id']} is not healthy: status {s['status']}, {s['error_boxes']} error box(es)")
        if s["height"] < 100:
            problems.append(f"section {s['id']} is nearly empty ({s['height']:.0f} px high)")
        if s["id"] in FIGURE_SECTIONS and s["images"] == 0:
            problems.append(f"section {s['id']} shows no figure")
    problems += [f"table of contents link {t} has no target" for t in r["toc_targets_missing"]]
    return problems


def image_problems(r: dict) -> list[str]:
    if not r["images"]:
        return ["the report has no images"]
    problems = []
    for i in r["images"]:
        where = f"image {i['index']} ({i['alt']!r}, section {i['section']})"
        if not (i["complete"] and i["natural_width"] > 0 and i["natural_height"] > 0):
            problems.append(f"{where} is broken: {i}")
        if not i["embedded"]:
            problems.append(f"{where} is not embedded")
        if not 0 < i["shown_width"] <= r["viewport_width"]:
            problems.append(f"{where} is shown {i['shown_width']} px wide")
    return problems


def overflow_problems(r: dict) -> list[str]:
    problems = [f"{o['problem']}: {o}" for o in r["overflows"]]
    if r["document_scroll_width"] > r["viewport_width"]:
        problems.append(f"page is {r['document_scroll_width']} px wide in a {r['viewport_width']} px window")
    return problems


FIGURE_SECTIONS = ("geoff", "sorting", "cnn", "experiments")


def test_the_report_in_chromium(tiny_report, chromium, find_external_references):
    """The full report (every section, test size): healthy sections, whole images, no overflow, no fetch.

    One test, so that under pytest-xdist only one worker builds and loads the report.
    """
    index, summary = tiny_report
    problems = [f"section {s['id']} failed to build: {s['error']}" for s in summary["sections"] if not s["ok"]]
    problems += [f"the page refers outside itself: {ref}" for ref in find_external_references(index.read_text())]
    for width in WIDTHS:
        r = check_page(index, width=width, chromium=chromium)
        assert r["viewport_width"] == width
        found = section_problems(r) + image_problems(r) + overflow_problems(r)
        found += [f"a table cell {c['width']:.0f} px wide, its words broken: {c}" for c in r["narrow_cells"]]
        found += [f"fetched from outside the page: {url}" for url in r["resources"]]
        # no value broken inside a word or number at any width (a wide table scrolls sideways below 1000 px), no
        # header broken between two letters (only at a space, "_", "/" or "@")
        found += [f"a value broken across lines: {b}" for b in r["broken_values"]]
        found += [f"a header broken inside a word: {b}" for b in r["broken_headers"]]
        problems += [f"at {width} px: {p}" for p in found]
    assert not problems, "\n".join(problems[:40])


def test_a_failed_section_is_visible_in_the_browser(tmp_path, chromium):
    def broken(ctx):
        raise RuntimeError("the dependency broke")

    def fine(ctx):
        return page.figure(plots.heatmap([[1.0, 2.0]], title="fine"), "fine")

    specs = [SectionSpec("fine", "Fine", fine), SectionSpec("broken", "Broken", broken)]
    result = build_report(tmp_path, ReportSettings(tiny=True), sections=specs)
    r = check_page(result.path, chromium=chromium)
    sections = {s["id"]: s for s in r["sections"]}
    assert sections["fine"]["status"] == "ok" and sections["fine"]["images"] == 1
    assert sections["broken"]["status"] == "error"
    assert sections["broken"]["error_boxes"] == 1 and sections["broken"]["error_box_heights"][0] > 20
    assert "the dependency broke" in result.path.read_text()
    assert r["overflows"] == []
    png = base64.b64decode(page.png_data_uri(plots.heatmap([[1.0]], title="x").png).split(",", 1)[1])
    assert png.startswith(b"\x89PNG")


@pytest.mark.parametrize("width", [1280, 800])
def test_a_wide_tables_values_and_headers_are_not_broken_inside_a_word(tmp_path, chromium, width):
    """The activations experiment's 11 columns at 1280 px read "sigmoi" / "d", "defau" / "lt" and "0.77" / "6" (a
    number misread as two): the cells wrapped anywhere, so the table squeezed columns below their values' width.
    A student audit (2026-12-07) still read "2.8e-17" broken at 800 px, and headers "factor/bloc" / "k@init" and
    "activa" / "tion" at every width: below 1000 px the table now scrolls sideways in its box, and a header breaks
    only at a space, "_", "/" or "@"."""
    rows = [(act, init, 0.1423, 0.1476, 0.1452, 2.8e-17, 2.301, 0.12, 0.776, 0.096, 0.096)
            for act in ("sigmoid", "tanh", "relu") for init in ("default", "matched")]
    header = ("activation", "init", "factor/block@init min", "factor/block@init max", "factor/block@init",
              "first/last@init", "final train loss", "val acc worst", "val acc", "val acc worst @lr 0.1",
              "val acc @lr 0.1")
    html = page.render_page("t", "", [page.RenderedSection("s", "S", page.table(rows, header))])
    (tmp_path / "index.html").write_text(html)
    r = check_page(tmp_path / "index.html", width=width, chromium=chromium)
    assert r["broken_values"] == [] and overflow_problems(r) == [], (r["broken_values"], overflow_problems(r))
    assert r["broken_headers"] == [], r["broken_headers"]
