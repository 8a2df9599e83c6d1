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
