"""Problems 2.2 and 2.5: train Geoff's model with argmax attention (T = 0), softmax (T = sqrt(d_k)) and
an annealed T, and watch which of W_Q, W_K, W_V, W_O move.

The model is the exam's (:func:`dlexam.geoff.exam_model`: the project's one transformer, 1 layer, 1
head, d_model 4, d_head 2, no positional encodings, no feed-forward, no residual, tied E), started
from the exam's weights and trained on the dedup-and-sort task with standard teacher forcing
(the row of token t predicts token t+1; the loss covers the tokens after <START>). Its batches and
its greedy decoding are the sorting package's (:mod:`dlexam.sorting.data`, :mod:`dlexam.sorting.decode`):
the exam's vocabulary is A-D there, with the same token ids. Every
parameter (W_Q, W_K, W_V, W_O and E) is trained with Adam (no weight decay, so a parameter whose
gradient is always zero cannot move).

Problem 2.5 claims that under argmax "the projection matrices W_Q, W_K, W_V never change". The
attention weights P = argmax(Q K^T) are piecewise constant in Q and K, so W_Q and W_K indeed get no
gradient; but Z = P V is linear in V = X W_V, so W_V (and W_O, and E) do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from dlexam.experiments.results import finish, quick_note, seed_everything
from dlexam.figures import COLOURS, GREY, legend_below, new_figure, save_into, series_style, staggered
from dlexam.files import OutputDir
from dlexam.geoff import exam_model
from dlexam.geoff.compare import FROZEN_CLAIM, frozen_claim
from dlexam.sorting.data import sample_inputs, teacher_forcing_batch
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary
from dlexam.spec import VERSION_A
from dlexam.words import counted, mean_of

NAME = "attention-temperature"
FIGURES = (  # the figures run() writes into its output folder
    "attention_temperature_loss.png",
    "attention_temperature_movement.png",
    "attention_temperature_gradients.png",
)
CLAIM_SOURCE = "Problem 2.5 (question and worked solution); Problem 2.2 for T"
CLAIM = (
    "After running a few epochs of gradient descent, John notices that the model is not learning "
    "anything. The projection matrices W_Q, W_K, W_V never change. [...] The argmax attention has zero "
    "gradient, therefore the projection matrices are never updated in the gradient backpropagation "
    "algorithm. The problem would be fixed by using the usual softmax attention with temperature T = sqrt(d)."
)
MATRICES = ("W_Q", "W_K", "W_V", "W_O", "E")
D_K = VERSION_A.transformer.d_head  # the exam's model's key width
SCHEDULES = ("T = 0 (argmax)", "T = sqrt(d_k)", "annealed T")
# how much of the exam's answer the runs bear out (geoff.compare.frozen_claim), in the experiments' words
CLAIM_VERDICTS = {"all": "supported", "part": "partly supported", "none": "not supported"}
VOCAB = Vocabulary.from_spec(EXAM_VOCAB)  # the exam's A B C D <START> <STOP>, in the exam's order


@dataclass
class AttentionTemperatureConfig:
    max_len: int = 8  # input sequences have 1..max_len symbols from {A, B, C, D}
    steps: int = 1500
    batch_size: int = 64
    lr: float = 0.02  # Adam, no weight decay
    anneal_from: float = math.sqrt(D_K)  # annealed T: geometric from sqrt(d_k) ...
    anneal_to: float = 0.02  # ... to this at the last step
    n_test: int = 500  # held-out sequences (fixed generator) for loss and greedy accuracy
    eval_every: int = 50
    seed: int = 0  # the held-out set (the same for every training seed)
    # The training runs' seeds: every run starts from the exam's weights, so a seed chooses the batches it sees.
    seeds: tuple[int, ...] = (0, 1, 2)

    @classmethod
    def quick(cls) -> AttentionTemperatureConfig:
        return cls(max_len=5, steps=200, n_test=200, eval_every=25)


def temperature_at(schedule: str, step: int, cfg: AttentionTemperatureConfig) -> float:
    if schedule == SCHEDULES[0]:
        return 0.0
    if schedule == SCHEDULES[1]:
        return math.sqrt(D_K)
    frac = step / max(1, cfg.steps - 1)
    return cfg.anneal_from * (cfg.anneal_to / cfg.anneal_from) ** frac


def random_inputs(n: int, max_len: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` random inputs of 1..max_len symbols over A-D: (tokens (n, max_len) right-padded, lengths (n,))."""
    return sample_inputs(g, n, VOCAB.n_symbols, 1, max_len)


def make_batch(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forcing batch of "x <START> sorted(set(x)) <STOP>": (tokens, pad_mask, next-token targets)."""
    return teacher_forcing_batch(tokens, lengths, VOCAB)


def batch_loss(model, batch, temperature: float) -> torch.Tensor:
    tokens, pad, targets = batch
    logits = model(tokens, pad, temperature=temperature)  # (B, T, 6)
    flat = logits.reshape(-1, logits.shape[-1])  # (B*T, 6)
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=-100)  # targets (B*T,), -100 = not scored


@torch.no_grad()
def greedy_accuracy(model, inputs: tuple[torch.Tensor, torch.Tensor], temperature: float) -> float:
    """Fraction of inputs whose greedy decoding is exactly sorted(set(x)) followed by <STOP>."""
    tokens, lengths = inputs
    xs = [row[:n] for row, n in zip(tokens.tolist(), lengths.tolist(), strict=True)]
    decoded = greedy_decode(model, VOCAB, xs, temperature=temperature)
    correct = sum(stopped and y == sorted(set(x)) for x, y, stopped in zip(xs, decoded.outputs, decoded.stopped,
                                                                            strict=True))
    return correct / len(xs)


def matrices(model) -> dict[str, torch.Tensor]:
    layer = model.layers[0]
    return {"W_Q": layer.W_Q, "W_K": layer.W_K, "W_V": layer.W_V, "W_O": layer.W_O, "E": model.E}


def train(cfg: AttentionTemperatureConfig, schedule: str, test_inputs, test_batch, seed: int = 0) -> dict:
    seed_everything(seed)
    model = exam_model(1, temperature=0.0, dtype=torch.float32)
    params = matrices(model)
    init = {k: v.detach().clone() for k, v in params.items()}
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    g = torch.Generator().manual_seed(seed + 1)
    losses, temps, grad_norms, evals = [], [], {k: [] for k in params}, []

    @torch.no_grad()
    def evaluate(step: int, T: float) -> dict:  # the model after `step` Adam steps: step 0 is the exam's weights
        return {"step": step, "T": T, "test_loss": batch_loss(model, test_batch, T).item(),
                "test_loss_T0": batch_loss(model, test_batch, 0.0).item()}

    for step in range(cfg.steps):
        T = temperature_at(schedule, step, cfg)
        if step % cfg.eval_every == 0:
            evals.append(evaluate(step, T))
        loss = batch_loss(model, make_batch(*random_inputs(cfg.batch_size, cfg.max_len, g)), T)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for k, p in params.items():  # None: the parameter did not reach the loss at all
            grad_norms[k].append(0.0 if p.grad is None else p.grad.norm().item())
        opt.step()
        losses.append(loss.item())
        temps.append(T)
    T_end = temps[-1]
    evals.append(evaluate(cfg.steps, T_end))
    moved = {k: (params[k].detach() - init[k]).norm().item() for k in params}
    with torch.no_grad():
        start_loss = batch_loss(exam_model(1, 0.0, torch.float32), test_batch, temperature_at(schedule, 0, cfg)).item()
        return {
            "train_loss": losses,
            "temperature": temps,
            "grad_norm": grad_norms,
            "evals": evals,
            "moved": moved,
            "grad_ever_nonzero": {k: bool(max(v) > 0) for k, v in grad_norms.items()},
            "test_loss_start": start_loss,
            "test_loss_end": batch_loss(model, test_batch, T_end).item(),
            "test_loss_end_T0": batch_loss(model, test_batch, 0.0).item(),
            "greedy_accuracy": greedy_accuracy(model, test_inputs, T_end),
            "greedy_accuracy_T0": greedy_accuracy(model, test_inputs, 0.0),
            "final_temperature": T_end,
        }


def run(out_dir: OutputDir, quick: bool = False) -> dict:
    cfg = AttentionTemperatureConfig.quick() if quick else AttentionTemperatureConfig()
    start = time.perf_counter()
    test_inputs = random_inputs(cfg.n_test, cfg.max_len, torch.Generator().manual_seed(10_000 + cfg.seed))
    test_batch = make_batch(*test_inputs)
    runs = {s: [train(cfg, s, test_inputs, test_batch, seed) for seed in cfg.seeds] for s in SCHEDULES}

    table = []
    for s, rs in runs.items():
        row = {
            "training T": s,
            "test loss start": rs[0]["test_loss_start"],  # the exam's weights: the same for every seed
            "test loss end worst": max(r["test_loss_end"] for r in rs),
            "test loss end": _mean(rs, "test_loss_end"),
            "greedy acc % worst": 100 * min(r["greedy_accuracy"] for r in rs),  # percent, as the finding says
            "greedy acc %": 100 * _mean(rs, "greedy_accuracy"),
            "greedy acc % @T=0": 100 * _mean(rs, "greedy_accuracy_T0"),
        }
        row.update({f"|d{k}|_F": float(np.mean([r["moved"][k] for r in rs])) for k in MATRICES})
        table.append(row)
    verdict, finding = _verdict(cfg, runs)
    figures = _figures(out_dir, cfg, runs)
    if quick:
        full = AttentionTemperatureConfig()
        finding = quick_note(
            f"{cfg.steps} Adam steps instead of {full.steps:,}, inputs of up to {cfg.max_len} symbols instead of "
            f"{full.max_len}",
            "that argmax gives W_Q and W_K exactly zero gradient while W_V moves holds at any length; the losses "
            "and accuracies below compare the temperatures, seed against seed, after this short run only, far "
            "from where the full run's training ends.",
        ) + finding
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(cfg, runs),
        numbers={"runs": runs, "seeds": list(cfg.seeds), "d_k": D_K},
        data=f"random inputs of 1-{cfg.max_len} symbols over A-D; target sorted(set(x)) + <STOP>",
    )


def _mean(rs: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rs]))


def _pct(fraction: float) -> str:
    """An accuracy as the table shows it: a percentage to 0.1 point (200 held-out sequences differ by 0.5)."""
    return f"{100 * fraction:.1f}%"


def _moved(rs: list[dict], k: str) -> float:
    return float(np.mean([r["moved"][k] for r in rs]))


def _verdict(cfg: AttentionTemperatureConfig, runs: dict) -> tuple[str, str]:
    """The verdict and finding from every seed's runs (`runs`: schedule -> one run per seed, paired by seed:
    the same seed trains on the same batches). A claim about a comparison holds only where every seed shows it."""
    a, s, n = (runs[k] for k in SCHEDULES)
    k = len(a)
    qk_frozen = all(r["moved"]["W_Q"] == 0.0 and r["moved"]["W_K"] == 0.0 for r in a)
    v_moves = all(r["moved"]["W_V"] > 0.0 for r in a)
    learns_anyway = all(r["test_loss_end"] < r["test_loss_start"] - 0.05 for r in a)
    better = [sr["test_loss_end"] < ar["test_loss_end"] and sr["greedy_accuracy"] >= ar["greedy_accuracy"]
              for ar, sr in zip(a, s, strict=True)]
    softmax_better = k >= 2 and all(better)  # one seed cannot tell a lead from what another seed would change

    def worst_loss(rs):
        return max(r["test_loss_end"] for r in rs)

    def worst_acc(rs):
        return min(r["greedy_accuracy"] for r in rs)

    seeds = f"{k} seeds" if k > 1 else "1 seed"
    text = [
        f"Trained from the exam's weights for {cfg.steps} Adam steps, once per seed ({seeds}: the batches differ; "
        "numbers are worst seed first, then the mean). With T = 0 (argmax), W_Q and W_K "
        + (
            "moved by exactly 0 in every seed (their gradient is identically zero: P is piecewise constant in the "
            "scores)"
            if qk_frozen
            else f"moved by {_moved(a, 'W_Q'):.3g} and {_moved(a, 'W_K'):.3g} (mean)"
        )
        + f", but W_V moved by {min(r['moved']['W_V'] for r in a):.3g} at least (mean {_moved(a, 'W_V'):.3g}), "
        f"W_O by {_moved(a, 'W_O'):.3g} and E by {_moved(a, 'E'):.3g} (mean Frobenius distance from the start). "
        "So the exam's 'W_Q, W_K, W_V never change' is "
        + (
            "right for W_Q and W_K and wrong for W_V: Z = P V is linear in V = X W_V, so W_V gets a gradient."
            if qk_frozen and v_moves
            else "not what we observe."
        )
        + f" The argmax model's held-out loss went from {a[0]['test_loss_start']:.3f} to {worst_loss(a):.3f} "
        f"(worst seed; mean {_mean(a, 'test_loss_end'):.3f})"
        + (" — it does learn something, through W_V, W_O and E" if learns_anyway else " — it barely learns")
        + f" (greedy exact-match accuracy {_pct(worst_acc(a))} worst, {_pct(_mean(a, 'greedy_accuracy'))} mean).",
        f"With T = sqrt(d_k) = {math.sqrt(D_K):.3f} {_moving(s)} (mean W_Q {_moved(s, 'W_Q'):.3g}, W_K "
        f"{_moved(s, 'W_K'):.3g}) and the held-out loss reaches {worst_loss(s):.3f} worst, "
        f"{_mean(s, 'test_loss_end'):.3f} mean (greedy accuracy {_pct(worst_acc(s))} worst, "
        f"{_pct(_mean(s, 'greedy_accuracy'))} mean)"
        + (
            f", better than argmax in every one of the {k} seeds (lower loss, greedy accuracy at least as high, "
            "seed against seed): softmax attention fixes the 'W_Q, W_K never change' problem, as the exam says"
            if softmax_better
            else f", better than argmax in {sum(better)} of {counted(k, 'seed')} only: the seeds do not bear out a lead"
            if k >= 2
            else ": one seed cannot tell a lead over argmax from what another seed would change"
        )
        + (
            "."
            if worst_acc(s) >= 0.9
            else f"; but 'fixed' overstates it: this 1-layer, {VERSION_A.transformer.d_model}-dimensional model "
            "without positional encodings "
            f"still gets only {_pct(worst_acc(s))} (worst seed) of whole held-out sequences right."
        )
        + f" The annealed run (T from {cfg.anneal_from:.2f} to {cfg.anneal_to:g}) ends at loss "
        f"{worst_loss(n):.3f} worst, {_mean(n, 'test_loss_end'):.3f} mean at its final T and "
        f"{_mean(n, 'test_loss_end_T0'):.3f} mean when evaluated with argmax (greedy accuracy "
        f"{_pct(worst_acc(n))} worst, {_pct(_mean(n, 'greedy_accuracy'))} mean at its final T; "
        f"{_pct(_mean(n, 'greedy_accuracy_T0'))} mean with argmax).",
    ]
    firsts, lasts = zip(*(_median_tenths(r["grad_norm"]["W_Q"]) for r in n), strict=True)
    collapsed = all(last < first / 10 for first, last in zip(firsts, lasts, strict=True))
    text.append(
        f"As the annealed T falls, W_Q's median gradient norm goes from {min(firsts):.2g}-{max(firsts):.2g} "
        f"(first tenth of the steps, over the seeds) to {min(lasts):.2g}-{max(lasts):.2g} (last tenth)"
        + (
            ": the softmax approaches argmax and its gradient with respect to the scores goes to 0 almost "
            "everywhere, with spikes where two scores nearly tie (there it grows like 1/T)."
            if collapsed
            else "; at this final T the gradient has not collapsed in every seed."
        )
    )
    # the one judgement of the exam's answer (geoff.compare.frozen_claim, which the answer key's Pr2.5 words too):
    # the matrices argmax left unmoved in every seed, and whether softmax attention set it right
    frozen = [m for m in FROZEN_CLAIM if all(r["moved"][m] == 0.0 for r in a)]
    held = frozen_claim(frozen, softmax_better)
    # one seed cannot say whether softmax fixes it (softmax_better needs two): "part" there may be a seed's chance
    verdict = "inconclusive" if k < 2 and frozen else CLAIM_VERDICTS[held]
    return verdict, " ".join(text)


def _moving(runs: list[dict]) -> str:
    """Which matrices a schedule's runs moved: "all matrices move" only where every one moved in every seed."""
    still = {m: sum(r["moved"][m] == 0.0 for r in runs) for m in MATRICES}
    if not any(still.values()):
        return "all matrices move"
    return "; ".join(f"{m} stayed put in {k} of {counted(len(runs), 'seed')}" for m, k in still.items() if k)


def _median_tenths(grad_norms: list[float]) -> tuple[float, float]:
    """The median of a run's gradient norms over its first tenth of the steps and over its last tenth."""
    g = np.asarray(grad_norms)
    tenth = max(1, len(g) // 10)
    return float(np.median(g[:tenth])), float(np.median(g[-tenth:]))


def _captions(cfg: AttentionTemperatureConfig, runs: dict) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the runs: the curves are
    the first seed's, the distances moved every seed's."""
    schedules = ", ".join(SCHEDULES)
    first = {s: rs[0] for s, rs in runs.items()}
    annealed = first[SCHEDULES[-1]]
    frozen = [k for k in ("W_Q", "W_K") if not any(r["grad_ever_nonzero"][k] for r in runs[SCHEDULES[0]])]
    g_first, g_last = _median_tenths(annealed["grad_norm"]["W_Q"])
    seed, n = cfg.seeds[0], len(cfg.seeds)
    return {
        "attention_temperature_loss.png": {
            "alt": f"Two line charts against the Adam step (0 to {cfg.steps}) for seed {seed}, one line per training "
                   f"temperature ({schedules}): the training loss (moving average), and the held-out loss at the "
                   "run's own T and evaluated at T = 0.",
            "caption": f"Held-out loss from start to end (seed {seed}): " + "; ".join(
                f"{s} {r['test_loss_start']:.3f} to {r['test_loss_end']:.3f} (greedy exact match "
                f"{_pct(r['greedy_accuracy'])})" for s, r in first.items()) + ".",
        },
        "attention_temperature_movement.png": {
            "alt": f"Grouped bar chart of how far each of {', '.join(MATRICES)} moved from its start (Frobenius "
                   f"distance, {mean_of(n, 'seed')}{' with bars from the least to the most' if n > 1 else ''}), "
                   "one bar per "
                   f"training temperature ({schedules}); a bar of exactly 0 in every seed is labelled 0.",
            "caption": f"Distance moved ({mean_of(n, 'seed')}): " + "; ".join(
                f"{s}: " + ", ".join(f"{k} {_moved(rs, k):.3g}" for k in MATRICES) for s, rs in runs.items()) + ".",
        },
        "attention_temperature_gradients.png": {
            "alt": f"Three line charts for seed {seed}, one per training temperature ({schedules}), of the gradient "
                   "norms of W_Q, W_K, W_V and W_O (log scale) against the Adam step; exactly zero is drawn at 1e-12.",
            "caption": (f"Under {SCHEDULES[0]}, {' and '.join(frozen)} get exactly zero gradient at every step of "
                        f"every seed" if frozen else f"Under {SCHEDULES[0]} every matrix gets a gradient")
                       + f"; in the annealed run (seed {seed}) W_Q's median gradient norm goes from {g_first:.2g} "
                         f"(first tenth of the steps) to {g_last:.2g} (last tenth).",
        },
    }


HATCHES = ("", "///", "...")  # the schedules' bars, told apart without their colours


def _figures(out_dir: OutputDir, cfg: AttentionTemperatureConfig, all_runs: dict) -> list[str]:
    """The curves of the first seed; the distances moved of every seed (mean, bars from the least to the most)."""
    runs = {s: rs[0] for s, rs in all_runs.items()}
    seed = cfg.seeds[0]
    # a colour and a marker per schedule: the sqrt(d_k) and annealed curves lie on each other for most of a run
    styles = {s: series_style(i) for i, s in enumerate(SCHEDULES)}
    colors = {s: style["color"] for s, style in styles.items()}
    fig, ax = new_figure(2, 1)
    for s, r in runs.items():
        loss = np.asarray(r["train_loss"])
        k = max(1, len(loss) // 40)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax[0, 0].plot(np.arange(k, len(loss) + 1), smooth, **styles[s], ms=4,
                      markevery=staggered(SCHEDULES.index(s), len(SCHEDULES), len(smooth)), label=s)
        steps = [e["step"] for e in r["evals"]]
        ax[0, 1].plot(steps, [e["test_loss"] for e in r["evals"]], "-", **styles[s], ms=4, label=f"{s}: at its T")
        if s != SCHEDULES[0]:
            ax[0, 1].plot(steps, [e["test_loss_T0"] for e in r["evals"]], ":", **styles[s], ms=4, fillstyle="none",
                          label=f"{s}: evaluated at T = 0")
    ax[0, 0].set(title="Training loss (moving average)", xlabel="Adam step", ylabel="cross-entropy (nats per token)")
    ax[0, 1].set(title="Held-out loss", xlabel="Adam step", ylabel="cross-entropy (nats per token)")
    for a in ax[0]:
        a.legend(fontsize=8)
    fig.suptitle(f"Geoff's model trained from the exam's weights at three temperatures (Problem 2.5; seed {seed})")
    out = [save_into(out_dir, "attention_temperature_loss.png", fig, narrow=True)]

    fig, ax = new_figure(1, 1, width=6.0)
    x = np.arange(len(MATRICES))
    w = 0.27
    n = len(cfg.seeds)
    for i, (s, rs) in enumerate(all_runs.items()):
        moved = np.asarray([[r["moved"][k] for k in MATRICES] for r in rs])  # (seeds, matrices)
        vals = moved.mean(0)
        bars = ax[0, 0].bar(x + (i - 1) * w, vals, w, color=colors[s], label=s, hatch=HATCHES[i], edgecolor="white",
                            yerr=[vals - moved.min(0), moved.max(0) - vals] if n > 1 else None, capsize=2)
        ax[0, 0].bar_label(bars, labels=["0" if v == 0 else "" for v in moved.max(0)], fontsize=8)
    ax[0, 0].set_xticks(x, MATRICES)
    spread = f"mean of {n} seeds, bars from the least to the most" if n > 1 else "1 seed"
    ax[0, 0].set(title=f"How far each matrix moved ({spread})", xlabel="parameter", ylabel="||W_end - W_init||_F")
    legend_below(ax[0, 0], fontsize=8)  # inside, at loc="best", it can cover a bar when the matrices move alike
    out.append(save_into(out_dir, "attention_temperature_movement.png", fig, narrow=True))

    fig, ax = new_figure(3, 1, width=4.4)
    styles = {"W_Q": "-", "W_K": "--", "W_V": "-.", "W_O": ":"}  # W_V had W_Q's solid line, apart by colour alone
    line_colors = {"W_Q": COLOURS[1], "W_K": COLOURS[4], "W_V": COLOURS[0], "W_O": GREY}
    for j, (s, r) in enumerate(runs.items()):
        a = ax[0, j]
        for k in ("W_Q", "W_K", "W_V", "W_O"):
            gn = np.asarray(r["grad_norm"][k])
            w = max(1, len(gn) // 60)
            smooth = np.maximum(np.convolve(gn, np.ones(w) / w, mode="valid"), 1e-12)
            a.semilogy(np.arange(w, len(gn) + 1), smooth, styles[k], color=line_colors[k], label=k)
        a.set(title=s, xlabel="Adam step", ylabel="||dL/dW||_F, moving average (log)", ylim=(5e-13, None))
        a.legend(fontsize=8)
    fig.suptitle(f"Gradient norms during training, seed {seed} (1e-12 on the plot = exactly zero)")
    out.append(save_into(out_dir, "attention_temperature_gradients.png", fig, narrow=True))
    return out
