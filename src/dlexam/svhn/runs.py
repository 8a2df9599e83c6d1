"""Run directories for `dlexam svhn train`: checkpoints, metrics, curves, resume; evaluate; predict.

A run directory holds

    last.pt        the checkpoint after the latest completed epoch (model, optimizer, epoch, RNG)
    best.pt        the checkpoint with the best validation accuracy so far (what a run dir stands for)
    metrics.csv    one row per epoch; metrics.json the same plus the run's settings
    curves.png     learning curves

Every file is written atomically, and only by rank 0 in a distributed run. A run killed mid-epoch
resumes (`--resume`) from last.pt, i.e. from its last completed epoch.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import torch

from dlexam import checkpoint
from dlexam.errors import UserError
from dlexam.files import atomic_write_text
from dlexam.svhn import fused
from dlexam.svhn.model import CNNConfig, ExamCNN

KIND = "svhn-cnn"
RUN_MARKERS = ("last.pt", "best.pt", "metrics.json", "metrics.csv")
QUICK_EPOCHS = 2


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def load_model(path=None) -> tuple[ExamCNN, dict]:
    """Rebuild an ExamCNN from a checkpoint file or run directory (its best.pt); None: the shipped model."""
    if path is None:
        from dlexam.svhn.shipped import shipped_path

        path = shipped_path()
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
    fields = [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
        "images_per_s",
    ]
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    for row in history:
        w.writerow(row)
    atomic_write_text(out / "metrics.csv", buf.getvalue())
    atomic_write_text(out / "metrics.json", json.dumps({"settings": settings, "history": history}, indent=1))


def train_args(data, out, **options):
    """The arguments `dlexam svhn train --data DATA --out OUT` gets, with `options` overriding its
    defaults: library callers (the demo, benchmarks) train exactly as the command line does."""
    from dlexam.cli import build_parser

    args = build_parser().parse_args(["svhn", "train", "--data", str(data), "--out", str(out)])
    for name, value in options.items():
        if not hasattr(args, name):
            raise TypeError(f"dlexam svhn train has no option {name!r}")
        setattr(args, name, value)
    return args


def train_run(args) -> dict:
    """Train (or resume) a run directory from parsed CLI arguments; returns a summary dict."""
    from dlexam.svhn.plots import learning_curves_png
    from dlexam.svhn.train import TrainConfig, fit, load_data, make_optimizer, setup_distributed

    out = Path(args.out)
    quiet = bool(getattr(args, "quiet", False))
    resume = bool(getattr(args, "resume", False))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    if resume:
        if not (out / "last.pt").is_file():
            raise UserError(f"--resume: {out} holds no last.pt to resume from")
    elif out.is_dir() and any((out / m).exists() for m in RUN_MARKERS):
        raise UserError(f"{out} already holds a training run; pass --resume to continue it, or choose another --out")

    if resume:
        payload = checkpoint.load(out / "last.pt", kind=KIND)
        extra = payload["extra"]
        settings = dict(extra["settings"])
        if getattr(args, "epochs", None):
            settings["train"]["epochs"] = int(args.epochs)
        cfg = TrainConfig.from_dict(settings["train"])
        model_cfg = CNNConfig.from_dict(payload["config"])
        start_epoch, history = int(extra["epoch"]), list(extra["history"])
    else:
        if not getattr(args, "data", None):
            raise UserError("--data DIR is required (a folder with train_32x32.mat)")
        quick = bool(getattr(args, "quick", False))
        epochs = args.epochs or 10
        cfg = TrainConfig(
            epochs=min(epochs, QUICK_EPOCHS) if quick else epochs,
            batch_size=args.batch_size,
            lr=args.lr if args.lr is not None else (0.1 if args.optimizer == "sgd" else 0.003),
            optimizer=args.optimizer,
            seed=args.seed,
            threads=getattr(args, "threads", None),
        )
        try:
            model_cfg = CNNConfig(activation=args.activation, pool=args.pool, head=args.head)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        settings = {
            "train": cfg.to_dict(),
            "model": model_cfg.to_dict(),
            "data": str(Path(args.data).resolve()),
            "val_fraction": args.val_fraction,
            "split_seed": args.split_seed,
            "quick": quick,
        }
        start_epoch, history = 0, []
    if cfg.batch_size < 1 or cfg.epochs < 1 or cfg.lr <= 0:
        raise UserError("--batch-size and --epochs must be positive integers and --lr a positive number")

    data = load_data(
        getattr(args, "data", None) or settings["data"],
        val_fraction=settings["val_fraction"],
        split_seed=settings["split_seed"],
        quick=settings["quick"],
    )
    d = setup_distributed()
    # which implementation trains: the fused CPU kernels (dlexam.svhn.fused) or PyTorch's layers
    engine = fused.status() if d.device.type == "cpu" else f"eager (PyTorch layers on {d.device.type})"
    if engine == "fused" and (model_cfg.activation, model_cfg.pool) != ("relu", "avg"):
        engine = "eager (the fused kernels compute ReLU with average pooling only)"
    settings["engine"] = engine
    if d.is_main:
        _log(
            f"training on {len(data['train_x'])} images ({len(data['val_x'])} for validation),"
            f" batch {cfg.batch_size}, {settings['engine']}",
            quiet,
        )
    torch.manual_seed(cfg.seed)
    model = ExamCNN(model_cfg)
    optimizer = make_optimizer(model, cfg)
    if resume:
        checkpoint.load_weights(model, payload, out / "last.pt")
        optimizer.load_state_dict(extra["optimizer"])
        torch.set_rng_state(extra["rng"])
        if start_epoch >= cfg.epochs:
            _log(f"{out}: all {cfg.epochs} epochs are already done", quiet)
    best = max((r.get("val_accuracy", -1.0) for r in history), default=-1.0)

    def on_epoch_end(epoch, model, optimizer, history):
        nonlocal best
        row = history[-1]
        if not d.is_main:
            return
        nan = float("nan")
        _log(
            f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f}"
            f" acc {row['train_accuracy']:.4f} | val loss {row.get('val_loss', nan):.4f}"
            f" acc {row.get('val_accuracy', nan):.4f} | {row['images_per_s']:.0f} images/s",
            quiet,
        )
        extra = {
            "epoch": epoch + 1,
            "optimizer": optimizer.state_dict(),
            "history": history,
            "settings": settings,
            "rng": torch.get_rng_state(),
        }
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        checkpoint.save(out / "last.pt", kind=KIND, config=model_cfg.to_dict(), state_dict=state, extra=extra)
        if row.get("val_accuracy", 0.0) > best:
            best = row.get("val_accuracy", 0.0)
            checkpoint.save(out / "best.pt", kind=KIND, config=model_cfg.to_dict(), state_dict=state, extra=extra)
        _write_metrics(out, history, settings)

    if d.is_main:
        out.mkdir(parents=True, exist_ok=True)
    result = fit(
        model,
        data["train_x"],
        data["train_y"],
        data["val_x"],
        data["val_y"],
        cfg=cfg,
        start_epoch=start_epoch,
        optimizer=optimizer,
        history=history,
        on_epoch_end=on_epoch_end,
        progress=not quiet and d.is_main,
        dist=d,
    )
    if d.is_main and result["history"]:
        learning_curves_png(result["history"], out / "curves.png")
    if d.world > 1:
        import torch.distributed as torch_dist

        torch_dist.barrier()
        torch_dist.destroy_process_group()
    last = result["history"][-1] if result["history"] else {}
    return {
        "out": str(out),
        "epochs": cfg.epochs,
        "world_size": d.world,
        "history": result["history"],
        "best_val_accuracy": best,
        "final": last,
        "model": model_cfg.to_dict(),
        "train": cfg.to_dict(),
    }


def evaluate_checkpoint(path, data_dir, split: str = "test", png: str | Path | None = None) -> dict:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint (None: the shipped model) on
    an SVHN split or an image folder (dlexam.svhn.data.load_labelled)."""
    from dlexam.svhn.data import load_labelled
    from dlexam.svhn.plots import confusion_png
    from dlexam.svhn.train import evaluate

    model, _ = load_model(path)
    images, labels, source = load_labelled(data_dir, split)
    result = evaluate(model, images, labels, channels_last=False)
    result["checkpoint"] = str(checkpoint.resolve(path)) if path is not None else str(_shipped())
    result["split"] = split if source == "mat" else Path(data_dir).name
    result["source"] = source
    if png is not None:
        confusion_png(result["confusion"], png, title=f"{split}: accuracy {result['accuracy']:.4f}")
        result["confusion_png"] = str(png)
    return result


def _shipped() -> Path:
    from dlexam.svhn.shipped import shipped_path

    return shipped_path()


@torch.inference_mode()
def predict_images(path, images: list) -> list[dict]:
    """The digit and its 10 probabilities for each image file (any size: dlexam.svhn.images.read_image
    crops it as SVHN's Format 2 crops were made); `path` None: the shipped model."""
    from dlexam.svhn.data import preprocess
    from dlexam.svhn.images import read_image

    model, _ = load_model(path)
    tensors = [read_image(p) for p in images]
    if not tensors:
        return []
    probs = torch.softmax(model(preprocess(torch.stack(tensors))), dim=1)
    return [
        {"image": str(p), "digit": int(pr.argmax()), "probabilities": [round(float(v), 6) for v in pr]}
        for p, pr in zip(images, probs, strict=True)
    ]
