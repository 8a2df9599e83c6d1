"""The report's experiment figures on a phone: 390 px wide, in headless Chromium driven by Playwright.

Each figure must read there: it spans the content's full width and is shown at no less than 3/4 of the size it
was drawn at (a two-panel figure drawn for a desktop, squeezed into 350 px, shows its text at a third of its
size). Its alt text and caption must say what it shows: exactly the words the experiment's own result.json
gives it (the oracle: what the experiment measured), not its file name. On a desktop window the desktop
drawing is shown at its own size.
"""

from __future__ import annotations

import json

import pytest

from .browser import find_chromium

PHONE = 390  # an iPhone 12-15's CSS width
SHOWN_AT_LEAST = 0.75  # of the drawn size: text drawn at 10 pt stays above 7.5 pt

MEASURE = """() => Array.from(document.querySelectorAll("#experiments figure")).map(f => {
  const img = f.querySelector("img"), r = img.getBoundingClientRect();
  return {shown: r.width, natural: img.naturalWidth, source: img.currentSrc.slice(0, 60),
          narrow_source: (f.querySelector("source") || {srcset: ""}).srcset.slice(0, 60),
          column: f.closest("section").getBoundingClientRect().width,
          alt: img.alt, caption: f.querySelector("figcaption").textContent};
})"""


def measure(index, width: int) -> list[dict]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (scripts/ensure-chromium.sh installs Debian's chromium as root)")
    with sync_api.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        except Exception as exc:  # noqa: BLE001 - any launch failure means: no browser here
            pytest.skip(f"Chromium did not start: {str(exc).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.goto(index.as_uri())
            page.wait_for_load_state("load")
            return page.evaluate(MEASURE)
        finally:
            browser.close()


def said_by_the_experiments(index) -> set[tuple[str, str]]:
    """(alt, caption) of every figure, as the experiments' result.json files beside the page give them."""
    said = set()
    for result in sorted((index.parent / "experiments").glob("*/result.json")):
        data = json.loads(result.read_text())
        said |= {(c["alt"], c["caption"]) for c in data.get("captions", {}).values()}
    return said


def figure_files(index) -> list[str]:
    return [p.name for p in (index.parent / "experiments").glob("*/*.png")]


def test_experiment_figures_read_on_a_phone(tiny_report):
    index, _ = tiny_report
    figures = measure(index, PHONE)
    assert len(figures) >= 4, figures  # the browser test's three experiments draw two each
    stems = {n[: -len(".png")].replace("_", " ") for n in figure_files(index)}
    problems = []
    for f in figures:
        where = f"figure {f['alt'][:50]!r}"
        if f["shown"] < 0.95 * f["column"]:
            problems.append(f"{where} is {f['shown']:.0f} px wide in a {f['column']:.0f} px column")
        if f["shown"] < SHOWN_AT_LEAST * f["natural"]:
            problems.append(f"{where} is shown at {f['shown'] / f['natural']:.0%} of its drawn size "
                            f"({f['shown']:.0f} of {f['natural']} px)")
        if f["source"] != f["narrow_source"]:
            problems.append(f"{where} shows its desktop drawing on a phone")
        for text in (f["alt"], f["caption"]):
            if ".png" in text or text in stems or len(text.split()) < 8:
                problems.append(f"{where}: {text!r} does not say what the figure shows")
    shown = {(f["alt"], f["caption"]) for f in figures}
    said = said_by_the_experiments(index)
    if shown != said:
        problems.append(f"alt texts and captions differ from the experiments' own: shown but not said "
                        f"{sorted(shown - said)[:2]}, said but not shown {sorted(said - shown)[:2]}")
    assert not problems, "\n".join(problems)


def test_experiment_figures_on_a_desktop_are_the_desktop_drawing_at_its_size(tiny_report):
    index, _ = tiny_report
    for f in measure(index, 1280):
        assert f["source"] != f["narrow_source"], f["alt"]
        assert f["shown"] == pytest.approx(min(f["natural"], f["column"]), abs=2), f["alt"]
