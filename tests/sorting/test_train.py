"""Training: the loss is cross-entropy on output tokens only, checkpoints rebuild the model, it learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dlexam.errors import UserError
from dlexam.sorting.data import teacher_forcing_batch
from dlexam.sorting.evaluate import evaluate
from dlexam.sorting.train import (
    OLD_RECIPE,
    TrainConfig,
    attention_temperature,
    loss_on_batch,
    model_config,
    train,
)
from dlexam.sorting.trained import load_model
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
    model = train(tc, tmp_path / "r").model
    model.eval()
    loaded, vocab, max_len = load_model(tmp_path / "r")
    assert vocab == Vocabulary.from_spec("5") and max_len == 3
    x = torch.tensor([[0, 4, 4, 2, vocab.start]])
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_training_learns_the_task():
    """A short real run (A-C, lengths <= 5, ~5 CPU-s) reaches high exact match, also beyond 5,
    with the model's own (annealed, cold) temperature and with argmax attention alike."""
    torch.manual_seed(0)
    tc = TrainConfig(vocab="A-C", max_len=5, steps=1000, batch_size=128)
    model = train(tc).model
    assert model.temperature() == tc.temperature_end
    for t in (None, 0.0):
        r = evaluate(model, Vocabulary.from_spec("A-C"), list(range(2, 9)), per_length=100, temperature=t)
        assert r["overall"] >= 0.95, (t, r)


def test_temperature_anneals_geometrically_from_hot_to_cold():
    tc = TrainConfig(vocab="A-Z", steps=101)
    d_head = model_config(tc).d_head
    assert d_head == 28
    assert attention_temperature(tc, d_head, 0) == pytest.approx(4 * math.sqrt(28))
    assert attention_temperature(tc, d_head, 100) == pytest.approx(0.1)
    assert attention_temperature(tc, d_head, 50) == pytest.approx(math.sqrt(4 * math.sqrt(28) * 0.1))  # geometric
    temps = [attention_temperature(tc, d_head, s) for s in range(101)]
    assert all(a > b for a, b in zip(temps, temps[1:], strict=False))
    assert model_config(tc).temperature == pytest.approx(0.1)  # the model decodes at the cold end
    old = TrainConfig(vocab="A-Z", **OLD_RECIPE)  # the recipe before: sqrt(d_head) throughout
    assert {attention_temperature(old, d_head, s) for s in (0, 1500, 2999)} == {math.sqrt(28)}
    assert model_config(old).temperature is None
    with pytest.raises(UserError, match="> 0"):
        attention_temperature(TrainConfig(temperature_end=0.0), 4, 0)


def test_loss_uses_the_temperature_it_is_given():
    v = Vocabulary.from_spec("A-D")
    torch.manual_seed(0)
    m = DecoderTransformer(model_config(TrainConfig()))
    seq, mask, labels = teacher_forcing_batch(torch.tensor([[3, 0, 2]]), torch.tensor([3]), v)
    for t in (0.5, 7.0):
        logits = m(seq, mask, temperature=t)[0]  # (T, V)
        keep = labels[0] != -100
        want = F.cross_entropy(logits[keep], labels[0][keep])
        assert torch.allclose(loss_on_batch(m, seq, mask, labels, temperature=t), want)
