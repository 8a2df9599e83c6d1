"""Targets for trained sorters (issues 3 and 14): exact match on every seed, at T = 0 too; training time.

    python benchmarks/sort_train.py                      # A-D, trained on lengths <= 8, seeds 0 1 2 (d_model 6)
    python benchmarks/sort_train.py --vocab A-Z          # A-Z, trained on lengths <= 16 (sort_train_v26.py)
    python benchmarks/sort_train.py --vocab A-Z --seeds 0,1,2,3,4 --set label_smoothing=0
    python benchmarks/sort_train.py --vocab A-Z --recipe old   # the recipe before issue 14 (ablation)
    python benchmarks/sort_train.py --vocab A-Z --set hard_fraction=0   # issue 14's, without the straight-through phase
    python benchmarks/sort_train.py --recipe shipped --seeds 0,1,2,3,4   # the shipped A-D sorter's recipe

Each seed trains the default recipe (:class:`dlexam.sorting.train.TrainConfig`, as `dlexam sort
train` does; `--set KEY=VALUE` overrides a field, `--recipe old` restores the one before issue 14)
and is evaluated on held-out inputs (the hash split of :mod:`dlexam.sorting.data`, which training
never sees, drawn with their own seeds) with the model's own softmax temperature and with T = 0
(argmax attention). A-Z also gets uniform random inputs of lengths 17-32 (no held-out filter: no
input longer than 16 is ever trained on).

Targets, for EACH seed, softmax and T = 0 alike:
  A-D (d_model 6, the default width): >= 99.9% on 10,000 held-out inputs of lengths 1-8; >= 99% at 9-32.
  A-Z (d_model 28): >= 99.5% on 10,000 held-out inputs of lengths 1-16; >= 98% at lengths 17-32.
  Training <= 180 s per seed (one torch thread; the time is contended on a shared machine, and
  the 1-minute load average is printed beside it).

The last line is one JSON object: per-seed results, the worst seed of each figure, the targets.
Checkpoints go to runs/bench-sort-<vocab>-d<d_model>-s<seed>/last.pt (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, fields

import torch

from dlexam.commands.options import threads
from dlexam.commands.progress import ProgressPrinter
from dlexam.errors import UserError
from dlexam.sorting.data import all_sequences, sample_inputs
from dlexam.sorting.evaluate import evaluate, heldout_inputs
from dlexam.sorting.shipped import RECIPE
from dlexam.sorting.train import OLD_RECIPE, TrainConfig, train
from dlexam.sorting.vocab import Vocabulary

TRAIN_SECONDS_MAX = 180


def accuracy_block(model, vocab, lengths, inputs):
    out = {"n": len(inputs)}
    for t, key in ((None, "softmax"), (0.0, "T0")):
        r = evaluate(model, vocab, lengths, inputs=inputs, temperature=t)
        per = r["per_length"]
        out[key] = {
            "overall": round(r["overall"], 5),
            "min_per_length": round(min(per.values()), 4),
            "below_1": {str(n): round(v, 4) for n, v in per.items() if v < 1},
        }
    return out


def uniform_inputs(vocab, lengths, per_length, seed):
    """Uniform random inputs, no held-out filter (for lengths never trained on)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = []
    for n in lengths:
        tokens, _ = sample_inputs(gen, per_length, vocab.n_symbols, n, n, kind="uniform")
        inputs += tokens.tolist()
    return inputs


def seed_list(text: str) -> list[int]:
    """--seeds 0,1,2 (argparse reports a ValueError here as one line and exit status 2)."""
    return [int(s) for s in text.split(",")]


def parse_set(items: list[str]) -> dict:
    names = {f.name for f in fields(TrainConfig)}
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in names:
            raise ValueError(f"--set {item}: TrainConfig has no field {key!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run_seed(tc: TrainConfig, vocab: Vocabulary, progress) -> dict:
    run_dir = f"runs/bench-sort-{vocab.spec}-d{tc.d_model or vocab.size}-s{tc.seed}"
    load_before = os.getloadavg()[0]
    result = train(tc, run_dir, progress=progress, force=True)
    model, summary = result.model, result.summary()
    load_after = os.getloadavg()[0]
    r = {
        "seed": tc.seed,
        "train_seconds": summary["train_seconds"],
        "loadavg_1min_before_after": [round(load_before, 2), round(load_after, 2)],
        "final_loss": round(summary["final_loss"], 6),
    }
    t0 = time.perf_counter()
    if vocab.n_symbols == 4:
        lengths_in = list(range(1, 9))
        nonempty = [n for n in lengths_in if heldout_inputs(vocab, [n], 1, 0)]  # length 1: nothing held out
        per = math.ceil(10_000 / len(nonempty))
        r["heldout_1_8"] = accuracy_block(model, vocab, nonempty, heldout_inputs(vocab, nonempty, per, 1001))
        every = [s for n in lengths_in for s in all_sequences(4, n).tolist()]
        r["exhaustive_1_8"] = {"n": len(every), **{key: evaluate(model, vocab, lengths_in, inputs=every,
                                                                  temperature=t)["overall"]
                                                     for key, t in (("softmax", None), ("T0", 0.0))}}
        far = list(range(9, 33))
        r["heldout_9_32"] = accuracy_block(model, vocab, far, heldout_inputs(vocab, far, 500, 1002))
    else:
        near, far = list(range(1, tc.max_len + 1)), list(range(tc.max_len + 1, 2 * tc.max_len + 1))
        r["heldout_1_16"] = accuracy_block(model, vocab, near, heldout_inputs(vocab, near, 625, 1003))
        r["heldout_17_32"] = accuracy_block(model, vocab, far, heldout_inputs(vocab, far, 300, 1004))
        r["uniform_17_32"] = accuracy_block(model, vocab, far, uniform_inputs(vocab, far, 300, 1005))
    r["eval_seconds"] = round(time.perf_counter() - t0, 2)
    return r


def targets_of(r: dict, a_z: bool) -> dict:
    if a_z:
        goals = {"heldout_1_16": 0.995, "heldout_17_32": 0.98, "uniform_17_32": 0.98}
    else:
        goals = {"heldout_1_8": 0.999, "heldout_9_32": 0.99}
    t = {f"{block}_{key}_ge_{goal}": r[block][key]["overall"] >= goal
         for block, goal in goals.items() for key in ("softmax", "T0")}
    t[f"train_le_{TRAIN_SECONDS_MAX}s"] = r["train_seconds"] <= TRAIN_SECONDS_MAX
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", choices=("A-D", "A-Z"), default="A-D")
    ap.add_argument("--v26", action="store_true", help="same as --vocab A-Z")
    ap.add_argument("--seeds", type=seed_list, default="0,1,2", help="model seeds, comma-separated (default 0,1,2)")
    ap.add_argument("--recipe", choices=("new", "old", "shipped"), default="new",
                    help="old: the recipe before issue 14 (fixed T = sqrt(d_head), lr 0.03); shipped: the shipped "
                    "A-D sorter's (dlexam.sorting.shipped.RECIPE; --seeds still chooses the seeds)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a TrainConfig field, e.g. --set steps=2000 (JSON values)")
    ap.add_argument("--threads", type=threads(), default=1)  # 0 and a million: one line
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    a_z = args.v26 or args.vocab == "A-Z"
    base = {"vocab": "A-Z", "max_len": 16} if a_z else {"vocab": "A-D", "max_len": 8}  # `sort train`'s defaults
    if args.recipe == "old":
        base.update(OLD_RECIPE)
    elif args.recipe == "shipped":
        if a_z:
            ap.error("--recipe shipped is the A-D sorter's")
        base.update({k: v for k, v in RECIPE.items() if k != "seed"})
    seeds = args.seeds
    try:
        base.update(parse_set(args.set))
        for seed in seeds:  # every seed's config checked before the first trains: one line, exit 2
            TrainConfig(**{**base, "seed": seed}).validate()
    except (ValueError, UserError) as exc:
        ap.error(str(exc))
    vocab = Vocabulary.from_spec(base["vocab"])
    per_seed, configs = [], None
    for seed in seeds:
        tc = TrainConfig(**{**base, "seed": seed})
        configs = {k: v for k, v in asdict(tc).items() if k != "seed"}
        r = run_seed(tc, vocab, progress=ProgressPrinter() if sys.stderr.isatty() else None)
        r["targets"] = targets_of(r, a_z)
        r["all_targets_met"] = all(r["targets"].values())
        per_seed.append(r)
        print(json.dumps({"seed_done": r}), file=sys.stderr, flush=True)
    blocks = [k for k in per_seed[0] if isinstance(per_seed[0][k], dict) and "softmax" in per_seed[0][k]]
    def overall(v):
        return v["overall"] if isinstance(v, dict) else v

    worst = {
        block: {key: min(overall(r[block][key]) for r in per_seed) for key in ("softmax", "T0")
                if key in per_seed[0][block]}
        for block in blocks
    }
    worst["train_seconds_max"] = max(r["train_seconds"] for r in per_seed)
    result = {
        "benchmark": "sort_train",
        "vocab": vocab.spec,
        "recipe": args.recipe,
        "overrides": parse_set(args.set),
        "train_config": configs,
        "cpu_threads": args.threads,
        "seeds": seeds,
        "worst_seed": worst,
        "per_seed": per_seed,
        "all_targets_met": all(r["all_targets_met"] for r in per_seed),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
