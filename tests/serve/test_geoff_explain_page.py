"""/geoff's "click any number" (issue 20 item 1) in Chromium: every kind of cell clicked shows the library's explanation
(dlexam.geoff.explain, the oracle its own tests check against Fractions and the float64 model), the cells it came
from light up, the explanation follows the inputs and leaves with a refused one; a variant's transformer is drawn
with its own labels (from the API, not typed in the page)."""

from __future__ import annotations

import pytest

from dlexam import geoff
from dlexam.geoff.explain import explain

from .browser import EXAMPLE, EXAMPLE_Q, counter, params, ready

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")
WAIT_MS = 10_000


def click_cell(page, table: str, i: int, j: int) -> None:
    page.locator(f"#{table} tr:has(td:not(.corner)) >> nth={i}").locator("td:not(.corner)").nth(j).click()


def shown(page, cell: str, heads: int | None = None) -> dict:
    """The explanation of `cell` once it is on the page (of the `heads`-head model, where given)."""
    of = "" if heads is None else f"[data-heads='{heads}']"
    page.wait_for_selector(f"#explain-panel[data-cell='{cell}']{of}", timeout=WAIT_MS)
    return {"summary": page.text_content("#explain .explain-summary"),
            "exact": page.text_content("#explain .explain-exact"),
            "value": page.text_content("#explain .explain-value")}


def marked(page, table: str, cls: str) -> list[list[int]]:
    return page.eval_on_selector(f"#{table}", """(t, cls) => {
        const rows = [...t.rows].filter((r) => r.querySelector('td:not(.corner)'));
        const out = [];
        rows.forEach((r, i) => [...r.querySelectorAll('td:not(.corner)')].forEach((td, j) => {
          if (td.classList.contains(cls)) out.push([i, j]); }));
        return out; }""", cls)


def test_click_every_kind_of_number_and_see_its_arithmetic(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    query = geoff.GeoffQuery(EXAMPLE)
    for table, i, j, cell in [("P-h0", 3, 0, "P[3,0]"), ("scores-h0", 5, 1, "S[5,1]"), ("Z-h0", 6, 1, "Z[6,1]"),
                              ("R", 6, 0, "R[6,0]"), ("logits", 4, 2, "logits[4,2]"), ("X", 0, 3, "X[0,3]"),
                              ("Q-h0", 1, 1, "Q[1,1]"), ("grad-W_V", 0, 1, "dW_V[0,1]"), ("grad-E", 4, 0, "dE[4,0]"),
                              ("probs-teacher_forcing", 1, 0, "loss[5]")]:
        click_cell(page, table, i, j)
        got, want = shown(page, cell), explain(query, cell).to_json()
        assert got["summary"] == want["summary"], cell
        assert got["exact"] == want["exact"] and float(got["value"]) == want["value"], cell
        assert params(page)["explain"] == cell
    page.click("#loss-exam")  # the whole loss
    got = shown(page, "loss")
    assert "4.2114" in got["summary"] and got["summary"] == explain(query, "loss").summary


def test_the_cells_a_number_came_from_light_up(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    click_cell(page, "P-h0", 3, 0)
    got = shown(page, "P[3,0]")
    assert got["summary"] == "P[<START>, :]: the scores 0, 0, 0, 0 tie, so argmax shares the weight: 1/4 each"
    assert got["exact"] == "1/4"
    assert marked(page, "scores-h0", "source") == [[3, 0], [3, 1], [3, 2], [3, 3]]  # the visible scores of its row
    assert marked(page, "P-h0", "picked") == [[3, 0]]
    click_cell(page, "Z-h0", 6, 1)
    assert shown(page, "Z[6,1]")["summary"] == "Z[<STOP>] = 1/7 (v_D + v_A + v_A + v_<START> + v_A + v_D + v_<STOP>)" \
                                               " = (6/7, 9/7)"
    assert marked(page, "P-h0", "source") == [[6, j] for j in range(7)]
    assert len(marked(page, "V-h0", "source")) == 14 and marked(page, "scores-h0", "source") == []
    page.reload()  # the explanation is in the URL
    assert shown(page, "Z[6,1]")["exact"] == "9/7"


def test_the_one_head_R_beside_k_heads_is_the_one_heads(page):
    """Problem 2.4's view: a click on the one-head R explains it on the one-head model (the cell and its head count,
    as /practice's cells carry theirs), outlines that number only (the one-head Z and W_O it came from are not on
    the page), keeps it in the URL, and stays the one-head model's when the inputs change."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&heads=2")
    ready(page)
    one = geoff.GeoffQuery(EXAMPLE, heads=1)
    click_cell(page, "R-one", 3, 1)
    got = shown(page, "R[3,1]", heads=1)
    assert got["summary"] == explain(one, "R[3,1]").summary and got["exact"] == "3/4"
    assert marked(page, "R-one", "picked") == [[3, 1]] and marked(page, "R-two", "picked") == []
    assert marked(page, "R", "picked") == [] and page.locator("#matrices .source").count() == 0
    assert params(page)["explain"] == "R[3,1]" and params(page)["explainHeads"] == "1"
    assert "one head" in page.text_content("#explain")
    click_cell(page, "R-two", 3, 1)  # the k heads' R: the page's own model, outlined above and beside
    got = shown(page, "R[3,1]", heads=2)
    assert got["exact"] == "3/2" and "explainHeads" not in params(page)
    assert marked(page, "R-two", "picked") == [[3, 1]] == marked(page, "R", "picked")
    assert marked(page, "R-one", "picked") == [] and len(marked(page, "Z-h1", "source")) == 2
    click_cell(page, "R-one", 6, 0)
    shown(page, "R[6,0]", heads=1)
    page.reload()  # the cell and its model are in the URL
    assert shown(page, "R[6,0]", heads=1)["exact"] == "9/7"
    n = counter(page, "rendered")
    page.check("#t-sqrt")  # a new T: still the one-head model's R
    ready(page, rendered=n + 1)
    want = explain(geoff.GeoffQuery(EXAMPLE, temperature="sqrt", heads=1), "R[6,0]").to_json()
    page.wait_for_function("(s) => document.querySelector('#explain .explain-summary').textContent === s",
                           arg=want["summary"], timeout=WAIT_MS)
    assert page.get_attribute("#explain-panel", "data-heads") == "1"


def test_an_open_explanation_follows_the_inputs_and_leaves_with_a_refused_one(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&explain=Z[5,0]")
    ready(page)
    assert shown(page, "Z[5,0]")["summary"] == "Z[D (position 6)] = 1/2 (v_D + v_D) = (3, 0)"
    n = counter(page, "rendered")
    page.check("#t-sqrt")
    ready(page, rendered=n + 1)
    want = explain(geoff.GeoffQuery(EXAMPLE, temperature="sqrt"), "Z[5,0]").to_json()
    page.wait_for_function("(s) => document.querySelector('#explain .explain-summary').textContent === s",
                           arg=want["summary"], timeout=WAIT_MS)
    assert page.text_content("#explain .explain-exact") == want["exact"] != "3"
    page.watch.refusals_expected = True
    page.fill("#seq", "D A E")
    page.wait_for_selector("body[data-state=error]", timeout=WAIT_MS)
    assert page.text_content("#explain") == "" and page.get_attribute("#explain-panel", "data-cell") is None
    page.fill("#seq", "D A")  # a valid input without row 5: the explanation says why it is gone
    ready(page)
    page.wait_for_function("() => document.querySelector('#explain-error').textContent.includes('got 5')",
                           timeout=WAIT_MS)


def test_explain_from_the_keyboard(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5&heads=2")
    ready(page)
    page.fill("#explain-cell", "P[h2,4,0]")
    page.press("#explain-cell", "Enter")
    got = shown(page, "P[h2,4,0]")
    want = explain(geoff.GeoffQuery(EXAMPLE, temperature=0.5, heads=2), "P[h2,4,0]").to_json()
    assert got["summary"] == want["summary"] and "e^18" in got["summary"]
    page.watch.refusals_expected = True
    page.fill("#explain-cell", "P[4,0]")  # two heads: the head is needed
    page.press("#explain-cell", "Enter")
    page.wait_for_function("() => document.querySelector('#explain-error').textContent.includes('head first')",
                           timeout=WAIT_MS)


def test_a_variants_transformer_has_its_own_labels_from_the_api(page):
    from dlexam.geoff.weights import axis_labels
    from dlexam.variants import make_variant

    t = make_variant(7, "harder").spec.transformer
    w = geoff.GeoffWeights.from_spec(t)
    page.goto(f"{page.base}/geoff?variant=7&difficulty=harder&heads={t.heads}")
    ready(page)
    rows = page.eval_on_selector_all("#edit-E th[scope=row]", "ths => ths.map((t) => t.textContent)")
    assert rows == list(t.vocab)
    cols = page.eval_on_selector_all("#R tr:first-child th", "ths => ths.map((t) => t.textContent)")
    assert cols == list(axis_labels(w)["dims"])
    # E's columns are the same axis as R's (logits = R E^T): one name for it in every matrix (2026-12-07: E's were d1..)
    e_cols = page.eval_on_selector_all("#edit-E tr:first-child th", "ths => ths.map((t) => t.textContent)")
    x_cols = page.eval_on_selector_all("#X tr:first-child th", "ths => ths.map((t) => t.textContent)")
    assert e_cols == x_cols == cols
    assert page.input_value("#seq") == " ".join(t.example) and "variant 7 (harder)" in page.text_content("#model-line")
    click_cell(page, "Z-h1", 3, 0)
    want = explain(geoff.GeoffQuery(" ".join(t.example), heads=t.heads, weights=w), "Z[h2,3,0]").to_json()
    assert shown(page, "Z[h2,3,0]")["summary"] == want["summary"]


def test_the_sqrt_d_k_of_Ps_caption_is_a_number_to_click(page):
    """At T = sqrt(d_k) each head's P caption says the T it was computed at; that number is explained like every
    other (dlexam.geoff.explain's sqrt_d_k: d_k from the model's weights, its root computed there): by click and by
    keyboard, the W_Q editor's columns (d_k of them) lit up as where it comes from. The oracle: d_k counted here as
    the W_Q editor's columns, its square root taken here."""
    import math

    from .test_a11y import axe_violations
    from .test_exactness import disagreement
    from .test_keyboard import press, tab_to

    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=sqrt&heads=2")
    ready(page)
    d_k = page.locator("#edit-W_Q tr").first.locator("th").count()  # the editor's column headers
    assert d_k == 2
    query = geoff.GeoffQuery(EXAMPLE, temperature="sqrt", heads=2)
    number = page.locator("#P-h1-caption [data-cell='sqrt_d_k']")
    assert number.text_content() == f"sqrt(d_k) = {math.sqrt(d_k):.4f}"
    number.click()
    got = shown(page, "sqrt_d_k")
    assert got["summary"] == explain(query, "sqrt_d_k").summary
    assert disagreement(got["exact"], math.sqrt(d_k)) is None and "sqrt(2)" in page.text_content("#explain")
    assert page.locator("[data-cell='sqrt_d_k'].picked").count() == 2  # each head's caption
    assert len(marked(page, "edit-W_Q", "source")) == 4 * d_k  # W_Q's d_k columns
    assert params(page)["explain"] == "sqrt_d_k"
    page.fill("#explain-cell", "P[h1,3,0]")
    page.click("#explain-form button[type=submit]")
    shown(page, "P[h1,3,0]")
    page.focus("#seq")
    at = tab_to(page, "e.dataset.cell === 'sqrt_d_k'")
    assert at["name"].startswith("sqrt(d_k), the temperature of P: "), at
    press(page, "Enter")
    shown(page, "sqrt_d_k")
    assert axe_violations(page) == []
    n = counter(page, "rendered")
    page.check("#t-zero")  # T = 0: P's caption says argmax, nothing to explain there
    ready(page, rendered=n + 1)
    assert page.locator("#matrices [data-cell='sqrt_d_k']").count() == 0
