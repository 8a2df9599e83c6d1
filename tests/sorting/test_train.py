"""Training: the loss is cross-entropy on output tokens only, checkpoints rebuild the model, it learns."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlexam.sorting.data import teacher_forcing_batch
from dlexam.sorting.train import TrainConfig, evaluate, load_model, loss_on_batch, model_config, train
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer


def test_loss_counts_only_output_tokens():
    v = Vocabulary.from_spec("A-D")
    torch.manual_seed(0)
    m = DecoderTransformer(model_config(TrainConfig()))
    tokens, lengths = torch.tensor([[3, 0, 0], [1, 0, 0]]), torch.tensor([3, 1])
    seq, mask, labels = teacher_forcing_batch(tokens, lengths, v)
    got = loss_on_batch(m, seq, mask, labels)
    # by hand: row 0 'D A A <START> A D <STOP>' predicts A, D, <STOP> from positions 3, 4, 5;
    # row 1 'B <START> B <STOP>' predicts B, <STOP> from positions 1, 2. Each row alone, unpadded:
    l0 = m(torch.tensor([[3, 0, 0, 4, 0, 3, 5]]))[0]
    l1 = m(torch.tensor([[1, 4, 1, 5]]))[0]
    terms = [
        F.cross_entropy(l0[3:6], torch.tensor([0, 3, 5]), reduction="sum"),
        F.cross_entropy(l1[1:3], torch.tensor([1, 5]), reduction="sum"),
    ]
    assert torch.allclose(got, sum(terms) / 5, atol=1e-5)


def test_checkpoint_rebuilds_the_same_model(tmp_path):
    tc = TrainConfig(vocab="5", max_len=3, steps=3, batch_size=8, warmup=1)
    model, _ = train(tc, tmp_path / "r", progress=False)
    model.eval()
    loaded, vocab, max_len = load_model(tmp_path / "r")
    assert vocab == Vocabulary.from_spec("5") and max_len == 3
    x = torch.tensor([[0, 4, 4, 2, vocab.start]])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_training_learns_the_task():
    """A short real run (A-C, lengths <= 5, ~5 CPU-s) reaches high exact match, also beyond 5."""
    torch.manual_seed(0)
    tc = TrainConfig(vocab="A-C", max_len=5, steps=1000, batch_size=128)
    model, _ = train(tc, None, progress=False)
    r = evaluate(model, Vocabulary.from_spec("A-C"), list(range(2, 9)), per_length=100)
    assert r["overall"] >= 0.95, r
