"""The sorter's training recipe as data: :class:`TrainConfig` (checked by :meth:`TrainConfig.validate`),
the model it builds (:func:`model_config`), and the schedules (:func:`attention_temperature`,
:func:`lr_factor`). The loop that uses them is :mod:`dlexam.sorting.train` (its docstring explains
the recipe).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from dlexam import bounds, limits
from dlexam.attention import resolve_temperature
from dlexam.errors import SettingsTogether, UserError
from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary
from dlexam.transformer import TransformerConfig

# A config saved before the straight-through phase existed (2026-12-07) trained without one.
BEFORE_HARD_PHASE = {"hard_fraction": 0.0}
# What one attention score costs a training step (scores, weights, the mask and their gradients; measured
# 2026-12-07 from the peak memory at batch 1,024 against 4,096).
BYTES_PER_STEP_SCORE = 30


def memory_bytes() -> int:
    """This machine's physical memory (8 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 8 << 30


@dataclass
class TrainConfig:
    vocab: str = EXAM_VOCAB  # vocabulary spec (see dlexam.sorting.vocab)
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
    # The final phase (issue 14's follow-up, 2026-12-07): the last `hard_fraction` of the steps train what T = 0
    # decoding computes, argmax attention forward with the softmax's gradient backward at `hard_temperature`
    # (straight-through; hot, so a wrong key far below the right one still gets a gradient). hard_loss
    # "straight-through": that loss alone; "sum": the softmax's loss at the step's temperature plus it.
    hard_fraction: float = 1 / 3
    hard_loss: str = "sum"
    hard_temperature: float = 20.0
    seed: int = 0  # model initialisation
    data_seed: int = 1  # the data generator (separate, so data never depends on the model)
    checkpoint_every: int = 500  # steps between periodic checkpoints (0 = only the final one)

    def validate(self) -> TrainConfig:
        """Check every field before any work (a config may come from a flag or a checkpoint file);
        UserError naming the field otherwise. Returns self."""
        if not isinstance(self.vocab, str):
            raise UserError(f"vocab must be a vocabulary spec like A-D, got {self.vocab!r}")
        vocab = Vocabulary.from_spec(self.vocab)
        bounds.TRAIN_LEN.check("max_len", self.max_len)
        bounds.WIDTH.check("d_model", self.d_model, optional=True)
        bounds.HEADS.check("n_heads", self.n_heads)
        bounds.LAYERS.check("n_layers", self.n_layers)
        bounds.FEED_FORWARD.check("d_ff", self.d_ff)
        for name in ("residual", "layernorm"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name} must be true or false, got {getattr(self, name)!r}")
        limits.choice("positional", self.positional, ("none", "sinusoidal", "learned"))
        bounds.STEPS.check("steps", self.steps)
        bounds.BATCH.check("batch_size", self.batch_size)
        bounds.SORT_LR.check("lr", self.lr)
        bounds.WEIGHT_DECAY.check("weight_decay", self.weight_decay)
        bounds.WARMUP.check("warmup", self.warmup)
        bounds.LABEL_SMOOTHING.check("label_smoothing", self.label_smoothing)
        bounds.HARD_FRACTION.check("hard_fraction", self.hard_fraction)
        limits.choice("hard_loss", self.hard_loss, ("straight-through", "sum"))
        bounds.TRAIN_TEMPERATURE.check("hard_temperature", self.hard_temperature)
        bounds.SORT_SEED.check("seed", self.seed)
        bounds.SORT_SEED.check("data_seed", self.data_seed)
        bounds.CHECKPOINT_EVERY.check("checkpoint_every", self.checkpoint_every)
        bounds.SCHEDULE_TEMPERATURES.check("temperature_start", self.temperature_start, optional=True)
        bounds.SCHEDULE_TEMPERATURES.check("temperature_end", self.temperature_end)
        d = self.d_model or vocab.size
        if self.n_heads > d:  # each head needs one dimension at least (d_head = d_model // n_heads)
            width = f"{{d_model}} {d}" + ("" if self.d_model is not None else f" (vocabulary {vocab.spec}'s size)")
            raise SettingsTogether(f"{{n_heads}} {self.n_heads} is more than {width}: each head needs a dimension of "
                                   "its own", {"n_heads": self.n_heads, "d_model": self.d_model})
        if self.d_model is not None and d % self.n_heads:
            raise SettingsTogether(f"{{d_model}} {d} is not divisible by {{n_heads}} {self.n_heads}",
                                   {"d_model": self.d_model, "n_heads": self.n_heads})
        model_config(self)  # the model's own checks (its size, above all)
        positions = self.max_len + min(self.max_len, vocab.n_symbols) + 2  # the longest x <START> y <STOP>
        scores = self.batch_size * self.n_heads * self.n_layers * positions**2
        if scores * BYTES_PER_STEP_SCORE > memory_bytes():
            heads, layers = (f"{n} {word}{'s' * (n != 1)}" for n, word in ((self.n_heads, "head"),
                                                                           (self.n_layers, "layer")))
            raise SettingsTogether(
                f"{{batch_size}} {self.batch_size} and {{max_len}} {self.max_len} are too much together: a training "
                f"step would hold {scores:,} attention scores (batch x {heads} x {layers} x {positions}^2 "
                f"positions, x <START> y <STOP>), about {scores * BYTES_PER_STEP_SCORE / 1e9:,.0f} GB, more than "
                f"this machine's {memory_bytes() / 1e9:,.0f} GB of memory: lower one of them",
                {"batch_size": self.batch_size, "max_len": self.max_len})
        return self

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A config from a checkpoint's ``train_config``, checked; UserError when it is not one."""
        if not isinstance(d, dict):
            raise UserError(f"train_config is not a sorter TrainConfig ({d!r})")
        try:
            limits.known_keys(d, [f.name for f in fields(cls)])
        except UserError as exc:
            raise UserError(f"train_config is not a sorter TrainConfig ({exc})") from None
        return cls(**{**BEFORE_HARD_PHASE, **d}).validate()

    def hard_steps(self) -> int:
        """How many of the last steps are the straight-through phase."""
        return round(self.steps * self.hard_fraction)



# The recipe before issue 14 (fixed T = sqrt(d_head)), for the ablation in docs/sorting.md.
OLD_RECIPE = {"steps": 3000, "batch_size": 256, "lr": 0.03, "temperature_start": "sqrt", "temperature_end": "sqrt",
              **BEFORE_HARD_PHASE}


def attention_temperature(tc: TrainConfig, d_head: int, step: int) -> float:
    """The attention temperature at `step` (0 .. steps-1): geometric from start to end."""
    start = 4 * math.sqrt(d_head) if tc.temperature_start is None else resolve_temperature(tc.temperature_start, d_head)
    end = resolve_temperature(tc.temperature_end, d_head)
    if start <= 0 or end <= 0:
        raise UserError(f"training temperatures must be > 0 (softmax), got {start:g} and {end:g}")
    return start * (end / start) ** (step / max(1, tc.steps - 1))


def lr_factor(tc: TrainConfig, step: int) -> float:
    """The learning rate at `step` as a share of tc.lr: linear warm-up, then cosine decay to 2%."""
    if step < tc.warmup:
        return (step + 1) / tc.warmup
    frac = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))


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
        temperature=None if tc.temperature_end == "sqrt" else resolve_temperature(tc.temperature_end, d // tc.n_heads),
        tie_embeddings=True,
        extra={"vocab": vocab.spec, "max_len": tc.max_len},
    )
