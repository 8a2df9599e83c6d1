"""Part 1, question 2: logistic regression on linearly separable data has no global minimum.

Gradient descent on the exam's summed loss

    L(w) = sum_i log(1 + exp(-y_i w^T x_i)),   y_i in {-1, +1},  x_i = (1, features)

drives L(w) -> 0 while ||w|| grows without bound. The rate is known (Soudry et al., 2018, "The
implicit bias of gradient descent on separable data"): w(t) ~ w_svm * ln t, where w_svm is the
hard-margin SVM vector (min ||w|| s.t. y_i w^T x_i >= 1), so ||w(t)|| grows like ||w_svm|| ln t,
the direction w(t)/||w(t)|| turns towards w_svm, and L(w(t)) falls like 1/t. We solve the SVM
separately (scipy SLSQP) and use it as the oracle for the slope and the direction.

The exam's own argument is checked too: L(a w*) is strictly decreasing in a with limit 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from matplotlib.ticker import FixedLocator, NullLocator
from scipy.optimize import minimize
from scipy.special import expit

from dlexam.experiments.results import finish, quick_note
from dlexam.figures import legend_below, new_figure, save_into
from dlexam.files import OutputDir

NAME = "separable-logreg"
FIGURES = (  # the figures run() writes into its output folder
    "separable_logreg_norm_loss.png",
    "separable_logreg_boundaries.png",
)
CLAIM_SOURCE = "Part 1, question 2 (worked solution)"
CLAIM = (
    "The loss L(w) is bounded below by 0 because log(1 + exp(u)) > 0 for any u in R. It is clear "
    "that L(alpha w*) is a strictly decreasing function of alpha that satisfies "
    "lim_{alpha -> inf} L(alpha w*) = 0, thus L has no global minima."
)


@dataclass
class SeparableConfig:
    n_points: int = 100  # data points (after removing those inside the margin band)
    margin: float = 0.25  # points with |true score| < margin are dropped, so the data are separable
    steps: int = 200_000  # gradient-descent steps
    n_records: int = 60  # log-spaced steps at which w is recorded
    seed: int = 0  # the data set the figures and the table show
    seeds: tuple[int, ...] = (0, 1, 2)  # every data set gradient descent runs on (the verdict needs all of them)

    @classmethod
    def quick(cls) -> SeparableConfig:
        return cls(n_points=60, steps=20_000, n_records=40)


def make_data(cfg: SeparableConfig, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Separable 2-D data with a bias column: X (N, 3) = [1, x1, x2], y (N,) in {-1, +1} (seed: cfg.seed's)."""
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    w_true, b_true = np.array([1.0, 2.0]) / math.sqrt(5.0), 0.3
    pts = []
    while len(pts) < cfg.n_points:
        x = rng.normal(size=2) * 1.5
        s = x @ w_true + b_true
        if abs(s) >= cfg.margin:
            pts.append(x)
    feats = np.array(pts)
    y = np.sign(feats @ w_true + b_true)
    return np.hstack([np.ones((len(feats), 1)), feats]), y


def loss(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """The exam's summed cross-entropy sum_i log(1 + exp(-y_i w^T x_i)), computed stably."""
    return float(np.logaddexp(0.0, -y * (X @ w)).sum())


def gradient(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(X.T @ (y * expit(-y * (X @ w))))


def max_margin(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hard-margin SVM through the origin of the augmented space: argmin ||w||^2 s.t. y_i w^T x_i >= 1."""
    cons = {"type": "ineq", "fun": lambda w: y * (X @ w) - 1.0, "jac": lambda w: y[:, None] * X}
    w0 = np.linalg.lstsq(X, y, rcond=None)[0] * 10.0
    res = minimize(
        lambda w: 0.5 * w @ w,
        w0,
        jac=lambda w: w,
        constraints=[cons],
        method="SLSQP",
        options={"maxiter": 500, "ftol": 1e-12},
    )
    if not res.success:
        raise RuntimeError(f"SVM solve failed: {res.message}")
    return res.x


def run_gd(X: np.ndarray, y: np.ndarray, steps: int, record_at: set[int]) -> tuple[list[dict], float]:
    """Plain gradient descent from w = 0 with step 1/L_smooth; returns records at the chosen steps."""
    lr = 1.0 / (0.25 * np.linalg.eigvalsh(X.T @ X).max())  # the loss is (lambda_max(X^T X) / 4)-smooth
    w = np.zeros(X.shape[1])
    records = []
    for t in range(steps + 1):
        g = gradient(w, X, y)
        if t in record_at:
            records.append({"t": t, "w": w.copy(), "loss": loss(w, X, y), "grad_norm": float(np.linalg.norm(g))})
        w = w - lr * g
    return records, lr


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = SeparableConfig.quick() if quick else SeparableConfig()
    start = time.perf_counter()
    X, y, w_svm, records, numbers = measure(cfg, cfg.seed)
    others = {seed: measure(cfg, seed)[-1] for seed in cfg.seeds if seed != cfg.seed}
    by_seed = {seed: _summary(cfg, numbers if seed == cfg.seed else others[seed]) for seed in cfg.seeds}
    numbers["by_seed"] = by_seed

    figures = _figures(out_dir, X, y, records, w_svm, numbers)
    ts, norms, losses, cosines = numbers["t"], numbers["w_norm"], numbers["loss"], numbers["cos_to_max_margin"]
    decades = [0] + [10**k for k in range(int(math.log10(cfg.steps)) + 1)] + [cfg.steps]
    show = sorted({int(np.argmin(np.abs(ts - d))) for d in decades})
    table = [
        {
            "step t": int(ts[i]),
            "||w||": float(norms[i]),
            "loss L(w)": float(losses[i]),
            "||grad||": records[i]["grad_norm"],
            "cos(w, w_svm)": float(cosines[i]) if norms[i] > 0 else None,  # w = 0 has no direction
        }
        for i in show
    ]

    supported, finding = _verdict(cfg, numbers, records)
    supported = supported and all(s["supported"] for s in by_seed.values())
    finding += " " + _seeds_text(cfg, by_seed)
    if quick:
        finding = quick_note(
            f"{cfg.steps:,} gradient-descent steps instead of {SeparableConfig().steps:,}",
            "the loss, ||w|| and L(a w*) are computed exactly at any length, so what follows holds as it stands; "
            "only the growth of ||w|| is less far along its ln t course.",
        ) + finding
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict="supported" if supported else "not supported",
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(numbers, records),
        numbers=numbers,
        data=f"synthetic separable 2-D points with a bias feature, {len(cfg.seeds)} data sets (seeds "
             f"{', '.join(map(str, cfg.seeds))}); figures and table: seed {cfg.seed}",
    )


def _summary(cfg: SeparableConfig, nb: dict) -> dict:
    """One data set's run in the numbers the verdict needs."""
    losses = nb["loss"]
    return {
        "loss_ratio": float(losses[-1] / losses[0]),
        "slope_ratio_to_theory": float(nb["slope_ratio_to_theory"]),
        "cos_to_max_margin": float(nb["cos_to_max_margin"][-1]),
        "last_grad_norm": float(nb["grad_norm"][-1]),
        "supported": bool(nb["w_norm_strictly_increasing"] and nb["loss_strictly_decreasing"]
                          and nb["ray_loss_strictly_decreasing"] and losses[-1] < 1e-2 * losses[0]),
    }


def _seeds_text(cfg: SeparableConfig, by_seed: dict) -> str:
    """The finding's sentence on every data set, worst first."""
    s = list(by_seed.values())
    held = sum(x["supported"] for x in s)
    return (
        f"Over {len(s)} data sets (seeds {', '.join(map(str, by_seed))}) the same "
        + ("holds in every one" if held == len(s) else f"holds in only {held} of {len(s)}")
        + f": the loss ends at {max(x['loss_ratio'] for x in s):.2e} of its start at worst "
        f"(best {min(x['loss_ratio'] for x in s):.2e}), the slope of ||w|| against ln t is "
        f"{min(x['slope_ratio_to_theory'] for x in s):.2f}-{max(x['slope_ratio_to_theory'] for x in s):.2f} of "
        f"||w_svm||, and the cosine to the max-margin direction is {min(x['cos_to_max_margin'] for x in s):.5f} at "
        "worst."
    )


def measure(cfg: SeparableConfig, seed: int) -> tuple:
    """Gradient descent on one data set: (X, y, w_svm, records, numbers)."""
    X, y = make_data(cfg, seed)
    w_svm = max_margin(X, y)
    gamma = 1.0 / np.linalg.norm(w_svm)  # geometric margin in the augmented space
    record_at = {0, *np.unique(np.geomspace(1, cfg.steps, cfg.n_records).astype(int)).tolist()}
    records, lr = run_gd(X, y, cfg.steps, record_at)

    ts = np.array([r["t"] for r in records])
    norms = np.array([np.linalg.norm(r["w"]) for r in records])
    losses = np.array([r["loss"] for r in records])
    cosines = np.array([r["w"] @ w_svm / (np.linalg.norm(r["w"]) * np.linalg.norm(w_svm) + 1e-300) for r in records])
    # Slope of ||w|| against ln t over the last decade of steps, against the theory's ||w_svm||.
    tail = ts >= max(1, cfg.steps // 10)
    slope, intercept = np.polyfit(np.log(ts[tail]), norms[tail], 1)
    # L ~ 1/t asymptotically: the log-log slope of the loss over the last decade, against -1.
    loss_slope = float(np.polyfit(np.log(ts[tail]), np.log(losses[tail]), 1)[0])

    # The exam's argument: L(a w*) along the ray of a separating w*, here w* = w_svm / ||w_svm||.
    w_star = w_svm / np.linalg.norm(w_svm)
    alphas = np.concatenate([[0.0], np.geomspace(0.1, 1000.0, 25)])
    ray = np.array([loss(a * w_star, X, y) for a in alphas])

    norm_increasing = bool(np.all(np.diff(norms) > 0))
    loss_decreasing = bool(np.all(np.diff(losses) < 0))
    ray_decreasing = bool(np.all(np.diff(ray) < 0))
    numbers = {
        "n_points": len(y),
        "steps": cfg.steps,
        "learning_rate": lr,
        "t": ts,
        "w_norm": norms,
        "loss": losses,
        "grad_norm": [r["grad_norm"] for r in records],
        "cos_to_max_margin": cosines,
        "w_final": records[-1]["w"],
        "w_max_margin": w_svm,
        "margin": gamma,
        "slope_w_norm_vs_ln_t": slope,
        "intercept": intercept,
        "theory_slope_norm_w_svm": float(np.linalg.norm(w_svm)),
        "slope_ratio_to_theory": slope / np.linalg.norm(w_svm),
        "loss_loglog_slope_last_decade": loss_slope,
        "alpha": alphas,
        "loss_along_ray": ray,
        "w_norm_strictly_increasing": norm_increasing,
        "loss_strictly_decreasing": loss_decreasing,
        "ray_loss_strictly_decreasing": ray_decreasing,
    }
    return X, y, w_svm, records, numbers


def _verdict(cfg: SeparableConfig, nb: dict, records: list[dict]) -> tuple[bool, str]:
    """Whether the run bears out the exam's argument, and the finding in words."""
    norms, losses, ray, alphas = nb["w_norm"], nb["loss"], nb["loss_along_ray"], nb["alpha"]
    norm_increasing, loss_decreasing = nb["w_norm_strictly_increasing"], nb["loss_strictly_decreasing"]
    ray_decreasing, slope = nb["ray_loss_strictly_decreasing"], nb["slope_w_norm_vs_ln_t"]
    cosines, loss_slope = nb["cos_to_max_margin"], nb["loss_loglog_slope_last_decade"]
    supported = norm_increasing and loss_decreasing and ray_decreasing and losses[-1] < 1e-2 * losses[0]
    rose = "rose at every recorded step" if norm_increasing else "did not rise monotonically"
    norm_svm = nb["theory_slope_norm_w_svm"]
    ray_text = "strictly decreasing" if ray_decreasing else "NOT strictly decreasing"
    finding = (
        f"Over {cfg.steps:,} steps of gradient descent from w = 0 the loss fell from {losses[0]:.3g} "
        f"to {losses[-1]:.3g} and {'kept' if loss_decreasing else 'did not always keep'} falling, "
        f"while ||w|| {rose} to {norms[-1]:.3g}, growing like ln t: over the last decade ||w|| gains "
        f"{slope:.3g} per unit of ln t, against the theory's ||w_svm|| = {norm_svm:.3g} "
        f"(ratio {slope / norm_svm:.2f}; the ratio approaches 1 only slowly). The gradient never "
        f"vanishes (last ||grad|| = {records[-1]['grad_norm']:.2g}), the direction approaches the "
        f"max-margin one (cosine {cosines[-1]:.5f}) and over the last decade the loss falls like "
        f"t^{loss_slope:.2f} (theory: t^-1 asymptotically): no finite minimiser. Along the ray a w*, "
        f"L(a w*) is {ray_text} from {ray[0]:.3g} at a = 0 to {ray[-1]:.2e} at a = {alphas[-1]:g}. "
        + (
            "This supports the exam's answer (no global minima)."
            if supported
            else "This does not fully bear out the exam's argument."
        )
    )
    return supported, finding


def _boundary_records(records: list[dict]) -> list[dict]:
    """The records whose boundaries the figure draws: the recorded steps nearest 1, 10 and 100, and the last.
    (Only steps 1 and the last were drawn where 10 and 100 were not recorded steps.)"""
    ts = np.array([r["t"] for r in records])
    near = sorted({int(np.argmin(np.abs(np.log(np.maximum(ts, 0.5)) - math.log(t)))) for t in (1, 10, 100)})
    return [records[i] for i in near if i != len(records) - 1] + [records[-1]]


def _captions(nb: dict, records: list[dict]) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the numbers."""
    steps = int(nb["t"][-1])
    shown = _boundary_records(records)
    shown = ", ".join(f"{r['t']:,}" for r in shown[:-1]) + f" and {shown[-1]['t']:,}"
    return {
        "separable_logreg_norm_loss.png": {
            "alt": "Three line charts against the gradient-descent step t on a log axis: the norm of w with a fitted "
                   "and a theoretical ln t line; the loss with a c/t line; and the loss along the ray a w* against a.",
            "caption": f"Over {steps:,} steps ||w|| grows like ln t (fitted slope {nb['slope_w_norm_vs_ln_t']:.2f} "
                       f"per unit of ln t, theory {nb['theory_slope_norm_w_svm']:.2f}) while the loss falls from "
                       f"{nb['loss'][0]:.3g} to {nb['loss'][-1]:.3g}; along the ray, L(a w*) falls from "
                       f"{nb['loss_along_ray'][0]:.3g} to {nb['loss_along_ray'][-1]:.2e} at a = {nb['alpha'][-1]:g}.",
        },
        "separable_logreg_boundaries.png": {
            "alt": f"Scatter plot of the {nb['n_points']} separable points of the two classes, with the decision "
                   f"boundary of w(t) at steps {shown} and the max-margin (SVM) boundary dashed.",
            "caption": f"The decision boundary w(t)^T x = 0 at steps {shown} turns towards the max-margin one "
                       f"(cosine {nb['cos_to_max_margin'][-1]:.5f} at the last step) while ||w|| keeps growing "
                       f"(to {nb['w_norm'][-1]:.3g}).",
        },
    }


def round_decades(lo: float, hi: float, most: int = 7) -> list[int]:
    """The powers of ten to mark on a log axis from `lo` to `hi` (both > 0): every decade where at most `most` fit,
    else every 2nd, 5th, 10th, 20th, 25th, 50th or 100th, at multiples of that step (10^0, 10^-25, 10^-50, ...).
    matplotlib counted its step from the axis' lowest decade: L(a w*)'s axis read 10^7, 10^-15, 10^-37, ..."""
    first, last = math.ceil(math.log10(lo)), math.floor(math.log10(hi))
    for step in (1, 2, 5, 10, 20, 25, 50, 100):
        start = -(-first // step) * step  # the first multiple of step at or above the lowest decade
        marks = list(range(start, last + 1, step))
        if len(marks) <= most:
            return marks
    return marks


BOUNDARY_DASHES = ((0, (1, 1.5)), (0, (3, 1.5)), (0, (6, 1.5, 1, 1.5)), "-")  # dotted .. solid, as t grows


def _figures(out_dir: OutputDir, X, y, records, w_svm, nb: dict) -> list[str]:
    ts = np.asarray(nb["t"])
    pos = ts > 0
    fig, ax = new_figure(3, 1, width=4.6)
    a = ax[0, 0]
    a.plot(ts[pos], np.asarray(nb["w_norm"])[pos], "o-", ms=3, label="gradient descent")
    # the lines over the last decade, where the slope is fitted (drawn from t = 1 they ran below 0)
    tail = ts >= max(1, int(nb["steps"]) // 10)
    a.plot(
        ts[tail],
        nb["slope_w_norm_vs_ln_t"] * np.log(ts[tail]) + nb["intercept"],
        "--",
        label=f"fit over the last decade: {nb['slope_w_norm_vs_ln_t']:.2f} ln t + c",
    )
    last = np.asarray(nb["w_norm"])[-1] - nb["theory_slope_norm_w_svm"] * np.log(ts[-1])
    a.plot(
        ts[tail],
        nb["theory_slope_norm_w_svm"] * np.log(ts[tail]) + last,
        ":",
        label=f"theory slope ||w_svm|| = {nb['theory_slope_norm_w_svm']:.2f} (through the last point)",
    )
    a.set_ylim(bottom=0)
    a.set_xscale("log")
    a.set(title="||w|| grows without bound (~ ln t)", xlabel="gradient-descent step t (log)", ylabel="||w(t)||")
    a = ax[0, 1]
    a.loglog(ts[pos], np.asarray(nb["loss"])[pos], "o-", ms=3, label="L(w(t))")
    a.loglog(ts[pos], nb["loss"][-1] * ts[-1] / ts[pos], ":", label="c / t (through the last point)")
    a.set(
        title="The loss goes to 0 (~ 1/t)",
        xlabel="gradient-descent step t (log)",
        ylabel="loss L(w(t)), nats summed over the points (log)",
    )
    a = ax[0, 2]
    alphas = np.asarray(nb["alpha"])
    a.semilogy(alphas[1:], np.asarray(nb["loss_along_ray"])[1:], "o-", ms=3, label="L(a w*)")
    a.set_xscale("log")
    a.set(title="L(a w*) strictly decreases in a", xlabel="a (log)",
          ylabel="loss L(a w*), nats summed over the points (log)")
    along = np.asarray(nb["loss_along_ray"])[1:]
    a.yaxis.set_major_locator(FixedLocator([10.0 ** e for e in round_decades(along.min(), along.max())]))
    a.yaxis.set_minor_locator(NullLocator())  # minor ticks of 22 decades at a time had no meaning
    for a in ax[0]:  # under each panel: the last points of ||w|| and the fits end in a corner, where one covered them
        legend_below(a, fontsize=8)
    fig.suptitle("Separable logistic regression (Part 1, Q2): no global minimum")
    out = [save_into(out_dir, "separable_logreg_norm_loss.png", fig, narrow=True)]

    fig, ax = new_figure(1, 1, width=5.0, height=4.6)
    a = ax[0, 0]
    for label, marker in ((1, "o"), (-1, "s")):
        m = y == label
        a.scatter(X[m, 1], X[m, 2], marker=marker, s=18, label=f"y = {label:+d}")
    xs = np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 50)
    shown = _boundary_records(records)
    import matplotlib  # loaded by new_figure already; imported here by name

    cmap = matplotlib.colormaps["viridis"]
    for k, r in enumerate(shown):
        w = r["w"]
        if abs(w[2]) > 1e-12:
            a.plot(
                xs,
                -(w[0] + w[1] * xs) / w[2],
                # the boundaries nearly coincide: each its own dash as well as its own shade, darker as t grows
                # (viridis up to its green: its yellow end reads faintly on white)
                ls=BOUNDARY_DASHES[k % len(BOUNDARY_DASHES)],
                color=cmap(0.75 * (1 - k / max(1, len(shown) - 1))),
                lw=1.2,
                label=f"w(t), t = {r['t']:,}  (||w|| = {np.linalg.norm(w):.1f})",
            )
    a.plot(xs, -(w_svm[0] + w_svm[1] * xs) / w_svm[2], "k--", lw=1.5, label="max-margin (SVM)")
    a.set_ylim(X[:, 2].min() - 0.5, X[:, 2].max() + 0.5)
    a.set(title="Data and decision boundaries w(t)^T x = 0", xlabel="feature x1", ylabel="feature x2")
    legend_below(a, fontsize=7)  # the points fill the panel: inside it, the legend covered some
    out.append(save_into(out_dir, "separable_logreg_boundaries.png", fig, narrow=True))
    return out
