"""Digit images for the experiments: the real MNIST test split from ../shared/data/mnist-t10k.

TEMPORARY private reader of the IDX files, until the svhn engineer's `dlexam.svhn.mnist` lands on
main; then :func:`load_digits` switches to it. Where the files are absent, the experiments that use
digits fall back to a synthetic 10-class problem and say so in their result ("data").

The 10,000 images are split by a fixed rule (train = the first ones, validation = the last ones),
so a split never depends on the model or the experiment's seed.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[3]
MNIST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def mnist_dir() -> Path:
    shared = Path(os.environ.get("DLEXAM_SHARED", REPO.parent / "shared"))
    return shared / "data" / "mnist-t10k"


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): magic (0, 0, dtype 0x08 = uint8, ndim), big-endian dims, then the data."""
    raw = gzip.decompress(path.read_bytes())
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated")
    return data.reshape(dims)


def mnist_available() -> bool:
    return all((mnist_dir() / f).is_file() for f in MNIST_FILES)


def load_digits(n_train: int, n_val: int, *, size: int = 28) -> tuple[dict, str]:
    """({"x_train", "y_train", "x_val", "y_val"}, description). x: float (N, 1, size, size) in [0, 1].

    `size` 32 zero-pads MNIST's 28x28 to the exam CNN's 32x32 input. Train = the first n_train
    images, validation = the last n_val (n_train + n_val <= 10,000).
    """
    if n_train + n_val > 10_000:
        raise ValueError("MNIST t10k holds 10,000 images")
    if not mnist_available():
        return synthetic_digits(n_train, n_val, size=size), "synthetic 10-class prototypes + noise (MNIST not found)"
    images = _read_idx(mnist_dir() / MNIST_FILES[0])  # (10000, 28, 28) uint8
    labels = _read_idx(mnist_dir() / MNIST_FILES[1])  # (10000,)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28)
    if size != 28:
        pad = (size - 28) // 2
        x = torch.nn.functional.pad(x, (pad, size - 28 - pad, pad, size - 28 - pad))  # (N, 1, size, size)
    y = torch.from_numpy(labels.astype(np.int64))
    data = {"x_train": x[:n_train], "y_train": y[:n_train], "x_val": x[-n_val:], "y_val": y[-n_val:]}
    return data, f"MNIST t10k (real digits): train = first {n_train:,}, validation = last {n_val:,}"


def synthetic_digits(n_train: int, n_val: int, *, size: int = 28, seed: int = 1234) -> dict:
    """10 fixed random smooth prototype images; samples are a prototype plus noise, clipped to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.rand(10, 1, size // 4, size // 4, generator=g)
    protos = torch.nn.functional.interpolate(protos, size=(size, size), mode="bilinear")  # (10, 1, size, size)
    n = n_train + n_val
    y = torch.randint(0, 10, (n,), generator=g)
    x = (protos[y] + 0.35 * torch.randn(n, 1, size, size, generator=g)).clamp(0, 1)
    return {"x_train": x[:n_train], "y_train": y[:n_train], "x_val": x[n_train:], "y_val": y[n_train:]}
