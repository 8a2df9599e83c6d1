"""Rebuild the shipped exam CNN from scratch, once per seed, and measure it on every development set.

Each rebuild is the one command users run, `dlexam svhn train --recipe shipped --seed S --threads 1
--out DIR --json`, as a child process (so the instruction-set pinning the command applies is what
is measured), timed whole: rendering the training scenes and training; wall clock and CPU seconds.
The rebuilt models and the model shipped in the package are measured on the checks of
dlexam.svhn.data.realdata:

  svhn_dev       500 real SVHN crops (shared/data/svhn-real-dev; development set, never trained on)
  chars74k       593 photographed digits (shared/data/chars74k-digits; never trained on)
  mnist2000      the last 2,000 MNIST t10k digits (the recipe trains on the first 8,000 only)
  synth_heldout  the test split of `dlexam svhn synth` (fonts no recipe trains on)

Rebuilds are listed worst first (by svhn_dev). For the shipped seed the rebuilt weights are compared
with shipped.pt bit for bit. Targets (issue 21): the worst seed >= 0.87 on svhn_dev (the proxy for
real SVHN crops held back elsewhere, where 0.85 is required), and no set more than 1 point below the
previous recipe's worst seed (PREVIOUS, measured before issue 21). The machine's load average is
reported at the start and the end: on a shared machine the times are noisy, the accuracies are not.
Prints one JSON object as its last line.

Usage: python benchmarks/svhn_shipped.py [--seeds 0 1 2] [--threads 1] [--recipe shipped|quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from dlexam import bounds
from dlexam.commands.options import threads, whole_number
from dlexam.svhn.data.realdata import CHECKS, check_accuracies, worst_first
from dlexam.svhn.inference import load_model

DEV_TARGET = 0.87  # worst seed on svhn_dev
MAX_DROP = 0.01  # at most 1 point below the previous recipe's worst seed on every other set
# The previous recipe (before issue 21): the worst of its seeds 0, 1, 2 on each set, rebuilt on the AVX512
# machine of docs/svhn.md's ablation (the stricter of those and docs' earlier AVX2 rebuilds: 0.9241 / 0.9135 /
# 0.9570), and its shipped model (seed 0, the figures).
PREVIOUS = {
    "worst_seed": {"svhn_dev": 0.774, "chars74k": 0.9309, "mnist2000": 0.92, "synth_heldout": 0.9565},
    "shipped": {"svhn_dev": 0.776, "chars74k": 0.9477, "mnist2000": 0.9135, "synth_heldout": 0.9593},
}


def accuracies(checks: dict) -> dict:
    return {k: (round(v["accuracy"], 4) if "accuracy" in v else None) for k, v in checks.items()}


def rebuild(recipe: str, seed: int, threads: int, out: Path) -> dict:
    """Run the command once; -> its figures (wall and CPU seconds of the child, the checks it measured)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "dlexam", "svhn", "train", "--recipe", recipe, "--seed", str(seed),
           "--threads", str(threads), "--out", str(out), "--json", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"rebuild failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(proc.stdout)
    payload = torch.load(out / "model.pt", weights_only=True)
    return {
        "seed": seed,
        **accuracies(r["checks"]),
        "rebuild_seconds": round(wall, 1),
        "cpu_seconds": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 1),
        "render_seconds": r["seconds"]["render"],
        "train_seconds": r["seconds"]["train"],
        "provenance": payload.get("provenance"),
        "state_dict": payload["state_dict"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=whole_number(bounds.SEED), nargs="+", default=[0, 1, 2],
                    help="one rebuild per seed (shipped: 0)")
    ap.add_argument("--threads", type=threads(), default=1, help="the shipped model was built with 1 (same weights)")
    ap.add_argument("--recipe", default="shipped", choices=("shipped", "quick"))
    args = ap.parse_args()
    out = {"benchmark": "svhn_shipped", "recipe": args.recipe, "threads": args.threads,
           "load_average_start": os.getloadavg()[0], "cpu_count": os.cpu_count(),
           "targets": {"svhn_dev_worst": DEV_TARGET, "max_drop_vs_previous_worst": MAX_DROP}, "previous": PREVIOUS}
    model, payload = load_model(None)
    out["shipped"] = accuracies(check_accuracies(model))
    out["shipped_seed"] = payload["extra"]["settings"]["seed"]
    out["shipped_provenance"] = payload.get("provenance")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = rebuild(args.recipe, seed, args.threads, Path(tmp) / f"seed{seed}")
            state = row.pop("state_dict")
            if seed == out["shipped_seed"] and args.recipe == "shipped":
                shipped = payload["state_dict"]
                diff = max(float((state[k] - v).abs().max()) for k, v in shipped.items())
                row["max_weight_difference_to_shipped"] = diff
                row["bit_identical_to_shipped"] = all(torch.equal(state[k], v) for k, v in shipped.items())
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out["rebuilds"], worst = worst_first(rows)
    out["worst"] = worst
    checks = {"svhn_dev_worst": worst["svhn_dev"] is not None and worst["svhn_dev"] >= DEV_TARGET}
    for k in CHECKS:
        if k != "svhn_dev":
            checks[f"{k}_within_1_point"] = worst[k] is not None and worst[k] >= PREVIOUS["worst_seed"][k] - MAX_DROP
    out["checks"] = checks
    out["meets_targets"] = args.recipe == "shipped" and all(checks.values())
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
