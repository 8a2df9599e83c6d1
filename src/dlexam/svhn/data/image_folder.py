"""Image folders in torchvision's ImageFolder layout: ``DIR/0/*.png ... DIR/9/*.png``, the folder name being the digit.

Any size, any colour mode, PNG, JPEG (.jpg, .jpeg, .jfif, .jpe), BMP, GIF, TIFF, WebP, AVIF or Netpbm (.ppm, .pgm,
.pbm, .pnm), each read by
:func:`dlexam.svhn.data.images.read_image`. A HEIC/HEIF photo (an iPhone's) is not read: one line names it and
asks for PNG or JPEG, in a folder as given alone. Hidden entries, a zip file's ``__MACOSX`` folder and the
AppleDouble files beside the images are passed over (:func:`left_out`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dlexam.errors import UserError, missing
from dlexam.svhn.data.images import read_image

# .jfif and .jpe: JPEGs (a browser on Windows saves photos as .jfif); .pnm: any Netpbm image
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".jfif", ".jpe", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                    ".pbm", ".pnm", ".avif", ".avifs")
HEIF_EXTENSIONS = (".heic", ".heif")  # an iPhone's photos: Pillow reads none without a plugin; named, never passed over
MACOS_FOLDER = "__MACOSX"  # what a zip file made on a Mac holds beside its files: their AppleDouble metadata


def is_image_folder(root: str | os.PathLike) -> bool:
    """Does `root` look like an ImageFolder: a folder with at least one class folder named by a digit?"""
    p = Path(root)
    return p.is_dir() and any(c.is_dir() and len(c.name) == 1 and c.name in "0123456789" for c in p.iterdir())


def left_out(name: str) -> bool:
    """Whether an image folder's reader passes over the entry `name`: a hidden one (.DS_Store, .thumbnails, and the
    AppleDouble files ._NAME that macOS writes beside each file on disks and in zip files: its metadata, not an
    image) and the __MACOSX folder of a zip file made on a Mac (AppleDouble files again)."""
    return name.startswith(".") or name == MACOS_FOLDER


def class_images(folder: Path) -> list[Path]:
    """The image files (by extension, any case; HEIC/HEIF photos too, for :func:`read_image` to name as unread; AVIF
    images, read, or named where Pillow cannot decode them) in a
    class folder and the folders inside it, links followed (each folder once: a link to a folder above it is no
    loop), the entries :func:`left_out` passes over left out; sorted by path. A link named as an image that leads
    nowhere is kept, for :func:`read_image` to name."""
    found, seen = [], set()

    def unreadable(exc: OSError) -> None:
        raise UserError(f"cannot read the folder {exc.filename}: {exc.strerror or exc}")

    for here, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not left_out(d)]
        found += [Path(here) / f for f in files
                  if Path(f).suffix.lower() in IMAGE_EXTENSIONS + HEIF_EXTENSIONS and not left_out(f)]
    return sorted(found)


def _hidden_image(folder: Path) -> Path | None:
    """A file named as an image that :func:`class_images` passes over in `folder` (._1.png, say), or None."""
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if Path(f).suffix.lower() in IMAGE_EXTENSIONS and left_out(f):
                return Path(here) / f
    return None


def load_image_folder(root: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """DIR/0/*.png ... DIR/9/*.png -> (uint8 (N, 32, 32), labels int64 (N,), the files' paths).

    Every sub-folder must be named by one digit 0-9 and hold at least one image, in it or in folders inside it
    (as torchvision's ImageFolder reads them); hidden entries and files beside the class folders (a README) are
    ignored, as are non-image files; so is a zip file's __MACOSX folder and the AppleDouble files (._NAME) in it
    and beside the images (:func:`left_out`).
    """
    p = Path(root)
    if not p.is_dir():
        raise UserError(f"image folder not found: {missing(p)}")
    classes = sorted(c for c in p.iterdir() if c.is_dir() and not left_out(c.name))
    if not classes:
        raise UserError(f"{p} holds no class folders (expected {p}/0/ ... {p}/9/ with images)")
    bad = [c.name for c in classes if c.name not in "0123456789" or len(c.name) != 1]
    if bad:
        raise UserError(f"{p}: class folder {bad[0]!r} is not a digit 0-9 (ImageFolder layout: {p}/0/ ... {p}/9/)")
    images, labels, paths = [], [], []
    for c in classes:
        files = class_images(c)
        if not files:
            hidden = _hidden_image(c)
            raise UserError(f"class folder {c} holds no images" + (
                "" if hidden is None else f", only hidden files such as {hidden.relative_to(c)}, which are not "
                "read (a file named ._NAME is macOS's metadata for NAME, not an image)"))
        for f in files:
            images.append(read_image(f))
            labels.append(int(c.name))
            paths.append(str(f))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), paths
