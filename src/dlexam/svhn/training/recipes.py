"""Named training recipes: the data, augmentation and schedule that rebuild a model from nothing.

``dlexam svhn train --recipe shipped --out R`` runs :func:`train_recipe` with ``RECIPES["shipped"]``:
it renders its training scenes in memory (dlexam.svhn.synthetic.scenes, plus the plain renderer of
dlexam.svhn.synthetic.digits), trains Problem 1's CNN with train-time augmentation, and writes a run
directory whose ``model.pt`` is the file dlexam ships as its default model (dlexam.svhn.shipped).
Everything is offline: fonts come from installed packages, handwriting from the shared MNIST
t10k file (its first 8,000 digits only; the last 2,000 are a check).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dlexam import limits, runs
from dlexam.errors import UserError
from dlexam.progress import ProgressFn, log
from dlexam.svhn.model import KIND
from dlexam.svhn.synthetic.scenes import SVHN_FRAMED, SceneConfig
from dlexam.svhn.training.augment import AugmentConfig

RUN_FILE = "model.pt"
RUN_FILES = (RUN_FILE, runs.METRICS_CSV, runs.METRICS_JSON, runs.CURVES)  # what a recipe's run folder holds


@dataclass(frozen=True)
class Part:
    """A share of a recipe's training images: house-number scenes drawn as `scenes` says, or, when
    `scenes` is None, the plain renderer (dlexam.svhn.synthetic.digits.render: its 12 matplotlib
    fonts and simple look)."""

    share: float
    scenes: SceneConfig | None = None

    @classmethod
    def from_dict(cls, d: dict) -> Part:
        scenes = d.get("scenes")
        return cls(float(d["share"]), SceneConfig.from_dict(scenes) if scenes is not None else None)


# The shipped recipe's images (issue 21): 30% scenes framed as SVHN's crops, 30% wide scenes (the previous
# recipe's, which Chars74K's stretched photos need), 40% the plain renderer (the held-out-font check).
SHIPPED_PARTS = (Part(0.3, SVHN_FRAMED), Part(0.3, SceneConfig()), Part(0.4))


@dataclass(frozen=True)
class Recipe:
    """How a model is made: what data, how much, which augmentation, which schedule."""

    name: str
    images: int = 120_000  # training images, rendered afresh by every rebuild
    parts: tuple[Part, ...] = SHIPPED_PARTS  # shares of `images`, summing to 1
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: no train-time augmentation
    epochs: int = 15
    batch_size: int = 128  # twice the steps of 256 for the same images: +4 points on real SVHN (docs/svhn.md)
    lr: float = 0.1  # peak of the cosine schedule (SGD, Nesterov momentum 0.9)
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        if not self.parts or abs(sum(p.share for p in self.parts) - 1.0) > 1e-9 or min(p.share for p in self.parts) < 0:
            raise ValueError(f"recipe {self.name!r}: the parts' shares must be >= 0 and sum to 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        d = dict(d)
        if "parts" in d:
            d["parts"] = tuple(Part.from_dict(p) for p in d["parts"])
        d["augment"] = AugmentConfig.from_dict(d["augment"]) if d.get("augment") is not None else None
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def counts(self) -> list[int]:
        """Images per part: the shares of `images`, rounded, the last part taking what is left."""
        counts = [int(round(self.images * p.share)) for p in self.parts[:-1]]
        return [*counts, self.images - sum(counts)]


QUICK_SCENES = SceneConfig(mnist=0.0, package_fonts=False)
RECIPES = {
    "shipped": Recipe("shipped"),
    # seconds, for tests and --quick: the same three kinds of parts, no MNIST, few images, one epoch
    "quick": Recipe("quick", images=3000, epochs=1, batch_size=128,
                    parts=(Part(0.3, dataclasses.replace(SVHN_FRAMED, mnist=0.0, package_fonts=False)),
                           Part(0.3, QUICK_SCENES), Part(0.4))),
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
    if any(p.scenes is not None and p.scenes.mnist > 0 for p in recipe.parts):
        from dlexam.svhn.data.mnist import load_mnist
        from dlexam.svhn.data.realdata import MNIST_TRAIN

        images, labels = load_mnist()  # UserError naming the folder when the shared files are absent
        mnist = (images[:MNIST_TRAIN], labels[:MNIST_TRAIN])
    xs, ys, banks = [], [], {}
    for k, (part, n) in enumerate(zip(recipe.parts, recipe.counts(), strict=True)):
        base = seed * 1_000_003 + k * 100_003  # each chunk has its own seed: the set is the same in any chunking order
        if part.scenes is not None:
            fonts = (part.scenes.package_fonts, part.scenes.bold)
            glyphs = banks[fonts] = banks.get(fonts) or GlyphSet(part.scenes, *mnist)
        for i in range(0, n, chunk):
            if part.scenes is not None:
                x, y = render_scenes(min(chunk, n - i), base + i // chunk, glyphs, part.scenes)
            else:
                rgb, y = render(min(chunk, n - i), base + i // chunk, TRAIN_FONTS)
                x = rgb_to_gray(rgb)
            xs.append(x)
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
    with runs.RunFolder(out, writes=RUN_FILES, markers=(runs.LAST, runs.BEST, RUN_FILE), forceable=False,
                        resumable=False, kind=KIND) as folder:  # a recipe is made whole, with no --force
        previous_threads = torch.get_num_threads()
        if threads:
            torch.set_num_threads(int(threads))  # until the checkpoint is written: its provenance records it
        try:
            return _train(recipe, folder, seed, threads, progress, checks)
        finally:
            torch.set_num_threads(previous_threads)


def _train(recipe: Recipe, folder: runs.RunFolder, seed: int, threads: int | None, progress: ProgressFn | None,
           checks: bool) -> RecipeResult:
    from dlexam.svhn.data.realdata import check_accuracies
    from dlexam.svhn.model import CNNConfig, ExamCNN
    from dlexam.svhn.plots import learning_curves_figure
    from dlexam.svhn.training import pinning
    from dlexam.svhn.training.augment import Augment
    from dlexam.svhn.training.config import TrainConfig
    from dlexam.svhn.training.loop import fit

    t0, cpu0 = time.perf_counter(), time.process_time()
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
    seconds = {
        "render": round(t_render, 1),
        "train": round(t_train, 1),
        "total": round(time.perf_counter() - t0, 1),
        "cpu": round(time.process_time() - cpu0, 1),  # all threads: what a machine to itself would need
    }
    settings = {
        "recipe": recipe.to_dict(),
        "instruction_set": pinning.state(),  # pinned or not: see dlexam.svhn.training.pinning
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
