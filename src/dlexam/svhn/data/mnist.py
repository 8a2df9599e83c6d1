"""Real digits: the MNIST test set (IDX format, gzip) from ../shared/data/mnist-t10k.

Found through :mod:`dlexam.shared` (``DLEXAM_SHARED``, else ../shared next to the checkout).
Used to check that the whole SVHN pipeline learns real handwriting: the 28x28 digits are padded
to 32x32 and written as Format 2 .mat files (gray copied to R, G and B, digit 0 as label 10), so
they go through the same loader, training and evaluation as SVHN. Never copied into the repo.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from dlexam.bounds import MNIST_T10K, MNIST_TRAIN
from dlexam.errors import UserError, missing
from dlexam.limits import Span
from dlexam.shared import shared_path

# The official MNIST checksums (also listed in the folder's README.md).
FILES = {
    "images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}


def default_dir() -> Path:
    """The shared MNIST folder (see :mod:`dlexam.shared`); SharedDataMissing where there is none."""
    return shared_path("data", "mnist-t10k")


def read_idx(data: bytes) -> np.ndarray:
    """Parse an IDX file (magic 0x00 0x00 type ndim, big-endian int32 dims, then the data)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError("not an unsigned-byte IDX file")
    ndim = data[3]
    dims = np.frombuffer(data, ">i4", count=ndim, offset=4).astype(int)
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UserError(f"IDX file holds {body.size} bytes, its header says {int(np.prod(dims))}")
    return body.reshape(dims)  # (prod(dims),) -> dims, e.g. (N, 28, 28)


def load_mnist(folder: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """-> (uint8 (10000, 28, 28), int64 (10000,)), after checking the official MD5 sums."""
    folder = Path(folder) if folder else default_dir()
    out = {}
    for key, (name, md5) in FILES.items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"MNIST file not found: {missing(path)}")
        raw = path.read_bytes()
        got = hashlib.md5(raw).hexdigest()
        if got != md5:
            raise UserError(f"{path}: MD5 {got} is not the official {md5}")
        out[key] = read_idx(gzip.decompress(raw))
    return out["images"], out["labels"].astype(np.int64)


def write_mnist_as_svhn(out_dir: str | os.PathLike, n_train: int = 8000, folder=None, *, force: bool = False) -> dict:
    """Write the first `n_train` digits as train_32x32.mat and the rest as test_32x32.mat."""
    from dlexam.svhn.synthetic.digits import write_splits

    # the official files (their MD5 sums checked) hold MNIST_T10K digits: `svhn mnist --help` states this span,
    # checked before the files are looked for (a typo is said as one, with or without the shared data)
    MNIST_TRAIN.check("n_train", n_train)
    images, labels = load_mnist(folder)
    if len(labels) != MNIST_T10K:
        Span(1, len(labels) - 1, whole=True).check("n_train", n_train)
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # (N, 28, 28) -> (N, 32, 32)
    rgb = np.repeat(padded[..., None], 3, axis=-1)  # (N, 32, 32, 3)
    out = write_splits(out_dir, {"train": lambda: (rgb[:n_train], labels[:n_train]),
                                 "test": lambda: (rgb[n_train:], labels[n_train:])}, force=force)
    return {"out": str(out), "train": int(n_train), "test": int(len(labels) - n_train)}
