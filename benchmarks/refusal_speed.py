"""How long `dlexam` takes to refuse a bad argument, against a Python process that does nothing.

A refusal is one line and exit status 2 (docs/reliability.md). Until 2026-12-07 most refusals of a flag's value came
after the command had imported torch (`dlexam svhn train --epochs 0`: about a second on the 2-core machine, most of it
torch's import), though no check needs it; now the parser refuses them as it reads them (dlexam.commands.options).

Each refusal below runs as a whole process (`python -m dlexam ...`), in turn with the baseline (`python -c pass`: the
interpreter's own start), `--repeats` times; the median wall time of each, and its ratio to the baseline's, are
reported. Every run is checked to be a refusal (exit status 2, one line on stderr). The last line is one JSON object.
Usage: python benchmarks/refusal_speed.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlexam.commands.options import whole_number
from dlexam.limits import Span

REFUSALS = {  # name -> argv after `python -m dlexam` (MISSING: a path that is not there)
    "svhn train --epochs 0": ["svhn", "train", "--out", "MISSING", "--epochs", "0"],
    "sort train --max-len 0": ["sort", "train", "--out", "MISSING", "--max-len", "0"],
    "svhn predict MISSING.png": ["svhn", "predict", "MISSING.png"],
    "geoff --temperature -1": ["geoff", "--temperature", "-1"],
}
BASELINE = [sys.executable, "-c", "pass"]


def timed(argv: list[str], env: dict, *, refusal: bool) -> float:
    """Wall seconds of one process running `argv`; a refusal must exit 2 with one line on stderr."""
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    seconds = time.perf_counter() - t0
    if refusal and (p.returncode != 2 or len(p.stderr.strip().splitlines()) != 1):
        sys.exit(f"refusal_speed: {argv[3:]} was no one-line refusal (exit {p.returncode}): {p.stderr[-500:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=whole_number(Span(1, 100, whole=True)), default=7,
                        help="runs of each command, a whole number in [1, 100] (default 7)")
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        missing = str(Path(tmp) / "missing")
        commands = {name: [sys.executable, "-m", "dlexam", *[w.replace("MISSING", missing) for w in argv]]
                    for name, argv in REFUSALS.items()}
        for argv in [BASELINE, *commands.values()]:  # a warm-up of each: the file cache, .pyc files
            timed(argv, env, refusal=argv is not BASELINE)
        times: dict[str, list[float]] = {"baseline": [], **{name: [] for name in commands}}
        for _ in range(args.repeats):
            for name, argv in commands.items():  # the baseline beside each refusal, so that drift hits both
                times["baseline"].append(timed(BASELINE, env, refusal=False))
                times[name].append(timed(argv, env, refusal=True))
    base = statistics.median(times["baseline"])
    result = {"baseline": "python -c pass", "baseline_median_s": round(base, 4), "repeats": args.repeats,
              "refusals": {name: {"median_s": round(statistics.median(t), 4),
                                  "over_baseline": round(statistics.median(t) / base, 2)}
                           for name, t in times.items() if name != "baseline"}}
    for name, r in result["refusals"].items():
        print(f"{name:28s} {r['median_s']:.3f} s  ({r['over_baseline']:.1f}x python -c pass, {base:.3f} s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
