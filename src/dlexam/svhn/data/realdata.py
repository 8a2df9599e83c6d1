"""The checks a digit model is judged by: real house numbers, real photos, real handwriting, unseen fonts.

* ``svhn_dev``: 500 real SVHN crops (train-split indices 0..539, shared/data/svhn-real-dev, an
  ImageFolder; see its README). The development set of issue 21: evaluated on, never trained on;
  more real SVHN crops are held back elsewhere to check the shipped model.
* ``chars74k``: 593 photographed digits (Chars74K "GoodImg", shared/data/chars74k-digits, an
  ImageFolder). A development set: evaluated on, never trained on.
* ``mnist2000``: the last 2,000 MNIST t10k digits (training may use the first 8,000 only).
* ``synth_heldout``: the test split of `dlexam svhn synth` (4,000 images, seed 0), drawn in four
  typefaces no training recipe uses.

A set whose shared files are absent is reported as skipped, with the reason.

:func:`example_file` picks one image of a digit from a development set (the first by sorted name), for
`dlexam serve`'s /cnn examples: shown, never trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError
from dlexam.shared import SharedDataMissing, shared_path

MNIST_TRAIN = 8000  # MNIST digits a recipe may train on; the rest are the check

# The development sets of real photographed digits (and /cnn's examples): name -> (its folder in shared/data,
# what one image is).
EXAMPLE_SETS = {"svhn_dev": ("svhn-real-dev", "real SVHN crop"), "chars74k": ("chars74k-digits", "Chars74K photo")}


def chars74k_dir() -> Path:
    """The shared Chars74K digits (see :mod:`dlexam.shared`); SharedDataMissing where they are absent."""
    return shared_path("data", EXAMPLE_SETS["chars74k"][0])


def svhn_dev_dir() -> Path:
    """The shared real SVHN development crops; SharedDataMissing where they are absent."""
    return shared_path("data", EXAMPLE_SETS["svhn_dev"][0])


def example_file(name: str, digit: int) -> Path:
    """The example of `digit` in the development set `name` (:data:`EXAMPLE_SETS`): the first image file of its
    class folder by sorted name, so always the same file, not one picked by hand. The path is made from the set's
    own folder name and the digit, never from a caller's text, and a file whose real path leaves the shared data
    folder (a link out) is passed over. SharedDataMissing where the set or the digit's images are absent."""
    from dlexam.svhn.data.image_folder import IMAGE_EXTENSIONS

    if name not in EXAMPLE_SETS:
        raise ValueError(f"unknown example set {name!r}")
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit <= 9:
        raise ValueError(f"an example's digit is 0-9, not {digit!r}")
    data = shared_path("data")
    folder = shared_path("data", EXAMPLE_SETS[name][0], str(digit))
    inside = data.resolve()
    for f in sorted(folder.iterdir(), key=lambda f: f.name):
        if f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith(".") \
                and f.resolve().is_relative_to(inside) and f.is_file():
            return f
    raise SharedDataMissing(f"shared data {EXAMPLE_SETS[name][0]}/{digit} holds no image file")


def example_sets() -> dict[str, str | None]:
    """{set name: None where its shared folder is here, else why not (one line, saying where dlexam looked)}."""
    out = {}
    for name, (folder, _) in EXAMPLE_SETS.items():
        try:
            shared_path("data", folder)
            out[name] = None
        except SharedDataMissing as exc:
            out[name] = str(exc)
    return out


def load_check(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One check set -> (uint8 (N, 32, 32), labels int64 (N,)); UserError when its files are absent."""
    if name in ("chars74k", "svhn_dev"):
        from dlexam.svhn.data.image_folder import load_image_folder

        x, y, _ = load_image_folder(chars74k_dir() if name == "chars74k" else svhn_dev_dir())
        return x, y
    if name == "mnist2000":
        from dlexam.svhn.data.mnist import load_mnist

        images, labels = load_mnist()
        padded = np.pad(images[MNIST_TRAIN:], ((0, 0), (2, 2), (2, 2)))  # (N, 28, 28) -> (N, 32, 32)
        return torch.from_numpy(padded), torch.from_numpy(labels[MNIST_TRAIN:])
    if name == "synth_heldout":
        from dlexam.svhn.data.official import rgb_to_gray
        from dlexam.svhn.synthetic.digits import held_out_split

        rgb, digits = held_out_split(4000, 0)
        return torch.from_numpy(rgb_to_gray(rgb)), torch.from_numpy(digits)
    raise ValueError(f"unknown check set {name!r}")


CHECKS = ("svhn_dev", "chars74k", "mnist2000", "synth_heldout")


def load_checks(names=CHECKS) -> dict[str, tuple[torch.Tensor, torch.Tensor] | str]:
    """{name: (images, labels)} of each check set (:func:`load_check`), or {name: why it is skipped}: loaded once
    for a script that judges several models (`check_accuracies(model, sets=...)`). The tensors are only read."""
    out = {}
    for name in names:
        try:
            out[name] = load_check(name)
        except UserError as exc:
            out[name] = str(exc)
    return out


def check_accuracies(model: torch.nn.Module, names=CHECKS, sets: dict | None = None) -> dict:
    """{name: {"accuracy", "n", "per_class"}} or {name: {"skipped": why}} for each check set.

    `sets`: what :func:`load_checks` returned for these names, where several models are judged on the same sets
    (loading them, rendering synth_heldout's 4,000 images among them, costs more than evaluating a model on them)."""
    from dlexam.svhn.training.loop import evaluate

    loaded = load_checks(names) if sets is None else sets
    out = {}
    for name in names:
        if isinstance(loaded[name], str):
            out[name] = {"skipped": loaded[name]}
            continue
        x, y = loaded[name]
        r = evaluate(model, x, y, channels_last=False)
        out[name] = {"accuracy": r["accuracy"], "n": r["n"], "per_class": r["per_class"]}
    return out


def worst_first(runs: list[dict], by: str = "svhn_dev") -> tuple[list[dict], dict]:
    """Runs of one model over several seeds (dicts with "seed" and the CHECKS' accuracies, a skipped check None
    or absent) -> (the runs sorted worst first by `by`, then by seed; each check's worst accuracy over the
    runs, None where no run has it). Trained-model targets hold across seeds: reports lead with the worst."""
    ordered = sorted(runs, key=lambda r: (r.get(by) or 0.0, r["seed"]))
    worst = {k: min((r[k] for r in runs if r.get(k) is not None), default=None) for k in CHECKS}
    return ordered, worst


def accuracy_difference(a: dict, b: dict) -> dict:
    """{check: a[check] - b[check], rounded to 4 places (accuracies of 500-4,000 images), None where either
    is missing} over CHECKS: a paired comparison of two models' (or two worst seeds') accuracies."""
    return {k: None if a.get(k) is None or b.get(k) is None else round(a[k] - b[k], 4) for k in CHECKS}


def compare_groups(groups: dict[str, list[dict]], baseline: str | None = None) -> dict:
    """Several models' runs over seeds ({name: runs}) -> {name: {"runs" (worst first), "worst", and with a
    `baseline` among the names "worst_minus_baseline": its worst seed's accuracies minus the baseline's}}."""
    out = {}
    for name, runs in groups.items():
        ordered, worst = worst_first(runs)
        out[name] = {"runs": ordered, "worst": worst}
    if baseline in out:
        for entry in out.values():
            entry["worst_minus_baseline"] = accuracy_difference(entry["worst"], out[baseline]["worst"])
    return out
