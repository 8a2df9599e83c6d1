"""Problem 2.5 live: one step of gradient descent on Geoff's transformer, and which matrices moved.

The exam says W_Q, W_K and W_V "never change" under argmax attention. One SGD step,

    W <- W - lr * d loss / d W   for each chosen matrix,

shows what does: at T = 0 W_Q and W_K keep their values exactly (their gradient is zero) while W_V
and W_O move; at T = sqrt(d_k) all four move. :func:`gradient_step` is what the web page's
"gradient step" button calls; the step itself is :func:`dlexam.geoff.model.sgd_step`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dlexam.errors import BadValue, SettingsTogether
from dlexam.geoff.compare import GeoffQuery
from dlexam.geoff.model import PARAMETERS, applied_gradient, frobenius_norm, run_geoff, sgd_step
from dlexam.geoff.weights import GeoffWeights

STEPPABLE = ("E", *PARAMETERS)
DEFAULT_LR = 0.1  # the web page's, the API's and `dlexam geoff --explain`'s learning rate unless given
OUTPUT_NAMES = ("W_O", "multi_W_O")  # two names of one matrix, the output matrix (W_O with one head, multi_W_O with k)
STEP_NAMES = (*STEPPABLE, "multi_W_O")  # what a step's matrices may list


def matrix_names(name: str, value: Sequence[str], allowed: tuple[str, ...] = STEP_NAMES,
                 one: tuple[str, ...] = OUTPUT_NAMES, *, weights: GeoffWeights | None = None,
                 heads: int | None = None) -> tuple[str, ...]:
    """The matrix names `value` lists (each stripped), in `allowed`'s order; refused, naming the setting `name`: none,
    an empty item (text split at its commas, "E,,W_Q", keeps its empty items for this check), a name not allowed
    (with the nearest one), a name listed twice, two names of `one`, which name one matrix, and,
    given `weights` and `heads`, a matrix a run of `heads` heads does not use (multi_W_O with one head:
    :meth:`GeoffWeights.unused`).
    The one check of `dlexam geoff --step-matrices` and the API's `matrices` and `gradient_of` (serve.params.names):
    ["W_V", "W_V"] had been stepped as ["W_V"] and ["W_O", "multi_W_O"] as one of them, without a word."""
    names = [str(v).strip() for v in value]
    if not any(names):
        raise BadValue(name, value, f"must list some of {', '.join(allowed)}, got none")
    if not all(names):  # "E,,W_Q" or "W_V,": skipped without a word until 2026-12-07 (["E", "", "W_Q"]: "unknown ''")
        raise BadValue(name, value, f"has an empty item (two commas together, or a comma at an end): list some of "
                                    f"{', '.join(allowed)}")
    seen: list[str] = []
    for v in names:
        if v not in allowed:
            near = difflib.get_close_matches(v[:40], allowed, n=1, cutoff=0.6) or [
                a for a in allowed if a.lower() == v.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise SettingsTogether(f"{{{name}}}: unknown matrix {v!r:.40}{hint}; list some of {', '.join(allowed)}",
                                   {name: value})
        if v in seen:
            raise BadValue(name, value, f"lists {v} twice: list it once")
        if v in one and (other := next((s for s in seen if s in one), None)) is not None:
            raise SettingsTogether(f"{{{name}}}: {other} and {v} name one matrix (the output matrix: W_O with one "
                                   "head, multi_W_O with k): give one of them", {name: value})
        if weights is not None and heads is not None and (why := weights.unused(v, heads)) is not None:
            raise SettingsTogether(f"{{{name}}}: {why}: list W_O", {name: value})
        seen.append(v)
    return tuple(a for a in allowed if a in seen)


@dataclass(frozen=True)
class StepSettings:
    """What a gradient step takes besides its query: the learning rate and the matrices it moves (the page's "lr"
    and "E too"; :func:`gradient_step`'s `lr` and `matrices`). The explanations of a step's results use it."""

    lr: float = DEFAULT_LR
    matrices: tuple[str, ...] = PARAMETERS

    def run(self, query: GeoffQuery) -> GeoffStep:
        return gradient_step(query, self.lr, self.matrices)


@dataclass
class GeoffStep:
    """One SGD step: the weights before and after, each matrix's largest change, and the loss."""

    lr: float
    convention: str  # the loss the gradients differentiate
    before: GeoffWeights
    after: GeoffWeights
    change: dict[str, float]  # matrix -> max |after - before| (the output matrix: W_O, or multi_W_O with k heads)
    # matrix -> Frobenius norm of the gradient the step applies to it (identical heads: the sum of the heads';
    # model.applied_gradient), the same keys as `change`
    gradient_norms: dict[str, float]
    loss_before: float
    loss_after: float

    @property
    def moved(self) -> dict[str, bool]:
        return {name: change > 0 for name, change in self.change.items()}

    def to_json(self) -> dict:
        return {"lr": self.lr, "convention": self.convention, "weights": self.after.to_json(),
                "previous_weights": self.before.to_json(), "change": self.change, "moved": self.moved,
                "gradient_norms": self.gradient_norms, "loss_before": self.loss_before, "loss_after": self.loss_after}


def gradient_step(query: GeoffQuery, lr: float, matrices: tuple[str, ...] = PARAMETERS) -> GeoffStep:
    """One step of gradient descent on `matrices` of `query.weights`, on the loss of `query.sequence`
    under `query.convention` at `query.temperature` (identical heads share W_Q, W_K, W_V: their gradients add).

    "W_O" (or "multi_W_O") names the output matrix the model uses: W_O with one head, multi_W_O with k; the
    result keys it by that name in `change`, `gradient_norms` and the weights alike."""
    matrices = matrix_names("matrices", matrices, weights=query.weights, heads=query.heads)
    q = query
    run = dict(temperature=q.temperature, heads=q.heads, gradient_convention=q.convention)
    before = run_geoff(q.sequence, gradients=True, weights=q.weights, gradient_of=tuple(matrices), **run)
    after = sgd_step(q.weights, before.gradients, lr, q.heads)
    loss_after = run_geoff(q.sequence, loss=True, weights=after, **run).loss[q.convention]["value"]
    change = {}
    for name in before.gradients:
        if name in ("W_Q", "W_K", "W_V") and after.multi_heads is not None and q.heads != 1:
            i = ("W_Q", "W_K", "W_V").index(name)
            change[name] = max(float((torch.tensor(a[i]) - torch.tensor(b[i])).abs().max())
                               for a, b in zip(after.multi_heads, q.weights.multi_heads, strict=True))
            continue
        change[name] = float((after.tensor(name) - q.weights.tensor(name)).abs().max())
    return GeoffStep(lr=float(lr), convention=q.convention, before=q.weights, after=after, change=change,
                     gradient_norms={k: frobenius_norm(applied_gradient(q.weights, k, g))
                                     for k, g in before.gradients.items()},
                     loss_before=float(before.loss[q.convention]["value"]), loss_after=float(loss_after))
