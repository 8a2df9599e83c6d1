"""Training and evaluating sorting transformers (Problem 2 done for real: Geoff's task, learned).

Problem 2.2-2.5 train with teacher forcing and cross-entropy on the output tokens; with argmax
attention no gradient reaches W_Q and W_K (Problem 2.5), so we train with softmax attention
(temperature sqrt(d_head)) and then measure what decoding with temperature 0 does.

- :func:`train`: AdamW, cosine learning-rate decay, random multisets sampled on the fly from a
  data generator seeded separately from the model's initialisation, a tqdm progress bar, and
  checkpoints written atomically with :mod:`dlexam.checkpoint` (kind ``sort-transformer``; the
  config holds the model's :class:`TransformerConfig` with the vocabulary and the trained maximum
  length in ``extra``, so :func:`load_model` rebuilds the model from the file alone).
- :func:`evaluate`: exact-match accuracy of greedy decoding per input length on held-out random
  sequences (:mod:`dlexam.sorting.data`).

The training loop knows only a model, a batch sampler and a loss.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlexam import checkpoint
from dlexam.errors import UserError
from dlexam.sorting.data import sample_split, targets, teacher_forcing_batch
from dlexam.sorting.decode import decode_in_batches
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer, TransformerConfig

KIND = "sort-transformer"


@dataclass
class TrainConfig:
    vocab: str = "A-D"  # vocabulary spec (see dlexam.sorting.vocab)
    max_len: int = 8  # train on input lengths 0 .. max_len
    d_model: int | None = None  # None = one-hot width, n_symbols + 2
    n_heads: int = 1
    n_layers: int = 1
    d_ff: int = 0  # 0 = no feed-forward
    residual: bool = False
    layernorm: bool = False
    positional: str = "none"
    steps: int = 3000
    batch_size: int = 256
    lr: float = 0.03
    weight_decay: float = 0.0
    warmup: int = 100
    seed: int = 0  # model initialisation
    data_seed: int = 1  # the data generator (separate, so data never depends on the model)
    checkpoint_every: int = 500


def model_config(tc: TrainConfig) -> TransformerConfig:
    vocab = Vocabulary.from_spec(tc.vocab)
    d = tc.d_model or vocab.size
    return TransformerConfig(
        vocab_size=vocab.size,
        d_model=d,
        n_heads=tc.n_heads,
        n_layers=tc.n_layers,
        d_head=d // tc.n_heads,
        d_ff=tc.d_ff,
        residual=tc.residual,
        layernorm=tc.layernorm,
        positional=tc.positional,
        max_len=2 * tc.max_len + 2 + vocab.n_symbols if tc.positional == "learned" else 0,
        temperature=None,
        tie_embeddings=True,
        extra={"vocab": vocab.spec, "max_len": tc.max_len},
    )


def loss_on_batch(model: DecoderTransformer, seq, pad_mask, labels) -> torch.Tensor:
    """Cross-entropy over the output tokens only (labels -100 elsewhere), mean per token."""
    logits = model(seq, pad_mask)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


def save_run(path: Path, model: DecoderTransformer, tc: TrainConfig, extra: dict) -> None:
    checkpoint.save(
        path,
        kind=KIND,
        config=model.cfg.to_dict(),
        state_dict=model.state_dict(),
        extra={"train_config": asdict(tc), **extra},
    )


def train(
    tc: TrainConfig, out: str | os.PathLike | None, *, progress: bool = True, force: bool = False
) -> tuple[DecoderTransformer, dict]:
    """Train a sorter; write RUN/last.pt (atomically, every `checkpoint_every` steps and at the end).

    Returns (the trained model, a summary: steps, seconds, final loss, parameter count, checkpoint path).
    """
    vocab = Vocabulary.from_spec(tc.vocab)
    if tc.max_len < 1:
        raise UserError(f"--max-len must be >= 1, got {tc.max_len}")
    out_path = None
    if out is not None:
        out_dir = Path(out)
        if out_dir.exists() and not out_dir.is_dir():
            raise UserError(f"--out {out_dir} exists and is not a directory")
        out_path = out_dir / "last.pt"
        if out_path.exists() and not force:
            raise UserError(f"{out_path} already exists; choose another --out or pass --force to replace it")
    torch.manual_seed(tc.seed)
    model = DecoderTransformer(model_config(tc))
    data_gen = torch.Generator().manual_seed(tc.data_seed)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)

    def lr_at(step: int) -> float:
        if step < tc.warmup:
            return (step + 1) / tc.warmup
        frac = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    t0 = time.perf_counter()
    bar = tqdm(
        range(tc.steps),
        desc=f"sort train {vocab.spec} L<={tc.max_len}",
        disable=not progress,
        unit="step",
        dynamic_ncols=True,
    )
    loss_ema = None
    model.train()
    for step in bar:
        tokens, lengths = sample_split(
            data_gen, tc.batch_size, vocab.n_symbols, 0, tc.max_len, heldout=False, kind="mixed"
        )
        loss = loss_on_batch(model, *teacher_forcing_batch(tokens, lengths, vocab))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if step % 10 == 0 or step + 1 == tc.steps:
            bar.set_postfix(loss=f"{loss_ema:.4f}")
        if (
            out_path is not None
            and tc.checkpoint_every
            and (step + 1) % tc.checkpoint_every == 0
            and step + 1 < tc.steps
        ):
            save_run(out_path, model, tc, {"step": step + 1, "loss": loss_ema})
    seconds = time.perf_counter() - t0
    summary = {
        "steps": tc.steps,
        "train_seconds": round(seconds, 2),
        "final_loss": loss_ema,
        "parameters": sum(p.numel() for p in model.parameters()),
        "model": model.cfg.to_dict(),
        "checkpoint": str(out_path) if out_path else None,
    }
    if out_path is not None:
        save_run(out_path, model, tc, {"step": tc.steps, "loss": loss_ema, "train_seconds": seconds})
    return model, summary


def load_model(path: str | os.PathLike) -> tuple[DecoderTransformer, Vocabulary, int | None]:
    """A trained sorter from a checkpoint file or run directory: (model in eval mode, vocabulary, max_len)."""
    payload = checkpoint.load(path, kind=KIND)
    try:
        cfg = TransformerConfig(**payload["config"])
        vocab = Vocabulary.from_spec(cfg.extra["vocab"])
    except (TypeError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: checkpoint config is not a sort-transformer config ({exc})") from None
    if vocab.size != cfg.vocab_size:
        raise UserError(f"{path}: vocabulary {vocab.spec} does not match the model's {cfg.vocab_size} tokens")
    model = DecoderTransformer(cfg)
    checkpoint.load_weights(model, payload, path)
    model.requires_grad_(False)
    return model.eval(), vocab, cfg.extra.get("max_len")


def training_record(path: str | os.PathLike) -> dict:
    """What a sorter checkpoint says about its training: {"provenance" (None in checkpoints that
    predate it), "train_config", "step", "train_seconds"}."""
    payload = checkpoint.load(path, kind=KIND)
    extra = payload.get("extra") or {}
    return {
        "provenance": payload.get("provenance"),
        "train_config": extra.get("train_config"),
        "step": extra.get("step"),
        "train_seconds": extra.get("train_seconds"),
    }


def parse_lengths(text: str) -> list[int]:
    """'1-32' -> [1..32]; '3' -> [3]; '1-8,16,32' -> the union, sorted."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise UserError(f"bad --lengths {text!r}: use e.g. 1-32 or 1-8,16") from None
    if not out or min(out) < 0:
        raise UserError(f"bad --lengths {text!r}: lengths must be >= 0")
    return sorted(out)


def heldout_inputs(vocab: Vocabulary, lengths: list[int], per_length: int, seed: int) -> list[list[int]]:
    """`per_length` held-out uniform random inputs of each length (own seed, not the training stream)."""
    gen = torch.Generator().manual_seed(seed)
    inputs: list[list[int]] = []
    for n in lengths:
        tokens, lens = sample_split(gen, per_length, vocab.n_symbols, n, n, heldout=True, kind="uniform")
        inputs += tokens[:, :n].tolist()
    return inputs


@torch.no_grad()
def evaluate(
    model: DecoderTransformer,
    vocab: Vocabulary,
    lengths: list[int],
    *,
    per_length: int = 1000,
    seed: int = 12345,
    temperature: float | str | None = None,
    inputs: list[list[int]] | None = None,
) -> dict:
    """Exact match of greedy decoding vs sorted(set(x)): {"overall", "per_length", "n", "temperature"}."""
    if inputs is None:
        inputs = heldout_inputs(vocab, lengths, per_length, seed)
    got = decode_in_batches(model, vocab, inputs, batch_size=2048, temperature=temperature).outputs
    per: dict[int, list[int]] = {}
    for x, y in zip(inputs, got, strict=True):
        c = per.setdefault(len(x), [0, 0])
        c[0] += y == sorted(set(x))
        c[1] += 1
    correct = sum(c[0] for c in per.values())
    return {
        "temperature": model.temperature(temperature),
        "overall": correct / max(1, len(inputs)),
        "n": len(inputs),
        "per_length": {n: c[0] / c[1] for n, c in sorted(per.items())},
    }


__all__ = [
    "TrainConfig",
    "train",
    "evaluate",
    "load_model",
    "training_record",
    "parse_lengths",
    "heldout_inputs",
    "targets",
]
