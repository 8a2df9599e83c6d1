"""/geoff's weight cells are named as the screen heads them (2026-12-07; both tests failed on the page before):

- a screen reader heard "E row 5, column 2" where the screen shows the row <START> and the column B; now each cell's
  accessible name, the page's refusals and the server's refusals of the same cell say "E, row <START>, column B"
  (dlexam.geoff.weights.cell_words). The oracle: the headers the page draws, and Version A's names typed by hand
  (E's rows the vocabulary A, B, C, D, <START>, <STOP>; W_Q's rows A..D; a head's columns d1, d2).
- a refused gradient step's error stayed on screen, beside a corrected lr, until the next step; now it goes once
  the lr is edited."""

from __future__ import annotations

import pytest

from .browser import EXAMPLE_Q, ready

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

# every editor's cells: [the matrix (its caption's first word), the row's header, the column's header, the name]
CELLS = """() => [...document.querySelectorAll("#editors table.editor")].flatMap((t) => {
  const name = t.closest("figure").querySelector("figcaption").textContent.split(" (")[0];
  const cols = [...t.rows[0].querySelectorAll("th")].map((th) => th.textContent);
  return [...t.rows].slice(1).flatMap((tr) => [...tr.querySelectorAll("input")].map((input, j) =>
    [name, tr.querySelector("th").textContent, cols[j], input.getAttribute("aria-label")]));
})"""


def test_a_weight_cell_is_named_as_the_screen_heads_it(page, server):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    cells = page.evaluate(CELLS)
    assert len(cells) == 6 * 4 + 3 * 4 * 2 + 2 * 4  # E, W_Q, W_K, W_V, W_O (one head)
    assert [c[3] for c in cells if c[3] != f"{c[0]}, row {c[1]}, column {c[2]}"] == []
    named = {c[3] for c in cells}
    for want in ("E, row <START>, column B", "E, row A, column A", "W_Q, row A, column d1", "W_V, row D, column d2",
                 "W_O, row d2, column D"):
        assert want in named, sorted(named)
    # the page's refusal names the cell so, and so does the server's for the same cell
    page.watch.refusals_expected = True
    page.locator('#edit-E input[aria-label="E, row <START>, column B"]').fill("")
    page.wait_for_selector("body[data-state=error]")
    assert "E, row <START>, column B is empty: type a number (such as 0.5, -2 or 1/3)" in page.text_content("#error")
    # the server says an empty cell in the page's words after the cell's name, left "" or null: it said "W_V, row A,
    # column d1: not a number: '' (write 1/4, 0.25 or 2.5e-1)" and "...: type a number (got an empty cell)"
    for empty in ("", "  ", None):
        status, _, r = server.post("/api/geoff", {"weights": {"W_V": [[empty, 3], [1, 2], [2, 1], [3, 0]]}})
        assert (status, r) == (400, {"error": "W_V, row A, column d1 is empty: type a number (such as 0.5, -2 or 1/3)",
                                     "field": "weights.W_V"}), (empty, r)
    status, _, r = server.post("/api/geoff", {"weights": {"W_V": [["1/0", 3], [1, 2], [2, 1], [3, 0]]}})
    assert (status, r["field"]) == (400, "weights.W_V"), r
    assert r["error"].startswith("W_V, row A, column d1: not a number: '1/0'"), r


def test_a_refused_steps_error_goes_once_the_lr_is_corrected(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    page.watch.refusals_expected = True
    page.fill("#lr", "abc")
    page.click("#step")
    page.wait_for_function("() => document.querySelector('#step-error').textContent.includes('lr')")
    page.fill("#lr", "0.1")  # corrected: the error about "abc" goes, and the page is ready for a step
    page.wait_for_function("() => document.querySelector('#step-error').textContent === ''", timeout=5000)
    ready(page)
    page.click("#step")
    page.wait_for_selector("#loss-after")
    assert page.text_content("#step-error") == ""
