"""SVHN Format 2 (32x32 cropped digits): load, validate, grayscale, cache, preprocess (downloading: download.py).

The official files are MATLAB .mat files holding X: uint8 (32, 32, 3, N) (row, column, RGB,
sample) and y: (N, 1) with labels 1..10, where 10 stands for the digit 0. Problem 1 assumes the
images were converted to grayscale; we use ITU-R 601-2 luma, L = 299/1000 R + 587/1000 G +
114/1000 B, with the same integer rounding as Pillow's ``Image.convert("L")``.

Images stay in memory as one uint8 tensor (N, 32, 32): the full train split (73,257 images) is
75 MB. A float batch is made only when a batch is used (:func:`preprocess`).
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError, missing
from dlexam.files import (
    LinkRefused,
    WriteError,
    atomic_open,
    open_unlinked,
    sha256_of,
)
from dlexam.svhn.data import matfile
from dlexam.words import counted

CACHE_VERSION = 2
NUMERIC_CLASSES = ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
MAX_MAT_IMAGES = 1_000_000  # the real extra split has 531,131


def filename(split: str) -> str:
    return f"{split}_32x32.mat"


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of uint8 RGB (..., 3) -> uint8 (...), rounding as Pillow's convert("L")."""
    rgb = rgb.astype(np.uint32)
    # 19595/65536 = 0.299, 38470/65536 = 0.587, 7471/65536 = 0.114, +0x8000 rounds to nearest.
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def gray_of_mat_images(X: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """X uint8 (32, 32, 3, N) as stored in the .mat -> gray uint8 (N, 32, 32), a chunk of images at a time
    (the uint32 arithmetic of a whole split at once would take 12 bytes per pixel)."""
    n = X.shape[3]
    gray = np.empty((n, 32, 32), np.uint8)
    for i in range(0, n, chunk):
        gray[i : i + chunk] = rgb_to_gray(np.moveaxis(X[..., i : i + chunk], 3, 0))  # (c, 32, 32, 3) -> (c, 32, 32)
    return gray


def _check_header(path: Path) -> None:
    """Check the variables' shapes and types from the file's header, before any image data is read:
    a file (compressed or not) cannot make the loader allocate more than MAX_MAT_IMAGES images."""
    import scipy.io

    try:
        info = matfile.variables(path)  # the plain layout: headers only
    except (matfile.Unsupported, zlib.error, struct.error, ValueError, OSError):
        info = None
    try:
        if info is None:
            info = {name: (shape, kind) for name, shape, kind in scipy.io.whosmat(path)}
    except NotImplementedError:  # scipy's answer to a MATLAB v7.3 file (HDF5)
        raise UserError(f"{path} is a MATLAB v7.3 (HDF5) file; SVHN's Format 2 files are MATLAB v5 files "
                        "(in MATLAB: save(name, 'X', 'y', '-v7'))") from None
    except Exception:  # noqa: BLE001 - scipy raises many types for a damaged file
        raise UserError(f"{path} is not a readable SVHN .mat file (not a MATLAB file, or damaged or cut short)"
                        ) from None
    if "X" not in info or "y" not in info:  # a file cut short lists only the variables before the cut
        held = ", ".join(sorted(info)) or "none that can be read"
        raise UserError(f"{path} is not an SVHN Format 2 file: it needs variables X and y, and holds {held} "
                        "(a file cut short holds fewer)")
    if info["y"][1] not in NUMERIC_CLASSES:
        raise UserError(f"{path}: y must hold numbers (labels 1..10), got MATLAB {info['y'][1]}")
    shape, kind = info["X"]
    if tuple(shape) == (32, 32, 3):  # one image: MATLAB drops the trailing singleton dimension
        shape = (*shape, 1)
    if len(shape) != 4 or tuple(shape[:3]) != (32, 32, 3) or kind != "uint8":
        raise UserError(f"{path}: X must be uint8 of shape (32, 32, 3, N), got {kind} {tuple(shape)}")
    if not 1 <= shape[3] <= MAX_MAT_IMAGES:
        raise UserError(f"{path}: X holds {shape[3]:,} images; dlexam reads 1 to {MAX_MAT_IMAGES:,} per file")
    if int(np.prod(info["y"][0])) != shape[3]:
        raise UserError(f"{path}: {shape[3]} images but {int(np.prod(info['y'][0]))} labels")


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an official-format .mat file -> (gray uint8 (N, 32, 32), labels int64 (N,) in 0..9).

    The plain layout (the official files') is read a block of images at a time (:mod:`.matfile`): the memory it
    takes is the gray images' and a block's. Any other layout is read whole by scipy, which names what is wrong."""
    if not path.is_file():
        raise UserError(f"SVHN file not found: {missing(path)} (run `dlexam svhn download` or `dlexam svhn synth`)")
    _check_header(path)
    try:
        gray, y = matfile.read_gray(path, rgb_to_gray)
    except (matfile.Unsupported, zlib.error, struct.error, ValueError, OSError):  # read it the general way
        gray, y = _read_mat_whole(path)
    y = np.asarray(y).reshape(-1)  # (N, 1) -> (N,)
    if y.dtype.kind not in "uif":
        raise UserError(f"{path}: y must hold numbers (labels 1..10), got {y.dtype}")
    if y.shape[0] != gray.shape[0]:
        raise UserError(f"{path}: {gray.shape[0]} images but {y.shape[0]} labels")
    out_of_range = ~((y >= 1) & (y <= 10) & (y == np.round(y)))  # NaN too
    if out_of_range.any():  # said with what the file holds: a digit 0 written as 0 is a common slip
        bad, n_bad = np.unique(y[out_of_range]), int(np.count_nonzero(out_of_range))  # NaN sorted last
        shown = ", ".join(f"{v:g}" if y.dtype.kind == "f" else str(v) for v in bad[:3].tolist())
        raise UserError(f"{path}: labels must be integers 1..10 (10 means digit 0); y holds {shown}"
                        + (", ..." if bad.size > 3 else "") + f" ({counted(n_bad, 'label')} out of range"
                        + ("; SVHN writes digit 0 as 10)" if 0 in bad else ")"))
    labels = y.astype(np.int64) % 10  # label 10 is the digit 0
    return gray, labels


def _read_mat_whole(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """X read whole by scipy (3,072 bytes an image), then made gray -> (gray uint8 (N, 32, 32), y as stored)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a damaged file
        raise UserError(f"{path} is not a readable SVHN .mat file (damaged or cut short"
                        + (f": {str(exc).splitlines()[0][:100]})" if str(exc) else ")")) from None
    X, y = mat.get("X"), mat.get("y")
    if X is None or y is None:
        raise UserError(f"{path} is not an SVHN Format 2 file (it needs variables X and y)")
    if X.shape == (32, 32, 3):  # one image: MATLAB drops the trailing singleton dimension
        X = X[..., None]
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.dtype != np.uint8:
        raise UserError(f"{path}: X must be uint8 of shape (32, 32, 3, N), got {X.dtype} {X.shape}")
    return gray_of_mat_images(X), y  # (N, 32, 32)


def _cache_path(mat: Path) -> Path:
    return mat.parent / ".dlexam-cache" / f"{mat.stem}.gray.npz"


def _fallback_cache_path(mat: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlexam" / "svhn"
    key = hashlib.sha1(str(mat.resolve()).encode()).hexdigest()[:16]
    return base / f"{mat.stem}.{key}.gray.npz"


def linked_cache(root: str | os.PathLike, split: str) -> Path | None:
    """The cache place of `root/{split}_32x32.mat` beside it that is a symbolic link (its .dlexam-cache folder, or
    the file in it), if one is: :func:`load_split` never reads or writes a cache through a link, nor removes it; it
    reads the .mat file without that cache (an edge says so). None: no link there."""
    return _link_in(_cache_path(Path(root) / filename(split)))


def _link_in(cache: Path) -> Path | None:
    """The cache file's folder or the file itself where it is a symbolic link; None otherwise."""
    return next((p for p in (cache.parent, cache) if p.is_symlink()), None)


def _stamp(mat: Path) -> np.ndarray:
    """What the cache is valid for: the cache's version and the SHA-256 of the .mat file's contents."""
    digest = bytes.fromhex(sha256_of(mat))
    return np.frombuffer(CACHE_VERSION.to_bytes(8, "little") + digest, dtype=np.int64).copy()


def _read_cache(cache: Path, stamp: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached images and labels if the cache is for this file's contents and well formed, else None (also where
    the cache or its folder is a symbolic link, found so as it is opened: :func:`dlexam.files.open_unlinked`)."""
    try:
        with open_unlinked(cache) as f, np.load(f, allow_pickle=False) as z:
            if not np.array_equal(z["stamp"], stamp):
                return None
            images, labels = z["images"], z["labels"]
    except Exception:  # noqa: BLE001 - a bad cache is simply rebuilt
        return None
    ok = (images.dtype == np.uint8 and images.ndim == 3 and images.shape[1:] == (32, 32)
          and labels.dtype == np.int64 and labels.shape == (images.shape[0],)
          and (labels.size == 0 or (labels.min() >= 0 and labels.max() <= 9)))
    return (images, labels) if ok else None


def load_split(
    root: str | os.PathLike, split: str = "train", *, cache: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load `root/{split}_32x32.mat` -> (images uint8 (N, 32, 32), labels int64 (N,) with 0..9).

    The first load decodes the .mat file and writes a grayscale cache beside it (or, where that
    folder is read-only, under ~/.cache/dlexam); a later load of an unchanged file reads the cache.
    A cache place that is a symbolic link (:func:`linked_cache`) is passed by: never read, written or removed; the
    cache is read and written through its folder opened without following a link, so a link put there after that
    check is passed by as well (the next place is tried), never read or written through.
    """
    mat = Path(root) / filename(split)
    if not mat.is_file():
        raise UserError(f"SVHN file not found: {missing(mat)} (run `dlexam svhn download` or `dlexam svhn synth`)")
    stamp = _stamp(mat)
    candidates = [c for c in (_cache_path(mat), _fallback_cache_path(mat)) if _link_in(c) is None]
    if cache:
        for c in candidates:
            hit = _read_cache(c, stamp)
            if hit is not None:
                return torch.from_numpy(hit[0]), torch.from_numpy(hit[1])
    images, labels = _read_mat(mat)
    if cache:
        for c in candidates:
            try:
                with atomic_open(c, "wb", folder_link=False) as f:  # a link in the way: refused as it is opened
                    np.savez(f, stamp=stamp, images=images, labels=labels)
                break
            except (OSError, WriteError, LinkRefused):  # read-only, a full disk, a link: the next place, else none
                continue
    return torch.from_numpy(images), torch.from_numpy(labels)


def load_labelled(root: str | os.PathLike, split: str = "test") -> tuple[torch.Tensor, torch.Tensor, str]:
    """Labelled digits from `root`: an SVHN folder (root/{split}_32x32.mat) or an image folder in
    torchvision's ImageFolder layout (root/0/*.png ... root/9/*.png, any size and mode; `split` is
    then not used) -> (uint8 (N, 32, 32), labels int64 (N,), "mat" or "folder")."""
    from dlexam.svhn.data.image_folder import class_images, is_image_folder, load_image_folder

    root = Path(root)
    mat = root / filename(split)
    if mat.is_file():
        images, labels = load_split(root, split)
        return images, labels, "mat"
    if is_image_folder(root):
        images, labels, _ = load_image_folder(root)
        return images, labels, "folder"
    if root.is_file():  # the .mat file itself, say, where its folder is asked for
        raise UserError(f"{root} is a file, not a folder: give the folder that holds {mat.name}, or an image folder "
                        "(DIR/0/ ... DIR/9/)")
    from dlexam.svhn.data import SPLITS

    held = [s for s in SPLITS if (root / filename(s)).is_file()]  # another split's file: say so, not "download"
    why = (f"{root} holds {' and '.join(filename(s) for s in held)}, the {' and '.join(held)} split"
           f"{'s' if len(held) > 1 else ''}" if held else "run `dlexam svhn download` or `dlexam svhn synth`")
    parent = (f"; it is class folder {root.name} of the image folder {root.parent}: give that folder"
              if root.name in tuple("0123456789") and root.is_dir() and class_images(root) else "")
    raise UserError(f"SVHN file not found: {missing(mat)} ({why}), and {missing(root)} is not an image folder "
                    f"({root}/0/ ... {root}/9/){parent}")


def image_stats(images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean and standard deviation of uint8 (N, 32, 32) -> two float (N,) tensors."""
    means, stds = [], []
    for i in range(0, images.shape[0], chunk):
        x = images[i : i + chunk].float()  # (b, 32, 32)
        means.append(x.mean(dim=(1, 2)))
        stds.append(x.std(dim=(1, 2)))
    if not means:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(means), torch.cat(stds)


def preprocess(images: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 (B, 32, 32) -> float (B, 1, 32, 32), each image standardised: (x - its mean) / (its std + 1), in grey
    levels, so mean 0 and a std just under 1 (1 grey level in the divisor keeps a flat image finite: all zeros).

    Per-image standardisation makes the input independent of the digit's colours and contrast.
    `mean`/`std` (B,) may be given precomputed by :func:`image_stats` (the training loop does so
    once per dataset rather than once per batch).
    """
    if mean is None or std is None:
        mean, std = image_stats(images)
    x = images.unsqueeze(1).float()  # (B, 1, 32, 32)
    return (x - mean[:, None, None, None]) / (std[:, None, None, None] + 1.0)  # +1 keeps flat images finite


def blank(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W) -> bool (B,): True for an image of one colour (every pixel equal). :func:`preprocess` makes it
    all zeros, so what the CNN says of it is its biases' answer, the same for every blank image: not a reading."""
    flat = images.reshape(images.shape[0], -1)  # (B, H*W)
    return flat.amax(dim=1) == flat.amin(dim=1)


BLANK_WORDS = "one colour, nothing to read; the digit is the network's bias"


def blank_note(count: int | None = None, total: int | None = None) -> str:
    """The one wording of a :func:`blank` image, for every command that reads images: one image's note
    ("blank: one colour, ...": `svhn predict`, `svhn explain`), or, with `count` of `total` images, a set's
    ("blank (2 of 20 images): one colour, ...": `svhn evaluate`, whose accuracy still counts them as read)."""
    if count is None:
        return f"blank: {BLANK_WORDS}"
    return f"blank ({count} of {counted(total, 'image')}): {BLANK_WORDS}"


def blank_fields(is_blank: bool) -> dict:
    """One image's `blank` and `blank_note` (its :func:`blank_note`, None for an image that is not blank), as
    `svhn predict`, `svhn explain` and /cnn's feature maps give them."""
    return {"blank": bool(is_blank), "blank_note": blank_note() if is_blank else None}
