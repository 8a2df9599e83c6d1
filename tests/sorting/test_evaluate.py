"""`sort evaluate`'s measurement (dlexam.sorting.evaluate): its inputs are drawn and decoded a block at a time."""

from __future__ import annotations

import json

import pytest
import torch

from dlexam.sorting import evaluate as ev
from dlexam.sorting.data import is_heldout, sample_split
from dlexam.sorting.sorter import load_sorter
from dlexam.sorting.vocab import Vocabulary


def blocks_seen(monkeypatch, block_tokens: int) -> list[int]:
    """Evaluation in blocks of at most `block_tokens` symbols; the list fills with each decoded block's symbols."""
    seen = []
    decode = ev.decode_in_batches

    def spy(model, vocab, inputs, **kwargs):
        seen.append(sum(map(len, inputs)))
        return decode(model, vocab, inputs, **kwargs)

    monkeypatch.setattr(ev, "decode_in_batches", spy)
    monkeypatch.setattr(ev, "BLOCK_TOKENS", block_tokens)
    return seen


def test_a_large_evaluation_holds_one_block_of_inputs_at_a_time(monkeypatch):
    """Before, `sort evaluate` drew every input first (20M symbols at its cap: 1.8 GB of Python lists)."""
    seen = blocks_seen(monkeypatch, 100)
    sorter = load_sorter("A-Z")
    report = ev.evaluation_report(sorter, "30,40", samples=20)
    assert report["n"] == 40 and report["results"][0]["per_length"] == {"30": 1.0, "40": 1.0}
    assert max(seen) <= 100 and sum(seen) == 20 * 30 + 20 * 40  # every input decoded once, in blocks


def test_inputs_that_fit_one_block_are_drawn_as_one_call_draws_them(monkeypatch):
    """The figures measured before blocks existed (fewer than BLOCK_TOKENS symbols per length) are unchanged."""
    vocab = Vocabulary.from_spec("A-D")
    gen = torch.Generator().manual_seed(12345)
    want = []
    for n in (9, 30):
        tokens, _ = sample_split(gen, 500, 4, n, n, heldout=True, kind="uniform")
        want += tokens[:, :n].tolist()
    got = ev.heldout_inputs(vocab, [9, 30], 500, 12345)
    assert got == want and len(got) == 1000
    monkeypatch.setattr(ev, "BLOCK_TOKENS", 1000)
    blocks = list(ev.heldout_blocks(vocab, [30], 100, 1))  # 3,000 symbols: blocks of 33 inputs
    blocked = [x for block in blocks for x in block]
    assert [len(b) for b in blocks] == [33, 33, 33, 1] and len(blocked) == 100
    assert bool(is_heldout(torch.tensor(blocked), torch.full((100,), 30)).all())


def test_lengths_without_a_heldout_sequence_are_not_reported_as_an_exact_match_of_zero(capsys, tmp_path):
    """Over A-D no sequence of length 1 is held out. `sort evaluate --lengths 1` printed "all 0.0000" for the
    compiled solver and `sort train --max-len 1` "exact match on held-out lengths 1-1: 0.0000": an exact match
    of 0 over no input at all, for models that answer sorted(set(x)) on every such input."""
    from dlexam.cli import main
    from dlexam.sorting.compiled import compile_sorter
    from dlexam.sorting.data import all_sequences
    from dlexam.sorting.decode import greedy_decode

    vocab = Vocabulary.from_spec("A-D")
    model = compile_sorter(4)
    every = all_sequences(4, 1).tolist()
    assert greedy_decode(model, vocab, every).outputs == [sorted(set(x)) for x in every]  # the oracle: all right
    assert not ev.heldout_inputs(vocab, [1], 10, 12345)  # none held out

    summary = ev.accuracy_summary(model, vocab, 1, per_length=10)
    assert summary["trained"]["n"] == 0 and summary["trained"]["softmax"] is None and summary["trained"]["T0"] is None
    assert summary["longer"]["n"] > 0 and summary["longer"]["T0"] == 1.0  # length 2 has held-out sequences
    assert ev.evaluate(model, vocab, [1])["overall"] is None  # not 0.0

    assert main(["sort", "evaluate", "--lengths", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "no held-out sequences exist at lengths 1" in err
    assert main(["sort", "evaluate", "--vocab", "1", "--lengths", "1-8", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("dlexam: error: no held-out sequences")
    assert main(["sort", "evaluate", "--lengths", "1-2", "--samples", "5"]) == 0  # one length with some: measured
    out = capsys.readouterr().out
    assert "\n   all       5         2  1.0000\n" in out and "no held-out sequences exist at length 1:" in out

    assert main(["sort", "train", "--quick", "--max-len", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "held-out lengths 1-1: not measured" in out and "lengths 1-1: 0.0000" not in out


@pytest.fixture(scope="module")
def tiny_sorter(tmp_path_factory):
    from dlexam.cpu import torch_threads
    from dlexam.sorting.train import TrainConfig, train

    out = tmp_path_factory.mktemp("sort-run") / "run"
    torch.manual_seed(0)
    with torch_threads(1):
        train(TrainConfig(vocab="A-D", max_len=6, steps=60, batch_size=64, warmup=10, checkpoint_every=60), out)
    return load_sorter(checkpoint=out)


@pytest.mark.parametrize(("kind", "is_kind"), [
    ("few", lambda x: len(set(x)) <= 3), ("sorted", lambda x: x == sorted(x)),
    ("reversed", lambda x: x == sorted(x, reverse=True)),
])
def test_the_hard_inputs_are_what_they_say_held_out_and_scored_against_sorted_set(kind, is_kind, tiny_sorter):
    """`sort evaluate --inputs few|sorted|reversed`: before, only uniform random inputs were drawn. Each input is of
    its kind, held out from training, and the figure is the share of answers equal to sorted(set(x)), recounted here
    from the model's own answers (a sorter trained for a moment: wrong on many of them)."""
    from dlexam.sorting.decode import greedy_decode

    sorter = tiny_sorter
    lengths = [3, 12, 40]
    inputs = ev.heldout_inputs(sorter.vocab, lengths, 40, 7, kind)
    assert [len(x) for x in inputs] == [n for n in lengths for _ in range(40)]
    assert all(is_kind(x) for x in inputs)
    for n in lengths:
        rows = [x for x in inputs if len(x) == n]
        assert bool(is_heldout(torch.tensor(rows), torch.full((len(rows),), n)).all())
    if kind == "few":  # long inputs repeat their few symbols
        assert max(len(x) - len(set(x)) for x in inputs if len(x) == 40) >= 37
    report = ev.evaluation_report(sorter, "3,12,40", samples=40, seed=7, temperature=0.0, inputs=kind)
    assert report["inputs"] == kind and report["n"] == 120
    answers = greedy_decode(sorter.model, sorter.vocab, inputs, temperature=0.0).outputs
    for n in lengths:
        right = [y == sorted(set(x)) for x, y in zip(inputs, answers, strict=True) if len(x) == n]
        assert report["results"][0]["per_length"][str(n)] == sum(right) / len(right)


def test_a_kind_with_few_heldout_sequences_ends(capsys):
    """Sorted inputs of length 30 over 2 symbols are 31 sequences, a few of them held out (or none): the draw ends
    with those it found, never loops for ever."""
    vocab = Vocabulary.from_spec("2")
    got = ev.heldout_inputs(vocab, [30], 50, 1, "sorted")
    assert all(x == sorted(x) for x in got)
    assert len(got) <= 50


def test_the_inputs_flag_measures_the_kind(capsys):
    from dlexam.cli import main
    from dlexam.sorting.data import EVAL_KINDS

    assert main(["sort", "evaluate", "--lengths", "20", "--samples", "10", "--inputs", "few", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["inputs"] == "few" and d["n"] == 10 and d["results"][0]["overall"] == 1.0  # the compiled solver
    assert main(["sort", "evaluate", "--lengths", "20", "--samples", "10", "--inputs", "reversed"]) == 0
    assert "10 held-out reversed inputs drawn at random" in capsys.readouterr().out
    assert main(["sort", "evaluate", "--inputs", "shuffled"]) == 2
    err = capsys.readouterr().err
    assert "--inputs" in err and all(kind in err for kind in EVAL_KINDS), err  # the flag offers every kind


def test_the_inputs_flag_offers_exactly_the_library_kinds():
    # the flag's choices are written in commands/sort_options.py (dlexam --help imports no torch), the kinds in
    # sorting.data
    import argparse

    from dlexam.commands.sort_options import evaluate_options
    from dlexam.sorting.data import EVAL_KINDS
    p = argparse.ArgumentParser()
    evaluate_options(p)
    flag = next(a for a in p._actions if "--inputs" in a.option_strings)
    assert tuple(flag.choices) == EVAL_KINDS and flag.default == EVAL_KINDS[0]


def _one_at_a_time(model, vocab, lengths, per_length, seed, temperature):
    """The oracle: each held-out input decoded alone and compared with sorted(set(x)) -> (n, exact match or None)."""
    from dlexam.sorting.decode import greedy_decode

    inputs = ev.heldout_inputs(vocab, lengths, per_length, seed)
    right = sum(greedy_decode(model, vocab, [x], temperature=temperature).outputs[0] == sorted(set(x))
                for x in inputs)
    return len(inputs), (right / len(inputs) if inputs else None)


def test_the_accuracy_after_training_is_measured_a_block_at_a_time_with_the_same_figures(monkeypatch):
    """`sort train`'s exact match after training (accuracy_summary) drew every held-out input of lengths 1 .. 2
    max_len at once (at --max-len 512: 118 million symbols in Python lists, about 1.7 GB) and decoded them in one
    call. Now at most BLOCK_TOKENS symbols are held and decoded at a time, with the figures of each input decoded
    alone. The model: the shipped sorter's weights, each moved by 0.05 x a fixed normal draw, at its own temperature
    2, so that no figure is 1.0 or 0.0 (softmax 0.886 and 0.719, T = 0 0.493 and 0.113)."""
    from dataclasses import replace

    from dlexam.sorting.shipped import load_shipped
    from dlexam.transformer import DecoderTransformer

    shipped = load_shipped()
    model, vocab = DecoderTransformer(replace(shipped.model.cfg, temperature=2.0)), shipped.vocab
    gen = torch.Generator().manual_seed(0)
    model.load_state_dict({k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
                           for k, v in shipped.model.state_dict().items()})
    model.eval()
    seen = blocks_seen(monkeypatch, 100)
    summary = ev.accuracy_summary(model, vocab, 8, per_length=20, seed=7)
    for name, lengths in (("trained", range(1, 9)), ("longer", range(9, 17))):
        n, softmax = _one_at_a_time(model, vocab, list(lengths), 20, 7, None)
        _, t0 = _one_at_a_time(model, vocab, list(lengths), 20, 7, 0.0)
        assert summary[name] == {"lengths": f"{lengths[0]}-{lengths[-1]}", "n": n, "softmax": softmax, "T0": t0}
        assert 0 < t0 < softmax < 1, summary  # a model neither right nor wrong throughout
    assert max(seen) <= 100, seen  # each block at most BLOCK_TOKENS symbols
    n_symbols = sum(map(len, ev.heldout_inputs(vocab, list(range(1, 17)), 20, 7)))
    assert sum(seen) == 2 * n_symbols  # every input decoded once at each temperature


def test_evaluate_says_how_many_distinct_inputs_a_short_length_measured(capsys):
    """Over A-D length 2 has 16 sequences, and about a tenth are held out: 1000 draws of it repeat a few inputs again
    and again. `sort evaluate` said "2000 held-out sequences" for lengths 2-3 (2026-12-07); it now says how many
    distinct inputs each length's figure is of. Oracle: the distinct draws counted here with set(), and that no
    length can have more than the 4^L sequences that exist."""
    from dlexam.cli import main

    drawn = ev.heldout_inputs(Vocabulary.from_spec("A-D"), [2, 3], 1000, 12345)
    distinct = {n: len({tuple(x) for x in drawn if len(x) == n}) for n in (2, 3)}
    assert distinct[2] <= 16 and distinct[3] <= 64 and len(drawn) == 2000
    assert main(["sort", "evaluate", "--lengths", "2-3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n"] == 2000 and d["distinct_per_length"] == {"2": distinct[2], "3": distinct[3]}
    assert main(["sort", "evaluate", "--lengths", "2-3"]) == 0
    out = capsys.readouterr().out
    assert "2000 held-out sequences" not in out and f"{distinct[2] + distinct[3]} distinct" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.split()[:1] in (["2"], ["3"])}
    assert rows["2"][1:3] == ["1000", str(distinct[2])] and rows["3"][1:3] == ["1000", str(distinct[3])]
