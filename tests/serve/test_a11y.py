"""Accessibility (issue 20 item 5): axe-core finds no violation on any page, in any state a test can put it in, at
360, 700 and 1280 px (one width in each layout band of the style sheet), and no page scrolls sideways at 360, 500,
700, 800 or 1280 px; the radio groups have names, results are announced, the
/answers filters say which is pressed, and "gradient step" is a few Tab presses from the sequence field.

axe-core is vendored (tests/serve/vendor/axe.min.js, npm axe-core 4.14.1, MPL-2.0: its LICENSE beside it) and
evaluated in the page through the DevTools protocol: nothing is fetched at run time, and the pages' own
Content-Security-Policy stays as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from .browser import EXAMPLE_Q, counter, open_page, ready
from .test_browser import _seven

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def axe_violations(page, within: list[str] | None = None) -> list[str]:
    """axe-core's violations on the page, or only within the elements of the CSS selectors `within` (axe-core is
    evaluated into the page once per document)."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    found = page.evaluate("""async (within) => {
        const r = await axe.run(within ? {include: within.map((s) => [s])} : document, {resultTypes: ["violations"]});
        return r.violations.map((v) => `${v.id} (${v.impact}): ${v.help} -- ` +
            v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | "));
    }""", within)
    return found


def states(port: int):
    """Each page in the states a user reaches (a URL, then maybe an action)."""
    base = f"http://127.0.0.1:{port}"
    img = _seven()

    def step(page):
        n = counter(page, "rendered")
        page.click("#step")
        ready(page, rendered=n + 1)

    def bad_token(page):
        page.watch.refusals_expected = True
        page.fill("#seq", "D A E")
        page.wait_for_selector("body[data-state=error]")

    def explain(page):
        page.click("#p-3")
        page.wait_for_selector("#explain-panel[data-at='logits:3']")
        page.select_option("#explain-layer", "conv2")
        page.fill("#explain-at", "1,0,0")
        page.press("#explain-at", "Enter")
        page.wait_for_selector("#explain-panel[data-at='conv2:1,0,0']")

    def keyboard_draw(page):  # the pad focused, its cursor shown, a stroke drawn by keyboard and predicted
        page.focus("#pad")
        for key in ["ArrowRight"] * 7 + ["ArrowDown", "Space"] + ["Shift+ArrowDown"] * 8:
            page.keyboard.press(key)
        ready(page)

    def example(page):  # /cnn's examples (the shared data's real SVHN crops): a 5 shown; without them, the note
        page.wait_for_selector("body[data-examples]")
        if page.locator("#example option[value='svhn_dev:5']").count() == 0:
            return
        page.select_option("#example", "svhn_dev:5")
        page.click("#example-go")
        ready(page, example="svhn_dev:5")

    def explain_cells(page):
        page.click("#P-h0 tr:nth-child(5) td:nth-of-type(1)")  # P[3,0], the <START> row
        page.wait_for_selector("#explain-panel[data-cell='P[3,0]']")
        page.click("#loss-exam")
        page.wait_for_selector("#explain-panel[data-cell='loss']")

    def practice(page):
        n = counter(page, "checked")
        page.fill("#in-Pr1\\.3\\.in_features", "1")
        page.fill("#in-Pr2\\.2\\.P input[data-i='3'][data-j='0']", "1/3")
        page.click("#check")
        ready(page, checked=n + 1)

    return [
        ("index", f"{base}/", None, None),
        ("geoff-explain", f"{base}/geoff?{EXAMPLE_Q}&T=0&heads=2&grad=1&explain=dW_V[h1,0,1]", {}, None),
        ("geoff-explain-click", f"{base}/geoff?{EXAMPLE_Q}&T=0", {}, explain_cells),
        ("practice", f"{base}/practice?seed=3&solution=1", {}, practice),
        ("geoff", f"{base}/geoff?{EXAMPLE_Q}&T=0&heads=2&grad=1", {}, step),
        ("geoff-error", f"{base}/geoff?{EXAMPLE_Q}&T=0.5", {}, bad_token),
        # a variant whose heads have their own W_Q, W_K, W_V: each one's editor, head 2's W_Q lit by an explanation
        ("geoff-own-heads", f"{base}/geoff?variant=0&difficulty=harder&heads=2&T=0.5&W_Q_h2=1.5,0;3,2;2,1;1,2;1,2"
         "&explain=Q[h2,6,0]", {}, None),
        ("sort", f"{base}/sort?seq=D+A+A+C+B&step=2", {}, None),
        ("cnn", f"{base}/cnn?img={img}", {"predictions": 1}, explain),
        ("cnn-keyboard", f"{base}/cnn", {}, keyboard_draw),
        ("cnn-example", f"{base}/cnn", {}, example),
        ("answers", f"{base}/answers", {}, None),
    ]


WIDTHS = (360, 500, 700, 800, 1280)  # the page never scrolls sideways at any of these
# axe reads the page at one width of each layout band of style.css (its @media max-widths: 600, 799): a phone's,
# a tablet's and a desktop's. Within a band the same rules apply, so axe's reading differs only where text wraps;
# until 2026-12-08 axe read 360, 500, 800 and 1280 px (two in each of two bands, none in 601-799)
AXE_WIDTHS = (360, 700, 1280)
STYLE = Path(__file__).parents[2] / "src" / "dlexam" / "serve" / "static" / "style.css"


def test_axe_reads_every_layout_band_of_the_style_sheet():
    """Each band between style.css's @media (max-width) breakpoints holds one of AXE_WIDTHS, and no band two."""
    import re

    edges = sorted({int(w) for w in re.findall(r"@media[^{]*max-width:\s*(\d+)px", STYLE.read_text())})
    assert edges, "style.css has no @media (max-width) rule"
    bands = [sum(w > e for e in edges) for w in AXE_WIDTHS]
    assert sorted(bands) == list(range(len(edges) + 1)), (edges, AXE_WIDTHS)
    assert set(AXE_WIDTHS) <= set(WIDTHS)


def _settled(page) -> None:
    """Two animation frames: the page has laid itself out at its new width (its resize handlers have run)."""
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_axe_finds_no_violation_and_the_page_never_scrolls_sideways_in_any_state(browser, server):
    """Every state at a phone's (360), a small tablet's (500, 700), a small laptop's (800) and a desktop's width
    (1280): neither html nor body scrolls sideways, nor /cnn's layer table in its box (at 360 px it scrolled 1087 px
    in 330 until 2026-12-07: now it stacks below 800 px); and at one width of each of style.css's layout bands
    (AXE_WIDTHS) no axe violation (at 360 px /practice's worked solutions scrolled in boxes all named "scrollable: ":
    landmark-unique). /answers, which reads the exam text, where the text is here.

    Each state is reached once, on a phone's width, and the window is then widened through the others, as a phone
    turned or a window dragged wider: the page laid out at each width is what axe reads (it was reached afresh at
    each width until 2026-12-08, 76 s of the suite for the same 48 readings). A page opened at each width is
    tests/serve/test_browser.py's test_every_page_fits_and_stays_local."""
    from dlexam import shared

    try:
        shared.exam_path()
        with_exam = True
    except Exception:  # noqa: BLE001 - ../shared is beside a clone only where the user put it
        with_exam = False
    ctx, page, watch = open_page(browser, server, WIDTHS[0])
    page.set_default_timeout(180_000)  # /answers computes the key on first use
    found, wide = {}, {}
    for name, url, wait, action in states(server.port):
        if name == "answers" and not with_exam:
            continue
        page.set_viewport_size({"width": WIDTHS[0], "height": 1000})
        page.goto(url)
        if wait is not None:
            ready(page, **wait)
        if action is not None:
            action(page)
        if name.startswith("cnn"):  # its layer table, which must fit too: it scrolled sideways in its box on a phone
            page.wait_for_selector("#layer-rows")
        for width in WIDTHS:
            if width != WIDTHS[0]:
                page.set_viewport_size({"width": width, "height": 1000})
            _settled(page)
            assert page.evaluate("() => window.innerWidth") == width
            if width in AXE_WIDTHS:
                found[name, width] = axe_violations(page)
            wide[name, width] = page.evaluate("""() => [document.documentElement, document.body,
                document.querySelector('#layer-rows') && document.querySelector('#layer-rows').parentElement]
                .filter((el) => el && el.scrollWidth > el.clientWidth + 1)
                .map((el) => (el.tagName === 'DIV' ? 'the layer table' : el.tagName))""")
    assert found == {key: [] for key in found}
    assert wide == {key: [] for key in wide}
    ctx.close()
    watch.check()


def test_radio_groups_have_names_and_results_are_announced(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    for name in ("temperature", "heads"):
        group = page.get_by_role("group", name=name)
        assert group.count() == 1 and group.get_by_role("radio").count() >= 2, name
    live = page.locator("[aria-live=polite]")
    assert live.count() == 1 and "4.2114" in live.text_content()  # the exam's loss, said
    n = counter(page, "rendered")
    page.check("#heads-2")
    ready(page, rendered=n + 1)
    assert "2 heads" in live.text_content()


def test_gradient_step_is_a_few_tab_presses_from_the_sequence(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0")
    ready(page)
    page.focus("#seq")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "step":
            return
    pytest.fail("gradient step is more than 12 Tab presses after the sequence field")


def test_answer_filters_say_which_is_pressed(browser, server, need_shared):
    need_shared("exam")  # the answer key reads the exam text
    ctx, page, watch = open_page(browser, server)
    page.set_default_timeout(180_000)
    page.goto(f"http://127.0.0.1:{server.port}/answers?verdict=disagrees")
    ready(page)
    pressed = page.eval_on_selector_all("#filters button", "bs => bs.map(b => [b.textContent, "
                                                           "b.getAttribute('aria-pressed')])")
    assert pressed == [["all", "false"], ["agrees", "false"], ["partly agrees", "false"], ["disagrees", "true"],
                       ["conceptual", "false"]]  # Pr2.5's "partly agrees" since 2026-12-07, in the command line's order
    page.click("#filters button:has-text('all')")
    assert page.get_attribute("#filters button:has-text('all')", "aria-pressed") == "true"
    # the status line counts each verdict in words ("1 partly agrees" read as a verb until 2026-12-07), and the exam's
    # answers show its LaTeX read: P1.1's "temp-softmax $_T(z)$" as temp-softmax_T(z)
    assert "1 partly agree," in page.text_content("#status"), page.text_content("#status")
    p11 = page.text_content("#P1\\.1")
    assert "temp-softmax_T(z)" in p11 and "$" not in p11, p11
    ctx.close()
    watch.check()
