"""The report's figures on a phone: 390 px wide, in headless Chromium driven by Playwright.

Every figure of every section (Geoff, sorting, CNN, experiments; the answer key has none) must read there: it
spans the content's full width and is shown at no less than 3/4 of the size it was drawn at (a two-panel figure
drawn for a desktop, squeezed into 350 px, shows its text at a third of its size). Its alt text and caption must
say what it shows, not a file name, and no two figures share an alt text. An experiment's are exactly the words
its own result.json gives it (the oracle: what the experiment measured); each of Geoff's names the exam's example
and its 7 positions; the compiled sorter's says it emits sorted(set(input)). On a desktop window the desktop
drawing is shown at its own size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .browser import playwright_tab

PHONE = 390  # an iPhone 12-15's CSS width
SHOWN_AT_LEAST = 0.75  # of the drawn size: text drawn at 10 pt stays above 7.5 pt

MEASURE = """() => Array.from(document.querySelectorAll("main figure")).map(f => {
  const img = f.querySelector("img"), r = img.getBoundingClientRect();
  return {shown: r.width, natural: img.naturalWidth, source: img.currentSrc.slice(0, 60),
          narrow_source: (f.querySelector("source") || {srcset: ""}).srcset.slice(0, 60),
          column: f.closest("section").getBoundingClientRect().width, section: f.closest("section").id,
          alt: img.alt, caption: f.querySelector("figcaption").textContent};
})"""


def measure(index, width: int) -> list[dict]:
    with playwright_tab(width, 800) as page:
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        return page.evaluate(MEASURE)


def said_by_the_experiments(index) -> set[tuple[str, str]]:
    """(alt, caption) of every figure, as the experiments' result.json files beside the page give them."""
    said = set()
    for result in sorted((index.parent / "experiments").glob("*/result.json")):
        data = json.loads(result.read_text())
        said |= {(c["alt"], c["caption"]) for c in data.get("captions", {}).values()}
    return said


def figure_files(index) -> list[str]:
    return [p.name for p in (index.parent / "experiments").glob("*/*.png")]


def test_every_figure_reads_on_a_phone(tiny_report):
    index, _ = tiny_report
    figures = measure(index, PHONE)
    per_section = {s: sum(f["section"] == s for f in figures) for s in ("geoff", "sorting", "cnn", "experiments")}
    assert min(per_section.values()) >= 2, per_section  # the browser test's three experiments draw two each
    stems = {n[: -len(".png")].replace("_", " ") for n in figure_files(index)}
    problems = []
    for f in figures:
        where = f"{f['section']} figure {f['alt'][:50]!r}"
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
    alts = [f["alt"] for f in figures]
    problems += [f"two figures share the alt text {a!r}" for a in sorted({a for a in alts if alts.count(a) > 1})]
    shown = {(f["alt"], f["caption"]) for f in figures if f["section"] == "experiments"}
    said = said_by_the_experiments(index)
    if shown != said:
        problems.append(f"alt texts and captions differ from the experiments' own: shown but not said "
                        f"{sorted(shown - said)[:2]}, said but not shown {sorted(said - shown)[:2]}")
    example = "D A A <START> A D <STOP>"  # the exam's Problem 2 example: every Geoff heatmap has a row per token
    for f in (f for f in figures if f["section"] == "geoff"):
        if f"“{example}”" not in f["alt"] or f"{len(example.split())} × " not in f["alt"]:
            problems.append(f"geoff figure {f['alt']!r} does not name the example's 7 positions")
    sorted_answer = " ".join(sorted(set("D A C A B D".split())))  # the sorting section's input, deduplicated
    compiled = [f for f in figures if f["section"] == "sorting" and f["caption"].startswith("Rows: decoding")]
    if len(compiled) != 1 or f"emits “{sorted_answer}”" not in compiled[0]["caption"]:
        problems.append(f"the compiled sorter's figure does not say it emits {sorted_answer}: {compiled}")
    assert not problems, "\n".join(problems)


def test_every_figure_on_a_desktop_is_the_desktop_drawing_at_its_size(tiny_report):
    index, _ = tiny_report
    for f in measure(index, 1280):
        assert f["source"] != f["narrow_source"], f["alt"]
        assert f["shown"] == pytest.approx(min(f["natural"], f["column"]), abs=2), f["alt"]


AXE = Path(__file__).parents[1] / "serve" / "vendor" / "axe.min.js"  # axe-core, vendored for the served pages


def axe_violations(index, width: int) -> list[str]:
    """What axe-core finds on the page at that width: `id (impact): help -- where`, one per rule broken."""
    with playwright_tab(width, 800) as page:
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        return page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} -- ` +
                v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
        }""")


@pytest.mark.parametrize("width", [PHONE, 1280])
def test_axe_finds_no_violation_in_the_report(tiny_report, width):
    """The report is read by screen readers and keyboards as the served pages are (tests/serve/test_a11y.py): axe-core
    finds no violation of its rules on the whole page, on a phone and on a desktop."""
    index, _ = tiny_report
    assert axe_violations(index, width) == []
