"""A resumed `svhn train` run's state: its last.pt read back and checked, and the settings given held to its own.

A damaged state is one clear error; a setting given now that differs from the run's is refused by name
(:func:`dlexam.runs.resume_config`); the run goes on at the thread count it was trained at (its last.pt's provenance,
:func:`dlexam.runs.run_threads`); only ``epochs`` (a longer or shorter schedule, recorded as a schedule change) and
``data`` (where the same data now live) may change. Reading only: :mod:`dlexam.svhn.training.runs` writes.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from dlexam import bounds, checkpoint, limits, runs
from dlexam.bounds import MAX_EPOCHS
from dlexam.errors import UserError
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.settings import SVHNRun

# Seeds a run made before the 2**32 bound may hold: seed * 1,000,003 + epoch (the order of an epoch)
# still fits torch's 64-bit generator seed.
OLD_MAX_SEED = 10**13


def _flat(settings: dict) -> dict:
    """A run's recorded settings as one flat dict of the names SVHNRun uses."""
    return {**settings["train"], **settings["model"], "val_fraction": settings["val_fraction"],
            "split_seed": settings["split_seed"], "quick": settings["quick"], "init": settings.get("init")}


def resume_state(run: SVHNRun, folder: runs.RunFolder | None, d) \
        -> tuple[TrainConfig, dict, CNNConfig, int, list, dict]:
    """What last.pt says about the run, checked before use: a damaged state is one clear error; a
    setting given now that differs from the run's is refused by name. A rank other than 0 (`folder` None) reads
    the last.pt in its own --out, which rank 0 alone writes."""
    path = run.out / runs.LAST
    if folder is None and not (path.exists() or path.is_symlink()):
        raise UserError(f"resume: no run to resume at {run.out} (no {runs.LAST} there); under DDP only rank 0 writes "
                        f"the run folder, but every rank resumes from the {runs.LAST} in its own --out: give every "
                        "rank the same folder (a shared file system), or copy rank 0's run folder to that path on "
                        "each machine first")
    payload = folder.load(runs.LAST, kind=KIND) if folder is not None else checkpoint.load(path, kind=KIND)
    try:
        extra = payload["extra"]
        settings = dict(extra["settings"])
        for part in ("train", "model"):
            if not isinstance(settings[part], dict):
                raise TypeError(f"its {part} settings are not a mapping")
            settings[part] = dict(settings[part])
        saved = _flat(settings)
        cfg = TrainConfig.from_dict(settings["train"])
        bounds.EPOCHS.check("epochs", cfg.epochs)
        bounds.SVHN_BATCH.check("batch_size", cfg.batch_size)
        bounds.SVHN_LR.check("lr", cfg.lr)
        limits.choice("optimizer", cfg.optimizer, ("sgd", "adam"))
        limits.number("weight_decay", cfg.weight_decay, 0, 1000)
        limits.seed("seed", cfg.seed, hi=OLD_MAX_SEED)
        limits.whole("threads", cfg.threads, 1, 1 << 20, optional=True)
        bounds.VAL_FRACTION.check("val_fraction", settings["val_fraction"])
        limits.seed("split_seed", settings["split_seed"], hi=OLD_MAX_SEED)
        if not isinstance(settings["quick"], bool) or not isinstance(settings.get("data"), str):
            raise TypeError("its quick flag or data folder is not what dlexam writes")
        if not isinstance(settings.get("init"), str | None):
            raise TypeError("its init (where fine-tuning started) is not a name")
        if not isinstance(settings.get("schedule_changes", []), list):
            raise TypeError("its schedule changes are not a list")
        if not isinstance(settings.get("data_sha256"), str | None):  # None: a run from before it was recorded
            raise TypeError("its data digest is not what dlexam writes")
        model_cfg = CNNConfig.from_dict(payload["config"])
        if model_cfg.to_dict() != CNNConfig.from_dict(settings["model"]).to_dict():
            raise ValueError("its model config and its settings disagree")
        start_epoch = limits.whole("epoch", extra["epoch"], 0, MAX_EPOCHS)
        history = runs.check_history(extra["history"], epochs=start_epoch)
        rng = extra["rng"]
        if not isinstance(extra["optimizer"], dict) or not isinstance(rng, torch.Tensor) \
                or rng.dtype != torch.uint8 or rng.dim() != 1:
            raise TypeError("optimizer or RNG state missing")
    except (KeyError, TypeError, ValueError, UserError) as exc:
        raise UserError(f"{path}: its resume state is damaged ({exc})") from None
    checkpoint.check_fits(lambda: ExamCNN(model_cfg, fused=False), payload, path)  # before any data is read
    if (own := runs.run_threads(payload, where=path)) is not None:  # the count it trained at, --threads or not
        saved["threads"] = own
    merged = runs.resume_config(saved, run.given(), where=path, may_change=("epochs",))
    if merged["epochs"] < start_epoch:  # a schedule cannot end before the epochs already trained
        raise UserError(f"resume: {path} has trained {start_epoch} epochs already; --epochs {merged['epochs']} "
                        f"would end before them (give {start_epoch} or more, or leave it out)")
    if merged["epochs"] != cfg.epochs:  # the cosine is redrawn from here: a run of the new total from the start is
        # another run (other weights), so the record keeps each change beside the total it ends with
        settings["schedule_changes"] = [*settings.get("schedule_changes", []),
                                        {"after_epoch": start_epoch, "epochs": cfg.epochs, "now": merged["epochs"]}]
    settings["train"]["epochs"] = merged["epochs"]
    # the run goes on at its own thread count (settings keep the --threads it was started with, as a run never stopped)
    cfg = replace(TrainConfig.from_dict(settings["train"]), threads=merged["threads"])
    if run.data is not None:
        settings["data"] = str(run.data.resolve())
    return cfg, settings, model_cfg, start_epoch, history, payload
