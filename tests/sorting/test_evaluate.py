"""`sort evaluate`'s measurement (dlexam.sorting.evaluate): its inputs are drawn and decoded a block at a time."""

from __future__ import annotations

import torch

from dlexam.sorting import evaluate as ev
from dlexam.sorting.data import is_heldout, sample_split
from dlexam.sorting.sorter import load_sorter
from dlexam.sorting.vocab import Vocabulary


def test_a_large_evaluation_holds_one_block_of_inputs_at_a_time(monkeypatch):
    """Before, `sort evaluate` drew every input first (20M symbols at its cap: 1.8 GB of Python lists)."""
    seen = []
    decode = ev.decode_in_batches

    def spy(model, vocab, inputs, **kwargs):
        seen.append(sum(map(len, inputs)))
        return decode(model, vocab, inputs, **kwargs)

    monkeypatch.setattr(ev, "decode_in_batches", spy)
    monkeypatch.setattr(ev, "BLOCK_TOKENS", 100)
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
    assert "all  1.0000" in out and "no held-out sequences exist at length 1:" in out

    assert main(["sort", "train", "--quick", "--max-len", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "held-out lengths 1-1: not measured" in out and "lengths 1-1: 0.0000" not in out
