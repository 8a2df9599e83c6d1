"""One gradient step on Geoff's transformer (dlexam.geoff.step, Problem 2.5 live), against W - lr * autograd."""

from __future__ import annotations

import pytest
import torch

from dlexam import geoff
from dlexam.errors import UserError

EXAMPLE = "D A A <START> A D <STOP>"


@pytest.mark.parametrize("temperature, frozen", [(0.0, {"W_Q", "W_K"}), ("sqrt", set())])
def test_which_matrices_move(temperature, frozen):
    step = geoff.gradient_step(geoff.GeoffQuery(EXAMPLE, temperature), lr=0.1)
    assert {m for m, moved in step.moved.items() if not moved} == frozen
    assert step.loss_after < step.loss_before


def test_the_step_is_w_minus_lr_times_the_autograd_gradient():
    W_V = ((1.0, 0.5), (0.0, 2.0), (-1.0, 1.0), (3.0, 0.25))
    w = geoff.GeoffWeights(W_V=W_V)
    q = geoff.GeoffQuery("A B C <START> A B C <STOP>", 0.8, convention="exam", weights=w)
    step = geoff.gradient_step(q, lr=0.05, matrices=("E", "W_V"))
    # the oracle: autograd on a hand-written forward of the same formulas, in float64
    E, Wq, Wk, Wv, Wo = (w.tensor(n).clone().requires_grad_(n in ("E", "W_V"))
                         for n in ("E", "W_Q", "W_K", "W_V", "W_O"))
    ids = geoff.parse_sequence("A B C <START> A B C <STOP>")
    X = E[ids]
    s = (X @ Wq) @ (X @ Wk).T / 0.8
    s = s.masked_fill(torch.triu(torch.ones_like(s, dtype=torch.bool), 1), float("-inf"))
    logits = (torch.softmax(s, -1) @ (X @ Wv) @ Wo) @ E.T
    rows = list(range(4, 8))  # the exam's convention: each output token scored by its own row
    loss = -torch.log_softmax(logits[rows], -1)[range(4), [ids[r] for r in rows]].sum()
    gE, gV = torch.autograd.grad(loss, [E, Wv])
    assert step.loss_before == pytest.approx(loss.item(), abs=1e-12)
    torch.testing.assert_close(step.after.tensor("E"), w.tensor("E") - 0.05 * gE)
    torch.testing.assert_close(step.after.tensor("W_V"), w.tensor("W_V") - 0.05 * gV)
    assert step.after.W_Q == w.W_Q and step.change.keys() == {"E", "W_V"}


def test_two_heads_step_the_4x4_output_matrix():
    step = geoff.gradient_step(geoff.GeoffQuery(EXAMPLE, "sqrt", heads=2), lr=0.1, matrices=("W_O",))
    # one key name for the matrix two heads use, in the change, the gradient norms and the weights (issue 22 item 8)
    assert set(step.change) == set(step.gradient_norms) == {"multi_W_O"}
    assert step.after.W_O == geoff.EXAM_WEIGHTS.W_O and step.after.multi_W_O != geoff.EXAM_WEIGHTS.multi_W_O


@pytest.mark.parametrize("matrices, lr", [(("W_X",), 0.1), ((), 0.1), (("W_Q",), 0.0), (("W_Q",), float("nan"))])
def test_bad_steps(matrices, lr):
    with pytest.raises(UserError):
        geoff.gradient_step(geoff.GeoffQuery(EXAMPLE), lr=lr, matrices=matrices)
