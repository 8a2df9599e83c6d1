"""Run directories for `dlexam svhn train`: checkpoints, metrics, curves, resume.

A run directory holds

    last.pt        the checkpoint after the latest completed epoch (model, optimizer, epoch, RNG)
    best.pt        the checkpoint with the best validation accuracy so far (what a run dir stands for)
    metrics.csv    one row per epoch; metrics.json the same plus the run's settings
    curves.png     learning curves

The folder is the core's run folder (:class:`dlexam.runs.RunFolder`: checked and locked before any
work, nothing foreign replaced, every file and its record written as one commit), and only rank 0
of a distributed run writes. Each epoch writes last.pt first, its commit point, then best.pt (if
the epoch improved) and the metrics, which follow from last.pt: a resumed run writes them again
from it (:func:`_complete_epoch`). So a run killed at any instant resumes (``SVHNRun(resume=True)``)
from its last completed epoch and ends with the same files, bit for bit, as a run never stopped.
A resumed run keeps its own settings: one given that differs is refused by name
(:func:`dlexam.runs.resume_config`), and goes on at the thread count it was trained at, its last.pt's
provenance (:func:`dlexam.runs.run_threads`), whether or not ``threads`` was given; only ``epochs`` (a longer
or shorter schedule) and ``data`` (where the same data now live) may change. A finished run resumed trains
nothing and rewrites nothing (:func:`_already_complete`).

Under torchrun the ranks join their process group before any work, make the run ready each on its own, and
agree (:func:`_agree`): a refusal on any rank is every rank's at once, said by rank 0 (by rank 1 where rank 0
shows a defect's traceback). They wait for each other in Python, so a Ctrl-C on a waiting rank stops it at once.

A run with ``init`` fine-tunes: its weights start from the shipped model or a checkpoint
(:mod:`dlexam.svhn.training.finetune`) instead of a seeded initialisation, with fine-tuning's own
defaults; the run records where it started (``init``, refused by name on resume like any setting).

:func:`train_run` takes an :class:`SVHNRun` and returns a :class:`RunResult`; progress (epoch lines,
the batch bar) goes to an optional callback (:mod:`dlexam.progress`), never to the terminal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch

from dlexam import bounds, checkpoint, limits, runs
from dlexam.bounds import MAX_EPOCHS
from dlexam.cpu import torchrun_world
from dlexam.errors import EveryRank, NonFiniteLoss, UserError
from dlexam.progress import ProgressFn, log
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.svhn.training import finetune
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.distributed import ranks_differing, setup_distributed, wait_for_every_rank
from dlexam.svhn.training.loop import NUM_CLASSES, evaluate, fit, load_data
from dlexam.svhn.training.step import make_optimizer

RUN_MARKERS = runs.TRAINER_MARKERS
QUICK_EPOCHS = 2
DEFAULT_EPOCHS = 10
# The settings of a new run where none is given; a resumed run keeps its own.
DEFAULTS = {"batch_size": 256, "optimizer": "sgd", "seed": 0, "val_fraction": 0.1, "split_seed": 0}
MODEL_OPTIONS = ("activation", "pool", "head", "linear_in")
# Seeds a run made before the 2**32 bound may hold: seed * 1,000,003 + epoch (the order of an epoch)
# still fits torch's 64-bit generator seed.
OLD_MAX_SEED = 10**13


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


@dataclass
class RunResult:
    """What a training run did: every epoch's figures and where the run lives."""

    out: str
    epochs: int
    world_size: int
    history: list[dict]
    best_val_accuracy: float | None  # None: no image was held out for validation (best.pt is the last epoch)
    final: dict
    model: dict
    train: dict
    init: dict | None = None  # a fine-tuning run's start: {"name", "sha256", "val_accuracy" before training, "from":
    #                           its own training record, inference.parent_record; None in runs from before 2026-12-07}
    already_complete: bool = False  # resumed when every epoch was done: nothing trained, nothing rewritten
    completed: list[str] = field(default_factory=list)  # what such a resume wrote: what a kill had left undone

    def to_json(self) -> dict:
        return asdict(self)


def _open_out(run: SVHNRun) -> runs.RunFolder | None:
    """Check the run directory before any work and lock it while training (rank 0 only writes)."""
    rank, _ = torchrun_world()  # a distributed environment torchrun would not make is refused here, before any work
    if rank != 0:
        return None
    return runs.RunFolder(run.out, writes=runs.TRAINER_FILES, markers=RUN_MARKERS, resume=run.resume,
                          forceable=False, kind=KIND)  # `svhn train` has no --force


def _flat(settings: dict) -> dict:
    """A run's recorded settings as one flat dict of the names SVHNRun uses."""
    return {**settings["train"], **settings["model"], "val_fraction": settings["val_fraction"],
            "split_seed": settings["split_seed"], "quick": settings["quick"], "init": settings.get("init")}


def _resume_state(run: SVHNRun, folder: runs.RunFolder | None, d) \
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
    if (own := runs.run_threads(payload)) is not None:  # the count it trained at, --threads given or not
        if own > runs.RUN_THREADS:
            raise UserError(f"{path}: its resume state is damaged (it was trained with {own} threads, more than "
                            f"{runs.RUN_THREADS})")
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


def _new_settings(run: SVHNRun) -> tuple[TrainConfig, dict]:
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


def _complete_epoch(folder: runs.RunFolder, payload: dict, history: list[dict], settings: dict, *,
                    keep_same: bool = False) -> None:
    """Write again what follows from last.pt, which a kill right after it may have left undone: the
    metrics, and best.pt where last.pt's epoch is the best (the only epoch best.pt can lag behind). With
    `keep_same`, metrics that already say what would be written are left as they are."""
    if not history:
        return
    scores = [r.get("val_accuracy", 0.0) for r in history]
    # the first epoch with the best score, as training saves it; without validation images, the last epoch
    best_epoch = scores.index(max(scores)) + 1 if _validated(history) else len(history)
    if best_epoch == len(history):
        best = folder.file(runs.BEST)
        held = folder.load(runs.BEST, kind=KIND)["extra"].get("epoch") if best.exists() else None
        if held != best_epoch:
            folder.save_checkpoint(runs.BEST, kind=KIND, config=payload["config"], state_dict=payload["state_dict"],
                                   extra=payload["extra"])
    folder.write_metrics(history, settings, keep_same=keep_same)


def _same_on_every_rank(d, settings: dict, start_epoch: int) -> None:
    """Under DDP, refuse a rank that read other digits than rank 0 (each rank reads --data itself: on several
    machines, each its own copy), or that trains with other settings or from another epoch (its own --out's last.pt
    on resume): other digits trained on silently and were recorded as rank 0's; another number of images, or of
    epochs, left the ranks in different collectives (gloo's abort, or a hang). Every rank gets the same answer from
    the process group, so the refusal is an :class:`EveryRank`, which rank 0 says for all (until 2026-12-07 every
    rank printed the same line)."""
    if d.world <= 1:
        return
    data = ranks_differing(str(settings["data_sha256"]), d)
    if data:
        raise EveryRank(f"distributed training: {_ranks(data)} read other digits than rank 0 (another SHA-256 of the "
                        f"images and labels; rank {d.rank} read {settings['data']}); every process must read the same "
                        "data")
    shared = {"train": {k: v for k, v in settings["train"].items() if k != "threads"}, "model": settings["model"],
              **{k: settings.get(k) for k in ("val_fraction", "split_seed", "quick", "init_sha256")},
              "start_epoch": start_epoch}
    other = ranks_differing(json.dumps(shared, sort_keys=True, default=str), d)
    if other:
        raise EveryRank(f"distributed training: {_ranks(other)} would train with other settings than rank 0, or "
                        "resume another epoch (each rank reads --resume's last.pt from its own --out); every process "
                        "must be started with the same flags and, on resume, see the same run folder")


def _peer_lost(exc: RuntimeError, d) -> bool:
    """Whether `exc`, raised while training under DDP, is a collective that failed because another rank is gone
    (gloo's "Connection reset by peer" is a plain RuntimeError, NCCL's a DistBackendError)."""
    if d.world <= 1:
        return False
    import torch.distributed as torch_dist

    text = str(exc)
    return isinstance(exc, torch_dist.DistError) or any(
        s in text for s in ("gloo", "Connection reset by peer", "Connection closed by peer", "NCCL"))


def _ranks(ranks: list[int]) -> str:
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


def _validated(history: list[dict]) -> bool:
    """Whether the run's epochs were measured on validation images (none are held out with val_fraction 0, or
    where the share of a few images rounds to none): without them best.pt follows the last epoch."""
    return any("val_accuracy" in r for r in history)


def _engine(device: torch.device, model: ExamCNN) -> str:
    """Which implementation trains: the fused CPU kernels (dlexam.svhn.kernels.fused) or PyTorch's layers, and why."""
    if device.type != "cpu":
        return f"eager (PyTorch layers on {device.type})"
    return model.engine


@dataclass
class _Prepared:
    """A run made ready on one rank before training: its settings, where it starts, and its data (none for a
    finished run resumed: nothing is left to train)."""

    cfg: TrainConfig
    settings: dict
    model_cfg: CNNConfig
    start_epoch: int
    history: list
    payload: dict | None  # last.pt's, when resuming
    init_model: ExamCNN | None = None  # fine-tuning's start
    init: finetune.Init | None = None
    data: dict | None = None

    @property
    def finished(self) -> bool:
        return self.payload is not None and self.start_epoch >= self.cfg.epochs


def train_run(run: SVHNRun, progress: ProgressFn | None = None) -> RunResult:
    """Train (or resume) the run directory `run.out`; returns every epoch's figures.

    The directory is checked and locked before any work, and stays locked until training ends. Under torchrun
    the ranks join their process group first, then make the run ready each on its own (rank 0's run folder, the
    resume state, the data) and agree: a refusal on any rank is every rank's at once (:func:`_agree`), never one
    rank gone while the others wait for it. A finished run resumed writes nothing (:func:`_already_complete`).
    An unexpected error on one rank (a defect) reaches the others the same way: that rank raises it, with its
    traceback, and the others refuse in one line naming it.
    """
    d = setup_distributed()
    folder, ready, refused = None, None, None
    try:
        try:
            folder = _open_out(run)
            ready = _prepare(run, folder, d)
        except Exception as exc:  # under DDP every rank hears of it first (_agree); then it is raised
            if d.world <= 1:
                raise
            refused = exc
        _agree(d, refused, ready)
        if ready.finished:
            return _already_complete(run, folder, ready, d)
        return _train(run, folder, ready, d, progress)
    finally:
        if folder is not None:
            folder.close()


def _agree(d, refused: Exception | None, ready: _Prepared | None) -> None:
    """Under DDP, every rank's outcome of making the run ready, gathered on every rank: where any rank refused,
    every rank raises the first refusal (by rank) as :class:`EveryRank`, which rank 0 says for all; where the ranks
    differ in whether the run is finished (each reads last.pt from its own --out), every rank refuses too.

    `refused` may be an unexpected error (not a UserError: a defect), which comes before any refusal. The first rank
    with one raises it as it is, its traceback printed; the others refuse with EveryRank, said by rank 0, or by
    rank 1 where the defect is rank 0's (until 2026-12-07 the others waited in this gather until that rank had gone,
    then failed inside gloo with a traceback of their own, or were stopped by torchrun without a word; then rank 0's
    defect was said by no rank, and every rank with a defect printed its traceback).

    The ranks first wait for each other in Python (:func:`wait_for_every_rank`), so that a Ctrl-C or SIGTERM on a
    rank waiting for a slower one stops it at once; a rank gone before the ranks agree is one line."""
    if d.world <= 1:
        return
    import torch.distributed as torch_dist

    defect = refused is not None and not isinstance(refused, UserError)
    mine = (None if refused is None else _unexpected(refused) if defect else str(refused),
            None if ready is None else ready.finished, defect)
    every: list = [None] * d.world
    try:
        wait_for_every_rank(d, "ready")
        torch_dist.all_gather_object(every, mine)
    except RuntimeError as exc:
        if not _peer_lost(exc, d):
            raise
        raise UserError("distributed training stopped before it began: another process of the run is gone "
                        f"({_lost_how(exc)}); nothing was trained: run the command again") from None
    failed = [(r, said, bad) for r, (said, _, bad) in enumerate(every) if said is not None]
    failed.sort(key=lambda f: not f[2])  # a defect first, then by rank
    if failed:
        r, said, bad = failed[0]
        if bad and r == d.rank:
            raise refused
        raise EveryRank(said if r == 0 and not bad else f"distributed training, rank {r}: {said}",
                        speaker=1 if bad and r == 0 else 0)
    finished = [r for r, (_, done, _) in enumerate(every) if done]
    if finished and len(finished) < d.world:
        raise EveryRank(f"distributed training: {_ranks(finished)} found the run finished, the others not (each "
                        "rank reads --resume's last.pt from its own --out); every rank must see the same run folder")


def _lost_how(exc: BaseException) -> str:
    """What the process group said of a peer gone (the first of the words that name it), or the error's type."""
    return next((s for s in ("Connection reset by peer", "Connection closed by peer", "timed out", "Timeout")
                 if s in str(exc)), type(exc).__name__)


def _unexpected(exc: Exception) -> str:
    """An unexpected error of one rank, as the other ranks say it: one line."""
    text = " ".join(str(exc).split())
    return (f"an unexpected error while making the run ready ({type(exc).__name__}"
            + (f": {text[:200]}" if text else "") + "); that rank's own traceback says where")


def _prepare(run: SVHNRun, folder: runs.RunFolder | None, d) -> _Prepared:
    """This rank's part of making the run ready: the settings (a new run's, or last.pt's checked against those
    given), fine-tuning's start, and the data (read and checked against the run's digest); no data for a finished
    run resumed."""
    out = run.out
    if run.resume:
        ready = _Prepared(*_resume_state(run, folder, d))
        if ready.finished:
            return ready
    else:
        cfg, settings = _new_settings(run)
        ready = _Prepared(cfg, settings, CNNConfig.from_dict(settings["model"]), 0, [], None)
        if run.init is not None:  # checked before the data are read: a bad --init is one line at once
            ready.init_model, ready.init = finetune.load_init(run.init)
            settings["init_sha256"] = ready.init.sha256
            settings["init_from"] = ready.init.record  # the start's own provenance, command and seed
    settings = ready.settings
    if run.resume and run.data is None and not Path(settings["data"]).exists():
        raise UserError(f"resume: {out / runs.LAST} was trained on {settings['data']}, which is gone; give --data "
                        "with the folder where the run's data now are")
    ready.data = load_data(settings["data"], val_fraction=settings["val_fraction"],
                           split_seed=settings["split_seed"], quick=settings["quick"])
    if run.resume and settings.get("data_sha256") not in (None, ready.data["sha256"]):
        raise UserError(f"resume: {settings['data']} holds other digits than {out / runs.LAST} was trained on "
                        "(another SHA-256 of its images and labels); --data on resume says where the run's "
                        "own data now are")
    settings["data_sha256"] = ready.data["sha256"]
    return ready


def _already_complete(run: SVHNRun, folder: runs.RunFolder | None, ready: _Prepared, d) -> RunResult:
    """A finished run resumed: nothing is trained and nothing rewritten. Only what follows from last.pt and is
    missing or other than it (a run killed right after its last epoch's last.pt) is written, from last.pt's own
    settings, so the files end as the run's last epoch left them."""
    payload, history, written = ready.payload, ready.history, []
    if folder is not None:
        def held() -> dict:  # each file: there and dlexam's, and the contents recorded for it
            return {name: (folder.owns(name), folder.recorded_sums(name)) for name in runs.TRAINER_FILES}

        before = held()
        _complete_epoch(folder, payload, history, payload["extra"]["settings"], keep_same=True)
        if history:
            from dlexam.svhn.plots import learning_curves_figure

            folder.write_figure(runs.CURVES, learning_curves_figure(
                history, payload["extra"]["settings"].get("init_val_accuracy")), keep_same=True)
        after = held()
        written = [name for name in runs.TRAINER_FILES if after[name] != before[name]]
    _leave_group(d)
    scores = [r["val_accuracy"] for r in history if "val_accuracy" in r]
    settings = payload["extra"]["settings"]
    return RunResult(out=str(run.out), epochs=ready.cfg.epochs, world_size=d.world, history=history,
                     best_val_accuracy=max(scores) if _validated(history) else None,
                     final=history[-1] if history else {}, model=ready.model_cfg.to_dict(),
                     train=ready.cfg.to_dict(), init=_init_record(settings), already_complete=True,
                     completed=written)


def _init_record(settings: dict) -> dict | None:
    return None if settings.get("init") is None else {
        "name": settings["init"], "sha256": settings.get("init_sha256"), "val_accuracy": settings.get(
            "init_val_accuracy"), "from": settings.get("init_from")}


def _leave_group(d) -> None:
    """Under DDP, wait for every rank to end its run, then leave the process group.

    The ranks wait for each other in the group's store (:func:`wait_for_every_rank`), not with gloo's barrier.
    Gloo's barrier is an all-reduce of a one-element tensor, whose work is freed on gloo's worker thread just after
    it completes, and freeing a tensor Python has seen takes the GIL. With the barrier the run's last collective,
    this rank was often already shutting Python down by then, and a thread that asks for the GIL while the
    interpreter shuts down is ended inside a C++ destructor: `terminate called without an active exception`,
    SIGABRT, and a torchrun run that failed after it had finished (8 runs in 60 on the busy 2-core machine,
    2026-12-07; none in 60 since). The last collective is now the final epoch's metrics, and rank 1 waits here
    while rank 0 writes the run's files. Gloo's threads outlive `destroy_process_group`, because DDP's wrapper
    keeps the group alive in C++."""
    if d.world > 1:
        import torch.distributed as torch_dist

        wait_for_every_rank(d, "done")
        torch_dist.destroy_process_group()


def _train(run: SVHNRun, folder: runs.RunFolder | None, ready: _Prepared, d, progress: ProgressFn | None) \
        -> RunResult:
    out = run.out
    cfg, settings, model_cfg, start_epoch = ready.cfg, ready.settings, ready.model_cfg, ready.start_epoch
    history, payload, init, data = ready.history, ready.payload, ready.init, ready.data
    _same_on_every_rank(d, settings, start_epoch)
    torch.manual_seed(cfg.seed)
    model = ready.init_model if init is not None else ExamCNN(model_cfg)
    settings["engine"] = _engine(d.device, model)
    if init is not None and len(data["val_x"]):  # what fine-tuning starts from, on the run's own validation images
        settings["init_val_accuracy"] = evaluate(model.to(d.device), data["val_x"], data["val_y"], dist=d)["accuracy"]
        model.train()
    say = progress if d.is_main else None  # only rank 0 reports
    if init is not None:
        before = settings.get("init_val_accuracy")
        log(say, "svhn train", f"fine-tuning {'the shipped model' if init.name == finetune.SHIPPED else init.path}"
            + (f" (val accuracy before: {before:.4f})" if before is not None else ""))
    if payload is not None and (was := payload["extra"]["settings"]["train"]["epochs"]) != cfg.epochs:
        log(say, "svhn train", f"note: the total of epochs changes from {was} to {cfg.epochs} after epoch "
            f"{start_epoch}: the learning rate's cosine now runs over {cfg.epochs} epochs from there (metrics.json "
            "records it: settings.schedule_changes)")
    log(say, "svhn train", f"training on {len(data['train_x'])} images ({len(data['val_x'])} for validation),"
                           f" batch {cfg.batch_size}, {settings['engine']}")
    if not len(data["val_x"]):
        log(say, "svhn train", f"note: no image is held out for validation (val_fraction {settings['val_fraction']:g} "
            f"of {len(data['train_x']):,} images is none); best.pt is the last epoch's weights")
    missing = sorted(set(range(NUM_CLASSES)) - set(data["train_y"].unique().tolist()))
    if missing:  # an image folder of a few digits: validation then measures those digits only
        held = sorted(set(range(NUM_CLASSES)) - set(missing))
        log(say, "svhn train", f"note: the training images hold no {', '.join(map(str, missing))} "
            f"(they hold {len(held)} of the {NUM_CLASSES} digits: {', '.join(map(str, held))}); the validation "
            "accuracy measures only "
            "the digits present, and the network " + ("may forget the others" if init is not None
                                                       else "learns nothing of the others"))
    optimizer = make_optimizer(model, cfg)
    if payload is not None:
        checkpoint.load_weights(model, payload, out / runs.LAST)
        try:
            optimizer.load_state_dict(payload["extra"]["optimizer"])
            torch.set_rng_state(payload["extra"]["rng"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"{out / runs.LAST}: its resume state is damaged ({str(exc)[:120]})") from None
        if folder is not None:
            _complete_epoch(folder, payload, history, settings)
    # the best validation accuracy so far (a missing one counts 0, as when it is saved below)
    best = max((r.get("val_accuracy") or 0.0 for r in history), default=-1.0)
    saved = len(history)  # epochs in last.pt

    def on_epoch_end(epoch, model, optimizer, history):
        nonlocal best, saved
        row = history[-1]
        if folder is None:
            return
        val = (f"val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.4f}" if "val_accuracy" in row
               else "no validation images")
        log(say, "svhn train",
            f"epoch {row['epoch']}/{cfg.epochs}: train loss {row['train_loss']:.4f}"
            f" acc {row['train_accuracy']:.4f} | {val} | {row['images_per_s']:.0f} images/s")
        extra = {"epoch": epoch + 1, "optimizer": optimizer.state_dict(), "history": history, "settings": settings,
                 "rng": torch.get_rng_state()}
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        config = model_cfg.to_dict()
        # last.pt first: the epoch's commit point; what follows is written again from it on resume
        folder.save_checkpoint(runs.LAST, kind=KIND, config=config, state_dict=state, extra=extra)
        saved = len(history)
        if "val_accuracy" not in row or row["val_accuracy"] > best:  # no validation images: the last epoch
            best = row.get("val_accuracy", 0.0)
            folder.save_checkpoint(runs.BEST, kind=KIND, config=config, state_dict=state, extra=extra)
        folder.write_metrics(history, settings)

    try:
        result = fit(model, data["train_x"], data["train_y"], data["val_x"], data["val_y"], cfg=cfg,
                     start_epoch=start_epoch, optimizer=optimizer, history=history, on_epoch_end=on_epoch_end,
                     progress=say, dist=d)
    except NonFiniteLoss as exc:
        kept = f"{out / runs.LAST} keeps epoch {saved}, the last finite one" if saved else "no epoch was saved"
        raise UserError(f"{exc} (is the learning rate, {cfg.lr:g}, too high?); {kept}") from None
    except RuntimeError as exc:  # under DDP: another rank died (killed, out of memory) or its machine went away
        if not _peer_lost(exc, d):
            raise
        if folder is None:
            kept = "rank 0's run folder keeps its last whole epoch (if one ended): --resume goes on from it"
        elif saved:
            kept = f"{out / runs.LAST} keeps epoch {saved}: run the same torchrun command with --resume to go on"
        else:
            kept = "no epoch was saved: run the command again"
        raise UserError(f"distributed training stopped: another process of the run is gone ({_lost_how(exc)}); "
                        f"{kept}") from None
    if folder is not None and result["history"]:
        from dlexam.svhn.plots import learning_curves_figure

        folder.write_figure(runs.CURVES, learning_curves_figure(result["history"], settings.get("init_val_accuracy")))
    _leave_group(d)
    return RunResult(out=str(out), epochs=cfg.epochs, world_size=d.world, history=result["history"],
                     best_val_accuracy=best if _validated(result["history"]) else None,
                     final=result["history"][-1] if result["history"] else {},
                     model=model_cfg.to_dict(), train=cfg.to_dict(), init=_init_record(settings))
