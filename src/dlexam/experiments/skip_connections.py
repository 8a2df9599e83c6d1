"""Part 2, question 3: skip connections help gradients flow; do they also guard against overfitting?

The same deep ReLU MLP (:mod:`dlexam.experiments.deep_mlp`) with and without residual connections
(h <- h + relu(h W + b) instead of h <- relu(h W + b)), same PyTorch default initialisation, same
data, seed and optimiser. Measured: per-block gradient norms at initialisation and at the end,
training and validation curves. To test the regularisation claim fairly we add a third network,
the plain one with He initialisation, which does train at this depth; the claim is then judged by
the train/validation gap of the networks that fit the training data, on a deliberately small
training set so that overfitting can show.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from dlexam.experiments.activations import per_block_factor
from dlexam.experiments.deep_mlp import BLOCK_AXIS, GRAD_NORM_AXIS, DeepMLP, DeepMLPConfig
from dlexam.experiments.digits import load_digits
from dlexam.experiments.results import finish, quick_note, seed_everything
from dlexam.experiments.training import batches, evaluate, grad_norms, train_steps
from dlexam.figures import figure_legend, new_figure, reference_style, save_into, series_style, staggered
from dlexam.files import OutputDir
from dlexam.words import counted, mean_of

NAME = "skip-connections"
FIGURES = (  # the figures run() writes into its output folder
    "skip_connections_curves.png",
    "skip_connections_grad_norms.png",
)
CLAIM_SOURCE = "Part 2, question 3 (worked solution)"
CLAIM = (
    "Skip connections are shortcuts in neural networks that allow data to flow past some layers. This "
    "helps gradients flow better in backpropagation and allows the network to reuse features learned in "
    "earlier layers. They also act as a safeguard against overfitting since they can be seen as a form of "
    "regularization that encourages the network to learn simpler features."
)
# (label, residual, init)
MODELS = (("plain", False, "default"), ("residual", True, "default"), ("plain, He init", False, "matched"))


@dataclass
class SkipConfig:
    depth: int = 30  # hidden blocks
    width: int = 128
    n_train: int = 1000  # small on purpose: room to overfit
    n_val: int = 2000
    epochs: int = 60
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    clip: float = 1.0  # gradient-norm clipping for every model (the residual net diverges without it)
    probe_size: int = 512
    seeds: tuple[int, ...] = (0, 1, 2)  # every model is trained once per seed; the table shows means

    @classmethod
    def quick(cls) -> SkipConfig:
        return cls(depth=16, width=64, n_train=500, n_val=500, epochs=25, probe_size=256, seeds=(0,))


def train_model(cfg: SkipConfig, residual: bool, init: str, data: dict, seed: int) -> dict:
    seed_everything(seed)
    model = DeepMLP(
        DeepMLPConfig(
            in_features=data["x_train"][0].numel(),
            width=cfg.width,
            depth=cfg.depth,
            activation="relu",
            residual=residual,
            init=init,
        )
    )
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    px, py = data["x_train"][: cfg.probe_size], data["y_train"][: cfg.probe_size]
    grads_init = grad_norms(model, model.layer_weights(), px, py)
    n = len(data["x_train"])
    steps_per_epoch = -(-n // cfg.batch_size)
    it = batches(n, cfg.batch_size, torch.Generator().manual_seed(seed + 1))
    curves = {"train_loss": [], "train_accuracy": [], "val_loss": [], "val_accuracy": []}
    diverged = False
    for _epoch in range(cfg.epochs):
        train_steps(model, opt, data["x_train"], data["y_train"], it, steps_per_epoch, clip=cfg.clip)
        tr = evaluate(model, data["x_train"], data["y_train"])
        va = evaluate(model, data["x_val"], data["y_val"])
        for split, m in (("train", tr), ("val", va)):
            curves[f"{split}_loss"].append(m["loss"])
            curves[f"{split}_accuracy"].append(m["accuracy"])
        if not np.isfinite(tr["loss"]):
            diverged = True
            break
    grads_end = grad_norms(model, model.layer_weights(), px, py)
    return {"grads_init": grads_init, "grads_end": grads_end, "curves": curves, "diverged": diverged}


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = SkipConfig.quick() if quick else SkipConfig()
    start = time.perf_counter()
    data, data_note = load_digits(cfg.n_train, cfg.n_val)
    mean, std = data["x_train"].mean(), data["x_train"].std()
    data = {k: ((v - mean) / std if k.startswith("x") else v) for k, v in data.items()}
    runs = {label: [train_model(cfg, res, init, data, seed) for seed in cfg.seeds] for label, res, init in MODELS}

    table, means, numbers = [], {}, {"models": {}}
    for label, _res, _init in MODELS:
        per_seed = [summarise(r) for r in runs[label]]
        row = {"model": label}
        for key in per_seed[0]:
            vals = [p[key] for p in per_seed]
            row[key] = None if None in vals else float(np.mean(vals))
        means[label] = row
        table.append(shown(row, per_seed))
        numbers["models"][label] = {"mean": row, "per_seed": per_seed, "runs": runs[label]}
    verdict, finding = _verdict(cfg, means, numbers["models"])
    figures = _figures(out_dir, cfg, {label: r[0] for label, r in runs.items()})
    if quick:
        full = SkipConfig()
        finding = quick_note(
            f"{len(cfg.seeds)} seed instead of {len(full.seeds)}, {cfg.depth} blocks instead of {full.depth}, "
            f"{cfg.epochs} epochs instead of {full.epochs}",
            "the gradient flow at initialisation is measured as in the full run, but the comparison of "
            "generalisation below comes from one seed, which cannot show whether it exceeds what another seed "
            "would change; it ranks nothing.",
        ) + finding
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(cfg, {label: m["per_seed"][0] for label, m in numbers["models"].items()}),
        numbers=numbers,
        data=data_note,
    )


FIT = 0.9  # a network "fits" the training set when its final training accuracy reaches this
AT_FIT = f"val acc @train {FIT:.0%}"


def summarise(r: dict) -> dict:
    """One trained model's row: gradient flow at init, final and best accuracies, the train/val gap."""
    c = r["curves"]
    return {
        "grad factor/block@init": per_block_factor(r["grads_init"]),
        "first/last grad@init": r["grads_init"][0] / max(r["grads_init"][-1], 1e-300),
        "train acc": c["train_accuracy"][-1],
        "val acc": c["val_accuracy"][-1],
        "best val acc": max(c["val_accuracy"]),
        "gap (train-val acc)": c["train_accuracy"][-1] - c["val_accuracy"][-1],
        "train loss": c["train_loss"][-1],
        "val loss": c["val_loss"][-1],
        # validation accuracy at the first epoch whose training accuracy reached FIT (None: never)
        AT_FIT: next((v for t, v in zip(c["train_accuracy"], c["val_accuracy"], strict=True) if t >= FIT), None),
    }


def shown(mean: dict, per_seed: list[dict]) -> dict:
    """A model's row as the table prints it: accuracies in percent and the gap in points, as the finding gives
    them, and the worst seed's validation accuracy before the mean (`mean`: :func:`summarise`'s keys, averaged)."""
    def pct(v):
        return None if v is None else 100 * v

    return {"model": mean["model"],
            "grad factor/block@init": mean["grad factor/block@init"],
            "first/last grad@init": mean["first/last grad@init"],
            "train acc %": pct(mean["train acc"]),
            "val acc % worst": pct(min(p["val acc"] for p in per_seed)),
            "val acc %": pct(mean["val acc"]),
            "best val acc %": pct(mean["best val acc"]),
            "gap (train-val), points": pct(mean["gap (train-val acc)"]),
            "train loss": mean["train loss"],
            "val loss": mean["val loss"],
            f"val acc % @train {FIT:.0%}": pct(mean[AT_FIT])}


def _verdict(cfg: SkipConfig, row: dict, models: dict) -> tuple[str, str]:
    plain, res, he = row["plain"], row["residual"], row["plain, He init"]
    flow = res["grad factor/block@init"] > plain["grad factor/block@init"] and res["train acc"] > plain["train acc"]
    text = [
        f"Gradient flow: at initialisation the plain {cfg.depth}-block ReLU net's gradient shrinks by "
        f"x{plain['grad factor/block@init']:.2f} per block towards the input (first/last block "
        f"{plain['first/last grad@init']:.1e}), the residual net's by x{res['grad factor/block@init']:.2f} "
        f"(first/last {res['first/last grad@init']:.1e}). After {cfg.epochs} epochs the plain net reaches "
        f"{plain['train acc']:.0%} training accuracy, the residual one {res['train acc']:.0%}: "
        + (
            "at the same (PyTorch default) initialisation, skip connections clearly help gradients flow and "
            "training progress, as the exam says."
            if flow
            else "the residual net did not train better here."
        )
    ]
    if flow and he["train acc"] >= FIT:  # the third net: what a matched initialisation does without skips
        text.append(
            f"But the plain net with He init and no skip connection passes gradients too "
            f"(x{he['grad factor/block@init']:.2f} per block) and trains to {he['train acc']:.0%}: at this depth "
            "initialisation alone does much of what the skip connections do."
        )
    fitted = [r for r in (res, he) if r["train acc"] >= FIT]
    if len(fitted) == 2:
        key = AT_FIT
        n = len(cfg.seeds)
        pairs = zip(models["residual"]["per_seed"], models["plain, He init"]["per_seed"], strict=True)
        wins = sum(1 for r, h in pairs if r[key] is not None and h[key] is not None and r[key] > h[key])
        both_fit = res[key] is not None and he[key] is not None
        less_gap = res["gap (train-val acc)"] < he["gap (train-val acc)"] - 0.01 and (
            not both_fit or res[key] > he[key]
        )
        more_gap = res["gap (train-val acc)"] > he["gap (train-val acc)"] + 0.01
        text.append(
            f"Overfitting, on {cfg.n_train:,} training images: the residual net ends with train/val accuracy "
            f"{res['train acc']:.0%}/{res['val acc']:.0%} (a gap of {100 * res['gap (train-val acc)']:.1f} "
            f"points), the plain net with He init, which also fits, {he['train acc']:.0%}/{he['val acc']:.0%} (a "
            f"gap of {100 * he['gap (train-val acc)']:.1f} points); {mean_of(n, 'seed', 'means over')}. "
            + (
                f"Compared at equal fit, when training accuracy first reached {FIT:.0%}, validation accuracy "
                f"was {res[key]:.0%} (residual) against {he[key]:.0%} (plain, He); the residual net was ahead "
                f"in {wins} of {counted(n, 'seed')}. "
                if both_fit
                else ""
            )
            + (
                "The residual net has the smaller gap in this one seed; one seed cannot tell that from what "
                "another seed would change."
                if less_gap and n == 1
                else "The residual net generalises somewhat better here, consistent with (though no proof of) the "
                "regularisation claim (the two nets also differ in initialisation, and this does not show the "
                "exam's mechanism, 'simpler features')."
                if less_gap and (not both_fit or wins == n)
                else f"The residual net's mean gap is smaller, but it was ahead in only {wins} of {n} seeds: not a "
                "lead the seeds bear out."
                if less_gap
                else "The residual net overfits at least as much: no sign that skip connections act as a "
                "regulariser; they make a deep net easier to fit, which is the opposite of a safeguard "
                "against overfitting."
                if more_gap
                else "The gaps are about equal: skip connections neither help nor hurt generalisation here."
            )
        )
        # Never "supported": the claim also says skip connections let a net reuse earlier features and that
        # they regularise by encouraging simpler features; neither is measured, and the generalisation comparison
        # is between nets that also differ in initialisation. Gradient flow alone supports part of the claim.
        verdict = "partly supported" if flow else "not supported"
    else:
        text.append("Not every network fitted the training set, so the regularisation claim is not judged.")
        verdict = "partly supported" if flow else "inconclusive"
    text.append("Not measured: feature reuse and 'simpler features', so the verdict is at most 'partly supported'.")
    return verdict, " ".join(text)


def _captions(cfg: SkipConfig, first: dict[str, dict]) -> dict[str, dict[str, str]]:
    """Each figure's alt text and caption, from the rows of the seed the figures draw (`first`: label -> row)."""
    nets = ", ".join(first)

    def each(fmt) -> str:
        return "; ".join(f"{label} {fmt(r)}" for label, r in first.items())

    return {
        "skip_connections_curves.png": {
            "alt": f"Two line charts against the epoch (1 to {cfg.epochs}) for three {cfg.depth}-block nets ({nets}): "
                   "training (solid) and validation (dashed) loss on a log scale, and training and validation "
                   "accuracy.",
            "caption": f"Final train/validation accuracy (seed {cfg.seeds[0]}): "
                       + each(lambda r: f"{r['train acc']:.0%}/{r['val acc']:.0%}") + ".",
        },
        "skip_connections_grad_norms.png": {
            "alt": f"Two line charts of each hidden block's gradient norm (log scale) against the block, 1 to "
                   f"{cfg.depth}, for the three nets ({nets}): at initialisation and after training.",
            "caption": f"At initialisation (seed {cfg.seeds[0]}) the gradient shrinks towards the input by a factor "
                       "per block of " + each(lambda r: f"{r['grad factor/block@init']:.2f}") + ".",
        },
    }


def _figures(out_dir: OutputDir, cfg: SkipConfig, runs: dict) -> list[str]:
    # a colour and a marker per net (the control, He init, in grey); train solid, validation dashed
    styles = {"plain": series_style(1), "residual": series_style(0),
              "plain, He init": reference_style(2)}
    fig, ax = new_figure(2, 1)
    epochs = None
    for i, (label, r) in enumerate(runs.items()):
        c = r["curves"]
        epochs = np.arange(1, len(c["train_loss"]) + 1)
        every = staggered(i, len(runs), len(epochs), marks=10)
        ax[0, 0].plot(epochs, c["train_loss"], "-", **styles[label], ms=4, markevery=every, label=f"{label}: train")
        ax[0, 0].plot(epochs, c["val_loss"], "--", **styles[label], ms=4, markevery=every, fillstyle="none",
                      label=f"{label}: validation")
        for key, style, what in (("train_accuracy", "-", "train"), ("val_accuracy", "--", "validation")):
            ax[0, 1].plot(epochs, 100 * np.asarray(c[key]), style, **styles[label], ms=4, markevery=every,
                          fillstyle="full" if what == "train" else "none", label=f"{label}: {what}")
    ax[0, 0].set(title="Loss", xlabel="epoch", ylabel="cross-entropy, nats per image (log)", yscale="log")
    ax[0, 1].set(title="Accuracy", xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 102))
    # one legend under both panels (each panel would show the same six entries; inside, the accuracy panel's
    # legend covered the residual net's rising curves): a column per net, train above validation
    figure_legend(fig, *ax[0, 0].get_legend_handles_labels(), ncols=len(runs), fontsize=7)
    fig.suptitle(f"{cfg.depth}-block ReLU MLP with and without skip connections ({cfg.n_train:,} training images)")
    out = [save_into(out_dir, "skip_connections_curves.png", fig, narrow=True)]

    fig, ax = new_figure(2, 1)
    blocks = np.arange(1, cfg.depth + 1)
    for j, (key, when) in enumerate((("grads_init", "at initialisation"), ("grads_end", "after training"))):
        for label, r in runs.items():
            ax[0, j].semilogy(blocks, np.maximum(r[key], 1e-30), "-", ms=4, **styles[label], label=label)
        ax[0, j].set(
            title=f"Per-block gradient norm {when}",
            xlabel=BLOCK_AXIS,
            ylabel=GRAD_NORM_AXIS,
        )
    # one legend under both panels: each panel had shown the same three nets
    figure_legend(fig, *ax[0, 0].get_legend_handles_labels(), ncols=len(runs), fontsize=8)
    fig.suptitle(f"Per-block gradient norms of the {cfg.depth}-block ReLU MLPs, before and after training")
    out.append(save_into(out_dir, "skip_connections_grad_norms.png", fig, narrow=True))
    return out
