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
import errno
import hashlib
import http.client
import os
import re
import socket
import struct
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError, missing
from dlexam.files import (
    LinkRefused,
    OutputDir,
    PartialFile,
    WriteError,
    atomic_open,
    drop_partial,
    open_partial,
    open_unlinked,
    sha256_of,
    write_error,
)
from dlexam.progress import Progress, ProgressFn, report
from dlexam.svhn.data import SPLITS, matfile
from dlexam.words import counted

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
# Official MD5 sums of the SPLITS, as torchvision's SVHN dataset lists them.
MD5 = {
    "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test": "eb5a983be6a315427106f1b164d9cef3",
    "extra": "a93ce644f1a588dc4d68dda5feec44a7",
}
# The official files' exact sizes in bytes (the Content-Length ufldl.stanford.edu sends, as public SVHN
# loaders check it): a download ends at this size, a transfer that stops short is resumed, a server
# offering another size is refused before anything is written.
SIZE = {"train": 182_040_794, "test": 64_275_384, "extra": 1_329_278_602}
# For files of unknown size (another md5 given): a download longer than this is refused (an endless or
# wrong response must not fill the disk).
MAX_BYTES = {"train": 230_000_000, "test": 82_000_000, "extra": 1_700_000_000}
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
    if y.size and (y.min() < 1 or y.max() > 10 or not np.all(y == np.round(y))):
        raise UserError(f"{path}: labels must be integers 1..10 (10 means digit 0)")
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
    from dlexam.svhn.data.image_folder import is_image_folder, load_image_folder

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
    raise UserError(
        f"SVHN file not found: {missing(mat)} (run `dlexam svhn download` or `dlexam svhn synth`), and "
        f"{missing(root)} is not an image folder ({root}/0/ ... {root}/9/)"
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


def _copy_bounded(resp, part: PartialFile, total: int | None, limit: int, url: str,
                  progress: ProgressFn | None) -> None:
    """Append the response to `part`, never past `limit` bytes; remove `part` when the disk is full."""
    task = part.name[:-5]
    try:
        while True:
            try:
                block = resp.read(1 << 16)
            except (OSError, http.client.HTTPException) as exc:  # a reset, a timeout, a cut chunked body
                raise UserError(f"download of {url} interrupted ({exc}); run the command again to resume") from None
            if not block:
                break
            if part.size + len(block) > limit:
                raise _TooLong()
            part.write(block)
            report(progress, Progress(task, part.size, total, "B"))
    except _TooLong:
        part.discard()
        raise UserError(f"download of {url} ran past {limit:,} bytes, more than the file can be; "
                        "the partial file was removed") from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise write_error(part.path, exc) or exc from None
        with contextlib.suppress(OSError, UserError):  # the file goes first, freeing its space for the record
            part.discard()
        raise UserError(f"download of {url}: the disk is full; the partial file was removed") from None
    report(progress, Progress(task, part.size, total, "B", finished=True))


class _TooLong(Exception):
    pass


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
    max_bytes: dict | None = None,
    size: dict | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> list[Path]:
    """Download official SVHN files into `root`, resuming partial downloads with HTTP Range.

    Bytes go to `{name}.part`; only when the whole file's MD5 matches the official sum is it
    renamed onto `{name}`, so an interrupted or corrupt download never passes as a good file. A
    file already present with the right MD5 is kept; one with another MD5 is replaced only if dlexam
    wrote it (or with `force`). A transfer that ends before the file's size (the official `SIZE`, or
    `size` where `md5` is given) keeps its `.part` for the next run to resume; a server offering
    another size is refused before anything is written; a response longer than the file can be
    (the size, else `max_bytes`) is cut off and removed, and so is a partial file when the disk is full.
    The `.part` is dlexam's by its entry in the folder's record, made before its first byte (so a run killed by
    SIGKILL leaves one the next run resumes; another program's `.part` is refused, or with `force` replaced):
    :mod:`dlexam.files.partial`. A partial reply is appended only where its Content-Range starts at the byte
    asked for (see :func:`_reply_range`); a 416 to a `.part` short of the size restarts it from byte 0 once. A file
    already right leaves nothing to fetch, and dlexam's own `.part` of an earlier run beside it goes.
    """
    size = size if size is not None else ({} if md5 else SIZE)
    md5 = md5 or MD5
    max_bytes = max_bytes or MAX_BYTES
    for split in splits:
        if split not in SPLITS or split not in md5:
            raise UserError(f"unknown SVHN split {split!r} (choose from {', '.join(SPLITS)})")
    with OutputDir(root, force=force, what="root", lock=True) as out:  # one writer of the .part files at a time
        return _download_into(out, splits, md5, max_bytes, size, base_url, progress, timeout)


def _download_into(out: OutputDir, splits, md5: dict, max_bytes: dict, size: dict, base_url: str, progress,
                   timeout) -> list[Path]:
    done = []
    for split in splits:
        target = out.file(filename(split))
        if target.is_file() and md5sum(target) == md5[split]:
            drop_partial(out, filename(split) + ".part")  # dlexam's own .part of an earlier run, if one is there
            done.append(target)
            continue
        out.claim(filename(split))
        part = open_partial(out, filename(split) + ".part")  # absent, or the one dlexam's record describes
        try:
            _fetch_resuming(base_url.rstrip("/") + "/" + filename(split), part, progress, timeout,
                            max_bytes.get(split, MAX_BYTES.get(split, 2_000_000_000)), size.get(split))
        except BaseException:  # an interrupted download (an error, Ctrl-C): its record moves on to all it holds
            with contextlib.suppress(Exception):
                part.checkpoint()
            part.close()
            raise
        path = part.finish()
        if path is None:  # the server sent an empty reply, and no size said that more was due
            raise UserError(f"download of {filename(split)}: the server sent no bytes; nothing was written")
        got = md5sum(path)
        if got != md5[split]:
            part.discard()
            raise UserError(
                f"{filename(split)}: MD5 {got} does not match the official {md5[split]}; "
                "the download was removed, run the command again"
            )
        out.commit(filename(split), path)  # checked again, renamed and recorded as one step
        part.forget()
        done.append(target)
    return done


_LENGTH = re.compile(r"[0-9]{1,18}")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)")


def _length(text: str | None) -> int | None:
    """A Content-Length as a number; None where it is absent or not plain ASCII digits (http.client then reads
    to the end of the connection, as it does without one)."""
    return int(text.strip()) if text is not None and _LENGTH.fullmatch(text.strip()) else None


class _Misplaced(Exception):
    """A partial reply (206) whose bytes cannot be placed in the file; the message says why."""


def _reply_range(resp, have: int) -> tuple[int, int | None]:
    """Where the reply's bytes start in the file, and the file's whole size as far as the reply says.

    A 200 reply is the file from byte 0 (a server that ignores Range). A 206 reply must name its bytes in a
    Content-Range that agrees with its Content-Length and starts where dlexam asked (`have`), or at 0 (the file
    from its start again, taken as a 200); otherwise :class:`_Misplaced`: its bytes would land in the wrong place."""
    length = _length(resp.headers.get("Content-Length"))
    if resp.status != 206:
        return 0, length
    header = (resp.headers.get("Content-Range") or "").strip()
    m = _CONTENT_RANGE.fullmatch(header)
    if m is None:
        raise _Misplaced(f"without a valid Content-Range ({header[:80] or 'none'})")
    first, last = int(m[1]), int(m[2])
    whole = None if m[3] == "*" else int(m[3])
    if last < first or (whole is not None and last >= whole) or (length is not None and length != last - first + 1):
        raise _Misplaced(f"whose Content-Range ({header[:80]}) does not fit its Content-Length "
                         f"({length if length is not None else 'none'})")
    if first not in (have, 0):
        raise _Misplaced(f"with the bytes from {first:,} on (Content-Range: {header[:80]}), asked for those from "
                         f"{have:,} on")
    return first, whole if whole is not None else last + 1


def _request(url: str, have: int, timeout: float):
    """The server's reply to a GET of `url` from byte `have` on (a Range request where `have` > 0); None where a
    416 says there is nothing after `have`."""
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:  # nothing left to fetch: the part is complete
            return None
        if 300 <= exc.code < 400:  # a redirect urllib would not follow: a loop, or to another kind of address
            raise UserError(f"download of {url} failed: HTTP {exc.code}, a redirect that was not followed "
                            f"({(str(exc.reason).splitlines() or [''])[0][:120]})") from None
        raise UserError(f"download of {url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.gaierror):  # "[Errno -2] Name or service not known" said what, not why
            host = urllib.parse.urlsplit(url).hostname
            raise UserError(f"download of {url} failed: the name {host} could not be looked up (no network, or no "
                            f"name server: {reason.strerror})") from None
        raise UserError(f"download of {url} failed: {reason}") from None
    except http.client.HTTPException as exc:  # not an HTTP answer (a bad status line, a header too long)
        raise UserError(f"download of {url} failed: not an HTTP answer ({type(exc).__name__})") from None


def _fetch_resuming(url: str, part: PartialFile, progress: ProgressFn | None, timeout: float, limit: int,
                    expected: int | None = None) -> None:
    """Fetch `url` onto the end of `part` (from :func:`open_partial`); `expected`: the file's exact size in bytes,
    where known. A reply to a Range request whose bytes cannot be placed (a 206 from another byte than asked) is
    dropped, and the file fetched afresh from byte 0 once; a second such reply is refused. So is a 416 (nothing after
    the byte asked for) to a `part` short of `expected`; a 416 to a `part` of that size (or of unknown size) leaves
    it for the caller's MD5 check. A reply that is a web page (Content-Type text/html) is refused before any of it is
    written: kept as a `.part`, its bytes would have been the start that a later resume appends the file to."""
    limit = expected if expected is not None else limit
    if part.size > limit:  # not a partial download of this file
        part.discard()
    ask = part.size
    while True:
        resp = _request(url, ask, timeout)
        if resp is None:  # a 416: nothing after byte `ask`
            if expected is None or part.size == expected:  # whole as far as dlexam knows: the MD5 decides
                return
            part.discard()  # short of the known size: not a prefix of the file the server has now
            ask = 0  # the file afresh, once (a 416 to a request without Range is refused)
            continue
        with resp:
            if resp.headers.get_content_type() == "text/html":  # a portal's or a moved site's page, not the file
                raise UserError(f"download of {url}: the server answered with a web page (text/html), not the file; "
                                "nothing was written (is the address right, or is a login page in the way?)")
            try:
                start, total = _reply_range(resp, ask)
            except _Misplaced as exc:
                if ask:  # start again from byte 0: a fresh request, without Range
                    ask = 0
                    continue
                raise UserError(f"download of {url}: the server sent a partial reply (206) {exc}; nothing was "
                                "written") from None
            if expected is not None and total is not None and total != expected:
                raise UserError(f"download of {url}: the server offers {total:,} bytes, but the file has "
                                f"{expected:,}; nothing was written")
            if total is not None and total > limit:
                raise UserError(f"download of {url}: the server offers {total:,} bytes, more than the file can be "
                                f"({limit:,}); nothing was written")
            if start != part.size:  # the file from its start again (a server that ignores Range): so does dlexam
                part.discard()
            _copy_bounded(resp, part, total, limit, url, progress)
        whole = total if total is not None else expected  # without a Content-Length: the known size
        if whole is not None and part.size < whole:
            raise UserError(
                f"download of {url} interrupted at {part.size:,} of {whole:,} bytes; run the command again to resume"
            )
        return
