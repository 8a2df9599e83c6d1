"""Reading a trained sorter back: the model, its vocabulary, and what the file says about its training.

A sorter checkpoint (kind ``sort-transformer``, written by :func:`dlexam.sorting.train.train`) holds
the model's :class:`TransformerConfig` with the vocabulary and the trained maximum length in its
``extra``, so :func:`load_trained` rebuilds the model from the file alone. Its own ``extra`` says
how far training went: ``step``, ``train_config`` and ``finished`` (False in a periodic checkpoint
of a run that has not ended; checkpoints from before the flag count as finished when their step
is the run's last).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dlexam import checkpoint, limits
from dlexam.errors import UserError
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import MAX_POSITIONS, DecoderTransformer, TransformerConfig

KIND = "sort-transformer"


@dataclass
class TrainedSorter:
    """A sorter checkpoint: the model (eval mode) and what the file says about its training."""

    model: DecoderTransformer
    vocab: Vocabulary
    max_len: int | None  # the longest input length trained on
    finished: bool  # False: a periodic checkpoint of a run that has not ended (resume it)
    step: int | None  # optimizer steps done
    steps: int | None  # steps the run was set to take
    record: dict  # training_record(): provenance, command, train_config, step, train_seconds, finished


def _record(payload: dict) -> dict:
    extra = payload.get("extra") if isinstance(payload.get("extra"), dict) else {}
    tc = extra.get("train_config") if isinstance(extra.get("train_config"), dict) else None
    step, steps = extra.get("step"), (tc or {}).get("steps")
    seconds = extra.get("train_seconds")
    # what the file says is shown to people: a value of the wrong type is shown as unknown, never used
    step = step if isinstance(step, int) and not isinstance(step, bool) else None
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    seconds = seconds if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None
    finished = extra.get("finished")
    if not isinstance(finished, bool):  # checkpoints from before the flag: the final one has step == steps
        finished = not (isinstance(step, int) and isinstance(steps, int) and step < steps)
    command = extra.get("command")
    return {
        "provenance": payload.get("provenance"),
        "command": command if isinstance(command, str) else None,
        "train_config": tc,
        "step": step,
        "steps": steps,
        "train_seconds": seconds,
        "finished": finished,
    }


def load_trained(path: str | os.PathLike) -> TrainedSorter:
    """A trained sorter from a checkpoint file or run directory, with its training record."""
    payload = checkpoint.load(path, kind=KIND)
    try:
        cfg = TransformerConfig.from_dict(payload["config"])
        if not isinstance(cfg.extra.get("vocab"), str):
            raise TypeError(f"its vocabulary is {cfg.extra.get('vocab')!r}, not a spec like A-D")
        vocab = Vocabulary.from_spec(cfg.extra["vocab"])
        limits.whole("max_len", cfg.extra.get("max_len"), 1, MAX_POSITIONS, optional=True)
    except (TypeError, KeyError, ValueError, UserError) as exc:
        raise UserError(f"{path}: checkpoint config is not a sort-transformer config ({exc})") from None
    if vocab.size != cfg.vocab_size:
        raise UserError(f"{path}: vocabulary {vocab.spec} does not match the model's {cfg.vocab_size} tokens")
    # the weights compared with the config's network built on the meta device first: a config edited to a far
    # wider network (d_model 2000: a 420 MB peak, under the weight cap) is refused before its memory is asked for
    checkpoint.check_fits(lambda: DecoderTransformer(cfg), payload, path)
    model = DecoderTransformer(cfg)
    checkpoint.load_weights(model, payload, path)
    model.requires_grad_(False)
    rec = _record(payload)
    return TrainedSorter(model.eval(), vocab, cfg.extra.get("max_len"), rec["finished"], rec["step"], rec["steps"],
                         rec)


def load_model(path: str | os.PathLike) -> tuple[DecoderTransformer, Vocabulary, int | None]:
    """A trained sorter from a checkpoint file or run directory: (model in eval mode, vocabulary, max_len).
    :func:`load_trained` also says whether its training finished."""
    t = load_trained(path)
    return t.model, t.vocab, t.max_len


def training_record(path: str | os.PathLike) -> dict:
    """What a sorter checkpoint says about its training: {"provenance" (None in checkpoints that
    predate it), "command" (the `sort train` command that made it; None before it was recorded),
    "train_config", "step", "steps", "train_seconds", "finished"}."""
    return _record(checkpoint.load(path, kind=KIND))
