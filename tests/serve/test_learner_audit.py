"""A learner's audit of /geoff (2026-12-06): a gradient step that leaves the weights' cap, and tiny non-zero numbers
(softmax weights, gradients at a small T) that were written as the exact 0."""

from __future__ import annotations

import math

import pytest
import torch

from .test_pages import reads

EXAMPLE = "D A A <START> A D <STOP>"
# weights at the cap (+-1e6) whose gradient step at the page's default lr (0.1) takes W_O, row d2, column D from -1e6
# to -1.025e6: past the cap the model takes (found by trying such weights; the oracle below recomputes it)
BIG = {"W_V": [[0, -1e6], [1e6, 0], [1e6, 1e6], [1e6, 1e6]], "W_O": [[1, -1e6, 1, 1e6], [-1e6, 1, 1, -1e6]]}


def _autograd_step(weights: dict, lr: float) -> dict:
    """The oracle: the exam's transformer typed here, argmax attention (T = 0, ties share), teacher forcing, one SGD
    step of W_Q, W_K, W_V, W_O by autograd."""
    vocab = ["A", "B", "C", "D", "<START>", "<STOP>"]
    qkv = [[0, 3], [1, 2], [2, 1], [3, 0]]
    w = {"E": torch.eye(6, 4, dtype=torch.float64).tolist(), "W_Q": qkv, "W_K": qkv, **weights}
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=k != "E") for k, v in w.items()}
    ids = [vocab.index(s) for s in EXAMPLE.split()]
    X = t["E"][ids]
    S = (X @ t["W_Q"]) @ (X @ t["W_K"]).T
    S = S.detach().masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), -math.inf)
    P = (S == S.max(1, keepdim=True).values).double()
    logits = (P / P.sum(1, keepdim=True)) @ (X @ t["W_V"]) @ t["W_O"] @ t["E"].T
    loss = -torch.log_softmax(logits, 1)[[3, 4, 5], [ids[4], ids[5], ids[6]]].sum()
    loss.backward()
    return {k: (v - lr * v.grad).tolist() for k, v in t.items() if k in ("W_V", "W_O")}


def test_a_gradient_step_past_the_weights_cap_says_so_in_one_line(server):
    after = _autograd_step(BIG, 0.1)
    assert after["W_O"][1][3] < -1e6 and all(abs(v) <= 1e6 for r in after["W_V"] for v in r)  # only W_O[2, 4] leaves it
    status, _, d = server.post("/api/geoff/step", {"sequence": EXAMPLE, "weights": BIG})
    assert status == 400, d
    # one line about the step, naming the entry with its values before and after, and what to do: not "W_O entries
    # must be finite numbers within +-1e+06, got -1025000.0" under "field": "seq", about an input nobody typed
    assert set(d) == {"error", "field"} and d["field"] is None, d
    assert d["error"] == ("the gradient step (lr 0.1) would take W_O, row d2, column D from -1e6 to -1.025e6, past "
                          "the largest weight the model takes (between -1e6 and 1e6): take a smaller lr, or smaller "
                          "weights")
    # the step's results are explained with the step's own request: the same refusal, not the cell's fault
    status, _, e = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "weights": BIG, "cell": "loss_after"})
    assert (status, e) == (400, d)
    # lr 100 on the same weights: the first entry past the cap, in W_V
    status, _, d = server.post("/api/geoff/step", {"sequence": EXAMPLE, "weights": BIG, "lr": 100})
    assert status == 400 and d["field"] is None, d
    assert d["error"].startswith("the gradient step (lr 100) would take W_V, "), d
    # the same weights halved step (to at most 512,500: the oracle's step, entry by entry)
    half = {k: [[v / 2 for v in r] for r in m] for k, m in BIG.items()}
    status, _, s = server.post("/api/geoff/step", {"sequence": EXAMPLE, "weights": half})
    assert status == 200, s
    want = _autograd_step(half, 0.1)
    # atol: an entry whose step is 0 comes out of sums of terms near 5e5, where float64's rounding is 6e-11; the two
    # orders of addition (the server's, autograd's) left -1.5e-12 against 0.0 on an Intel Xeon (2026-12-08)
    for name in ("W_V", "W_O"):
        assert torch.allclose(torch.tensor(s["weights"][name], dtype=torch.float64),
                              torch.tensor(want[name], dtype=torch.float64), rtol=1e-12, atol=1e-9)


def _oracle(T: float) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """(P, d loss / d W_Q, {"Z", "R", "logits"}) of the exam's transformer at temperature T > 0 (teacher forcing),
    typed here: softmax of the causal scores / T by torch.softmax, the gradient by autograd."""
    vocab = ["A", "B", "C", "D", "<START>", "<STOP>"]
    qkv = torch.tensor([[0, 3], [1, 2], [2, 1], [3, 0]], dtype=torch.float64)
    W_Q = qkv.clone().requires_grad_(True)
    W_O = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0]], dtype=torch.float64)
    E = torch.eye(6, 4, dtype=torch.float64)
    ids = [vocab.index(s) for s in EXAMPLE.split()]
    X = E[ids]
    S = ((X @ W_Q) @ (X @ qkv).T / T).masked_fill(torch.triu(torch.ones(7, 7, dtype=torch.bool), 1), -math.inf)
    P = torch.softmax(S, 1)
    Z = P @ (X @ qkv)
    logits = Z @ W_O @ E.T
    (-torch.log_softmax(logits, 1)[[3, 4, 5], [ids[4], ids[5], ids[6]]].sum()).backward()
    return P.detach(), W_Q.grad, {"Z": Z.detach(), "R": (Z @ W_O).detach(), "logits": logits.detach()}


def test_a_tiny_softmax_weight_or_gradient_is_not_written_as_the_exact_0(server):
    # T = 0.2 (on the page's slider): the gradient of W_Q is tiny (~1e-18) but not 0; the exact tree wrote every entry
    # "0", the frozen W_Q of T = 0 (Problem 2.5), beside a norm of 1.852e-18 in the same panel
    _, g, _ = _oracle(0.2)
    assert g[0, 0] != 0 and g.abs().max() < 1e-17
    _, _, d = server.get(f"/api/geoff?seq={EXAMPLE.replace(' ', '+').replace('<', '%3C').replace('>', '%3E')}"
                         "&T=0.2&grad=1&exact=1")
    shown = d["exact"]["gradients"]["W_Q"]
    assert all(reads(shown[i][j], float(g[i, j])) for i in range(4) for j in range(2)), shown
    assert reads(d["exact"]["gradient_at_temperature"]["norms"]["W_Q"], float(g.norm()))
    # P at T = 0.3: A's weight on D is 1 / (e^30 + 1) = 9.36e-14, written "0"; masked entries stay the exact 0
    # and what it mixes: Z[1, 0] = 3 x 9.36e-14, R and the logits (written "0")
    P, _, mixed = _oracle(0.3)
    _, _, d = server.post("/api/geoff?exact=1", {"sequence": EXAMPLE, "temperature": 0.3})
    for name, want in [("attention", P), *mixed.items()]:
        got = d["exact"][name]
        assert all(reads(got[i][j], float(want[i, j])) for i in range(7) for j in range(want.shape[1])), (name, got)
    assert d["exact"]["attention"][1][0] == "9.358e-14" and d["exact"]["attention"][0][1] == "0"
    assert d["exact"]["Z"][1][0] == "2.807e-13"
    # Q = X W_Q with a weight of 0.1 + 0.2 - 0.3 noise is still the exact 0 it stands for (the tolerance stays there)
    _, _, d = server.post("/api/geoff?exact=1", {"sequence": EXAMPLE, "weights": {
        "W_Q": [[0.1 + 0.2 - 0.3, 3], [1, 2], [2, 1], [3, 0]]}})
    assert d["exact"]["Q"][1][0] == "0"


def test_a_tiny_gradient_clicked_explains_that_number(server):
    """The explanation of d loss / d W_Q[0, 0] at T = 0.2, of its norm and of the step's max |change|: the arithmetic
    wrote each tiny entry as 0 ("= 1*0 [A (position 5)] = 0", "sqrt(0^2 + ...) = 0", "0.1 x |0| = 0") beside the
    model's own -8.0e-19, 1.85e-18 and 1.67e-19."""
    _, g, _ = _oracle(0.2)
    _, _, mixed = _oracle(0.3)  # and Z[1, 0] = 3 x 9.36e-14 at T = 0.3, R[1, 1] its copy: "(0 ...)" before
    for T, cell, want in [(0.2, "dW_Q[0,0]", float(g[0, 0])), (0.2, "norm[W_Q]", float(g.norm())),
                          (0.2, "change[W_Q]", 0.1 * float(g.abs().max())), (0.3, "Z[1,0]", float(mixed["Z"][1, 0])),
                          (0.3, "R[1,1]", float(mixed["R"][1, 1]))]:
        status, _, e = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "temperature": T, "cell": cell})
        assert status == 200, e
        assert math.isclose(e["value"], want, rel_tol=1e-9), (cell, e["value"])
        assert math.isclose(e["computed"], want, rel_tol=1e-9), (cell, e["computed"], e["summary"])
        assert e["exact"] != "0" and reads(e["exact"], want), (cell, e["exact"])
        assert e["exact"] in e["summary"] and not e["summary"].endswith("= 0"), e["summary"]


def test_on_the_page_a_tiny_gradient_reads_as_its_explanation(page):
    """/geoff at T = 0.2 with gradients: the d loss / d W_Q cell shows the oracle's number, and clicking it explains
    that number (the cell read "0" and its explanation "= 1*0 [A (position 5)] = 0", beside a norm of 1.852e-18)."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from .browser import EXAMPLE_Q, matrix, ready

    _, g, _ = _oracle(0.2)
    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.2&grad=1")
    ready(page)
    cells = matrix(page, "#grad-W_Q")
    assert all(reads(cells[i][j], float(g[i, j])) for i in range(4) for j in range(2)), cells
    page.locator("#grad-W_Q tr:has(td:not(.corner)) >> nth=0").locator("td:not(.corner)").nth(0).click()
    page.wait_for_selector("#explain-panel[data-cell='dW_Q[0,0]']")
    assert page.text_content("#explain .explain-exact") == cells[0][0] == "-8.004e-19"
    assert page.text_content("#explain .explain-summary").endswith("= 1*(-8.004e-19) [A (position 5)] = -8.004e-19")


def test_sqrt_typed_in_the_T_field_reads_as_the_sqrt_button_does(page):
    """"sqrt" typed in the T field is the URL's T=sqrt (the API takes it): P's caption read "T = 1.4142135623730951"
    with nothing to click, and the same URL reloaded "T = sqrt(d_k) = 1.4142" with the sqrt_d_k cell."""
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from .browser import EXAMPLE_Q, params, ready

    page.goto(f"{page.base}/geoff?{EXAMPLE_Q}&T=0.5")
    ready(page)
    page.fill("#t-value", "sqrt")
    page.wait_for_selector("#P-h0-caption [data-cell=sqrt_d_k]")
    ready(page)
    typed = page.text_content("#P-h0-caption")
    assert params(page)["T"] == "sqrt" and typed == f"P at T = sqrt(d_k) = {math.sqrt(2):.4f}"
    page.reload()
    ready(page)
    assert page.is_checked("#t-sqrt") and page.text_content("#P-h0-caption") == typed


def test_a_softmax_weight_reads_as_its_explanation_says(server):
    """At T = 0.3, P[A, A] = 1 - 9.4e-14 read "1" and A's three weights of row 5 (0.33333333333331 each, beside two of
    3.1e-14) "1/3", by format_exact's tolerance, where a click on them said 1.0000 and 0.3333 (a fraction only where a
    row's visible scores tie: <START>'s row, 1/4 each, and the first row, 1)."""
    P, _, _ = _oracle(0.3)
    _, _, d = server.post("/api/geoff?exact=1", {"sequence": EXAMPLE, "temperature": 0.3})
    shown = d["exact"]["attention"]
    assert (shown[0][0], shown[1][1], shown[3][0], shown[4][1]) == ("1", "1.0000", "1/4", "0.3333")
    assert float(P[1, 1]) < 1 and float(P[4, 1]) < 1 / 3 and math.isclose(float(P[3, 0]), 1 / 4, rel_tol=1e-15)
    for i, j in [(0, 0), (1, 0), (1, 1), (3, 0), (4, 0), (4, 1), (6, 6)]:
        _, _, e = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "temperature": 0.3, "cell": f"P[{i},{j}]"})
        assert e["exact"] == shown[i][j], (i, j, e["exact"], shown[i][j])
        assert reads(shown[i][j], float(P[i, j]))
