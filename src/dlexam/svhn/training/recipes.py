"""Named training recipes: the data, augmentation and schedule that rebuild a model from nothing.

``dlexam svhn train --recipe shipped --out R`` runs :func:`train_recipe` with ``RECIPES["shipped"]``:
it renders its training scenes in memory (dlexam.svhn.synthetic.scenes, plus the plain renderer of
dlexam.svhn.synthetic.digits), trains Problem 1's CNN with train-time augmentation, and writes a run
directory whose ``model.pt`` is the file dlexam ships as its default model (dlexam.svhn.shipped).
Everything is offline: fonts come from installed packages, handwriting from the shared MNIST
t10k file (its first 8,000 digits only; the last 2,000 are a check).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlexam import limits, runs
from dlexam.errors import UserError
from dlexam.progress import ProgressFn, log
from dlexam.svhn.synthetic.scenes import SceneConfig
from dlexam.svhn.training.augment import AugmentConfig

KIND = "svhn-cnn"
RUN_FILE = "model.pt"
RUN_FILES = (RUN_FILE, runs.METRICS_CSV, runs.METRICS_JSON, runs.CURVES)  # what a recipe's run folder holds


@dataclass(frozen=True)
class Recipe:
    """How a model is made: what data, how much, which augmentation, which schedule."""

    name: str
    images: int = 120_000  # training images, rendered afresh by every rebuild
    synth_share: float = 0.4  # share drawn by synth.render (TRAIN_FONTS, its simple look); the rest are scenes
    scenes: SceneConfig = field(default_factory=SceneConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: no train-time augmentation
    epochs: int = 15
    batch_size: int = 256
    lr: float = 0.1  # peak of the cosine schedule (SGD, Nesterov momentum 0.9)
    weight_decay: float = 5e-4

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        d = dict(d)
        d["scenes"] = SceneConfig.from_dict(d.get("scenes") or {})
        d["augment"] = AugmentConfig.from_dict(d["augment"]) if d.get("augment") is not None else None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


RECIPES = {
    "shipped": Recipe("shipped"),
    # seconds, for tests and --quick: no MNIST, few images, one epoch
    "quick": Recipe("quick", images=3000, epochs=1, scenes=SceneConfig(mnist=0.0, package_fonts=False)),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r} (choose from {', '.join(RECIPES)})")
    return RECIPES[name]


def training_set(recipe: Recipe, seed: int = 0, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Render the recipe's training images -> (uint8 (N, 32, 32), digits int64 (N,)), a function of (recipe, seed)."""
    from dlexam.svhn.data.official import rgb_to_gray
    from dlexam.svhn.synthetic.digits import TRAIN_FONTS, render
    from dlexam.svhn.synthetic.scenes import GlyphSet, render_scenes

    mnist = (None, None)
    if recipe.scenes.mnist > 0:
        from dlexam.svhn.data.mnist import load_mnist
        from dlexam.svhn.data.realdata import MNIST_TRAIN

        images, labels = load_mnist()  # UserError naming the folder when the shared files are absent
        mnist = (images[:MNIST_TRAIN], labels[:MNIST_TRAIN])
    glyphs = GlyphSet(recipe.scenes, *mnist)
    n_synth = int(round(recipe.images * recipe.synth_share))
    n_scenes = recipe.images - n_synth
    xs, ys = [], []
    for i in range(0, n_scenes, chunk):  # each chunk has its own seed: the set is the same in any chunking order
        x, y = render_scenes(min(chunk, n_scenes - i), seed * 1_000_003 + i // chunk, glyphs, recipe.scenes)
        xs.append(x)
        ys.append(y)
    for i in range(0, n_synth, chunk):
        rgb, y = render(min(chunk, n_synth - i), seed * 1_000_003 + 500_000 + i // chunk, TRAIN_FONTS)
        xs.append(rgb_to_gray(rgb))
        ys.append(y)
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys).astype(np.int64))


@dataclass
class RecipeResult:
    """A recipe's run: where it lives, its epochs, its timings and its real-data checks."""

    out: str
    recipe: str
    seed: int
    history: list[dict]
    seconds: dict  # render, train, total (wall) and cpu (all threads)
    checks: dict  # dlexam.svhn.data.realdata.check_accuracies: {name: {"accuracy", "n", ...} or {"skipped": why}}

    def to_json(self) -> dict:
        return asdict(self)


def train_recipe(
    recipe: Recipe,
    out: str | Path,
    *,
    seed: int = 0,
    threads: int | None = None,
    progress: ProgressFn | None = None,
    checks: bool = True,
) -> RecipeResult:
    """Render, train and write the run directory `out` (model.pt, metrics.json/.csv, curves.png).

    The folder is the core's run folder (:class:`dlexam.runs.RunFolder`), checked and locked before
    any work; a folder that already holds a run is refused. The checks are the real-data accuracies of
    :mod:`dlexam.svhn.data.realdata` (a set whose shared files are absent says why it was skipped).
    """
    limits.seed("seed", seed)
    limits.threads("threads", threads, optional=True)
    # model.pt is written last: a folder with the metrics of a killed recipe run but no model.pt takes a new run
    with runs.RunFolder(out, writes=RUN_FILES, markers=(runs.LAST, runs.BEST, RUN_FILE)) as folder:
        return _train(recipe, folder, seed, threads, progress, checks)


def _train(recipe: Recipe, folder: runs.RunFolder, seed: int, threads: int | None, progress: ProgressFn | None,
           checks: bool) -> RecipeResult:
    from dlexam.svhn.data.realdata import check_accuracies
    from dlexam.svhn.model import CNNConfig, ExamCNN
    from dlexam.svhn.plots import learning_curves_figure
    from dlexam.svhn.training.augment import Augment
    from dlexam.svhn.training.loop import TrainConfig, fit

    t0, cpu0 = time.perf_counter(), time.process_time()
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        x, y = training_set(recipe, seed)
        t_render = time.perf_counter() - t0
        log(progress, "svhn recipe", f"recipe {recipe.name!r}: rendered {len(x):,} training images in {t_render:.0f} s")
        cfg = TrainConfig(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                          weight_decay=recipe.weight_decay, seed=seed, threads=threads)
        model_cfg = CNNConfig()  # Problem 1's network, exactly: ReLU, average pooling, linear head
        torch.manual_seed(seed)
        augment = Augment(recipe.augment) if recipe.augment is not None else None

        def on_epoch_end(epoch, model, optimizer, history):
            row = history[-1]
            log(progress, "svhn recipe",
                f"epoch {row['epoch']}/{cfg.epochs}: loss {row['train_loss']:.4f}, acc {row['train_accuracy']:.4f}")

        result = fit(ExamCNN(model_cfg), x, y, cfg=cfg, augment=augment, on_epoch_end=on_epoch_end, progress=progress)
        t_train = time.perf_counter() - t0 - t_render
        model = result["model"].to(memory_format=torch.contiguous_format).eval()
        found = check_accuracies(model) if checks else {}
    finally:
        torch.set_num_threads(previous_threads)
    seconds = {
        "render": round(t_render, 1),
        "train": round(t_train, 1),
        "total": round(time.perf_counter() - t0, 1),
        "cpu": round(time.process_time() - cpu0, 1),  # all threads: what a machine to itself would need
    }
    settings = {
        "recipe": recipe.to_dict(),
        "seed": seed,
        "threads": threads,
        "model": model_cfg.to_dict(),
        "command": f"dlexam svhn train --recipe {recipe.name} --seed {seed}"
        + (f" --threads {threads}" if threads else "")
        + " --out OUT",
    }
    extra = {
        "settings": settings,
        "history": result["history"],
        "seconds": seconds,
        "checks": {k: {kk: v for kk, v in r.items() if kk != "per_class"} for k, r in found.items()},
    }
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    folder.write_metrics(result["history"], {**settings, "seconds": seconds, "checks": extra["checks"]})
    folder.write_figure(runs.CURVES, learning_curves_figure(result["history"]))
    folder.save_checkpoint(RUN_FILE, kind=KIND, config=model_cfg.to_dict(), state_dict=state, extra=extra)
    return RecipeResult(str(folder.path), recipe.name, seed, result["history"], seconds, found)
