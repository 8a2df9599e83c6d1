"""SVHN Format 2 (32x32 cropped digits): download, load, grayscale, cache, preprocess.

The official files are MATLAB .mat files holding X: uint8 (32, 32, 3, N) (row, column, RGB,
sample) and y: (N, 1) with labels 1..10, where 10 stands for the digit 0. Problem 1 assumes the
images were converted to grayscale; we use ITU-R 601-2 luma, L = 299/1000 R + 587/1000 G +
114/1000 B, with the same integer rounding as Pillow's ``Image.convert("L")``.

Images stay in memory as one uint8 tensor (N, 32, 32): the full train split (73,257 images) is
75 MB. A float batch is made only when a batch is used (:func:`preprocess`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError
from dlexam.files import atomic_open

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
# Official MD5 sums, as torchvision's SVHN dataset lists them.
MD5 = {
    "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test": "eb5a983be6a315427106f1b164d9cef3",
    "extra": "a93ce644f1a588dc4d68dda5feec44a7",
}
SIZES = {"train": 73_257, "test": 26_032, "extra": 531_131}  # images per official split
SPLITS = tuple(MD5)
CACHE_VERSION = 1


def filename(split: str) -> str:
    return f"{split}_32x32.mat"


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of uint8 RGB (..., 3) -> uint8 (...), rounding as Pillow's convert("L")."""
    rgb = rgb.astype(np.uint32)
    # 19595/65536 = 0.299, 38470/65536 = 0.587, 7471/65536 = 0.114, +0x8000 rounds to nearest.
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def _read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an official-format .mat file -> (gray uint8 (N, 32, 32), labels int64 (N,) in 0..9)."""
    import scipy.io

    if not path.is_file():
        raise UserError(f"SVHN file not found: {path} (run `dlexam svhn download` or `dlexam svhn synth`)")
    try:
        mat = scipy.io.loadmat(path, variable_names=("X", "y"))
    except Exception as exc:  # noqa: BLE001 - scipy raises many types for a damaged file
        raise UserError(
            f"{path} is not a readable SVHN .mat file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:100] if str(exc) else ''})"
        ) from None
    X, y = mat.get("X"), mat.get("y")
    if X is None or y is None:
        raise UserError(f"{path} is not an SVHN Format 2 file (it needs variables X and y)")
    if X.ndim != 4 or X.shape[:3] != (32, 32, 3) or X.dtype != np.uint8:
        raise UserError(f"{path}: X must be uint8 of shape (32, 32, 3, N), got {X.dtype} {X.shape}")
    y = np.asarray(y).reshape(-1)  # (N, 1) -> (N,)
    if y.shape[0] != X.shape[3]:
        raise UserError(f"{path}: {X.shape[3]} images but {y.shape[0]} labels")
    if y.size and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise UserError(f"{path}: labels must be integers 1..10 (10 means digit 0)")
    # (32, 32, 3, N) -> (N, 32, 32, 3): sample first, then row, column, channel
    gray = rgb_to_gray(np.moveaxis(X, 3, 0))  # (N, 32, 32)
    labels = y.astype(np.int64) % 10  # label 10 is the digit 0
    return np.ascontiguousarray(gray), labels


def _cache_path(mat: Path) -> Path:
    return mat.parent / ".dlexam-cache" / f"{mat.stem}.gray.npz"


def _fallback_cache_path(mat: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlexam" / "svhn"
    key = hashlib.sha1(str(mat.resolve()).encode()).hexdigest()[:16]
    return base / f"{mat.stem}.{key}.gray.npz"


def _stamp(mat: Path) -> np.ndarray:
    st = mat.stat()
    return np.array([CACHE_VERSION, st.st_size, st.st_mtime_ns], dtype=np.int64)


def _read_cache(cache: Path, stamp: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(cache) as z:
            if not np.array_equal(z["stamp"], stamp):
                return None
            return z["images"], z["labels"]
    except Exception:  # noqa: BLE001 - a bad cache is simply rebuilt
        return None


def load_split(
    root: str | os.PathLike, split: str = "train", *, cache: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load `root/{split}_32x32.mat` -> (images uint8 (N, 32, 32), labels int64 (N,) with 0..9).

    The first load decodes the .mat file and writes a grayscale cache beside it (or, where that
    folder is read-only, under ~/.cache/dlexam); a later load of an unchanged file reads the cache.
    """
    mat = Path(root) / filename(split)
    if not mat.is_file():
        raise UserError(f"SVHN file not found: {mat} (run `dlexam svhn download` or `dlexam svhn synth`)")
    stamp = _stamp(mat)
    candidates = [_cache_path(mat), _fallback_cache_path(mat)]
    if cache:
        for c in candidates:
            hit = _read_cache(c, stamp)
            if hit is not None:
                return torch.from_numpy(hit[0]), torch.from_numpy(hit[1])
    images, labels = _read_mat(mat)
    if cache:
        for c in candidates:
            try:
                with atomic_open(c, "wb") as f:
                    np.savez(f, stamp=stamp, images=images, labels=labels)
                break
            except OSError:
                continue
    return torch.from_numpy(images), torch.from_numpy(labels)


def load_labelled(root: str | os.PathLike, split: str = "test") -> tuple[torch.Tensor, torch.Tensor, str]:
    """Labelled digits from `root`: an SVHN folder (root/{split}_32x32.mat) or an image folder in
    torchvision's ImageFolder layout (root/0/*.png ... root/9/*.png, any size and mode; `split` is
    then not used) -> (uint8 (N, 32, 32), labels int64 (N,), "mat" or "folder")."""
    from dlexam.svhn.images import is_image_folder, load_image_folder

    root = Path(root)
    mat = root / filename(split)
    if mat.is_file():
        images, labels = load_split(root, split)
        return images, labels, "mat"
    if is_image_folder(root):
        images, labels, _ = load_image_folder(root)
        return images, labels, "folder"
    raise UserError(
        f"SVHN file not found: {mat} (run `dlexam svhn download` or `dlexam svhn synth`), and {root} is not an"
        f" image folder ({root}/0/ ... {root}/9/)"
    )


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
    """uint8 (B, 32, 32) -> float (B, 1, 32, 32), each image standardised to mean 0, std 1.

    Per-image standardisation makes the input independent of the digit's colours and contrast.
    `mean`/`std` (B,) may be given precomputed by :func:`image_stats` (the training loop does so
    once per dataset rather than once per batch).
    """
    if mean is None or std is None:
        mean, std = image_stats(images)
    x = images.unsqueeze(1).float()  # (B, 1, 32, 32)
    return (x - mean[:, None, None, None]) / (std[:, None, None, None] + 1.0)  # +1 keeps flat images finite


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(
    root: str | os.PathLike,
    splits=("train", "test"),
    *,
    base_url: str = BASE_URL,
    md5: dict | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> list[Path]:
    """Download official SVHN files into `root`, resuming partial downloads with HTTP Range.

    Bytes go to `{name}.part`; only when the whole file's MD5 matches the official sum is it
    renamed onto `{name}`, so an interrupted or corrupt download never passes as a good file. A
    file already present with the right MD5 is kept. Returns the paths of the good files.
    """
    md5 = md5 or MD5
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for split in splits:
        if split not in md5:
            raise UserError(f"unknown SVHN split {split!r} (choose from {', '.join(md5)})")
        target = root / filename(split)
        if target.is_file() and md5sum(target) == md5[split]:
            done.append(target)
            continue
        part = root / (filename(split) + ".part")
        _fetch_resuming(base_url.rstrip("/") + "/" + filename(split), part, progress, timeout)
        got = md5sum(part)
        if got != md5[split]:
            part.unlink()
            raise UserError(
                f"{filename(split)}: MD5 {got} does not match the official {md5[split]}; "
                "the download was removed, run the command again"
            )
        with open(part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, target)
        done.append(target)
    return done


def _fetch_resuming(url: str, part: Path, progress: bool, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part is complete
            return
        raise UserError(f"download of {url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UserError(f"download of {url} failed: {getattr(exc, 'reason', exc)}") from None
    with resp:
        if have and resp.status != 206:  # the server ignored Range: start again
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total else None
        from tqdm import tqdm

        bar = tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            desc=part.name[:-5],
            file=sys.stderr,
            disable=not progress or not sys.stderr.isatty(),
        )
        with open(part, "ab" if have else "wb") as f, contextlib.closing(bar):
            while True:
                try:
                    block = resp.read(1 << 16)
                except OSError as exc:
                    raise UserError(f"download of {url} interrupted ({exc}); run the command again to resume") from None
                if not block:
                    break
                f.write(block)
                bar.update(len(block))
        if total is not None and part.stat().st_size < total:
            raise UserError(
                f"download of {url} interrupted at {part.stat().st_size} of {total} bytes; "
                "run the command again to resume"
            )
