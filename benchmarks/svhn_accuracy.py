"""Accuracy of Problem 1's CNN with the default recipe of `dlexam svhn train`.

Default recipe: 10 epochs, batch 256, SGD (momentum 0.9, Nesterov, weight decay 5e-4), peak lr
0.1 with cosine decay, per-image standardisation, 10% of train carved out for validation, seed 0.

  synthetic  `dlexam svhn synth` with 20,000 train / 4,000 test images; the test images use fonts
             the train images never use (held-out typefaces).
  mnist      the shared MNIST t10k digits: first 8,000 train, last 2,000 test (skipped if absent).

Baselines: chance (0.1), and a linear softmax classifier on the standardised pixels (1,024 -> 10)
trained by the same loop and recipe, which says how hard each test split is beyond chance.
Prints one JSON object as its last line.
Usage: python benchmarks/svhn_accuracy.py [--epochs 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from dlexam import bounds
from dlexam.commands.options import threads as thread_count
from dlexam.commands.options import whole_number
from dlexam.errors import UserError
from dlexam.svhn.data.mnist import write_mnist_as_svhn
from dlexam.svhn.inference import evaluate_checkpoint
from dlexam.svhn.synthetic.digits import write_synthetic
from dlexam.svhn.training.runs import train_run
from dlexam.svhn.training.settings import SVHNRun


def train_and_test(data: Path, run: Path, epochs: int, threads: int) -> dict:
    t = time.perf_counter()
    result = train_run(SVHNRun(out=run, data=data, epochs=epochs, threads=threads))
    seconds = time.perf_counter() - t
    ev = evaluate_checkpoint(run, data, "test")
    return {
        "test_accuracy": round(ev.accuracy, 4),
        "test_images": ev.n,
        "best_val_accuracy": round(result.best_val_accuracy, 4),
        "epochs": epochs,
        "train_seconds": round(seconds, 1),
        "per_class": [None if a is None else round(a, 3) for a in ev.per_class],
    }


def linear_baseline(data: Path, epochs: int, threads: int) -> float:
    """Softmax regression on pixels, trained by the same model-agnostic loop: a difficulty yardstick."""
    import torch

    from dlexam.svhn.data.official import load_split
    from dlexam.svhn.training.config import TrainConfig
    from dlexam.svhn.training.loop import evaluate, fit, load_data

    d = load_data(data)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10))  # (B, 1, 32, 32) -> (B, 10)
    cfg = TrainConfig(epochs=epochs, lr=0.01, threads=threads, channels_last=False)
    result = fit(model, d["train_x"], d["train_y"], cfg=cfg)
    tx, ty = load_split(data, "test")
    return round(evaluate(result["model"], tx, ty, channels_last=False)["accuracy"], 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=whole_number(bounds.EPOCHS), default=10)  # `svhn train`'s range
    ap.add_argument("--threads", type=thread_count(), default=1)
    ap.add_argument("--train", type=int, default=20000, help="synthetic train images")
    args = ap.parse_args()
    out = {"benchmark": "svhn_accuracy", "chance": 0.1, "recipe": "sgd lr 0.1 cosine, batch 256, wd 5e-4"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            write_synthetic(tmp / "synth", n_train=args.train, n_test=4000, seed=0)
        except UserError as exc:  # --train out of range, checked before any image is drawn: one line, exit 2
            ap.error(f"--train: {exc}")
        t = time.perf_counter()
        write_synthetic(tmp / "timing", n_train=20000, n_test=1, seed=1)
        out["synth_seconds_for_20000"] = round(time.perf_counter() - t, 1)
        out["synthetic"] = train_and_test(tmp / "synth", tmp / "run-synth", args.epochs, args.threads)
        out["synthetic"]["linear_baseline_accuracy"] = linear_baseline(tmp / "synth", args.epochs, args.threads)
        print(f"synthetic: {out['synthetic']}", file=sys.stderr)
        try:
            write_mnist_as_svhn(tmp / "mnist", 8000)
            out["mnist"] = train_and_test(tmp / "mnist", tmp / "run-mnist", args.epochs, args.threads)
            out["mnist"]["linear_baseline_accuracy"] = linear_baseline(tmp / "mnist", args.epochs, args.threads)
        except UserError as exc:
            out["mnist"] = {"skipped": str(exc)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
