"""Problem 1.1: max against average pooling in the exam's CNN; accuracy and robustness to small shifts.

The exam's CNN (:class:`dlexam.svhn.model.ExamCNN`, ``CNNConfig(pool="avg" | "max")``, otherwise
identical: same seeds, data, optimiser) is trained on SVHN-like synthetic digits
(:mod:`dlexam.experiments.svhn_like`). Each test image is then shifted by d = 1, 2, 3 pixels in each
of the 4 directions (up, down, left, right), with the border row/column replicated so that no
artificial edge appears, and we measure (averaged over the 4 directions and over seeds):

* accuracy on the shifted images, and
* consistency: the fraction of test images whose predicted class does not change under the shift.

A third network is the reference without pooling: the same CNN whose pooling layers are replaced by
plain subsampling with the same stride (keep every 4th, then every 2nd pixel: the same shapes and
parameters, no pooling). If pooling is what makes the network robust to shifts, the pooled networks
must beat it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlexam.experiments.results import finish, quick_note, seed_everything
from dlexam.experiments.svhn_like import load_svhn_like, preprocess
from dlexam.experiments.training import batches, train_steps
from dlexam.figures import figure_legend, new_figure, reference_style, save_into, series_style
from dlexam.files import OutputDir
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.words import mean_of

NAME = "pooling"
FIGURES = (  # the figures run() writes into its output folder
    "pooling_shift_robustness.png",
    "pooling_shift_examples.png",
)
CLAIM_SOURCE = "Problem 1.1 (worked solution)"
CLAIM = (
    "Pooling layers provide invariance to the neural network, making the model more robust to small "
    "variations in the input, and increasing the receptive field of neurons in the deeper layers of the "
    "network. Max pooling layers select the maximum value for each patch of the feature map, while average "
    "pooling layers calculate the average of all values within the patch. While max pooling layers select "
    "the most prominent feature for each patch of the feature map, average pooling layers smoothen out all "
    "the feature values within the patch."
)
POOLS = ("max", "avg", "none")  # "none": strided subsampling instead of pooling
LABELS = {"max": "max pooling", "avg": "average pooling", "none": "no pooling (subsampling)"}
SHIFTS = (0, 1, 2, 3)
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))  # (dy, dx): down, up, right, left


@dataclass
class PoolingConfig:
    n_train: int = 16384
    n_test: int = 2000
    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-3  # Adam
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 0

    @classmethod
    def quick(cls) -> PoolingConfig:
        return cls(n_train=2048, n_test=500, epochs=2, seeds=(0,))


def shift_images(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift (N, H, W) images by (dy, dx) pixels (positive = down/right), replicating the border."""
    n, h, w = images.shape
    p = max(abs(dy), abs(dx))
    if p == 0:
        return images.clone()
    padded = F.pad(images.float().unsqueeze(1), (p, p, p, p), mode="replicate")[:, 0]  # (N, H+2p, W+2p)
    return padded[:, p - dy : p - dy + h, p - dx : p - dx + w].to(images.dtype)


class Subsample(torch.nn.Module):
    """Keep every `stride`-th row and column (a number, or (rows, columns)): the downsampling of a pooling
    layer without the pooling."""

    def __init__(self, stride: int | tuple[int, int]) -> None:
        super().__init__()
        self.stride = (stride, stride) if isinstance(stride, int) else tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sh, sw = self.stride
        return x[:, :, ::sh, ::sw]  # (B, C, H / stride, W / stride)


def make_cnn(pool: str) -> ExamCNN:
    """The exam's CNN with max or average pooling, or with subsampling in place of every pooling layer."""
    model = ExamCNN(CNNConfig(pool="avg" if pool == "none" else pool))
    if pool == "none":  # each pool's stride, from the layer table (Version A: 28 -> 7 and 6 -> 3)
        for name, layer in zip(model.pool_names, model.cfg.cnn.pools, strict=True):
            setattr(model, name, Subsample(layer.stride))
    return model


def train_cnn(cfg: PoolingConfig, pool: str, seed: int, x: torch.Tensor, y: torch.Tensor) -> ExamCNN:
    seed_everything(seed)
    model = make_cnn(pool)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    it = batches(len(x), cfg.batch_size, torch.Generator().manual_seed(seed + 1))
    train_steps(model, opt, x, y, it, cfg.epochs * -(-len(x) // cfg.batch_size))
    return model.eval()


@torch.no_grad()
def predict(model: ExamCNN, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(preprocess(images[i : i + 2048])).argmax(-1) for i in range(0, len(images), 2048)])


def shift_robustness(model: ExamCNN, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """{d: {"accuracy", "consistency"}} averaged over the 4 directions (d = 0: the unshifted test set)."""
    base = predict(model, images)
    out = {}
    for d in SHIFTS:
        accs, cons = [], []
        for dy, dx in DIRECTIONS if d else ((0, 0),):
            pred = predict(model, shift_images(images, d * dy, d * dx))
            accs.append((pred == labels).float().mean().item())
            cons.append((pred == base).float().mean().item())
        out[d] = {"accuracy": float(np.mean(accs)), "consistency": float(np.mean(cons))}
    return out


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = PoolingConfig.quick() if quick else PoolingConfig()
    start = time.perf_counter()
    data, data_note = load_svhn_like(cfg.n_train, cfg.n_test, cfg.data_seed)
    x, y = preprocess(data["x_train"]), data["y_train"]
    per_seed = {pool: [] for pool in POOLS}
    for seed in cfg.seeds:
        for pool in POOLS:
            model = train_cnn(cfg, pool, seed, x, y)
            per_seed[pool].append(shift_robustness(model, data["x_test"], data["y_test"]))

    def stat(pool, d, key):
        vals = [r[d][key] for r in per_seed[pool]]
        return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0

    def worst(pool, d, key):
        return min(r[d][key] for r in per_seed[pool])

    table = [{"pooling": pool, "shift px": d,  # the worst seed before the mean; percent, as the finding
              "acc % worst": 100 * worst(pool, d, "accuracy"), "acc %": 100 * stat(pool, d, "accuracy")[0],
              "same pred % worst": 100 * worst(pool, d, "consistency"),
              "same pred %": 100 * stat(pool, d, "consistency")[0]}
             for pool in POOLS for d in SHIFTS]
    summary = {
        pool: {str(d): {k: stat(pool, d, k) for k in ("accuracy", "consistency")} for d in SHIFTS} for pool in POOLS
    }
    verdict, measured, judged = _verdict(cfg, summary)
    finding = measured + " " + judged
    figures = _figures(out_dir, cfg, summary, data)
    if quick:  # too little training to say anything about robustness: say so, and judge nothing
        full = PoolingConfig()
        accuracy = min(summary[p]["0"]["accuracy"][0] for p in POOLS)
        finding = quick_note(
            f"{len(cfg.seeds)} seed instead of {len(full.seeds)}, {cfg.epochs} epochs on {cfg.n_train:,} images "
            f"instead of {full.epochs} on {full.n_train:,}",
            f"the networks reach only {accuracy:.0%} unshifted accuracy and one seed measures no spread, so the "
            f"robustness comparisons below are not evidence for or against the claim (the full run's rules would "
            f"read these numbers as '{verdict}').",
        ) + measured  # the numbers only: the full run's judgement of them would overclaim here
        verdict = "inconclusive"
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(cfg, summary),
        numbers={"summary": summary, "per_seed": per_seed},
        data=data_note,
    )


def _verdict(cfg: PoolingConfig, s: dict) -> tuple[str, str, str]:
    """(verdict, what was measured, what the full run's rules conclude from it)."""
    def m(pool, d, k):
        return s[pool][str(d)][k][0]

    def sd(pool, d, k):
        return s[pool][str(d)][k][1]

    drop = {p: m(p, 0, "accuracy") - m(p, 3, "accuracy") for p in POOLS}
    cons1 = {p: m(p, 1, "consistency") for p in POOLS}
    cons3 = {p: m(p, 3, "consistency") for p in POOLS}
    n = len(cfg.seeds)
    # "More robust" needs a consistency difference larger than the seeds' spread (or 2 points with one seed).
    margin = max(0.02, *(2 * sd(p, 3, "consistency") for p in POOLS))
    if cons3["max"] > cons3["avg"] + margin:
        who = "max pooling is the more shift-robust of the two here"
    elif cons3["avg"] > cons3["max"] + margin:
        who = "average pooling is the more shift-robust of the two here, not max pooling"
    else:
        who = "neither max nor average pooling is clearly more shift-robust than the other here"
    pooling_helps = all(cons3[p] > cons3["none"] + margin for p in ("max", "avg"))
    measured = (
        f"Unshifted test accuracy ({mean_of(n, 'seed')}): max pooling {m('max', 0, 'accuracy'):.1%}, average "
        f"pooling {m('avg', 0, 'accuracy'):.1%}, no pooling (subsampling) {m('none', 0, 'accuracy'):.1%}. "
        f"A 1-pixel shift leaves {cons1['max']:.1%} (max), {cons1['avg']:.1%} (avg) and {cons1['none']:.1%} "
        f"(none) of the predictions unchanged; a 3-pixel shift {cons3['max']:.1%}, {cons3['avg']:.1%} and "
        f"{cons3['none']:.1%}, with accuracy falling by {100 * drop['max']:.1f}, {100 * drop['avg']:.1f} and "
        f"{100 * drop['none']:.1f} points."
    )
    judged = (
        (
            "Pooling does make the network more robust to shifts than the same downsampling without pooling, "
            "but the invariance is partial, not full: predictions change under shifts of a few pixels, more "
            "so the larger the shift. "
            if pooling_helps
            else "The network without pooling is about as robust (or more): the robustness here does not come "
            "from pooling. "
        )
        + f"{who[0].upper() + who[1:]}. The exam's description of what the two operations compute is correct. "
        "The receptive-field part of the claim is not tested here."
    )
    verdict = "partly supported" if pooling_helps else "not supported"
    return verdict, measured, judged


def _captions(cfg: PoolingConfig, s: dict) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the summary."""
    last = str(SHIFTS[-1])

    def at_last(key: str) -> str:
        return ", ".join(f"{LABELS[p]} {s[p][last][key][0]:.1%}" for p in POOLS)

    n = len(cfg.seeds)  # one seed: no spread, and the figure draws no error bars (its title says so)
    spread = (f"with error bars of one standard deviation over the {n} seeds" if n > 1
              else "from one seed, so without error bars")
    return {
        "pooling_shift_robustness.png": {
            "alt": f"Two line charts against the shift in pixels ({SHIFTS[0]} to {SHIFTS[-1]}, mean over 4 "
                   f"directions), one line per network ({', '.join(LABELS[p] for p in POOLS)}), {spread}, on "
                   "axes from 0 to 100%: accuracy on the shifted test images, and the share of predictions the "
                   "shift leaves unchanged.",
            "caption": f"After a {last}-pixel shift ({mean_of(len(cfg.seeds), 'seed')}): "
                       f"accuracy {at_last('accuracy')}; "
                       f"predictions unchanged {at_last('consistency')}.",
        },
        "pooling_shift_examples.png": {
            "alt": f"One test digit, and the same image shifted right by "
                   f"{', '.join(str(d) for d in SHIFTS[1:-1])} and {SHIFTS[-1]} pixels with its border column "
                   "replicated.",
            "caption": "One test image shifted right as the robustness test shifts every test image (also left, up "
                       "and down); the border is replicated, so no artificial edge appears.",
        },
    }


def _figures(out_dir: OutputDir, cfg: PoolingConfig, s: dict, data: dict) -> list[str]:
    # a colour and a marker each (the three had shared the marker o, in purple and olive, where their curves meet);
    # no pooling, the control, in grey
    styles = {"max": series_style(0), "avg": series_style(1), "none": reference_style(2)}
    fig, ax = new_figure(2, 1)
    for j, (key, title) in enumerate(
        (("accuracy", "Accuracy on shifted test images"), ("consistency", "Predictions unchanged by the shift"))
    ):
        a = ax[0, j]
        for pool in POOLS:
            mean = [100 * s[pool][str(d)][key][0] for d in SHIFTS]  # percent, as the table and the finding
            err = [100 * s[pool][str(d)][key][1] for d in SHIFTS] if len(cfg.seeds) > 1 else None  # 1 seed: none
            a.errorbar(SHIFTS, mean, yerr=err, fmt="-", capsize=3, **styles[pool], label=LABELS[pool])
        a.set(title=title, xlabel="shift (pixels, mean over 4 directions)", ylabel="% of test images",
              xticks=SHIFTS, ylim=(0, 102))
    # one legend under both panels: each had shown the same three networks
    figure_legend(fig, *ax[0, 0].get_legend_handles_labels(), ncols=len(POOLS))
    n = len(cfg.seeds)
    bars = f"mean of {n} seeds, bars ±1 s.d." if n > 1 else "1 seed, no spread measured"
    fig.suptitle(f"Exam CNN: max vs average vs no pooling ({bars}; SVHN-like test fonts)")
    out = [save_into(out_dir, "pooling_shift_robustness.png", fig, narrow=True)]

    fig, ax = new_figure(4, 1, width=2.4, height=2.6)
    img = data["x_test"][0]
    for j, d in enumerate(SHIFTS):
        ax[0, j].imshow(shift_images(img[None], 0, d)[0].numpy(), cmap="gray", vmin=0, vmax=255)
        ax[0, j].set(title=f"shifted right {d} px", xticks=[], yticks=[])
    fig.suptitle("A test image and its shifts (border replicated)")
    out.append(save_into(out_dir, "pooling_shift_examples.png", fig, narrow=True))
    return out
