"""Experiments that test the exam's claims in words (minibatch size, vanishing gradients, skip
connections, pooling, attention temperature, logistic regression on separable data).

Each experiment is one module with a ``run(out_dir, quick) -> dict``: it prints nothing, writes PNG
figures and ``result.json`` into ``out_dir`` (atomically) and returns the result described in
:mod:`dlexam.experiments.results`. The entry point for every view is :func:`run_experiment`: an
:class:`ExperimentRun` in, an :class:`ExperimentResult` out.

    from dlexam.experiments import ExperimentRun, run_experiment
    result = run_experiment(ExperimentRun("pooling", "runs/experiments/pooling", quick=True))
    result.verdict, result.finding, result.figures

This module imports nothing heavy: an experiment's module (and torch) load when it runs, so
`dlexam --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from dlexam.errors import UserError
from dlexam.experiments.registry import (
    MODULES,
    RESULT_FILE,
    ExperimentResult,
    ExperimentRun,
    default_out_dir,
)
from dlexam.figures import narrow_name


def files_written(figures: tuple[str, ...]) -> tuple[str, ...]:
    """The files an experiment with these figures writes: result.json, each figure and its narrow drawing."""
    return (RESULT_FILE, *figures, *(narrow_name(f) for f in figures))


def _runner(name: str) -> Callable[..., dict]:
    """The experiment's run(out_dir, quick), imported when called, on one CPU thread.

    `out_dir` is a folder or an open :class:`~dlexam.files.OutputDir`; the experiment's figures and
    its result.json are claimed there before any work (a file dlexam did not write is never
    replaced). A folder given by its path is opened as a run folder (:class:`dlexam.runs.RunFolder`,
    locked) and closed again when the experiment ends, however it ends.
    """

    def run(out_dir, quick: bool = False) -> dict:
        from dlexam.experiments.results import cpu_settings, prepare_out_dir

        module = importlib.import_module(MODULES[name])
        writes = files_written(module.FIGURES)
        with contextlib.ExitStack() as stack:
            if hasattr(out_dir, "claim"):
                out = out_dir
                out.claim(*writes)
            else:
                out = stack.enter_context(prepare_out_dir(out_dir, writes=writes))
            with cpu_settings():
                return module.run(out, quick)

    run.__name__ = f"run_{name.replace('-', '_')}"
    return run


# name -> run(out_dir, quick) -> result dict (a plain dict: .get, .items and membership all work)
EXPERIMENTS: dict[str, Callable[..., dict]] = {name: _runner(name) for name in MODULES}


def run_experiment(run: ExperimentRun) -> ExperimentResult:
    """Run one experiment; write its figures and result.json into its folder; return what it found."""
    from dlexam.experiments.results import prepare_out_dir

    figures = importlib.import_module(MODULES[run.name]).FIGURES
    folder = default_out_dir(run.name) if run.out_dir is None else run.out_dir
    with prepare_out_dir(folder, force=run.force, writes=files_written(figures)) as out:
        return ExperimentResult.from_json(EXPERIMENTS[run.name](out, run.quick))


def load_result(name: str, out_dir: str | os.PathLike | None = None) -> ExperimentResult | None:
    """The result.json a previous run wrote into `out_dir` (default runs/experiments/NAME), or None."""
    if name not in MODULES:
        raise UserError(f"unknown experiment {name!r}; choose from {', '.join(MODULES)}")
    path = Path(default_out_dir(name) if out_dir is None else out_dir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return ExperimentResult.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{path} is not a readable experiment result ({exc})") from None


__all__ = ["EXPERIMENTS", "MODULES", "RESULT_FILE", "ExperimentResult", "ExperimentRun", "default_out_dir",
           "files_written", "load_result", "run_experiment"]
