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

Wherever a command asks for a checkpoint, a run directory works too (see :func:`resolve`).
"""

from __future__ import annotations

import io
import os
import platform
import zipfile
from pathlib import Path
from typing import Any

import torch

from dlexam import __version__
from dlexam.errors import UserError
from dlexam.files import atomic_write_bytes

FORMAT = "dlexam-checkpoint"
VERSION = 1
# Names a run directory may hold, in order of preference.
RUN_FILES = ("best.pt", "last.pt", "checkpoint.pt", "model.pt")


def provenance() -> dict[str, str | int]:
    """What this process trains with: the same seed can give different weights on another torch
    version, thread count or CPU instruction set (float reductions round differently), so every
    checkpoint records these."""
    return {
        "torch": str(torch.__version__),  # a TorchVersion, which weights_only loading refuses
        "threads": torch.get_num_threads(),
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "machine": platform.machine(),
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
        f"CPU {p.get('cpu_capability')} ({p.get('machine')}), Python {p.get('python')}, dlexam {p.get('dlexam')}"
    )


def save(path: str | os.PathLike, *, kind: str, config: dict, state_dict: dict, extra: dict | None = None) -> None:
    """Write a checkpoint atomically (temporary file, then rename), with this process's :func:`provenance`."""
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
    atomic_write_bytes(path, buf.getvalue())


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run directory standing for its best checkpoint."""
    p = Path(path)
    if p.is_dir():
        for name in RUN_FILES:
            if (p / name).is_file():
                return p / name
        raise UserError(f"{p} is a directory without a checkpoint (looked for {', '.join(RUN_FILES)})")
    if not p.exists():
        raise UserError(f"checkpoint not found: {p}")
    return p


def load(path: str | os.PathLike, *, kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint without executing code from it; check its format and kind."""
    p = resolve(path)
    if not zipfile.is_zipfile(p):  # torch.save writes a zip archive; anything else is not ours
        raise UserError(f"{p} is not a readable dlexam checkpoint (not a PyTorch checkpoint file, or truncated)")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means "not a readable checkpoint"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{p} is not a readable dlexam checkpoint ({reason[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{p} is not a dlexam checkpoint")
    if payload.get("version") != VERSION:
        raise UserError(f"{p} has checkpoint version {payload.get('version')}, this dlexam reads {VERSION}")
    if kind is not None and payload.get("kind") != kind:
        raise UserError(f"{p} holds a {payload.get('kind')!r} model, expected {kind!r}")
    return payload


def load_weights(model: torch.nn.Module, payload: dict, path: str | os.PathLike = "checkpoint") -> None:
    """Load a checkpoint's weights into `model`, turning a mismatch into one clear error."""
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else (first[0] if first else "")
        raise UserError(f"{path}: weights do not fit the model's architecture ({detail[:160]})") from None
