"""What fine-tuning the shipped exam CNN on a user's own digits buys, and what it costs (issue 21, item 3).

The user's digits: the first 1,000 MNIST t10k digits (shared/data/mnist-t10k), written as an ImageFolder
(DIR/0/*.png .. DIR/9/*.png, each 28x28 digit padded to 32x32 as dlexam.svhn.data.realdata pads the
check) into a temporary folder. Each seed runs the one command users run,

    dlexam svhn train --init shipped --data DIR --seed S --threads 1 --out RUN --json

as a child process (fine-tuning's own defaults unless --epochs/--lr/--batch-size are given here), and
the run directory (its best.pt: the best validation accuracy on its own 10% of the 1,000) is measured,
as is the shipped model before it, on the checks of dlexam.svhn.data.realdata:

  mnist2000      the last 2,000 MNIST t10k digits: the held-out part of the same data (disjoint from the 1,000)
  svhn_dev       500 real SVHN crops (development set)
  chars74k       593 photographed digits
  synth_heldout  the test split of `dlexam svhn synth` (fonts no recipe trains on)

Runs are listed worst first (by mnist2000); "gain" is the worst seed's accuracy minus the shipped
model's on each set (negative: what fine-tuning cost). Load averages at start and end: times are
noisy on a shared machine, accuracies are not. Prints one JSON object as its last line.

Usage: python benchmarks/svhn_finetune.py [--seeds 0 1 2] [--digits 1000] [--epochs E] [--lr LR] [--batch-size B]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dlexam import bounds
from dlexam.commands.options import number_in, whole_number  # `svhn train`'s ranges, before any work
from dlexam.svhn.data.mnist import load_mnist
from dlexam.svhn.data.realdata import MNIST_TRAIN, accuracy_difference, check_accuracies, worst_first
from dlexam.svhn.inference import load_model


def write_digits(folder: Path, n: int) -> None:
    """The first `n` MNIST t10k digits as an ImageFolder of 32x32 PNGs."""
    images, labels = load_mnist()
    padded = np.pad(images[:n], ((0, 0), (2, 2), (2, 2)))  # (n, 28, 28) -> (n, 32, 32)
    for i, (img, digit) in enumerate(zip(padded, labels[:n], strict=True)):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / str(digit) / f"{i:05d}.png")


def accuracies(model) -> dict:
    return {k: (round(v["accuracy"], 4) if "accuracy" in v else None) for k, v in check_accuracies(model).items()}


def fine_tune(data: Path, out: Path, seed: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "dlexam", "svhn", "train", "--init", "shipped", "--data", str(data), "--seed",
           str(seed), "--threads", "1", "--out", str(out), "--json", "--quiet", *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"fine-tuning failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    r = json.loads(proc.stdout)
    model, _ = load_model(out)  # the run directory: its best.pt
    return {"seed": seed, **accuracies(model), "val_before": round(r["init"]["val_accuracy"], 4),
            "val_best": round(r["best_val_accuracy"], 4), "epochs": r["epochs"], "lr": r["train"]["lr"],
            "batch_size": r["train"]["batch_size"], "seconds": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=whole_number(bounds.SEED), nargs="+", default=[0, 1, 2])
    ap.add_argument("--digits", type=int, default=1000, help="the first N MNIST t10k digits to fine-tune on")
    ap.add_argument("--epochs", type=whole_number(bounds.EPOCHS), default=None)
    ap.add_argument("--lr", type=number_in(bounds.SVHN_LR), default=None)
    ap.add_argument("--batch-size", type=whole_number(bounds.SVHN_BATCH), default=None)
    args = ap.parse_args()
    if not 10 <= args.digits <= MNIST_TRAIN:
        ap.error(f"--digits must be 10 to {MNIST_TRAIN} (the last 2,000 are the check)")
    extra = [flag for name, value in (("--epochs", args.epochs), ("--lr", args.lr), ("--batch-size", args.batch_size))
             if value is not None for flag in (name, str(value))]
    out = {"benchmark": "svhn_finetune", "digits": args.digits, "overrides": extra,
           "load_average_start": os.getloadavg()[0], "cpu_count": os.cpu_count()}
    shipped, _ = load_model(None)
    out["before"] = accuracies(shipped)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits"
        write_digits(data, args.digits)
        for seed in args.seeds:
            row = fine_tune(data, Path(tmp) / f"run{seed}", seed, extra)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out["runs"], worst = worst_first(rows, by="mnist2000")
    out["worst"] = worst
    out["gain_worst_seed"] = accuracy_difference(worst, out["before"])
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
