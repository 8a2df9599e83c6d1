"""Write rendered training images to disk, to look at and to reuse: SVHN .mat files or an ImageFolder.

`dlexam svhn synth --scenes` renders the images a recipe trains on
(:func:`dlexam.svhn.training.recipes.training_set`) and hands them to :func:`write_images`:

* ``mat``: ``train_32x32.mat`` in SVHN's Format 2 (X uint8 (32, 32, 3, N) with the grey level in all
  three channels, so ITU-R 601-2 luma gives it back exactly; y (N, 1), label 10 = digit 0), which
  `dlexam svhn train --data` and `evaluate --data DIR --split train` read;
* ``folder``: torchvision's ImageFolder layout, ``DIR/0/000123.png ... DIR/9/...``, one 8-bit grey PNG
  per image, named by its index in the training set.

Nothing is written over a file dlexam did not write (unless `force`), nor through a linked class folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dlexam.errors import UserError
from dlexam.files import OutputDir, atomic_open
from dlexam.words import counted

FORMATS = ("mat", "folder")


def write_images(out_dir: str | os.PathLike, images: np.ndarray, digits: np.ndarray, fmt: str = "mat", *,
                 force: bool = False) -> dict:
    """uint8 grey (N, 32, 32) images and their digits (N,) -> files in `out_dir`; returns what was written."""
    from dlexam.svhn.synthetic.digits import write_splits

    images, digits = np.asarray(images, np.uint8), np.asarray(digits, np.int64)
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "mat":
        rgb = np.repeat(images[..., None], 3, axis=-1)  # (N, 32, 32) -> (N, 32, 32, 3), R = G = B
        out = write_splits(out_dir, {"train": lambda: (rgb, digits)}, force=force)
        return {"out": str(out), "format": fmt, "images": len(images), "files": ["train_32x32.mat"]}
    return _write_folder(out_dir, images, digits, force)


def _write_folder(out_dir, images: np.ndarray, digits: np.ndarray, force: bool) -> dict:
    with OutputDir(out_dir, force=force, lock=True) as out:  # one writer at a time
        return _write_images(out, images, digits)


def _write_images(out: OutputDir, images: np.ndarray, digits: np.ndarray) -> dict:
    from PIL import Image

    names = [f"{d}/{i:06d}.png" for i, d in enumerate(digits.tolist())]
    for d in sorted(set(digits.tolist())):
        folder = out.file(str(d))
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise UserError(f"{folder} is {'a link' if folder.is_symlink() else 'a file'}; not writing into it")
    _refuse_a_mix(out, names)
    out.claim(*names)  # before any image is written
    for d in sorted(set(digits.tolist())):
        out.file(str(d)).mkdir(exist_ok=True)
    for name, img in zip(names, images, strict=True):
        with atomic_open(out.file(name), "wb") as f:
            Image.fromarray(np.ascontiguousarray(img)).save(f, format="PNG")
    out.record(*names)
    counts = np.bincount(digits, minlength=10).tolist()
    return {"out": str(Path(out.path)), "format": "folder", "images": len(images), "per_digit": counts}


def _refuse_a_mix(out: OutputDir, names: list[str]) -> None:
    """Refuse an image folder that would not be the training set written now: the images an image folder's reader
    takes from OUT/0 ... OUT/9 that `names` do not replace (an earlier draw's, of another count or seed, or the
    user's) would join it, and beside OUT/train_32x32.mat the folder is never read (`svhn train --data OUT` takes the
    .mat first)."""
    from dlexam.svhn.data.image_folder import class_images

    if os.path.lexists(out.file("train_32x32.mat")):
        raise UserError(f"{out.path} holds train_32x32.mat, which `svhn train --data {out.path}` reads instead of an "
                        "image folder written beside it; choose another folder")
    written, left = set(names), 0
    for d in range(10):
        folder = out.file(str(d))
        if folder.is_dir():  # what the image folder's reader takes from it, its sub-folders' images too
            left += sum(1 for f in class_images(folder) if f.relative_to(out.path).as_posix() not in written)
    if left:
        raise UserError(f"{out.path} already holds {counted(left, 'image')} in its digit folders that these "
                        f"{len(names):,} "
                        "would not replace (an earlier draw's, say): an image folder is read whole, so they would "
                        "train with them; choose another folder, or empty it")
