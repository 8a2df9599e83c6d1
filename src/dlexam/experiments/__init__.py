"""Experiments that test the exam's claims in words (issue 6, part 1).

Each experiment is one module with a `run(out_dir, quick) -> dict`; it prints nothing, writes PNG
figures and `result.json` into `out_dir` (atomically) and returns the result dict described in
:mod:`dlexam.experiments.results`. `dlexam experiment NAME [--quick] [--out DIR]` is the CLI.

    from dlexam.experiments import EXPERIMENTS, run_experiment
    result = run_experiment("pooling", "runs/experiments/pooling", quick=True)
    result["verdict"], result["finding"], result["figures"]
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from dlexam.errors import UserError
from dlexam.experiments.results import RESULT_FILE, cpu_settings, format_table, prepare_out_dir

# name -> module (imported on first use, so `dlexam --help` stays fast)
MODULES = {
    "separable-logreg": "dlexam.experiments.separable_logreg",
    "activations": "dlexam.experiments.activations",
    "skip-connections": "dlexam.experiments.skip_connections",
    "attention-temperature": "dlexam.experiments.attention_temperature",
    "batch-size": "dlexam.experiments.batch_size",
    "pooling": "dlexam.experiments.pooling",
}


class _Registry(dict):
    """name -> run(out_dir, quick) -> dict; modules are imported when an entry is first read."""

    def __getitem__(self, name: str) -> Callable[[Path, bool], dict]:
        if name not in MODULES:
            raise KeyError(name)
        run = importlib.import_module(MODULES[name]).run

        def run_single_threaded(out_dir: Path, quick: bool = False) -> dict:
            with cpu_settings():
                return run(Path(out_dir), quick)

        return run_single_threaded

    def __iter__(self):
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)

    def __contains__(self, name: object) -> bool:
        return name in MODULES

    def keys(self):
        return MODULES.keys()

    def items(self):
        return [(n, self[n]) for n in MODULES]

    def values(self):
        return [self[n] for n in MODULES]


EXPERIMENTS: dict[str, Callable[[Path, bool], dict]] = _Registry()


def default_out_dir(name: str) -> Path:
    return Path("runs") / "experiments" / name


def run_experiment(name: str, out_dir: str | os.PathLike | None = None, quick: bool = False) -> dict:
    """Run one experiment; write its figures and result.json into `out_dir`; return its result dict."""
    if name not in MODULES:
        raise UserError(f"unknown experiment {name!r}; choose from {', '.join(MODULES)}")
    out = prepare_out_dir(default_out_dir(name) if out_dir is None else out_dir)
    return EXPERIMENTS[name](out, quick)


def run_all(out_root: str | os.PathLike | None = None, quick: bool = False) -> dict[str, dict]:
    """Run every experiment, each into `out_root/NAME` (default runs/experiments/NAME)."""
    root = None if out_root is None else Path(out_root)
    return {name: run_experiment(name, None if root is None else root / name, quick) for name in MODULES}


def load_result(name: str, out_dir: str | os.PathLike | None = None) -> dict | None:
    """The result.json a previous run wrote into `out_dir` (default runs/experiments/NAME), or None."""
    if name not in MODULES:
        raise UserError(f"unknown experiment {name!r}; choose from {', '.join(MODULES)}")
    path = Path(default_out_dir(name) if out_dir is None else out_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable experiment result ({exc})") from None


__all__ = ["EXPERIMENTS", "MODULES", "run_experiment", "run_all", "load_result", "default_out_dir", "format_table"]
