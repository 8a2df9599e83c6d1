"""The one attention function and the general decoder transformer, against independent oracles."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from dlexam.attention import argmax_weights, attention, causal_mask
from dlexam.transformer import DecoderTransformer, TransformerConfig

_spec = importlib.util.spec_from_file_location("exam_model", Path(__file__).with_name("exam_model.py"))
exam_model_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(exam_model_mod)


def test_argmax_examples_from_problem_2_2():
    w = argmax_weights(torch.tensor([[1.0, -2, 5, 0], [5, -2, 5, 0]]))
    assert w.tolist() == [[0, 0, 1, 0], [0.5, 0, 0.5, 0]]


def test_argmax_is_the_zero_temperature_limit_of_softmax():
    s = torch.tensor([[5.0, -2, 5, 0], [1, 3, 3, 3], [0.5, 0.25, -1, 0.4]], dtype=torch.float64)
    limit = torch.softmax(s / 1e-6, -1)
    assert torch.allclose(argmax_weights(s), limit, atol=1e-12)


def test_softmax_attention_matches_torch_softmax_in_float64():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, 2, 7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    t = 1.7
    mask = causal_mask(7)
    z, p, s = attention(q, k, v, temperature=t, mask=mask)
    scores = torch.einsum("bhid,bhjd->bhij", q, k)
    scores = scores.masked_fill(~torch.ones(7, 7, dtype=torch.bool).tril(), -math.inf)
    ref_p = torch.softmax(scores / t, dim=-1)
    assert torch.allclose(p, ref_p, atol=1e-12)
    assert torch.allclose(z, ref_p @ v, atol=1e-12)
    z_fused, p_none, _ = attention(q, k, v, temperature=t, mask=mask, need_weights=False)
    assert p_none is None and torch.allclose(z_fused, z, atol=1e-10)


def test_straight_through_is_argmax_forward_and_the_softmax_gradient_backward():
    """Oracles: a one-hot of torch.argmax forward (random float64 scores: no ties); backward, Q's and K's
    gradients are plain autograd through torch.softmax at T, V's those of the one-hot weights."""
    g = torch.Generator().manual_seed(1)
    q0, k0, v0 = (torch.randn(3, 2, 7, 5, generator=g, dtype=torch.float64) for _ in range(3))
    upstream = torch.randn(3, 2, 7, 5, generator=g, dtype=torch.float64)
    t, tril = 0.7, torch.ones(7, 7, dtype=torch.bool).tril()
    q, k, v = (x.clone().requires_grad_() for x in (q0, k0, v0))
    z, p, _ = attention(q, k, v, temperature=t, mask=causal_mask(7), straight_through=True)
    scores = torch.einsum("bhid,bhjd->bhij", q0, k0).masked_fill(~tril, -math.inf)
    one_hot = torch.nn.functional.one_hot(scores.argmax(-1), 7).to(torch.float64)
    assert torch.equal(p.detach(), one_hot) and torch.allclose(z.detach(), one_hot @ v0, atol=1e-12)
    (z * upstream).sum().backward()
    rq, rk, rv = (x.clone().requires_grad_() for x in (q0, k0, v0))
    ref_p = torch.softmax(torch.einsum("bhid,bhjd->bhij", rq, rk).masked_fill(~tril, -math.inf) / t, dim=-1)
    ((ref_p @ rv.detach()) * upstream).sum().backward()  # the softmax's gradient for Q and K, same V
    assert torch.allclose(q.grad, rq.grad, atol=1e-12) and torch.allclose(k.grad, rk.grad, atol=1e-12)
    assert torch.allclose(v.grad, one_hot.transpose(-2, -1) @ upstream, atol=1e-12)
    assert q.grad.abs().sum() > 0  # unlike T = 0 itself (Problem 2.5), the scores are trained
    z0, _, _ = attention(q0, k0, v0, temperature=0.0, mask=causal_mask(7), straight_through=True)
    assert torch.equal(z0, attention(q0, k0, v0, temperature=0.0, mask=causal_mask(7))[0])  # T = 0: unchanged


def test_exam_attention_matrix_and_loss_problem_2_2_and_2_3():
    """'D A A <START> A D <STOP>' with the exam's weights: P and the loss 4.2114 typed from the exam."""
    m = exam_model_mod.exam_model(temperature=0.0)
    tokens = torch.tensor([[3, 0, 0, 4, 0, 3, 5]])
    trace: list = []
    logits = m(tokens, trace=trace)
    q = 1 / 4
    t = 1 / 3
    s = 1 / 7
    expected_p = torch.tensor(
        [
            [1, 0, 0, 0, 0, 0, 0],
            [0, 1, 0, 0, 0, 0, 0],
            [0, 0.5, 0.5, 0, 0, 0, 0],
            [q, q, q, q, 0, 0, 0],
            [0, t, t, 0, t, 0, 0],
            [0.5, 0, 0, 0, 0, 0.5, 0],
            [s, s, s, s, s, s, s],
        ]
    )
    assert torch.allclose(trace[0]["P"][0, 0], expected_p, atol=1e-6)
    # Problem 2.3: logits z5, z6, z7 and the loss on "A D <STOP>" (positions 4, 5, 6 predict 5, 6, 7).
    assert torch.allclose(logits[0, 4], torch.tensor([3.0, 0, 3, 0, 0, 0]))
    assert torch.allclose(logits[0, 6], torch.tensor([9 / 7, 6 / 7, 9 / 7, 6 / 7, 0, 0]))
    # The exam scores y5, y6, y7 with the outputs z5, z6, z7 AT the positions of A, D, <STOP> (each
    # position sees its own target through causal attention). That reproduces its 4.2114:
    exam_loss = torch.nn.functional.cross_entropy(logits[0, 4:7], torch.tensor([0, 3, 5]), reduction="sum")
    assert exam_loss.item() == pytest.approx(4.2114, abs=1e-4)
    # Standard teacher forcing (used by dlexam's training) predicts token t+1 from position t:
    # <START> -> A with logits [3/2, 3/4, 3/2, 3/4, 0, 0]; A -> D and D -> <STOP> with [3,0,3,0,0,0]
    # and [0,3,0,3,0,0], each target having logit 0 in the latter two. By hand:
    e = math.exp
    by_hand = -math.log(e(1.5) / (2 * e(1.5) + 2 * e(0.75) + 2)) - 2 * math.log(1 / (2 * e(3) + 4))
    shifted = torch.nn.functional.cross_entropy(logits[0, 3:6], torch.tensor([0, 3, 5]), reduction="sum")
    assert shifted.item() == pytest.approx(by_hand, abs=1e-4)
    assert by_hand == pytest.approx(8.7973, abs=1e-4)


def test_trace_holds_every_intermediate_with_shapes():
    cfg = TransformerConfig(vocab_size=7, d_model=8, n_heads=2, n_layers=2)
    m = DecoderTransformer(cfg)
    trace: list = []
    m(torch.randint(0, 7, (3, 5)), trace=trace)
    assert len(trace) == 2
    d = trace[0]
    assert set(d) == {"X", "Q", "K", "V", "scores", "P", "Z", "R", "out"}
    assert d["P"].shape == (3, 2, 5, 5) and d["Q"].shape == (3, 2, 5, 4) and d["R"].shape == (3, 5, 8)
    assert torch.allclose(d["P"].sum(-1), torch.ones(3, 2, 5))
    assert (d["P"].triu(1) == 0).all()  # causal


CONFIGS = [
    dict(),
    dict(n_heads=2, n_layers=2, residual=True, d_ff=16, layernorm=True),
    dict(n_layers=2, residual=True, positional="sinusoidal"),
    dict(n_heads=2, positional="learned", max_len=32, d_ff=8),
    dict(temperature=0.0, n_layers=2, residual=True),
]


def _left_padded(g, b, lengths, vocab):
    t = max(lengths)
    tok = torch.randint(0, vocab, (b, t), generator=g)
    mask = torch.arange(t)[None, :] >= (t - torch.tensor(lengths))[:, None]
    return tok, mask


@pytest.mark.parametrize("kw", CONFIGS)
def test_kv_cache_steps_equal_the_full_forward(kw):
    torch.manual_seed(1)
    cfg = TransformerConfig(vocab_size=9, d_model=8, **kw)
    m = DecoderTransformer(cfg).eval()
    g = torch.Generator().manual_seed(2)
    tok, mask = _left_padded(g, 4, [5, 2, 1, 4], 9)
    new = torch.randint(0, 9, (4, 21), generator=g)  # more than the 16 spare slots: the buffers grow
    logits, cache = m.prefill(tok, mask)
    got = [logits]
    for i in range(new.shape[1]):
        logits, cache = m.step(new[:, i], cache)
        got.append(logits)
    full_tok = torch.cat([tok, new], 1)
    full_mask = torch.cat([mask, torch.ones_like(new, dtype=torch.bool)], 1)
    with torch.no_grad():
        full = m(full_tok, full_mask)  # (B, T, V)
    want = full[:, tok.shape[1] - 1 :]
    assert torch.allclose(torch.stack(got, 1), want, atol=1e-5)


@pytest.mark.parametrize("kw", CONFIGS)
def test_padding_mask_makes_padded_rows_equal_unpadded_runs(kw):
    torch.manual_seed(3)
    cfg = TransformerConfig(vocab_size=9, d_model=8, **kw)
    m = DecoderTransformer(cfg).eval()
    g = torch.Generator().manual_seed(4)
    lengths = [6, 3, 1]
    tok, mask = _left_padded(g, 3, lengths, 9)
    tok = tok.masked_fill(~mask, 8)  # whatever sits under the padding must not matter
    with torch.no_grad():
        batched = m(tok, mask)
        for i, n in enumerate(lengths):
            alone = m(tok[i : i + 1, -n:])
            assert torch.allclose(batched[i, -n:], alone[0], atol=1e-5)
        # and right padding: real tokens first, then padding the causal mask already hides
        right = torch.stack(
            [torch.cat([tok[i, -n:], torch.full((6 - n,), 2)]) for i, n in enumerate(lengths)]
        )
        rmask = torch.arange(6)[None, :] < torch.tensor(lengths)[:, None]
        out = m(right, rmask)
        for i, n in enumerate(lengths):
            assert torch.allclose(out[i, :n], batched[i, -n:], atol=1e-5)


def test_two_identical_heads_with_identity_w_o_problem_2_4():
    """Two copies of the head and W_O = I give R' = [Z Z], not the exam's claimed "same R".

    The original R = Z W_O = [z2, z1, z2, z1]; the new R' = [z1, z2, z1, z2]: the same numbers with
    columns A<->B and C<->D swapped, so the logits (and the loss) change. The exam's solution to
    Problem 2.4 overlooks that W_O = I no longer swaps the two value coordinates.
    """
    base = exam_model_mod.exam_model()
    cfg = TransformerConfig(vocab_size=6, d_model=4, n_heads=2, d_head=2, temperature=0.0)
    two = DecoderTransformer(cfg)
    with torch.no_grad():
        two.E.copy_(base.E)
        for name in ("W_Q", "W_K", "W_V"):
            getattr(two.layers[0], name).copy_(getattr(base.layers[0], name).expand(2, 4, 2))
        two.layers[0].W_O.copy_(torch.eye(4))
    tokens = torch.tensor([[3, 0, 0, 4, 0, 3, 5]])
    t2, t1 = [], []
    two(tokens, trace=t2)
    base(tokens, trace=t1)
    z = t1[0]["Z"][0, 0]  # (T, 2)
    assert torch.allclose(t2[0]["R"][0], torch.cat([z, z], 1))
    swapped = base(tokens)[..., [1, 0, 3, 2, 4, 5]]
    assert torch.allclose(two(tokens), swapped)
    assert not torch.allclose(two(tokens), base(tokens))


def test_the_model_size_error_counts_what_it_says():
    """d_model 500, one head, no feed-forward: 4 x 500 x 500 = 1,000,000 weights in the layer; the
    embedding holds vocab_size x 500, twice that when the unembedding is separate (numbers by hand)."""
    from dlexam.errors import UserError

    with pytest.raises(UserError, match=r"^the model would hold 51,000,000 weights \(1,000,000 in its layers, "
                                        r"50,000,000 in its embeddings\); dlexam builds at most 50,000,000$"):
        TransformerConfig(vocab_size=100_000, d_model=500)
    TransformerConfig(vocab_size=90_000, d_model=500)  # 46,000,000: allowed
    TransformerConfig(vocab_size=50_000, d_model=500)  # 26,000,000 with the tied embedding
    with pytest.raises(UserError, match=r"would hold 51,000,000 weights \(1,000,000 in its layers, 50,000,000 in"):
        TransformerConfig(vocab_size=50_000, d_model=500, tie_embeddings=False)
