"""Problem 2 with the exam's weights, against oracles typed in from the exam or written independently."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction as F

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam import geoff
from dlexam.attention import argmax_weights, attention, causal_mask

EXAMPLE = "D A A <START> A D <STOP>"

# Problem 2.2, the exam's attention matrix, typed in by hand.
EXAM_P = [
    [1, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 0, 0],
    [0, F(1, 2), F(1, 2), 0, 0, 0, 0],
    [F(1, 4), F(1, 4), F(1, 4), F(1, 4), 0, 0, 0],
    [0, F(1, 3), F(1, 3), 0, F(1, 3), 0, 0],
    [F(1, 2), 0, 0, 0, 0, F(1, 2), 0],
    [F(1, 7)] * 7,
]
# Problem 2.2: Q = K = V = X W_Q, as printed.
EXAM_QKV = [[3, 0], [0, 3], [0, 3], [0, 0], [0, 3], [3, 0], [0, 0]]
# Problem 2.3: Z = P V, with the row the extracted text lost (row 3 = [0, 3]) restored.
EXAM_Z = [[3, 0], [0, 3], [0, 3], [F(3, 4), F(3, 2)], [0, 3], [3, 0], [F(6, 7), F(9, 7)]]
# Problem 2.3: the three logit rows the exam uses (z_5, z_6, z_7).
EXAM_LOGITS_567 = [[3, 0, 3, 0, 0, 0], [0, 3, 0, 3, 0, 0], [F(9, 7), F(6, 7), F(9, 7), F(6, 7), 0, 0]]


def as_float(m):
    return torch.tensor([[float(x) for x in row] for row in m], dtype=torch.float64)


def test_attention_matrix_matches_exam():
    r = geoff.run_geoff(EXAMPLE, temperature=0)
    assert torch.equal(r.P, as_float(EXAM_P))
    assert torch.equal(r.Q, as_float(EXAM_QKV)) and torch.equal(r.K, r.Q) and torch.equal(r.V, r.Q)


def test_z_and_logits_match_exam():
    r = geoff.run_geoff(EXAMPLE, temperature=0)
    torch.testing.assert_close(r.Z, as_float(EXAM_Z), rtol=0, atol=1e-15)
    torch.testing.assert_close(r.logits[4:7], as_float(EXAM_LOGITS_567), rtol=0, atol=1e-15)


def test_softmax_limit_examples_from_the_exam():
    s = torch.tensor([[1.0, -2.0, 5.0, 0.0], [5.0, -2.0, 5.0, 0.0]])
    assert argmax_weights(s).tolist() == [[0, 0, 1, 0], [0.5, 0, 0.5, 0]]


def test_exam_loss_4_2114():
    r = geoff.run_geoff(EXAMPLE, temperature=0)
    # The exam's own formulas: P(A) = P(D) = e^3 / (2 e^3 + 4), P(<STOP>) = 1 / (2 e^{9/7} + 2 e^{6/7} + 2).
    p_ad = math.exp(3) / (2 * math.exp(3) + 4)
    p_stop = 1 / (2 * math.exp(9 / 7) + 2 * math.exp(6 / 7) + 2)
    assert round(float(r.loss["exam"]["value"]), 4) == 4.2114
    assert float(r.loss["exam"]["value"]) == pytest.approx(-2 * math.log(p_ad) - math.log(p_stop), rel=1e-12)
    assert r.loss["exam"]["rows"] == [5, 6, 7]


def test_teacher_forcing_loss_reads_the_previous_row():
    r = geoff.run_geoff(EXAMPLE, temperature=0)
    # Rows <START>, A, D: logits [3/2,3/4,3/2,3/4,0,0], [3,0,3,0,0,0], [0,3,0,3,0,0] score A, D, <STOP>.
    p_a = math.exp(1.5) / (2 * math.exp(1.5) + 2 * math.exp(0.75) + 2)
    p_d = 1 / (2 * math.exp(3) + 4)
    p_stop = 1 / (2 * math.exp(3) + 4)
    expected = -(math.log(p_a) + math.log(p_d) + math.log(p_stop))
    assert float(r.loss["teacher_forcing"]["value"]) == pytest.approx(expected, rel=1e-12)
    assert r.loss["teacher_forcing"]["rows"] == [4, 5, 6]
    assert r.loss["teacher_forcing"]["targets"] == ["A", "D", "<STOP>"]


def reference_forward(ids, wq, wk, wv, wo, temperature):
    """Independent numpy forward of the exam's formulas (no dlexam code)."""
    E = np.array(geoff.E, dtype=float)
    X = E[ids]
    Q, K, V = X @ wq, X @ wk, X @ wv
    S = Q @ K.T
    T = len(ids)
    S = np.where(np.tril(np.ones((T, T), bool)), S, -np.inf)
    if temperature == 0:
        M = S.max(axis=1, keepdims=True)
        P = (S == M).astype(float)
        P /= P.sum(axis=1, keepdims=True)
    else:
        A = np.exp((S - S.max(axis=1, keepdims=True)) / temperature)
        P = A / A.sum(axis=1, keepdims=True)
    return (P @ V @ wo) @ E.T


def reference_loss(ids, params, temperature):
    logits = reference_forward(ids, *params, temperature)
    s = ids.index(geoff.START)
    total = 0.0
    for t in range(s + 1, len(ids)):
        row = logits[t - 1]
        total -= row[ids[t]] - np.log(np.exp(row).sum())
    return total


@pytest.mark.parametrize("temperature", [0.0, math.sqrt(2)])
def test_gradients_autograd_vs_finite_differences(temperature):
    r = geoff.run_geoff(EXAMPLE, temperature=temperature, gradients=True)
    ids = geoff.parse_sequence(EXAMPLE)
    base = [np.array(geoff.W_QKV, float)] * 3 + [np.array(geoff.W_O, float)]
    h = 1e-6
    for k, name in enumerate(geoff.PARAMETERS):
        fd = np.zeros_like(base[k])
        for idx in np.ndindex(*base[k].shape):
            plus = [p.copy() for p in base]
            minus = [p.copy() for p in base]
            plus[k][idx] += h
            minus[k][idx] -= h
            fd[idx] = (reference_loss(ids, plus, temperature) - reference_loss(ids, minus, temperature)) / (2 * h)
        np.testing.assert_allclose(r.gradients[name].numpy(), fd, atol=1e-6, rtol=1e-5, err_msg=name)


def test_problem_2_5_which_gradients_vanish():
    """The exam says W_Q, W_K, W_V never change under argmax attention: true for W_Q, W_K, false for W_V."""
    at_zero = geoff.vanishing_gradients(geoff.run_geoff(EXAMPLE, temperature=0, gradients=True))
    assert at_zero == {"W_Q": True, "W_K": True, "W_V": False, "W_O": False}
    at_sqrt = geoff.vanishing_gradients(geoff.run_geoff(EXAMPLE, temperature="sqrt", gradients=True))
    assert at_sqrt == {"W_Q": False, "W_K": False, "W_V": False, "W_O": False}


def test_two_heads_problem_2_4():
    one = geoff.run_geoff(EXAMPLE, heads=1)
    two = geoff.run_geoff(EXAMPLE, heads=2)
    # The two heads are identical, so each head's P and Z equal the one-head ones.
    assert torch.equal(two.P[0], one.P) and torch.equal(two.P[1], one.P)
    # [Z Z] I_4 = Z [I_2 I_2]: the one-head R with its columns swapped (A<->B, C<->D), not the same R.
    assert torch.equal(two.R, torch.cat([one.Z, one.Z], dim=1))
    assert torch.equal(two.R, one.R[:, [1, 0, 3, 2]])
    assert not torch.equal(two.R, one.R)
    # Under the exam's convention the two-head loss is 2*log(2e^3+4) - log(P_stop) (A, D rows now favour B, C).
    p_stop = 1 / (2 * math.exp(9 / 7) + 2 * math.exp(6 / 7) + 2)
    expected = 2 * math.log(2 * math.exp(3) + 4) - math.log(p_stop)
    assert float(two.loss["exam"]["value"]) == pytest.approx(expected, rel=1e-12)


def test_two_identical_heads_equal_one_head_with_summed_output_blocks():
    """The equivalence that does hold: heads h1 = h2 and W_O' (4x4) equal one head with W_O'[:2] + W_O'[2:]."""
    torch.manual_seed(0)
    w_o4 = torch.randn(4, 4, dtype=torch.float64)
    for temperature in (0.0, "sqrt"):
        two = geoff.exam_model(heads=2, temperature=temperature)
        one = geoff.exam_model(heads=1, temperature=temperature)
        with torch.no_grad():
            two.layers[0].W_O.copy_(w_o4)
            one.layers[0].W_O.copy_(w_o4[:2] + w_o4[2:])
        tokens = torch.tensor([geoff.parse_sequence("C A B B <START> A B C <STOP>")])
        torch.testing.assert_close(two(tokens), one(tokens), rtol=0, atol=1e-12)


@pytest.mark.parametrize("temperature", [0.0, "sqrt", 0.3])
def test_permutation_invariance_problem_2_1(temperature):
    """Without positional encodings, permuting the input before <START> leaves every row after it unchanged."""
    inp, out = ["D", "A", "C", "A", "B"], ["<START>", "A", "B", "C", "D", "<STOP>"]
    perms = sorted(set(itertools.permutations(inp)))  # 60 distinct orders
    tokens = torch.tensor([geoff.parse_sequence(list(p) + out) for p in perms])
    logits = geoff.exam_model(temperature=temperature)(tokens).detach()  # (60, T, 6)
    n = len(inp)
    for i in range(1, len(perms)):
        torch.testing.assert_close(logits[i, n:], logits[0, n:], rtol=0, atol=1e-12)
    assert not torch.allclose(logits[:, :n], logits[:1, :n])  # the rows before <START> do depend on the order


token_lists = st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(token_lists, token_lists)
def test_argmax_attention_invariants_on_random_sequences(inp, out):
    r = geoff.run_geoff(inp + ["<START>"] + out, temperature=0)
    P, S = r.P, r.scores
    T = len(r.tokens)
    # Rows are distributions, causal, and spread equally over the maxima of the visible scores.
    torch.testing.assert_close(P.sum(-1), torch.ones(T, dtype=torch.float64))
    assert torch.all(P.triu(1) == 0)
    for i in range(T):
        visible = S[i, : i + 1]
        maxima = visible == visible.max()
        assert torch.allclose(P[i, : i + 1][maxima], torch.full((int(maxima.sum()),), 1 / int(maxima.sum()),
                                                                 dtype=torch.float64))
        assert torch.all(P[i, : i + 1][~maxima] == 0)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_argmax_attention_equals_cold_softmax_without_ties(t, seed):
    """Oracle: torch.softmax at a tiny temperature, on scores whose maxima are untied by a clear gap."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randperm(100, generator=g)[: t * t].reshape(t, t).double() * 0.1  # distinct, gaps >= 0.1
    mask = causal_mask(t)
    v = torch.randn(t, 3, generator=g, dtype=torch.float64)
    oracle = torch.softmax((scores / 1e-4).masked_fill(~mask, -math.inf), dim=-1)
    got = argmax_weights(scores, mask)
    torch.testing.assert_close(got, oracle, rtol=0, atol=1e-12)
    q = torch.eye(t, dtype=torch.float64)
    z, p, s = attention(q, scores.T.contiguous(), v, temperature=0.0, mask=mask)  # q k^T = scores
    torch.testing.assert_close(p, oracle, rtol=0, atol=1e-12)
    torch.testing.assert_close(z, oracle @ v, rtol=0, atol=1e-12)


def test_softmax_attention_matches_torch_softmax():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 5, 3, dtype=torch.float64) for _ in range(3))
    mask = causal_mask(5)
    for temperature in (0.5, math.sqrt(3), 4.0):
        z, p, _ = attention(q, k, v, temperature=temperature, mask=mask)
        oracle = torch.softmax((q @ k.transpose(-2, -1) / temperature).masked_fill(~mask, -math.inf), -1)
        torch.testing.assert_close(p, oracle)
        z_fused, _, _ = attention(q, k, v, temperature=temperature, mask=mask, need_weights=False)
        torch.testing.assert_close(z_fused, oracle @ v)


def test_exact_formatting():
    from dlexam.exact import format_exact

    assert [format_exact(x) for x in (3.0, 1 / 3, 9 / 7, -0.75, math.e)] == ["3", "1/3", "9/7", "-3/4", "2.7183"]


def test_run_geoff_equals_a_freshly_built_model_and_draws_no_random_numbers():
    """run_geoff reuses one built model per (heads, weights): its matrices are those of exam_model built for the
    query, its gradients those of that model's parameters, and the global random stream is left untouched."""
    tokens = torch.tensor([geoff.parse_sequence(EXAMPLE)])
    for heads, t in [(1, 0.0), (1, 0.7), (2, "sqrt"), (1, 0.7), (2, 0.0)]:
        expected = torch.rand(1, generator=torch.Generator().manual_seed(5))
        torch.manual_seed(5)
        r = geoff.run_geoff(EXAMPLE, temperature=t, heads=heads, gradients=True)
        assert torch.equal(torch.rand(1), expected)  # the global stream is where the seed put it
        fresh = geoff.exam_model(heads, t)
        logits = fresh(tokens, trace=[])[0]  # with a trace, as run_geoff asks (P is computed, not the fused kernel)
        assert torch.equal(r.logits, logits.detach())
        loss = geoff.loss_terms(logits, tokens[0].tolist(), "teacher_forcing")["value"]
        grads = torch.autograd.grad(loss, [fresh.layers[0].W_V, fresh.layers[0].W_O])
        output = "W_O" if heads == 1 else "multi_W_O"  # the output matrix a model with `heads` heads uses
        assert torch.equal(r.gradients[output], grads[1])
        assert torch.equal(r.gradients["W_V"], grads[0][0] if heads == 1 else grads[0])


def test_a_negative_zero_weight_is_not_the_cached_zero():
    """-0.0 == 0.0, but X = E[tokens] shows the sign: the shared model must not be the one built for 0.0."""
    rows = [list(r) for r in geoff.EXAM_WEIGHTS.E]
    negative = [r[:] for r in rows]
    negative[4] = [-0.0] * 4  # <START>'s embedding
    for E, sign in [(rows, 1.0), (negative, -1.0), (rows, 1.0)]:
        r = geoff.run_geoff(EXAMPLE, weights=geoff.GeoffWeights(E=E))
        assert math.copysign(1.0, r.X[3, 0].item()) == sign  # position 4 is <START>


def test_a_loss_with_nothing_after_the_start_token_names_the_models_own_start_token():
    # the spec names its start token (TransformerSpec.start); the error must say that one, not "<START>" typed again
    import dataclasses

    from dlexam.errors import UserError
    from dlexam.spec import VERSION_A

    t = dataclasses.replace(VERSION_A.transformer, start="<GO>", stop="<END>")
    weights = geoff.GeoffWeights.from_spec(t)
    with pytest.raises(UserError, match="^nothing after <GO> to score"):
        geoff.run_geoff("D A A <GO>", weights=weights, loss=True)
