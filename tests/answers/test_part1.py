"""Part 1: each question's check against oracles that are not the check itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlexam.answers import answer
from dlexam.answers.part1_logreg import p13_candidates, penalised_loss, separable_data

pytestmark = pytest.mark.usefixtures("exam_text")  # the key reads the exam; skip without it


def test_p1_1_temperature_softmax(exam_text):
    a = answer("P1.1").to_dict()
    assert a["verdict"] == "agrees" and a["evidence"]["computed_answer"] == [1] == a["evidence"]["exam_marks"]
    opts = a["evidence"]["options"]
    assert [o["holds"] for o in opts] == [False, True, True, True]
    for ce in opts[0]["counterexamples"]:  # each counterexample really is uniform (numpy oracle)
        z = np.array(ce["z"]) / ce["T"]
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        assert np.allclose(p, 0.25, atol=0)
    # (4,3,2,1) at T = 0.01: the largest off-target weight is about e^{-100}
    assert opts[2]["max_abs_distance_to_(1,0,0,0)_by_T"]["0.01"] < 2 * math.exp(-100)
    assert opts[3]["float64_softmax_of_(0,800)"] == [0.0, 1.0]  # the numerical caveat is real


def test_p1_2_no_minimiser_on_separable_data():
    a = answer("P1.2").to_dict()
    assert a["verdict"] == "agrees" and a["evidence"]["computed_answer"] == [2]
    x, y, w_star = separable_data()
    assert bool(((y * (x @ w_star)) > 0).all())
    xs, ys, ws = x.numpy(), y.numpy(), w_star.numpy()
    for a_str, value in a["evidence"]["loss_along_a_w_star"].items():
        expected = np.logaddexp(0.0, -ys * (xs @ (float(a_str) * ws))).sum()  # numpy oracle of the exam's L
        assert math.isclose(value, expected, rel_tol=1e-9)
    values = list(a["evidence"]["loss_along_a_w_star"].values())
    assert all(b < c for c, b in zip(values, values[1:], strict=False)) and values[-1] > 0
    norms = [r["norm_w"] for r in a["evidence"]["gradient_descent"]]
    assert norms == sorted(norms)


def test_p1_2_each_gradient_descent_row_is_one_point():
    """Each row of P1.2's gradient-descent trace gave the loss before its step beside ||w|| after it (step 1: the
    loss 27.73 = 40 ln 2 of w = 0 beside ||w_1|| = 18.7). The oracle: the first step by hand in numpy, from w = 0
    at rate 0.5: grad L(0) = -sum_i y_i x_i / 2, so w_1 = sum_i y_i x_i / 4, and L(w_1) by np.logaddexp."""
    a = answer("P1.2").to_dict()
    x, y, _ = separable_data()
    xs, ys = x.numpy(), y.numpy()
    w1 = (ys[:, None] * xs).sum(0) / 4
    first = a["evidence"]["gradient_descent"][0]
    assert first["step"] == 1
    assert math.isclose(first["norm_w"], float(np.linalg.norm(w1)), rel_tol=1e-12)
    assert math.isclose(first["loss"], float(np.logaddexp(0.0, -ys * (xs @ w1)).sum()), rel_tol=1e-9)
    losses = [r["loss"] for r in a["evidence"]["gradient_descent"]]
    assert losses == sorted(losses, reverse=True) and losses[0] < len(ys) * math.log(2)


def test_p1_3_marked_update_matches_finite_differences():
    g = torch.Generator().manual_seed(99)
    lam, eta = 0.7, 0.05
    for _ in range(5):
        w = torch.randn(4, generator=g, dtype=torch.float64)
        x = torch.cat([torch.ones(1, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)])
        y = 1.0
        eps = 1e-6
        fd = torch.tensor([(penalised_loss(w + eps * e, x, y, lam) - penalised_loss(w - eps * e, x, y, lam)) / (2 * eps)
                           for e in torch.eye(4, dtype=torch.float64)])
        cands = p13_candidates(w, x, y, lam, eta)
        assert torch.allclose(cands[0], w - eta * fd, atol=1e-8)
        assert not torch.allclose(cands[2], w - eta * fd, atol=1e-4)
    a = answer("P1.3").to_dict()
    assert a["verdict"] == "agrees"
    assert [o["holds"] for o in a["evidence"]["options"]] == [True, False, False, False]
    assert a["evidence"]["tie_subgradient_check"]["min_slack_of_subgradient_inequality_over_2000_v"] >= -1e-12
    assert a["evidence"]["solution_typo_example"]["true_gradient_of_norm_squared"] == [-6.0, 0.0]


def test_p1_4_conv_shape():
    a = answer("P1.4").to_dict()
    assert a["evidence"]["output_shape"][-2:] == [126, 42]  # (128-3)/1+1, floor((128-5)/3)+1
    assert a["verdict"] == "agrees" and a["evidence"]["computed_answer"] == [2]


def test_p1_5_autoencoder_bottleneck():
    a = answer("P1.5").to_dict()
    assert a["verdict"] == "conceptual"
    b = a["evidence"]["bottleneck"]
    assert b["3"]["autoencoder_mse"] < 2 * b["3"]["pca_optimum_mse"] + 1e-3  # close to the PCA optimum
    assert b["2"]["autoencoder_mse"] > 50 * b["3"]["autoencoder_mse"]
    assert a["evidence"]["pure_noise_input"]["latent_32_mse"] < 1e-4


def test_p1_5_says_how_close_the_autoencoder_comes_to_the_pca_optimum():
    """Option 3's reason said "here the trained AE reaches the PCA optimum" beside a 3-unit MSE of 0.0024 against
    the optimum's 0.0020, 20% above it. The oracle for the optimum: numpy's SVD of the same data (Eckart-Young)."""
    a = answer("P1.5").to_dict()
    b = a["evidence"]["bottleneck"]["3"]
    why = a["evidence"]["options"][2]["why"]
    assert "reaches" not in why or b["autoencoder_mse"] <= 1.01 * b["pca_optimum_mse"], why
    assert f"MSE {b['autoencoder_mse']:.4f} against {b['pca_optimum_mse']:.4f}" in why, why
    g = torch.Generator().manual_seed(5)  # P1.5's data, drawn again: 256 points near a 3-d subspace of R^16
    latent = torch.randn(256, 3, generator=g, dtype=torch.float64)
    mixing = torch.randn(3, 16, generator=g, dtype=torch.float64)
    x = (latent @ mixing + 0.05 * torch.randn(256, 16, generator=g, dtype=torch.float64)).numpy()
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    assert math.isclose(b["pca_optimum_mse"], float((s[3:] ** 2).sum() / x.size), rel_tol=1e-9)


def _rnn_loss(a, w, x1, x2, y, g=math.tanh):
    h1 = g(a * x1)
    return 0.5 * (g(w * h1 + a * x2) - y) ** 2


def test_p1_6_rnn_gradients_by_finite_differences():
    a_, w_, x1, x2, y = 0.7, -1.3, 0.4, -0.9, 0.25
    eps = 1e-6
    dw = (_rnn_loss(a_, w_ + eps, x1, x2, y) - _rnn_loss(a_, w_ - eps, x1, x2, y)) / (2 * eps)
    da = (_rnn_loss(a_ + eps, w_, x1, x2, y) - _rnn_loss(a_ - eps, w_, x1, x2, y)) / (2 * eps)
    h1 = math.tanh(a_ * x1)
    z1, z2 = a_ * x1, w_ * h1 + a_ * x2
    h2 = math.tanh(z2)
    gp = lambda z: 1 - math.tanh(z) ** 2
    assert math.isclose((h2 - y) * gp(z2) * h1, dw, rel_tol=1e-6)  # the solution's answer
    assert math.isclose((h2 - y) * gp(z2) * (x2 + w_ * gp(z1) * x1), da, rel_tol=1e-6)  # listed option 1 = dL/da
    a = answer("P1.6").to_dict()
    ev = a["evidence"]
    assert a["verdict"] == "agrees" and ev["solution_holds"] and ev["listed_options_hold"] == [False] * 3
    assert ev["listed_option_1_equals_dL_da"] and ev["listed_option_3_equals_dL_dh1"]
    assert ev["exam_marks"] == []


def test_p1_7_sequential_steps():
    a = answer("P1.7").to_dict()
    steps = a["evidence"]["sequential_calls_by_length"]
    for T in (8, 32):  # a T-token source and a T-token target, counted by hand
        assert steps["rnn_train"][str(T)] == 2 * T
        assert steps["rnn_generate"][str(T)] == 2 * T
        assert steps["transformer_train"][str(T)] == 1
        assert steps["transformer_generate"][str(T)] == T  # the prefill gives token 1, then T - 1 steps
    for oracle in a["evidence"]["oracles"].values():
        assert oracle["gru_cell_loop_equals_nn_GRU"] and oracle["transformer_greedy_equals_parallel_rescoring"]
        assert oracle["transformer_parallel_vs_prefix_by_prefix_max_error"] < 1e-4
    assert a["verdict"] == "agrees" and a["evidence"]["computed_answer"] == [3]


def test_p1_8_multihead_attention():
    a = answer("P1.8").to_dict()
    err = a["evidence"]["max_error_vs_nn_MultiheadAttention"]
    assert err["scaled_by_sqrt_dk"] < 1e-12 and err["attention_weights"] < 1e-12 and err["unscaled"] > 1e-3
    assert a["evidence"]["max_weight_difference_between_heads"] > 1e-2
    assert a["evidence"]["dlexam_transformer_layer_vs_nn_MultiheadAttention_max_error"] < 1e-12
    assert a["verdict"] == "agrees" and a["evidence"]["computed_answer"] == [3]
