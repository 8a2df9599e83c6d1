"""Digit images for the activations and skip-connections experiments: real MNIST digits.

The svhn package reads the MNIST test split from the shared data (:func:`dlexam.svhn.data.mnist.load_mnist`,
official MD5 sums checked; the folder is found by :mod:`dlexam.shared`). Where it is absent the
experiment stops with a one-line error saying where it looked: it never trains on a substitute.

The 10,000 images are split by a fixed rule (train = the first ones, validation = the last ones),
so a split never depends on the model or the experiment's seed.
"""

from __future__ import annotations

import torch

from dlexam.svhn.data.mnist import load_mnist


def load_digits(n_train: int, n_val: int, *, size: int = 28) -> tuple[dict, str]:
    """({"x_train", "y_train", "x_val", "y_val"}, description). x: float (N, 1, size, size) in [0, 1].

    `size` 32 zero-pads MNIST's 28x28 to the exam CNN's 32x32 input. Train = the first n_train
    images, validation = the last n_val (n_train + n_val <= 10,000).
    """
    if n_train + n_val > 10_000:
        raise ValueError("MNIST t10k holds 10,000 images")
    images, labels = load_mnist()  # uint8 (10000, 28, 28), int64 (10000,)
    x = torch.from_numpy(images.copy()).float().div(255.0).unsqueeze(1)  # (N, 1, 28, 28)
    if size != 28:
        pad = (size - 28) // 2
        x = torch.nn.functional.pad(x, (pad, size - 28 - pad, pad, size - 28 - pad))  # (N, 1, size, size)
    y = torch.from_numpy(labels.copy())
    data = {"x_train": x[:n_train], "y_train": y[:n_train], "x_val": x[-n_val:], "y_val": y[-n_val:]}
    return data, f"MNIST t10k (real digits): train = first {n_train:,}, validation = last {n_val:,}"
