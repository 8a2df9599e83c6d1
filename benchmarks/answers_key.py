"""Benchmark: the whole answer key (`dlexam answers`) must run in under 60 s on this machine.

Runs the key as shipped (one intra-op thread, see dlexam.cpu.torch_threads) three
times, and three times with PyTorch's default thread count as the baseline, in the same process,
the two interleaved so that both see the same drift in the machine's load; the ratio is of the medians.
Prints one JSON object as its last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch

from dlexam.answers import answer_key, registry
from dlexam.errors import UserError

BUDGET_S = 60.0


def run_key() -> tuple[float, list]:
    t0 = time.perf_counter()
    key = answer_key()
    return time.perf_counter() - t0, key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args()  # no options: --help, and a typo exits 2
    try:
        answer_key(["P1.4"])  # import everything once; the exam text is read (and checked) here first
    except UserError as exc:  # no exam text, or a text that is not the exam: one line, exit 2
        ap.error(str(exc))
    original = registry.torch_threads
    times, baselines = [], []
    for _ in range(3):  # interleaved: the shipped key, then the baseline (torch's default threads)
        t, key = run_key()
        times.append(t)
        registry.torch_threads = lambda *a, **k: contextlib.nullcontext()
        try:
            baselines.append(run_key()[0])
        finally:
            registry.torch_threads = original
    per_question = {a.id: a.seconds for a in key}
    median, baseline = statistics.median(times), statistics.median(baselines)
    slowest = sorted(per_question.items(), key=lambda kv: -kv[1])[:3]
    print(json.dumps({
        "benchmark": "answers_key",
        "questions": len(per_question),
        "median_s": round(median, 3),
        "runs_s": [round(t, 3) for t in times],
        "budget_s": BUDGET_S,
        "median_over_budget": round(median / BUDGET_S, 4),
        "baseline_default_threads_s": round(baseline, 3),
        "baseline_runs_s": [round(t, 3) for t in baselines],
        "default_threads": torch.get_num_threads(),
        "speedup_vs_default_threads": round(baseline / median, 2),
        "slowest_questions_s": dict(slowest),
    }))


if __name__ == "__main__":
    main()
