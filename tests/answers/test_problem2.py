"""Problem 2: Geoff's model against the exam's matrices typed in by hand and a numpy re-derivation."""

from __future__ import annotations

import math
from fractions import Fraction as F

import numpy as np
import pytest

from dlexam.answers import answer
from dlexam.geoff.positions import bag_determines_next_token

pytestmark = pytest.mark.usefixtures("exam_text")  # the key reads the exam; skip without it

# The exam's P (Problem 2.2), typed in by hand.
EXAM_P = [[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, F(1, 2), F(1, 2), 0, 0, 0, 0],
          [F(1, 4)] * 4 + [0, 0, 0], [0, F(1, 3), F(1, 3), 0, F(1, 3), 0, 0], [F(1, 2), 0, 0, 0, 0, F(1, 2), 0],
          [F(1, 7)] * 7]

E = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], float)
W = np.array([[0, 3], [1, 2], [2, 1], [3, 0]], float)
W_O = np.array([[0, 1, 0, 1], [1, 0, 1, 0]], float)
IDS = [3, 0, 0, 4, 0, 3, 5]  # D A A <START> A D <STOP>


def numpy_loss(W_Q=W, W_K=W, W_V=W, W_O=W_O, rows=(3, 4, 5), targets=(0, 3, 5)):
    """An independent numpy forward of the exam model with argmax attention (ties shared)."""
    X = E[IDS]
    Q, K, V = X @ W_Q, X @ W_K, X @ W_V
    S = Q @ K.T
    P = np.zeros_like(S)
    for i in range(len(IDS)):
        row = S[i, : i + 1]
        best = np.isclose(row, row.max(), rtol=0, atol=1e-9)
        P[i, : i + 1] = best / best.sum()
    logits = P @ V @ W_O @ E.T
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -sum(logp[r, t] for r, t in zip(rows, targets, strict=True))


def test_pr2_1_order_invariance_and_bag_sufficiency():
    a = answer("Pr2.1").to_dict()
    for c in a["evidence"]["permutation_checks"]:
        assert c["max_logit_difference_from_START_on"] < 1e-12 and len(c["distinct_losses"]) == 1
    assert a["evidence"]["bag_sufficiency"]["conflicts"] == 0
    assert a["verdict"] == "agrees"
    # the check can fail: without the query token, "A A <START>" (-> A) and "A <START> A" (-> <STOP>) collide
    assert bag_determines_next_token(max_len=2, with_last_token=False)["conflicts"] > 0


def test_pr2_2_attention_matrix_equals_the_exams():
    a = answer("Pr2.2").to_dict()
    assert a["evidence"]["computed_P"] == [[str(F(v)) for v in row] for row in EXAM_P]
    assert a["evidence"]["exam_P"] == [[str(F(v)) for v in row] for row in EXAM_P]
    s = a["evidence"]["exam_QK^T_printout_vs_computed"]
    assert s["printed_rows"] == 6 and s["missing_true_rows"] == [5]
    assert a["verdict"] == "agrees"


def test_pr2_3_loss_both_conventions():
    a = answer("Pr2.3").to_dict()
    e3 = math.exp(3)
    exam = -2 * math.log(e3 / (2 * e3 + 4)) - math.log(1 / (2 * math.exp(9 / 7) + 2 * math.exp(6 / 7) + 2))
    tf = (-math.log(math.exp(1.5) / (2 * math.exp(1.5) + 2 * math.exp(0.75) + 2))  # row <START> -> A
          - 2 * math.log(1 / (2 * e3 + 4)))  # rows A -> D and D -> <STOP>
    assert round(exam, 4) == 4.2114
    assert math.isclose(a["evidence"]["exam_convention"]["value"], exam, rel_tol=1e-12)
    assert math.isclose(a["evidence"]["teacher_forcing"]["value"], tf, rel_tol=1e-12)
    assert math.isclose(numpy_loss(), tf, rel_tol=1e-12)
    assert math.isclose(numpy_loss(rows=(4, 5, 6)), exam, rel_tol=1e-12)
    assert a["evidence"]["exam_convention"]["rows"] == [5, 6, 7]
    assert a["evidence"]["teacher_forcing"]["rows"] == [4, 5, 6]
    assert a["evidence"]["exam_Z_printout_vs_computed"]["missing_true_rows"] == [3]
    assert a["verdict"] == "agrees"


def test_pr2_4_two_heads_are_not_identical():
    a = answer("Pr2.4").to_dict()
    e3 = math.exp(3)
    # [Z Z] I_4 swaps A<->B, C<->D: rows 5, 6 now score A and D with probability 1/(2e^3+4)
    exam_two = 2 * math.log(2 * e3 + 4) - math.log(1 / (2 * math.exp(9 / 7) + 2 * math.exp(6 / 7) + 2))
    assert math.isclose(a["evidence"]["loss"]["exam"]["two_heads"], exam_two, rel_tol=1e-12)
    assert math.isclose(numpy_loss(W_O=np.hstack([np.eye(2), np.eye(2)]), rows=(4, 5, 6)), exam_two, rel_tol=1e-12)
    assert a["evidence"]["two_heads_R_minus_swapped_columns_of_R"] == 0
    assert a["verdict"] == "disagrees" and a["explanation"]


def test_pr2_5_gradients_by_finite_differences():
    a = answer("Pr2.5").to_dict()
    eps = 1e-6
    fd = {}
    for name in ("W_Q", "W_K", "W_V"):
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            d = np.zeros_like(W)
            d[idx] = eps
            g[idx] = (numpy_loss(**{name: W + d}) - numpy_loss(**{name: W - d})) / (2 * eps)
        fd[name] = np.linalg.norm(g)
    norms = a["evidence"]["gradient_norms"]["argmax_T0/teacher_forcing"]
    assert fd["W_Q"] == 0 and fd["W_K"] == 0 and norms["W_Q"] == 0 and norms["W_K"] == 0
    assert math.isclose(norms["W_V"], fd["W_V"], rel_tol=1e-6) and fd["W_V"] > 0.1
    assert a["evidence"]["moving_at_sqrt"] == ["W_K", "W_O", "W_Q", "W_V"]
    assert a["verdict"] == "partly agrees" and "W_V" in a["explanation"]  # right on W_Q, W_K and the fix


# Problem 2.2's sentence, typed in from the exam: d is the length of the score vector s, then T = sqrt(d).
PR22_D = ("Let softmax(s/T) denote the softmax transformation of a vector $s \\in \\mathbb{R}^d$ with temperature T. "
          "Normally, transformers use scaled dot product attention with $T = \\sqrt{d}$")


def test_pr2_5_notes_say_the_exam_defines_d_as_the_length_of_s(exam_text):
    """The exam's T = sqrt(d) follows 's in R^d' (s the scores: one per attended position, up to 7 here), while
    scaled dot-product attention divides by sqrt(d_k), d_k = 2: the key must say which d it reads and why."""
    assert PR22_D in exam_text
    a = answer("Pr2.5").to_dict()
    assert PR22_D in a["exam_quotes"] and a["exam_quotes_found"] is True
    note = next(n for n in a["notes"] if "sqrt(d)" in n)
    assert "s in R^d" in note and "d_k = 2" in note
