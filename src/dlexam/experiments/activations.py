"""Part 2, question 2: do sigmoid and tanh make gradients vanish, and does ReLU fix it?

A deep MLP (:mod:`dlexam.experiments.deep_mlp`) on digit images, with sigmoid, tanh or ReLU in
every hidden block, under two initialisations: PyTorch's default (U(+-1/sqrt(fan_in)), weight
variance 1/(3 fan_in)) and the "matched" one each activation was designed with (Glorot for sigmoid
and tanh, He for ReLU). We measure ||dL/dW_l||_F for every hidden block l on a fixed probe batch, at
initialisation and at several points while training with SGD, and the training curves.

Summary number per run: the per-block gradient factor, exp(-slope) of a straight-line fit of
ln ||dL/dW_l|| against l. Below 1 the gradient shrinks geometrically towards the input (vanishing);
roughly, factor^(depth-1) is the ratio of the first block's gradient norm to the last one's.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from dlexam.experiments.deep_mlp import BLOCK_AXIS, GRAD_NORM_AXIS, DeepMLP, DeepMLPConfig
from dlexam.experiments.digits import load_digits
from dlexam.experiments.results import finish, quick_note, seed_everything
from dlexam.experiments.training import batches, evaluate, grad_norms, train_steps
from dlexam.figures import MARKERS, figure_legend, legend_below, new_figure, save_into, series_style, staggered
from dlexam.files import OutputDir
from dlexam.words import counted

NAME = "activations"
FIGURES = (  # the figures run() writes into its output folder
    "activations_grad_norms_init.png",
    "activations_grad_norms_training.png",
    "activations_training_loss.png",
)
CLAIM_SOURCE = "Part 2, question 2 (worked solution)"
CLAIM = (
    "Sigmoid and tanh activation functions cause vanishing gradients, as gradients go to zero "
    "exponentially for large positive or negative inputs. The ReLU activation function mitigates this "
    "issue by allowing gradients to propagate for positive inputs."
)
ACTS = ("sigmoid", "tanh", "relu")
VANISHING_FACTOR = 0.8  # a per-block factor below this counts as vanishing (0.8^19 ~ 1.4e-2)
AFTER_TRAINING = ("factor/block@end", "first/last@end")  # in numbers and the training figure's caption, not the table
SNAPSHOT_COLOURS = 0.6  # the part of viridis the training snapshots' lines use: each 3:1 or more against white
CHANCE_MARGIN = 0.05  # a training loss this close to ln 10 (10 classes, uniform guesses) ends at chance
STUCK_ACCURACY = 0.2  # a net whose worst trained seed reads less (chance: 0.1) has not learned


@dataclass
class ActivationsConfig:
    depth: int = 20  # hidden blocks
    width: int = 128
    n_train: int = 8000
    n_val: int = 2000
    steps: int = 1500  # SGD steps per run
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    probe_size: int = 512  # fixed training images on which per-layer gradient norms are measured
    n_snapshots: int = 4  # gradient-norm snapshots during training (besides step 0)
    seeds: tuple[int, ...] = (0, 1, 2)  # initial weights (and batch order); every seed's init is measured
    trained_seeds: int = 3  # how many of `seeds` (the first ones) are also trained
    control_lr: float = 0.1  # nets that do not learn at `lr` are trained again at this rate: is it the rate?

    @classmethod
    def quick(cls) -> ActivationsConfig:
        return cls(depth=12, width=64, n_train=2000, n_val=500, steps=150, probe_size=256, n_snapshots=2,
                   trained_seeds=1)


def per_block_factor(norms: list[float]) -> float:
    """How much the gradient norm is multiplied per block going from the output side to the input side.

    exp(-slope) of a least-squares line through ln ||dL/dW_l|| against l (l = 1 at the input side):
    < 1 means the gradient shrinks geometrically towards the input (vanishing), > 1 that it grows.
    """
    arr = np.maximum(np.asarray(norms, dtype=float), 1e-300)
    return float(math.exp(-np.polyfit(np.arange(len(arr)), np.log(arr), 1)[0]))


def new_model(cfg: ActivationsConfig, act: str, init: str, data: dict, seed: int) -> DeepMLP:
    seed_everything(seed)
    return DeepMLP(
        DeepMLPConfig(
            in_features=data["x_train"][0].numel(),
            width=cfg.width,
            depth=cfg.depth,
            activation=act,
            init=init,
        )
    )


def init_grads(cfg: ActivationsConfig, act: str, init: str, data: dict, seed: int) -> list[float]:
    """||dL/dW_l|| of every hidden block at the seed's initialisation, on the probe batch (no training)."""
    model = new_model(cfg, act, init, data, seed)
    return grad_norms(model, model.layer_weights(), data["x_train"][: cfg.probe_size],
                      data["y_train"][: cfg.probe_size])


def train_run(cfg: ActivationsConfig, act: str, init: str, data: dict, seed: int = 0) -> dict:
    model = new_model(cfg, act, init, data, seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    px, py = data["x_train"][: cfg.probe_size], data["y_train"][: cfg.probe_size]
    snap_at = sorted({0, *np.linspace(0, cfg.steps, cfg.n_snapshots + 1).astype(int).tolist()})
    snapshots = {}

    def snapshot(step: int) -> None:
        if step in snap_at:
            snapshots[step] = grad_norms(model, model.layer_weights(), px, py)

    it = batches(len(data["x_train"]), cfg.batch_size, torch.Generator().manual_seed(seed + 1))
    curve = train_steps(model, opt, data["x_train"], data["y_train"], it, cfg.steps, before_step=snapshot)
    snapshot(cfg.steps)
    val = evaluate(model, data["x_val"], data["y_val"])
    return {
        "snapshots": snapshots,
        "train_loss": curve,
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
    }


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = ActivationsConfig.quick() if quick else ActivationsConfig()
    start = time.perf_counter()
    data, data_note = load_digits(cfg.n_train, cfg.n_val)
    mean, std = data["x_train"].mean(), data["x_train"].std()
    data = {k: ((v - mean) / std if k.startswith("x") else v) for k, v in data.items()}

    keys = [(a, i) for i in ("default", "matched") for a in ACTS]
    trained = cfg.seeds[: cfg.trained_seeds]
    runs = {k: [train_run(cfg, *k, data, seed) for seed in trained] for k in keys}  # k: (activation, init)
    at_init = {k: [r["snapshots"][0] for r in runs[k]] + [init_grads(cfg, *k, data, seed)
                                                         for seed in cfg.seeds[cfg.trained_seeds:]] for k in keys}
    # a control: does a larger learning rate make the nets that stay near chance learn?
    stuck = [k for k, rs in runs.items() if min(r["val_accuracy"] for r in rs) < STUCK_ACCURACY]
    again = dataclasses.replace(cfg, lr=cfg.control_lr)
    control = {k: [train_run(again, *k, data, seed)["val_accuracy"] for seed in trained] for k in stuck}
    at_lr = f"@lr {cfg.control_lr:g}"
    table, numbers = [], {"seeds": list(cfg.seeds), "trained_seeds": list(trained), "runs": {},
                          "control_lr": cfg.control_lr}
    for (act, init), rs in runs.items():
        f0 = [per_block_factor(g) for g in at_init[(act, init)]]
        ends = [r["snapshots"][cfg.steps] for r in rs]
        vals = [r["val_accuracy"] for r in rs]
        row = {
            "activation": act,
            "init": init,
            "factor/block@init min": min(f0),
            "factor/block@init max": max(f0),
            "factor/block@init": float(np.mean(f0)),
            "first/last@init": _geomean([g[0] / max(g[-1], 1e-300) for g in at_init[(act, init)]]),
            "factor/block@end": float(np.mean([per_block_factor(g) for g in ends])),
            "first/last@end": _geomean([g[0] / max(g[-1], 1e-300) for g in ends]),
            "final train loss": float(np.mean([np.mean(r["train_loss"][-20:]) for r in rs])),
            "val acc worst": min(vals),
            "val acc": float(np.mean(vals)),
            f"val acc worst {at_lr}": min(control[(act, init)]) if (act, init) in control else None,
            f"val acc {at_lr}": float(np.mean(control[(act, init)])) if (act, init) in control else None,
        }
        table.append(row)
        numbers["runs"][f"{act}/{init}"] = {
            **{k: v for k, v in row.items() if k not in ("activation", "init")},
            "factor_at_init_by_seed": f0,
            "grad_norms_at_init_by_seed": at_init[(act, init)],
            "by_seed": [{"seed": seed, "grad_norms": {str(s): v for s, v in r["snapshots"].items()},
                         "train_loss": r["train_loss"], "val_accuracy": r["val_accuracy"], "val_loss": r["val_loss"]}
                        for seed, r in zip(trained, rs, strict=True)],
            "val_accuracy_at_control_lr_by_seed": control.get((act, init)),
        }
    figures = _figures(out_dir, cfg, runs, at_init)
    verdict, finding = _verdict(cfg, table)
    if quick:
        full = ActivationsConfig()
        finding = quick_note(
            f"{cfg.depth} hidden blocks instead of {full.depth}, {cfg.steps:,} SGD steps instead of {full.steps:,}, "
            f"{counted(cfg.trained_seeds, 'trained seed')} instead of {full.trained_seeds}",
            f"the per-block gradient factors at initialisation, on which the verdict rests, are measured as in the "
            f"full run, for all {len(cfg.seeds)} seeds; the validation accuracies after so few steps say little.",
        ) + finding
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=[shown(row) for row in table],
        figures=figures,
        captions=_captions(cfg, table, runs),
        numbers=numbers,
        data=data_note,
    )


def shown(row: dict) -> dict:
    """A net's row as the table prints it: without the after-training factors (readable at 800 px), and its
    validation accuracies in percent, as the finding and the captions give them."""
    return {k.replace("val acc", "val acc %"): None if v is None else 100 * v if k.startswith("val acc") else v
            for k, v in row.items() if k not in AFTER_TRAINING}


def _pct(fraction: float) -> str:
    """An accuracy as the table shows it: a percentage to 0.1 point."""
    return f"{100 * fraction:.1f}%"


def _two(v: float) -> str:
    return f"{v:.2f}"


def _geomean(xs: list[float]) -> float:
    return float(np.exp(np.mean(np.log(np.maximum(xs, 1e-300)))))


def _verdict(cfg: ActivationsConfig, table: list[dict]) -> tuple[str, str]:
    """The verdict from every seed's factor at initialisation: a net counts as vanishing only where every seed's
    factor is below VANISHING_FACTOR, as not vanishing only where every seed's is at or above it."""
    row = {(r["activation"], r["init"]): r for r in table}
    vanish = {k: r["factor/block@init max"] < VANISHING_FACTOR for k, r in row.items()}
    level = {k: r["factor/block@init min"] >= VANISHING_FACTOR for k, r in row.items()}
    mixed = [k for k in row if not (vanish[k] or level[k])]
    L = cfg.depth - 1
    n, trained = len(cfg.seeds), min(cfg.trained_seeds, len(cfg.seeds))

    def describe(act: str, init: str) -> str:
        r = row[(act, init)]
        acc = (f"val acc {_pct(r['val acc worst'])} worst, {_pct(r['val acc'])} mean" if trained > 1
               else f"val acc {_pct(r['val acc'])}")
        return (
            f"{act} x{r['factor/block@init']:.2f} per block ({r['factor/block@init min']:.2f}-"
            f"{r['factor/block@init max']:.2f}; first/last {r['first/last@init']:.1e}), {acc}"
        )

    parts = [
        f"Per-block gradient factor at initialisation over {cfg.depth} hidden blocks, the mean of {n} seeds "
        f"(their range in brackets; < {VANISHING_FACTOR} in every seed counts as vanishing; the factor is a "
        f"straight-line fit of ln ||grad|| over the blocks, so the first block's gradient is only roughly "
        f"factor^{L} of the last's, and first/last is that ratio as measured); validation accuracy "
        + (f"over the {trained} trained seeds." if trained > 1 else f"of the one trained seed ({cfg.seeds[0]}).")
    ]
    for init, label in (("default", "PyTorch default init"), ("matched", "Matched init (Glorot / He)")):
        parts.append(f"{label}: " + "; ".join(describe(a, init) for a in ACTS) + ".")
    sig_vanishes = vanish[("sigmoid", "default")] and vanish[("sigmoid", "matched")]
    tanh_vanishes = vanish[("tanh", "default")] and vanish[("tanh", "matched")]
    relu_ok_matched = level[("relu", "matched")]
    notes = []
    if mixed:
        notes.append("The seeds disagree for " + ", ".join(f"{a} with {i} init" for a, i in mixed)
                     + ": some seeds' factors fall below the threshold and some do not, so no conclusion for it.")
    if sig_vanishes:
        notes.append("Sigmoid's gradients vanish under both initialisations, as the exam says (sigma' <= 1/4).")
    else:
        notes.append("Sigmoid's gradients did not vanish under every initialisation and seed here.")
    if tanh_vanishes:
        notes.append("Tanh's gradients vanish under both initialisations.")
    elif not level[("tanh", "matched")]:  # Glorot's seeds disagree, or all vanish while the default's do not
        notes.append("Tanh's gradients did not vanish in every seed under both initialisations, nor stay level in "
                     "every seed under Glorot: no conclusion for tanh here.")
    else:
        notes.append(
            "Tanh's gradients do NOT vanish under every initialisation: with weights scaled so that "
            "pre-activations stay near 0 (Glorot), tanh is close to the identity there and passes "
            "gradients through; it vanishes only when units saturate or the weights are too small. "
            "So 'sigmoid and tanh cause vanishing gradients' holds for sigmoid but for tanh depends "
            "on the initialisation."
        )
    if relu_ok_matched and vanish[("relu", "default")]:
        notes.append(
            "ReLU with He init keeps gradient norms level, but ReLU with PyTorch's default init "
            "vanishes too: the fix is ReLU together with a matching initialisation, not ReLU alone."
        )
    elif relu_ok_matched and level[("relu", "default")]:
        notes.append("ReLU keeps gradient norms level under both initialisations, as the exam says.")
    elif relu_ok_matched:
        notes.append("ReLU with He init keeps gradient norms level; with PyTorch's default init it depends on the "
                     "seed.")
    else:
        notes.append("ReLU's gradients did not stay level in every seed even with He init.")
    notes += _control_notes(cfg, table)
    if sig_vanishes and tanh_vanishes and relu_ok_matched and level[("relu", "default")]:
        verdict = "supported"
    elif sig_vanishes and relu_ok_matched:
        verdict = "partly supported"
    else:
        verdict = "not supported"
    return verdict, " ".join(parts + notes)


def _control_notes(cfg: ActivationsConfig, table: list[dict]) -> list[str]:
    """What the control says: the nets that stayed near chance at cfg.lr, trained again at cfg.control_lr."""
    at_lr = f"@lr {cfg.control_lr:g}"
    rows = [r for r in table if r.get(f"val acc worst {at_lr}") is not None]
    if not rows:
        return []

    def names(rs: list[dict]) -> str:
        return ", ".join(f"{r['activation']} with {r['init']} init ({_pct(r[f'val acc worst {at_lr}'])} worst)"
                         for r in rs)

    learned = [r for r in rows if r[f"val acc worst {at_lr}"] >= STUCK_ACCURACY]
    still = [r for r in rows if r not in learned]
    notes = []
    if still:
        notes.append(f"The nets that stay near chance at lr {cfg.lr:g} stay there at {cfg.control_lr / cfg.lr:g} "
                     f"times the rate too (lr {cfg.control_lr:g}: {names(still)}): the rate is not what stops them.")
    if learned:
        notes.append(f"At lr {cfg.control_lr:g} these learn: {names(learned)}; for them lr {cfg.lr:g} was too "
                     "small, whatever their gradients at initialisation.")
    return notes


def at_chance(runs: dict) -> list[str]:
    """The nets whose training-loss curve (the first seed's, as the figure draws it) ends at chance, within
    CHANCE_MARGIN of ln 10: their lines lie on top of each other there (a quick run's figure showed three lines of
    its six)."""
    def end(r):
        loss = np.asarray(r["train_loss"])
        return float(np.mean(loss[-max(1, len(loss) // 50):]))

    return [f"{act} ({init} init)" for (act, init), rs in runs.items()
            if abs(end(rs[0]) - math.log(10)) < CHANCE_MARGIN]


def _captions(cfg: ActivationsConfig, table: list[dict], runs: dict) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the table and the runs
    (activation, init) -> one run per trained seed."""
    row = {(r["activation"], r["init"]): r for r in table}
    flat = at_chance(runs)
    if len(flat) > 1:
        flat_text = (f" The curves of {', '.join(flat[:-1])} and {flat[-1]} end at chance (ln 10 = "
                     f"{math.log(10):.2f}, the dotted line), on top of each other.")
    elif flat:
        flat_text = f" The curve of {flat[0]} ends at chance (ln 10 = {math.log(10):.2f}, the dotted line)."
    else:
        flat_text = ""

    def per_init(key: str, fmt) -> str:  # fmt: value -> text
        return "; ".join(f"{label}: " + ", ".join(f"{a} {fmt(row[(a, i)][key])}" for a in ACTS)
                         for i, label in (("default", "PyTorch's default init"), ("matched", "Glorot / He")))

    acts = ", ".join(ACTS)
    return {
        "activations_grad_norms_init.png": {
            "alt": f"Two line charts of each hidden block's gradient norm (log scale) against the block, 1 to "
                   f"{cfg.depth}, at initialisation, one line per activation ({acts}) and seed ({len(cfg.seeds)}): "
                   "left under PyTorch's default init, right under Glorot (sigmoid, tanh) or He (ReLU) init.",
            "caption": "At initialisation the gradient shrinks towards the input by a factor per block of "
                       f"{per_init('factor/block@init', _two)} (mean of {len(cfg.seeds)} seeds; below "
                       f"{VANISHING_FACTOR} counts as vanishing).",
        },
        "activations_grad_norms_training.png": {
            "alt": f"Six line charts, one per activation ({acts}) and initialisation, of each hidden block's "
                   f"gradient norm (log scale) at {cfg.n_snapshots + 1} moments from step 0 to step {cfg.steps:,}, "
                   f"for seed {cfg.seeds[0]}.",
            "caption": f"After {cfg.steps:,} SGD steps the factor per block is "
                       f"{per_init('factor/block@end', _two)}.",
        },
        "activations_training_loss.png": {
            "alt": f"Line chart of the training loss (moving average) against the SGD step for the six networks "
                   f"(seed {cfg.seeds[0]}): {acts}, each under the default init (dashed) and the matched init (solid), "
                   f"and a dotted line at chance, ln 10.",
            "caption": f"Validation accuracy after {cfg.steps:,} steps: {per_init('val acc', _pct)}." + flat_text,
        },
    }


def _figures(out_dir: OutputDir, cfg: ActivationsConfig, all_runs: dict, at_init: dict) -> list[str]:
    """At initialisation every seed (the first one labelled); during training the first seed."""
    from matplotlib.ticker import MaxNLocator

    runs = {k: rs[0] for k, rs in all_runs.items()}
    styles = {act: series_style(i) for i, act in enumerate(ACTS)}  # a colour and a marker each, never colour alone
    blocks = np.arange(1, cfg.depth + 1)
    fig, ax = new_figure(2, 1)
    for j, (init, label) in enumerate(
        (("default", "PyTorch default init"), ("matched", "Glorot (sigmoid, tanh) / He (ReLU)"))
    ):
        a = ax[0, j]
        for act in ACTS:
            for i, norms in enumerate(at_init[(act, init)]):
                a.semilogy(blocks, np.maximum(norms, 1e-30), "-", ms=4, lw=1.5 if i == 0 else 0.8,
                           alpha=1 if i == 0 else 0.6, color=styles[act]["color"],
                           marker=styles[act]["marker"] if i == 0 else None, label=act if i == 0 else None)
        a.set(
            title=f"At initialisation: {label}",
            xlabel=BLOCK_AXIS,
            ylabel=GRAD_NORM_AXIS,
        )
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # blocks are whole: the narrow drawing had 2.5, 7.5
    # one legend under both panels: each panel had shown the same three activations
    figure_legend(fig, *ax[0, 0].get_legend_handles_labels(), ncols=len(ACTS))
    fig.suptitle(f"Per-layer gradient norms in a {cfg.depth}-block MLP at initialisation (Part 2.2): "
                 f"{len(cfg.seeds)} seeds, seed {cfg.seeds[0]} marked, the others thin")
    out = [save_into(out_dir, "activations_grad_norms_init.png", fig, narrow=True)]

    import matplotlib  # loaded by new_figure already; imported here by name

    cmap = matplotlib.colormaps["viridis"]
    fig, ax = new_figure(3, 2, width=4.4, height=3.5)
    for i, init in enumerate(("default", "matched")):
        for j, act in enumerate(ACTS):
            a = ax[i, j]
            snaps = runs[(act, init)]["snapshots"]
            for k, (step, norms) in enumerate(sorted(snaps.items())):
                a.semilogy(
                    blocks,
                    np.maximum(norms, 1e-30),
                    "-",
                    # viridis up to its teal: its yellow end (step 150 of a quick run) read faintly on white
                    color=cmap(SNAPSHOT_COLOURS * k / max(1, len(snaps) - 1)),
                    marker=MARKERS[k % len(MARKERS)],  # the steps' lines overlap: their shades alone had not told them
                    ms=3,
                    label=f"step {step}",
                )
            a.set(
                title=f"{act}, {init} init",
                xlabel=BLOCK_AXIS,
                ylabel=GRAD_NORM_AXIS,
            )
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend under the six panels: every run is snapshotted at the same steps, coloured alike
    handles, labels = ax[0, 0].get_legend_handles_labels()
    figure_legend(fig, handles, labels, ncols=len(labels), fontsize=8)
    fig.suptitle(f"Per-layer gradient norms during training (SGD, seed {cfg.seeds[0]})")
    out.append(save_into(out_dir, "activations_grad_norms_training.png", fig, narrow=True))

    fig, ax = new_figure(1, 1, width=6.0)
    a = ax[0, 0]
    for (act, init), r in runs.items():
        loss = np.asarray(r["train_loss"])
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        a.plot(
            np.arange(len(smooth)) + k,
            smooth,
            "-" if init == "matched" else "--",
            color=styles[act]["color"],
            marker=styles[act]["marker"],
            markevery=staggered(ACTS.index(act), len(ACTS), len(smooth)),
            ms=4,
            label=f"{act}, {init} init",
            zorder=3 if init == "default" else 2,  # a dashed line stays visible where it lies on a solid one
        )
    a.axhline(math.log(10), color="0.45", ls=":", lw=1, label="chance: ln 10", zorder=0)
    a.set(title=f"Training loss (moving average, seed {cfg.seeds[0]})", xlabel="SGD step",
          ylabel="cross-entropy (nats per image)")  # train_steps' loss: the mean over a minibatch's images
    legend_below(a, fontsize=8)  # inside, it covered the falling tanh and relu curves
    out.append(save_into(out_dir, "activations_training_loss.png", fig, narrow=True))
    return out
