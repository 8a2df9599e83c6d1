"""The project's one checkpoint format.

A checkpoint is a single file written by :func:`save` with ``torch.save`` and read back by
:func:`load` with ``torch.load(..., weights_only=True)``, so loading never executes code from
the file. It holds everything needed to rebuild its model from the file alone:

    {"format": "dlexam-checkpoint", "version": 1,
     "kind": "svhn-cnn" | "sort-transformer" | ...,   # which model family
     "config": {...},                                 # plain values: the model's config
     "state_dict": {...},                             # the weights
     "extra": {...},                                  # optimizer state, epoch, metrics, RNG ...
     "provenance": {...}}                             # what wrote it: see provenance()

Checkpoints written before provenance was recorded have no "provenance" key; they load the same.

:func:`load` checks the file's structure before anything uses it: "config", "extra" and
"provenance" are dicts with string keys, "state_dict" is a dict of tensors; :func:`load_weights`
then checks every tensor against the model it is loaded into (the same names, shapes and dtypes,
and finite values) before copying it, so a bool, complex or float64 tensor, or a state dict stored
as a list, is one clear error rather than a silent cast or a traceback. :func:`check_fits` makes that
check before the model is built, on PyTorch's meta device (shapes, no memory): a config edited to
name a far larger network than the file's weights is refused before that network's memory is asked for.

Wherever a command asks for a checkpoint, a run directory works too (see :func:`resolve`).
"""

from __future__ import annotations

import io
import os
import platform
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dlexam import __version__
from dlexam.cpu import cpu_name
from dlexam.errors import UserError, missing
from dlexam.files import atomic_write_bytes

FORMAT = "dlexam-checkpoint"
VERSION = 1
# Names a run directory may hold, in order of preference.
RUN_FILES = ("best.pt", "last.pt", "checkpoint.pt", "model.pt")


def provenance() -> dict[str, str | int]:
    """What this process trains with: the same seed can give different weights on another torch
    version, thread count, CPU instruction set or CPU (float reductions round differently), so every
    checkpoint records these."""
    return {
        "torch": str(torch.__version__),  # a TorchVersion, which weights_only loading refuses
        "threads": torch.get_num_threads(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "machine": platform.machine(),
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "dlexam": __version__,
    }


def format_provenance(p: dict | None) -> str:
    """One line for people: 'torch 2.13.0+cpu, 1 thread, CPU AVX2 (x86_64), Python 3.11.7, dlexam 0.1.0'."""
    if not p:
        return "not recorded (a checkpoint from before provenance was saved)"
    threads = p.get("threads")
    return (
        f"torch {p.get('torch')}, {threads} thread{'' if threads == 1 else 's'}, "
        f"CPU {p.get('cpu_capability')} ({p.get('machine')}{', ' + p['cpu'] if p.get('cpu') else ''}), "
        f"Python {p.get('python')}, dlexam {p.get('dlexam')}"
    )


def to_bytes(*, kind: str, config: dict, state_dict: dict, extra: dict | None = None) -> bytes:
    """A checkpoint's bytes, with this process's :func:`provenance` (what :func:`save` writes)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "extra": extra or {},
        "provenance": provenance(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def save(path: str | os.PathLike, *, kind: str, config: dict, state_dict: dict, extra: dict | None = None) -> None:
    """Write a checkpoint atomically (temporary file, then rename). A run folder writes its checkpoints
    through :class:`dlexam.runs.RunFolder`, which also records them."""
    atomic_write_bytes(path, to_bytes(kind=kind, config=config, state_dict=state_dict, extra=extra))


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory standing for its best checkpoint. The empty string names
    none (Path would take it for the current folder)."""
    if os.fspath(path) == "":
        raise UserError("the checkpoint path is empty: name a checkpoint file or run folder (. for the current one)")
    p = Path(path)
    if p.is_dir():
        for name in RUN_FILES:
            if (p / name).is_file():
                return p / name
        raise UserError(f"{p} is a directory without a checkpoint (looked for {', '.join(RUN_FILES)})")
    if not p.exists():
        raise UserError(f"checkpoint not found: {missing(p)}")
    return p


def _reason(exc: Exception) -> str:
    """torch's refusal in a few plain words (its messages run to paragraphs, with terminal escapes)."""
    raw = str(exc).strip()
    if raw.startswith("Weights only load failed"):
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", raw)
        return "it holds " + (f"a {found.group(1)} object" if found else "objects") + \
            " that only a pickle can make; refused without running it"
    first = raw.splitlines()[0] if raw else type(exc).__name__
    return re.sub(r"\x1b\[[0-9;]*m|[\x00-\x1f\x7f]", "", first)[:120]


def _check_archive(p: Path) -> None:
    """torch.save stores its archive's entries uncompressed, so a checkpoint never unpacks to more than its
    own size. An entry that is compressed, or sizes beyond the file's, would make torch.load allocate what
    the file does not hold (a 420 kB file unpacking to 400 MB of zeros): refused before anything is unpacked."""
    try:
        with zipfile.ZipFile(p) as z:
            entries = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UserError(f"{p} is not a readable dlexam checkpoint (a damaged archive: {_reason(exc)})") from None
    if not any(e.filename.count("/") == 1 and e.filename.endswith("/data.pkl") for e in entries):
        raise UserError(f"{p} is not a readable dlexam checkpoint (a zip archive, but not one torch.save writes: "
                        "no ARCHIVE/data.pkl in it)")
    packed = any(e.compress_type != zipfile.ZIP_STORED or e.file_size != e.compress_size for e in entries)
    if packed or sum(e.file_size for e in entries) > p.stat().st_size:
        raise UserError(f"{p} is not a readable dlexam checkpoint (its archive holds compressed or oversized "
                        "entries, which torch.save never writes; refused before unpacking)")


def load(path: str | os.PathLike, *, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint without executing code from it; check its format, kind and structure."""
    p = resolve(path)
    if not p.is_file():
        raise UserError(f"{p} is not a file")
    try:  # is_zipfile says False for a file it cannot open: name that cause, not "not a checkpoint"
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not zipfile.is_zipfile(p):  # torch.save writes a zip archive; anything else is not ours
        raise UserError(f"{p} is not a readable dlexam checkpoint (not a PyTorch checkpoint file, or truncated)")
    _check_archive(p)
    try:
        with warnings.catch_warnings():  # dlexam's one line says what went wrong; torch's warnings would not
            warnings.simplefilter("ignore")
            payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a readable checkpoint"
        raise UserError(f"{p} is not a readable dlexam checkpoint ({_reason(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{p} is not a dlexam checkpoint")
    version = payload.get("version")
    if type(version) is int and version > VERSION:  # a bool or a float never: True == 1 loaded as version 1
        raise UserError(f"{p} was written by a newer dlexam (checkpoint version {version}; this one reads version "
                        f"{VERSION}): read it with that dlexam, or upgrade")
    if type(version) is not int or version != VERSION:
        raise UserError(f"{p} has checkpoint version {version!r}, which no dlexam wrote (this one reads version "
                        f"{VERSION})")
    if kind is not None and payload.get("kind") != kind:
        # only a checkpoint of the kind asked for is worth naming (a folder of one kind: none is)
        others = [n for n in RUN_FILES if n != p.name and _holds_kind(p.parent / n, kind)] \
            if Path(path).is_dir() else []
        where = (f" ({path} also holds {', '.join(others)}: name the file, {p.parent / others[0]})"
                 if others else "")
        raise UserError(f"{p} holds a {payload.get('kind')!r} model, expected {kind!r}{where}")
    check_structure(payload, p)
    return payload


def _holds_kind(p: Path, kind: str) -> bool:
    """Whether `p` is a readable checkpoint of `kind` (a run folder's other file, offered in a refusal)."""
    if not p.is_file():
        return False
    try:
        load(p, kind=kind)
    except UserError:
        return False
    return True


def check_structure(payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """The parts every checkpoint has, each of the right type: UserError naming the part otherwise."""
    for part, required in (("config", True), ("state_dict", True), ("extra", False), ("provenance", False)):
        value = payload.get(part)
        if value is None and not required:
            continue
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            got = type(value).__name__ if not isinstance(value, dict) else "a dict with keys that are not names"
            raise UserError(f"{path}: its {part} must be a dict of names, got {got}")
    for name, tensor in payload["state_dict"].items():
        if not isinstance(tensor, torch.Tensor):
            raise UserError(f"{path}: its state_dict entry {name!r} is a {type(tensor).__name__}, not a tensor")


def check_weights(model: torch.nn.Module, state_dict: Any, path: str | os.PathLike = "checkpoint") -> None:
    """`state_dict` must hold exactly `model`'s tensors: the same names, shapes and dtypes, finite values.

    ``load_state_dict`` alone would cast a bool, complex or float64 tensor silently into the model."""
    if not isinstance(state_dict, dict):
        raise UserError(f"{path}: its state_dict is a {type(state_dict).__name__}, not a dict of tensors")
    want = model.state_dict()
    missing, unexpected = sorted(set(want) - set(state_dict)), sorted(set(state_dict) - set(want))
    if missing or unexpected:
        detail = "; ".join(x for x in (f"missing {', '.join(missing[:4])}" if missing else "",
                                       f"unexpected {', '.join(map(str, unexpected[:4]))}" if unexpected else "") if x)
        raise UserError(f"{path}: weights do not fit the model's architecture ({detail[:160]})")
    for name, ref in want.items():
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            raise UserError(f"{path}: weight {name} is a {type(t).__name__}, not a tensor")
        if t.dtype != ref.dtype:
            raise UserError(f"{path}: weight {name} is {str(t.dtype).replace('torch.', '')}, the model's is "
                            f"{str(ref.dtype).replace('torch.', '')}")
        if t.shape != ref.shape:
            raise UserError(f"{path}: weights do not fit the model's architecture ({name} has shape "
                            f"{tuple(t.shape)}, the model's is {tuple(ref.shape)})")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise UserError(f"{path}: weight {name} holds NaN or infinite values")


def check_fits(make: Callable[[], torch.nn.Module], payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """:func:`check_weights` against the model `make()` builds, built on the meta device: shapes and dtypes
    without memory. The config comes from the file, so the network it names may be any size (10^12 filters
    asked for 100 TB; 10^8 made a 41 kB file cost 10 GB and a minute before the weights were compared)."""
    with torch.device("meta"):
        shape = make()
    check_weights(shape, payload.get("state_dict"), path)


def load_weights(model: torch.nn.Module, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """Check a checkpoint's weights against `model` (:func:`check_weights`), then load them."""
    check_weights(model, payload.get("state_dict"), path)
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else "")
        raise UserError(f"{path}: weights do not fit the model's architecture ({detail[:160]})") from None
