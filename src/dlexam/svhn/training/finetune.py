"""Fine-tuning (issue 21, "bring your own digits"): `dlexam svhn train --init shipped|CHECKPOINT --data DIR`.

A fine-tuning run is an ordinary `svhn train` run (:mod:`dlexam.svhn.training.runs`: the core's run
folder, resume, locks, metrics) whose weights start from a trained exam CNN instead of a seeded
initialisation: the shipped model (``--init shipped``) or a checkpoint or run directory. The start is
read through the one loader of SVHN checkpoints, :func:`dlexam.svhn.inference.load_model`, so a
missing file, a checkpoint of another kind or weights that do not fit are each one clear error; a
checkpoint of another network than Problem 1's (Version A's layer table, ReLU, average pools, linear
head) is refused too: fine-tuning keeps the exam architecture.

Where the user gives no schedule, a fine-tuning run takes :data:`DEFAULTS` (fewer epochs, a learning
rate a tenth of training from scratch): enough to adapt to a new kind of digit without forgetting the
others (docs/svhn.md measures both on MNIST, Chars74K, real SVHN crops and the synthetic split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlexam.errors import UserError
from dlexam.svhn.model import ExamCNN

SHIPPED = "shipped"  # --init's name for the shipped model
# A new fine-tuning run's schedule where none is given (a new run from scratch: settings.DEFAULTS, 10 epochs, lr 0.1)
DEFAULTS = {"epochs": 5, "batch_size": 128, "lr_sgd": 0.01, "lr_adam": 0.0003}


@dataclass(frozen=True)
class Init:
    """Where a fine-tuning run starts: `name` is what the run records and compares on resume ("shipped",
    or the absolute path of the checkpoint file), `sha256` the file's contents, `record` what that checkpoint says
    of its own training (:func:`dlexam.svhn.inference.parent_record`: provenance, command, seed, epochs, its start),
    which the run keeps as its settings' "init_from": a fine-tuned checkpoint's provenance is its own run's."""

    name: str
    path: Path
    sha256: str
    record: dict


def init_name(init: str) -> str:
    """What a run records for --init: "shipped", or the checkpoint file's absolute path (a run directory
    stands for its best checkpoint, as everywhere). A path that no longer exists keeps its absolute form,
    so `--resume --init X` compares by name even after the file moved."""
    from dlexam.checkpoint import resolve

    if init == SHIPPED:
        return SHIPPED
    p = Path(init)
    return str((resolve(p) if p.exists() else p).resolve())


def load_init(init: str) -> tuple[ExamCNN, Init]:
    """The model to fine-tune, with fused training kernels where available, and where it came from.

    UserError (one line) for a missing file, a checkpoint of another kind, weights that do not fit, or a
    network other than the exam's."""
    from dlexam.checkpoint import resolve
    from dlexam.files import sha256_of
    from dlexam.svhn.inference import load_model, parent_record
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.shipped import shipped_path

    path = shipped_path() if init == SHIPPED else resolve(init)
    model, payload = load_model(path)
    exam = CNNConfig().to_dict()
    got = model.cfg.to_dict()
    if got != exam:
        differ = [f"{k} {got[k]!r}" if k != "cnn" else "another layer table" for k in exam if got[k] != exam[k]]
        raise UserError(f"--init {init}: fine-tuning keeps the exam architecture (Problem 1's network), and "
                        f"{path} is another network ({', '.join(differ)})")
    model.fuse_().train()  # load_model builds PyTorch's layers for inference; training takes the fused kernels
    return model, Init(name=init_name(init), path=path, sha256=sha256_of(path), record=parent_record(payload))
