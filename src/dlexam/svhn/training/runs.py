"""Run directories for `dlexam svhn train`: checkpoints, metrics, curves, resume.

A run directory holds

    last.pt        the checkpoint after the latest completed epoch (model, optimizer, epoch, RNG)
    best.pt        the checkpoint with the best validation accuracy so far (what a run dir stands for)
    metrics.csv    one row per epoch; metrics.json the same plus the run's settings
    curves.png     learning curves

The folder is the core's run folder (:class:`dlexam.runs.RunFolder`: checked and locked before any
work, nothing foreign replaced, every file and its record written as one commit), and only rank 0
of a distributed run writes. Each epoch writes last.pt first, its commit point, then best.pt (if
the epoch improved) and the metrics, which follow from last.pt: a resumed run writes them again
from it (:func:`_complete_epoch`). So a run killed at any instant resumes (``SVHNRun(resume=True)``)
from its last completed epoch and ends with the same files, bit for bit, as a run never stopped.
A resumed run keeps its own settings (:mod:`dlexam.svhn.training.resume` reads them back from last.pt): one
given that differs is refused by name (:func:`dlexam.runs.resume_config`), and goes on at the thread count it was
trained at, its last.pt's provenance (:func:`dlexam.runs.run_threads`), whether or not ``threads`` was given; only
``epochs`` (a longer or shorter schedule) and ``data`` (where the same data now live) may change. A finished run
resumed trains nothing and rewrites nothing (:func:`_already_complete`).

Under torchrun the ranks join their process group before any work, make the run ready each on its own, and
agree (:func:`dlexam.svhn.training.distributed.agree`): a refusal on any rank is every rank's at once, said by
rank 0 (by rank 1 where rank 0 shows a defect's traceback). They wait for each other in Python, so a Ctrl-C on a
waiting rank stops it at once.

A run with ``init`` fine-tunes: its weights start from the shipped model or a checkpoint
(:mod:`dlexam.svhn.training.finetune`) instead of a seeded initialisation, with fine-tuning's own
defaults; the run records where it started (``init``, refused by name on resume like any setting).

:func:`train_run` takes an :class:`SVHNRun` (its settings and their checks: :mod:`dlexam.svhn.training.settings`)
and returns a :class:`RunResult`; progress (epoch lines,
the batch bar) goes to an optional callback (:mod:`dlexam.progress`), never to the terminal.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from dlexam import checkpoint, runs
from dlexam.cpu import torchrun_world
from dlexam.errors import NonFiniteLoss, UserError
from dlexam.progress import ProgressFn, log
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.svhn.training import finetune
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.distributed import (
    agree,
    leave_group,
    lost_how,
    peer_lost,
    same_on_every_rank,
    setup_distributed,
)
from dlexam.svhn.training.loop import NUM_CLASSES, evaluate, fit, load_data
from dlexam.svhn.training.resume import resume_state
from dlexam.svhn.training.settings import SVHNRun, new_settings
from dlexam.svhn.training.step import make_optimizer

RUN_MARKERS = runs.TRAINER_MARKERS


@dataclass
class RunResult:
    """What a training run did: every epoch's figures and where the run lives."""

    out: str
    epochs: int
    world_size: int
    history: list[dict]
    best_val_accuracy: float | None  # None: no image was held out for validation (best.pt is the last epoch)
    final: dict
    model: dict
    train: dict
    init: dict | None = None  # a fine-tuning run's start: {"name", "sha256", "val_accuracy" before training, "from":
    #                           its own training record, inference.parent_record; None in runs from before 2026-12-07}
    already_complete: bool = False  # resumed when every epoch was done: nothing trained, nothing rewritten
    completed: list[str] = field(default_factory=list)  # what such a resume wrote: what a kill had left undone

    def to_json(self) -> dict:
        return asdict(self)


def _open_out(run: SVHNRun) -> runs.RunFolder | None:
    """Check the run directory before any work and lock it while training (rank 0 only writes)."""
    rank, _ = torchrun_world()  # a distributed environment torchrun would not make is refused here, before any work
    if rank != 0:
        return None
    return runs.RunFolder(run.out, writes=runs.TRAINER_FILES, markers=RUN_MARKERS, resume=run.resume,
                          forceable=False, kind=KIND)  # `svhn train` has no --force


def _validated(history: list[dict]) -> bool:
    """Whether the run's epochs were measured on validation images (none are held out with val_fraction 0, or
    where the share of a few images rounds to none): without them best.pt follows the last epoch."""
    return any("val_accuracy" in r for r in history)


def _engine(device: torch.device, model: ExamCNN) -> str:
    """Which implementation trains: the fused CPU kernels (dlexam.svhn.kernels.fused) or PyTorch's layers, and why."""
    if device.type != "cpu":
        return f"eager (PyTorch layers on {device.type})"
    return model.engine


@dataclass
class _Prepared:
    """A run made ready on one rank before training: its settings, where it starts, and its data (none for a
    finished run resumed: nothing is left to train)."""

    cfg: TrainConfig
    settings: dict
    model_cfg: CNNConfig
    start_epoch: int
    history: list
    payload: dict | None  # last.pt's, when resuming
    init_model: ExamCNN | None = None  # fine-tuning's start
    init: finetune.Init | None = None
    data: dict | None = None

    @property
    def finished(self) -> bool:
        return self.payload is not None and self.start_epoch >= self.cfg.epochs


def train_run(run: SVHNRun, progress: ProgressFn | None = None) -> RunResult:
    """Train (or resume) the run directory `run.out`; returns every epoch's figures.

    The directory is checked and locked before any work, and stays locked until training ends. Under torchrun
    the ranks join their process group first, then make the run ready each on its own (rank 0's run folder, the
    resume state, the data) and agree: a refusal on any rank is every rank's at once (:func:`agree`), never one
    rank gone while the others wait for it. A finished run resumed writes nothing (:func:`_already_complete`).
    An unexpected error on one rank (a defect) reaches the others the same way: that rank raises it, with its
    traceback, and the others refuse in one line naming it.
    """
    d = setup_distributed()
    folder, ready, refused = None, None, None
    try:
        try:
            folder = _open_out(run)
            ready = _prepare(run, folder, d)
        except Exception as exc:  # under DDP every rank hears of it first (agree); then it is raised
            if d.world <= 1:
                raise
            refused = exc
        agree(d, refused, None if ready is None else ready.finished)
        if ready.finished:
            return _already_complete(run, folder, ready, d)
        return _train(run, folder, ready, d, progress)
    finally:
        if folder is not None:
            folder.close()


def _prepare(run: SVHNRun, folder: runs.RunFolder | None, d) -> _Prepared:
    """This rank's part of making the run ready: the settings (a new run's, or last.pt's checked against those
    given), fine-tuning's start, and the data (read and checked against the run's digest); no data for a finished
    run resumed."""
    out = run.out
    if run.resume:
        ready = _Prepared(*resume_state(run, folder, d))
        if ready.finished:
            return ready
    else:
        cfg, settings = new_settings(run)
        ready = _Prepared(cfg, settings, CNNConfig.from_dict(settings["model"]), 0, [], None)
        if run.init is not None:  # checked before the data are read: a bad --init is one line at once
            ready.init_model, ready.init = finetune.load_init(run.init)
            settings["init_sha256"] = ready.init.sha256
            settings["init_from"] = ready.init.record  # the start's own provenance, command and seed
    settings = ready.settings
    if run.resume and run.data is None and not Path(settings["data"]).exists():
        raise UserError(f"resume: {out / runs.LAST} was trained on {settings['data']}, which is gone; give --data "
                        "with the folder where the run's data now are")
    ready.data = load_data(settings["data"], val_fraction=settings["val_fraction"],
                           split_seed=settings["split_seed"], quick=settings["quick"])
    if run.resume and settings.get("data_sha256") not in (None, ready.data["sha256"]):
        raise UserError(f"resume: {settings['data']} holds other digits than {out / runs.LAST} was trained on "
                        "(another SHA-256 of its images and labels); --data on resume says where the run's "
                        "own data now are")
    settings["data_sha256"] = ready.data["sha256"]
    return ready


def _already_complete(run: SVHNRun, folder: runs.RunFolder | None, ready: _Prepared, d) -> RunResult:
    """A finished run resumed: nothing is trained and nothing rewritten. Only what follows from last.pt and is
    missing or other than it (a run killed right after its last epoch's last.pt) is written, from last.pt's own
    settings, so the files end as the run's last epoch left them."""
    payload, history, written = ready.payload, ready.history, []
    if folder is not None:
        def held() -> dict:  # each file: there and dlexam's, and the contents recorded for it
            return {name: (folder.owns(name), folder.recorded_sums(name)) for name in runs.TRAINER_FILES}

        before = held()
        _complete_epoch(folder, payload, history, payload["extra"]["settings"], keep_same=True)
        if history:
            from dlexam.svhn.plots import learning_curves_figure

            folder.write_figure(runs.CURVES, learning_curves_figure(
                history, payload["extra"]["settings"].get("init_val_accuracy")), keep_same=True)
        after = held()
        written = [name for name in runs.TRAINER_FILES if after[name] != before[name]]
    leave_group(d)
    scores = [r["val_accuracy"] for r in history if "val_accuracy" in r]
    settings = payload["extra"]["settings"]
    return RunResult(out=str(run.out), epochs=ready.cfg.epochs, world_size=d.world, history=history,
                     best_val_accuracy=max(scores) if _validated(history) else None,
                     final=history[-1] if history else {}, model=ready.model_cfg.to_dict(),
                     train=ready.cfg.to_dict(), init=_init_record(settings), already_complete=True,
                     completed=written)


def _init_record(settings: dict) -> dict | None:
    return None if settings.get("init") is None else {
        "name": settings["init"], "sha256": settings.get("init_sha256"), "val_accuracy": settings.get(
            "init_val_accuracy"), "from": settings.get("init_from")}


def _complete_epoch(folder: runs.RunFolder, payload: dict, history: list[dict], settings: dict, *,
                    keep_same: bool = False) -> None:
    """Write again what follows from last.pt, which a kill right after it may have left undone: the
    metrics, and best.pt where last.pt's epoch is the best (the only epoch best.pt can lag behind). With
    `keep_same`, metrics that already say what would be written are left as they are."""
    if not history:
        return
    scores = [r.get("val_accuracy", 0.0) for r in history]
    # the first epoch with the best score, as training saves it; without validation images, the last epoch
    best_epoch = scores.index(max(scores)) + 1 if _validated(history) else len(history)
    if best_epoch == len(history):
        best = folder.file(runs.BEST)
        held = folder.load(runs.BEST, kind=KIND)["extra"].get("epoch") if best.exists() else None
        if held != best_epoch:
            folder.save_checkpoint(runs.BEST, kind=KIND, config=payload["config"], state_dict=payload["state_dict"],
                                   extra=payload["extra"])
    folder.write_metrics(history, settings, keep_same=keep_same)


def _train(run: SVHNRun, folder: runs.RunFolder | None, ready: _Prepared, d, progress: ProgressFn | None) \
        -> RunResult:
    out = run.out
    cfg, settings, model_cfg, start_epoch = ready.cfg, ready.settings, ready.model_cfg, ready.start_epoch
    history, payload, init, data = ready.history, ready.payload, ready.init, ready.data
    same_on_every_rank(d, settings, start_epoch)
    torch.manual_seed(cfg.seed)
    model = ready.init_model if init is not None else ExamCNN(model_cfg)
    settings["engine"] = _engine(d.device, model)
    if init is not None and len(data["val_x"]):  # what fine-tuning starts from, on the run's own validation images
        settings["init_val_accuracy"] = evaluate(model.to(d.device), data["val_x"], data["val_y"], dist=d)["accuracy"]
        model.train()
    say = progress if d.is_main else None  # only rank 0 reports
    if init is not None:
        before = settings.get("init_val_accuracy")
        log(say, "svhn train", f"fine-tuning {'the shipped model' if init.name == finetune.SHIPPED else init.path}"
            + (f" (val accuracy before: {before:.4f})" if before is not None else ""))
    if payload is not None and (was := payload["extra"]["settings"]["train"]["epochs"]) != cfg.epochs:
        log(say, "svhn train", f"note: the total of epochs changes from {was} to {cfg.epochs} after epoch "
            f"{start_epoch}: the learning rate's cosine now runs over {cfg.epochs} epochs from there (metrics.json "
            "records it: settings.schedule_changes)")
    log(say, "svhn train", f"training on {len(data['train_x'])} images ({len(data['val_x'])} for validation),"
                           f" batch {cfg.batch_size}, {settings['engine']}")
    if not len(data["val_x"]):
        log(say, "svhn train", f"note: no image is held out for validation (val_fraction {settings['val_fraction']:g} "
            f"of {len(data['train_x']):,} images is none); best.pt is the last epoch's weights")
    missing = sorted(set(range(NUM_CLASSES)) - set(data["train_y"].unique().tolist()))
    if missing:  # an image folder of a few digits: validation then measures those digits only
        held = sorted(set(range(NUM_CLASSES)) - set(missing))
        log(say, "svhn train", f"note: the training images hold no {', '.join(map(str, missing))} "
            f"(they hold {len(held)} of the {NUM_CLASSES} digits: {', '.join(map(str, held))}); the validation "
            "accuracy measures only "
            "the digits present, and the network " + ("may forget the others" if init is not None
                                                       else "learns nothing of the others"))
    optimizer = make_optimizer(model, cfg)
    if payload is not None:
        checkpoint.load_weights(model, payload, out / runs.LAST)
        try:
            optimizer.load_state_dict(payload["extra"]["optimizer"])
            torch.set_rng_state(payload["extra"]["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"{out / runs.LAST}: its resume state is damaged ({str(exc)[:120]})") from None
        if folder is not None:
            _complete_epoch(folder, payload, history, settings)
    # the best validation accuracy so far (a missing one counts 0, as when it is saved below)
    best = max((r.get("val_accuracy") or 0.0 for r in history), default=-1.0)
    saved = len(history)  # epochs in last.pt

    def on_epoch_end(epoch, model, optimizer, history):
        nonlocal best, saved
        row = history[-1]
        if folder is None:
            return
        val = (f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.4f}" if "val_accuracy" in row
               else "no validation images")
        log(say, "svhn train",
            f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f}"
            f" acc {row['train_accuracy']:.4f} | {val} | {row['images_per_s']:.0f} images/s")
        extra = {"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history, "settings": settings,
                 "rng": torch.get_rng_state()}
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        config = model_cfg.to_dict()
        # last.pt first: the epoch's commit point; what follows is written again from it on resume
        folder.save_checkpoint(runs.LAST, kind=KIND, config=config, state_dict=state, extra=extra)
        saved = len(history)
        if "val_accuracy" not in row or row["val_accuracy"] > best:  # no validation images: the last epoch
            best = row.get("val_accuracy", 0.0)
            folder.save_checkpoint(runs.BEST, kind=KIND, config=config, state_dict=state, extra=extra)
        folder.write_metrics(history, settings)

    try:
        result = fit(model, data["train_x"], data["train_y"], data["val_x"], data["val_y"], cfg=cfg,
                     start_epoch=start_epoch, optimizer=optimizer, history=history, on_epoch_end=on_epoch_end,
                     progress=say, dist=d)
    except NonFiniteLoss as exc:
        kept = f"{out / runs.LAST} keeps epoch {saved}, the last finite one" if saved else "no epoch was saved"
        raise UserError(f"{exc} (is the learning rate, {cfg.lr:g}, too high?); {kept}") from None
    except RuntimeError as exc:  # under DDP: another rank died (killed, out of memory) or its machine went away
        if not peer_lost(exc, d):
            raise
        if folder is None:
            kept = "rank 0's run folder keeps its last whole epoch (if one ended): --resume goes on from it"
        elif saved:
            kept = f"{out / runs.LAST} keeps epoch {saved}: run the same torchrun command with --resume to go on"
        else:
            kept = "no epoch was saved: run the command again"
        raise UserError(f"distributed training stopped: another process of the run is gone ({lost_how(exc)}); "
                        f"{kept}") from None
    if folder is not None and result["history"]:
        from dlexam.svhn.plots import learning_curves_figure

        folder.write_figure(runs.CURVES, learning_curves_figure(result["history"], settings.get("init_val_accuracy")))
    leave_group(d)
    return RunResult(out=str(out), epochs=cfg.epochs, world_size=d.world, history=result["history"],
                     best_val_accuracy=best if _validated(result["history"]) else None,
                     final=result["history"][-1] if result["history"] else {},
                     model=model_cfg.to_dict(), train=cfg.to_dict(), init=_init_record(settings))
