"""Training batches and the held-out split, against hand-built sequences and sorted(set(x))."""

from __future__ import annotations

import torch

from dlexam.sorting.data import (
    all_sequences,
    is_heldout,
    sample_inputs,
    sample_split,
    teacher_forcing_batch,
)
from dlexam.sorting.vocab import Vocabulary


def test_teacher_forcing_batch_by_hand():
    v = Vocabulary.from_spec("A-D")  # A B C D <START>=4 <STOP>=5
    tokens = torch.tensor([[3, 0, 0], [2, 0, 0], [0, 0, 0]])
    lengths = torch.tensor([3, 1, 0])
    seq, mask, labels = teacher_forcing_batch(tokens, lengths, v)
    assert seq[0][mask[0]].tolist() == [3, 0, 0, 4, 0, 3, 5]  # D A A <START> A D <STOP>
    assert seq[1][mask[1]].tolist() == [2, 4, 2, 5]
    assert seq[2][mask[2]].tolist() == [4, 5]
    ignore = -100
    assert labels[0].tolist()[:7] == [ignore, ignore, ignore, 0, 3, 5, ignore]
    assert labels[1].tolist()[:4] == [ignore, 2, 5, ignore]
    assert labels[2].tolist()[:2] == [5, ignore]
    assert (labels[~mask] == ignore).all()


def test_batches_match_sorted_set_on_random_inputs():
    v = Vocabulary.from_spec("A-Z")
    g = torch.Generator().manual_seed(0)
    tokens, lengths = sample_inputs(g, 200, 26, 0, 20, kind="mixed")
    seq, mask, labels = teacher_forcing_batch(tokens, lengths, v)
    for i in range(200):
        x = tokens[i, : lengths[i]].tolist()
        want = x + [v.start] + sorted(set(x)) + [v.stop]
        assert seq[i][mask[i]].tolist() == want
        assert labels[i][labels[i] != -100].tolist() == sorted(set(x)) + [v.stop]


def test_mixed_sampling_covers_few_distinct_symbols():
    g = torch.Generator().manual_seed(0)
    tokens, lengths = sample_inputs(g, 2000, 26, 16, 16, kind="mixed")
    distinct = torch.tensor([len(set(r.tolist())) for r in tokens])
    assert (distinct <= 3).sum() > 100 and (distinct >= 10).sum() > 500


def test_training_and_heldout_splits_are_disjoint():
    g = torch.Generator().manual_seed(0)
    t, l = sample_split(g, 3000, 4, 0, 8, heldout=False, kind="mixed")
    assert not is_heldout(t, l).any()
    train = {tuple(r[:n].tolist()) for r, n in zip(t, l, strict=True)}
    h, hl = sample_split(g, 500, 4, 7, 7, heldout=True, kind="uniform")
    assert is_heldout(h, hl).all()
    assert not train & {tuple(r.tolist()) for r in h}
    # about one sequence in ten is held out; the empty input never is
    every = all_sequences(4, 8)
    frac = is_heldout(every, torch.full((every.shape[0],), 8)).float().mean().item()
    assert 0.08 < frac < 0.12
    assert not is_heldout(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, dtype=torch.long)).any()
