"""Batched greedy decoding: the KV cache and recomputing the prefix give the same tokens."""

from __future__ import annotations

import torch

from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import greedy_decode, left_padded_prompts
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer, TransformerConfig


def test_left_padded_prompts_by_hand():
    v = Vocabulary.from_spec("A-D")
    tokens, mask = left_padded_prompts([[3, 0, 0], [], [2]], v)
    assert tokens.tolist() == [[3, 0, 0, 4], [5, 5, 5, 4], [5, 5, 2, 4]]
    assert mask.tolist() == [[True] * 4, [False] * 3 + [True], [False, False, True, True]]


def test_cache_and_recompute_agree_on_random_models():
    vocab = Vocabulary.from_spec("A-H")
    g = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(0, 8, (int(n),), generator=g).tolist() for n in torch.randint(0, 12, (40,), generator=g)
    ]
    for kw in (
        dict(),
        dict(n_layers=2, n_heads=2, residual=True, d_ff=16, layernorm=True),
        dict(positional="sinusoidal", residual=True),
        dict(temperature=0.0, n_layers=2, residual=True),
    ):
        torch.manual_seed(1)
        m = DecoderTransformer(TransformerConfig(vocab_size=vocab.size, d_model=16, **kw))
        with torch.no_grad():  # make <STOP> likely enough that some sequences stop early and others not
            m.E[vocab.stop] *= 2
        a = greedy_decode(m, vocab, inputs, max_steps=12)
        b = greedy_decode(m, vocab, inputs, max_steps=12, cache=False)
        assert a == b


def test_each_sequence_stops_at_its_own_stop():
    vocab = Vocabulary.from_spec("A-D")
    m = compile_sorter(4)
    got = greedy_decode(m, vocab, [[3, 2, 1, 0], [1], []])
    assert got.outputs == [[0, 1, 2, 3], [1], []]
    assert got.steps == 5 and got.stopped == [True, True, True]


def test_max_steps_caps_a_model_that_never_stops():
    vocab = Vocabulary.from_spec("A-D")
    m = compile_sorter(4)
    with torch.no_grad():  # every value now maps to symbol A: the model repeats A forever
        m.layers[0].W_V.zero_()
        m.layers[0].W_V[0, :, 0] = 1
    for cache in (True, False):
        got = greedy_decode(m, vocab, [[3, 1], []], max_steps=7, cache=cache)
        assert got.outputs == [[0] * 7, [0] * 7] and got.stopped == [False, False] and got.steps == 7


def test_empty_batch():
    v = Vocabulary.from_spec("A-D")
    assert greedy_decode(compile_sorter(4), v, []).outputs == []


def test_decode_stream_reads_a_bounded_chunk_ahead_and_answers_in_order():
    """Many short inputs: no more than `chunk_lines` are read before the first answer (memory stays
    flat however many lines come), and every answer is sorted(set(x)), in input order."""
    import random

    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.decode import decode_stream
    from dlexam.sorting.vocab import Vocabulary

    vocab = Vocabulary.from_spec("A-D")
    rng = random.Random(4)
    inputs = [[rng.randrange(4) for _ in range(rng.randint(0, 8))] for _ in range(250)]
    read = []

    def source():
        for x in inputs:
            read.append(x)
            yield x

    stream = decode_stream(compile_sorter(4), vocab, source(), chunk_lines=32)
    first = next(stream)
    assert len(read) == 32
    outputs = [first[0]] + [out for out, _ in stream]
    assert outputs == [sorted(set(x)) for x in inputs]
