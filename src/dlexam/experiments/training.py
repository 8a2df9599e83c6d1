"""The experiments' classifier training loop; it knows nothing about the model it trains.

:func:`train_steps` runs minibatch updates of the mean cross-entropy for any module that maps a
batch of inputs to logits. The activations, skip-connections, pooling and batch-size experiments
all train through it, each wrapping it in the measurements it needs (gradient snapshots, epochs,
a time budget). The attention-temperature experiment records every parameter's gradient between
backward and step under a temperature schedule, a different shape, and keeps its own loop; the
SVHN fast loop is :mod:`dlexam.svhn.training.loop`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn


def batches(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled minibatch indices (a new permutation each epoch, dropping no example)."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            yield perm[i : i + batch_size]


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_indices: Iterator[torch.Tensor],
    steps: int,
    *,
    clip: float | None = None,
    before_step: Callable[[int], None] | None = None,
    keep_going: Callable[[], bool] | None = None,
) -> list[float]:
    """Up to `steps` updates: loss = cross_entropy(model(x[idx]), y[idx]) for idx from `batch_indices`,
    backward, gradient norm clipped to `clip` if given, optimizer step. Returns each step's loss.

    `before_step(i)` runs before update i (0-based). `keep_going()`, checked before each update,
    stops early when it returns False (a time budget).
    """
    losses = []
    for i in range(steps):
        if keep_going is not None and not keep_going():
            break
        if before_step is not None:
            before_step(i)
        idx = next(batch_indices)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2048) -> dict:
    """Mean cross-entropy and accuracy of `model` on (x, y), in eval mode."""
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        loss += F.cross_entropy(logits, y[i : i + batch_size], reduction="sum").item()
        correct += (logits.argmax(-1) == y[i : i + batch_size]).sum().item()
    model.train(was_training)
    return {"loss": loss / len(x), "accuracy": correct / len(x)}


def grad_norms(model: nn.Module, params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """||dL/dW||_F for each tensor in `params`, with L the mean cross-entropy on (x, y)."""
    loss = F.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [0.0 if g is None else g.norm().item() for g in grads]
