"""What every experiment hands back and writes: a result dict, a text table, PNG figures, one JSON file.

A result is a plain dict (JSON-serialisable, so the report and tests read the same numbers the CLI
prints):

    {"name": "pooling",
     "claim": "...the exam's words, quoted...", "claim_source": "Problem 1.1 (worked solution)",
     "verdict": "supported" | "partly supported" | "not supported" | "inconclusive",
     "finding": "what the numbers showed, in words, computed from the numbers",
     "table": [{column: value, ...}, ...],
     "figures": ["/abs/path/fig.png", ...],   (each also drawn for narrow screens: fig.narrow.png beside it)
     "captions": {"fig.png": {"alt": "what the image shows", "caption": "what it tells, with numbers"}},
     "numbers": {...everything measured...},
     "config": {...the settings that produced them...}, "quick": bool, "seconds": float}

Every file is written atomically (:mod:`dlexam.files`).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from dlexam.cpu import torch_threads
from dlexam.experiments.registry import RESULT_FILE
from dlexam.files import OutputDir
from dlexam.plain import dumps, plain
from dlexam.runs import RunFolder

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


def prepare_out_dir(out_dir: str | os.PathLike, *, force: bool = False, writes: tuple[str, ...] = ()) -> RunFolder:
    """The experiment's output folder: a run folder (:class:`dlexam.runs.RunFolder`), checked, locked and
    its files (`writes`) claimed before any work."""
    return RunFolder(out_dir, writes=writes, force=force, what="--out")


def quick_note(reduced: str, meaning: str) -> str:
    """The opening of a --quick run's finding: what the quick settings cut, and what that means for the
    finding (where its runs are too short to support the comparisons, it says so)."""
    return f"Quick run ({reduced}): {meaning} "


def finish(out_dir: OutputDir, *, name: str, claim: str, claim_source: str, cfg, quick: bool, start: float,
           **fields) -> dict:
    """Assemble an experiment's result, check its shape, write `result.json` atomically and return it.

    `fields` are the experiment's own: verdict, finding, table, figures, numbers, data, ...; the
    config (a dataclass), the quick flag and the seconds since `start` (perf_counter) are added here.
    """
    result = {"name": name, "claim": claim, "claim_source": claim_source, **fields, "config": asdict(cfg),
              "quick": quick, "seconds": time.perf_counter() - start}
    for key in ("name", "claim", "claim_source", "verdict", "finding", "table", "figures", "captions", "numbers"):
        if key not in result:
            raise KeyError(f"experiment result lacks {key!r}")
    if result["verdict"] not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {result['verdict']!r}")
    for fig in result["figures"]:
        said = result["captions"].get(Path(fig).name, {})
        if not (said.get("alt") and said.get("caption")):
            raise ValueError(f"figure {Path(fig).name} has no alt text or caption")
    data = plain(result)
    data["json"] = str(out_dir.file(RESULT_FILE).resolve())
    out_dir.write_text(RESULT_FILE, dumps(data, indent=2) + "\n")
    return data
