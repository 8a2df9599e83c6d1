"""Two-thread collapse under load: training throughput with and without a competing busy process.

On this 2-core machine a busy second process used to make two-thread PyTorch runs collapse by
10-25x: GNU OpenMP's worker threads spin-wait for work, and a spinning thread that has lost its
core holds up every parallel region. Each configuration here trains Problem 1's CNN with the fast
loop (`dlexam.svhn.training.loop.train_one_epoch`, as `dlexam svhn train` does) in a fresh process for a
few seconds and reports images/s:

  threads 2, OpenMP's default wait policy (spin, then sleep)     the baseline
  threads 2, OMP_WAIT_POLICY=PASSIVE (workers sleep at once)     what `dlexam` sets before torch loads
  threads 1                                                      no second thread to wait for

each on a quiet machine and beside one busy process (a Python loop spinning on one core). The
last line is one JSON object: median images/s of each, and the ratios.
Usage: python benchmarks/thread_contention.py [--seconds 6] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import sys, time, torch
seconds, threads = float(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
from dlexam.svhn.model import ExamCNN
from dlexam.svhn.synthetic.digits import render
from dlexam.svhn.data.official import rgb_to_gray, image_stats
from dlexam.svhn.training.loop import TrainConfig, make_optimizer, train_one_epoch
rgb, digits = render(8192, seed=0)
images, labels = torch.from_numpy(rgb_to_gray(rgb)), torch.from_numpy(digits)
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
print(seen / (time.perf_counter() - t0))
"""

BUSY = "while True:\n    pass\n"


def images_per_s(seconds: float, threads: int, policy: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = subprocess.run([sys.executable, "-c", CHILD, str(seconds), str(threads)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    configs = {"2 threads, default wait": (2, None), "2 threads, PASSIVE": (2, "PASSIVE"), "1 thread": (1, None)}
    results: dict[str, dict[str, list[float]]] = {"quiet": {k: [] for k in configs}, "busy": {k: [] for k in configs}}
    for _ in range(args.repeats):  # interleaved, so that every configuration sees the same drift
        for load in ("quiet", "busy"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if load == "busy" else None
            try:
                for name, (threads, policy) in configs.items():
                    results[load][name].append(images_per_s(args.seconds, threads, policy))
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    med = {load: {k: round(statistics.median(v)) for k, v in r.items()} for load, r in results.items()}
    base, passive, one = "2 threads, default wait", "2 threads, PASSIVE", "1 thread"
    print(json.dumps({
        "benchmark": "thread_contention",
        "load_average_at_start": os.getloadavg()[0],
        "images_per_s_median": med,
        "runs": {load: {k: [round(x) for x in v] for k, v in r.items()} for load, r in results.items()},
        "busy_over_quiet": {k: round(med["busy"][k] / med["quiet"][k], 3) for k in configs},
        "busy_passive_over_default": round(med["busy"][passive] / med["busy"][base], 2),
        "quiet_passive_over_default": round(med["quiet"][passive] / med["quiet"][base], 3),
        "busy_one_thread_over_default": round(med["busy"][one] / med["busy"][base], 2),
    }))


if __name__ == "__main__":
    main()
