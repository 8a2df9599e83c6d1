"""SVHN-like digits for the batch-size and pooling experiments, made by the svhn package.

:func:`dlexam.svhn.synthetic.digits.write_synthetic` renders them (train split from TRAIN_FONTS, test split from
held-out TEST_FONTS) as official-format .mat files; we write them into a temporary folder and read
them back with :func:`dlexam.svhn.data.official.load_split`, the same path `dlexam svhn` uses. Images stay
uint8 grayscale (N, 32, 32); :func:`dlexam.svhn.data.official.preprocess` makes float batches.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache

import torch

from dlexam.svhn.data.official import load_split, preprocess
from dlexam.svhn.synthetic.digits import write_synthetic

__all__ = ["load_svhn_like", "preprocess"]


@lru_cache(maxsize=2)
def _load(n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, ...]:
    with tempfile.TemporaryDirectory(prefix="dlexam-svhn-like-") as tmp:
        write_synthetic(tmp, n_train=n_train, n_test=n_test, seed=seed)
        x_train, y_train = load_split(tmp, "train", cache=False)
        x_test, y_test = load_split(tmp, "test", cache=False)
    return x_train, y_train, x_test, y_test


def load_svhn_like(n_train: int, n_test: int, seed: int = 0) -> tuple[dict, str]:
    """({"x_train", "y_train", "x_test", "y_test"} with uint8 images (N, 32, 32), description)."""
    x_train, y_train, x_test, y_test = _load(n_train, n_test, seed)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    note = (
        f"SVHN-like synthetic digits (dlexam.svhn.synthetic.digits, seed {seed}): {n_train:,} train images, "
        f"{n_test:,} test images in fonts the train split never uses"
    )
    return data, note
