"""Issue 21, third, fifth to tenth rounds: levers against the shipped recipe, paired by seed.

Each lever is the shipped recipe (its own `training_set`, `TrainConfig` and augmentation, through
`dlexam.svhn.training.loop.fit`, unpinned, one thread) with one change at training time that the
earlier rounds had not measured. None of them is in the library: they are measured here, and the
numbers are in docs/svhn.md ("Issue 21, third round" and the fifth to the tenth rounds).

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

and one (the tenth round) keeps both digit shapes of the framed part, the shipped and the condensed:

  split      the framed part halved: 15% of the images framed as SVHN_FRAMED is, 15% with `condensed`'s changes
             (SPLIT_FRAMING); the wide scenes and the plain renderer as shipped. With a late lever the late
             phase draws from both halves, the recipe's first two parts (`framed_images`)

Two more (the fifth round) change how the images are made or read:

  antialias  the scenes' glyphs sampled as a box filter over each output pixel (2 x 2 points spread over
             the pixel, by the grid's own derivatives) instead of at its centre: a camera integrates
             light over a pixel, where point sampling a 40-px glyph at 14-34 px aliases its edges
  cut-input  the side cut of `svhn evaluate --tta` (inference.side_cut: 3 columns cut at each side, the
             rest stretched back) as the model's input at training and at every check: the cut as
             training rather than as a test-time view

Two more (the sixth round) change how the exam's network is trained, not the network it ships: each trains a
larger network that folds back exactly into the exam's 3,722 parameters (`Reparameterised.fold`), the
"structural reparameterisation" of RepVGG and ExpandNets (Guo et al., NeurIPS 2020):

  batchnorm  batch normalisation after each conv (before its ReLU) while training; folded into the conv's
             weights and bias from its running statistics at the end
  reparam    batchnorm, and each conv as a chain of two convs with no nonlinearity between (Conv-1's 5x5 as
             3x3 -> 16 channels -> 3x3, Conv-2's 4x4 as 3x3 -> 32 channels -> 2x2, its padding before the chain)
             and the linear head as 144 -> 256 -> 10: linear over-parameterisation, which changes the training
             dynamics but not what the network can compute; composed back into single layers at the end

Two more (the seventh round) change the surfaces and colours of both scene parts of the recipe (the framed and
the wide scenes, 60% of the images):

  textures   half of the scenes get the detail of photographed surfaces on their wall (gain 0.3-1.2) and
             plate (gain 0-0.6): random crops of SURFACE_PHOTOS (scikit-image's bundled sample photos, CC0 or
             public domain: brick, gravel, grass, a camera, coffee, a cat, a rocket, an astronaut; `--surfaces
             DIR`, by default the installed skimage/data) in luma, at 1/4-2 photo px an output px, turned by any
             angle (`scenes.SceneConfig.textures`); the plate and contrast rules on top, measured from the mean
  colour     the digit's colour and the colour under it drawn in RGB (a random hue and saturation at each
             luma), the digit at least the recipe's contrast away from it in RGB distance (|dRGB| / sqrt 3,
             which is the luma difference for greys) instead of in luma, and its luma then taken by
             official.rgb_to_gray, the conversion of real photos: red on green of the same luma is a digit that
             a person reads and the grey network does not, as in photos (`contrasting_in_colour`)

Three more (the eighth round) change what the schedule's end trains on, and the optimiser:

  late       the cosine schedule's last LATE_EPOCHS (3) epochs draw their images from the framed part (the
             recipe's first 30%, SVHN-like scenes with MNIST glyphs among their typefaces) only: as many steps,
             at the schedule's own learning rates (`late_phase`)
  late-half  the same with half of those epochs' images from the framed part and half drawn as usual (from
             all parts, so 65% framed)
  sam        sharpness-aware minimisation (Foret et al., ICLR 2021), rho SAM_RHO (0.05): each step's gradient
             taken again at w + rho g / |g| (`Sharpness`), through autograd; twice the passes of a step

and `--views-of DIR` trains nothing: it reads the shipped model and the networks that `--keep DIR` saved through
robust per-image normalisations of the input (VIEWS: quantile clipping, median and interquartile range, the
central columns' statistics), the eighth round's check of the input before any training with it: one JSON line per
model and view on stderr, and on stdout one object holding them all.

The smoothing and mixup levers change the loss, which the fused whole step does not offer: their steps go through
autograd (a forward hook on the model makes ExamCNN decline the fused step, as it declines for any
hook), with dlexam.svhn.training.step's cross-entropy replaced for the run.

Every augmentation draws from the loop's generator (seeded by seed and epoch), so a run is repeatable
on one machine. Accuracies come from dlexam.svhn.data.realdata's checks (svhn_dev, chars74k,
mnist2000, synth_heldout; a check whose files are absent is skipped). Per lever, runs are listed
worst first by svhn_dev; with `baseline` among the levers each lever's worst seed is compared with
the baseline's. One JSON line per run on stderr, one JSON object as the last line of stdout.

A lever may also be several joined by "+" (the ninth round: `--levers condensed+late-half+sam`), trained in one
run with every part applied as it is alone (`lever_parts`): the framing or textures on the recipe, the augmentations
(xzoom, randconv, gamma before the recipe's, erase and mixup after), the weight decay, and the late phase, SAM, a loss
lever and a larger network together. Parts that change the same thing are refused (COMBINATION_CLASHES: two
framings, `split` counted among them, two late levers, two weight decays, two networks; SAM with smoothing or mixup,
whose loss SAM's second pass would not see), and so is baseline, which is no change.

`--extra-fonts DIR` adds DIR's TrueType/OpenType files (sorted by name) to the scene typefaces
(`dlexam.svhn.synthetic.fonts.package_fonts`) for every run, to measure typefaces that dlexam does
not ship (docs/svhn.md: the fontsource typefaces from npm).

The default runs every lever on seeds 0-2: 69 full runs, most of about a minute of CPU each on one core (`sam`
about 1.7 times that, `batchnorm` four and `reparam` eight times).

Usage: python benchmarks/svhn_levers.py [--levers baseline erase condensed+late-half ...] [--seeds 0 1 2]
                                        [--recipe shipped|quick] [--extra-fonts DIR] [--surfaces DIR] [--keep DIR]
       python benchmarks/svhn_levers.py --views-of DIR
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from dlexam import bounds
from dlexam.commands.options import whole_number
from dlexam.svhn.data.official import rgb_to_gray
from dlexam.svhn.data.realdata import check_accuracies, compare_groups, load_checks
from dlexam.svhn.inference import TTA_CUT, side_cut
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.synthetic import fonts, scenes
from dlexam.svhn.training import loop, step
from dlexam.svhn.training.augment import Augment
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import fit
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
# the sixth round's networks trained in place of the exam's, folded back into it: (batch norm, widths of the
# chains that Conv-1, Conv-2 and the head become; 0 = the layer as it is)
REPARAM_LEVERS = {"batchnorm": (True, 0, 0, 0), "reparam": (True, 16, 32, 256)}
SURFACE_LEVERS = ("textures", "colour")
# the eighth round: a late phase on the framed part, sharpness-aware minimisation (and VIEWS, read without training)
LATE_EPOCHS = 3  # the late levers' last epochs, drawn from the framed part (the recipe's first) ...
LATE_LEVERS = {"late": 1.0, "late-half": 0.5}  # ... this share of their images (the rest from all, as usual)
SAM_RHO = 0.05  # the radius of SAM's ascent step (Foret et al.'s for SGD on CIFAR)
SPLIT_FRAMING = "condensed"  # the tenth round's `split`: the framed part halved, its second half framed so
LEVERS = ("baseline", *AUGMENT_LEVERS, *TRAIN_CHANGES, *LOSS_LEVERS, *FRAMINGS, *INPUT_LEVERS, *REPARAM_LEVERS,
          *SURFACE_LEVERS, *LATE_LEVERS, "sam", "split")
# the ninth round's combinations: no two parts of one of these groups in a lever joined by "+" (`split` frames
# the framed part too)
COMBINATION_CLASHES = ((*FRAMINGS, "split"), tuple(LATE_LEVERS), tuple(TRAIN_CHANGES),
                       tuple(REPARAM_LEVERS), ("sam", *LOSS_LEVERS))
TEXTURE_SHARE = 0.5  # of each scene part's images
# scikit-image's bundled sample photos (its wheel's skimage/data, no download) and their licences, as its
# skimage.data docstrings state: CC0 textures (brick, gravel: cc0textures.com; grass: DeviantArt, CC0), CC0
# photographs (camera: Lav Varshney; coffee: Rachel Michetti; chelsea: Stefan van der Walt) and public domain
# (rocket: SpaceX; astronaut: NASA)
SURFACE_PHOTOS = ("brick.png", "gravel.png", "grass.png", "camera.png", "coffee.png", "chelsea.png", "rocket.jpg",
                  "astronaut.png")
SURFACE_TILE = 256  # px: each photo's centred square, resized
LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601-2, as official.rgb_to_gray
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


def composed(first: torch.nn.Conv2d, second: torch.nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The one conv (weight, bias) that `second` after `first` is (both stride 1, no padding, nothing between):
    its kernel is first's and second's kernels convolved, summed over first's outputs; first's bias passes
    through second's weights."""
    k1, k2 = first.weight, second.weight  # (m, c, a, a), (o, m, d, d)
    d = k2.shape[-1]
    kernel = F.conv2d(k1.transpose(0, 1), k2.flip(-1, -2), padding=d - 1).transpose(0, 1)  # (o, c, a+d-1, a+d-1)
    return kernel, second.bias + k2.sum((2, 3)) @ first.bias


class Reparameterised(torch.nn.Module):
    """An exam CNN trained as a larger network (REPARAM_LEVERS) that `fold` turns back into the exam's, exactly:
    each conv optionally a chain of two (`widths[i]` channels between, the first 3x3), batch norm after it, the
    exam's own activations and pools, the head optionally a chain of two linear layers."""

    def __init__(self, batchnorm: bool, *widths: int, cfg: CNNConfig | None = None):
        super().__init__()
        self.cfg = cfg or CNNConfig()
        exam = ExamCNN(self.cfg, fused=False)  # its sizes, activations and pools (parameterless); not its weights
        self.chains, self.norms = torch.nn.ModuleList(), torch.nn.ModuleList()
        self.acts = torch.nn.ModuleList([exam.act1, exam.act2])
        self.pools = torch.nn.ModuleList([exam.pool1, exam.pool2])
        self.pads = [(c.padding[1],) * 2 + (c.padding[0],) * 2 for c in (exam.conv1, exam.conv2)]
        for conv, width in zip((exam.conv1, exam.conv2), widths[:2], strict=True):
            k = conv.kernel_size[0]
            self.chains.append(torch.nn.Sequential(torch.nn.Conv2d(conv.in_channels, width, 3),
                                                   torch.nn.Conv2d(width, conv.out_channels, k - 2))
                               if width else torch.nn.Conv2d(conv.in_channels, conv.out_channels, k))
            self.norms.append(torch.nn.BatchNorm2d(conv.out_channels) if batchnorm else torch.nn.Identity())
        fc = exam.fc
        self.head = torch.nn.Sequential(torch.nn.Linear(fc.in_features, widths[2]),
                                        torch.nn.Linear(widths[2], fc.out_features)) if widths[2] else \
            torch.nn.Linear(fc.in_features, fc.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for pad, chain, norm, act, pool in zip(self.pads, self.chains, self.norms, self.acts, self.pools, strict=True):
            x = pool(act(norm(chain(F.pad(x, pad)))))
        return self.head(x.flatten(1))

    @torch.no_grad()
    def fold(self) -> ExamCNN:
        """The exam's network computing what this one computes in evaluation (batch norm at its running
        statistics), to rounding."""
        exam = ExamCNN(self.cfg)
        for conv, chain, norm in zip((exam.conv1, exam.conv2), self.chains, self.norms, strict=True):
            weight, bias = composed(*chain) if isinstance(chain, torch.nn.Sequential) else (chain.weight, chain.bias)
            if isinstance(norm, torch.nn.BatchNorm2d):
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                weight, bias = weight * scale[:, None, None, None], (bias - norm.running_mean) * scale + norm.bias
            conv.weight.copy_(weight)
            conv.bias.copy_(bias)
        chain = list(self.head) if isinstance(self.head, torch.nn.Sequential) else [self.head]
        weight, bias = chain[0].weight, chain[0].bias
        for layer in chain[1:]:
            weight, bias = layer.weight @ weight, layer.weight @ bias + layer.bias
        exam.fc.weight.copy_(weight)
        exam.fc.bias.copy_(bias)
        return exam.eval()


def surface_photos(folder: str | Path, tile: int = SURFACE_TILE) -> torch.Tensor:
    """SURFACE_PHOTOS from `folder` in luma (Pillow's convert("L"), as dlexam reads photos), each its centred
    square resized to tile x tile -> (P, tile, tile) in [0, 1]."""
    out = []
    for name in SURFACE_PHOTOS:
        with Image.open(Path(folder) / name) as im:
            grey = im.convert("RGB").convert("L")
        side = min(grey.size)
        left, top = (grey.width - side) // 2, (grey.height - side) // 2
        square = grey.crop((left, top, left + side, top + side)).resize((tile, tile), Image.LANCZOS)
        out.append(torch.from_numpy(np.asarray(square, dtype=np.float32) / 255.0))
    return torch.stack(out)


def default_surfaces() -> str | None:
    """The installed scikit-image's data folder, or None."""
    spec = importlib.util.find_spec("skimage")
    return str(Path(spec.origin).parent / "data") if spec and spec.origin else None


def coloured(luma: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A colour (n, 3) in [0, 1] for each luma (n, 1): the grey of that luma moved along a random direction of
    zero luma (a hue) by a uniform share of as far as the RGB cube allows (a saturation)."""
    n = luma.shape[0]
    c = torch.rand(n, 3, generator=g)
    d = c - (c @ LUMA)[:, None]  # LUMA sums to 1, so grey + t d keeps the luma
    room = torch.where(d > 0, (1 - luma) / d.clamp_min(1e-9), torch.where(d < 0, luma / (-d).clamp_min(1e-9),
                                                                           torch.full_like(d, math.inf)))
    t = torch.rand(n, 1, generator=g) * room.min(1, keepdim=True).values.clamp(max=1e3)
    return (luma + t * d).clamp(0, 1)


def contrasting_in_colour(under: torch.Tensor, n: int, g: torch.Generator, lo: float = 0.12,
                          hi: float = 0.5) -> torch.Tensor:
    """scenes._contrasting in colour: what lies under the digit gets a colour of its luma, the digit a colour of
    uniform luma, pushed (or, past the cube, flipped) to at least lo .. hi (uniform) from it in |dRGB| / sqrt 3;
    returns the digit's luma (n, 1) as official.rgb_to_gray takes it from its 8-bit colour."""
    base = coloured(under, g)
    fg = coloured(torch.rand(n, 1, generator=g), g)
    need = lo + (hi - lo) * torch.rand(n, 1, generator=g)
    diff = fg - base
    dist = diff.norm(dim=1, keepdim=True) / math.sqrt(3)
    away = torch.where(dist < 1e-6, torch.ones(n, 3) * torch.where(base.mean(1, keepdim=True) < 0.5, 1.0, -1.0),
                       diff / dist.clamp_min(1e-6))  # per unit of |dRGB| / sqrt 3
    pushed, flipped = base + away * need, base - away * need
    inside = lambda c: ((c >= 0) & (c <= 1)).all(1, keepdim=True)  # noqa: E731
    fg = torch.where(dist >= need, fg, torch.where(inside(pushed), pushed, torch.where(inside(flipped), flipped,
                                                                                       pushed.clamp(0, 1))))
    rgb = (fg * 255).round().to(torch.uint8).numpy()
    return torch.from_numpy(rgb_to_gray(rgb).astype(np.float32) / 255.0)[:, None]


@contextlib.contextmanager
def surface_lever(lever: str, surfaces: torch.Tensor | None):
    """Within: the scenes drawn as the seventh round's levers among `lever`'s parts say (render_scenes given
    `surfaces`, the digit's contrast taken in colour, or both); put back on leaving."""
    render, contrast = scenes.render_scenes, scenes._contrasting
    parts = lever_parts(lever)
    if "textures" in parts:
        scenes.render_scenes = functools.partial(render, surfaces=surfaces)  # training_set imports it at each call
    if "colour" in parts:
        scenes._contrasting = contrasting_in_colour
    try:
        yield
    finally:
        scenes.render_scenes, scenes._contrasting = render, contrast


class SideCut(torch.nn.Module):
    """`model` reading its input through inference.side_cut (the cut-input lever's checks)."""

    def __init__(self, model: torch.nn.Module, cut: int = TTA_CUT):
        super().__init__()
        self.model, self.cut = model, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(side_cut(x, self.cut))


def quantile_clipped(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Each image of x (B, 1, H, W) clamped to its own `low` and `high` quantiles (torch.quantile's linear
    interpolation), then standardised: bright or dark specks, plate edges and borders no longer set its scale.
    Invariant to a positive affine change of an image, so it may follow the loop's own standardisation."""
    flat = x.reshape(x.shape[0], -1)
    q = torch.quantile(flat, torch.tensor([low, high], dtype=x.dtype), dim=1)  # (2, B)
    return standardised(torch.maximum(torch.minimum(flat, q[1][:, None]), q[0][:, None]).reshape(x.shape))


def iqr_clipped(x: torch.Tensor, k: float) -> torch.Tensor:
    """Each image as (x - its median) / its interquartile range, clamped to [-k, k], then standardised."""
    flat = x.reshape(x.shape[0], -1)
    q = torch.quantile(flat, torch.tensor([0.25, 0.5, 0.75], dtype=x.dtype), dim=1)  # (3, B)
    robust = ((flat - q[1][:, None]) / (q[2] - q[0] + 1e-5)[:, None]).clamp(-k, k)
    return standardised(robust.reshape(x.shape))


def centre_standardised(x: torch.Tensor, cut: int = 8, k: float = 3.0) -> torch.Tensor:
    """Each image standardised by the mean and standard deviation of its central columns (all but `cut` at each
    side, where the digit is and its neighbours are not), clamped to [-k, k], then standardised."""
    middle = x[..., cut:x.shape[-1] - cut]
    y = (x - middle.mean((1, 2, 3), keepdim=True)) / (middle.std((1, 2, 3), keepdim=True) + 1e-5)
    return standardised(y.clamp(-k, k))


# the eighth round's input normalisations, each after the loop's own standardisation (`--views-of`)
VIEWS = {"plain": lambda x: x, **{name: functools.partial(quantile_clipped, low=lo, high=hi)
                                  for name, (lo, hi) in {"clip2": (0.02, 0.98), "clip5": (0.05, 0.95),
                                                         "clip10": (0.10, 0.90)}.items()},
         "iqr1.5": functools.partial(iqr_clipped, k=1.5), "iqr3": functools.partial(iqr_clipped, k=3.0),
         "centre": centre_standardised}


class Normalised(torch.nn.Module):
    """`model` reading its input through one of VIEWS (`--views-of`)."""

    def __init__(self, model: torch.nn.Module, view: str):
        super().__init__()
        self.model, self.view = model, VIEWS[view]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.view(x))


def views_of(folder: str | Path, checks: dict) -> list[dict]:
    """The shipped model and each network saved in `folder` (`--keep`) read through every one of VIEWS, without
    training: one row of check accuracies for each model and view. ValueError naming a file that is not an exam
    network's state_dict."""
    from dlexam.svhn.inference import load_model

    models = {"shipped": load_model()[0]}
    for path in sorted(Path(folder).glob("*.pt")):
        model = ExamCNN(CNNConfig())
        try:
            model.load_state_dict(torch.load(path, weights_only=True))
        except Exception as exc:  # torch.load's and load_state_dict's many kinds of refusal
            raise ValueError(f"{path.name} is not an exam network's state_dict ({type(exc).__name__})") from exc
        models[path.stem] = model.eval()
    rows = []
    for name, model in models.items():
        for view in VIEWS:
            found = check_accuracies(Normalised(model, view), sets=checks)
            rows.append({"model": name, "view": view, **{k: round(r["accuracy"], 4) if "accuracy" in r else None
                                                          for k, r in found.items()}})
    return rows


def late_order(n: int, seed: int, epoch: int, part: int, share: float = 1.0) -> torch.Tensor:
    """n indices, seeded by (seed, epoch) as loop.epoch_order is: round(n * share) of them from images 0..part-1
    (the recipe's first part), each drawn once in turn before any twice (one shuffle of them after another), the
    rest n - that many of a shuffle of all n, the two shuffled together (share 1: the first part only)."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch) + 700_001)
    k = round(n * share)
    first = torch.cat([torch.randperm(part, generator=g) for _ in range(-(-k // part))])[:k]
    if k == n:
        return first
    mixed = torch.cat([first, torch.randperm(n, generator=g)[:n - k]])
    return mixed[torch.randperm(n, generator=g)]


@contextlib.contextmanager
def late_phase(epochs: int, part: int, late: int = LATE_EPOCHS, share: float = 1.0):
    """Within: the loop's last `late` of `epochs` epochs take their n images as late_order(..., part, share)
    says (as many steps as before, at the cosine schedule's own learning rates); put back on leaving."""
    plain = loop.epoch_order  # step's, replaced where train_one_epoch looks it up: in loop

    def order(n: int, seed: int, epoch: int) -> torch.Tensor:
        return late_order(n, seed, epoch, part, share) if epoch >= epochs - late else plain(n, seed, epoch)

    loop.epoch_order = order
    try:
        yield
    finally:
        loop.epoch_order = plain


plain_backward = loop.autograd_backward  # the loop's own, which Sharpness calls twice


class Sharpness:
    """Sharpness-aware minimisation (Foret et al., ICLR 2021) as the loop's backward pass: the gradient at the
    weights w moves them to w + rho g / |g| (g over all parameters), where the same batch's gradient is taken
    again and handed to the optimizer; w is put back exactly (copied, not subtracted). `before` is the forward
    pre-hook that keeps the batch and the model for the second pass (through_autograd's `before`)."""

    def __init__(self, rho: float = SAM_RHO):
        self.rho, self.model, self.inputs, self.busy = rho, None, None, False

    def before(self, module, inputs) -> None:
        if not self.busy:
            self.model, self.inputs = module, inputs

    def backward(self, optimizer, logits: torch.Tensor, y: torch.Tensor, scale: float):
        loss_value, right = plain_backward(optimizer, logits, y, scale)  # .grad at w
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        with torch.no_grad():
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
            kept = [p.detach().clone() for p in params]
            for p in params:
                p.add_(p.grad, alpha=self.rho / (float(norm) + 1e-12))
        self.busy = True
        try:
            plain_backward(optimizer, self.model(*self.inputs), y, scale)  # .grad at w + e
        finally:
            self.busy = False
            with torch.no_grad():
                for p, w in zip(params, kept, strict=True):
                    p.copy_(w)
        return loss_value, right


@contextlib.contextmanager
def sharpness_aware(model: ExamCNN, rho: float = SAM_RHO):
    """Within: the model's steps go through autograd with SAM's backward pass (Sharpness); put back on leaving."""
    sam = Sharpness(rho)
    with through_autograd(model, step.cross_entropy_sum, before=sam.before):
        loop.autograd_backward = sam.backward
        try:
            yield sam
        finally:
            loop.autograd_backward = plain_backward


class WithLever:
    """The recipe's augmentation with a lever (or each part of a combination, lever_parts): xzoom, randconv and
    gamma before it (in that order), erase and mixup after. Mixup leaves its partners and weights in `pending` for
    the loss of the same step."""

    def __init__(self, base, lever: str):
        self.base, self.parts, self.pending = base, lever_parts(lever), {}

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        for part, change in {"xzoom": xzoom, "randconv": randconv, "gamma": gamma}.items():
            if part in self.parts:
                x = change(x, g)
        if "cut-input" in self.parts:
            x = side_cut(x, TTA_CUT)
        x = self.base(x, g)
        if "erase" in self.parts:
            x = erase(x, g)
        if "mixup" in self.parts:
            partner = torch.randperm(x.shape[0], generator=g)
            weight = torch.distributions.Beta(MIXUP_ALPHA, MIXUP_ALPHA).sample((x.shape[0],))  # torch's seeded stream
            weight = torch.maximum(weight, 1 - weight)
            self.pending.update(partner=partner, weight=weight)
            w = weight[:, None, None, None]
            x = w * x + (1 - w) * x[partner]
        return x

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The summed cross-entropy of a step, smoothed or mixed as the lever says."""
        smoothing = SMOOTHING if "smooth" in self.parts else 0.0
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
    plain, step.cross_entropy_sum = step.cross_entropy_sum, loss  # autograd_backward's, in step
    try:
        yield
    finally:
        step.cross_entropy_sum = plain
        hook.remove()


def lever_parts(lever: str) -> tuple[str, ...]:
    """The levers that `lever` joins with "+" ("condensed+late-half" -> ("condensed", "late-half")); a lever alone
    is its own one part. argparse.ArgumentTypeError (so usable as `--levers`' type) naming an unknown part, a part
    given twice, or two parts that change the same thing (COMBINATION_CLASHES)."""
    parts = tuple(lever.split("+"))
    unknown = [p for p in parts if p not in LEVERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"{lever}: unknown lever {unknown[0]!r} (the levers: {', '.join(LEVERS)})")
    if len(set(parts)) < len(parts):
        raise argparse.ArgumentTypeError(f"{lever}: a lever given twice")
    if len(parts) > 1 and "baseline" in parts:
        raise argparse.ArgumentTypeError(f"{lever}: baseline is no change, combined with nothing")
    for group in COMBINATION_CLASHES:
        both = [p for p in parts if p in group]
        if len(both) > 1:
            raise argparse.ArgumentTypeError(f"{lever}: {both[0]} and {both[1]} change the same thing")
    return parts


def lever_name(text: str) -> str:
    """`--levers`' type: a lever or levers joined by "+", checked by lever_parts."""
    lever_parts(text)
    return text


def lever_recipe(lever: str, recipe_name: str):
    """The recipe a lever trains on: the named one, its framed first part changed for a framing lever and every
    scene part given textures for `textures` (each part of a combination in turn)."""
    recipe = RECIPES[recipe_name]
    for part in lever_parts(lever):
        if part == "textures":
            recipe = dataclasses.replace(recipe, parts=tuple(
                Part(p.share, dataclasses.replace(p.scenes, textures=TEXTURE_SHARE)) if p.scenes is not None else p
                for p in recipe.parts))
        elif part in FRAMINGS:
            framed, *rest = recipe.parts
            recipe = dataclasses.replace(
                recipe, parts=(Part(framed.share, dataclasses.replace(framed.scenes, **FRAMINGS[part])), *rest))
        elif part == "split":
            framed, *rest = recipe.parts
            recipe = dataclasses.replace(recipe, parts=(
                Part(framed.share / 2, framed.scenes),
                Part(framed.share / 2, dataclasses.replace(framed.scenes, **FRAMINGS[SPLIT_FRAMING])), *rest))
    return recipe


def framed_images(recipe, parts: tuple[str, ...]) -> int:
    """How many of the recipe's images (the first ones) are framed scenes, the images that a late phase draws
    from: its first part's, or with `split` its first two parts' (both halves of the framed part)."""
    return sum(recipe.counts()[:2 if "split" in parts else 1])


def run(lever: str, recipe_name: str, seed: int, surfaces: torch.Tensor | None = None,
        checks: dict | None = None, keep: str | Path | None = None) -> dict:
    """One lever trained and judged on the check sets (`checks`: load_checks(), loaded once for every run;
    None: loaded here). `keep`: a folder to save the trained exam network's state_dict in, as
    <lever>-s<seed>.pt (for checks that need no training, such as the eighth round's input normalisations).
    A combination (`lever_parts`) applies each of its parts."""
    parts = lever_parts(lever)
    recipe = lever_recipe(lever, recipe_name)
    t, cpu = time.perf_counter(), time.process_time()
    with contextlib.ExitStack() as drawing:
        if "antialias" in parts:
            drawing.enter_context(antialiased_scenes())
        drawing.enter_context(surface_lever(lever, surfaces))
        x, y = training_set(recipe, seed)
    settings = dict(epochs=recipe.epochs, batch_size=recipe.batch_size, lr=recipe.lr,
                    weight_decay=recipe.weight_decay, seed=seed, threads=1)
    for part in parts:
        settings.update(TRAIN_CHANGES.get(part, {}))
    torch.manual_seed(seed)
    augment = WithLever(Augment(recipe.augment) if recipe.augment is not None else lambda x, g: x, lever)
    larger = [p for p in parts if p in REPARAM_LEVERS]
    model = Reparameterised(*REPARAM_LEVERS[larger[0]]) if larger else ExamCNN(CNNConfig())
    with contextlib.ExitStack() as training:
        if any(p in LOSS_LEVERS for p in parts):
            training.enter_context(through_autograd(model, augment.loss))
        if "sam" in parts:
            training.enter_context(sharpness_aware(model))
        for part in parts:
            if part in LATE_LEVERS:
                training.enter_context(late_phase(recipe.epochs, framed_images(recipe, parts), share=LATE_LEVERS[part]))
        model = fit(model, x, y, cfg=TrainConfig(**settings), augment=augment)["model"]
    if larger:
        model = model.eval().fold()
    model = model.to(memory_format=torch.contiguous_format).eval()
    if keep is not None:
        Path(keep).mkdir(parents=True, exist_ok=True)
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, Path(keep) / f"{lever}-s{seed}.pt")
    row = {"lever": lever, "seed": seed}
    for name, r in check_accuracies(SideCut(model) if "cut-input" in parts else model, sets=checks).items():
        row[name] = round(r["accuracy"], 4) if "accuracy" in r else None
    row["seconds"] = round(time.perf_counter() - t, 1)
    row["cpu_seconds"] = round(time.process_time() - cpu, 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--levers", nargs="+", default=list(LEVERS), type=lever_name, metavar="LEVER[+LEVER...]",
                    help=f"levers, each alone or several joined by '+': {', '.join(LEVERS)}")
    ap.add_argument("--seeds", type=whole_number(bounds.SEED), nargs="+", default=[0, 1, 2])
    ap.add_argument("--recipe", default="shipped", choices=("shipped", "quick"))
    ap.add_argument("--extra-fonts", metavar="DIR", help="more typefaces for the scenes: DIR/*.ttf and *.otf")
    ap.add_argument("--surfaces", metavar="DIR", default=default_surfaces(),
                    help="the textures lever's photos (SURFACE_PHOTOS): by default the installed skimage/data")
    ap.add_argument("--keep", metavar="DIR", help="save each trained network's state_dict in DIR")
    ap.add_argument("--views-of", metavar="DIR", help="train nothing: read the shipped model and the networks "
                    "saved in DIR (--keep) through each input normalisation of VIEWS, one JSON line each")
    args = ap.parse_args()
    if args.views_of:
        if not Path(args.views_of).is_dir():
            ap.error(f"--views-of: {args.views_of} is not a folder")
        torch.set_num_threads(1)
        try:
            rows = views_of(args.views_of, load_checks())
        except ValueError as exc:
            ap.error(f"--views-of: {exc}")
        for row in rows:  # one line each on stderr, as the training runs' rows; stdout's last line is the result
            print(json.dumps(row), file=sys.stderr, flush=True)
        print(json.dumps({"benchmark": "svhn_levers", "views_of": str(args.views_of), "rows": rows}))
        return
    surfaces = None
    if any("textures" in lever_parts(lever) for lever in args.levers):
        missing = [n for n in SURFACE_PHOTOS if not args.surfaces or not (Path(args.surfaces) / n).is_file()]
        if missing:
            ap.error(f"--surfaces: {args.surfaces or 'no folder (scikit-image is not installed)'} lacks "
                     f"{', '.join(missing)}")
        surfaces = surface_photos(args.surfaces)
    torch.set_num_threads(1)
    if args.extra_fonts:
        extra = sorted(str(p) for p in Path(args.extra_fonts).glob("*") if p.suffix.lower() in (".ttf", ".otf"))
        if not extra:
            ap.error(f"--extra-fonts: no .ttf or .otf files in {args.extra_fonts}")
        shipped_fonts = fonts.package_fonts()
        fonts.package_fonts = lambda: shipped_fonts + tuple(extra)  # read by scene_fonts at each render
    out = {"benchmark": "svhn_levers", "recipe": args.recipe, "threads": 1, "cpu_count": os.cpu_count(),
           "extra_fonts": len(extra) if args.extra_fonts else 0, "surfaces": args.surfaces if surfaces is not None
           else None, "load_average_start": os.getloadavg()[0],
           "baseline": "baseline" if "baseline" in args.levers else None}
    rows = {lever: [] for lever in args.levers}
    checks = load_checks()
    for lever in args.levers:
        for seed in args.seeds:
            rows[lever].append(run(lever, args.recipe, seed, surfaces, checks, args.keep))
            print(json.dumps(rows[lever][-1]), file=sys.stderr, flush=True)
    out["levers"] = compare_groups(rows, baseline="baseline")
    out["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
