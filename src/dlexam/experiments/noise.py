"""Gradient noise: how far a minibatch's gradient lies from the full-batch one, measured and in theory.

The batch-size experiment's instrument (Part 2, question 1): E||g_B - g||^2 of minibatch gradients g_B (B
examples drawn without replacement) from the full-batch gradient g, at one fixed set of weights, against the
sampling-theory value (N - B) / (N - 1) * tr(Sigma) / B, with tr(Sigma) = mean_i ||g_i - g||^2 from
per-example gradients (torch.func).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from dlexam.svhn.model import ExamCNN


def flat_grad(model: ExamCNN, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    """Gradient of the mean cross-entropy over (x, y), as one flat vector (summed over chunks)."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in range(0, len(x), chunk):
        loss = F.cross_entropy(model(x[i : i + chunk]), y[i : i + chunk], reduction="sum")
        for t, g in zip(total, torch.autograd.grad(loss, params), strict=True):
            t += g
    return torch.cat([t.flatten() for t in total]) / len(x)  # (n_params,)


def per_example_sq_norms(model: ExamCNN, x: torch.Tensor, y: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """||g_i||^2 for every example's own gradient g_i (torch.func: vmap over grad)."""
    model = copy.deepcopy(model).unfuse_()  # PyTorch's layers: torch.func cannot run the fused operators
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_one(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per = vmap(grad(loss_one), in_dims=(None, 0, 0))
    out = []
    for i in range(0, len(x), chunk):
        g = per(params, x[i : i + chunk], y[i : i + chunk])
        out.append(sum(v.flatten(1).pow(2).sum(1) for v in g.values()))  # each v (b, *shape) -> (b,)
    return torch.cat(out)


def noise_theory(n: int, b: int, tr_sigma: float) -> float:
    """E||g_B - g||^2 for a mean over B of N per-example gradients drawn without replacement.

    Var(sample mean) = (N - B) / (N - 1) * sigma^2 / B (finite-population correction), summed over
    coordinates; tr_sigma = mean_i ||g_i - g||^2.
    """
    return (n - b) / (n - 1) * tr_sigma / b


def minibatch_noise(model: ExamCNN, x: torch.Tensor, y: torch.Tensor, batch_sizes, draws: int,
                    gen: torch.Generator) -> dict:
    """{"tr_sigma", "full_grad_sq_norm", "by_batch": {B: {"measured", "stderr", "theory"}}} at `model`'s weights,
    `draws` minibatches per B (B above the set's size is skipped)."""
    n = len(x)
    g_full = flat_grad(model, x, y)
    tr_sigma = (per_example_sq_norms(model, x, y).mean() - g_full.pow(2).sum()).item()
    rows = {}
    for b in batch_sizes:
        if b > n:
            continue
        d = [
            (flat_grad(model, x[idx], y[idx]) - g_full).pow(2).sum().item()
            for idx in (torch.randperm(n, generator=gen)[:b] for _ in range(draws))
        ]
        rows[b] = {
            "measured": float(np.mean(d)),
            "stderr": float(np.std(d, ddof=1) / math.sqrt(len(d))),
            "theory": noise_theory(n, b, tr_sigma),
        }
    return {"tr_sigma": tr_sigma, "full_grad_sq_norm": g_full.pow(2).sum().item(), "by_batch": rows}
