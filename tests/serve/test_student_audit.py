"""A student's audit of /geoff (2026-12-07), each test failing on the pages before its fix: Problem 2.5's norms and
the gradient step's table broken mid-number on a phone, and "undo step" taking back the inputs changed after the
step (the temperature) as well as the step's weights.

Oracles: the exam's transformer typed here and run with torch (autograd for the gradient norms), and what the user
chose on the page."""

from __future__ import annotations

import math

import pytest
import torch

from .browser import EXAMPLE_Q, counter, open_page, params, ready
from .test_browser import overflows
from .test_pages import BROKEN_WORDS

VOCAB = ["A", "B", "C", "D", "<START>", "<STOP>"]
EXAMPLE = "D A A <START> A D <STOP>"


def _oracle(T: float) -> tuple[float, dict]:
    """The exam's model typed here (E = [I_4; 0; 0], W_Q = W_K = W_V, W_O), causal softmax(S / T) attention
    (argmax with ties shared at T = 0), standard teacher forcing: the loss and the Frobenius norm of each gradient."""
    qkv = [[0, 3], [1, 2], [2, 1], [3, 0]]
    w = {"W_Q": qkv, "W_K": qkv, "W_V": qkv, "W_O": [[0, 1, 0, 1], [1, 0, 1, 0]]}
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in w.items()}
    E = torch.eye(6, 4, dtype=torch.float64)
    ids = [VOCAB.index(s) for s in EXAMPLE.split()]
    X = E[ids]
    S = ((X @ t["W_Q"]) @ (X @ t["W_K"]).T).masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), -math.inf)
    if T == 0:
        top = (S == S.max(1, keepdim=True).values).double().detach()
        P = top / top.sum(1, keepdim=True)
    else:
        P = torch.softmax(S / T, 1)
    logits = P @ (X @ t["W_V"]) @ t["W_O"] @ E.T
    loss = -torch.log_softmax(logits, 1)[[3, 4, 5], [ids[4], ids[5], ids[6]]].sum()
    loss.backward()
    return loss.item(), {k: 0.0 if v.grad is None else float(v.grad.norm()) for k, v in t.items()}


@pytest.mark.parametrize("width", [375])
def test_on_a_phone_no_norm_or_step_number_is_broken_across_lines(browser, server, width):
    """At 375 px (a phone) with gradients at T = sqrt(d_k) and one gradient step taken, every number of Problem 2.5's
    norm table and of the step's table is on one line ("0.8426" read "0.84" over "26", "0 (frozen)" "(froz" over
    "en)"): the table scrolls in its own box, the page does not; the numbers are torch's."""
    ctx, page, watch = open_page(browser, server, width)
    page.goto(f"http://127.0.0.1:{server.port}/geoff?{EXAMPLE_Q}&T=sqrt&grad=1")
    ready(page)
    _, norms = _oracle(math.sqrt(2))
    shown = page.eval_on_selector_all("#grad-norms td[data-param]", "tds => tds.map(td => td.textContent)")
    assert [float(x) for x in shown[4:]] == pytest.approx([norms[k] for k in ("W_Q", "W_K", "W_V", "W_O")],
                                                          rel=1e-3), shown
    n = counter(page, "rendered")
    page.click("#step")
    ready(page, rendered=n + 1)
    assert page.evaluate(BROKEN_WORDS, "table.plain td") == []
    assert overflows(page) == []
    ctx.close()
    watch.check()


def test_undo_step_keeps_the_temperature_chosen_after_the_step(page):
    """A step at T = 0, then sqrt(d_k) chosen to see the stepped model there, then "undo step": the weights are the
    exam's again and T stays sqrt(d_k), so the loss is the exam's model's at sqrt(d_k) (torch); it read T = 0 and
    the loss at T = 0, the temperature lost with the step. Forward (redo) brings the step's weights back, at sqrt(d_k)
    still. The number explained after the step stays explained, in the URL too (the entry before the step had
    none)."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    n = counter(page, "rendered")
    page.click("#step")
    ready(page, rendered=n + 1)
    stepped = params(page)["W_V"]
    page.check("#t-sqrt")
    ready(page, rendered=n + 2)
    page.fill("#explain-cell", "P[3,0]")
    page.press("#explain-cell", "Enter")
    page.wait_for_selector("#explain-panel[data-cell='P[3,0]']")
    page.click("#undo")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('W_V')")
    ready(page, rendered=n + 3)
    loss, _ = _oracle(math.sqrt(2))
    assert page.is_checked("#t-sqrt") and params(page)["T"] == "sqrt"
    assert page.text_content("#loss-teacher_forcing") == f"{loss:.4f}"
    assert page.is_disabled("#undo")
    assert params(page)["explain"] == "P[3,0]" and page.is_visible("#explain-panel[data-cell='P[3,0]']")
    page.go_forward()
    page.wait_for_function("() => new URLSearchParams(location.search).has('W_V')")
    ready(page, rendered=n + 4)
    assert params(page)["W_V"] == stepped and params(page)["T"] == "sqrt" and page.is_checked("#t-sqrt")
    assert not page.is_disabled("#undo")


@pytest.mark.parametrize("step", ["abc", "1.5"])
def test_sort_a_link_whose_step_is_no_step_number_opens_at_the_first_step(page, step):
    """/sort?step=abc read "step NaN of 3" over empty panels, with a script error, and wrote step=NaN back into the
    URL; step=1.5 read "step 2.5 of 3". A step that is not a whole number written in digits is passed over, as a
    malformed parameter of /cnn is: the first step, sorted(set(input))'s first symbol (computed here)."""
    seq = ["D", "A", "A"]
    page.goto(f"{page.base}/sort?seq={'+'.join(seq)}&step={step}")
    ready(page)
    assert page.text_content("#step-label") == f"step 1 of {len(set(seq)) + 1}"  # each symbol once, then <STOP>
    assert page.get_attribute("#compiled", "data-produced") == sorted(set(seq))[0]
    assert params(page)["step"] == "1"  # the URL counts steps as the page does, from 1
    page.click("#next")
    assert page.text_content("#step-label") == f"step 2 of {len(set(seq)) + 1}"
    assert page.get_attribute("#compiled", "data-produced") == " ".join(sorted(set(seq))[:2])


def test_sort_the_url_counts_steps_as_the_page_does(page):
    """The page said "step 3 of 4" where its URL said step=2: the URL counted from 0, the page from 1. Now step=N
    is "step N of ..." both ways, reading a link and writing the URL; step=0, the first step of a link from before
    2026-12-07, is the first step still, and a step past the last is the last. The symbols produced are
    sorted(set(input))'s (computed here), then <STOP>."""
    seq = ["D", "A", "A", "C"]
    want = sorted(set(seq)) + ["<STOP>"]
    page.goto(f"{page.base}/sort?seq={'+'.join(seq)}&step=3")
    ready(page)
    assert page.text_content("#step-label") == f"step 3 of {len(want)}"
    assert page.get_attribute("#compiled", "data-produced") == " ".join(want[:3])
    page.click("#next")
    assert page.text_content("#step-label") == f"step 4 of {len(want)}" and params(page)["step"] == "4"
    page.click("#first")
    assert params(page)["step"] == "1" and page.text_content("#step-label") == f"step 1 of {len(want)}"
    for step, shown in (("0", 1), ("99", len(want))):
        page.goto(f"{page.base}/sort?seq={'+'.join(seq)}&step={step}")
        ready(page)
        assert page.text_content("#step-label") == f"step {shown} of {len(want)}", step
        assert params(page)["step"] == str(shown)
        assert page.get_attribute("#compiled", "data-produced") == " ".join(want[:shown])


def test_geoff_a_link_whose_convention_is_none_is_passed_over_as_heads_is(page):
    """/geoff?conv=xyz&grad=1 (the URL takes conv=exam or nothing) took every number off the page with "loss:
    convention must be one of teacher_forcing, exam, got ''", naming a '' nobody typed (the menu has no 'xyz', so it
    sent its empty value). Passed over as heads=3 is: standard teacher forcing, the exam's model's loss and gradients
    (torch)."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1&conv=xyz")
    page.wait_for_selector("body[data-state=ready], body[data-state=error]")
    assert page.evaluate("document.body.dataset.state") == "ready"
    loss, norms = _oracle(0)
    assert page.input_value("#convention") == "teacher_forcing"
    assert page.text_content("#loss-teacher_forcing") == f"{loss:.4f}"
    shown = page.eval_on_selector_all("#grad-norms td[data-param]", "tds => tds.map(td => td.textContent)")
    assert shown[:2] == ["0 (frozen)", "0 (frozen)"], shown
    assert [float(x) for x in shown[2:4]] == pytest.approx([norms["W_V"], norms["W_O"]], rel=1e-3), shown


def test_a_norm_reads_as_its_explanation_ends(page):
    """Problem 2.5's norms were written in the page with 4 significant digits (toPrecision(4)): W_O's "3.932", whose
    click explained "... = sqrt(15.4594) = 3.9318", and W_V's at sqrt(d_k) "0.02662" beside 4 decimals everywhere else.
    Now as the server writes them (4 decimals): torch's norms to 4 places, and the explanation ends with the number
    clicked."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    _, at0 = _oracle(0)
    _, at_sqrt = _oracle(math.sqrt(2))
    shown = page.eval_on_selector_all("#grad-norms td[data-param]", "tds => tds.map(td => td.textContent)")
    want = [f"{n[k]:.4f}" for n in (at0, at_sqrt) for k in ("W_Q", "W_K", "W_V", "W_O")]
    assert shown == ["0 (frozen)", "0 (frozen)"] + want[2:], shown
    page.locator("#grad-norms tr[data-t='0'] td").nth(3).click()
    page.wait_for_selector("#explain-panel[data-cell='norm[W_O,T=0]']")
    assert page.text_content("#explain .explain-summary").endswith(f"= {shown[3]}")


def test_the_keyboard_focus_stays_on_the_step_and_lands_on_it_after_the_last_undo(page):
    """Enter on "gradient step" disabled the button while the step was on its way, which dropped the keyboard focus
    to the page's body (a screen reader then reads from the top); "undo step" back to the exam's weights disabled
    itself with the focus on it, the same loss. Now the focus stays on the step button, and the last undo hands it
    to the step button beside it; Enter there steps again."""
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    ready(page)
    focused = "() => document.activeElement.id"
    page.focus("#step")
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).has('W_V')")
    ready(page)
    assert page.evaluate(focused) == "step"
    page.focus("#undo")
    page.keyboard.press("Enter")
    page.wait_for_function("() => !new URLSearchParams(location.search).has('W_V')")
    ready(page)
    assert page.is_disabled("#undo") and page.evaluate(focused) == "step"
    page.keyboard.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).has('W_V')")


def test_gradients_ticked_for_a_sequence_without_start_keep_its_matrices(page):
    """/geoff?seq=D+A+A&grad=1 took every matrix off the page ("a loss needs a <START> token"), though the same
    sequence without grad=1 shows them and says it has no loss. Its matrices stay, and the gradients' panel says why
    there are none; a sequence with <START> gets its gradients back. Oracle: R = Z W_O with P the argmax of Q K^T,
    worked by hand for D A A (X rows D, A, A; Q = K = V = X W_Q: D (3, 0), A (0, 3); each row attends to the tokens
    equal to it so far: Z = (3, 0), (0, 3), (0, 3); W_O = [[0, 1, 0, 1], [1, 0, 1, 0]])."""
    page.goto(f"{page.base}/geoff?seq=D+A+A&T=0&grad=1")
    page.wait_for_selector("body[data-state=ready], body[data-state=error]")
    assert page.evaluate("document.body.dataset.state") == "ready"
    assert page.is_visible("#matrices-panel") and page.is_visible("#no-gradients")
    assert "no gradients: a loss needs a <START> token" in page.text_content("#no-gradients")
    R = [t for t in page.eval_on_selector_all("#R td", "tds => tds.map(td => td.textContent.trim())") if t]
    assert R == ["0", "3", "0", "3", "3", "0", "3", "0", "3", "0", "3", "0"], R
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0&grad=1")
    page.wait_for_selector("body[data-state=ready]")
    assert page.query_selector("#no-gradients") is None and page.is_visible("#grad-norms")
