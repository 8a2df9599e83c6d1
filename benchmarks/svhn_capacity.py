"""Issue 21, fourth round: is it the network or the data that holds the real SVHN dev set at 0.82?

Every model here trains on the shipped recipe's own training set (`training_set`: 120,000 rendered
images), with its augmentation, batch, epochs and cosine schedule, through
`dlexam.svhn.training.loop.fit`, unpinned, on one thread, and is read on every check set
(dlexam.svhn.data.realdata: svhn_dev, chars74k, mnist2000, synth_heldout; a check whose files are
absent is skipped):

  exam     the exam's CNN (3,722 parameters): the shipped recipe as it is, the baseline
  small    a larger reference CNN, not the exam's: conv 5x5 16, 3x3 32, 3x3 64, each with batch norm,
           ReLU and 2x2 max pooling, then a linear head (33,914 parameters, 9x the exam's)
  mid      the same shape at 32, 64, 128 channels and dropout 0.2 before the head (113,898 parameters)
  kd       the exam's CNN distilled online from this run's `small` of the same seed (or --teacher):
           loss (1 - alpha) CE + alpha T^2 KL(teacher_T || student_T) on each augmented batch,
           alpha 0.7, T 3 (Hinton et al. 2015)

The reference CNNs train at a peak learning rate of 0.02: at the recipe's 0.1 their loss stays at
ln 10 (measured). `kd` needs `small` before it in --models, or --teacher.

Each trained model is also read on svhn_dev through four fixed views of the input, to separate what
the sides of SVHN's crops do: `none`; `mask3` (3 columns at each side set to the standardised
image's mean, 0: the neighbours cut away, the digit unchanged); `cut3` (those columns cut and the
rest stretched back to 32: neighbours cut and the digit widened, as `svhn evaluate --tta`'s second
view); `squash2` (the image squeezed to 28 rows and padded with its edge rows: the digit relatively
wider, its neighbours kept).

One JSON line per run on stderr, one JSON object as the last line of stdout: per model its runs
worst svhn_dev first, its worst seed, and that worst minus the `exam` baseline's worst
(`worst_minus_baseline`).

The default (exam, small, kd, seeds 0-2) takes about 20 minutes of CPU a seed; mid alone 24.

Usage: python benchmarks/svhn_capacity.py [--models exam small mid kd] [--seeds 0 1 2]
                                          [--recipe shipped|quick] [--teacher SMALL.pt]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import pickle
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam import bounds
from dlexam.commands.options import whole_number
from dlexam.svhn.data.official import preprocess
from dlexam.svhn.data.realdata import check_accuracies, compare_groups, load_checks
from dlexam.svhn.inference import side_cut  # the cut of `svhn evaluate --tta`'s second view
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.training.augment import Augment
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import fit
from dlexam.svhn.training.recipes import RECIPES, training_set

# the loss swap of the levers benchmark, loaded from beside this file (benchmarks/ is not a package)
_spec = importlib.util.spec_from_file_location("svhn_levers", Path(__file__).with_name("svhn_levers.py"))
levers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(levers)

MODELS = ("exam", "small", "mid", "kd")
REFERENCE_WIDTHS = {"small": ((16, 32, 64), 0.0), "mid": ((32, 64, 128), 0.2)}  # channels per stage, dropout
REFERENCE_LR = 0.02
KD_ALPHA, KD_T = 0.7, 3.0
SIDE = 3  # columns at each side for the mask3 and cut3 views
SQUASH = 2  # rows at the top and the bottom for the squash2 view


def reference_cnn(kind: str, classes: int = 10) -> nn.Sequential:
    """A larger CNN for (B, 1, 32, 32) input: three stages of conv (5x5, then 3x3, padded to keep the
    size), batch norm, ReLU and 2x2 max pooling (32 -> 16 -> 8 -> 4), then a linear head."""
    widths, dropout = REFERENCE_WIDTHS[kind]
    layers, cin = [], 1
    for i, cout in enumerate(widths):
        k = 5 if i == 0 else 3
        layers += [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                   nn.MaxPool2d(2)]
        cin = cout
    layers.append(nn.Flatten())  # (B, C, 4, 4) -> (B, 16 C)
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(cin * 16, classes))


def side_mask(x: torch.Tensor, c: int) -> torch.Tensor:
    """(B, 1, H, W): c columns at each side set to 0, the standardised image's mean."""
    y = x.clone()
    y[..., :c] = 0
    y[..., x.shape[-1] - c :] = 0
    return y


def squash(x: torch.Tensor, c: int) -> torch.Tensor:
    """(B, 1, H, W): squeezed to H - 2c rows, c copies of the edge rows above and below."""
    h, w = x.shape[-2:]
    return F.pad(F.interpolate(x, size=(h - 2 * c, w), mode="bilinear", align_corners=False), (0, 0, c, c),
                 mode="replicate")


VIEWS = {"none": lambda x: x, f"mask{SIDE}": lambda x: side_mask(x, SIDE), f"cut{SIDE}": lambda x: side_cut(x, SIDE),
         f"squash{SQUASH}": lambda x: squash(x, SQUASH)}


@torch.inference_mode()
def view_accuracies(model: nn.Module, checks: dict) -> dict:
    """svhn_dev's accuracy through each of VIEWS ({} when its files are absent); `checks`: load_checks()'s sets."""
    if isinstance(checks["svhn_dev"], str):  # a missing check set is reported by check_accuracies already
        return {}
    x, y = checks["svhn_dev"]
    xp = preprocess(x)  # (N, 32, 32) uint8 -> (N, 1, 32, 32) standardised
    return {name: round(float((model(view(xp)).argmax(1) == y).float().mean()), 4) for name, view in VIEWS.items()}


@contextlib.contextmanager
def distilled_from(student: ExamCNN, teacher: nn.Module):
    """Within: each training step's loss is the distillation loss against `teacher`'s logits on the same
    augmented batch (a forward pre-hook computes them, which also makes the student decline its fused
    step; svhn_levers.through_autograd); the loop's cross-entropy and the hook are put back on leaving."""
    teacher.eval()
    pending = {}

    def pre(module, inputs):
        with torch.no_grad():
            pending["teacher"] = teacher(inputs[0].contiguous()).float()

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.float(), y, reduction="sum")
        if not student.training:
            return ce
        t = pending.pop("teacher")
        kl = F.kl_div(F.log_softmax(logits.float() / KD_T, 1), F.log_softmax(t / KD_T, 1), reduction="sum",
                      log_target=True)
        return (1 - KD_ALPHA) * ce + KD_ALPHA * KD_T**2 * kl

    with levers.through_autograd(student, loss, before=pre):
        yield


def run(kind: str, recipe_name: str, seed: int, data, teacher: nn.Module | None,
        checks: dict) -> tuple[dict, nn.Module]:
    """One model trained and judged on the check sets (`checks`: load_checks(), loaded once for every run)."""
    recipe = RECIPES[recipe_name]
    t, cpu = time.perf_counter(), time.process_time()
    x, y = data
    reference = kind in REFERENCE_WIDTHS
    cfg = TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=REFERENCE_LR if reference else recipe.lr,
                      weight_decay=recipe.weight_decay, seed=seed, threads=1)
    torch.manual_seed(seed)
    model = reference_cnn(kind) if reference else ExamCNN(CNNConfig())
    augment = Augment(recipe.augment) if recipe.augment is not None else None
    with distilled_from(model, teacher) if kind == "kd" else contextlib.nullcontext():
        result = fit(model, x, y, cfg=cfg, augment=augment)
    model = result["model"].to(memory_format=torch.contiguous_format).eval()
    row = {"model": kind, "seed": seed, "parameters": sum(p.numel() for p in model.parameters())}
    for name, r in check_accuracies(model, sets=checks).items():
        row[name] = round(r["accuracy"], 4) if "accuracy" in r else None
    row["svhn_dev_views"] = view_accuracies(model, checks)
    row["train_accuracy"] = round(result["history"][-1]["train_accuracy"], 4)
    row["seconds"] = round(time.perf_counter() - t, 1)
    row["cpu_seconds"] = round(time.process_time() - cpu, 1)
    return row, model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["exam", "small", "kd"], choices=MODELS)
    ap.add_argument("--seeds", type=whole_number(bounds.SEED), nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipe", default="shipped", choices=("shipped", "quick"))
    ap.add_argument("--teacher", metavar="SMALL.pt", help="the state dict of a `small` reference CNN to distil from")
    args = ap.parse_args()
    if "kd" in args.models and not args.teacher and (
        "small" not in args.models or args.models.index("small") > args.models.index("kd")
    ):
        ap.error("kd distils from a small reference CNN: put small before kd in --models, or give --teacher")
    given = None
    if args.teacher:
        if not os.path.isfile(args.teacher):
            ap.error(f"--teacher: no file {args.teacher}")
        given = reference_cnn("small")
        try:
            given.load_state_dict(torch.load(args.teacher, weights_only=True))
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError):
            ap.error(f"--teacher: {args.teacher} is not the state dict of a small reference CNN (torch.save of one)")
    torch.set_num_threads(1)
    out = {"benchmark": "svhn_capacity", "recipe": args.recipe, "threads": 1, "cpu_count": os.cpu_count(),
           "baseline": "exam" if "exam" in args.models else None, "load_average_start": os.getloadavg()[0]}
    rows = {kind: [] for kind in args.models}
    checks = load_checks()
    for seed in args.seeds:
        data = training_set(RECIPES[args.recipe], seed)
        teacher = given
        for kind in args.models:
            row, model = run(kind, args.recipe, seed, data, teacher, checks)
            if kind == "small" and given is None:
                teacher = model
            rows[kind].append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    out["models"] = compare_groups(rows, baseline="exam")
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
