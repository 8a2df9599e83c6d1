"""Decoding by token counts (one layer, no positions) gives what the key/value cache gives.

The oracle is the general path: prefill and step with `multiset=False` keep every key and value and
call :func:`dlexam.attention.attention` over them; the multiset path only adds the same terms in
another order.
"""

from __future__ import annotations

import pytest
import torch

from dlexam.attention import attention, multiset_attention
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.counting import decode_counts, decodes_by_table
from dlexam.sorting.decode import greedy_decode, left_padded_prompts
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer, TransformerConfig


@pytest.mark.parametrize("temperature", [0.0, 0.3, 2.0])
def test_multiset_attention_is_attention_over_the_keys_listed_one_by_one(temperature):
    g = torch.Generator().manual_seed(1)
    groups, d = 6, 3
    keys = torch.randn(groups, d, generator=g, dtype=torch.float64)
    keys[4] = keys[1]  # two groups with the same key: a tie under argmax
    values = torch.randn(groups, 2, generator=g, dtype=torch.float64)
    q = torch.randn(1, d, generator=g, dtype=torch.float64)
    counts = torch.tensor([3, 1, 0, 2, 1, 5])
    listed = torch.repeat_interleave(torch.arange(groups), counts)
    z_ref, _, _ = attention(q, keys[listed], values[listed], temperature=temperature)
    z = multiset_attention((q @ keys.T)[0], counts, values, temperature=temperature)
    torch.testing.assert_close(z, z_ref[0], rtol=1e-12, atol=1e-12)


def _random_model(seed: int, **cfg) -> DecoderTransformer:
    torch.manual_seed(seed)
    return DecoderTransformer(TransformerConfig(vocab_size=10, d_model=8, **cfg)).eval()


@pytest.mark.parametrize("cfg", [
    dict(n_heads=1), dict(n_heads=2), dict(n_heads=2, residual=True, d_ff=16, layernorm=True),
    dict(n_heads=1, tie_embeddings=False),
])
@pytest.mark.parametrize("temperature", [0.0, 0.5, None])
def test_prefill_and_steps_agree_with_the_kv_cache(cfg, temperature):
    model = _random_model(3, **cfg)
    assert model.attends_to_a_multiset()
    g = torch.Generator().manual_seed(5)
    prompts = [torch.randint(0, 8, (int(n),), generator=g).tolist() for n in (0, 1, 5, 17, 40)]
    vocab = Vocabulary.from_spec("A-H")
    tokens, mask = left_padded_prompts(prompts, vocab)
    a, ca = model.prefill(tokens, mask, temperature=temperature)
    b, cb = model.prefill(tokens, mask, temperature=temperature, multiset=False)
    assert "counts" in ca and "counts" not in cb
    for _ in range(6):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        nxt = b.argmax(-1)
        a, ca = model.step(nxt, ca)
        b, cb = model.step(nxt, cb)


def test_models_with_positions_or_two_layers_keep_the_kv_cache():
    assert not _random_model(0, positional="sinusoidal").attends_to_a_multiset()
    assert not _random_model(0, n_layers=2).attends_to_a_multiset()


def test_the_compiled_sorter_decodes_long_inputs_by_counts():
    vocab = Vocabulary.from_spec("A-Z")
    g = torch.Generator().manual_seed(7)
    inputs = [torch.randint(0, 26, (int(n),), generator=g).tolist() for n in (1, 30, 900, 2000)]
    got = greedy_decode(compile_sorter(26), vocab, inputs)
    assert got.outputs == [sorted(set(x)) for x in inputs] and all(got.stopped)


# ---- decoding from counts, and its look-up step under argmax (dlexam.sorting.counting) ---------------
def _inputs(n_symbols: int, seed: int, count: int = 60, longest: int = 50) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, n_symbols, (int(torch.randint(0, longest + 1, (1,), generator=g)),),
                          generator=g).tolist() for _ in range(count)]


@pytest.mark.parametrize("cfg", [
    dict(n_heads=1), dict(n_heads=1, d_ff=16, layernorm=True), dict(n_heads=1, tie_embeddings=False),
    dict(n_heads=2), dict(n_heads=1, residual=True),  # these two take the general step
])
@pytest.mark.parametrize("n_symbols", [8, 40])  # 40: more keys than the look-up's window
def test_decoding_by_counts_gives_what_the_kv_cache_gives(cfg, n_symbols):
    torch.manual_seed(11)
    model = DecoderTransformer(TransformerConfig(vocab_size=n_symbols + 2, d_model=8, temperature=0.0, **cfg)).eval()
    vocab = Vocabulary.from_spec(str(n_symbols))
    inputs = _inputs(n_symbols, 12)
    oracle = greedy_decode(model, vocab, inputs, multiset=False)  # every key and value kept, attention()
    assert decodes_by_table(model, 0.0) == (cfg.get("n_heads") == 1 and not cfg.get("residual", False))
    for by_table in (None, False):
        counts = torch.zeros(len(inputs), vocab.size, dtype=torch.long)
        for i, x in enumerate(inputs):
            counts[i] += torch.bincount(torch.tensor(x, dtype=torch.long), minlength=vocab.size)
        emitted, stopped, steps = decode_counts(model, counts, start=vocab.start, stop=vocab.stop,
                                                max_steps=vocab.n_symbols + 1, by_table=by_table)
        rows = emitted.tolist()
        assert [r[: r.index(vocab.stop)] if s else r for r, s in zip(rows, stopped.tolist(), strict=True)] \
            == oracle.outputs
        assert stopped.tolist() == oracle.stopped and steps == oracle.steps


def test_keys_of_different_tokens_that_tie_take_the_general_step():
    """Tokens 1 and 2 get the same embedding, so the same key: under argmax they tie and share the weight,
    and the look-up (which needs one winning token) must hand those rows to the general step."""
    torch.manual_seed(13)
    model = DecoderTransformer(TransformerConfig(vocab_size=7, d_model=6, temperature=0.0)).eval()
    with torch.no_grad():
        model.E[2] = model.E[1]
    vocab = Vocabulary.from_spec("5")
    inputs = [[1, 2, 2], [2, 1], [0, 1, 2, 3, 4]] + _inputs(5, 14)
    assert greedy_decode(model, vocab, inputs).outputs == greedy_decode(model, vocab, inputs, multiset=False).outputs


def test_the_compiled_solver_over_2000_symbols_sorts_sparse_and_dense_inputs():
    """Sparse inputs put the next symbol beyond the look-up's window (the full step finds it); dense ones not."""
    vocab = Vocabulary.from_spec("2000")
    g = torch.Generator().manual_seed(15)
    inputs = [[1999, 5, 5, 0], [7], [], list(range(1999, -1, -3))]
    inputs += [torch.randint(0, 2000, (int(n),), generator=g).tolist() for n in (2, 30, 700, 3000)]
    got = greedy_decode(compile_sorter(2000), vocab, inputs)
    assert got.outputs == [sorted(set(x)) for x in inputs] and all(got.stopped)
