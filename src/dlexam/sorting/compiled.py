"""Hand-set exact weights that deduplicate and sort, in the exam's minimal architecture (Problem 2).

The architecture is Geoff's, unchanged: one layer, one head, no positional encodings, no
feed-forward, no residual, zero-temperature (argmax) attention with causal masking, logits
``(Z W_O) E^T`` with the embedding E tied, greedy decoding. Only the embedding is wider than the
exam's 4: for ``n`` symbols there are ``V = n + 2`` tokens (symbols 0..n-1 in sort order, then
<START> = n and <STOP> = n + 1) and E is the V x V identity (one-hot embeddings).

The construction
----------------
With one-hot embeddings the score between a query token c and a key token k is
``S[c, k] = e_c W_Q W_K^T e_k^T = (W_Q W_K^T)[c, k]``, so ANY V x V score table can be set
directly: take ``W_K = I`` and ``W_Q = S``. Decoding ``x_1 .. x_m <START> y_1 .. y_j`` asks the
query at the last token (``<START>`` or the last output symbol c) for the next output, which is
the smallest input symbol greater than c, or <STOP> when there is none. Treat the <START> query
as ``c = -1`` and set, for a query c and a key k,

    S[c, k] = -(k - c)   for a symbol k > c   (the nearest greater symbol scores highest, -1),
    S[c, k] = LOW        for a symbol k <= c  (already emitted, or smaller),
    S[c, START] = LOW + 1                     (the fallback: attended only when no symbol k > c),
    S[c, STOP]  = LOW                         (<STOP> is never a key before the last query),

with ``LOW = -(n + 2)``, below every score of the first line (which are >= -n). The <STOP> query's
row is the <START> fallback too (its prediction is never used). Argmax attention then puts all its
weight on the copies of ONE token: scores depend only on token ids, and distinct ids that can be
attended get distinct scores, so ties happen only among identical tokens and their average value is
that token's value, exactly. Earlier output symbols are <= c, so they never win.

Values map a symbol k to the one-hot of k and <START> to the one-hot of <STOP>:
``W_V[k] = e_k``, ``W_V[START] = e_STOP``, ``W_V[STOP] = e_STOP``. With ``W_O = I`` and the tied
``E = I`` the logits are that one-hot vector: logit 1 for the answer, 0 for every other token, so
greedy decoding emits the nearest greater symbol, then the next, ..., then <STOP>: sorted(set(x)).
All scores are small integers, exact in float32 for any n here; the argmax tie tolerance in
:func:`dlexam.attention.argmax_weights` is far below the gap of 1 between distinct scores.

Why the exam's own E cannot do this: see tests/sorting/test_exam_embedding.py (its <START> and
<STOP> rows are both zero, so their logits are equal for any weights).
"""

from __future__ import annotations

import torch

from dlexam.transformer import DecoderTransformer, TransformerConfig


def score_table(n_symbols: int) -> torch.Tensor:
    """The (V, V) score table S[query token, key token] described in the module docstring."""
    n = n_symbols
    v = n + 2
    start, stop = n, n + 1
    low = -float(n + 2)
    s = torch.full((v, v), low)
    # queries <START> (as c = -1), then 0 .. n-1, against the symbol keys k = 0 .. n-1: -(k - c) where k > c
    greater = -(torch.arange(n, dtype=torch.float32)[None, :] - torch.arange(-1, n, dtype=torch.float32)[:, None])
    greater.masked_fill_(greater >= 0, low)  # (n + 1, n): keys k <= c score LOW
    s[start, :n] = greater[0]
    s[:n, :n] = greater[1:]
    s[:, start] = low + 1  # the fallback key
    s[stop] = s[start]  # the <STOP> query behaves like <START> (never used for a prediction)
    return s


def compiled_config(n_symbols: int) -> TransformerConfig:
    v = n_symbols + 2
    return TransformerConfig(
        vocab_size=v,
        d_model=v,
        n_heads=1,
        n_layers=1,
        d_head=v,
        d_ff=0,
        residual=False,
        layernorm=False,
        positional="none",
        temperature=0.0,
        tie_embeddings=True,
        extra={"compiled": True},
    )


def compile_sorter(n_symbols: int) -> DecoderTransformer:
    """A :class:`DecoderTransformer` whose hand-set weights deduplicate and sort exactly.

    `n_symbols` is the number of symbols (4 for the exam's A-D). Token ids: symbols 0..n-1, then
    <START> = n, <STOP> = n + 1 (see :mod:`dlexam.sorting.vocab`).
    """
    if n_symbols < 1:
        raise ValueError(f"n_symbols must be >= 1, got {n_symbols}")
    n = n_symbols
    model = DecoderTransformer(compiled_config(n))  # every weight is set below, in place
    layer = model.layers[0]
    with torch.no_grad():
        for eye in (model.E, layer.W_K[0], layer.W_V[0], layer.W_O):  # one-hot embeddings, (V, d_model = V)
            eye.zero_().fill_diagonal_(1.0)
        layer.W_V[0, n].zero_()[n + 1] = 1.0  # <START> -> one-hot of <STOP>
        layer.W_Q[0].copy_(score_table(n))  # the query row of S
    model.requires_grad_(False)
    return model.eval()
