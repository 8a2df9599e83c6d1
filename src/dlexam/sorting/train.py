"""Training sorting transformers (Problem 2 done for real: Geoff's task, learned).

Problem 2.2-2.5 train with teacher forcing and cross-entropy on the output tokens; with argmax
attention no gradient reaches W_Q and W_K (Problem 2.5), so we train with softmax attention and
then measure what decoding with temperature 0 does (:mod:`dlexam.sorting.evaluate`).

The recipe (issue 14; docs/sorting.md has the ablation): the attention temperature is annealed
geometrically from hot, 4 sqrt(d_head), to cold, 0.1, over the run (:func:`attention_temperature`),
and the model keeps the cold one for decoding. Hot early, the scores are small in units of T, so
no softmax saturates while the score table is still wrong (a saturated wrong entry gets no
gradient and stays wrong). Cold late, a key that only splits the attention with the <START>
fallback no longer decodes right under softmax either, so training itself pulls the right key
clear of the fallback, which is what argmax decoding (T = 0) needs. Batches of 128 for 6,000
steps at a peak learning rate of 0.01 (the same compute as the earlier 256 x 3,000 at 0.03, twice
the updates, no loss spikes) give the cooling time to repair the table.

The final third (2026-12-07, `hard_fraction`) also trains T = 0 itself: its loss is the softmax's at the
step's temperature plus a straight-through one, argmax attention forward with the softmax's gradient
backward at a hot T = 20 (`hard_temperature`, `hard_loss` "sum"; :func:`dlexam.attention.attention`).
Cold softmax training left score-table entries wrong by tens of units, saturated at T = 0.1 and so
without gradient; the hot backward pass reaches them, and its forward pass is what argmax decoding
computes. The softmax's own loss beside it keeps the margins that decoding at T = 0.1 needs.

:func:`train` takes a :class:`TrainConfig` (checked up front, :meth:`TrainConfig.validate`) and
returns a :class:`TrainResult`: AdamW, cosine learning-rate decay, the temperature schedule, random
multisets sampled on the fly from a data generator seeded separately from the model's
initialisation. Progress goes to an optional callback (:mod:`dlexam.progress`), never to the
terminal. The run folder (``out``) is the core's run folder (:class:`dlexam.runs.RunFolder`: checked
and locked before any work, nothing foreign replaced, each checkpoint and its record written as one
commit, so a run killed at any instant can be resumed); RUN/last.pt is written every
``checkpoint_every`` steps and at the end, with the
:mod:`dlexam.checkpoint` format (kind ``sort-transformer``; the model's :class:`TransformerConfig`
with the vocabulary and the trained maximum length in ``extra``, so :func:`load_model` rebuilds the
model from the file alone) and ``extra["finished"]``: False in a periodic checkpoint, True at the end.

Exact resume: a periodic checkpoint also holds the optimizer state, the scheduler's step, the data
generator's and torch's RNG states and the running loss, so ``train(tc, out, resume=True)`` continues
from RUN/last.pt and ends with the same weights, bit for bit, as a run never interrupted. The loss is
checked at every step: a non-finite one stops training (:class:`NonFiniteLoss`) before it reaches
the weights, and RUN/last.pt keeps the last finite checkpoint.

The training loop knows only a model, a batch sampler and a loss.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from dlexam import checkpoint, limits, runs
from dlexam.errors import NonFiniteLoss, UserError
from dlexam.progress import Progress, ProgressFn, log, report
from dlexam.sorting.config import OLD_RECIPE, TrainConfig, attention_temperature, lr_factor, model_config
from dlexam.sorting.data import sample_split, teacher_forcing_batch
from dlexam.sorting.trained import KIND
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer

# What a run's note may hold that a resume keeps (the rest of a checkpoint's extra is the step's own): the command
# that started it, and how many held-out inputs of each length `dlexam sort train` reports on.
NOTE_KEYS = {"command": str, "report_per_length": int}

CHECKPOINT = runs.LAST


@dataclass
class TrainResult:
    """What :func:`train` did: the model and the figures of the run."""

    model: DecoderTransformer
    config: TrainConfig
    steps: int  # optimizer steps in all (== config.steps: the run finished)
    seconds: float  # training time in all, earlier sessions of a resumed run included
    final_loss: float  # the running (exponential moving average) training loss at the end
    parameters: int
    checkpoint: str | None  # RUN/last.pt, None when training wrote no file
    finished: bool = True  # what the final checkpoint's extra["finished"] says
    resumed_from: int = 0  # the step a resumed run continued from (0: a new run)
    note: dict = field(default_factory=dict)  # the note the run was started with (train's `note`, kept on resume)

    def summary(self) -> dict:
        """The figures as plain data (what `dlexam sort train --json` prints, before accuracy)."""
        return {
            "steps": self.steps,
            "train_seconds": round(self.seconds, 2),
            "final_loss": self.final_loss,
            "parameters": self.parameters,
            "model": self.model.cfg.to_dict(),
            "checkpoint": self.checkpoint,
            "finished": self.finished,
            "resumed_from": self.resumed_from,
        }


def loss_on_batch(
    model: DecoderTransformer, seq, pad_mask, labels, *, temperature: float | None = None, label_smoothing: float = 0.0,
    straight_through: bool = False,
) -> torch.Tensor:
    """Cross-entropy over the output tokens only (labels -100 elsewhere), mean per token.

    `temperature` overrides the model's attention temperature for this batch (None: the model's);
    `straight_through`: argmax attention forward, the softmax's gradient at `temperature` backward.
    """
    logits = model(seq, pad_mask, temperature=temperature, straight_through=straight_through)  # (B, T, V)
    return F.cross_entropy(
        logits.flatten(0, 1), labels.flatten(), ignore_index=-100, label_smoothing=label_smoothing
    )


def save_run(folder: runs.RunFolder, model: DecoderTransformer, tc: TrainConfig, extra: dict) -> None:
    """Write RUN/last.pt (and its record, as one commit) in the sort-transformer checkpoint format."""
    folder.save_checkpoint(CHECKPOINT, kind=KIND, config=model.cfg.to_dict(), state_dict=model.state_dict(),
                           extra={"train_config": asdict(tc), **extra})


# ---- the run folder -------------------------------------------------------------------------------
def _open_out(out, *, force: bool, resume: bool) -> runs.RunFolder:
    """Check the run folder before any work and lock it while training: a last.pt there is replaced
    only with `resume` or `force`, and one dlexam did not write only with `force`."""
    return runs.RunFolder(out, writes=(CHECKPOINT,), markers=(CHECKPOINT,), resume=resume, force=force,
                          kind=KIND)


def check_resumable(out) -> None:
    """Refuse, as the run folder refuses it, a --resume of `out` where it holds no last.pt of this trainer's: a
    run of another kind there is named (dlexam.runs.RunFolder), else the missing last.pt."""
    with _open_out(out, force=False, resume=True):
        pass  # the folder opened: a last.pt is there after all (a link, say, refused when it is read)


# ---- resume state ---------------------------------------------------------------------------------
@dataclass
class _State:
    """Where a run is: the step to do next, the running loss, and what to restore."""

    step: int = 0
    loss_ema: float | None = None
    seconds: float = 0.0
    saved: int = 0  # the step RUN/last.pt holds (0: none yet)
    payload: dict | None = None  # the checkpoint resumed from
    resume: dict = field(default_factory=dict)
    finished: bool = False  # resuming a finished run: nothing left to train, nothing written


def _damaged(path, why) -> UserError:
    return UserError(f"{path}: its resume state is damaged ({str(why)[:160]})")


def _resume_state(folder: runs.RunFolder, tc: TrainConfig) -> _State:
    """What RUN/last.pt says about the run, checked before use: a damaged state is one clear error."""
    path = folder.file(CHECKPOINT)
    payload = folder.load(CHECKPOINT, kind=KIND)
    extra = payload.get("extra")
    if not isinstance(extra, dict):
        raise _damaged(path, "no extra data")
    try:
        saved_tc = TrainConfig.from_dict(extra.get("train_config"))
    except (TypeError, UserError) as exc:
        raise _damaged(path, exc) from None
    steps = extra.get("step")
    runs.resume_config(asdict(saved_tc), asdict(tc), where=path)  # every setting must be the run's
    runs.resume_threads(payload, torch.get_num_threads(), where=path)  # and its thread count (a finished run's too)
    if extra.get("finished") or (extra.get("finished") is None and steps == saved_tc.steps):
        if payload.get("config") != model_config(tc).to_dict():
            raise _damaged(path, "the model config does not match train_config")
        loss = extra.get("loss")
        return _State(step=tc.steps, loss_ema=loss if isinstance(loss, float) else None, saved=tc.steps,
                      seconds=float(extra["train_seconds"]) if isinstance(extra.get("train_seconds"), float) else 0.0,
                      payload=payload, finished=True)
    state = extra.get("resume")
    if not isinstance(state, dict):
        raise UserError(f"resume: {path} holds no resume state (a checkpoint written before resume existed)")
    try:
        step = limits.whole("step", steps, 1, tc.steps - 1)
        loss_ema = limits.number("loss_ema", state.get("loss_ema"), 0, math.inf, hi_open=True)
        seconds = limits.number("train_seconds", extra.get("train_seconds", 0.0), 0, math.inf, hi_open=True)
        if payload.get("config") != model_config(tc).to_dict():
            raise UserError("the model config does not match train_config")
        for name in ("data_rng", "torch_rng"):
            if not isinstance(state.get(name), torch.Tensor) or state[name].dtype != torch.uint8:
                raise UserError(f"{name} is not an RNG state")
        sched = state.get("scheduler")
        if not isinstance(sched, dict) or sched.get("last_epoch") != step:
            raise UserError("the scheduler's step does not match the checkpoint's")
        if not isinstance(state.get("optimizer"), dict):
            raise UserError("no optimizer state")
    except UserError as exc:
        raise _damaged(path, exc) from None
    return _State(step=step, loss_ema=loss_ema, seconds=seconds, saved=step, payload=payload, resume=state)


def _check_optimizer_state(sd: dict, model: DecoderTransformer, tc: TrainConfig, step: int) -> None:
    """AdamW's state must fit the model and the schedule: a tampered one would train on silently."""
    params = list(model.parameters())
    groups, state = sd.get("param_groups"), sd.get("state")
    if not isinstance(groups, list) or len(groups) != 1 or not isinstance(state, dict):
        raise UserError("the optimizer state is not AdamW's for one parameter group")
    g = groups[0]
    want_lr = tc.lr * lr_factor(tc, step)
    if g.get("initial_lr") != tc.lr or not math.isclose(float(g.get("lr", -1)), want_lr, rel_tol=1e-9) \
            or g.get("weight_decay") != tc.weight_decay or g.get("params") != list(range(len(params))):
        raise UserError("the optimizer's settings do not match train_config")
    if set(state) != set(range(len(params))):
        raise UserError("the optimizer holds state for other parameters")
    for i, p in enumerate(params):
        s = state[i]
        for key in ("exp_avg", "exp_avg_sq"):
            t = s.get(key) if isinstance(s, dict) else None
            if not isinstance(t, torch.Tensor) or t.shape != p.shape or t.dtype != p.dtype \
                    or not torch.isfinite(t).all() or (key == "exp_avg_sq" and (t < 0).any()):
                raise UserError(f"parameter {i}'s {key} does not fit the model")
        if not isinstance(s.get("step"), torch.Tensor) or float(s["step"]) != step:
            raise UserError(f"parameter {i}'s step count is not {step}")


def _restore(state: _State, path: Path, model, opt, sched, data_gen, tc: TrainConfig) -> None:
    checkpoint.load_weights(model, state.payload, path)
    try:
        _check_optimizer_state(state.resume["optimizer"], model, tc, state.step)
        opt.load_state_dict(state.resume["optimizer"])
        sched.load_state_dict(state.resume["scheduler"])
        data_gen.set_state(state.resume["data_rng"])
        torch.set_rng_state(state.resume["torch_rng"])
    except (KeyError, TypeError, ValueError, RuntimeError, UserError) as exc:
        raise _damaged(path, exc) from None


# ---- training ---------------------------------------------------------------------------------------
def train(
    tc: TrainConfig,
    out: str | os.PathLike | None = None,
    *,
    progress: ProgressFn | None = None,
    force: bool = False,
    resume: bool = False,
    callback: Callable[[int, DecoderTransformer, float], None] | None = None,
    note: dict | None = None,
) -> TrainResult:
    """Train a sorter; with `out`, write RUN/last.pt (atomically, every `checkpoint_every` steps and at the end).

    Everything is checked before any work: the config (:meth:`TrainConfig.validate`), the run folder
    (it must be writable; it is locked while training; a last.pt already there is replaced only if
    `force`, and never one dlexam did not write unless `force`), and with `resume` the state in
    RUN/last.pt, whose config must equal `tc`. `callback(step, model, loss_ema)`, if given, runs
    after every optimizer step (for monitoring; an exception it raises stops training).
    Raises :class:`NonFiniteLoss` when the loss stops being finite (RUN/last.pt keeps the last
    finite checkpoint). `note` (plain data, e.g. {"command": ...}) goes into every checkpoint's extra.
    """
    tc.validate()
    if resume and out is None:
        raise UserError("resume needs out, the run folder holding last.pt")
    folder = _open_out(out, force=force, resume=resume) if out is not None else None
    try:
        return _train(tc, folder, progress, resume, callback, note or {})
    finally:
        if folder is not None:
            folder.close()


def _train(tc: TrainConfig, folder: runs.RunFolder | None, progress: ProgressFn | None, resume: bool,
           callback, note: dict) -> TrainResult:
    path = folder.file(CHECKPOINT) if folder is not None else None
    state = _resume_state(folder, tc) if resume else _State()
    vocab = Vocabulary.from_spec(tc.vocab)
    torch.manual_seed(tc.seed)
    model = DecoderTransformer(model_config(tc))
    d_head = model.cfg.d_head
    attention_temperature(tc, d_head, 0)  # a bad temperature fails here, not after the first step
    data_gen = torch.Generator().manual_seed(tc.data_seed)
    if resume:  # what started the run goes on being recorded
        saved = state.payload["extra"]
        note = {**{k: saved[k] for k, kind in NOTE_KEYS.items() if type(saved.get(k)) is kind}, **note}
    if state.finished:  # like `svhn train --resume` of a finished run: a note, the run's files untouched
        checkpoint.load_weights(model, state.payload, path)
        log(progress, "sort train", f"{path}: all {tc.steps} steps are already done; nothing to resume")
        return TrainResult(model=model, config=tc, steps=tc.steps, seconds=state.seconds, final_loss=state.loss_ema,
                           parameters=sum(p.numel() for p in model.parameters()), checkpoint=str(path),
                           finished=True, resumed_from=tc.steps, note=note)
    # made only where it trains: making a torch optimizer imports torch._dynamo (about 1.1 s on a quiet machine)
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(tc, step))
    if resume:
        _restore(state, path, model, opt, sched, data_gen, tc)
        log(progress, "sort train", f"resuming {path} at step {state.step} of {tc.steps}")

    def save(step: int, finished: bool) -> None:
        extra = {**note, "step": step, "loss": state.loss_ema,
                 "train_seconds": state.seconds + time.perf_counter() - t0, "finished": finished}
        if not finished:
            extra["resume"] = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                               "data_rng": data_gen.get_state(), "torch_rng": torch.get_rng_state(),
                               "loss_ema": state.loss_ema}
        save_run(folder, model, tc, extra)
        state.saved = step

    task = f"sort train {vocab.spec} L<={tc.max_len}"
    t0 = time.perf_counter()
    model.train()
    for step in range(state.step, tc.steps):
        temp = attention_temperature(tc, d_head, step)
        tokens, lengths = sample_split(
            data_gen, tc.batch_size, vocab.n_symbols, 0, tc.max_len, heldout=False, kind="mixed"
        )
        batch = teacher_forcing_batch(tokens, lengths, vocab)
        hard = step >= tc.steps - tc.hard_steps()  # the final, straight-through phase
        loss = loss_on_batch(model, *batch, temperature=tc.hard_temperature if hard else temp,
                             label_smoothing=tc.label_smoothing, straight_through=hard)
        if hard and tc.hard_loss == "sum":
            loss = loss + loss_on_batch(model, *batch, temperature=temp, label_smoothing=tc.label_smoothing)
        value = loss.item()
        if not math.isfinite(value):  # stop before a NaN reaches the weights (and any checkpoint)
            kept = (f"{path} keeps step {state.saved}, the last finite one" if state.saved
                    else "no checkpoint was saved" if path is not None else "")
            note = f"(is the learning rate, {tc.lr:g}, too high?)" + (f"; {kept}" if kept else "")
            raise NonFiniteLoss(f"step {step + 1}", value, note)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        state.loss_ema = value if state.loss_ema is None else 0.95 * state.loss_ema + 0.05 * value
        if step % 10 == 0 or step + 1 == tc.steps:
            report(progress, Progress(task, step + 1, tc.steps, "step", {"loss": state.loss_ema, "T": temp}))
        if callback is not None:
            callback(step, model, state.loss_ema)
        if path is not None and tc.checkpoint_every and (step + 1) % tc.checkpoint_every == 0 and step + 1 < tc.steps:
            save(step + 1, finished=False)
    report(progress, Progress(task, tc.steps, tc.steps, "step", finished=True))
    seconds = state.seconds + time.perf_counter() - t0
    if path is not None:
        save(tc.steps, finished=True)
    return TrainResult(
        model=model,
        config=tc,
        steps=tc.steps,
        seconds=seconds,
        final_loss=state.loss_ema,
        parameters=sum(p.numel() for p in model.parameters()),
        checkpoint=str(path) if path is not None else None,
        finished=True,
        resumed_from=state.step if resume else 0,
        note=note,
    )


__all__ = [  # the recipe's names (dlexam.sorting.config) too, so one import serves
    "OLD_RECIPE",
    "TrainConfig",
    "TrainResult",
    "train",
    "attention_temperature",
    "lr_factor",
    "model_config",
    "loss_on_batch",
]
