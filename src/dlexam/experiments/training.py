"""A small classifier training loop for the experiments; it knows nothing about the model it trains."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def batches(n: int, batch_size: int, generator: torch.Generator):
    """Endless shuffled minibatch indices (a new permutation each epoch, dropping no example)."""
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n, batch_size):
            yield perm[i : i + batch_size]


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
