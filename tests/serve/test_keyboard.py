"""Every number a click explains, reached and explained with the keyboard alone (Tab, the arrow keys, Enter, Space):
/geoff's matrix cells, loss terms and losses, /cnn's probabilities, feature-map pixels and layer table. Before, they
answered only the mouse. Each focused number says which it is (its accessible name), its focus is drawn
(`:focus-visible`, a 3 px outline), the explanation shown is the library's own (`dlexam.geoff.explain`,
`dlexam.svhn.explain`, whose tests check them against Fractions, the float64 model and nn.Conv2d;
`dlexam.svhn.table_explain`, evaluated here against nn.Conv2d), and axe-core finds nothing in these states. /cnn's
drawing pad, which took only a pointer, is drawn with the keyboard too (a cursor cell on a 16 x 16 grid)."""

from __future__ import annotations

import pytest

from .browser import EXAMPLE, EXAMPLE_Q, ready
from .test_a11y import axe_violations
from .test_api import CONVENTION_WORDS
from .test_browser import _seven
from .test_exactness import EXAM_R, evaluate
from .test_geoff_explain_page import shown
from .test_pages import _image_of

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[dev]')")

FOCUSED = """() => { const e = document.activeElement, s = getComputedStyle(e);
    return {id: e.id, cell: e.dataset.cell || null, name: e.getAttribute('aria-label'), tag: e.tagName,
            visible: e.matches(':focus-visible') && s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 3,
            grid: (e.closest('[role=grid]') || {}).id || null}; }"""


def tab_to(page, test: str, most: int = 150) -> dict:
    """Press Tab until the focused element passes `test` (a JS predicate on it); what is focused then."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return Boolean({test}); }}"):
            return page.evaluate(FOCUSED)
    pytest.fail(f"{test}: not reached in {most} Tab presses")


def press(page, *keys: str) -> dict:
    for k in keys:
        page.keyboard.press(k)
    return page.evaluate(FOCUSED)


# Where /geoff names a loss convention: the select's options, the loss panel's headings, its terms' and its losses'
# accessible names, the gradients' note. Each read back as {code: {"short", "name", "rule"}} if its words agree.
LABELS = """async () => {
    const d = await (await fetch('/api/geoff/defaults')).json(), out = {}, w = d.convention_words;
    const options = Object.fromEntries([...document.querySelectorAll('#convention option')]
      .map((o) => [o.value, o.text]));
    const grad = document.querySelector('#grads .note').textContent;
    for (const c of d.conventions) {
      const h = document.querySelector('#probs-' + c).closest('.scroll').previousElementSibling.textContent;
      const terms = document.querySelector('#probs-' + c).getAttribute('aria-label');
      const loss = document.querySelector('#loss-' + c).getAttribute('aria-label');
      const short = [options[c], terms.replace('loss terms, ', ''), loss.replace(/^loss, (.*): [^:]*$/, '$1')];
      if (c === 'teacher_forcing') short.push(grad.replace(/^gradients of the (.*) loss at .*$/, '$1'));
      out[c] = {short: short.every((s) => s === w[c].short) ? w[c].short : short, name: h === w[c].name ? h : [h],
                rule: w[c].rule};
    }
    return out; }"""


def convention_labels(page) -> dict:
    return page.evaluate(LABELS)


def test_geoff_every_number_by_keyboard(page):
    from dlexam import geoff
    from dlexam.geoff.explain import explain

    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    query = geoff.GeoffQuery(EXAMPLE)
    page.focus("#seq")
    at = tab_to(page, "e.closest('#P-h0')")  # the whole matrix is one Tab stop: its first number
    assert at["cell"] == "P[0,0]" and at["grid"] == "P-h0" and at["visible"], at
    # named as a weight cell is, by label ("E, row <START>, column B"), a token at two positions by its position too,
    # as the explanations' titles name it (P[<START>, D (position 1)]); "P, row 4 <START>, column 1 D" until 2026-12-07
    assert at["name"] == "P, row D (position 1), column D (position 1): 1", at
    at = press(page, "ArrowDown", "ArrowDown", "ArrowDown")
    assert at["cell"] == "P[3,0]" and at["name"] == "P, row <START>, column D (position 1): 1/4" and at["visible"], at
    assert explain(query, "P[3,0]").title == "P[<START>, D (position 1)]"  # the library's words for the same cell
    page.keyboard.press("Enter")
    got, want = shown(page, "P[3,0]"), explain(query, "P[3,0]").to_json()
    assert got["summary"] == want["summary"] and got["exact"] == want["exact"] == "1/4"
    assert page.evaluate(FOCUSED)["cell"] == "P[3,0]"  # the focus stays on the number: the arrows go on from it
    at = press(page, "ArrowRight", "ArrowRight", "ArrowRight", "ArrowRight")  # the future: weight 0
    assert at["cell"] == "P[3,4]" and at["name"] == "P, row <START>, column A (position 5): 0", at
    at = press(page, "Control+End", "ArrowRight", "ArrowDown")  # the corner; the edges hold
    assert at["cell"] == "P[6,6]", at
    page.keyboard.press(" ")
    assert shown(page, "P[6,6]")["exact"] == explain(query, "P[6,6]").to_json()["exact"]
    at = press(page, "Home")
    assert at["cell"] == "P[6,0]", at
    # Tab leaves the matrix (one stop each), Shift+Tab comes back to the number it left
    assert press(page, "Tab")["grid"] != "P-h0"
    assert press(page, "Shift+Tab")["cell"] == "P[6,0]"

    at = tab_to(page, "e.closest('#probs-exam')")  # a loss term: its P(target), a row at a time
    assert at["cell"] == "loss[4]" and at["name"].startswith("the exam's convention loss term: target A"), at
    assert at["visible"], at
    at = press(page, "ArrowDown", "ArrowRight")
    assert at["cell"] == "loss[5]", at
    page.keyboard.press("Enter")
    assert shown(page, "loss[5]")["summary"] == explain(query, "loss[5]").summary
    at = tab_to(page, "e.id === 'loss-exam'")  # the whole loss: a button
    assert at["cell"] == "loss" and at["name"] == "loss, the exam's convention: 4.2114" and at["visible"], at
    page.keyboard.press("Enter")
    assert "4.2114" in shown(page, "loss")["summary"]
    at = tab_to(page, "e.closest('#grad-W_V')")
    at = press(page, "ArrowRight", "Enter")
    assert at["cell"] == "dW_V[0,1]" and at["name"].startswith("dW_V, row A, column d2: "), at  # W_V's labels
    assert shown(page, "dW_V[0,1]")["summary"] == explain(query, "dW_V[0,1]").summary
    assert page.get_by_role("grid", name="P at T = 0 (argmax)").count() == 1  # the grid is named by its caption
    assert convention_labels(page) == CONVENTION_WORDS  # the API's words, which test_api types by hand
    assert axe_violations(page) == []


def test_geoff_two_heads_name_their_head(page):
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5&heads=2")
    ready(page)
    page.focus("#seq")
    at = tab_to(page, "e.closest('#scores-h1')")  # a score of the future is said to be masked
    at = press(page, "ArrowRight")
    assert at["cell"] == "S[h2,0,1]" and at["name"].endswith("(masked: the future)"), at
    at = tab_to(page, "e.closest('#Z-h1')")
    assert at["cell"] == "Z[h2,0,0]" and at["name"].startswith("Z of head 2, row D (position 1), column d1: "), at
    page.keyboard.press("Enter")
    shown(page, "Z[h2,0,0]")


def test_geoff_the_one_head_R_beside_k_heads_by_keyboard(page):
    """Problem 2.4's one-head R (beside the k heads' R) is a grid like every matrix: its numbers say that they are
    the one-head model's, and Enter or Space explains them on that model (its arithmetic evaluates to the exam's
    Problem 2.3 R, the two-head R's columns are swapped); so are the losses of both models beside it."""
    from dlexam import geoff
    from dlexam.geoff.explain import explain

    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&heads=2")
    ready(page)
    one, two = geoff.GeoffQuery(EXAMPLE, heads=1), geoff.GeoffQuery(EXAMPLE, heads=2)
    page.focus("#seq")
    at = tab_to(page, "e.closest('#R-one')")
    assert at["cell"] == "R[0,0]" and at["grid"] == "R-one" and at["visible"], at
    assert at["name"] == "R, one head, row D (position 1), column A: 0", at
    at = press(page, *["ArrowDown"] * 6)
    assert at["cell"] == "R[6,0]" and at["name"] == "R, one head, row <STOP>, column A: 9/7", at
    page.keyboard.press("Enter")
    got = shown(page, "R[6,0]", heads=1)
    assert got["summary"] == explain(one, "R[6,0]").summary != explain(two, "R[6,0]").summary
    assert got["exact"] == "9/7" and evaluate(got["summary"].rsplit(" = ", 2)[1]) == pytest.approx(float(EXAM_R[6][0]))
    assert page.evaluate(FOCUSED)["cell"] == "R[6,0]"  # the focus stays on the number
    at = press(page, "ArrowUp", "ArrowUp", "ArrowUp", "End")
    assert at["cell"] == "R[3,3]" and at["name"].endswith("column D: 3/4"), at
    page.keyboard.press(" ")
    got = shown(page, "R[3,3]", heads=1)
    assert got["exact"] == "3/4" and evaluate(got["summary"].rsplit(" = ", 2)[1]) == pytest.approx(float(EXAM_R[3][3]))
    at = press(page, "Tab")  # the k heads' R beside it: its own grid, its own model
    assert at["grid"] == "R-two" and at["cell"] == "R[0,0]", at
    assert at["name"].startswith("R, 2 heads, row D (position 1), column A: "), at
    page.keyboard.press("Enter")
    assert shown(page, "R[0,0]", heads=2)["summary"] == explain(two, "R[0,0]").summary
    at = tab_to(page, "e.closest('#heads-losses')")  # the losses of both models
    assert at["cell"] == "loss" and at["name"] == "loss, the exam's convention, one head: 4.2114", at
    page.keyboard.press("Enter")
    assert shown(page, "loss", heads=1)["summary"] == explain(one, "loss").summary
    at = press(page, "ArrowRight", "Enter")
    assert at["name"] == "loss, the exam's convention, 2 heads: 10.2114", at
    assert shown(page, "loss", heads=2)["summary"] == explain(two, "loss").summary
    assert axe_violations(page) == []


def test_cnn_every_number_by_keyboard(page):
    from dlexam.svhn.explain import explain
    from dlexam.svhn.inference import load_model

    model = load_model()[0]
    page.goto(f"{page.base}/cnn?img={_seven()}")
    ready(page, predictions=1)
    image = _image_of(page)
    at = tab_to(page, "e.id === 'p-0'")  # the probabilities are buttons
    assert at["tag"] == "BUTTON" and at["name"].startswith("probability of digit 0: ") and at["visible"], at
    at = press(page, "Tab", "Tab", "Tab")
    assert at["id"] == "p-3", at
    page.keyboard.press("Enter")
    page.wait_for_selector("#explain-panel[data-at='logits:3']")
    want = explain(model, image, "logits", (3,)).to_json()
    assert float(page.text_content("#explain-value")) == pytest.approx(want["value"], abs=1e-4)

    at = tab_to(page, "e.id === 'map-conv1-0'")  # Conv-1's 8 maps: one Tab stop, a cursor on pixel (0, 0)
    assert at["name"].startswith("conv1 map 0, row 0, column 0 (conv1[0,0,0], from 0) = ") and at["visible"], at
    assert page.is_visible("#map-cursor")
    at = press(page, *["ArrowDown"] * 12, *["ArrowRight"] * 9)
    assert "(conv1[0,12,9], from 0)" in at["name"], at
    want = explain(model, image, "conv1", (0, 12, 9)).to_json()
    assert at["name"].endswith(f"= {want['model_value']:.4f}; arrow keys: another pixel, Enter: its arithmetic")
    cursor, canvas = page.locator("#map-cursor").bounding_box(), page.locator("#map-conv1-0").bounding_box()
    scale = canvas["width"] / 28  # the cursor is drawn on the pixel (within the canvas's 1 px border)
    assert cursor["x"] - canvas["x"] == pytest.approx(9 * scale, abs=2)
    assert cursor["y"] - canvas["y"] == pytest.approx(12 * scale, abs=2)
    page.keyboard.press("Enter")
    page.wait_for_selector("#explain-panel[data-at='conv1:0,12,9']")
    assert float(page.text_content("#explain-value")) == pytest.approx(want["value"], abs=1e-4)
    at = press(page, "End", "ArrowRight")  # past the right edge: on into the next map
    assert at["id"] == "map-conv1-1" and "(conv1[1,12,0], from 0)" in at["name"] and at["visible"], at
    page.keyboard.press(" ")
    page.wait_for_selector("#explain-panel[data-at='conv1:1,12,0']")
    assert press(page, "Shift+Tab", "Tab")["id"] == "map-conv1-1"  # the Tab stop stays on the map last used
    at = tab_to(page, "e.id.startsWith('map-pool2-')", most=5)  # Pool-1, Conv-2, Pool-2: one stop each
    assert at["id"] == "map-pool2-0", at
    at = press(page, "ArrowLeft", "ArrowRight", "ArrowRight", "ArrowDown", "Enter")
    page.wait_for_selector("#explain-panel[data-at='pool2:0,1,2']")  # the left edge held
    assert axe_violations(page) == []


def test_cnn_layer_table_every_number_by_keyboard(page):
    """The layer table is one Tab stop, a grid: the arrow keys reach every number, Enter or Space explains it (the
    arithmetic of dlexam.svhn.table_explain, evaluated here against nn.Conv2d and the exam's 3,722), and the focus
    stays on the number."""
    import torch
    from torch import nn

    from .test_cnn_exactness import table_arithmetic

    page.goto(f"{page.base}/cnn")
    ready(page)
    page.wait_for_selector("#layer-rows")
    page.focus("#upload")
    at = tab_to(page, "e.closest('#layer-rows')")
    relu = "ReLU (assumed: the exam's Figure 2 is missing)"
    assert at["tag"] == "TD" and at["name"] == f"Conv-1 + {relu}, kernel: 5x5; Enter: its arithmetic", at
    assert at["visible"], at
    assert page.evaluate("() => document.activeElement.dataset.number") == "conv1.kernel"
    at = press(page, "ArrowRight", "ArrowRight", "ArrowRight", "ArrowDown", "ArrowDown")  # Conv-2's output
    assert at["name"] == f"Conv-2 + {relu}, output (H x W x C): 6x6x16; Enter: its arithmetic" and at["visible"], at
    page.keyboard.press("Enter")
    out = nn.Conv2d(8, 16, 4, padding=1)(torch.zeros(1, 8, 7, 7)).shape  # Pool-1's 7x7x8 into Conv-2
    assert table_arithmetic(page, "conv2.output") == [out[2], out[3], out[1]]
    assert page.evaluate("() => document.activeElement.dataset.number") == "conv2.output"  # the focus stays
    assert page.text_content("#status") == "Conv-2's output (H x W x C) = 6 x 6 x 16"  # said aloud
    at = press(page, "ArrowDown", "ArrowDown")  # Flatten has no kernel: down keeps to the output column
    assert at["name"] == "Flatten, output (H x W x C): 144; Enter: its arithmetic", at
    at = press(page, "Control+End")
    assert at["name"] == "total, parameters: 3,722; Enter: its arithmetic" and at["visible"], at
    page.keyboard.press(" ")
    assert table_arithmetic(page, "total.params") == [3722]  # Problem 1.2's answer
    at = press(page, "ArrowUp", "End")
    assert at["name"] == "Linear, parameters: 1,450; Enter: its arithmetic", at
    assert press(page, "Shift+Tab", "Tab")["name"] == at["name"]  # the Tab stop stays on the number last used
    assert axe_violations(page) == []


PAD_WHERE = "() => document.getElementById('pad-where').textContent"


def test_cnn_draw_a_digit_by_keyboard_alone(page):
    """WCAG 2.1.1: /cnn's pad, the page's main function, took only a mouse, a pen or a finger. Now it is a Tab stop:
    the arrow keys move a cursor cell (16 x 16 cells of the 224 px pad), Space inks or blanks the cell, Shift+arrow
    inks a stroke, Delete blanks a cell; where the cursor is and what its cell holds is said (aria-live), the keys are
    the pad's description. A "1" drawn so reaches the server as the 224 x 224 grey levels built here from the cells
    alone, its 32x32 input is Pillow's bicubic resize of those (the crop of a square: built here without dlexam), and
    the digit, the ten probabilities and the maps are the library's on that input; "clear" is one Tab away and drops a
    drawing still waiting for the keys to pause."""
    import io

    import numpy as np
    from PIL import Image

    from .test_browser import _library_prediction, _shown

    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer) if r.url.endswith("/api/svhn/predict") else None)
    page.goto(f"{page.base}/cnn")
    ready(page)
    assert page.text_content("#digit") == "?" and page.locator("#maps canvas").count() == 0
    at = tab_to(page, "e.id === 'pad'", most=20)
    assert at["visible"] and at["name"].startswith("drawing pad, 16 by 16 cells: ") and "keyboard" in at["name"], at
    help_id = page.get_attribute("#pad", "aria-describedby")
    assert "arrow keys" in page.text_content(f"#{help_id}") and "Space" in page.text_content(f"#{help_id}")
    assert page.get_attribute("#pad-where", "aria-live") is None  # written here, said by the status line
    assert page.evaluate(PAD_WHERE) == "cursor: row 1, column 1 of 16, blank" and page.is_visible("#pad-cursor")

    press(page, *["ArrowRight"] * 7, "ArrowDown", "ArrowDown")
    assert page.evaluate(PAD_WHERE) == "cursor: row 3, column 8 of 16, blank"
    cursor, pad = page.locator("#pad-cursor").bounding_box(), page.locator("#pad").bounding_box()
    cell = (pad["width"] - 2) / 16  # the cursor is drawn on the cell (within the pad's 1 px border)
    assert cursor["x"] - pad["x"] == pytest.approx(1 + 7 * cell, abs=1.5) and cursor["width"] == pytest.approx(cell)
    assert cursor["y"] - pad["y"] == pytest.approx(1 + 2 * cell, abs=1.5)
    page.keyboard.press("Space")
    assert page.evaluate(PAD_WHERE) == "cursor: row 3, column 8 of 16, inked"
    for _ in range(9):  # a stroke down: rows 3 to 12 of column 8
        page.keyboard.press("Shift+ArrowDown")
    assert page.evaluate(PAD_WHERE) == "cursor: row 12, column 8 of 16, inked"
    press(page, "ArrowRight", "Enter")  # a slip, put right: Enter inks, Delete blanks, Space toggles
    assert page.evaluate(PAD_WHERE) == "cursor: row 12, column 9 of 16, inked"
    press(page, "Delete")
    assert page.evaluate(PAD_WHERE) == "cursor: row 12, column 9 of 16, blank"
    press(page, "Space", "Space", "ArrowLeft")
    assert page.evaluate(PAD_WHERE) == "cursor: row 12, column 8 of 16, inked"
    ready(page)

    want = np.full((224, 224), 255, dtype=np.uint8)  # white; the ink #111 is grey level 17
    want[2 * 14:12 * 14, 7 * 14:8 * 14] = 17
    got = Image.open(io.BytesIO(sent[-1]))
    assert got.size == (224, 224) and np.array_equal(np.asarray(got.convert("L")), want)
    image = _image_of(page)  # the 32x32 input the server made of it, as the page got it back
    resized = Image.fromarray(want).resize((32, 32), Image.BICUBIC, reducing_gap=None)
    assert np.array_equal(image.numpy(), np.asarray(resized))
    lib = _library_prediction(image)
    digit, probs = _shown(page)
    assert digit == lib["digit"] and probs == pytest.approx(lib["probabilities"], abs=1e-4)
    assert [page.locator(f"#maps-{s} canvas").count() for s in ("conv1", "pool1", "conv2", "pool2")] == [8, 8, 16, 16]
    assert page.text_content("#status").startswith(f"prediction: {digit}, P = ")
    assert page.evaluate("() => document.activeElement.id") == "pad"  # the keys stay on the pad
    assert axe_violations(page) == []

    # Space, then at once Tab to "clear" and Enter: the drawing waiting for the pause is not sent after the clear
    n = len(sent)
    assert press(page, "Space", "Tab")["id"] == "clear"
    page.keyboard.press("Enter")
    assert page.evaluate("() => C.keyTimer") is None and page.text_content("#digit") == "?"
    assert page.evaluate("() => document.getElementById('pad').getContext('2d').getImageData(0, 0, 224, 224).data"
                         ".every((v) => v === 255)")
    assert len(sent) == n and page.get_attribute("body", "data-state") == "ready"


def test_cnn_keyboard_edits_a_mouse_drawing_on_the_same_path(page):
    """The keyboard and the mouse draw on one pad and send it one way: a cell under a mouse stroke is said to be
    inked, and Delete on it sends the mouse's own grey levels with that cell white, nothing else changed."""
    import io

    import numpy as np
    from PIL import Image

    from .test_browser import _stroke

    sent = []
    page.on("request", lambda r: sent.append(r.post_data_buffer) if r.url.endswith("/api/svhn/predict") else None)
    page.goto(f"{page.base}/cnn")
    ready(page)
    _stroke(page, [(0.25, 0.3), (0.5, 0.15), (0.7, 0.35), (0.3, 0.8), (0.75, 0.8)], steps=8)  # a 2
    ready(page, predictions=1)
    mouse = np.asarray(Image.open(io.BytesIO(sent[-1])).convert("L"))
    page.focus("#pad")
    press(page, *["ArrowDown"] * 12, *["ArrowRight"] * 9)  # row 13, column 10: on the 2's foot (y 0.8 of the pad)
    assert page.evaluate(PAD_WHERE) == "cursor: row 13, column 10 of 16, inked"
    page.keyboard.press("Delete")
    assert page.evaluate(PAD_WHERE) == "cursor: row 13, column 10 of 16, blank"
    ready(page)
    want = mouse.copy()
    want[12 * 14:13 * 14, 9 * 14:10 * 14] = 255
    assert (want != mouse).sum() > 14 * 14 // 2  # the cell held ink
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(sent[-1])).convert("L")), want)


def test_cnn_keyboard_blanking_the_last_cell_empties_the_pad(page):
    """Delete on the only inked cell leaves a white pad: like "clear", nothing is sent (a white image would get a
    prediction of its own) and the last drawing's digit and maps leave the page."""
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/api/svhn/predict") else None)
    page.goto(f"{page.base}/cnn")
    ready(page)
    page.focus("#pad")
    press(page, "ArrowDown", "ArrowRight", "Enter")
    page.wait_for_function("() => document.body.dataset.state === 'ready' && document.body.dataset.predictions")
    assert page.text_content("#digit") != "?" and page.locator("#maps-conv1 canvas").count() == 8
    press(page, "Delete")
    assert page.evaluate(PAD_WHERE) == "cursor: row 2, column 2 of 16, blank"
    page.wait_for_timeout(600)  # twice the keys' pause: a drawing would have gone by now
    assert len(sent) == 1 and page.text_content("#digit") == "?"
    assert page.locator("#maps-conv1 canvas").count() == 0 and page.get_attribute("body", "data-state") == "ready"
    assert "empty" in page.text_content("#status")
