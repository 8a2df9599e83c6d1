"""What every experiment hands back and writes: a result dict, a text table, PNG figures, one JSON file.

A result is a plain dict (JSON-serialisable, so the report and tests read the same numbers the CLI
prints):

    {"name": "pooling",
     "claim": "...the exam's words, quoted...", "claim_source": "Problem 1.1 (worked solution)",
     "verdict": "supported" | "partly supported" | "not supported" | "inconclusive",
     "finding": "what the numbers showed, in words, computed from the numbers",
     "table": [{column: value, ...}, ...],
     "figures": ["/abs/path/fig.png", ...],
     "numbers": {...everything measured...},
     "config": {...the settings that produced them...}, "quick": bool, "seconds": float}

Every file is written atomically (:mod:`dlexam.files`).
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlexam.cpu import torch_threads
from dlexam.errors import UserError
from dlexam.experiments.registry import RESULT_FILE
from dlexam.files import atomic_write_text

VERDICTS = ("supported", "partly supported", "not supported", "inconclusive")


def cpu_settings(threads: int = 1):
    """One thread (the models are small) and denormals flushed to zero: sigmoid networks produce
    gradients ~1e-40 whose arithmetic is ~100x slower on x86. Restores both afterwards."""
    return torch_threads(threads, flush_denormal=True)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch's global generators; return a fresh torch.Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def prepare_out_dir(out_dir: str | os.PathLike) -> Path:
    """Create the output folder (and parents); a path that exists as a file is a user error."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"out_dir {out} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output directory {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UserError(f"output directory {out} is not writable")
    return out


def _plain(x: Any) -> Any:
    """Make numbers JSON-friendly: tensors/arrays to lists, NaN/inf to None, tuples to lists."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, torch.Tensor):
        return _plain(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return _plain(x.item())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return str(x)
    return x


def finish(out_dir: Path, *, name: str, claim: str, claim_source: str, cfg, quick: bool, start: float,
           **fields) -> dict:
    """Assemble an experiment's result, check its shape, write `result.json` atomically and return it.

    `fields` are the experiment's own: verdict, finding, table, figures, numbers, data, ...; the
    config (a dataclass), the quick flag and the seconds since `start` (perf_counter) are added here.
    """
    result = {"name": name, "claim": claim, "claim_source": claim_source, **fields, "config": asdict(cfg),
              "quick": quick, "seconds": time.perf_counter() - start}
    for key in ("name", "claim", "claim_source", "verdict", "finding", "table", "figures", "numbers"):
        if key not in result:
            raise KeyError(f"experiment result lacks {key!r}")
    if result["verdict"] not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {result['verdict']!r}")
    plain = _plain(result)
    plain["json"] = str((out_dir / RESULT_FILE).resolve())
    atomic_write_text(out_dir / RESULT_FILE, json.dumps(plain, indent=2) + "\n")
    return plain
