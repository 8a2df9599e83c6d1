"""The compiled solver against the oracle sorted(set(x)): exhaustively, then at random up to V=100, n=1000."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam.sorting.compiled import compile_sorter, score_table
from dlexam.sorting.data import all_sequences
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.vocab import Vocabulary


def test_architecture_is_the_exams_minimal_one():
    m = compile_sorter(4)
    c = m.cfg
    assert (c.n_layers, c.n_heads, c.d_ff, c.residual, c.layernorm, c.positional) == (
        1,
        1,
        0,
        False,
        False,
        "none",
    )
    assert c.temperature == 0 and c.tie_embeddings and m.U is None
    assert m.E.shape == (6, 6)  # one-hot width V + 2: wider than the exam's 4


def test_score_table_by_hand_for_a_to_d():
    # rows: queries A B C D <START> <STOP>; columns: keys A B C D <START> <STOP>; LOW = -6
    expected = torch.tensor(
        [
            [-6.0, -1, -2, -3, -5, -6],
            [-6, -6, -1, -2, -5, -6],
            [-6, -6, -6, -1, -5, -6],
            [-6, -6, -6, -6, -5, -6],
            [-1, -2, -3, -4, -5, -6],
            [-1, -2, -3, -4, -5, -6],
        ]
    )
    assert torch.equal(score_table(4), expected)


def test_exhaustive_every_sequence_over_four_symbols_up_to_length_8():
    vocab = Vocabulary.from_spec("A-D")
    m = compile_sorter(4)
    checked = 0
    for n in range(9):
        seqs = all_sequences(4, n).tolist()
        got = greedy_decode(m, vocab, seqs)
        assert all(got.stopped)
        wrong = [(x, y) for x, y in zip(seqs, got.outputs, strict=True) if y != sorted(set(x))]
        assert not wrong, f"length {n}: {len(wrong)} wrong, e.g. {wrong[:3]}"
        checked += len(seqs)
    assert checked == 87_381  # (4^9 - 1) / 3


def test_exhaustive_without_cache_on_a_sample_agrees():
    vocab = Vocabulary.from_spec("A-D")
    m = compile_sorter(4)
    seqs = all_sequences(4, 6).tolist()[::7]
    assert greedy_decode(m, vocab, seqs, cache=False).outputs == [sorted(set(x)) for x in seqs]


def test_random_large_vocabularies_and_lengths_up_to_1000():
    g = torch.Generator().manual_seed(7)
    for n_symbols, batch in ((1, 8), (2, 16), (7, 16), (26, 12), (100, 8)):
        vocab = Vocabulary.from_spec(str(n_symbols))
        m = compile_sorter(n_symbols)
        lengths = torch.randint(0, 1001, (batch,), generator=g).tolist()
        lengths[0] = 1000
        seqs = []
        for i, n in enumerate(lengths):
            # alternate i.i.d. symbols with a few symbols repeated many times
            k = n_symbols if i % 2 else int(torch.randint(1, n_symbols + 1, (1,), generator=g))
            pool = torch.randperm(n_symbols, generator=g)[:k]
            seqs.append(pool[torch.randint(0, k, (n,), generator=g)].tolist())
        got = greedy_decode(m, vocab, seqs)
        assert got.outputs == [sorted(set(x)) for x in seqs]
        assert all(got.stopped)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 30).flatmap(lambda v: st.tuples(st.just(v), st.lists(st.integers(0, v - 1), max_size=40)))
)
def test_property_any_vocabulary(case):
    n_symbols, x = case
    vocab = Vocabulary.from_spec(str(n_symbols))
    assert greedy_decode(compile_sorter(n_symbols), vocab, [x]).outputs == [sorted(set(x))]


def test_dlexam_sort_answers_from_the_weights_not_a_python_sort():
    """`dlexam sort`'s own path (the stream reader, decoding by counts and by the look-up step) with the values
    of A and B swapped by hand: the <START> query still attends to A, whose value is now B's one-hot, so the
    model says B where sorted(set(x)) says A; and with B present, every query after <START> or A attends to B,
    whose value is A's: A again and again, up to the step limit (n + 1 = 5 tokens). Worked by hand from the
    score table above, for short lines and for a line long enough (70,000 symbols) to be read as its counts."""
    from dlexam.sorting.sorter import answer_stream, load_sorter

    sorter = load_sorter("A-D")
    with torch.no_grad():
        sorter.model.layers[0].W_V[0, [0, 1]] = sorter.model.layers[0].W_V[0, [1, 0]]
    lines = ["A C", "C A A", " ".join(["C"] * 35_000 + ["A"] * 35_000), "B D", ""]
    assert list(answer_stream(sorter, lines)) == ["B C", "B C", "B C", "A A A A A", ""]
