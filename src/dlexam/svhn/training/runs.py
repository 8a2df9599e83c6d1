"""Run directories for `dlexam svhn train`: checkpoints, metrics, curves, resume.

A run directory holds

    last.pt        the checkpoint after the latest completed epoch (model, optimizer, epoch, RNG)
    best.pt        the checkpoint with the best validation accuracy so far (what a run dir stands for)
    metrics.csv    one row per epoch; metrics.json the same plus the run's settings
    curves.png     learning curves

Every file is written atomically, and only by rank 0 in a distributed run. A run killed mid-epoch
resumes (``SVHNRun(resume=True)``) from last.pt, i.e. from its last completed epoch.

:func:`train_run` takes an :class:`SVHNRun` and returns a :class:`RunResult`; progress (epoch lines,
the batch bar) goes to an optional callback (:mod:`dlexam.progress`), never to the terminal.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from dlexam import checkpoint, limits
from dlexam.errors import NonFiniteLoss, UserError
from dlexam.files import OutputDir, atomic_write_text
from dlexam.plain import dumps
from dlexam.progress import ProgressFn, log
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.svhn.training.loop import TrainConfig, fit, load_data, make_optimizer, setup_distributed

RUN_MARKERS = ("last.pt", "best.pt", "metrics.json", "metrics.csv")
QUICK_EPOCHS = 2
DEFAULT_EPOCHS = 10
MAX_EPOCHS, MAX_BATCH, MAX_LR = 100_000, 65_536, 10.0  # beyond these a setting is a typo, not a choice


@dataclass
class SVHNRun:
    """One `dlexam svhn train` run: the data, the run directory, and how to train."""

    out: Path  # the run directory
    data: Path | None = None  # folder with train_32x32.mat; not needed to resume
    epochs: int | None = None  # None: 10 (2 with quick); when resuming, the run's own unless given
    batch_size: int = 256
    lr: float | None = None  # None: 0.1 for sgd, 0.003 for adam
    optimizer: str = "sgd"
    seed: int = 0  # initialisation and the order of each epoch
    threads: int | None = None  # torch CPU threads; None keeps PyTorch's default
    val_fraction: float = 0.1  # share of the train split held out for validation
    split_seed: int = 0  # seed of the train/validation split (never depends on the model)
    model: CNNConfig = field(default_factory=CNNConfig)
    resume: bool = False  # continue the run in `out` from its last.pt
    quick: bool = False  # an end-to-end check: 2 epochs on 2,048 images

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.data = None if self.data is None else Path(self.data)
        limits.whole("epochs", self.epochs, 1, MAX_EPOCHS, optional=True)
        limits.whole("batch_size", self.batch_size, 1, MAX_BATCH)
        limits.number("lr", self.lr, 0, MAX_LR, lo_open=True, optional=True)
        limits.choice("optimizer", self.optimizer, ("sgd", "adam"))
        limits.whole("threads", self.threads, 1, 1024, optional=True)
        limits.number("val_fraction", self.val_fraction, 0, 1, hi_open=True)
        limits.whole("seed", self.seed, 0, 2**63 - 1)
        limits.whole("split_seed", self.split_seed, 0, 2**63 - 1)


@dataclass
class RunResult:
    """What a training run did: every epoch's figures and where the run lives."""

    out: str
    epochs: int
    world_size: int
    history: list[dict]
    best_val_accuracy: float
    final: dict
    model: dict
    train: dict

    def to_json(self) -> dict:
        return asdict(self)


def _write_metrics(out: Path, history: list[dict], settings: dict) -> None:
    buf = io.StringIO()
    fields = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s"]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow(row)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    atomic_write_text(out / "metrics.json", dumps({"settings": settings, "history": history}, indent=1))


def _open_out(run: SVHNRun) -> OutputDir | None:
    """Check the run directory before any work and lock it while training (rank 0 only writes)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    out = OutputDir(run.out, lock=True)
    if run.resume:
        if not (run.out / "last.pt").is_file():
            out.close()
            raise UserError(f"resume: {run.out} holds no last.pt to resume from")
    elif any((run.out / m).exists() for m in RUN_MARKERS):
        out.close()
        raise UserError(f"{run.out} already holds a training run; resume it, or choose another out directory")
    return out


def _resume_state(run: SVHNRun) -> tuple[TrainConfig, dict, CNNConfig, int, list, dict]:
    """What last.pt says about the run, checked before use: a damaged state is one clear error."""
    path = run.out / "last.pt"
    payload = checkpoint.load(path, kind=KIND)
    try:
        extra = payload["extra"]
        settings = dict(extra["settings"])
        settings["train"] = dict(settings["train"])
        if run.epochs:
            settings["train"]["epochs"] = int(run.epochs)
        cfg = TrainConfig.from_dict(settings["train"])
        limits.whole("epochs", cfg.epochs, 1, MAX_EPOCHS)
        limits.whole("batch_size", cfg.batch_size, 1, MAX_BATCH)
        limits.number("lr", cfg.lr, 0, MAX_LR, lo_open=True)
        limits.number("val_fraction", settings["val_fraction"], 0, 1, hi_open=True)
        model_cfg = CNNConfig.from_dict(payload["config"])
        start_epoch, history = int(extra["epoch"]), list(extra["history"])
        limits.whole("epoch", start_epoch, 0, MAX_EPOCHS)
        if not isinstance(extra["optimizer"], dict) or not isinstance(extra["rng"], torch.Tensor):
            raise TypeError("optimizer or RNG state missing")
    except (KeyError, TypeError, ValueError, UserError) as exc:
        raise UserError(f"{path}: its resume state is damaged ({exc})") from None
    return cfg, settings, model_cfg, start_epoch, history, payload


def _new_settings(run: SVHNRun) -> tuple[TrainConfig, dict]:
    """The settings of a new run: its TrainConfig and what metrics.json and the checkpoints record."""
    if run.data is None:
        raise UserError("data is required: a folder with train_32x32.mat")
    epochs = run.epochs or DEFAULT_EPOCHS
    cfg = TrainConfig(
        epochs=min(epochs, QUICK_EPOCHS) if run.quick else epochs,
        batch_size=run.batch_size,
        lr=run.lr if run.lr is not None else (0.1 if run.optimizer == "sgd" else 0.003),
        optimizer=run.optimizer,
        seed=run.seed,
        threads=run.threads,
    )
    settings = {
        "train": cfg.to_dict(),
        "model": run.model.to_dict(),
        "data": str(run.data.resolve()),
        "val_fraction": run.val_fraction,
        "split_seed": run.split_seed,
        "quick": run.quick,
    }
    return cfg, settings


def _engine(device: torch.device, model: ExamCNN) -> str:
    """Which implementation trains: the fused CPU kernels (dlexam.svhn.kernels.fused) or PyTorch's layers, and why."""
    if device.type != "cpu":
        return f"eager (PyTorch layers on {device.type})"
    return model.engine


def train_run(run: SVHNRun, progress: ProgressFn | None = None) -> RunResult:
    """Train (or resume) the run directory `run.out`; returns every epoch's figures.

    The directory is checked and locked before any work, and stays locked until training ends.
    """
    lock = _open_out(run)
    try:
        return _train(run, progress)
    finally:
        if lock is not None:
            lock.close()


def _train(run: SVHNRun, progress: ProgressFn | None) -> RunResult:
    out = run.out
    if run.resume:
        cfg, settings, model_cfg, start_epoch, history, payload = _resume_state(run)
    else:
        cfg, settings = _new_settings(run)
        model_cfg, start_epoch, history, payload = run.model, 0, [], None
    data = load_data(run.data or settings["data"], val_fraction=settings["val_fraction"],
                     split_seed=settings["split_seed"], quick=settings["quick"])
    d = setup_distributed()
    torch.manual_seed(cfg.seed)
    model = ExamCNN(model_cfg)
    settings["engine"] = _engine(d.device, model)
    say = progress if d.is_main else None  # only rank 0 reports
    log(say, "svhn train", f"training on {len(data['train_x'])} images ({len(data['val_x'])} for validation),"
                           f" batch {cfg.batch_size}, {settings['engine']}")
    optimizer = make_optimizer(model, cfg)
    if payload is not None:
        checkpoint.load_weights(model, payload, out / "last.pt")
        try:
            optimizer.load_state_dict(payload["extra"]["optimizer"])
            torch.set_rng_state(payload["extra"]["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"{out / 'last.pt'}: its resume state is damaged ({str(exc)[:120]})") from None
        if start_epoch >= cfg.epochs:
            log(say, "svhn train", f"{out}: all {cfg.epochs} epochs are already done")
    best = max((r.get("val_accuracy", -1.0) for r in history), default=-1.0)
    saved = len(history)  # epochs in last.pt

    def on_epoch_end(epoch, model, optimizer, history):
        nonlocal best, saved
        row = history[-1]
        if not d.is_main:
            return
        nan = float("nan")
        log(say, "svhn train",
            f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f}"
            f" acc {row['train_accuracy']:.4f} | val loss {row.get('val_loss', nan):.4f}"
            f" acc {row.get('val_accuracy', nan):.4f} | {row['images_per_s']:.0f} images/s")
        extra = {"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history, "settings": settings,
                 "rng": torch.get_rng_state()}
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        checkpoint.save(out / "last.pt", kind=KIND, config=model_cfg.to_dict(), state_dict=state, extra=extra)
        if row.get("val_accuracy", 0.0) > best:
            best = row.get("val_accuracy", 0.0)
            checkpoint.save(out / "best.pt", kind=KIND, config=model_cfg.to_dict(), state_dict=state, extra=extra)
        _write_metrics(out, history, settings)
        saved = len(history)

    try:
        result = fit(model, data["train_x"], data["train_y"], data["val_x"], data["val_y"], cfg=cfg,
                     start_epoch=start_epoch, optimizer=optimizer, history=history, on_epoch_end=on_epoch_end,
                     progress=say, dist=d)
    except NonFiniteLoss as exc:
        kept = f"{out / 'last.pt'} keeps epoch {saved}, the last finite one" if saved else "no epoch was saved"
        raise UserError(f"{exc} (is the learning rate, {cfg.lr:g}, too high?); {kept}") from None
    if d.is_main and result["history"]:
        from dlexam.svhn.plots import learning_curves_png

        learning_curves_png(result["history"], out / "curves.png")
    if d.world > 1:
        import torch.distributed as torch_dist

        torch_dist.barrier()
        torch_dist.destroy_process_group()
    return RunResult(out=str(out), epochs=cfg.epochs, world_size=d.world, history=result["history"],
                     best_val_accuracy=best, final=result["history"][-1] if result["history"] else {},
                     model=model_cfg.to_dict(), train=cfg.to_dict())
