"""Benchmark: exam variants (issue 19 item 7): time per variant, 1,000 seeds audited, time to grade a submission.

1. Time per variant after import (target < 0.5 s, PDF excluded): make_variant (every draw and check) plus its
   Markdown exam and solution, key, Moodle XML, QTI zip and PrairieLearn folders, for fresh seeds. Baseline in the
   same run: the same seeds with the exact checks only (computed=False, what a PrairieLearn server runs), and
   Version A's Problem 2 computed once by the project's model (run_geoff, compare_heads, compare_gradients).
2. 1,000 seeds (--seeds), each variant audited by the independent oracles of tests/variants/test_oracles.py (a
   plain torch forward, nn.Conv2d and pooling, every option re-evaluated): no ill-posed variant may escape the
   checks. Also: how many draws each check refused, and the most draws a seed needed.
3. Time to grade one submission: the key as JSON, and a CSV with one wrong cell (parse + grade).

Prints one JSON object as its last line. `--quick` audits 100 seeds (an explicit `--seeds N` wins over it).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import statistics
import time
from pathlib import Path

from dlexam.cpu import torch_threads

TARGET_S = 0.5
ROOT = Path(__file__).resolve().parents[1]


def oracles():
    spec = importlib.util.spec_from_file_location("variant_oracles", ROOT / "tests" / "variants" / "test_oracles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_variant(seed: int, computed: bool = True) -> float:
    from dlexam.variants import documents, exports
    from dlexam.variants.build import make_variant

    t0 = time.perf_counter()
    v = make_variant.__wrapped__(seed, "standard", computed)  # uncached
    documents.markdown(v)
    documents.markdown(v, solution=True)
    json.dumps(v.to_json(), default=str)
    exports.moodle_xml(v)
    exports.qti_zip(v)
    exports.prairielearn(v)
    return time.perf_counter() - t0


def version_a_problem2() -> float:
    from dlexam import geoff

    t0 = time.perf_counter()
    geoff.run_geoff()
    geoff.compare_heads()
    geoff.compare_gradients()
    return time.perf_counter() - t0


def grading() -> dict:
    from dlexam.spec import text
    from dlexam.variants.build import make_variant
    from dlexam.variants.grade import grade
    from dlexam.variants.submission import read_submission

    v = make_variant(1)
    key = json.dumps(v.key()).encode()
    lines = [f"seed,{v.seed}"]
    for aid, value in v.key().items():
        if aid not in ("seed", "difficulty"):
            lines += [",".join([aid, *r]) for r in value] if isinstance(value, list) else [f"{aid},{value}"]
    p = next(i for i, line in enumerate(lines) if line.startswith("Pr2.2.P,"))
    cells = lines[p].split(",")
    cells[1] = text(v.question("Pr2.2").fields[1].answer[0][0] + 1)  # one wrong cell
    lines[p] = ",".join(cells)
    csv_bytes = "\n".join(lines).encode()
    times = {"json_key": [], "csv_one_wrong_cell": []}
    for _ in range(200):
        for name, data in (("json_key", key), ("csv_one_wrong_cell", csv_bytes)):
            t0 = time.perf_counter()
            grade(v, read_submission(data))
            times[name].append(time.perf_counter() - t0)
    return {f"grade_{k}_median_ms": round(1000 * statistics.median(t), 3) for k, t in times.items()}


SEEDS, QUICK_SEEDS = 1000, 100  # seeds audited: by default, and with --quick unless --seeds says otherwise


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=None,
                    help=f"how many seeds to audit (default {SEEDS:,}; {QUICK_SEEDS} with --quick); given, it wins "
                    "over --quick's default")
    ap.add_argument("--quick", action="store_true",
                    help=f"audit {QUICK_SEEDS} seeds, not {SEEDS:,} (an explicit --seeds N still audits N)")
    return ap


def audited_seeds(args: argparse.Namespace) -> int:
    """How many seeds to audit: --seeds where given (also with --quick: it had silently replaced a user's --seeds
    with 100), else --quick's 100, else 1,000."""
    if args.seeds is not None:
        return args.seeds
    return QUICK_SEEDS if args.quick else SEEDS


def main() -> None:
    ap = get_args_parser()
    args = ap.parse_args()
    if args.seeds is not None and args.seeds < 1:
        ap.error("--seeds must be at least 1")
    n = audited_seeds(args)
    from dlexam.variants.build import make_variant

    with torch_threads(1):
        one_variant(10**6)  # warm up: imports, torch's first calls
        fresh = range(10**6 + 1, 10**6 + 41)
        full = [one_variant(s) for s in fresh]
        exact_only = [one_variant(s, computed=False) for s in fresh]
        version_a = statistics.median(version_a_problem2() for _ in range(5))
        audit, refused, attempts, escaped = oracles(), collections.Counter(), [], []
        t0 = time.perf_counter()
        for seed in range(n):
            v = make_variant.__wrapped__(seed, "standard", True)
            attempts.append(len(v.attempts))
            for a in v.attempts[:-1]:
                refused.update({f.split(":")[0] for f in a.failures})
            try:
                audit.check_part1(v)
                audit.check_problem1(v)
                audit.check_problem2(v)
            except AssertionError as exc:
                escaped.append({"seed": seed, "oracle": str(exc)[:200]})
        audit_s = time.perf_counter() - t0
        grade_times = grading()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    median = statistics.median(full)
    print(json.dumps({
        "benchmark": "variants",
        "variant_median_s": round(median, 4), "variant_max_s": round(max(full), 4), "target_s": TARGET_S,
        "median_over_target": round(median / TARGET_S, 3),
        "baseline_exact_checks_only_median_s": round(statistics.median(exact_only), 4),
        "baseline_version_a_problem2_s": round(version_a, 4),
        "variant_over_version_a_problem2": round(median / version_a, 2),
        "audited_seeds": n, "ill_posed_escaped": len(escaped), "escaped": escaped[:5],
        "audit_s": round(audit_s, 1), "draws_per_variant_mean": round(statistics.mean(attempts), 2),
        "draws_max": max(attempts), "refusals_by_check": dict(refused.most_common()),
        **grade_times, "loadavg": load,
    }))


if __name__ == "__main__":
    main()
