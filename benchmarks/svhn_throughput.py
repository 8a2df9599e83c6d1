"""Training throughput of Problem 1's CNN: the fast in-memory loop against the tutorial loop and the roofline.

Everything runs in this process (but the two `dlexam svhn train` runs at the end), on the same SVHN-format
data (synthetic, written and read as official .mat files), with windows interleaved so that every
variant sees the same machine load:

  baseline  the idiomatic tutorial loop: a per-sample Dataset that converts each RGB image to
            grayscale with PIL and to a float tensor, a DataLoader with batch 64 and shuffling,
            ExamCNN with PyTorch's own layers (fused=False), SGD (lr 0.01, momentum 0.9),
            default memory format.
  fast      dlexam.svhn.training.loop.train_one_epoch with the default TrainConfig, as `dlexam svhn
            train` runs it: ExamCNN (Conv-1 .. AvgPool-2 as one fused kernel when a C++ compiler is
            present, dlexam.svhn.kernels.fused; the engine is reported), one uint8 tensor, the batch
            gathered and standardised by the kernels, batch 256, channels_last, fused SGD.
  roofline  float32 GEMM (torch.mm, 1024 x 1024 x 1024) on the same thread counts, in the same
            windows: the compute roofline of a training step is GEMM's FLOP/s over the exam CNN's
            FLOPs per image per step, 3 x the forward pass's 2 x multiply-adds, from the spec's layer
            table (~1.39 MFLOP; counting Conv-1's input gradient, which the kernels never compute).

The fast loop is also run on PyTorch's own layers (ExamCNN(fused=False), default thread count):
what the fused kernels add, and what a machine without a C++ compiler gets.
Each is measured with PyTorch's default thread count (2 here) and with 1 thread. Reported: the
fast loop over the tutorial loop (`ratio`, target >= 7x), the fast loop as a fraction of the roofline
at each thread count (target >= 40% on 2 threads), and 2 threads over 1 (target >= 1.8x; null where the default is
1 thread, as under OMP_NUM_THREADS=1). Then,
not interleaved: the fast loop across both cores as two processes of one thread each (`torchrun
--nproc_per_node=2 -m dlexam svhn train`, DDP with gloo); the memory of the full SVHN train split
(73,257 images) as the loader holds it; and one epoch of `dlexam svhn train` with its defaults on
that split (a generated .mat of the official format and size; never downloaded).
Prints one JSON object as its last line.
Usage: python benchmarks/svhn_throughput.py [--windows 5] [--quick]
"""

# ruff: noqa: E402  (the OpenMP policy is set before torch is imported, as `dlexam` does)
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dlexam.cli import quiet_openmp_workers

quiet_openmp_workers()  # before torch loads, as `dlexam` does: measure the OpenMP policy users get

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from dlexam.spec import Conv, ExamSpec, Linear
from dlexam.svhn.data.official import image_stats, load_split
from dlexam.svhn.kernels import fused
from dlexam.svhn.model import ExamCNN
from dlexam.svhn.synthetic.digits import render, write_mat
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import train_one_epoch
from dlexam.svhn.training.step import make_optimizer


class TutorialSVHN(Dataset):
    """The tutorial way: one RGB image at a time through PIL, as torchvision's SVHN + ToTensor."""

    def __init__(self, rgb: np.ndarray, labels: np.ndarray):
        self.rgb, self.labels = rgb, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.rgb[i]).convert("L")
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)  # (1, 32, 32)
        return (x - 0.5) / 0.5, int(self.labels[i])


def baseline_window(loader_iter, model, opt, n_batches: int) -> float:
    t = time.perf_counter()
    seen = 0
    for _ in range(n_batches):
        x, y = next(loader_iter)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
    return seen / (time.perf_counter() - t)


def fast_window(model, opt, images, labels, cfg, epoch, img_stats) -> float:
    """images/s of one epoch of the fast loop."""
    stats = train_one_epoch(model, opt, images, labels, epoch=epoch, cfg=cfg, stats=img_stats)
    return stats["images"] / stats["seconds"]


def flops_per_image(cnn=None) -> int:
    """FLOPs of one training step per image: 3 x the forward pass's 2 x multiply-adds (convs and the linear layer)."""
    cnn = cnn or ExamSpec.version_a().cnn
    macs = 0
    for row in cnn.table():
        if isinstance(row.layer, Conv):
            (kh, kw), (c_in, _, _), (c_out, h, w) = row.layer.kernel, row.in_shape, row.out_shape
            macs += h * w * c_out * kh * kw * c_in
        elif isinstance(row.layer, Linear):
            macs += row.params - row.layer.out_features  # in x out weights, one multiply-add each
    return 3 * 2 * macs


def gemm_flops_per_s(n: int = 1024, reps: int = 5) -> float:
    """float32 GEMM's FLOP/s on the current thread count: the best of `reps` n x n x n products."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def train_command(data: Path, out: Path, extra: list[str], env: dict | None = None, nproc: int = 1) -> tuple:
    """Run `dlexam svhn train` (under torchrun when nproc > 1); (its wall seconds, metrics history) or an error."""
    cmd = [sys.executable, "-m", "dlexam"]
    if nproc > 1:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--master_addr=127.0.0.1",
               f"--master_port={port}", "-m", "dlexam"]
    cmd += ["svhn", "train", "--data", str(data), "--out", str(out), "--quiet", *extra]
    t = time.perf_counter()
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        return seconds, {"error": proc.stderr.strip().splitlines()[-1:]}
    return seconds, json.loads((out / "metrics.json").read_text())


def full_epoch(data: Path, out: Path) -> dict:
    """One epoch of `dlexam svhn train` with its defaults on the full train split (10% kept for validation)."""
    seconds, metrics = train_command(data, out, ["--epochs", "1"])
    if "error" in metrics:
        return metrics
    (row,) = metrics["history"]
    return {
        "images": 73_257,
        "trained_images": round(row["images_per_s"] * row["seconds"]),
        "epoch_seconds": round(row["seconds"], 2),
        "images_per_s": round(row["images_per_s"]),
        "command_seconds": round(seconds, 2),
        "engine": metrics["settings"].get("engine"),
    }


def ddp_images_per_s(data: Path, out: Path, epochs: int = 4) -> dict:
    """Train with `torchrun --nproc_per_node=2` (1 thread each) and read images/s per epoch."""
    _, metrics = train_command(data, out, ["--epochs", str(epochs), "--val-fraction", "0.05"],
                               env={"OMP_NUM_THREADS": "1"}, nproc=2)
    if "error" in metrics:
        return metrics
    per_epoch = [r["images_per_s"] for r in metrics["history"]]
    return {
        "processes": 2,
        "threads_each": 1,
        "epochs": [round(v) for v in per_epoch],
        "median": round(statistics.median(per_epoch)),
    }


def scaling(median_images_per_s: dict[int, float], default_threads: int) -> float | None:
    """The default thread count's median images/s over one thread's; None where the default is 1 thread
    (OMP_NUM_THREADS=1): one count measured, nothing to scale (it read 1.0 against the 1.8 target)."""
    if default_threads == 1:
        return None
    return round(median_images_per_s[default_threads] / median_images_per_s[1], 2)


def full_split_memory(tmp: Path) -> dict:
    """Write a full-size train .mat (73,257 images), load it twice, report bytes held and times."""
    n = 73_257
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    write_mat(tmp / "train_32x32.mat", rgb, rng.integers(0, 10, n))
    del rgb
    t = time.perf_counter()
    load_split(tmp, "train")
    first = time.perf_counter() - t
    t = time.perf_counter()
    images, labels = load_split(tmp, "train")
    second = time.perf_counter() - t
    held = images.element_size() * images.nelement() + labels.element_size() * labels.nelement()
    return {
        "images": n,
        "held_mb": round(held / 1e6, 1),
        "first_load_s": round(first, 2),
        "cached_load_s": round(second, 3),
        "target_mb": 100,
        "meets_target": held / 1e6 <= 100,
    }


# The sizes of a window: images rendered for the fast loop, its epochs per window (full: 65,536 images) and the
# tutorial loop's batches of 64 per window (full: 4,096 images); --quick takes QUICK's. --windows is the user's either
# way (no option is replaced by --quick's).
FULL = {"images": 16384, "fast_epochs": 4, "baseline_batches": 64}
QUICK = {"images": 2048, "fast_epochs": 1, "baseline_batches": 8}


def get_args_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=5, help="interleaved windows of every variant (default 5, with "
                    "--quick too)")
    ap.add_argument("--quick", action="store_true",
                    help=f"a smoke test: {QUICK['images']:,} images, not {FULL['images']:,}; {QUICK['fast_epochs']} "
                    f"epoch of the fast loop per window, not {FULL['fast_epochs']}; {QUICK['baseline_batches']} "
                    f"batches of the tutorial loop per window, not {FULL['baseline_batches']}; and none of the full "
                    "split's memory, the DDP run or the full epoch (--windows as given)")
    return ap


def main() -> None:
    ap = get_args_parser()
    args = ap.parse_args()
    if args.windows < 1:
        ap.error("--windows must be at least 1")
    size = QUICK if args.quick else FULL
    n_fast, fast_epochs, n_base_batches = size["images"], size["fast_epochs"], size["baseline_batches"]
    load_at_start = os.getloadavg()[0]

    tmpdir = tempfile.TemporaryDirectory()  # lives until the runs at the end
    tmp = Path(tmpdir.name)
    rgb, digits = render(n_fast, seed=0)
    write_mat(tmp / "train_32x32.mat", rgb, digits)
    images, labels = load_split(tmp, "train")
    memory = {} if args.quick else full_split_memory(tmp / "full")
    # the baseline reads the same pixels as RGB .mat content, as torchvision's SVHN does
    torch.manual_seed(0)
    base_model = ExamCNN(fused=False)  # PyTorch's own layers
    base_opt = torch.optim.SGD(base_model.parameters(), lr=0.01, momentum=0.9)
    base_loader = DataLoader(TutorialSVHN(rgb, digits), batch_size=64, shuffle=True, drop_last=True)

    def endless():
        while True:
            yield from base_loader

    base_iter = endless()
    torch.manual_seed(0)
    cfg = TrainConfig()
    fast_model = ExamCNN().to(memory_format=torch.channels_last)
    fast_opt = make_optimizer(fast_model, cfg)
    # the same fast loop on PyTorch's own layers: what the fused kernels add (and what a machine
    # without a C++ compiler gets)
    torch.manual_seed(0)
    layers_model = ExamCNN(fused=False).to(memory_format=torch.channels_last)
    layers_opt = make_optimizer(layers_model, cfg)

    default_threads = torch.get_num_threads()
    thread_counts = sorted({1, default_threads})
    baseline_window(base_iter, base_model, base_opt, 4)  # warm-up
    img_stats = image_stats(images)  # once per run, as fit() does
    head_stats = (img_stats[0][:2048], img_stats[1][:2048])
    fast_window(fast_model, fast_opt, images[:2048], labels[:2048], cfg, 0, head_stats)
    fast_window(layers_model, layers_opt, images[:2048], labels[:2048], cfg, 0, head_stats)
    per_image = flops_per_image()
    base = {t: [] for t in thread_counts}
    fast = {t: [] for t in thread_counts}
    gemm = {t: [] for t in thread_counts}
    layers = []  # fast loop, PyTorch's layers, default thread count
    epoch = 1
    for w in range(args.windows):  # interleaved, so every variant sees the same machine load
        for t in thread_counts:
            torch.set_num_threads(t)
            gemm[t].append(gemm_flops_per_s())
            base[t].append(baseline_window(base_iter, base_model, base_opt, n_base_batches))
            runs = [fast_window(fast_model, fast_opt, images, labels, cfg, epoch + e, img_stats)
                    for e in range(fast_epochs)]
            epoch += fast_epochs
            fast[t].append(len(runs) / sum(1 / r for r in runs))  # images/s over the window's epochs
            line = (f"window {w + 1}, {t} thread(s): GEMM {gemm[t][-1] / 1e9:.0f} GFLOP/s, baseline "
                    f"{base[t][-1]:.0f}, fast {fast[t][-1]:.0f} ({fused.wait_policy()})")
            if t == default_threads:
                layers.append(fast_window(layers_model, layers_opt, images, labels, cfg, w + 1, img_stats))
                line += f", fast on PyTorch's layers {layers[-1]:.0f}"
            print(line + " images/s", file=sys.stderr)
    torch.set_num_threads(default_threads)
    load_after_windows = os.getloadavg()[0]
    ddp = {} if args.quick else ddp_images_per_s(tmp, tmp / "ddp-run")
    epoch_run = {} if args.quick else full_epoch(tmp / "full", tmp / "full-run")
    tmpdir.cleanup()
    med_b = {t: statistics.median(v) for t, v in base.items()}
    med_f = {t: statistics.median(v) for t, v in fast.items()}
    med_g = {t: statistics.median(v) for t, v in gemm.items()}
    roofline = {t: med_g[t] / per_image for t in thread_counts}
    best_t = max(med_f, key=med_f.get)
    result = {
        "benchmark": "svhn_throughput",
        "default_threads": default_threads,
        "fast_engine": fast_model.engine,
        "kernel_wait_policy": fused.wait_policy(),
        "load_average": {"start": load_at_start, "after_windows": load_after_windows},
        "windows": args.windows,
        "baseline_images_per_s": round(med_b[default_threads]),
        "fast_images_per_s": round(med_f[best_t]),
        "fast_threads": best_t,
        "ratio": round(med_f[best_t] / med_b[default_threads], 2),
        "target_ratio": 7.0,
        "ratio_same_threads": {str(t): round(med_f[t] / med_b[t], 2) for t in thread_counts},
        "roofline": {
            "flops_per_image": per_image,
            "gemm_gflops": {str(t): round(med_g[t] / 1e9, 1) for t in thread_counts},
            "images_per_s": {str(t): round(roofline[t]) for t in thread_counts},
        },
        "fraction_of_roofline": {str(t): round(med_f[t] / roofline[t], 3) for t in thread_counts},
        "target_fraction_of_roofline": {str(default_threads): 0.40},
        "scaling": scaling(med_f, default_threads),
        "target_scaling": 1.8,
        "fast_pytorch_layers_images_per_s": round(statistics.median(layers)),
        "ratio_pytorch_layers": round(statistics.median(layers) / med_b[default_threads], 2),
        "median_images_per_s": {
            f"{kind}_{t}threads": round(v[t])
            for kind, v in (("baseline", med_b), ("fast", med_f))
            for t in thread_counts
        },
        "windows_images_per_s": {
            f"{kind}_{t}threads": [round(x) for x in v[t]]
            for kind, v in (("baseline", base), ("fast", fast))
            for t in thread_counts
        },
        "windows_gemm_gflops": {str(t): [round(x / 1e9) for x in v] for t, v in gemm.items()},
        "fast_ddp_2x1thread": ddp,
        "ratio_ddp": round(ddp["median"] / med_b[default_threads], 2) if "median" in ddp else None,
        "full_split_epoch": epoch_run,
        "memory": memory,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
