"""The one run-folder service: every command that trains or runs into a folder writes it through here.

`svhn train`, the shipped recipe (`svhn train --recipe`), `sort train`, `experiment` and `report`
open their folder as a :class:`RunFolder`, and the rules are the same for all of them:

- **Checked and locked before any work.** The folder must be a folder that can be written
  (:class:`dlexam.files.OutputDir`); it is locked while in use (``.dlexam.lock``, taken without
  following a link); temporary files a killed writer left behind are removed.
- **Nothing foreign is touched.** Every file the run will write (`writes`) is claimed up front: one
  that dlexam did not write, a symbolic link, a folder or a special file in its place is refused
  with one line and left as it is (``force`` replaces a foreign regular file, never a link).
- **One run per folder.** A new run refuses a folder that already holds one (any of its `markers`)
  unless ``force``; a trainer that says its ``kind`` (its checkpoints' kind) also refuses a run of another
  kind, named by the record (``.dlexam-files.json``: its "kind", else its run files that this trainer would
  not write), whichever files that run holds, and offers no resume of it (an SVHN run's best.pt without
  last.pt took a sorter's last.pt beside it until 2026-12-07); ``resume`` needs the run's ``last.pt``, written
  by dlexam. A forced run replaces the run there as a whole: when it writes its first file, the earlier run's
  files that it would not write itself (those the record names as a run's, or as written there about that run
  by another command, ``svhn evaluate``'s confusion PNG: :class:`dlexam.files.OutputDir`'s ``of_run``; each
  unchanged since dlexam wrote it) are removed (:meth:`dlexam.files.OutputDir.remove_own`), so that no
  ``best.pt`` of an SVHN run is left beside a sorter's ``last.pt`` for a loader to take. A file changed since,
  a foreign file and a link stay as they are; a run refused or stopped before its first write leaves the
  earlier run whole.
- **Every write is one commit** (:meth:`dlexam.files.OutputDir.write_bytes`): the file and its entry
  in the folder's record (``.dlexam-files.json``) change together, under a lock, so a run killed at
  any instant leaves files that ``--resume`` accepts, and commands writing into one folder at once
  lose no entry.
- **Checkpoints last.** A trainer writes ``best.pt`` and the metrics of an epoch before its
  ``last.pt``: ``last.pt`` is the commit point of the epoch, and a resumed run redoes (bit for bit)
  whatever came after it.

Use::

    from dlexam import runs
    with runs.RunFolder(out, writes=runs.TRAINER_FILES, markers=runs.TRAINER_MARKERS, resume=resume) as run:
        if resume:
            payload = run.load(runs.LAST, kind=KIND)                          # checked checkpoint
            settings = runs.resume_config(saved, given, where=run.file(runs.LAST), may_change=("epochs",))
        ...
        run.save_checkpoint(runs.BEST, kind=KIND, config=..., state_dict=..., extra=...)  # if improved
        run.write_metrics(history, settings)
        run.save_checkpoint(runs.LAST, kind=KIND, config=..., state_dict=..., extra=...)
        run.write_figure(runs.CURVES, figure)

A trainer that starts from another model's weights (fine-tuning) loads them with
:func:`dlexam.checkpoint.load` and :func:`dlexam.checkpoint.load_weights` (both checked) and writes its
own run folder like any other run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dlexam import checkpoint
from dlexam.errors import UNSET, NotReplacing, SettingsDiffer, UserError
from dlexam.files import OutputDir, sha256_of
from dlexam.plain import dumps

LAST, BEST = "last.pt", "best.pt"
METRICS_CSV, METRICS_JSON, CURVES = "metrics.csv", "metrics.json", "curves.png"
TRAINER_FILES = (LAST, BEST, METRICS_CSV, METRICS_JSON, CURVES)  # what `svhn train` writes
TRAINER_MARKERS = (LAST, BEST, METRICS_JSON, METRICS_CSV)  # any of these: the folder holds a run
# metrics.csv's columns (metrics.json keeps every field of the history)
METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_s")


class RunFolder(OutputDir):
    """A run's folder, checked, locked and claimed before any work (see the module docstring).

    `writes`: every file the run may write here (claimed now). `markers`: the files whose presence
    means the folder already holds a run (refused for a new run unless `force`). With `resume`, the
    run's `resume_from` (default last.pt) must be there and be dlexam's. `forceable` and `resumable`:
    whether the command offers force and resume, so that a refusal names only what it offers. `kind`: what the
    run is (its checkpoints' kind), recorded, so that a run of another kind is refused here by name.
    """

    def __init__(self, path: str | os.PathLike, *, writes: Sequence[str], markers: Sequence[str] = (),
                 resume: bool = False, resume_from: str = LAST, force: bool = False, what: str = "out",
                 forceable: bool = True, resumable: bool = True, kind: str | None = None):
        super().__init__(path, force=force, lock=True, what=what, run_files=tuple(writes), forceable=forceable,
                         run_kind=kind)
        self._replaced: list[str] = []  # a forced run's: the earlier run's files it removes at its first write
        try:
            self.writes = tuple(writes)
            self.sweep_temporaries(*self.writes)
            held = [m for m in markers if self.file(m).exists() or self.file(m).is_symlink()]  # the run files there
            other = self._other_kind(kind)
            if other and (resume or not force):
                ways = ["choose another folder"] + ["force"] * (forceable and not resume)
                raise NotReplacing(f"{'resume: ' if resume else ''}{what} {self.path} already holds {other}; ", ways)
            if resume:
                last = self.file(resume_from)
                if not (last.exists() or last.is_symlink()):
                    why = f" (it holds {held[0]}, of a run that keeps no {resume_from}: nothing to go on from)" \
                        if held else ""
                    raise UserError(f"resume: {self.path} holds no {resume_from} to resume from{why}")
            elif held and not force and all(self.owns(m) for m in held):
                can_resume = resumable and self.file(resume_from).is_file() and self.owns(resume_from)
                ways = ["resume"] * can_resume + ["choose another folder"] + ["force"] * forceable
                raise NotReplacing(f"{what} {self.path} already holds a training run ({self.file(held[0])}); ", ways)
            self.claim(*self.writes)  # a foreign file or a link: refused, untouched
            # a forced new run replaces the run there: the earlier run's files it would not write go at its first write
            run_files = self._read_record()[1]
            if kind is not None:  # a run of another kind, whose files may be none of `markers`
                held = held or sorted(n for n in run_files if self.owns(n))
            self._replaced = sorted((run_files | self.run_record()[1]) - set(self.writes)) \
                if held and force and not resume else []
        except BaseException:
            self.close()
            raise

    def _other_kind(self, kind: str | None) -> str | None:
        """The run of another kind than `kind` this folder holds, in words ("a 'svhn-cnn' run (best.pt, ...), not a
        'sort-transformer' run"); None where it holds none (or `kind` is None: no kind to compare)."""
        if kind is None:
            return None
        held_kind = self.run_record()[0]
        theirs = sorted(n for n in self._read_record()[1] if self.owns(n))  # its files still as dlexam wrote them
        if not theirs or held_kind == kind or (held_kind is None and set(theirs) <= set(self.writes)):
            return None
        said = f"a {held_kind!r} run" if held_kind is not None else "another kind of run"
        return f"{said} ({', '.join(theirs)}), not a {kind!r} run"

    def __enter__(self) -> RunFolder:
        return self

    def write_bytes(self, name: str, data: bytes) -> Path:
        self._retire_replaced()
        return super().write_bytes(name, data)

    def open(self, name: str, mode: str = "wb"):
        self._retire_replaced()
        return super().open(name, mode)

    def commit(self, name: str, tmp: str | os.PathLike) -> Path:
        self._retire_replaced()
        return super().commit(name, tmp)

    def _retire_replaced(self) -> None:
        """Before a forced run's first write: remove the earlier run's own files it would not write (see the
        module docstring); each only where it is still dlexam's, unchanged."""
        names, self._replaced = self._replaced, []
        for name in names:
            self.remove_own(name)

    def load(self, name: str, *, kind: str) -> dict:
        """A checkpoint of this run (claimed: dlexam wrote it), read and checked (:func:`checkpoint.load`)."""
        self.claim(name)
        return checkpoint.load(self.file(name), kind=kind)

    def save_checkpoint(self, name: str, *, kind: str, config: dict, state_dict: dict, extra: dict) -> None:
        """Write a checkpoint (:mod:`dlexam.checkpoint`'s format) and its record as one commit."""
        self.write_bytes(name, checkpoint.to_bytes(kind=kind, config=config, state_dict=state_dict, extra=extra))

    def write_metrics(self, history: list[dict], settings: dict, columns: Sequence[str] = METRIC_COLUMNS, *,
                      keep_same: bool = False) -> None:
        """metrics.csv (one row per epoch, `columns`) and metrics.json (the settings and every field). With
        `keep_same`, a file that already holds what would be written is left as it is (:meth:`put`)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for row in history:
            w.writerow(row)
        self.put(METRICS_CSV, buf.getvalue().encode("utf-8"), keep_same=keep_same)
        self.put(METRICS_JSON, dumps({"settings": settings, "history": history}, indent=1).encode("utf-8"),
                 keep_same=keep_same)

    def write_figure(self, name: str, fig, *, keep_same: bool = False) -> str:
        """Render a matplotlib figure as PNG into this folder (one commit); its absolute path."""
        from dlexam.figures import to_png

        return str(self.put(name, to_png(fig), keep_same=keep_same).resolve())

    def put(self, name: str, data: bytes, *, keep_same: bool = False) -> Path:
        """Write `data` as `name` (one commit); with `keep_same`, not where `name` is already dlexam's file holding
        exactly `data` (a finished run resumed: nothing trained, nothing rewritten)."""
        if keep_same and self.owns(name) and sha256_of(self.file(name)) == hashlib.sha256(data).hexdigest():
            return self.file(name)
        return self.write_bytes(name, data)


# ---- resuming -------------------------------------------------------------------------------------
_MISSING = object()


def _show(value: Any) -> str:
    if value is None:
        return UNSET
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b or (isinstance(a, int | float) and isinstance(b, int | float) and a == b)


def resume_config(saved: Mapping[str, Any], given: Mapping[str, Any], *, where: str | os.PathLike,
                  may_change: Iterable[str] = ()) -> dict[str, Any]:
    """The settings a resumed run continues with: the run's own (`saved`), with those the user gave now.

    Every given setting must equal the run's, except those in `may_change` (a longer schedule, say):
    the ones that differ are refused together, by name, in one line ("resume: R/last.pt was trained
    with lr 0.1, not 0.5; batch_size 256, not 7"). A setting the run did not record cannot be given.
    """
    may_change = set(may_change)
    differ = [(name, value, f"{_show(saved.get(name))}, not {_show(value)}" if name in saved
               else f"(not recorded in the run), not {_show(value)}")
              for name, value in given.items()
              if name not in may_change and not _same(saved.get(name, _MISSING), value)]
    if differ:
        raise SettingsDiffer(str(where), differ)
    return {**saved, **given}


RUN_THREADS = 1024  # the most threads a run's own count may be to resume at it (a tampered file may say a million)


def run_threads(payload: Mapping[str, Any], *, where: str | os.PathLike) -> int | None:
    """The torch thread count a run was trained at: what its checkpoint's provenance says of the process that
    wrote it (:func:`dlexam.checkpoint.provenance`), whether or not ``--threads`` was given; None where it says
    none (a checkpoint from before provenance was recorded). A resumed run goes on at this count, whatever
    this process's default is, and a ``threads`` given with the resume must equal it: another count changes
    the bits, so that the run would no longer end as one never stopped. Both trainers hold to this rule:
    `svhn train --resume` and `sort train --resume`. A count past :data:`RUN_THREADS` (a tampered file) is
    refused in one line naming `where`."""
    provenance = payload.get("provenance")
    threads = provenance.get("threads") if isinstance(provenance, Mapping) else None
    if type(threads) is not int or threads < 1:
        return None
    if threads > RUN_THREADS:
        raise UserError(f"{where}: its resume state is damaged (it was trained with {threads} threads, more than "
                        f"{RUN_THREADS})")
    return threads


def resume_threads(payload: Mapping[str, Any], threads: int | None, *, where: str | os.PathLike) -> int | None:
    """The thread count a resumed run goes on at: its own (:func:`run_threads`), else `threads` (the count given,
    None for none). A `threads` given that differs from the run's own is refused as :func:`resume_config` refuses
    any setting ("resume: R/last.pt was trained with threads 2, not 1 (...)"; the command line says
    ``--threads``)."""
    own = run_threads(payload, where=where)
    if own is None:
        return threads
    if threads is not None:
        resume_config({"threads": own}, {"threads": threads}, where=where)
    return own


def check_history(history: Any, *, epochs: int) -> list[dict]:
    """A run's history as its checkpoint holds it: `epochs` rows, row i for epoch i + 1, every value a
    finite number (or None, or the flag `complete`); UserError ("its history ...") naming what is
    wrong otherwise."""
    if not isinstance(history, list) or len(history) != epochs:
        got = f"{len(history)} rows" if isinstance(history, list) else f"a {type(history).__name__}"
        raise UserError(f"its history must list {epochs} epoch(s), got {got}")
    for i, row in enumerate(history):
        if not isinstance(row, dict) or row.get("epoch") != i + 1 or isinstance(row.get("epoch"), bool):
            raise UserError(f"row {i + 1} of its history is not epoch {i + 1}'s")
        for key, value in row.items():
            ok = value is None or (isinstance(value, bool) if key == "complete" else
                                   isinstance(value, int | float) and not isinstance(value, bool)
                                   and math.isfinite(value))
            if not isinstance(key, str) or not ok:
                raise UserError(f"epoch {i + 1}'s {key!r} in its history is {value!r}, not a number")
    return history
