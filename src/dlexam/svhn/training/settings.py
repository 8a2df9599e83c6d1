"""`svhn train`'s settings (:class:`SVHNRun`) and their checks, and a new run's settings from them.

A setting left None is the default for a new run (:data:`DEFAULTS`, fine-tuning's own with ``init``:
:mod:`dlexam.svhn.training.finetune`) and the run's own when resuming (:mod:`dlexam.svhn.training.resume`).
:func:`new_settings` gives a new run's :class:`TrainConfig` and what its checkpoints and metrics.json record;
:mod:`dlexam.svhn.training.runs` trains them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from dlexam import bounds, limits
from dlexam.errors import UserError
from dlexam.svhn.model import CNNConfig
from dlexam.svhn.training import finetune
from dlexam.svhn.training.config import TrainConfig

QUICK_EPOCHS = 2
DEFAULT_EPOCHS = 10
# The settings of a new run where none is given; a resumed run keeps its own.
DEFAULTS = {"batch_size": 256, "optimizer": "sgd", "seed": 0, "val_fraction": 0.1, "split_seed": 0}
MODEL_OPTIONS = ("activation", "pool", "head", "linear_in")


def _check_out_outside_data(out: Path, data: Path) -> None:
    """A run folder inside an image folder would put checkpoints, metrics and figures among the training images
    (into a class folder, or a folder the image reader then finds beside them); one equal to it would make it a
    class-less folder. A .mat folder may hold its run (its data are train_32x32.mat alone), and a folder that
    is neither is left to the data's own refusal ("SVHN file not found")."""
    out_r, data_r = out.resolve(), data.resolve()
    if (data_r / "train_32x32.mat").is_file() or not any((data_r / str(d)).is_dir() for d in range(10)):
        return
    if out_r.is_relative_to(data_r):
        raise UserError(f"--out {out} is inside --data {data}: the run's checkpoints, metrics and figures would "
                        "be written among the training images; give a run folder outside it")


@dataclass
class SVHNRun:
    """One `dlexam svhn train` run: the data, the run directory, and how to train.

    A setting left None is the default for a new run (:data:`DEFAULTS`) and the run's own when resuming;
    one given when resuming must equal the run's (except `epochs` and `data`)."""

    out: Path  # the run directory
    data: Path | None = None  # folder with train_32x32.mat; when resuming, where the run's data now are
    epochs: int | None = None  # None: 10 (2 with quick); when resuming, the run's own unless given
    batch_size: int | None = None  # None: 256
    lr: float | None = None  # None: 0.1 for sgd, 0.003 for adam
    optimizer: str | None = None  # None: sgd
    seed: int | None = None  # initialisation and the order of each epoch; None: 0
    threads: int | None = None  # torch CPU threads; None keeps PyTorch's default
    val_fraction: float | None = None  # share of the train split held out for validation; None: 0.1
    split_seed: int | None = None  # seed of the train/validation split (never depends on the model); None: 0
    model: CNNConfig | dict | None = None  # the model, or some of its options (a dict); None: Problem 1's
    resume: bool = False  # continue the run in `out` from its last.pt
    init: str | None = None  # fine-tune: "shipped" or a checkpoint / run directory; None: a seeded initialisation
    quick: bool = False  # an end-to-end check: 2 epochs on 2,048 images

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.data = None if self.data is None else Path(self.data)
        bounds.EPOCHS.check("epochs", self.epochs, optional=True)
        bounds.SVHN_BATCH.check("batch_size", self.batch_size, optional=True)
        bounds.SVHN_LR.check("lr", self.lr, optional=True)
        if self.optimizer is not None:
            limits.choice("optimizer", self.optimizer, ("sgd", "adam"))
        limits.threads("threads", self.threads, optional=True)
        bounds.VAL_FRACTION.check("val_fraction", self.val_fraction, optional=True)
        for name in ("seed", "split_seed"):
            if getattr(self, name) is not None:
                limits.seed(name, getattr(self, name))
        if self.data is not None:
            _check_out_outside_data(self.out, self.data)
        if self.init is not None and self.model:
            names = list(self.model) if isinstance(self.model, dict) else ["model"]
            given = ", ".join(f"--{k.replace('_', '-')}" for k in names)
            raise UserError(f"--init fine-tunes the exam architecture as it is: {given} does not apply")
        if isinstance(self.model, dict):
            unknown = sorted(set(self.model) - set(MODEL_OPTIONS))
            if unknown:
                raise UserError(f"unknown model option(s) {', '.join(unknown)}; choose from {', '.join(MODEL_OPTIONS)}")
            try:
                CNNConfig(**self.model)
            except ValueError as exc:
                raise UserError(str(exc)) from None

    def given(self) -> dict:
        """The settings given (not None), flat: what a resumed run checks against its own."""
        flat = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name in ("epochs", "batch_size", "lr", "optimizer", "seed", "threads", "val_fraction",
                              "split_seed") and getattr(self, f.name) is not None}
        model = self.model.to_dict() if isinstance(self.model, CNNConfig) else dict(self.model or {})
        init = {"init": finetune.init_name(self.init)} if self.init is not None else {}
        return {**flat, **model, **init, **({"quick": True} if self.quick else {})}


def new_settings(run: SVHNRun) -> tuple[TrainConfig, dict]:
    """The settings of a new run: its TrainConfig and what metrics.json and the checkpoints record."""
    if run.data is None:
        raise UserError("data is required: a folder with train_32x32.mat")
    fine = run.init is not None  # fine-tuning's own defaults (dlexam.svhn.training.finetune.DEFAULTS)
    defaults = {**DEFAULTS, **({"batch_size": finetune.DEFAULTS["batch_size"]} if fine else {})}
    d = {k: getattr(run, k) if getattr(run, k) is not None else v for k, v in defaults.items()}
    # --epochs as given, even with --quick (whose images stay few); else the defaults: quick's, fine-tuning's, 10
    epochs = run.epochs or (QUICK_EPOCHS if run.quick else finetune.DEFAULTS["epochs"] if fine else DEFAULT_EPOCHS)
    model = run.model if isinstance(run.model, CNNConfig) else CNNConfig(**(run.model or {}))
    lr_default = (finetune.DEFAULTS[f"lr_{d['optimizer']}"] if fine
                  else 0.1 if d["optimizer"] == "sgd" else 0.003)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=d["batch_size"],
        lr=run.lr if run.lr is not None else lr_default,
        optimizer=d["optimizer"],
        seed=d["seed"],
        threads=run.threads,
    )
    settings = {
        "train": cfg.to_dict(),
        "model": model.to_dict(),
        "data": str(run.data.resolve()),
        "val_fraction": d["val_fraction"],
        "split_seed": d["split_seed"],
        "quick": run.quick,
        "init": None if run.init is None else finetune.init_name(run.init),
    }
    return cfg, settings
