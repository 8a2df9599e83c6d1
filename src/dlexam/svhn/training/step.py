"""The parts of one training step: the schedule, the optimizer, the loss and its backward pass.

The schedule is a pure function of (seed, epoch) and of the global step (:func:`epoch_order`,
:func:`learning_rate`), so a resumed run trains on the same order at the same rate as one never stopped. The
optimizer is PyTorch's fused SGD (or Adam) (:func:`make_optimizer`), stepped without torch.optim's Python around
it (:func:`sgd_step`); the loss is a CPU-fast cross-entropy (:func:`cross_entropy_sum`), backpropagated through
autograd where the model offers no fused step (:func:`autograd_backward`). :mod:`dlexam.svhn.training.loop` runs
the steps.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim.optimizer as optimizer_hooks

from dlexam.svhn.training.config import TrainConfig

_FUSED_CPU = tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 4)  # fused SGD/Adam on the CPU


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch `epoch`: a permutation that depends on (seed, epoch) only."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch)))


def learning_rate(cfg: TrainConfig, step: int, total_steps: int | None) -> float:
    """Cosine decay from cfg.lr to 0 over total_steps (constant when total_steps is None)."""
    if not total_steps:
        return cfg.lr
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum 0.9, Nesterov) or Adam, as one fused kernel over all parameters where PyTorch has one
    for their device (on the CPU since PyTorch 2.4), else its foreach kernels."""
    params = list(model.parameters())
    devices = {p.device.type for p in params}
    fast = {"fused": True} if devices <= {"cpu", "cuda"} and _FUSED_CPU else {"foreach": True}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay, **fast)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast)
    raise ValueError(f"optimizer must be sgd or adam, not {cfg.optimizer!r}")


def autograd_backward(optimizer: torch.optim.Optimizer, logits: torch.Tensor, y: torch.Tensor, scale: float):
    """A step's backward pass through autograd (where the model offers no fused step): each parameter's
    .grad := the gradient of scale * the summed cross-entropy. -> (that scaled loss, the count of images
    whose largest logit is their label)."""
    loss = cross_entropy_sum(logits, y) * scale
    for group in optimizer.param_groups:  # optimizer.zero_grad(set_to_none=True) without its profiler hooks
        for p in group["params"]:
            p.grad = None
    loss.backward()
    with torch.no_grad():
        right = (logits.argmax(1) == y).sum().cpu()
    return float(loss.detach()), right


def sgd_step(optimizer: torch.optim.Optimizer) -> None:
    """optimizer.step(), for make_optimizer's fused CPU SGD as the one kernel call that step makes
    (torch._fused_sgd_, the same arguments, so the same bits: tested) without torch.optim's Python around
    it (~0.1 ms a step); any other optimizer, its first step (which makes the momentum buffers), hooks or
    gradient scaling: optimizer.step() itself."""
    if type(optimizer) is torch.optim.SGD and len(optimizer.param_groups) == 1 and not (
        optimizer._optimizer_step_pre_hooks or optimizer._optimizer_step_post_hooks
        or optimizer_hooks._global_optimizer_pre_hooks or optimizer_hooks._global_optimizer_post_hooks
        or getattr(optimizer, "grad_scale", None) is not None or getattr(optimizer, "found_inf", None) is not None
    ):
        group = optimizer.param_groups[0]
        params = group["params"]
        if group["fused"] and group["momentum"] and not group["maximize"] and not group["differentiable"]:
            grads = [p.grad for p in params]
            buffers = [optimizer.state[p].get("momentum_buffer") if p in optimizer.state else None for p in params]
            if all(t is not None and t.is_cpu and t.dtype == torch.float32 and not t.is_sparse for t in grads) and all(
                b is not None for b in buffers
            ):
                torch._fused_sgd_(
                    params, grads, buffers, weight_decay=group["weight_decay"], momentum=group["momentum"],
                    lr=group["lr"], dampening=group["dampening"], nesterov=group["nesterov"], maximize=False,
                    is_first_step=False, grad_scale=None, found_inf=None,
                )
                return
    optimizer.step()


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """F.cross_entropy(logits, y, reduction="sum"), faster for 10 classes on a CPU.

    PyTorch's CPU log_softmax over a last dimension of 10 runs ~20x slower per element than over 16
    (PyTorch 2.13; its vectorised path handles the short row with partial loads); over the first
    dimension of the transposed logits it does not. The loss and its gradient are F.cross_entropy's,
    bit for bit for 10 classes (tested), to float rounding where PyTorch vectorises a longer row.
    """
    return F.nll_loss(torch.log_softmax(logits.t(), 0).t(), y, reduction="sum")  # (C, B) -> log-probs (B, C)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)
