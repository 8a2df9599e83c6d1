"""What pinning the instruction set buys and costs: the same recipe rebuilt under several CPU settings.

`dlexam svhn train --recipe R` pins the instruction set before torch loads (dlexam.svhn.training.pinning:
PyTorch's kernels on their AVX2 path, MKL in its AVX2 reproducibility mode, the fused kernels built
for x86-64-v3). This runs the command in child processes under:

  pinned         the command as users run it
  pinned_mkl_avx2
                 the same, with MKL told this CPU has nothing above AVX2 (MKL_ENABLE_INSTRUCTIONS=AVX2):
                 how a rebuild on an AVX2-only machine differs where the pin does not hold
  native         no pin (DLEXAM_PIN_ISA=0): torch's own choice of kernels (AVX512 on such a machine),
                 MKL free, the fused kernels built with -march=native

and compares the weights bit for bit, and the wall and CPU time of each (the cost of the pin is
pinned / native, measured here, in one run, one after the other). Prints one JSON object last.

Usage: python benchmarks/svhn_pinning.py [--recipe quick|shipped] [--seed 0] [--repeat 1]
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
from dlexam.commands.options import whole_number

SETTINGS = {
    "pinned": {},
    "pinned_mkl_avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},
    "native": {"DLEXAM_PIN_ISA": "0"},
}


def run(recipe: str, seed: int, out: Path, extra_env: dict) -> dict:
    pinned_names = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "DLEXAM_KERNEL_MARCH", "DLEXAM_PIN_ISA")
    env = {k: v for k, v in os.environ.items() if k not in pinned_names}
    env.update(extra_env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    cmd = [sys.executable, "-m", "dlexam", "svhn", "train", "--recipe", recipe, "--seed", str(seed), "--threads", "1",
           "--out", str(out), "--json", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    payload = torch.load(out / "model.pt", weights_only=True)
    r = json.loads(proc.stdout)
    return {"wall_seconds": round(wall, 1),
            "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "instruction_set": payload["extra"]["settings"]["instruction_set"],
            "checks": {k: v.get("accuracy") for k, v in r["checks"].items()},
            "state_dict": payload["state_dict"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", default="quick", choices=("quick", "shipped"))
    ap.add_argument("--seed", type=whole_number(bounds.SEED), default=0)  # `svhn train`'s range
    ap.add_argument("--repeat", type=int, default=1, help="runs of each setting, interleaved (times: medians)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    out = {"benchmark": "svhn_pinning", "recipe": args.recipe, "seed": args.seed,
           "load_average_start": os.getloadavg()[0], "settings": {}}
    results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for name, env in SETTINGS.items():
                results[name].append(run(args.recipe, args.seed, Path(tmp) / f"{name}-{i}", env))
                print(name, {k: v for k, v in results[name][-1].items() if k != "state_dict"}, file=sys.stderr)
    ref = results["pinned"][0]["state_dict"]
    for name, rs in results.items():
        walls = sorted(r["wall_seconds"] for r in rs)
        cpus = sorted(r["cpu_seconds"] for r in rs)
        out["settings"][name] = {
            "wall_seconds_median": walls[len(walls) // 2], "cpu_seconds_median": cpus[len(cpus) // 2],
            "instruction_set": rs[0]["instruction_set"], "checks": rs[0]["checks"],
            "bit_identical_to_pinned": all(torch.equal(r["state_dict"][k], v) for r in rs for k, v in ref.items()),
            "max_weight_difference_to_pinned": max(float((r["state_dict"][k] - v).abs().max())
                                                   for r in rs for k, v in ref.items()),
        }
    s = out["settings"]
    native_cpu = max(s["native"]["cpu_seconds_median"], 1e-9)
    out["pin_cost_cpu_ratio"] = round(s["pinned"]["cpu_seconds_median"] / native_cpu, 3)
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
