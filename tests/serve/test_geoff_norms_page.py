"""/geoff's Problem 2.5 numbers in Chromium: each gradient norm of Problem 2.5's table and each result of the "gradient
step" button is explained by click and by keyboard like every other number (an ARIA grid or a button, Enter and
Space, a spoken name, the explanation panel). The panel shows the library's explanation (dlexam.geoff.explain, on
the model at the T of the norm's row; a step's results on the weights before the step, with its lr), and its
arithmetic gives the number autograd gives on the exam's model typed in (tests/serve/test_exactness.oracle)."""

from __future__ import annotations

import math
import re

import pytest

from dlexam import geoff
from dlexam.geoff.explain import explain
from dlexam.geoff.step import StepSettings

from .browser import EXAMPLE, EXAMPLE_Q, counter, params, ready
from .test_a11y import axe_violations
from .test_exactness import disagreement, oracle
from .test_geoff_explain_page import marked, shown
from .test_keyboard import FOCUSED, press, tab_to

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")
PARAMS = ("W_Q", "W_K", "W_V", "W_O")


def norm(g) -> float:
    """The Frobenius norm of a gradient as nested lists (one head's: the oracle's [head][row][col], or [row][col])."""
    flat = [v for row in (g[0] if isinstance(g[0][0], list) else g) for v in row]
    return math.sqrt(sum(v * v for v in flat))


def written_norm(summary: str) -> float:
    """The arithmetic a norm's explanation writes, evaluated: sqrt of the sum of the squares it lists."""
    inside = summary.split("sqrt(", 2)[2].rsplit(") = sqrt(", 1)[0]  # after "sqrt(the sum of ...) = sqrt("
    values = [float(x.split("/")[0]) / float(x.split("/")[1]) if "/" in x else float(x)
              for x in re.findall(r"\(?(-?\d[\d./e+-]*)\)?\^2", inside)]
    return math.sqrt(sum(v * v for v in values))


def test_a_gradient_norm_by_click_at_the_T_of_its_row(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5&grad=1")
    ready(page)
    query = geoff.GeoffQuery(EXAMPLE, temperature=0.5)
    page.locator("#grad-norms tr[data-t='0'] td").nth(0).click()  # T = 0's W_Q: exactly 0, and why
    got = shown(page, "norm[W_Q,T=0]")
    assert got["summary"] == explain(query, "norm[W_Q,T=0]").summary and got["exact"] == "0"
    assert "piecewise constant" in page.text_content("#explain") and params(page)["explain"] == "norm[W_Q,T=0]"
    assert page.locator("#grad-norms td.picked").count() == 1 and page.locator("#grads .source").count() == 0
    want = {t: oracle(t)["grads"] for t in (0.0, 0.5, math.sqrt(2))}
    for row, cell, t in (("[data-t='0']", "norm[W_V,T=0]", 0.0), ("[data-t='sqrt']", "norm[W_O,T=sqrt]", math.sqrt(2)),
                         ("[data-temperature='current']", "norm[W_V]", 0.5)):
        m = re.match(r"norm\[(\w+)", cell).group(1)
        page.locator(f"#grad-norms tr{row} td").nth(PARAMS.index(m)).click()
        got = shown(page, cell)
        value = norm(want[t][m])  # autograd on the exam's model at the T of the row, not the page's
        assert disagreement(got["exact"], value) is None, (cell, got["exact"], value)
        assert written_norm(got["summary"]) == pytest.approx(value, abs=2e-4), (cell, got["summary"])
        assert got["summary"] == explain(query, cell).summary
    # the page's own T: the gradient it came from lights up (its 8 entries); another T's does not (not on the page)
    assert len(marked(page, "grad-W_V", "source")) == 8
    page.reload()  # the cell is in the URL
    assert shown(page, "norm[W_V]")["summary"] == explain(query, "norm[W_V]").summary


def test_a_gradient_norm_by_keyboard(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    query = geoff.GeoffQuery(EXAMPLE)
    page.focus("#seq")
    at = tab_to(page, "e.closest('#grad-norms')")  # the table is one Tab stop, an ARIA grid
    assert at["cell"] == "norm[W_Q,T=0]" and at["grid"] == "grad-norms" and at["visible"], at
    assert at["name"] == "gradient norm, |d loss / d W_Q| at T=0 (argmax): 0 (frozen)", at
    page.keyboard.press("Enter")
    got = shown(page, "norm[W_Q,T=0]")
    assert got["summary"] == explain(query, "norm[W_Q,T=0]").summary and got["exact"] == "0"
    at = press(page, "ArrowDown", "ArrowRight", "ArrowRight")
    assert at["cell"] == "norm[W_V,T=sqrt]" and at["name"].startswith("gradient norm, |d loss / d W_V| at T=sqrt"), at
    page.keyboard.press(" ")
    got = shown(page, "norm[W_V,T=sqrt]")
    assert got["summary"] == explain(query, "norm[W_V,T=sqrt]").summary
    assert disagreement(got["exact"], norm(oracle(math.sqrt(2))["grads"]["W_V"])) is None
    assert page.evaluate(FOCUSED)["cell"] == "norm[W_V,T=sqrt]"  # the focus stays on the number
    assert page.get_by_role("grid", name="gradient norms (Problem 2.5)").count() == 1
    assert axe_violations(page) == []


def manual_step(T: float, lr: float = 0.1) -> tuple[dict, dict, float]:
    """One SGD step by hand on W_Q, W_K, W_V, W_O: (max |change| per matrix, the stepped weights, the loss after)."""
    before = {"W_Q": [[0, 3], [1, 2], [2, 1], [3, 0]], "W_O": [[0, 1, 0, 1], [1, 0, 1, 0]]}
    before["W_K"] = before["W_V"] = before["W_Q"]
    g = oracle(T)["grads"]
    after, change = {}, {}
    for m in PARAMS:
        gm = g[m][0] if m != "W_O" else g[m]
        after[m] = [[w - lr * d for w, d in zip(wr, gr, strict=True)] for wr, gr in zip(before[m], gm, strict=True)]
        change[m] = max(abs(a - b) for ar, br in zip(after[m], before[m], strict=True)
                        for a, b in zip(ar, br, strict=True))
    return change, after, oracle(T, edits=after)["loss"]["teacher_forcing"][0]


def step(page) -> None:
    n = counter(page, "rendered")
    page.click("#step")
    ready(page, rendered=n + 1)


def test_a_gradient_steps_results_by_click(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    step(page)
    query, lr = geoff.GeoffQuery(EXAMPLE), StepSettings(0.1)  # the step's weights: the exam's, before it
    change, _, loss_after = manual_step(0.0)
    page.click("#step-moved tr[data-matrix='W_V'] td.change")
    got = shown(page, "change[W_V]")
    assert got["summary"] == explain(query, "change[W_V]", lr).summary
    assert disagreement(got["exact"], change["W_V"]) is None and "0.1 x |d loss / d W_V[" in got["summary"]
    lr_times = re.search(r"= 0\.1 x \|(-?[\d.]+)\| = ", got["summary"]).group(1)  # the entry, as shown
    assert 0.1 * abs(float(lr_times)) == pytest.approx(change["W_V"], abs=1e-5)
    assert "before the gradient step" in page.text_content("#explain") and "explain" not in params(page)
    assert page.locator("#step-moved td.picked").count() == 1
    page.click("#step-moved tr[data-matrix='W_K'] td.change")  # frozen at T = 0, and why
    got = shown(page, "change[W_K]")
    assert got["exact"] == "0" and "piecewise constant" in page.text_content("#explain")
    page.click("#loss-after")
    got = shown(page, "loss_after")
    assert disagreement(got["exact"], loss_after) is None, (got, loss_after)
    assert got["summary"] == explain(query, "loss_after", lr).summary
    assert page.locator("#step-result .picked").count() == 1
    n = counter(page, "rendered")
    page.check("#t-sqrt")  # another input: the step's table leaves, and its explanation with it
    ready(page, rendered=n + 1)
    assert page.text_content("#explain") == "" and page.get_attribute("#explain-panel", "data-cell") is None


def test_a_gradient_steps_results_by_keyboard(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5")
    ready(page)
    step(page)
    query, lr = geoff.GeoffQuery(EXAMPLE, temperature=0.5), StepSettings(0.1)
    change, _, loss_after = manual_step(0.5)
    page.focus("#seq")
    at = tab_to(page, "e.closest('#step-moved')")
    assert at["cell"] == "change[W_Q]" and at["grid"] == "step-moved" and at["visible"], at
    assert at["name"].startswith("max |change| of W_Q in the gradient step: "), at
    at = press(page, "ArrowDown", "ArrowDown", "Enter")
    assert at["cell"] == "change[W_V]", at
    got = shown(page, "change[W_V]")
    assert got["summary"] == explain(query, "change[W_V]", lr).summary
    assert disagreement(got["exact"], change["W_V"]) is None
    at = press(page, "ArrowRight", " ")  # |gradient|: the norm of the gradient the step applies
    assert at["cell"] == "step_norm[W_V]", at
    assert at["name"].startswith("|gradient| the gradient step applies to W_V: "), at
    got = shown(page, "step_norm[W_V]")
    assert got["summary"] == explain(query, "step_norm[W_V]", lr).summary
    assert disagreement(got["exact"], norm(oracle(0.5)["grads"]["W_V"])) is None
    at = tab_to(page, "e.id === 'loss-after'", most=5)  # a button
    assert at["cell"] == "loss_after" and at["name"].startswith("loss after the gradient step: "), at
    page.keyboard.press("Enter")
    got = shown(page, "loss_after")
    assert disagreement(got["exact"], loss_after) is None
    assert axe_violations(page) == []


def test_two_identical_heads_step_table_shows_the_norm_of_the_gradient_the_step_applies(page):
    """With two identical heads the heads share W_Q, W_K, W_V and the step moves each by lr x the heads' summed
    gradient: the step table's |gradient| is that sum's norm (autograd: the oracle's per-head copies' gradients
    added, which is the gradient of one shared matrix), and its explanation's arithmetic gives the same number."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=sqrt&heads=2")
    ready(page)
    step(page)
    g = oracle(math.sqrt(2), heads=2)["grads"]
    shared = {m: [[sum(h[i][j] for h in g[m]) for j in range(2)] for i in range(4)] for m in ("W_Q", "W_K", "W_V")}
    for m in ("W_Q", "W_K", "W_V"):
        shown_norm = float(page.text_content(f"#step-moved tr[data-matrix='{m}'] td.gnorm"))
        assert shown_norm == pytest.approx(norm(shared[m]), rel=2e-3), (m, shown_norm, norm(shared[m]), norm(g[m]))
    page.click("#step-moved tr[data-matrix='W_V'] td.gnorm")
    got = shown(page, "step_norm[W_V]")
    assert disagreement(got["exact"], norm(shared["W_V"])) is None, got
    assert "sum of the heads' gradients" in page.text_content("#explain")
    assert page.locator("#step-moved td.picked").count() == 1


@pytest.mark.parametrize("url_t, typed, row", [
    ("0.5", "norm[W_Q,T=0.5]", "[data-temperature='current']"),  # the page's own row, named with its T
    ("0.5", "norm[W_Q, T=.5]", "[data-temperature='current']"),  # another spelling of the same T
    ("sqrt", "norm[W_Q]", "[data-t='sqrt']"),  # the page's T is a row of Problem 2.5's table (no row of its own)
    ("0", "norm[W_V]", "[data-t='0']"),
])
def test_a_typed_norm_outlines_the_number_it_explains(page, url_t, typed, row):
    """A norm typed into the cell box is outlined in Problem 2.5's table wherever that number is, however the cell is
    spelled: it was outlined only where the table's own name for it was typed (norm[W_Q,T=0.5] on a page at T = 0.5
    lit up the 8 entries of dW_Q it came from, and not the norm itself, which the table names norm[W_Q])."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={url_t}&grad=1")
    ready(page)
    page.fill("#explain-cell", typed)
    page.click("#explain-form button[type=submit]")
    page.wait_for_selector("#explain-panel[data-cell]")
    m = re.match(r"norm\[(\w+)", typed).group(1)
    want = page.locator(f"#grad-norms tr{row} td").nth(PARAMS.index(m))
    assert "picked" in want.get_attribute("class"), page.get_attribute("#explain-panel", "data-cell")
    assert page.locator("#grad-norms td.picked").count() == 1
    assert len(marked(page, f"grad-{m}", "source")) == 8  # the gradient at the page's own T, on the page


def test_two_identical_heads_norms_table_shows_the_gradient_the_step_applies(page):
    """Problem 2.5's table with two identical heads: each of W_Q, W_K, W_V is one matrix the heads share, and a step
    moves it by lr x the heads' summed gradient, so its norm in the table is that sum's (the oracle's per-head
    gradients added: the gradient of one shared matrix), the same number as the step table's |gradient|; each head's
    part is listed under the table. The table had shown the norm over both heads' 16 entries (W_V: 1.003, 0.8381)."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=sqrt&heads=2&grad=1")
    ready(page)
    g = oracle(math.sqrt(2), heads=2)["grads"]
    shared = {m: [[sum(h[i][j] for h in g[m]) for j in range(2)] for i in range(4)] for m in ("W_Q", "W_K", "W_V")}
    for m in ("W_Q", "W_K", "W_V"):
        cell = page.locator("#grad-norms tr[data-t='sqrt'] td").nth(PARAMS.index(m))
        assert float(cell.text_content()) == pytest.approx(norm(shared[m]), rel=2e-3), (m, norm(g[m]))
    parts = page.text_content("#grad-head-parts")
    assert "|g1 + g2|" in parts and f"|g1| = {norm([g['W_V'][0]]):.4g}" in parts, parts
    table = float(page.locator("#grad-norms tr[data-t='sqrt'] td").nth(PARAMS.index("W_V")).text_content())
    step(page)  # the step's table is of the weights before it (the norms table then shows the stepped weights')
    shown_step = float(page.text_content("#step-moved tr[data-matrix='W_V'] td.gnorm"))
    assert shown_step == pytest.approx(table, rel=2e-3)


def test_the_step_table_reads_as_its_explanations_end(page):
    """The step table wrote its numbers to 3 significant digits: W_V's |gradient| "1.46" beside its explanation's
    "= 1.4570", W_O's max |change| "0.272" beside "= 0.2723". Now 4 decimals, a frozen matrix's "0" as its
    explanation's. Oracle: the step worked by hand (manual_step) and autograd's gradients (oracle), at T = 0."""
    from dlexam.spec.numbers import decimal_text

    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    step(page)
    change, _, _ = manual_step(0.0)
    g = oracle(0.0)["grads"]
    for m in PARAMS:
        row = f"#step-moved tr[data-matrix='{m}']"
        want_change = "0" if change[m] == 0 else decimal_text(change[m])
        gm = g[m][0] if m != "W_O" else g[m]
        want_norm = "0" if norm(gm) == 0 else decimal_text(norm(gm))
        assert page.text_content(f"{row} td.change") == want_change, m
        assert page.text_content(f"{row} td.gnorm") == want_norm, m
    assert page.text_content("#step-moved tr[data-matrix='W_V'] td.gnorm") == "1.4570"  # as the audit read it
