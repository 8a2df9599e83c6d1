"""Prefill in bounded memory: blocked causal attention equals one full causal attention, and the
prefill's last-position logits equal the full forward pass, whatever the block size."""

from __future__ import annotations

import pytest
import torch

from dlexam import transformer
from dlexam.attention import attention, causal_mask
from dlexam.transformer import DecoderTransformer, TransformerConfig, blocked_attention


@pytest.mark.parametrize("temperature", [0.0, 0.7])
@pytest.mark.parametrize("budget", [1, 37, 1 << 22])
def test_blocked_attention_equals_full_causal_attention(monkeypatch, temperature, budget):
    monkeypatch.setattr(transformer, "SCORE_BUDGET", budget)
    g = torch.Generator().manual_seed(0)
    b, h, t, d = 3, 2, 11, 4
    q, k, v = (torch.randn(b, h, t, d, generator=g, dtype=torch.float64) for _ in range(3))
    lengths = torch.tensor([11, 5, 1])
    pad = torch.arange(t)[None, :] >= (t - lengths)[:, None]  # left padding, (B, T)
    full_mask = causal_mask(t) & pad[:, None, None, :]  # (B, 1, T, T)
    want, _, _ = attention(q, k, v, temperature=temperature, mask=full_mask)
    want = torch.nan_to_num(want)
    got = blocked_attention(q, k, v, pad, temperature)
    real = pad[:, None, :, None].expand_as(want)  # padded query rows attend to nothing: compare real rows
    torch.testing.assert_close(got[real], want[real])


@pytest.mark.parametrize("kw", [dict(), dict(n_layers=3, n_heads=2, residual=True, d_ff=8, layernorm=True),
                                dict(n_layers=2, temperature=0.0, residual=True)])
def test_prefill_logits_equal_the_full_forward_pass(monkeypatch, kw):
    monkeypatch.setattr(transformer, "SCORE_BUDGET", 16)  # many blocks
    torch.manual_seed(0)
    m = DecoderTransformer(TransformerConfig(vocab_size=7, d_model=8, **kw)).double().eval()
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, 7, (4, 9), generator=g)
    pad = torch.ones(4, 9, dtype=torch.bool)
    pad[1, :3] = False
    pad[2, :8] = False
    logits, _ = m.prefill(tokens, pad)
    with torch.no_grad():
        full = m(tokens, pad)[:, -1]
    torch.testing.assert_close(logits, full)
