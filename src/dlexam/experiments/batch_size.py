"""Part 2, question 1: the trade-offs of the minibatch size, measured on the exam's CNN.

The exam's CNN (:class:`dlexam.svhn.model.ExamCNN`, avg pooling, ReLU) on SVHN-like synthetic digits
(:mod:`dlexam.experiments.svhn_like`), for batch sizes B from 1 to 4096:

* time per update and per epoch, measured over real training epochs (CPU seconds of this
  single-threaded process, so other processes on a shared machine do not count; wall seconds
  are kept too);
* gradient noise at one fixed set of weights (the seeded initialisation): the mean squared distance
  E||g_B - g||^2 of minibatch gradients g_B (B examples drawn without replacement) from the
  full-batch gradient g, against the sampling-theory value (N - B) / (N - 1) * tr(Sigma) / B, with
  tr(Sigma) = mean_i ||g_i - g||^2 from per-example gradients (torch.func);
* test accuracy after a fixed number of epochs and after a fixed CPU-time budget, over several training
  seeds: a batch size counts as the best only where its lead is larger than the seeds' spread
  (:func:`rank_batch_sizes`), otherwise the finding names the batch sizes that tie within noise;
* memory of one training step (see :mod:`dlexam.experiments.memory` for both measures and limits).

Optimiser: Adam with the square-root scaling rule lr(B) = base_lr * sqrt(B / 64) (Malladi et al.,
2022), so no batch size is handicapped by one shared learning rate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from dlexam.experiments.memory import peak_rss_step, saved_tensor_bytes
from dlexam.experiments.noise import minibatch_noise
from dlexam.experiments.ranking import rank_batch_sizes, ranking_text
from dlexam.experiments.results import finish, quick_note, seed_everything
from dlexam.experiments.svhn_like import load_svhn_like, preprocess
from dlexam.experiments.training import batches, evaluate, train_steps
from dlexam.figures import new_figure, save_into
from dlexam.files import OutputDir
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.words import counted

NAME = "batch-size"
FIGURES = (  # the figures run() writes into its output folder
    "batch_size_time_noise.png",
    "batch_size_accuracy_memory.png",
)
CLAIM_SOURCE = "Part 2, question 1 (worked solution)"
CLAIM = (
    "Small minibatches lead to faster updates, more exploration of the loss landscape (can help escape "
    "local minima) but yield noisier gradient estimates (less accurate estimate of the global gradient), "
    "and may require smaller learning rate. Large minibatches provide more accurate gradient estimates, "
    "potentially faster convergence in terms of iterations, but are slower to compute with higher memory "
    "usage, and higher risk of getting stuck in local minima. Often, in practice, the batch size is chosen "
    "to exhaust the memory of the GPU."
)


@dataclass
class BatchSizeConfig:
    n_train: int = 16384
    n_test: int = 2000
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024, 4096)
    epochs: int = 2  # the fixed-epochs comparison
    budget_s: float = 15.0  # the fixed-time comparison, CPU seconds per batch size
    iterations: int = 100  # the fixed-updates comparison ("faster convergence in terms of iterations")
    base_lr: float = 1e-3  # Adam at B = 64; lr(B) = base_lr * sqrt(B / 64)
    noise_draws: int = 20  # minibatches per B for the gradient noise
    seed: int = 0  # the data, and the weights at which noise and memory are measured
    seeds: tuple[int, ...] = (0, 1, 2)  # the training runs' seeds (initial weights, batch order)
    extra: dict = field(default_factory=dict)

    @classmethod
    def quick(cls) -> BatchSizeConfig:
        return cls(n_train=1024, n_test=400, batch_sizes=(1, 32, 1024), epochs=1, budget_s=1.0, iterations=20,
                   noise_draws=6, seeds=(0, 1))

    def lr(self, b: int) -> float:
        return self.base_lr * math.sqrt(b / 64)


def new_model(seed: int) -> ExamCNN:
    seed_everything(seed)
    return ExamCNN(CNNConfig())


def gradient_noise(cfg: BatchSizeConfig, x: torch.Tensor, y: torch.Tensor) -> dict:
    """E||g_B - g||^2 for each B at the seeded initial weights, against sampling theory (dlexam.experiments.noise)."""
    return minibatch_noise(new_model(cfg.seed), x, y, cfg.batch_sizes, cfg.noise_draws,
                           torch.Generator().manual_seed(cfg.seed + 7))



# ---- training ------------------------------------------------------------------------------------
def start(cfg: BatchSizeConfig, b: int, data: dict, seed: int):
    """A training run's model (the seed's initial weights), its Adam at lr(b) and its stream of batches of `b`."""
    model = new_model(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr(b))
    return model, opt, batches(len(data["x"]), b, torch.Generator().manual_seed(seed + 1))


def train_epochs(cfg: BatchSizeConfig, b: int, data: dict, seed: int) -> dict:
    model, opt, it = start(cfg, b, data, seed)
    n = len(data["x"])
    updates_per_epoch = -(-n // b)
    cpu, wall, acc = [], [], []
    for _ in range(cfg.epochs):
        c0, w0 = time.process_time(), time.perf_counter()
        train_steps(model, opt, data["x"], data["y"], it, updates_per_epoch)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
        acc.append(evaluate(model, data["x_test"], data["y_test"])["accuracy"])
    return {
        "updates_per_epoch": updates_per_epoch,
        "epoch_cpu_s": cpu,
        "epoch_wall_s": wall,
        "update_cpu_s": float(np.median(cpu)) / updates_per_epoch,
        "test_accuracy_per_epoch": acc,
    }


def train_budget(cfg: BatchSizeConfig, b: int, data: dict, seed: int) -> dict:
    model, opt, it = start(cfg, b, data, seed)
    c0 = time.process_time()
    updates = len(train_steps(model, opt, data["x"], data["y"], it, 10**9,
                              keep_going=lambda: time.process_time() - c0 < cfg.budget_s))
    acc = evaluate(model, data["x_test"], data["y_test"])["accuracy"]
    return {"updates": updates, "epochs": updates * b / len(data["x"]), "test_accuracy": acc}


def train_iterations(cfg: BatchSizeConfig, b: int, data: dict, seed: int) -> float:
    """Test accuracy after exactly `cfg.iterations` updates at batch size `b` (as many images as that takes)."""
    model, opt, it = start(cfg, b, data, seed)
    train_steps(model, opt, data["x"], data["y"], it, cfg.iterations)
    return evaluate(model, data["x_test"], data["y_test"])["accuracy"]


def over_seeds(runs: list[dict]) -> dict:
    """One batch size's training runs (one per seed) as one record: the times of every epoch of every seed
    (the update's cost is their median), the mean test accuracy, and each seed's own."""
    cpu = [c for r in runs for c in r["epoch_cpu_s"]]
    upe = runs[0]["updates_per_epoch"]
    return {
        "updates_per_epoch": upe,
        "epoch_cpu_s": cpu,
        "epoch_wall_s": [w for r in runs for w in r["epoch_wall_s"]],
        "update_cpu_s": float(np.median(cpu)) / upe,
        "test_accuracy_per_epoch": np.mean([r["test_accuracy_per_epoch"] for r in runs], axis=0).tolist(),
        "test_accuracy_by_seed": [r["test_accuracy_per_epoch"][-1] for r in runs],
    }


def budget_over_seeds(runs: list[dict]) -> dict:
    """One batch size's fixed-budget runs (one per seed): means, and each seed's accuracy and updates."""
    return {
        "updates": float(np.mean([r["updates"] for r in runs])),
        "epochs": float(np.mean([r["epochs"] for r in runs])),
        "test_accuracy": float(np.mean([r["test_accuracy"] for r in runs])),
        "test_accuracy_by_seed": [r["test_accuracy"] for r in runs],
        "updates_by_seed": [r["updates"] for r in runs],
    }


def step_memory(cfg: BatchSizeConfig, b: int, data: dict) -> dict:
    model = new_model(cfg.seed)
    x, y = data["x"][:b].clone(), data["y"][:b].clone()  # own storage: a view would count the whole set

    def step(xb=x, yb=y):
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr(b))
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        model.zero_grad(set_to_none=True)

    saved = saved_tensor_bytes(lambda: F.cross_entropy(model(x), y))
    step(x[:1], y[:1])  # first-use imports and set-up (Adam's first step takes seconds) happen before the fork
    peak = peak_rss_step(step, warmup=lambda: step(x[:1], y[:1]))
    return {"saved_for_backward_mib": saved / 2**20, "peak_rss_growth_mib": peak}


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = BatchSizeConfig.quick() if quick else BatchSizeConfig()
    start = time.perf_counter()
    raw, data_note = load_svhn_like(cfg.n_train, cfg.n_test, cfg.seed)
    data = {
        "x": preprocess(raw["x_train"]),
        "y": raw["y_train"],
        "x_test": preprocess(raw["x_test"]),
        "y_test": raw["y_test"],
    }
    sizes = [b for b in cfg.batch_sizes if b <= cfg.n_train]
    memory = {b: step_memory(cfg, b, data) for b in sizes}  # first, before the parent's heap grows
    noise = gradient_noise(cfg, data["x"], data["y"])
    epochs = {b: over_seeds([train_epochs(cfg, b, data, s) for s in cfg.seeds]) for b in sizes}
    budget = {b: budget_over_seeds([train_budget(cfg, b, data, s) for s in cfg.seeds]) for b in sizes}
    iterations = {b: [train_iterations(cfg, b, data, s) for s in cfg.seeds] for b in sizes}

    table = []
    for b in sizes:
        e, nz = epochs[b], noise["by_batch"][b]
        table.append(
            {
                "batch": b,
                "lr": cfg.lr(b),
                "ms/update": 1000 * e["update_cpu_s"],
                "ms/epoch": 1000 * float(np.median(e["epoch_cpu_s"])),  # ms as the figure, like an update's
                "grad noise": nz["measured"],
                # accuracies in percent, as the finding and the figure give them
                f"acc@{cfg.epochs}ep %": 100 * e["test_accuracy_per_epoch"][-1],
                f"acc@{cfg.epochs}ep % worst": 100 * min(e["test_accuracy_by_seed"]),
                f"acc@{cfg.budget_s:g}s %": 100 * budget[b]["test_accuracy"],
                f"acc@{cfg.budget_s:g}s % worst": 100 * min(budget[b]["test_accuracy_by_seed"]),
                f"acc@{cfg.iterations}upd %": 100 * float(np.mean(iterations[b])),
                f"acc@{cfg.iterations}upd % worst": 100 * min(iterations[b]),
                "saved MiB": memory[b]["saved_for_backward_mib"],
                "peak RSS MiB": memory[b]["peak_rss_growth_mib"],
            }
        )
    numbers = {
        "batch_sizes": sizes,
        "noise": noise,
        "epochs": epochs,
        "budget": budget,
        "iterations": {"updates": cfg.iterations, "test_accuracy_by_seed": iterations},
        "memory": memory,
        "n_train": cfg.n_train,
        "ranking": {
            "epochs": rank_batch_sizes({b: epochs[b]["test_accuracy_by_seed"] for b in sizes}),
            "budget": rank_batch_sizes({b: budget[b]["test_accuracy_by_seed"] for b in sizes}),
            "iterations": rank_batch_sizes(iterations),
        },
    }
    verdict, finding = _verdict(cfg, sizes, numbers)
    if quick:
        full = BatchSizeConfig()
        finding = quick_note(
            f"{cfg.n_train:,} images instead of {full.n_train:,}, {len(cfg.seeds)} seeds instead of "
            f"{len(full.seeds)}, {counted(cfg.epochs, 'epoch')} or {cfg.budget_s:g} CPU s of training instead of "
            f"{full.epochs} or {full.budget_s:g} s",
            "noise, time and memory are measured as in the full run; the accuracies after so little training "
            "compare the batch sizes only roughly.",
        ) + finding
    figures = _figures(out_dir, cfg, sizes, numbers)
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(cfg, sizes, numbers),
        numbers=numbers,
        data=data_note,
        timing="CPU seconds of this process with 1 thread (time.process_time); wall seconds in numbers",
    )


def _ms(ms: float) -> str:
    """A time in milliseconds to 3 significant digits, written out ("9,030", not "9.03e+03")."""
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def _loglog_slope(xs, ys) -> float:
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _verdict(cfg: BatchSizeConfig, sizes: list[int], nb: dict) -> tuple[str, str]:
    noise = [nb["noise"]["by_batch"][b]["measured"] for b in sizes]
    theory = [nb["noise"]["by_batch"][b]["theory"] for b in sizes]
    small = [b for b in sizes if b < cfg.n_train]  # at B = N the noise is exactly 0
    slope = _loglog_slope(small, [nb["noise"]["by_batch"][b]["measured"] for b in small])
    upd = [nb["epochs"][b]["update_cpu_s"] for b in sizes]
    ep = [1000 * float(np.median(nb["epochs"][b]["epoch_cpu_s"])) for b in sizes]  # ms, as the table and figure
    saved = [nb["memory"][b]["saved_for_backward_mib"] for b in sizes]
    rss = [nb["memory"][b]["peak_rss_growth_mib"] for b in sizes]
    b_lo, b_hi = sizes[0], sizes[-1]
    noise_falls = all(a > c for a, c in zip(noise, noise[1:], strict=False))
    updates_slower = upd[-1] > upd[0]
    epochs_faster = ep[-1] < ep[0]
    memory_grows = saved[-1] > saved[0]
    b_fast = sizes[int(np.argmin(ep))]
    fewer_iterations, iterations_text = _per_update(nb["ranking"]["iterations"], b_lo, b_hi, cfg.iterations,
                                                   rates=(cfg.lr(b_lo), cfg.lr(b_hi)))
    rss_text = (
        f"peak RSS growth of one step {rss[0]:.1f} -> {rss[-1]:.1f} MiB; 0 means the step fitted in memory the "
        "allocator already held"
        if None not in (rss[0], rss[-1])
        else "peak RSS not measurable here"
    )
    text = (
        f"Gradient noise E||g_B - g||^2 at fixed weights falls from {noise[0]:.3g} (B = {b_lo}) to "
        + (f"{noise[-1]:.3g} (B = {b_hi})" if b_hi < cfg.n_train else
           f"{nb['noise']['by_batch'][small[-1]]['measured']:.3g} (B = {small[-1]}) and to 0 at B = N = {b_hi} (the "
           f"whole set; measured {noise[-1]:.1g}, float rounding)")
        + f", log-log slope {slope:.2f} for B < N (sampling theory: -1, with the "
        f"finite-population factor (N-B)/(N-1); measured/theory ratios "
        f"{', '.join(f'{m / t:.2f}' for m, t in zip(noise, theory, strict=True) if t > 0)}). "
        f"A single update costs {_ms(1000 * upd[0])} ms at B = {b_lo} and {_ms(1000 * upd[-1])} ms at B = {b_hi} "
        f"(small batches: faster updates, as claimed), but an epoch costs {_ms(ep[0])} ms at B = {b_lo}, "
        + (f"{_ms(min(ep))} ms at its fastest, the largest (B = {b_hi}): " if b_fast == b_hi else
           f"{_ms(min(ep))} ms at its fastest (B = {b_fast}) and {_ms(ep[-1])} ms at B = {b_hi}: ")
        + (
            "per example, larger batches are cheaper (vectorisation), so 'slower to compute' holds per update, "
            "not per epoch"
            if epochs_faster
            else "large batches are slower per epoch too"
        )
        + (
            f" (beyond B = {b_fast} the per-example cost rises again, here on a CPU with 1 thread). "
            if b_fast != b_hi
            else ". "
        )
        + f"Memory grows with B: autograd keeps {saved[0]:.2f} MiB at B = {b_lo} and {saved[-1]:.1f} MiB at "
        f"B = {b_hi} ({rss_text}). "
        + ranking_text(nb["ranking"]["epochs"], f"After {counted(cfg.epochs, 'epoch')}")
        + "; " + ranking_text(nb["ranking"]["budget"], f"with a {cfg.budget_s:g} s CPU budget")
        + "; " + ranking_text(nb["ranking"]["iterations"], f"after {cfg.iterations} updates")
        + ". " + iterations_text
        + " Not tested: escaping local minima, the GPU-memory rule of thumb (CPU only), and whether small batches "
        f"need a smaller learning rate (every B trains at {cfg.base_lr:g} * sqrt(B / 64), the square-root rule; "
        "no other rate is compared)."
    )
    if not (noise_falls and updates_slower and memory_grows):
        verdict = "not supported"
    elif epochs_faster or not fewer_iterations:
        verdict = "partly supported"
    else:
        verdict = "supported"
    return verdict, text


def _per_update(r: dict, b_lo: int, b_hi: int, updates: int,
                rates: tuple[float, float] | None = None) -> tuple[bool, str]:
    """Whether large batches converge in fewer updates (the claim's "faster convergence in terms of iterations"):
    after the same number of updates the largest B is among the best and the smallest B is not, each lead larger
    than the seeds' spread; and the finding's sentence on it (`rates`: the learning rates of B = b_lo and b_hi,
    which a lead is said to come with)."""
    if not r["spread_measured"]:
        return False, "One seed measures no spread, so convergence per update is not judged."
    if b_hi in r["tied"] and b_lo not in r["tied"]:
        rate = ("" if rates is None else
                f" B = {b_hi} also steps at a learning rate {rates[1] / rates[0]:.3g} times B = {b_lo}'s (the "
                "square-root rule): the lead is the larger batch's and its larger rate's together.")
        return True, (f"Per update, large batches converge faster, as claimed: after {updates} updates B = {b_hi} "
                      f"reads {r['mean'][b_hi]:.1%} against {r['mean'][b_lo]:.1%} at B = {b_lo}.{rate}")
    return False, (f"That large batches converge in fewer iterations is not seen here: after {updates} updates "
                   f"B = {b_hi} reads {r['mean'][b_hi]:.1%} and B = {b_lo} {r['mean'][b_lo]:.1%} (mean of "
                   f"{r['seeds']} seeds), and B = {b_hi} is not ahead of B = {b_lo} by more than the seeds' spread.")


def _captions(cfg: BatchSizeConfig, sizes: list[int], nb: dict) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the numbers."""
    b_lo, b_hi = sizes[0], sizes[-1]
    upd = {b: 1000 * nb["epochs"][b]["update_cpu_s"] for b in sizes}
    ep = {b: 1000 * float(np.median(nb["epochs"][b]["epoch_cpu_s"])) for b in sizes}  # ms
    b_fast = min(ep, key=ep.get)
    noise = {b: nb["noise"]["by_batch"][b]["measured"] for b in sizes}
    b_noise = max(b for b in sizes if b < cfg.n_train)  # the largest B the noise plot shows (at B = N it is 0)
    saved = {b: nb["memory"][b]["saved_for_backward_mib"] for b in sizes}
    return {
        "batch_size_time_noise.png": {
            "alt": f"Two log-log charts against the batch size B, {b_lo} to {b_hi}: the CPU time per update and per "
                   f"epoch; and, for B up to {b_noise}, the gradient noise E||g_B - g||^2, measured (with error bars) "
                   "against the sampling theory's line.",
            "caption": f"An update takes {_ms(upd[b_lo])} ms at B = {b_lo} and {_ms(upd[b_hi])} ms at B = {b_hi}, "
                       f"but an epoch is fastest at B = {b_fast} ({_ms(ep[b_fast])} ms); the gradient noise falls from "
                       f"{noise[b_lo]:.3g} (B = {b_lo}) to {noise[b_noise]:.3g} (B = {b_noise})"
                       + (f" and is 0 at B = N = {b_hi}." if b_hi >= cfg.n_train else "."),
        },
        "batch_size_accuracy_memory.png": {
            "alt": f"Two charts against the batch size B on a log axis: test accuracy after "
                   f"{counted(cfg.epochs, 'epoch')}, after {counted(cfg.budget_s, 'CPU second')} and after "
                   f"{cfg.iterations} updates, the mean of {len(cfg.seeds)} seeds with bars from the worst to the best "
                   "seed; and the memory of one training step in MiB (log), saved for backward and peak RSS growth.",
            "caption": ranking_text(nb["ranking"]["epochs"], f"After {counted(cfg.epochs, 'epoch')}") + "; "
                       + ranking_text(nb["ranking"]["budget"], f"with a {cfg.budget_s:g} s CPU budget") + "; "
                       + ranking_text(nb["ranking"]["iterations"], f"after {cfg.iterations} updates")
                       + f". Autograd keeps {saved[b_lo]:.2f} MiB at B = {b_lo} and {saved[b_hi]:.1f} MiB at "
                         f"B = {b_hi}.",
        },
    }


def _figures(out_dir: OutputDir, cfg: BatchSizeConfig, sizes: list[int], nb: dict) -> list[str]:
    s = np.asarray(sizes)
    fig, ax = new_figure(2, 1)
    a = ax[0, 0]
    a.loglog(s, [1000 * nb["epochs"][b]["update_cpu_s"] for b in sizes], "o-", label="per update (ms)")
    a.loglog(s, [1000 * float(np.median(nb["epochs"][b]["epoch_cpu_s"])) for b in sizes], "s-", label="per epoch (ms)")
    a.set(title="Training time (CPU, 1 thread)", xlabel="batch size B (log)", ylabel="milliseconds (log)")
    a.legend()
    a = ax[0, 1]
    small = [b for b in sizes if b < nb["n_train"]]  # at B = N the noise is 0 (measured: float rounding, ~1e-16)
    a.errorbar(
        small,
        [nb["noise"]["by_batch"][b]["measured"] for b in small],
        yerr=[nb["noise"]["by_batch"][b]["stderr"] for b in small],
        fmt="o",
        capsize=3,
        label="measured",
    )
    a.loglog(small, [nb["noise"]["by_batch"][b]["theory"] for b in small], "--", label="theory (N-B)/(N-1) tr(Sigma)/B")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set(title="Gradient noise at fixed weights", xlabel="batch size B (log)", ylabel="E||g_B - g||^2 (log)")
    a.legend()
    fig.suptitle(f"Batch size on the exam's CNN ({cfg.n_train:,} SVHN-like training images)")
    out = [save_into(out_dir, "batch_size_time_noise.png", fig, narrow=True)]

    fig, ax = new_figure(2, 1)
    a = ax[0, 0]
    for key, fmt, label in (("epochs", "o-", f"after {counted(cfg.epochs, 'epoch')}"),
                            ("budget", "s-", f"after {cfg.budget_s:g} CPU s"),
                            ("iterations", "^-", f"after {cfg.iterations} updates")):
        r = nb["ranking"][key]
        mean = 100 * np.asarray([r["mean"][b] for b in sizes])  # percent, as the table and the finding
        low = mean - 100 * np.asarray([r["worst"][b] for b in sizes])
        high = 100 * np.asarray([r["worst"][b] + r["spread"][b] for b in sizes]) - mean
        a.errorbar(s, mean, yerr=[low, high], fmt=fmt, capsize=3, label=label)
    a.set_xscale("log")
    a.set(title=f"Test accuracy, {len(cfg.seeds)} seeds",
          xlabel="batch size B (log)", ylabel="test accuracy (%)", ylim=(0, 100))
    a.legend()
    a = ax[0, 1]
    a.loglog(s, [nb["memory"][b]["saved_for_backward_mib"] for b in sizes], "o-", label="saved for backward")
    rss = [(b, nb["memory"][b]["peak_rss_growth_mib"]) for b in sizes if nb["memory"][b]["peak_rss_growth_mib"]]
    if rss:
        a.loglog([b for b, _ in rss], [m for _, m in rss], "s-", label="peak RSS growth of one step")
    a.set(title="Memory of one training step", xlabel="batch size B (log)", ylabel="MiB (log)")
    a.legend()
    fig.suptitle(f"Batch size on the exam's CNN: accuracy and memory ({cfg.n_train:,} SVHN-like training images)")
    out.append(save_into(out_dir, "batch_size_accuracy_memory.png", fig, narrow=True))
    return out
