"""Targets for trained sorters (issue 3): exact match, length generalization, training time.

    python benchmarks/sort_train.py            # V=4 (A-D), trained on lengths <= 8
    python benchmarks/sort_train.py --v26      # V=26 (A-Z), trained on lengths <= 16

V=4 targets: >= 99.9% exact match on 10,000 held-out sequences of lengths 1-8, >= 99% at lengths
9-32, training <= 3 minutes on the 2-core machine. V=26: >= 99% at lengths 1-16. Decoding is
greedy with the model's own softmax temperature; temperature 0 (argmax) is measured too. The last
line is one JSON object. The checkpoint goes to runs/bench-sort-<vocab>-d<d_model>/last.pt (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch

from dlexam.sorting.data import all_sequences
from dlexam.sorting.train import TrainConfig, evaluate, heldout_inputs, train
from dlexam.sorting.vocab import Vocabulary


def accuracy_block(model, vocab, lengths, per_length, seed, temps=(None, 0.0)):
    inputs = heldout_inputs(vocab, lengths, per_length, seed)
    out = {}
    for t in temps:
        r = evaluate(model, vocab, lengths, inputs=inputs, temperature=t)
        key = "softmax" if t is None else "argmax_T0"
        out[key] = {
            "overall": r["overall"],
            "min_per_length": min(r["per_length"].values()),
            "per_length": r["per_length"],
        }
    out["n"] = len(inputs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--v26", action="store_true", help="the A-Z target instead of A-D")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--d-model", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.v26:
        tc = TrainConfig(
            vocab="A-Z", max_len=16, steps=args.steps or 3000, d_model=args.d_model, seed=args.seed
        )
    else:
        tc = TrainConfig(
            vocab="A-D", max_len=8, steps=args.steps or 2000, d_model=args.d_model or 5, seed=args.seed
        )
    vocab = Vocabulary.from_spec(tc.vocab)
    load_before = os.getloadavg()
    run_dir = f"runs/bench-sort-{vocab.spec}-d{tc.d_model or vocab.size}"
    model, summary = train(tc, run_dir, progress=sys.stderr.isatty(), force=True)
    load_after = os.getloadavg()
    result = {
        "benchmark": "sort_train",
        "vocab": vocab.spec,
        "max_len": tc.max_len,
        "config": {
            k: summary["model"][k]
            for k in ("d_model", "n_heads", "n_layers", "d_ff", "residual", "layernorm", "positional")
        },
        "parameters": summary["parameters"],
        "steps": tc.steps,
        "batch_size": tc.batch_size,
        "train_seconds": summary["train_seconds"],
        "cpu_threads": args.threads,
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "contended": load_after[0] > 2.5,
        "final_loss": summary["final_loss"],
    }
    t0 = time.perf_counter()
    if vocab.n_symbols == 4:
        lengths_in = list(range(1, 9))
        nonempty = [n for n in lengths_in if heldout_inputs(vocab, [n], 1, 0)]
        per = math.ceil(10_000 / len(nonempty))
        result["heldout_1_8"] = accuracy_block(model, vocab, nonempty, per, 1001)
        result["heldout_1_8"]["lengths_without_heldout_sequences"] = sorted(set(lengths_in) - set(nonempty))
        every = [s for n in lengths_in for s in all_sequences(4, n).tolist()]
        ex = evaluate(model, vocab, lengths_in, inputs=every)
        result["exhaustive_1_8"] = {"n": len(every), "softmax": ex["overall"]}
        result["heldout_9_32"] = accuracy_block(model, vocab, list(range(9, 33)), 500, 1002)
        result["targets"] = {
            "heldout_1_8_ge_0.999": result["heldout_1_8"]["softmax"]["overall"] >= 0.999,
            "heldout_9_32_ge_0.99": result["heldout_9_32"]["softmax"]["overall"] >= 0.99,
            "train_le_180s": summary["train_seconds"] <= 180,
        }
    else:
        result["heldout_1_16"] = accuracy_block(model, vocab, list(range(1, 17)), 625, 1003)
        result["heldout_17_32"] = accuracy_block(model, vocab, list(range(17, 33)), 300, 1004)
        result["targets"] = {"heldout_1_16_ge_0.99": result["heldout_1_16"]["softmax"]["overall"] >= 0.99}
    result["eval_seconds"] = round(time.perf_counter() - t0, 2)
    result["all_targets_met"] = all(result["targets"].values())
    for block in result.values():  # keep the JSON line short: per-length tables only where not perfect
        if isinstance(block, dict):
            for key in ("softmax", "argmax_T0"):
                if isinstance(block.get(key), dict):
                    pl = block[key].pop("per_length")
                    block[key]["below_1"] = {str(k): round(v, 4) for k, v in pl.items() if v < 1}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
