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
from dlexam.figures import new_figure, save_into
from dlexam.files import OutputDir
from dlexam.geoff import exam_model
from dlexam.sorting.data import sample_inputs, teacher_forcing_batch
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.vocab import Vocabulary

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
D_K = 2
SCHEDULES = ("T = 0 (argmax)", "T = sqrt(d_k)", "annealed T")
VOCAB = Vocabulary.from_spec("A-D")  # the exam's A B C D <START> <STOP>, in the exam's order


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
    seed: int = 0

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


def train(cfg: AttentionTemperatureConfig, schedule: str, test_inputs, test_batch) -> dict:
    seed_everything(cfg.seed)
    model = exam_model(1, temperature=0.0, dtype=torch.float32)
    params = matrices(model)
    init = {k: v.detach().clone() for k, v in params.items()}
    opt = torch.optim.Adam(params.values(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed + 1)
    losses, temps, grad_norms, evals = [], [], {k: [] for k in params}, []
    for step in range(cfg.steps):
        T = temperature_at(schedule, step, cfg)
        loss = batch_loss(model, make_batch(*random_inputs(cfg.batch_size, cfg.max_len, g)), T)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for k, p in params.items():  # None: the parameter did not reach the loss at all
            grad_norms[k].append(0.0 if p.grad is None else p.grad.norm().item())
        opt.step()
        losses.append(loss.item())
        temps.append(T)
        if step % cfg.eval_every == 0 or step == cfg.steps - 1:
            with torch.no_grad():
                evals.append(
                    {
                        "step": step,
                        "T": T,
                        "test_loss": batch_loss(model, test_batch, T).item(),
                        "test_loss_T0": batch_loss(model, test_batch, 0.0).item(),
                    }
                )
    T_end = temps[-1]
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
    runs = {s: train(cfg, s, test_inputs, test_batch) for s in SCHEDULES}

    table = []
    for s, r in runs.items():
        row = {
            "training T": s,
            "test loss start": r["test_loss_start"],
            "test loss end": r["test_loss_end"],
            "greedy acc": r["greedy_accuracy"],
            "greedy acc @T=0": r["greedy_accuracy_T0"],
        }
        row.update({f"|d{k}|_F": r["moved"][k] for k in MATRICES})
        table.append(row)
    verdict, finding = _verdict(cfg, runs)
    figures = _figures(out_dir, cfg, runs)
    if quick:
        full = AttentionTemperatureConfig()
        finding = quick_note(
            f"{cfg.steps} Adam steps instead of {full.steps:,}, inputs of up to {cfg.max_len} symbols instead of "
            f"{full.max_len}",
            "that argmax gives W_Q and W_K exactly zero gradient while W_V moves holds at any length, but the "
            "losses and accuracies compared below come from a short run and do not rank the temperatures.",
        ) + finding
    return finish(
        out_dir, name=NAME, claim=CLAIM, claim_source=CLAIM_SOURCE, cfg=cfg, quick=quick, start=start,
        verdict=verdict,
        finding=finding,
        table=table,
        figures=figures,
        captions=_captions(cfg, runs),
        numbers={"runs": runs, "d_k": D_K},
        data=f"random inputs of 1-{cfg.max_len} symbols over A-D; target sorted(set(x)) + <STOP>",
    )


def _verdict(cfg: AttentionTemperatureConfig, runs: dict) -> tuple[str, str]:
    a, s, n = (runs[k] for k in SCHEDULES)
    qk_frozen = a["moved"]["W_Q"] == 0.0 and a["moved"]["W_K"] == 0.0
    v_moves = a["moved"]["W_V"] > 0.0
    learns_anyway = a["test_loss_end"] < a["test_loss_start"] - 0.05
    softmax_better = s["test_loss_end"] < a["test_loss_end"] and s["greedy_accuracy"] >= a["greedy_accuracy"]
    m = a["moved"]
    text = [
        f"Trained from the exam's weights for {cfg.steps} Adam steps. With T = 0 (argmax), W_Q and W_K "
        + (
            "moved by exactly 0 (their gradient is identically zero: P is piecewise constant in the scores)"
            if qk_frozen
            else f"moved by {m['W_Q']:.3g} and {m['W_K']:.3g}"
        )
        + f", but W_V moved by {m['W_V']:.3g}, W_O by {m['W_O']:.3g} and E by {m['E']:.3g} (Frobenius distance "
        f"from the start). So the exam's 'W_Q, W_K, W_V never change' is "
        + (
            "right for W_Q and W_K and wrong for W_V: Z = P V is linear in V = X W_V, so W_V gets a gradient."
            if qk_frozen and v_moves
            else "not what we observe."
        )
        + f" The argmax model's held-out loss went from {a['test_loss_start']:.3f} to {a['test_loss_end']:.3f}"
        + (" — it does learn something, through W_V, W_O and E" if learns_anyway else " — it barely learns")
        + f" (greedy exact-match accuracy {a['greedy_accuracy']:.0%}).",
        f"With T = sqrt(d_k) = {math.sqrt(D_K):.3f} all matrices move (W_Q {s['moved']['W_Q']:.3g}, W_K "
        f"{s['moved']['W_K']:.3g}) and the held-out loss reaches {s['test_loss_end']:.3f} (greedy accuracy "
        f"{s['greedy_accuracy']:.0%})"
        + (
            ", better than argmax: softmax attention fixes the 'W_Q, W_K never change' problem, as the exam says"
            if softmax_better
            else ", not better than argmax here"
        )
        + (
            "."
            if s["greedy_accuracy"] >= 0.9
            else "; but 'fixed' overstates it: this 1-layer, 4-dimensional model without positional encodings "
            f"still gets only {s['greedy_accuracy']:.0%} of whole held-out sequences right."
        )
        + f" The annealed run (T from {cfg.anneal_from:.2f} to {cfg.anneal_to:g}) ends at loss "
        f"{n['test_loss_end']:.3f} at its final T and {n['test_loss_end_T0']:.3f} when evaluated with argmax "
        f"(greedy accuracy {n['greedy_accuracy']:.0%} at its final T, {n['greedy_accuracy_T0']:.0%} with argmax).",
    ]
    gq = np.asarray(n["grad_norm"]["W_Q"])
    tenth = max(1, len(gq) // 10)
    first, last = float(np.median(gq[:tenth])), float(np.median(gq[-tenth:]))
    text.append(
        f"As the annealed T falls, W_Q's median gradient norm goes from {first:.2g} (first tenth of the steps) "
        f"to {last:.2g} (last tenth)"
        + (
            ": the softmax approaches argmax and its gradient with respect to the scores goes to 0 almost "
            "everywhere, with spikes where two scores nearly tie (there it grows like 1/T)."
            if last < first / 10
            else "; at this final T the gradient has not yet collapsed."
        )
    )
    if qk_frozen and v_moves and softmax_better:
        verdict = "partly supported"
    elif qk_frozen and not v_moves:
        verdict = "supported"
    else:
        verdict = "not supported"
    return verdict, " ".join(text)


def _captions(cfg: AttentionTemperatureConfig, runs: dict) -> dict[str, dict[str, str]]:
    """Each figure's alt text (what the image shows) and caption (what it tells), from the runs."""
    schedules = ", ".join(SCHEDULES)
    argmax, annealed = runs[SCHEDULES[0]], runs[SCHEDULES[-1]]
    frozen = [k for k in ("W_Q", "W_K") if not argmax["grad_ever_nonzero"][k]]
    gq = np.asarray(annealed["grad_norm"]["W_Q"])
    tenth = max(1, len(gq) // 10)
    return {
        "attention_temperature_loss.png": {
            "alt": f"Two line charts against the Adam step (0 to {cfg.steps}), one line per training temperature "
                   f"({schedules}): the training loss (moving average), and the held-out loss at the run's own T "
                   "and evaluated at T = 0.",
            "caption": "Held-out loss from start to end: " + "; ".join(
                f"{s} {r['test_loss_start']:.3f} to {r['test_loss_end']:.3f} (greedy exact match "
                f"{r['greedy_accuracy']:.0%})" for s, r in runs.items()) + ".",
        },
        "attention_temperature_movement.png": {
            "alt": f"Grouped bar chart of how far each of {', '.join(MATRICES)} moved from its start (Frobenius "
                   f"distance), one bar per training temperature ({schedules}); a bar of exactly 0 is labelled 0.",
            "caption": "Distance moved: " + "; ".join(
                f"{s}: " + ", ".join(f"{k} {r['moved'][k]:.3g}" for k in MATRICES) for s, r in runs.items()) + ".",
        },
        "attention_temperature_gradients.png": {
            "alt": f"Three line charts, one per training temperature ({schedules}), of the gradient norms of W_Q, "
                   "W_K, W_V and W_O (log scale) against the Adam step; exactly zero is drawn at 1e-12.",
            "caption": (f"Under {SCHEDULES[0]}, {' and '.join(frozen)} get exactly zero gradient at every step"
                        if frozen else f"Under {SCHEDULES[0]} every matrix gets a gradient")
                       + f"; in the annealed run W_Q's median gradient norm goes from {np.median(gq[:tenth]):.2g} "
                         f"(first tenth of the steps) to {np.median(gq[-tenth:]):.2g} (last tenth).",
        },
    }


def _figures(out_dir: OutputDir, cfg: AttentionTemperatureConfig, runs: dict) -> list[str]:
    colors = dict(zip(SCHEDULES, ("tab:red", "tab:blue", "tab:green"), strict=True))
    fig, ax = new_figure(2, 1)
    for s, r in runs.items():
        loss = np.asarray(r["train_loss"])
        k = max(1, len(loss) // 40)
        ax[0, 0].plot(
            np.arange(k, len(loss) + 1), np.convolve(loss, np.ones(k) / k, mode="valid"), color=colors[s], label=s
        )
        steps = [e["step"] for e in r["evals"]]
        ax[0, 1].plot(steps, [e["test_loss"] for e in r["evals"]], "-", color=colors[s], label=f"{s}: at its T")
        if s != SCHEDULES[0]:
            ax[0, 1].plot(
                steps, [e["test_loss_T0"] for e in r["evals"]], ":", color=colors[s], label=f"{s}: evaluated at T = 0"
            )
    ax[0, 0].set(title="Training loss (moving average)", xlabel="Adam step", ylabel="cross-entropy per token")
    ax[0, 1].set(title="Held-out loss", xlabel="Adam step", ylabel="cross-entropy per token")
    for a in ax[0]:
        a.legend(fontsize=8)
    fig.suptitle("Geoff's model trained from the exam's weights at three temperatures (Problem 2.5)")
    out = [save_into(out_dir, "attention_temperature_loss.png", fig, narrow=True)]

    fig, ax = new_figure(1, 1, width=6.0)
    x = np.arange(len(MATRICES))
    w = 0.27
    for i, (s, r) in enumerate(runs.items()):
        vals = [r["moved"][k] for k in MATRICES]
        bars = ax[0, 0].bar(x + (i - 1) * w, vals, w, color=colors[s], label=s)
        ax[0, 0].bar_label(bars, labels=["0" if v == 0 else "" for v in vals], fontsize=8)
    ax[0, 0].set_xticks(x, MATRICES)
    ax[0, 0].set(title="How far each matrix moved", xlabel="parameter", ylabel="||W_end - W_init||_F")
    ax[0, 0].legend(fontsize=8)
    out.append(save_into(out_dir, "attention_temperature_movement.png", fig, narrow=True))

    fig, ax = new_figure(3, 1, width=4.4)
    styles = {"W_Q": "-", "W_K": "--", "W_V": "-", "W_O": ":"}
    line_colors = {"W_Q": "tab:red", "W_K": "tab:orange", "W_V": "tab:blue", "W_O": "tab:gray"}
    for j, (s, r) in enumerate(runs.items()):
        a = ax[0, j]
        for k in ("W_Q", "W_K", "W_V", "W_O"):
            gn = np.asarray(r["grad_norm"][k])
            w = max(1, len(gn) // 60)
            smooth = np.maximum(np.convolve(gn, np.ones(w) / w, mode="valid"), 1e-12)
            a.semilogy(np.arange(w, len(gn) + 1), smooth, styles[k], color=line_colors[k], label=k)
        a.set(title=s, xlabel="Adam step", ylabel="||dL/dW||_F, moving average (log)", ylim=(5e-13, None))
        a.legend(fontsize=8)
    fig.suptitle("Gradient norms during training (1e-12 on the plot = exactly zero)")
    out.append(save_into(out_dir, "attention_temperature_gradients.png", fig, narrow=True))
    return out
