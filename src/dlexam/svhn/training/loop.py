"""Training for Problem 1's CNN: a fast in-memory loop, checkpoints, exact resume, and DDP.

Split as torchvision's references/classification/train.py: :func:`load_data`,
:func:`train_one_epoch`, :func:`evaluate`, :func:`fit`; the run directory around it (checkpoints,
metrics, `dlexam svhn train`) is :mod:`dlexam.svhn.training.runs`. A step's parts (the schedule, the
optimizer, the loss) are :mod:`dlexam.svhn.training.step`, the settings :mod:`dlexam.svhn.training.config`, and
the ranks of a distributed run :mod:`dlexam.svhn.training.distributed`. The loop knows nothing about the model
it trains: it takes any module mapping (B, 1, 32, 32) floats to (B, classes) logits.

Why it is fast on a CPU (docs/svhn.md measures each step): the data stay one uint8 tensor (N, 32, 32)
and a whole batch is indexed, converted and standardised at once (no per-sample Dataset, no
DataLoader, no PIL), with per-image statistics computed once per run, the next batch by the fused
kernels' worker threads while a step runs; batches are large (256); ExamCNN's conv + ReLU + pool
stages run as one fused kernel in training (dlexam.svhn.kernels.fused, compiled on first use;
PyTorch's layers where there is no C++ compiler), on the kernels' own threads while PyTorch's small
operations of the step run on one (kernels.own_threads); tensors are channels_last; the optimizer is
PyTorch's fused SGD (or Adam); the loss is read once a step.

Exact resume: the order of epoch e is a permutation drawn from a generator seeded by (seed, e),
the learning rate is a pure function of the global step, and each checkpoint holds the model,
the optimizer state, the epoch, the history and the RNG state. So training epochs 0..k-1, saving,
and resuming at epoch k gives the same weights as an uninterrupted run.

Distributed: under ``torchrun`` (WORLD_SIZE > 1) each process takes every world-th sample of the
same global batch; DistributedDataParallel averages the gradients, and the loss is scaled so the
average equals the gradient of the global batch's mean loss. Only rank 0 writes files.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam.cpu import torch_threads
from dlexam.errors import NonFiniteLoss, SettingsTogether
from dlexam.progress import Progress, ProgressFn, report
from dlexam.svhn.data.official import image_stats, load_labelled
from dlexam.svhn.kernels import fused as kernels
from dlexam.svhn.training.batches import Batches, batch
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.distributed import Dist, all_reduce
from dlexam.svhn.training.step import (
    autograd_backward,
    epoch_order,
    learning_rate,
    make_optimizer,
    sgd_step,
    steps_per_epoch,
)

NUM_CLASSES = 10


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epoch: int,
    cfg: TrainConfig,
    total_steps: int | None = None,
    dist: Dist | None = None,
    progress: ProgressFn | None = None,
    deadline: float | None = None,
    step_losses: list | None = None,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> dict:
    """One pass over `images` (uint8 (N, 32, 32)) in the order epoch_order(N, cfg.seed, epoch).

    Returns {"loss", "accuracy", "images", "seconds", "complete"}; `complete` is False when the
    wall-clock `deadline` (time.perf_counter() value) stopped the epoch early. `stats`: the
    images' per-image mean and std from image_stats(images), computed here when not given.
    `progress` gets a batch count every 10 steps with the running loss and accuracy.
    `augment(x, generator)` transforms each standardised batch (dlexam.svhn.training.augment); its
    generator is seeded by (cfg.seed, epoch), so a resumed epoch is augmented as the original.
    """
    stats = stats if stats is not None else image_stats(images)
    d = dist or Dist()
    model.train()
    n = images.shape[0]
    order = epoch_order(n, cfg.seed, epoch)
    spe = steps_per_epoch(n, cfg.batch_size)
    loss_sum = 0.0
    correct = torch.zeros((), dtype=torch.int64)
    seen = 0
    task = f"epoch {epoch + 1}"
    aug_gen = torch.Generator().manual_seed(int(cfg.seed) * 1_000_003 + int(epoch) + 500_009)
    batches = Batches(images, d.device, stats, channels_last=cfg.channels_last)
    # the whole step fused where the model offers it (ExamCNN.fused_step) and no DDP wrapper needs autograd
    whole_step = hasattr(model, "fused_step") and d.world == 1

    def share(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The global batch of `step` and this process's every world-th share of it."""
        global_idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        return global_idx, global_idx[d.rank :: d.world]

    t0 = time.perf_counter()
    complete = True
    with kernels.own_threads(model):  # fused: the kernels on every thread, PyTorch's small operations on one
        batches.start(share(0)[1])
        for i in range(spe):
            if deadline is not None and time.perf_counter() >= deadline:
                complete = False
                break
            for g in optimizer.param_groups:
                g["lr"] = learning_rate(cfg, epoch * spe + i, total_steps)
            global_idx, idx = share(i)
            x = batches.take()
            if augment is not None:
                with torch_threads(kernels.kernel_threads()):  # every thread for the augmentation's image ops
                    x = augment(x.cpu(), aug_gen).to(d.device)
                x = x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x
            y = labels.index_select(0, idx).to(d.device)
            # sum / global batch * world: DDP's average over processes is then the global mean's gradient
            scale = d.world / len(global_idx)
            fused = model.fused_step(x, y, scale) if whole_step else None  # loss and gradients in one C call
            if fused is None:
                logits = model(x)
            if i + 1 < spe:
                batches.start(share(i + 1)[1])  # the next batch, on the kernels' idle threads while this step goes on
            if fused is None:
                loss_value, right = autograd_backward(optimizer, logits, y, scale)
                batch_loss = loss_value * len(global_idx) / d.world  # this process's summed loss, in double
            else:
                batch_loss, right = fused
                loss_value = batch_loss * scale
            if not math.isfinite(loss_value):  # stop before a NaN reaches the weights (and any checkpoint)
                raise NonFiniteLoss(f"epoch {epoch + 1}, batch {i + 1}", loss_value)
            sgd_step(optimizer)
            loss_sum += batch_loss
            correct += right
            seen += len(global_idx)
            if step_losses is not None:
                step_losses.append(batch_loss / max(1, len(idx)))
            if progress is not None and i % 10 == 0:
                info = {"loss": loss_sum / max(1, seen) * d.world, "acc": float(correct) / max(1, seen) * d.world}
                progress(Progress(task, i + 1, spe, "batch", info))
    report(progress, Progress(task, spe, spe, "batch", finished=True))
    totals = all_reduce(torch.stack([torch.tensor(loss_sum, dtype=torch.float64), correct.double()]), d)
    seconds = time.perf_counter() - t0
    return {
        "loss": float(totals[0]) / max(1, seen),
        "accuracy": float(totals[1]) / max(1, seen),
        "images": seen,
        "seconds": seconds,
        "complete": complete,
    }


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1024,
    dist: Dist | None = None,
    channels_last: bool = True,
) -> dict:
    """Loss, accuracy, per-class accuracy and the confusion matrix (rows: true, columns: predicted).

    A digit without images has no accuracy: its per_class entry is None (not 0.0, which would say every
    one of them was misread)."""
    d = dist or Dist()
    model.eval()
    idx_all = torch.arange(images.shape[0])[d.rank :: d.world]
    confusion = torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.int64)
    loss_sum = torch.zeros((), dtype=torch.float64)
    cfg = TrainConfig(channels_last=channels_last)
    for i in range(0, len(idx_all), batch_size):
        idx = idx_all[i : i + batch_size]
        logits = model(batch(images, idx, d.device, channels_last=cfg.channels_last)).float().cpu()
        y = labels[idx]
        loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
        counts = torch.bincount(y * NUM_CLASSES + logits.argmax(1), minlength=NUM_CLASSES**2)
        confusion += counts.reshape(NUM_CLASSES, NUM_CLASSES)  # (100,) -> (true, predicted)
    confusion = all_reduce(confusion, d)
    loss_sum = all_reduce(loss_sum, d)
    n = int(confusion.sum())
    per_class = [float(right) / int(total) if total else None
                 for right, total in zip(confusion.diag().tolist(), confusion.sum(1).tolist(), strict=True)]
    return {
        "loss": float(loss_sum) / max(1, n),
        "accuracy": float(confusion.diag().sum()) / max(1, n),
        "n": n,
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def _placed(model: nn.Module, cfg: TrainConfig, d: Dist) -> tuple[nn.Module, nn.Module]:
    """(the model on its device and memory format, the module to train: DDP's wrapper under torchrun)."""
    if cfg.threads:  # each rank's own count under torchrun (without it: the CPUs shared out, setup_distributed)
        torch.set_num_threads(cfg.threads)
    model = model.to(d.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if d.world > 1:
        for param in model.parameters():  # a one-channel kernel (Conv-1's 8x1x5x5): its gradient comes back
            if param.dim() == 4 and param.shape[1] == 1:  # contiguous, and DDP warns of strides unlike its bucket's
                param.data = param.data.clone(memory_format=torch.contiguous_format)
        return model, nn.parallel.DistributedDataParallel(
            model, device_ids=[d.device.index] if d.device.type == "cuda" else None
        )
    return model, model


def _epoch_row(epoch: int, stats: dict, lr: float) -> dict:
    """One row of the history from train_one_epoch's figures."""
    return {
        "epoch": epoch + 1,
        "train_loss": stats["loss"],
        "train_accuracy": stats["accuracy"],
        "seconds": stats["seconds"],
        "images_per_s": stats["images"] / max(stats["seconds"], 1e-9),
        "lr": lr,
        "complete": stats["complete"],
    }


def fit(
    model: nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor | None = None,
    val_y: torch.Tensor | None = None,
    *,
    cfg: TrainConfig | None = None,
    time_budget: float | None = None,
    start_epoch: int = 0,
    optimizer: torch.optim.Optimizer | None = None,
    history: list | None = None,
    on_epoch_end: Callable[[int, nn.Module, torch.optim.Optimizer, list], None] | None = None,
    progress: ProgressFn | None = None,
    dist: Dist | None = None,
    step_losses: list | None = None,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> dict:
    """Train `model` on in-memory uint8 images for cfg.epochs epochs (or until `time_budget` s).

    Returns {"history": one dict per epoch (epoch, train_loss, train_accuracy, val_loss,
    val_accuracy, seconds, images_per_s, lr, complete), "model", "optimizer", "seconds",
    "stopped_by_time_budget"}. This is the entry
    point for experiments: it needs no files. `augment(x, generator)`, if given, transforms each
    standardised training batch (dlexam.svhn.training.augment.Augment; never the validation images).
    """
    cfg = cfg or TrainConfig()
    d = dist or Dist()
    model, train_model = _placed(model, cfg, d)
    optimizer = optimizer or make_optimizer(model, cfg)
    history = list(history or [])
    spe = steps_per_epoch(train_x.shape[0], cfg.batch_size)
    total_steps = None if time_budget else cfg.epochs * spe
    deadline = time.perf_counter() + time_budget if time_budget else None
    img_stats = image_stats(train_x)  # per-image mean and std, once for the whole run
    t0 = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs if not time_budget else 10**9):
        stats = train_one_epoch(
            train_model,
            optimizer,
            train_x,
            train_y,
            epoch=epoch,
            cfg=cfg,
            total_steps=total_steps,
            dist=d,
            progress=progress,
            deadline=deadline,
            step_losses=step_losses,
            stats=img_stats,
            augment=augment,
        )
        row = _epoch_row(epoch, stats, learning_rate(cfg, (epoch + 1) * spe, total_steps))
        if val_x is not None and len(val_x):
            ev = evaluate(model, val_x, val_y, dist=d, channels_last=cfg.channels_last)
            row.update(val_loss=ev["loss"], val_accuracy=ev["accuracy"])
        if stats["images"]:
            history.append(row)
        if on_epoch_end is not None and stats["complete"]:
            on_epoch_end(epoch, model, optimizer, history)
        if not stats["complete"]:
            break
    return {
        "history": history,
        "model": model,
        "optimizer": optimizer,
        "seconds": time.perf_counter() - t0,
        "stopped_by_time_budget": deadline is not None and time.perf_counter() >= deadline,
    }


def train_cnn(
    model_cfg=None,
    train_x=None,
    train_y=None,
    val_x=None,
    val_y=None,
    *,
    cfg: TrainConfig | None = None,
    time_budget: float | None = None,
    **kw,
) -> dict:
    """Seed, build an ExamCNN from `model_cfg` (a CNNConfig), and :func:`fit` it. For experiments."""
    from dlexam.svhn.model import ExamCNN

    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    return fit(ExamCNN(model_cfg), train_x, train_y, val_x, val_y, cfg=cfg, time_budget=time_budget, **kw)


def load_data(data_dir, *, val_fraction: float = 0.1, split_seed: int = 0, quick: bool = False) -> dict:
    """Train split (an SVHN folder's train_32x32.mat, or an image folder) -> train/validation with their
    own seeded generator (the split never depends on the model or the training seed). --quick keeps
    2,048 training and 512 validation images. "sha256": the whole split's digest (:func:`data_digest`),
    what a resumed run checks its data against."""
    images, labels, _ = load_labelled(data_dir, "train")
    n = images.shape[0]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(split_seed)))
    n_val = int(round(n * val_fraction))
    if n_val >= n:
        raise SettingsTogether(f"{{val_fraction}} {val_fraction:g} holds out all {n:,} images of {data_dir}'s train "
                               "split for validation: none is left to train on (give a smaller one)",
                               {"val_fraction": val_fraction})
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    if quick:
        train_idx, val_idx = train_idx[:2048], val_idx[:512]
    return {
        "train_x": images[train_idx],
        "train_y": labels[train_idx],
        "val_x": images[val_idx],
        "val_y": labels[val_idx],
        "sha256": data_digest(images, labels),
    }


def data_digest(images: torch.Tensor, labels: torch.Tensor) -> str:
    """The SHA-256 of a split as loaded (its uint8 images, then its int64 labels): the same digits in any
    folder or format give the same digest, other digits (or other labels) another."""
    h = hashlib.sha256()
    for t in (images, labels):
        h.update(memoryview(t.contiguous().numpy()).cast("B"))
    return h.hexdigest()
