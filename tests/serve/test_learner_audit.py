"""A learner's audit of /geoff (2026-12-06): a gradient step that leaves the weights' cap, and tiny non-zero numbers
(softmax weights, gradients at a small T) that were written as the exact 0."""

from __future__ import annotations

import math

import torch

EXAMPLE = "D A A <START> A D <STOP>"
# weights at the cap (+-1e6) whose gradient step at the page's default lr (0.1) takes W_O row 2, column 4 from -1e6
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
    assert d["error"] == ("the gradient step (lr 0.1) would take W_O row 2, column 4 from -1e6 to -1.025e6, past "
                          "the largest weight the model takes (between -1e6 and 1e6): take a smaller lr, or smaller "
                          "weights")
    # the step's results are explained with the step's own request: the same refusal, not the cell's fault
    status, _, e = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "weights": BIG, "cell": "loss_after"})
    assert (status, e) == (400, d)
    # lr 100 on the same weights: the first entry past the cap, in W_V
    status, _, d = server.post("/api/geoff/step", {"sequence": EXAMPLE, "weights": BIG, "lr": 100})
    assert status == 400 and d["field"] is None, d
    assert d["error"].startswith("the gradient step (lr 100) would take W_V "), d
    # the same weights halved step (to at most 512,500: the oracle's step, entry by entry)
    half = {k: [[v / 2 for v in r] for r in m] for k, m in BIG.items()}
    status, _, s = server.post("/api/geoff/step", {"sequence": EXAMPLE, "weights": half})
    assert status == 200, s
    want = _autograd_step(half, 0.1)
    for name in ("W_V", "W_O"):
        assert torch.allclose(torch.tensor(s["weights"][name], dtype=torch.float64),
                              torch.tensor(want[name], dtype=torch.float64), rtol=1e-12, atol=0)
