"""Training and evaluating sorting transformers (Problem 2 done for real: Geoff's task, learned).

Problem 2.2-2.5 train with teacher forcing and cross-entropy on the output tokens; with argmax
attention no gradient reaches W_Q and W_K (Problem 2.5), so we train with softmax attention and
then measure what decoding with temperature 0 does.

The recipe (issue 14; docs/sorting.md has the ablation): the attention temperature is annealed
geometrically from hot, 4 sqrt(d_head), to cold, 0.1, over the run (:func:`attention_temperature`),
and the model keeps the cold one for decoding. Hot early, the scores are small in units of T, so
no softmax saturates while the score table is still wrong (a saturated wrong entry gets no
gradient and stays wrong). Cold late, a key that only splits the attention with the <START>
fallback no longer decodes right under softmax either, so training itself pulls the right key
clear of the fallback, which is what argmax decoding (T = 0) needs. Batches of 128 for 6,000
steps at a peak learning rate of 0.01 (the same compute as the earlier 256 x 3,000 at 0.03, twice
the updates, no loss spikes) give the cooling time to repair the table.

- :func:`train`: AdamW, cosine learning-rate decay, the temperature schedule, random multisets
  sampled on the fly from a data generator seeded separately from the model's initialisation, a
  tqdm progress bar, and checkpoints written atomically with :mod:`dlexam.checkpoint` (kind
  ``sort-transformer``; the config holds the model's :class:`TransformerConfig` with the
  vocabulary and the trained maximum length in ``extra``, so :func:`load_model` rebuilds the model
  from the file alone).
- :func:`evaluate`: exact-match accuracy of greedy decoding per input length on held-out random
  sequences (:mod:`dlexam.sorting.data`); :func:`accuracy_summary` runs it at the trained lengths
  and at the longer ones, with the model's temperature and with T = 0.

The training loop knows only a model, a batch sampler and a loss.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from dlexam import checkpoint
from dlexam.attention import resolve_temperature
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
    steps: int = 6000
    batch_size: int = 128
    lr: float = 0.01  # peak AdamW learning rate (warm-up, then cosine decay to 2% of it)
    weight_decay: float = 0.0
    warmup: int = 100
    # Attention temperature while training, geometric from start (first step) to end (last step);
    # the model keeps `temperature_end` for decoding. None = 4 sqrt(d_head); "sqrt" = sqrt(d_head).
    temperature_start: float | str | None = None
    temperature_end: float | str = 0.1
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0 = none)
    seed: int = 0  # model initialisation
    data_seed: int = 1  # the data generator (separate, so data never depends on the model)
    checkpoint_every: int = 500


# The recipe before issue 14 (fixed T = sqrt(d_head)), for the ablation in docs/sorting.md.
OLD_RECIPE = {"steps": 3000, "batch_size": 256, "lr": 0.03, "temperature_start": "sqrt", "temperature_end": "sqrt"}


def _temperature_value(t: float | str, d_head: int) -> float:
    try:
        return resolve_temperature(t, d_head)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def attention_temperature(tc: TrainConfig, d_head: int, step: int) -> float:
    """The attention temperature at `step` (0 .. steps-1): geometric from start to end."""
    start = 4 * math.sqrt(d_head) if tc.temperature_start is None else _temperature_value(tc.temperature_start, d_head)
    end = _temperature_value(tc.temperature_end, d_head)
    if start <= 0 or end <= 0:
        raise UserError(f"training temperatures must be > 0 (softmax), got {start:g} and {end:g}")
    return start * (end / start) ** (step / max(1, tc.steps - 1))


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
        temperature=None if tc.temperature_end == "sqrt" else _temperature_value(tc.temperature_end, d // tc.n_heads),
        tie_embeddings=True,
        extra={"vocab": vocab.spec, "max_len": tc.max_len},
    )


def loss_on_batch(
    model: DecoderTransformer, seq, pad_mask, labels, *, temperature: float | None = None, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Cross-entropy over the output tokens only (labels -100 elsewhere), mean per token.

    `temperature` overrides the model's attention temperature for this batch (None: the model's).
    """
    logits = model(seq, pad_mask, temperature=temperature)  # (B, T, V)
    return F.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=label_smoothing
    )


def save_run(path: Path, model: DecoderTransformer, tc: TrainConfig, extra: dict) -> None:
    checkpoint.save(
        path,
        kind=KIND,
        config=model.cfg.to_dict(),
        state_dict=model.state_dict(),
        extra={"train_config": asdict(tc), **extra},
    )


def train(
    tc: TrainConfig,
    out: str | os.PathLike | None,
    *,
    progress: bool = True,
    force: bool = False,
    callback: Callable[[int, DecoderTransformer, float], None] | None = None,
) -> tuple[DecoderTransformer, dict]:
    """Train a sorter; write RUN/last.pt (atomically, every `checkpoint_every` steps and at the end).

    `callback(step, model, loss_ema)`, if given, runs after every optimizer step (for monitoring).
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
    d_head = model.cfg.d_head
    attention_temperature(tc, d_head, 0)  # a bad temperature fails here, not after the first step
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
        temp = attention_temperature(tc, d_head, step)
        tokens, lengths = sample_split(
            data_gen, tc.batch_size, vocab.n_symbols, 0, tc.max_len, heldout=False, kind="mixed"
        )
        batch = teacher_forcing_batch(tokens, lengths, vocab)
        loss = loss_on_batch(model, *batch, temperature=temp, label_smoothing=tc.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_ema = loss.item() if loss_ema is None else 0.95 * loss_ema + 0.05 * loss.item()
        if step % 10 == 0 or step + 1 == tc.steps:
            bar.set_postfix(loss=f"{loss_ema:.4f}", T=f"{temp:.3g}")
        if callback is not None:
            callback(step, model, loss_ema)
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


def accuracy_summary(
    model: DecoderTransformer, vocab: Vocabulary, max_len: int, *, per_length: int = 300, seed: int = 12345
) -> dict:
    """Exact match on held-out inputs of the trained lengths 1..max_len and of the longer, never
    trained lengths max_len+1..2 max_len, each with the model's temperature and with T = 0:
    {"trained": {"lengths", "softmax", "T0"}, "longer": {...}}."""
    out = {}
    for name, lengths in (("trained", range(1, max_len + 1)), ("longer", range(max_len + 1, 2 * max_len + 1))):
        inputs = heldout_inputs(vocab, list(lengths), per_length, seed)
        out[name] = {
            "lengths": f"{lengths[0]}-{lengths[-1]}",
            "softmax": evaluate(model, vocab, list(lengths), inputs=inputs)["overall"],
            "T0": evaluate(model, vocab, list(lengths), inputs=inputs, temperature=0.0)["overall"],
        }
    return out


__all__ = [
    "TrainConfig",
    "train",
    "evaluate",
    "accuracy_summary",
    "attention_temperature",
    "load_model",
    "training_record",
    "parse_lengths",
    "heldout_inputs",
    "targets",
]
