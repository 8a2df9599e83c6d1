"""Training batches of Problem 1's CNN from in-memory uint8 images (N, 32, 32): gathered, standardised
per image, (B, 1, 32, 32) floats, channels-last.

:func:`batch` uses PyTorch's operations (dlexam.svhn.data.official.preprocess). :class:`Batches`, for
the training loop, has the fused kernels' worker threads gather and standardise the next batch while
a step's Python runs (dlexam.svhn.kernels.fused.start_standardise: the same numbers, bit for bit);
without the kernels, or off the CPU, it serves :func:`batch`'s.
"""

from __future__ import annotations

import torch

from dlexam.svhn.data.official import preprocess
from dlexam.svhn.kernels import fused as kernels


def batch(
    images: torch.Tensor,
    idx: torch.Tensor,
    device: torch.device,
    stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    channels_last: bool = True,
) -> torch.Tensor:
    """images[idx] standardised (with the per-image `stats` from image_stats, else computed here) on `device`."""
    mean, std = (stats[0][idx], stats[1][idx]) if stats is not None else (None, None)
    x = preprocess(images[idx], mean, std).to(device)  # (B, 1, 32, 32)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


class Batches:
    """Each step's batch: :meth:`start` the next while this step runs, :meth:`take` it at the next step."""

    def __init__(self, images: torch.Tensor, device: torch.device, stats: tuple[torch.Tensor, torch.Tensor], *,
                 channels_last: bool = True):
        self.images, self.device, self.stats, self.channels_last = images, device, stats, channels_last
        self.fast = device.type == "cpu"
        self.pending: kernels.PendingBatch | torch.Tensor | None = None

    def start(self, idx: torch.Tensor) -> None:
        """Begin the batch of images `idx`."""
        self.pending = kernels.start_standardise(self.images, idx, *self.stats) if self.fast else None
        if self.pending is None:
            self.fast = False
            self.pending = batch(self.images, idx, self.device, self.stats, channels_last=self.channels_last)

    def take(self) -> torch.Tensor:
        """The batch last started."""
        x = self.pending.result() if isinstance(self.pending, kernels.PendingBatch) else self.pending
        self.pending = None
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x  # no copy: 1 channel
