"""Run directories for `dlexam svhn train`: checkpoints, metrics, curves, resume; evaluate; predict.

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
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from dlexam import checkpoint
from dlexam.errors import UserError
from dlexam.files import atomic_write_text
from dlexam.progress import ProgressFn, log
from dlexam.svhn import fused
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.train import TrainConfig, fit, load_data, make_optimizer, setup_distributed

KIND = "svhn-cnn"
RUN_MARKERS = ("last.pt", "best.pt", "metrics.json", "metrics.csv")
QUICK_EPOCHS = 2
DEFAULT_EPOCHS = 10


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


def load_model(path) -> tuple[ExamCNN, dict]:
    """Rebuild an ExamCNN from a checkpoint file or run directory (its best.pt)."""
    p = checkpoint.resolve(path)
    payload = checkpoint.load(p, kind=KIND)
    try:
        cfg = CNNConfig.from_dict(payload.get("config") or {})
    except (TypeError, ValueError) as exc:
        raise UserError(f"{p}: its model config is not an exam CNN config ({exc})") from None
    model = ExamCNN(cfg)
    checkpoint.load_weights(model, payload, p)
    model.eval()
    return model, payload


def _write_metrics(out: Path, history: list[dict], settings: dict) -> None:
    buf = io.StringIO()
    fields = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s"]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow(row)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    atomic_write_text(out / "metrics.json", json.dumps({"settings": settings, "history": history}, indent=1))


def _check_out(run: SVHNRun) -> None:
    out = run.out
    if out.exists() and not out.is_dir():
        raise UserError(f"out {out} exists and is not a directory")
    if run.resume:
        if not (out / "last.pt").is_file():
            raise UserError(f"resume: {out} holds no last.pt to resume from")
    elif out.is_dir() and any((out / m).exists() for m in RUN_MARKERS):
        raise UserError(f"{out} already holds a training run; resume it, or choose another out directory")


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


def _engine(device: torch.device, model_cfg: CNNConfig) -> str:
    """Which implementation trains: the fused CPU kernels (dlexam.svhn.fused) or PyTorch's layers."""
    if device.type != "cpu":
        return f"eager (PyTorch layers on {device.type})"
    engine = fused.status()
    if engine == "fused" and (model_cfg.activation, model_cfg.pool) != ("relu", "avg"):
        engine = "eager (the fused kernels compute ReLU with average pooling only)"
    return engine


def train_run(run: SVHNRun, progress: ProgressFn | None = None) -> RunResult:
    """Train (or resume) the run directory `run.out`; returns every epoch's figures."""
    out = run.out
    _check_out(run)
    if run.resume:
        payload = checkpoint.load(out / "last.pt", kind=KIND)
        extra = payload["extra"]
        settings = dict(extra["settings"])
        if run.epochs:
            settings["train"]["epochs"] = int(run.epochs)
        cfg = TrainConfig.from_dict(settings["train"])
        model_cfg = CNNConfig.from_dict(payload["config"])
        start_epoch, history = int(extra["epoch"]), list(extra["history"])
    else:
        cfg, settings = _new_settings(run)
        model_cfg = run.model
        start_epoch, history = 0, []
    if cfg.batch_size < 1 or cfg.epochs < 1 or cfg.lr <= 0:
        raise UserError("batch_size and epochs must be positive integers and lr a positive number")

    data = load_data(run.data or settings["data"], val_fraction=settings["val_fraction"],
                     split_seed=settings["split_seed"], quick=settings["quick"])
    d = setup_distributed()
    settings["engine"] = _engine(d.device, model_cfg)
    say = progress if d.is_main else None  # only rank 0 reports
    log(say, "svhn train", f"training on {len(data['train_x'])} images ({len(data['val_x'])} for validation),"
                           f" batch {cfg.batch_size}, {settings['engine']}")
    torch.manual_seed(cfg.seed)
    model = ExamCNN(model_cfg)
    optimizer = make_optimizer(model, cfg)
    if run.resume:
        checkpoint.load_weights(model, payload, out / "last.pt")
        optimizer.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["rng"])
        if start_epoch >= cfg.epochs:
            log(say, "svhn train", f"{out}: all {cfg.epochs} epochs are already done")
    best = max((r.get("val_accuracy", -1.0) for r in history), default=-1.0)

    def on_epoch_end(epoch, model, optimizer, history):
        nonlocal best
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

    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
    result = fit(model, data["train_x"], data["train_y"], data["val_x"], data["val_y"], cfg=cfg,
                 start_epoch=start_epoch, optimizer=optimizer, history=history, on_epoch_end=on_epoch_end,
                 progress=say, dist=d)
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


@dataclass
class Evaluation:
    """A checkpoint's accuracy on one split: overall, per class, and the confusion matrix."""

    checkpoint: str
    split: str
    n: int
    loss: float
    accuracy: float
    per_class: list[float]
    confusion: list[list[int]]  # rows: true digit, columns: predicted
    confusion_png: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def evaluate_checkpoint(path, data_dir, split: str = "test", png: str | Path | None = None) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint on an SVHN split."""
    from dlexam.svhn.data import load_split
    from dlexam.svhn.train import evaluate

    model, _ = load_model(path)
    images, labels = load_split(data_dir, split)
    result = Evaluation(checkpoint=str(checkpoint.resolve(path)), split=split,
                        **evaluate(model, images, labels, channels_last=False))
    if png is not None:
        from dlexam.svhn.plots import confusion_png

        confusion_png(result.confusion, png, title=f"{split}: accuracy {result.accuracy:.4f}")
        result.confusion_png = str(png)
    return result


def read_image(path) -> torch.Tensor:
    """Any PNG or JPEG -> uint8 (32, 32) grayscale (Pillow's convert("L"), bilinear resize)."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise UserError(f"image not found: {p}")
    try:
        with Image.open(p) as img:
            if img.format not in ("PNG", "JPEG"):
                raise UserError(f"{p} is a {img.format} image; predict reads PNG or JPEG")
            gray = img.convert("L").resize((32, 32), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{p} is not a readable PNG or JPEG image ({type(exc).__name__})") from None
    import numpy as np

    return torch.from_numpy(np.array(gray, dtype=np.uint8))


@dataclass
class Prediction:
    image: str
    digit: int
    probabilities: list[float]  # P(digit 0) .. P(digit 9)

    def to_json(self) -> dict:
        return asdict(self)


@torch.inference_mode()
def predict_images(path, images: list) -> list[Prediction]:
    """The digit and its 10 probabilities for each image file."""
    from dlexam.svhn.data import preprocess

    model, _ = load_model(path)
    tensors = [read_image(p) for p in images]
    if not tensors:
        return []
    probs = torch.softmax(model(preprocess(torch.stack(tensors))), dim=1)
    return [Prediction(str(p), int(pr.argmax()), [round(float(v), 6) for v in pr])
            for p, pr in zip(images, probs, strict=True)]
