"""Train-time augmentation of standardised batches, used by the training loop through a hook.

Each training batch (B, 1, 32, 32), already standardised per image, gets its own random small
affine warp (shift, scale, rotation, shear; edge pixels repeated), polarity flip and pixel noise.
Standardisation is linear, so flipping the sign of a standardised image is exactly standardising
its negative: light digits on dark and dark on light. :func:`dlexam.svhn.training.loop.fit` calls
``augment(x, generator)`` with a generator seeded by (seed, epoch), so a resumed run sees the same
augmented batches as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    shift: float = 2.0  # pixels, uniform in [-shift, shift] on each axis
    scale: float = 0.1  # zoom uniform in [1 - scale, 1 + scale]
    rotate: float = 8.0  # degrees, uniform in [-rotate, rotate]
    shear: float = 0.1  # x += shear * y, uniform in [-shear, shear]
    invert: float = 0.5  # probability of flipping the polarity
    noise: float = 0.1  # Gaussian noise, standard deviation up to this (standardised units)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AugmentConfig:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


class Augment:
    """A callable (x float (B, 1, H, W), torch.Generator) -> augmented x of the same shape."""

    def __init__(self, cfg: AugmentConfig | None = None):
        self.cfg = cfg or AugmentConfig()

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        c = self.cfg
        b, _, h, w = x.shape
        U = lambda *shape: torch.rand(*shape, generator=g) * 2 - 1  # noqa: E731 - uniform in [-1, 1]
        zoom = 1 + c.scale * U(b)
        angle = math.radians(c.rotate) * U(b)
        shear = c.shear * U(b)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.zeros(b, 2, 3)  # output -> input, in normalised coordinates
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear
        theta[:, 1, 0], theta[:, 1, 1] = sin, cos
        theta[:, 0, 2], theta[:, 1, 2] = c.shift * U(b) * 2 / w, c.shift * U(b) * 2 / h
        grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)  # (B, H, W, 2)
        x = F.grid_sample(x.contiguous(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        sign = torch.where(torch.rand(b, generator=g) < c.invert, -1.0, 1.0)
        noise = torch.randn(x.shape, generator=g) * (c.noise * torch.rand(b, generator=g))[:, None, None, None]
        return x * sign[:, None, None, None] + noise
