"""Target: batched greedy decoding with a KV cache >= 5x the sequences/s of recomputing the prefix.

Also measured: decoding by token counts (`multiset`), what a one-layer model without positions
(the compiled sorter, the trained sorters) now uses by default instead of the KV cache.

Batch 256, input length 64, both ways in the same process on the same inputs, outputs checked equal.
The model: the compiled exact sorter over 64 symbols ("0".."63"). Why that one: the number of
decoding steps is the number of distinct symbols + 1, so with 4 symbols a length-64 input needs
only 5 steps (prefill dominates and any cache looks useless); over 64 symbols a random length-64
input holds about 41 distinct symbols, so about 45 steps, a realistic sort workload.
With `--checkpoint RUN` the same measurement runs on a trained model instead. The last line is
one JSON object (medians over --repeats runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from dlexam.commands.options import threads, whole_number
from dlexam.errors import UserError
from dlexam.limits import Span
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.vocab import Vocabulary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=64)
    # sizes up to 4x the defaults each: the recomputed prefix's attention grows as batch x (length + steps)^2, and a
    # batch of 10^12 was a RuntimeError traceback (512 TB asked of the allocator)
    ap.add_argument("--batch", type=whole_number(Span(1, 1024, whole=True)), default=256,
                    help="sequences decoded at once, a whole number in [1, 1024] (default 256)")
    ap.add_argument("--length", type=whole_number(Span(1, 256, whole=True)), default=64,
                    help="input length, a whole number in [1, 256] (default 64)")
    ap.add_argument("--repeats", type=whole_number(Span(1, 100, whole=True)), default=3,
                    help="runs of each way, a whole number in [1, 100] (default 3; times are medians)")
    ap.add_argument("--threads", type=threads(), default=1)  # a million crashed torch
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        if args.checkpoint:
            from dlexam.sorting.trained import load_model

            model, vocab, _ = load_model(args.checkpoint)
            name = f"trained {args.checkpoint}"
        else:
            vocab = Vocabulary.from_spec(str(args.symbols))
            model = compile_sorter(vocab.n_symbols)
            name = f"compiled sorter, {vocab.n_symbols} symbols"
    except UserError as exc:  # a missing or wrong checkpoint, a bad --symbols: one line, exit 2
        ap.error(str(exc))
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, vocab.n_symbols, (args.batch, args.length), generator=g).tolist()
    times = {"multiset": [], "kv_cache": [], "recompute": []}
    ways = {"multiset": dict(cache=True), "kv_cache": dict(cache=True, multiset=False), "recompute": dict(cache=False)}
    if not model.attends_to_a_multiset():
        del times["multiset"], ways["multiset"]
    outs = {}
    for _ in range(args.repeats):
        for way, kwargs in ways.items():
            t0 = time.perf_counter()
            d = greedy_decode(model, vocab, inputs, **kwargs)
            times[way].append(time.perf_counter() - t0)
            outs[way] = d
    same = all(d.outputs == outs["recompute"].outputs for d in outs.values())
    correct = sum(y == sorted(set(x)) for x, y in zip(inputs, outs["kv_cache"].outputs, strict=True))
    med = {k: statistics.median(v) for k, v in times.items()}
    sps = {k: args.batch / v for k, v in med.items()}
    speedup = sps["kv_cache"] / sps["recompute"]
    print(
        json.dumps(
            {
                "benchmark": "sort_decode",
                "model": name,
                "batch": args.batch,
                "input_length": args.length,
                "decode_steps": outs["kv_cache"].steps,
                "threads": args.threads,
                "median_seconds": {k: round(v, 4) for k, v in med.items()},
                "sequences_per_s": {k: round(v, 1) for k, v in sps.items()},
                "speedup": round(speedup, 2),
                "multiset_over_kv_cache": round(sps["multiset"] / sps["kv_cache"], 2) if "multiset" in sps else None,
                "same_outputs": same,
                "exact_match": correct / args.batch,
                "target_speedup_ge_5": speedup >= 5 and same,
            }
        )
    )


if __name__ == "__main__":
    main()
