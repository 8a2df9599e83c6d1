"""/geoff on a variant whose k heads have weights of their own (``multi_heads``: each head's W_Q, W_K, W_V).

2026-12-07: a gradient step on `/geoff?variant=0&difficulty=harder` (2 heads, T = sqrt(d_k)) moved each head's own
W_Q, W_K, W_V, but the page kept only the one-head model's matrices and showed the loss of the un-stepped heads
(10.3845, where the step's loss_after is 10.4673); the API's `weights` refused `multi_heads` ("unknown matrix").
The oracle here: the loss computed with torch from the stepped per-head weights, written out below."""

from __future__ import annotations

import json
import math

import pytest
import torch

from .test_in_process import app_state, call  # noqa: F401 - app_state is a fixture

VARIANT = {"variant": 0, "difficulty": "harder"}


def torch_loss(w: dict, vocab: list[str], seq: list[str], T: float) -> float:
    """Teacher forcing's summed cross-entropy of the tokens after <START>, of k heads each with its own
    W_Q, W_K, W_V, concatenated and multiplied by multi_W_O; logits = R E^T. Written here, from the formulas."""
    return float(torch_loss_tensor(w, vocab, seq, T))


def torch_loss_tensor(w: dict, vocab: list[str], seq: list[str], T: float) -> torch.Tensor:
    """The same loss as a tensor (a matrix of `w` may be a float64 tensor that requires its gradient)."""
    E = torch.tensor(w["E"], dtype=torch.float64)
    X = E[[vocab.index(t) for t in seq]]  # (n, d_model)
    n = X.shape[0]
    future = ~torch.ones(n, n, dtype=torch.bool).tril()
    Z = []
    for h in w["multi_heads"]:
        Q, K, V = (X @ torch.as_tensor(h[m], dtype=torch.float64) for m in ("W_Q", "W_K", "W_V"))  # (n, d_head)
        P = torch.softmax((Q @ K.T / T).masked_fill(future, -math.inf), dim=1)  # (n, n)
        Z.append(P @ V)
    R = torch.cat(Z, dim=1) @ torch.tensor(w["multi_W_O"], dtype=torch.float64)  # (n, d_model)
    log_p = torch.log_softmax(R @ E.T, dim=1)  # (n, V)
    s = seq.index("<START>")
    return -sum(log_p[t, vocab.index(seq[t + 1])] for t in range(s, n - 1))


def _step(state) -> tuple[dict, dict]:
    status, d = call(state, "GET", "/api/geoff/defaults", VARIANT)
    d = json.loads(d)
    assert status == 200 and d["weights"].get("multi_heads"), d  # the heads have weights of their own
    asked = {**VARIANT, "sequence": d["example"], "temperature": "sqrt", "heads": d["heads"]}
    status, s = call(state, "POST", "/api/geoff/step", body=json.dumps(asked).encode())
    assert status == 200, s
    return d, {**json.loads(s), "asked": asked}


def test_the_stepped_heads_posted_back_give_the_steps_loss_after(app_state):  # noqa: F811
    d, s = _step(app_state)
    w = s["weights"]
    before = s["previous_weights"]["multi_heads"]
    assert w["multi_heads"] != before  # the step moved each head's own matrices
    d_k = len(w["W_Q"][0])
    oracle = torch_loss(w, d["vocab"], d["example"].split(), math.sqrt(d_k))
    assert s["loss_after"] == pytest.approx(oracle, rel=1e-12)
    status, r = call(app_state, "POST", "/api/geoff", body=json.dumps({**s["asked"], "weights": w}).encode())
    assert status == 200, r
    r = json.loads(r)
    assert r["loss"]["teacher_forcing"]["value"] == s["loss_after"]
    # the one-head model beside them is the stepped W_Q, W_K, W_V, W_O's (the step moved those too)
    one_head = {k: v for k, v in w.items() if k not in ("multi_W_O", "multi_heads")}
    status, one = call(app_state, "POST", "/api/geoff",
                       body=json.dumps({**s["asked"], "heads": 1, "weights": one_head}).encode())
    assert status == 200 and json.loads(one)["loss"]["teacher_forcing"]["value"] == \
        r["one_head"]["loss"]["teacher_forcing"]["value"]


def _bad_heads(w: dict, how: str):
    heads = json.loads(json.dumps(w["multi_heads"]))
    if how == "shape":
        heads[1]["W_K"] = heads[1]["W_K"][:-1]
    elif how == "cap":
        heads[0]["W_V"][0][0] = 2e6
    elif how == "count":
        heads = heads[:1]
    elif how == "name":
        heads[1]["W_O"] = heads[1].pop("W_V")
    elif how == "type":
        heads = {"W_Q": heads[0]["W_Q"]}
    return heads


@pytest.mark.parametrize(("how", "field", "words"), [
    ("shape", "weights.multi_heads[1].W_K", "must be a"),
    ("cap", "weights.multi_heads[0].W_V", "within +-1e+06"),
    ("count", "weights.multi_heads", "2 heads"),
    ("name", "weights.multi_heads[1]", "W_V"),
    ("type", "weights.multi_heads", "list"),
])
def test_a_heads_own_matrix_is_checked_like_every_other(app_state, how, field, words):  # noqa: F811
    """Shape, finiteness, the cap: a 400 naming the head and the matrix."""
    d, s = _step(app_state)
    w = {**s["weights"], "multi_heads": _bad_heads(s["weights"], how)}
    status, r = call(app_state, "POST", "/api/geoff", body=json.dumps({**s["asked"], "weights": w}).encode())
    r = json.loads(r)
    assert status == 400 and r["field"] == field and words in r["error"], r


def test_a_non_finite_head_weight_is_refused(app_state):  # noqa: F811
    d, s = _step(app_state)
    w = json.loads(json.dumps(s["weights"]))
    body = json.dumps({**s["asked"], "weights": w}).replace(str(w["multi_heads"][0]["W_Q"][0][0]), "1e999", 1)
    status, r = call(app_state, "POST", "/api/geoff", body=body.encode())
    r = json.loads(r)
    assert status == 400 and r["field"].startswith("weights.multi_heads") and "1e999" in r["error"], r


def test_the_heads_own_matrices_with_one_head_would_not_be_used(app_state):  # noqa: F811
    """With heads = 1 edited per-head matrices are refused, as an edited multi_W_O is; the variant's own are no edit."""
    d, s = _step(app_state)
    w = {**s["weights"], "multi_W_O": s["previous_weights"]["multi_W_O"]}
    status, r = call(app_state, "POST", "/api/geoff",
                     body=json.dumps({**s["asked"], "heads": 1, "weights": w}).encode())
    assert status == 400 and json.loads(r)["field"] == "weights.multi_heads", r
    own = {**w, "multi_heads": s["previous_weights"]["multi_heads"], "multi_W_O": s["previous_weights"]["multi_W_O"]}
    status, r = call(app_state, "POST", "/api/geoff",
                     body=json.dumps({**s["asked"], "heads": 1, "weights": own}).encode())
    assert status == 200, r


def test_the_cli_steps_to_the_same_loss(app_state, capsys):  # noqa: F811
    """`dlexam geoff --variant 0 --difficulty harder --heads 2 -T sqrt --explain loss_after` agrees with the API."""
    from dlexam.cli import main

    d, s = _step(app_state)
    rc = main(["geoff", "--variant", "0", "--difficulty", "harder", "--heads", str(d["heads"]), "--temperature", "sqrt",
               "--explain", "loss_after", "--json"])
    assert rc in (0, None)
    e = json.loads(capsys.readouterr().out)
    assert e["loss_after"] == s["loss_after"]


def _from_url(p: dict, d: dict) -> dict:
    """The page's weights as its URL carries them (a matrix "a,b;c,d"; the variant's own where the URL has none)."""
    rows = lambda text: [[float(v) for v in r.split(",")] for r in text.split(";")]  # noqa: E731
    w = {"E": rows(p["E"]) if "E" in p else d["weights"]["E"],
         "multi_W_O": rows(p["W_O2"]) if "W_O2" in p else d["weights"]["multi_W_O"]}
    w["multi_heads"] = [{n: rows(p[f"{n}_h{h + 1}"]) if f"{n}_h{h + 1}" in p else own[n] for n in ("W_Q", "W_K", "W_V")}
                        for h, own in enumerate(d["weights"]["multi_heads"])]
    return w


def test_after_a_step_the_page_shows_the_steps_loss_after(page, server):
    """2 heads with their own W_Q, W_K, W_V, T = sqrt(d_k): after a step the loss shown is the step's loss_after, and
    the loss computed here with torch from the weights the URL carries; a reload shows it again, undo the loss
    before."""
    from .browser import counter, params, ready

    _, _, d = server.get("/api/geoff/defaults?variant=0&difficulty=harder")
    page.goto(f"{page.base}/geoff?variant=0&difficulty=harder&heads={d['heads']}&T=sqrt")
    ready(page)
    shown = lambda: float(page.text_content("#loss-teacher_forcing"))  # noqa: E731
    before = shown()
    n = counter(page, "rendered")
    with page.expect_response("**/api/geoff/step") as answer:
        page.click("#step")
    s = answer.value.json()
    ready(page, rendered=n + 1)
    text = page.text_content("#loss-teacher_forcing")
    digits = len(text.split(".")[1]) if "." in text else 0
    assert before == round(s["loss_before"], digits)
    assert float(text) == round(s["loss_after"], digits) and digits >= 4, (text, s["loss_after"])
    assert page.text_content("#loss-after") == f"{s['loss_after']:.4f}" == f"{shown():.4f}"
    p = params(page)
    assert all(f"{n}_h{h}" in p for n in ("W_Q", "W_K", "W_V") for h in (1, 2))  # the heads' own, in the URL
    oracle = torch_loss(_from_url(p, d), d["vocab"], d["example"].split(), math.sqrt(len(d["weights"]["W_Q"][0])))
    assert oracle == pytest.approx(s["loss_after"], rel=1e-12)
    page.reload()
    ready(page)
    assert page.text_content("#loss-teacher_forcing") == text  # the URL is the page's state
    n = counter(page, "rendered")
    page.click("#undo")
    ready(page, rendered=n + 1)
    assert shown() == before and "W_Q_h1" not in params(page)


def test_the_captions_say_which_model_and_what_T_takes(page):
    """P's caption has one pair of parentheses (it read "P (T = 0 (argmax))"); the Loss panel says whose loss it is
    with 2 heads (the k-head model's, not the one-head one beside it); the T field states the values it takes, in
    the words of `dlexam geoff --temperature` (dlexam.bounds.QUERY_TEMPERATURES)."""
    from dlexam.bounds import QUERY_TEMPERATURES

    from .browser import counter, ready

    page.goto(f"{page.base}/geoff?T=0")
    ready(page)
    assert page.text_content("#P-h0-caption") == "P at T = 0 (argmax)"
    assert "one-head model" in page.text_content("#loss-model")
    note = page.text_content("#t-note")
    assert QUERY_TEMPERATURES.words() == "0, a number in (0, inf), or 'sqrt'" and QUERY_TEMPERATURES.words() in note
    assert page.get_attribute("#t-value", "aria-describedby") == "t-note"
    n = counter(page, "rendered")
    page.check("#heads-2")
    ready(page, rendered=n + 1)
    assert "the loss of the 2-head model" in page.text_content("#loss-model")


def test_a_heads_own_matrix_is_edited_as_W_Q_is(page, server):
    """Head 2's own W_Q has an editor, the one W_Q has (until 2026-12-07 the heads' own matrices had none: only a
    gradient step moved them). One typed cell: the loss shown is torch's from the weights the URL carries, and head
    2's gradient autograd's; a bad value is W_Q's one-line message naming the head's cell; a reload keeps the edit."""
    from .browser import counter, matrix, params, ready
    from .test_pages import errored

    _, _, d = server.get("/api/geoff/defaults?variant=0&difficulty=harder")
    T = 0.5
    page.goto(f"{page.base}/geoff?variant=0&difficulty=harder&heads={d['heads']}&T={T}&grad=1")
    ready(page)
    cell = page.locator('#edit-W_Q-h1 input[aria-label="W_Q of head 2, row B, column d1"]')
    assert cell.count() == 1, "head 2's W_Q has no editor"
    before = page.text_content("#loss-teacher_forcing")
    n = counter(page, "rendered")
    cell.fill("1.5")
    ready(page, rendered=n + 1)
    text = page.text_content("#loss-teacher_forcing")
    p = params(page)
    assert p["W_Q_h2"].split(";")[0].split(",")[0] == "1.5" and not {"W_Q", "W_Q_h1"} & set(p), p
    w = _from_url(p, d)
    assert w["multi_heads"][1]["W_Q"][0][0] == 1.5 and w["multi_heads"][0] == d["weights"]["multi_heads"][0]
    W = torch.tensor(w["multi_heads"][1]["W_Q"], dtype=torch.float64, requires_grad=True)
    w["multi_heads"][1]["W_Q"] = W
    loss = torch_loss_tensor(w, d["vocab"], d["example"].split(), T)
    loss.backward()
    digits = len(text.split(".")[1])
    assert text != before and digits >= 4 and float(text) == pytest.approx(loss.item(), abs=0.51 * 10 ** -digits)
    shown = [float(v) for r in matrix(page, "#grad-W_Q-h1") for v in r]  # d loss / d W_Q (head 2)
    assert shown == pytest.approx(W.grad.flatten().tolist(), abs=1e-4), (shown, W.grad)

    label = "W_Q, row B, column d1"
    said = {}
    for where, sel, keep in [("head", cell, "1.5"), ("W_Q", page.locator(f'#edit-W_Q input[aria-label="{label}"]'),
                                                      None)]:
        keep = keep or sel.input_value()
        # a phone's keyboard for the cell: inputmode "decimal" is iOS's keypad of digits and a point, with no '-' or
        # '/', so -2 and 1/3 could not be typed on an iPhone (2026-12-07)
        assert sel.get_attribute("inputmode") in (None, "text"), where
        sel.fill("abc")
        said[where] = errored(page, box="#error", says='"abc"')  # the alert: one line
        assert sel.get_attribute("aria-invalid") == "true" and page.is_hidden("#matrices-panel")
        assert params(page)["W_Q_h2"] == p["W_Q_h2"]  # the last valid weights, never the refused one
        sel.fill(keep)
        ready(page)  # from the error state: the numbers are back
    assert said["W_Q"] == f'{label}: "abc" is not a number: type a number (such as 0.5, -2 or 1/3)'
    assert said["head"] == said["W_Q"].replace("W_Q,", "W_Q of head 2,") and "\n" not in said["head"]

    page.reload()
    ready(page)
    assert cell.input_value() == "1.5" and page.text_content("#loss-teacher_forcing") == text
    # the arithmetic of head 2's Q[B, d1] lights head 2's W_Q column d1 in its editor (not the one-head model's W_Q)
    page.click("#Q-h1 tr:nth-child(8) td:nth-of-type(1)")  # row 7 (index 6): head 2's Q[6,0]
    page.wait_for_selector("#explain-panel[data-cell='Q[h2,6,0]']")
    lit = lambda sel: page.eval_on_selector_all(sel, "tds => tds.map(td => td.closest('tr').rowIndex)")  # noqa: E731
    assert lit("#edit-W_Q-h1 td.source") == [1, 2, 3, 4, 5] and lit("#edit-W_Q td.source") == []
    assert "W_Q_h2[:, d1] = (1, 0, 0, 0, 0) . (3/2, 3, 2, 1, 1)" in page.text_content("#explain")  # the edit, exact

    # a link whose head matrix is none is refused as a link's W_Q is, until that editor is edited
    page.goto(f"{page.base}/geoff?variant=0&difficulty=harder&heads={d['heads']}&T={T}&W_Q_h2=1e400,0")
    said = errored(page, box="#error", says="the link's W_Q_h2")
    rows, cols = len(d["weights"]["W_Q"]), len(d["weights"]["W_Q"][0])
    assert said.startswith(f'the link\'s W_Q_h2 ("1e400,0") is not {rows} rows of {cols} numbers between -1e6 and '
                           "1e6: its editor shows the variant's W_Q of head 2; edit it or reset"), said
    cell.fill("1.5")
    ready(page)
    assert page.text_content("#loss-teacher_forcing") == text and params(page)["W_Q_h2"] == p["W_Q_h2"]


def test_a_bad_cell_of_a_matrix_that_one_head_does_not_use_does_not_hold_the_one_head_page(page, server):
    """Head 2's own W_Q with a bad cell, then one head chosen: the one-head model uses no head's own matrix, and its
    editor goes, so the page's numbers are computed (it stayed in its error state, its refusal naming a cell no longer
    on the page); back at two heads the editor returns with its last valid numbers, and no refusal."""
    from .browser import counter, ready

    _, _, d = server.get("/api/geoff/defaults?variant=0&difficulty=harder")
    page.goto(f"{page.base}/geoff?variant=0&difficulty=harder&heads={d['heads']}&T=0")
    ready(page)
    page.locator('#edit-W_Q-h1 input[aria-label="W_Q of head 2, row B, column d1"]').fill("x")
    page.wait_for_selector("body[data-state=error]")
    assert "W_Q of head 2, row B, column d1" in page.text_content("#error")
    n = counter(page, "rendered")
    page.check("#heads-1")
    page.wait_for_function("n => Number(document.body.dataset.rendered) > n", arg=n)  # computed anew
    ready(page)
    assert page.is_hidden("#results-error") and page.text_content("#error") == ""
    n = counter(page, "rendered")
    page.check("#heads-2")
    page.wait_for_function("n => Number(document.body.dataset.rendered) > n", arg=n)
    ready(page)
    cell = page.locator('#edit-W_Q-h1 input[aria-label="W_Q of head 2, row B, column d1"]')
    assert cell.input_value() == str(d["weights"]["multi_heads"][1]["W_Q"][0][0]).removesuffix(".0")
    assert cell.get_attribute("aria-invalid") is None and page.text_content("#error") == ""
