"""Training: the loss is cross-entropy on output tokens only, checkpoints rebuild the model, it learns."""

from __future__ import annotations

import math
from dataclasses import asdict

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


def test_the_straight_through_loss_is_argmax_attentions_and_trains_the_scores():
    """Its value is the loss of the T = 0 forward pass (the oracle: the model at temperature 0), yet W_Q gets a
    gradient, which T = 0 itself never gives (Problem 2.5)."""
    v = Vocabulary.from_spec("A-D")
    torch.manual_seed(0)
    m = DecoderTransformer(model_config(TrainConfig()))
    seq, mask, labels = teacher_forcing_batch(torch.tensor([[3, 0, 2, 2], [1, 3, 0, 0]]), torch.tensor([4, 2]), v)
    keep = labels != -100
    want = F.cross_entropy(m(seq, mask, temperature=0.0)[keep], labels[keep])
    got = loss_on_batch(m, seq, mask, labels, temperature=20.0, straight_through=True)
    assert torch.allclose(got, want)
    got.backward()
    assert m.layers[0].W_Q.grad.abs().sum() > 0
    m.zero_grad(set_to_none=True)
    loss_on_batch(m, seq, mask, labels, temperature=0.0).backward()
    assert m.layers[0].W_Q.grad is None or m.layers[0].W_Q.grad.abs().sum() == 0


@pytest.mark.parametrize("hard_loss, calls_per_hard_step", [("straight-through", 1), (None, 2)])  # None: "sum"
def test_the_last_third_of_the_steps_trains_through_argmax_attention(monkeypatch, hard_loss, calls_per_hard_step):
    """9 steps: steps 1-6 at the annealed softmax temperature, steps 7-9 straight-through at T = 20 (with "sum",
    the default, plus the softmax's loss at the annealed T)."""
    import dlexam.sorting.train as train_module

    real, calls = train_module.loss_on_batch, []

    def spy(*args, **kw):
        calls.append((kw.get("straight_through", False), kw["temperature"]))
        return real(*args, **kw)

    monkeypatch.setattr(train_module, "loss_on_batch", spy)
    tc = TrainConfig(vocab="A-C", max_len=4, steps=9, batch_size=8, warmup=1,
                     **({"hard_loss": hard_loss} if hard_loss else {}))  # the default: the sum
    train(tc)
    d_head = model_config(tc).d_head
    annealed = [attention_temperature(tc, d_head, s) for s in range(9)]
    hard = [[(True, 20.0)] + [(False, annealed[s])] * (calls_per_hard_step - 1) for s in range(6, 9)]
    assert calls == [(False, t) for t in annealed[:6]] + [c for step in hard for c in step]
    calls.clear()
    train(TrainConfig(vocab="A-C", max_len=4, steps=9, batch_size=8, warmup=1, hard_fraction=0.0))
    assert not any(st for st, _ in calls)  # the recipe before 2026-12-07


def test_a_config_saved_before_the_straight_through_phase_had_none():
    saved = {k: v for k, v in asdict(TrainConfig()).items() if k != "hard_fraction"}  # a checkpoint before it
    assert TrainConfig.from_dict(saved).hard_fraction == 0.0
    assert TrainConfig().hard_steps() == 2000 and TrainConfig(**OLD_RECIPE).hard_steps() == 0
    with pytest.raises(UserError, match="hard_fraction"):
        TrainConfig(hard_fraction=1.5).validate()
