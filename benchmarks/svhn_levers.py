"""Issue 21, third and fifth rounds: train-time levers against the shipped recipe, paired by seed.

Each lever is the shipped recipe (its own `training_set`, `TrainConfig` and augmentation, through
`dlexam.svhn.training.loop.fit`, unpinned, one thread) with one change at training time that the
earlier rounds had not measured. None of them is in the library: they are measured here, and the
numbers are in docs/svhn.md ("Issue 21, third round" and "fifth round").

  baseline   the shipped recipe as it is
  randconv   random convolutions (Xu et al., ICLR 2021, the RandConv of domain generalisation on
             digits): half of each batch is convolved with a random k x k filter (k in 1, 3, 5, 7,
             weights N(0, 1/k^2)), re-standardised and blended with the image by a uniform weight
  gamma      a random monotone contrast curve per image: logit(sigmoid(x) ** g), g log-uniform in [1/2, 2]
  erase      30% of images lose a strip 3-8 px wide at the left or right edge (noise around the image
             mean): SVHN crops keep parts of the neighbouring digits there
  xzoom      a horizontal stretch or squeeze, log-uniform in [0.8, 1.25], before the usual warp
  wd1e-3     weight decay 1e-3 (the recipe's is 5e-4)
  wd2e-3     weight decay 2e-3
  smooth     label smoothing 0.1
  mixup      mixup (Zhang et al., ICLR 2018): each image blended with another of its batch by
             max(l, 1 - l), l ~ Beta(0.2, 0.2), and its loss with that image's label by the same weight

Four more change the data instead: the framed house-number part of the recipe (its first part,
`scenes.SVHN_FRAMED`: 30% of the images) drawn closer to how the development set's crops look
(digits 18-30 px high, often narrower; fewer, farther or condensed neighbours):

  few-narrow       digits 18-30 px, aspect 0.7-1.0, a neighbour at each side with probability 0.3, gaps up to 8
  far-narrow       the same with neighbours 0.5, gaps up to 16 glyph px
  condensed        digits 20-30 px, aspect 0.6-0.9, neighbours 0.8 at gaps 0-6 (whole, close neighbours)
  few              digits 18-30 px, neighbours 0.3, gaps up to 8, the framed aspect kept (0.8-1.25)

Two more (the fifth round) change how the images are made or read:

  antialias  the scenes' glyphs sampled as a box filter over each output pixel (2 x 2 points spread over
             the pixel, by the grid's own derivatives) instead of at its centre: a camera integrates
             light over a pixel, where point sampling a 40-px glyph at 14-34 px aliases its edges
  cut-input  the side cut of `svhn evaluate --tta` (inference.side_cut: 3 columns cut at each side, the
             rest stretched back) as the model's input at training and at every check: the cut as
             training rather than as a test-time view

The smoothing and mixup levers change the loss, which the fused whole step does not offer: their steps go through
autograd (a forward hook on the model makes ExamCNN decline the fused step, as it declines for any
hook), with dlexam.svhn.training.loop's cross-entropy replaced for the run.

Every augmentation draws from the loop's generator (seeded by seed and epoch), so a run is repeatable
on one machine. Accuracies come from dlexam.svhn.data.realdata's checks (svhn_dev, chars74k,
mnist2000, synth_heldout; a check whose files are absent is skipped). Per lever, runs are listed
worst first by svhn_dev; with `baseline` among the levers each lever's worst seed is compared with
the baseline's. One JSON line per run on stderr, one JSON object as the last line of stdout.

`--extra-fonts DIR` adds DIR's TrueType/OpenType files (sorted by name) to the scene typefaces
(`dlexam.svhn.synthetic.fonts.package_fonts`) for every run, to measure typefaces that dlexam does
not ship (docs/svhn.md: the fontsource typefaces from npm).

The default runs every lever on seeds 0-2: 45 full runs of about a minute each on one core.

Usage: python benchmarks/svhn_levers.py [--levers baseline erase ...] [--seeds 0 1 2] [--recipe shipped|quick]
                                        [--extra-fonts DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlexam.svhn.data.realdata import check_accuracies, compare_groups
from dlexam.svhn.inference import TTA_CUT, side_cut
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.synthetic import fonts, scenes
from dlexam.svhn.training import loop
from dlexam.svhn.training.augment import Augment
from dlexam.svhn.training.loop import TrainConfig, fit
from dlexam.svhn.training.recipes import RECIPES, Part, training_set

TRAIN_CHANGES = {"wd1e-3": {"weight_decay": 1e-3}, "wd2e-3": {"weight_decay": 2e-3}}
AUGMENT_LEVERS = ("randconv", "gamma", "erase", "xzoom")
LOSS_LEVERS = ("smooth", "mixup")
INPUT_LEVERS = ("antialias", "cut-input")
ANTIALIAS_POINTS = 2  # per axis, in each output pixel
# changes to the recipe's framed part (scenes.SVHN_FRAMED, as SceneConfig fields)
FRAMINGS = {
    "few-narrow": dict(min_height=18, max_height=30, neighbours=0.3, max_gap=8, min_aspect=0.7, max_aspect=1.0),
    "far-narrow": dict(min_height=18, max_height=30, neighbours=0.5, max_gap=16, min_aspect=0.7, max_aspect=1.0),
    "condensed": dict(min_height=20, max_height=30, neighbours=0.8, min_gap=0, max_gap=6,
                      min_aspect=0.6, max_aspect=0.9),
    "few": dict(min_height=18, max_height=30, neighbours=0.3, max_gap=8),
}
LEVERS = ("baseline", *AUGMENT_LEVERS, *TRAIN_CHANGES, *LOSS_LEVERS, *FRAMINGS, *INPUT_LEVERS)
SMOOTHING = 0.1
MIXUP_ALPHA = 0.2


def standardised(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean((1, 2, 3), keepdim=True)) / (x.std((1, 2, 3), keepdim=True) + 1e-5)


def uniform(n: int, g: torch.Generator) -> torch.Tensor:
    """n numbers uniform in [-1, 1]."""
    return torch.rand(n, generator=g) * 2 - 1


def xzoom(x: torch.Tensor, g: torch.Generator, most: float = 1.25) -> torch.Tensor:
    b, _, h, w = x.shape
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = torch.exp(uniform(b, g) * math.log(most))
    theta[:, 1, 1] = 1
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)
    return F.grid_sample(x.contiguous(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def randconv(x: torch.Tensor, g: torch.Generator, p: float = 0.5, sizes=(1, 3, 5, 7)) -> torch.Tensor:
    b, _, h, w = x.shape
    k = sizes[int(torch.randint(len(sizes), (1,), generator=g))]
    weights = torch.randn(b, 1, k, k, generator=g) / k
    padded = F.pad(x.reshape(1, b, h, w), (k // 2,) * 4, mode="replicate")
    y = standardised(F.conv2d(padded, weights, groups=b).reshape(b, 1, h, w))
    blend = torch.rand(b, 1, 1, 1, generator=g)
    y = standardised(blend * x + (1 - blend) * y)
    return torch.where((torch.rand(b, generator=g) < p)[:, None, None, None], y, x)


def gamma(x: torch.Tensor, g: torch.Generator, most: float = 2.0) -> torch.Tensor:
    power = torch.exp(uniform(x.shape[0], g) * math.log(most))[:, None, None, None]
    return standardised(torch.logit(torch.sigmoid(x).clamp(1e-4, 1 - 1e-4) ** power))


def erase(x: torch.Tensor, g: torch.Generator, p: float = 0.3) -> torch.Tensor:
    b, _, h, w = x.shape
    x = x.clone()
    for i in torch.nonzero(torch.rand(b, generator=g) < p).flatten().tolist():
        width = int(torch.randint(3, 9, (1,), generator=g))
        left = 0 if int(torch.randint(2, (1,), generator=g)) == 0 else w - width
        x[i, :, :, left:left + width] = torch.randn(1, h, width, generator=g) * 0.3 + x[i].mean()
    return x


def supersampled(glyphs: torch.Tensor, grid: torch.Tensor, points: int = ANTIALIAS_POINTS) -> torch.Tensor:
    """scenes._sample as a box filter: glyphs (n, H, W) sampled at points x points positions spread evenly over
    each output pixel of grid (n, S, S, 2), found from the grid's differences between neighbouring pixels
    (its last row and column repeat the one before), and averaged -> (n, S, S)."""
    dx = torch.cat([grid[:, :, 1:] - grid[:, :, :-1], grid[:, :, -1:] - grid[:, :, -2:-1]], 2)  # per output column
    dy = torch.cat([grid[:, 1:] - grid[:, :-1], grid[:, -1:] - grid[:, -2:-1]], 1)  # per output row
    offsets = [(i + 0.5) / points - 0.5 for i in range(points)]
    total = torch.zeros(grid.shape[:3])
    for a in offsets:
        for b in offsets:
            total += F.grid_sample(glyphs.unsqueeze(1), grid + a * dx + b * dy, mode="bilinear",
                                   padding_mode="zeros", align_corners=False).squeeze(1)
    return total / points**2


@contextlib.contextmanager
def antialiased_scenes():
    """Within: the scene renderer samples its glyphs with `supersampled`; put back on leaving."""
    plain, scenes._sample = scenes._sample, supersampled
    try:
        yield
    finally:
        scenes._sample = plain


class SideCut(torch.nn.Module):
    """`model` reading its input through inference.side_cut (the cut-input lever's checks)."""

    def __init__(self, model: torch.nn.Module, cut: int = TTA_CUT):
        super().__init__()
        self.model, self.cut = model, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(side_cut(x, self.cut))


class WithLever:
    """The recipe's augmentation with one lever: xzoom, randconv and gamma before it, erase and mixup
    after. Mixup leaves its partners and weights in `pending` for the loss of the same step."""

    def __init__(self, base, lever: str):
        self.base, self.lever, self.pending = base, lever, {}

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if self.lever in ("xzoom", "randconv", "gamma"):
            x = {"xzoom": xzoom, "randconv": randconv, "gamma": gamma}[self.lever](x, g)
        if self.lever == "cut-input":
            x = side_cut(x, TTA_CUT)
        x = self.base(x, g)
        if self.lever == "erase":
            x = erase(x, g)
        if self.lever == "mixup":
            partner = torch.randperm(x.shape[0], generator=g)
            weight = torch.distributions.Beta(MIXUP_ALPHA, MIXUP_ALPHA).sample((x.shape[0],))  # torch's seeded stream
            weight = torch.maximum(weight, 1 - weight)
            self.pending.update(partner=partner, weight=weight)
            w = weight[:, None, None, None]
            x = w * x + (1 - w) * x[partner]
        return x

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The summed cross-entropy of a step, smoothed or mixed as the lever says."""
        smoothing = SMOOTHING if self.lever == "smooth" else 0.0
        if not self.pending:
            return F.cross_entropy(logits.float(), y, reduction="sum", label_smoothing=smoothing)
        partner, weight = self.pending.pop("partner"), self.pending.pop("weight")
        own = F.cross_entropy(logits.float(), y, reduction="none", label_smoothing=smoothing)
        other = F.cross_entropy(logits.float(), y[partner], reduction="none", label_smoothing=smoothing)
        return (weight * own + (1 - weight) * other).sum()


@contextlib.contextmanager
def through_autograd(model: ExamCNN, loss, before=None):
    """Within: the model's steps go through autograd (a forward pre-hook, `before(module, inputs)` or one that
    does nothing, makes it decline its fused step) with `loss` as the loop's summed cross-entropy; both are put
    back on leaving."""
    hook = model.register_forward_pre_hook(before or (lambda module, inputs: None))
    plain, loop.cross_entropy_sum = loop.cross_entropy_sum, loss
    try:
        yield
    finally:
        loop.cross_entropy_sum = plain
        hook.remove()


def lever_recipe(lever: str, recipe_name: str):
    """The recipe a lever trains on: the named one, its framed first part changed for a framing lever."""
    recipe = RECIPES[recipe_name]
    if lever not in FRAMINGS:
        return recipe
    framed, *rest = recipe.parts
    return dataclasses.replace(
        recipe, parts=(Part(framed.share, dataclasses.replace(framed.scenes, **FRAMINGS[lever])), *rest))


def run(lever: str, recipe_name: str, seed: int) -> dict:
    recipe = lever_recipe(lever, recipe_name)
    t, cpu = time.perf_counter(), time.process_time()
    with antialiased_scenes() if lever == "antialias" else contextlib.nullcontext():
        x, y = training_set(recipe, seed)
    settings = dict(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                    weight_decay=recipe.weight_decay, seed=seed, threads=1)
    settings.update(TRAIN_CHANGES.get(lever, {}))
    torch.manual_seed(seed)
    augment = WithLever(Augment(recipe.augment) if recipe.augment is not None else lambda x, g: x, lever)
    model = ExamCNN(CNNConfig())
    with through_autograd(model, augment.loss) if lever in LOSS_LEVERS else contextlib.nullcontext():
        model = fit(model, x, y, cfg=TrainConfig(**settings), augment=augment)["model"]
    model = model.to(memory_format=torch.contiguous_format).eval()
    row = {"lever": lever, "seed": seed}
    for name, r in check_accuracies(SideCut(model) if lever == "cut-input" else model).items():
        row[name] = round(r["accuracy"], 4) if "accuracy" in r else None
    row["seconds"] = round(time.perf_counter() - t, 1)
    row["cpu_seconds"] = round(time.process_time() - cpu, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levers", nargs="+", default=list(LEVERS), choices=LEVERS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipe", default="shipped", choices=("shipped", "quick"))
    ap.add_argument("--extra-fonts", metavar="DIR", help="more typefaces for the scenes: DIR/*.ttf and *.otf")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.extra_fonts:
        extra = sorted(str(p) for p in Path(args.extra_fonts).glob("*") if p.suffix.lower() in (".ttf", ".otf"))
        if not extra:
            ap.error(f"--extra-fonts: no .ttf or .otf files in {args.extra_fonts}")
        shipped_fonts = fonts.package_fonts()
        fonts.package_fonts = lambda: shipped_fonts + tuple(extra)  # read by scene_fonts at each render
    out = {"benchmark": "svhn_levers", "recipe": args.recipe, "threads": 1, "cpu_count": os.cpu_count(),
           "extra_fonts": len(extra) if args.extra_fonts else 0, "load_average_start": os.getloadavg()[0],
           "baseline": "baseline" if "baseline" in args.levers else None}
    rows = {lever: [] for lever in args.levers}
    for lever in args.levers:
        for seed in args.seeds:
            rows[lever].append(run(lever, args.recipe, seed))
            print(json.dumps(rows[lever][-1]), file=sys.stderr, flush=True)
    out["levers"] = compare_groups(rows, baseline="baseline")
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
