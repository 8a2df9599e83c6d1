"""A model that needs a line's order attends, in every layer but its last, from each position to every earlier one:
its prefill's time grows with the square of the line's length (docs/sorting.md, "Input of any size"), and a line of
tens of thousands of symbols ran for seconds or minutes without a word. `dlexam sort` now says so on stderr before it
starts on such a line: where that layer count x heads x T(T+1)/2 query-key scores (T = the symbols + <START>) reach
500,000,000.

Oracle: the boundaries worked out by hand from that rule. The decoding is replaced by a stub that stops the command
where the work would begin, so the test costs nothing however long the line: the warning must come before it."""

from __future__ import annotations

import io

import pytest

from dlexam.cli import main
from dlexam.sorting import decode, sorter
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.sorter import Sorter
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer, TransformerConfig

# (layers, heads) -> the fewest symbols that warn, by hand: (layers - 1) x heads x T(T+1)/2 >= 5e8 with T = n + 1
# (2, 1): T(T+1) >= 1e9: 31,622 x 31,623 = 999,982,506 < 1e9 <= 31,623 x 31,624 = 1,000,045,752, so T 31,623
# (3, 2): T(T+1) >= 2.5e8: 15,810 x 15,811 = 249,971,910 < 2.5e8 <= 15,811 x 15,812 = 250,003,532, so T 15,811
FIRST_SLOW = {(2, 1): 31_622, (3, 2): 15_810}


def _sorter(layers: int, heads: int = 1, positional: str = "learned") -> Sorter:
    vocab = Vocabulary.from_spec("A-D")
    cfg = TransformerConfig(vocab_size=vocab.size, d_model=6 * heads, n_heads=heads, n_layers=layers,
                            positional=positional, max_len=16 if positional == "learned" else 0)
    return Sorter(DecoderTransformer(cfg).eval(), vocab, 3, "a test sorter", {"finished": True})


class Started(Exception):
    """The decoding began."""


def test_slow_lines_are_those_of_the_rule():
    for (layers, heads), n in FIRST_SLOW.items():
        assert decode.slow_line_tokens(_sorter(layers, heads).model) == n
    assert decode.slow_line_tokens(_sorter(1).model) is None  # one layer: only the last position attends
    assert decode.slow_line_tokens(compile_sorter(4)) is None  # decoded from counts


def test_sort_warns_before_a_slow_line_and_not_below_it(monkeypatch, capsys):
    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(decode, "greedy_decode", started)
    for layers, warned in ((2, True), (1, False)):  # one layer: a line of any length is linear in time
        monkeypatch.setattr(sorter, "load_sorter", lambda vocab, checkpoint, layers=layers: _sorter(layers))
        first = FIRST_SLOW[(2, 1)]
        for n, slow in ((first - 1, False), (first, warned)):
            with pytest.raises(Started):
                main(["sort", " ".join(["A"] * n)])
            err = capsys.readouterr().err
            assert ("dlexam: warning: the input holds" in err) is slow, (layers, n, err)
            if slow:
                assert err.count("\n") == 1 and f"holds {n:,} symbols" in err, err
                assert "square of the line's length" in err, err
        # standard input: the line is named by its number, before the work on its chunk
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"A B\n" + b"A " * first + b"\n")))
        with pytest.raises(Started):
            main(["sort"])
        err = capsys.readouterr().err
        assert ("dlexam: warning: line 2 holds" in err) is warned, err


# A one-layer model with positions has no quadratic layer, but each step of its answer reads every position before it:
# 2,001 steps over a 100,000-symbol line of 2,000 symbols ran 22 s without a word (2026-12-07). The rule, by hand:
# layers x heads x (steps x T + steps (steps - 1) / 2) >= 50,000,000 keys read, T = n + 1, steps = distinct + 1.
# All 2,000 symbols distinct: 2,001 x (n + 1) + 2,001,000 >= 5e7 first at n + 1 = 23,988: 2,001 x 23,988 = 47,999,988,
# + 2,001,000 = 50,000,988; at n + 1 = 23,987 it is 49,998,987.
FIRST_SLOW_ANSWER = 23_987


def test_a_long_answer_over_a_long_line_is_warned_of_before_it_starts(monkeypatch, capsys):
    def started(*args, **kwargs):
        raise Started

    vocab = Vocabulary.from_spec("2000")
    cfg = TransformerConfig(vocab_size=vocab.size, d_model=8, n_heads=1, n_layers=1, positional="sinusoidal")
    wide = Sorter(DecoderTransformer(cfg).eval(), vocab, 3, "a test sorter", {"finished": True})
    assert decode.slow_line_tokens(wide.model) is None  # the prefill rule alone never warns of it
    assert decode.slow_answer_tokens(wide.model, vocab) == FIRST_SLOW_ANSWER  # shorter lines are not even counted
    # A-D: at most 5 steps, 5 (n + 1) + 10 >= 5e7 first at n + 1 = 9,999,998; none for a model decoding from counts
    one_layer = _sorter(1, positional="sinusoidal").model
    assert decode.slow_answer_tokens(one_layer, Vocabulary.from_spec("A-D")) == 9_999_997
    assert decode.slow_answer_tokens(compile_sorter(4), Vocabulary.from_spec("A-D")) is None
    monkeypatch.setattr(decode, "greedy_decode", started)
    monkeypatch.setattr(sorter, "load_sorter", lambda vocab, checkpoint: wide)
    every = [str(s) for s in range(2000)]
    for n, distinct, slow in ((FIRST_SLOW_ANSWER - 1, 2000, False), (FIRST_SLOW_ANSWER, 2000, True),
                              (100_000, 3, False)):  # three different symbols: four steps, however long the line
        line = (every[:distinct] * (n // distinct + 1))[:n]
        with pytest.raises(Started):
            main(["sort", "--vocab", "2000", " ".join(line)])
        err = capsys.readouterr().err
        assert ("dlexam: warning: the input holds" in err) is slow, (n, distinct, err)
        if slow:
            assert err.count("\n") == 1, err
            assert f"holds {n:,} symbols, 2,000 of them different: each of the 2,001 steps" in err, err
            assert "(50,000,988 keys read in all)" in err, err
