"""What a demanding learner's audit of the pages found (2026-12-07): links with numbers at the edge of float64, and
the other edge inputs each page takes. Each test failed on the code before its fix."""

from __future__ import annotations

from .browser import EXAMPLE_Q, params, said_listener
from .test_exactness import disagreement, oracle


def test_geoff_a_link_whose_temperature_float64_reads_as_0_is_refused_not_argmax(page):
    """/geoff?T=1e-400 showed argmax's numbers under "0 (argmax)" while its URL said T=1e-400: the page read the
    link's T with JavaScript's Number, which makes 1e-400 a 0, where `dlexam geoff --temperature 1e-400` and the API
    refuse it (float64 holds no such number: limits.float_text). The link's T now stands in the T field as typed, and
    the API's refusal is said, as it is for 1e-400 typed there; a T of 0 written otherwise (-0, 0e5) is argmax
    still."""
    page.watch.refusals_expected = True
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=1e-400")
    page.wait_for_selector("body[data-state=error]")
    assert page.is_checked("#t-num") and page.input_value("#t-value") == "1e-400"
    assert "1e-400 is too small" in page.text_content("#error") and params(page)["T"] == "1e-400"
    for zero in ("-0", "0e5"):
        page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T={zero}")
        page.wait_for_selector("body[data-state=ready]")
        assert page.is_checked("#t-zero"), zero


def test_geoff_a_loss_near_a_million_is_its_decimal_not_a_fraction(page):
    """With W_V[A, d2] at the weights' cap (1e6) the loss of teacher forcing, 1000005.17436..., read
    "866004481/866": format_exact took any number near 1e6 for a fraction (tests/test_exact.py). Shown now to its
    4 decimals, torch's float64 value (test_exactness.oracle) to its last digit, in the loss table and the status."""
    edits = {"W_V": [[0, 1_000_000], [1, 2], [2, 1], [3, 0]]}
    want = oracle(0, edits=edits)["loss"]
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&W_V=" + ";".join(",".join(map(str, r)) for r in edits["W_V"]))
    page.wait_for_selector("body[data-state=ready]")
    for conv in ("teacher_forcing", "exam"):
        shown = page.text_content(f"#loss-{conv}")
        assert "/" not in shown and disagreement(shown, want[conv][0]) is None, (conv, shown, want[conv][0])


def test_sort_a_sequence_over_the_text_cap_is_refused_naming_the_field_once(page):
    """3,000 characters typed in /sort's sequence read "sequence: seq is 3,000 characters; at most 2,000": the API's
    message named its own key (seq), and the page put the field's name before it, as it does before every
    refusal. The message now says what is wrong and leaves naming the field to the page (and to "field")."""
    page.watch.refusals_expected = True
    page.goto(f"{page.base}/sort?seq={'A' * 3000}")
    page.wait_for_selector("body[data-state=ready]")
    assert page.text_content("#error") == "sequence: the text is 3,000 characters; at most 2,000 are read"


def test_cnn_clear_takes_a_click_right_after_drawing_with_the_keyboard(page):
    """A digit drawn with the keyboard, then "clear" clicked: the click was lost. Pressing the mouse on the button
    took the focus off the pad, whose blur emptied the cursor line above the button (#pad-where, two lines), so the
    button moved up from under the pointer before it was released, and the drawing and its prediction stayed. The
    cursor line now keeps its place when the pad loses the focus (hidden, not emptied)."""
    page.goto(f"{page.base}/cnn")
    page.wait_for_selector("body[data-state=ready]")
    page.focus("#pad")
    for key in ["ArrowDown"] * 5 + ["ArrowRight"] * 7 + ["Space"] + ["Shift+ArrowDown"] * 6:
        page.keyboard.press(key)
    page.wait_for_selector("body[data-predictions]")
    assert page.text_content("#digit") != "?"
    page.click("#clear")
    page.wait_for_function("() => document.getElementById('digit').textContent === '?'", timeout=5000)
    assert page.evaluate("""() => { const pad = document.getElementById('pad');
        return pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data.every((v) => v === 255); }""")
    assert "img" not in params(page)


def test_cnn_draw_first_goes_once_there_is_a_drawing(page):
    """"explain" pressed on the empty pad says "draw a digit or upload a photo first"; it went on saying so beside
    the digit then drawn and its prediction. The refusal goes with the first prediction; one about the cell typed
    (a channel past the layer's) is about the cell, and stays."""
    page.watch.refusals_expected = True
    page.goto(f"{page.base}/cnn")
    page.wait_for_selector("body[data-state=ready]")
    page.click("#explain-go")
    assert page.text_content("#explain-error").startswith("draw a digit or upload a photo first")
    page.focus("#pad")
    page.keyboard.press("Space")
    page.wait_for_selector("body[data-predictions]")
    assert page.text_content("#explain-error") == ""
    page.fill("#explain-at", "99,0,0")
    page.click("#explain-go")
    page.wait_for_selector("body[data-state=error]")
    said = page.text_content("#explain-error")
    assert said.startswith("at: conv1 has 8 maps")
    page.focus("#pad")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")
    page.wait_for_function("() => Number(document.body.dataset.predictions) > 1 && document.body.dataset.state === "
                           "'ready'")
    assert page.text_content("#explain-error") == said


def test_sort_a_step_taken_says_which_step_and_what_each_model_produced(page):
    """The step buttons changed the panels and the "step 2 of 4" beside them, neither of which a screen reader says:
    a learner stepping by keyboard heard nothing at all. A step taken is now said by the status line (polite, as the
    answers are): the step, and the token each model produced at it (the compiled solver's: sorted(set(input)) and
    then <STOP>, computed here; a model whose answer ended earlier, that it stopped). At either end it says so."""
    page.add_init_script(said_listener())
    seq = ["D", "A", "A", "C"]
    want = sorted(set(seq)) + ["<STOP>"]
    page.goto(f"{page.base}/sort?seq={'+'.join(seq)}")
    page.wait_for_selector("body[data-state=ready]")
    page.evaluate("() => { window.__said = []; }")
    page.focus("#next")
    page.keyboard.press("Enter")
    status = page.text_content("#status")
    assert status.startswith(f"step 2 of {len(want)}: compiled solver produces {want[1]}"), status
    assert "; trained model " in status  # produces its step's token, or (the fixture's tiny sorter) stopped before
    assert ["status", status] in page.evaluate("() => window.__said")
    page.focus("#first")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    assert page.text_content("#status").startswith(f"step 1 of {len(want)} (the first): compiled solver produces A")
