"""Training beside other work: throughput with and without a competing busy process.

On this 2-core machine a busy second process used to make two-thread PyTorch runs collapse by
10-25x: GNU OpenMP's worker threads spin-wait for work, and a spinning thread that has lost its
core holds up every parallel region (issue 13). The fused kernels now run on their own thread pool
(dlexam/svhn/kernels/pool.h): fixed chunks of a batch taken from one counter, waits that spin only
while the machine's load leaves a core per thread and sleep otherwise (issue 23). Each
configuration here trains Problem 1's CNN with the fast loop (`dlexam.svhn.training.loop.
train_one_epoch`, as `dlexam svhn train` does) in a fresh process for a few seconds and reports
images/s, on a quiet machine and beside one busy process (a Python loop spinning on one core):

  2 threads, dlexam's defaults             OMP_WAIT_POLICY=PASSIVE (as `dlexam` sets), kernels' wait by load
  2 threads, kernels always spin           DLEXAM_KERNEL_WAIT=spin
  2 threads, kernels always sleep          DLEXAM_KERNEL_WAIT=sleep
  2 threads, OpenMP's default wait         OMP_WAIT_POLICY unset (PyTorch's own threads spin, then sleep)
  1 thread                                 no second thread to wait for

The target (issue 23): with the defaults, beside one busy process, no worse than 1.5x slower than
on a quiet machine (`busy_over_quiet` >= 0.67). The last line is one JSON object: median images/s
of each, the ratios, the wait policy each run ended with, and the load.
Usage: python benchmarks/thread_contention.py [--seconds 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from dlexam.commands.options import number_in, whole_number  # 1e-400 refused as typed, never read as 0
from dlexam.limits import Span

CHILD = r"""
import sys, time, torch
seconds, threads = float(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from dlexam.svhn.model import ExamCNN
from dlexam.svhn.synthetic.digits import render
from dlexam.svhn.data.official import rgb_to_gray, image_stats
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import train_one_epoch
from dlexam.svhn.training.step import make_optimizer
rgb, digits = render(8192, seed=0)
images, labels = torch.from_numpy(rgb_to_gray(rgb)), torch.from_numpy(digits)
from dlexam.svhn.kernels import fused
torch.manual_seed(0)
model = ExamCNN().to(memory_format=torch.channels_last)
cfg = TrainConfig()
opt = make_optimizer(model, cfg)
stats = image_stats(images)
train_one_epoch(model, opt, images[:1024], labels[:1024], epoch=0, cfg=cfg, stats=(stats[0][:1024], stats[1][:1024]))
seen, t0, epoch = 0, time.perf_counter(), 1
while time.perf_counter() - t0 < seconds:
    r = train_one_epoch(model, opt, images, labels, epoch=epoch, cfg=cfg, stats=stats)
    seen, epoch = seen + r["images"], epoch + 1
print(seen / (time.perf_counter() - t0), model.engine == "fused", fused.wait_policy())
"""

# --seconds: a run of 1e-9 s trained no epoch (0 images/s, then ZeroDivisionError after every run); nan none either,
# inf no end. A run of a second or more trains at least one epoch.
RUN_SECONDS = Span(1, 600)

BUSY = "while True:\n    pass\n"


def images_per_s(seconds: float, threads: int, env_set: dict) -> tuple[float, str]:
    """(images/s, the kernels' wait policy at the end) of one fresh training process."""
    drop = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "DLEXAM_KERNEL_WAIT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_set)
    out = subprocess.run([sys.executable, "-c", CHILD, str(seconds), str(threads)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    rate, fused_engine, policy = out.stdout.strip().splitlines()[-1].split()
    if fused_engine != "True":
        policy = "eager"
    return float(rate), policy


CONFIGS = {
    "2 threads, dlexam's defaults": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
    "2 threads, kernels always spin": (2, {"OMP_WAIT_POLICY": "PASSIVE", "DLEXAM_KERNEL_WAIT": "spin"}),
    "2 threads, kernels always sleep": (2, {"OMP_WAIT_POLICY": "PASSIVE", "DLEXAM_KERNEL_WAIT": "sleep"}),
    "2 threads, OpenMP's default wait": (2, {}),
    "1 thread": (1, {"OMP_WAIT_POLICY": "PASSIVE"}),
}
DEFAULTS = "2 threads, dlexam's defaults"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=number_in(RUN_SECONDS), default=6.0,
                    help=f"each run's training, {RUN_SECONDS.words()} (default 6)")
    ap.add_argument("--repeats", type=whole_number(Span(1, 100, whole=True)), default=3,
                    help="runs of each configuration, a whole number in [1, 100] (default 3)")
    args = ap.parse_args()
    load_at_start = os.getloadavg()[0]
    results: dict[str, dict[str, list[float]]] = {"quiet": {k: [] for k in CONFIGS}, "busy": {k: [] for k in CONFIGS}}
    policies: dict[str, dict[str, list[str]]] = {"quiet": {k: [] for k in CONFIGS}, "busy": {k: [] for k in CONFIGS}}
    for _ in range(args.repeats):  # interleaved, so that every configuration sees the same drift
        for load in ("quiet", "busy"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "busy" else None
            try:
                for name, (threads, env) in CONFIGS.items():
                    rate, policy = images_per_s(args.seconds, threads, env)
                    results[load][name].append(rate)
                    policies[load][name].append(policy)
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    med = {load: {k: round(statistics.median(v)) for k, v in r.items()} for load, r in results.items()}
    busy_over_quiet = {k: round(med["busy"][k] / med["quiet"][k], 3) for k in CONFIGS}
    print(json.dumps({
        "benchmark": "thread_contention",
        "load_average": {"start": load_at_start, "end": os.getloadavg()[0]},
        "images_per_s_median": med,
        "runs": {load: {k: [round(x) for x in v] for k, v in r.items()} for load, r in results.items()},
        "wait_policy_at_end": policies,
        "busy_over_quiet": busy_over_quiet,
        "target_busy_over_quiet": round(1 / 1.5, 3),
        "meets_target": busy_over_quiet[DEFAULTS] >= 1 / 1.5,
        "busy_defaults_over_one_thread": round(med["busy"][DEFAULTS] / med["busy"]["1 thread"], 2),
        "quiet_defaults_over_one_thread": round(med["quiet"][DEFAULTS] / med["quiet"]["1 thread"], 2),
    }))


if __name__ == "__main__":
    main()
