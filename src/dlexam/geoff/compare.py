"""Problems 2.4 and 2.5 computed once, for every view: two identical heads, and which gradients vanish.

:func:`compare_heads` (Problem 2.4) and :func:`compare_gradients` (Problem 2.5) run
:func:`dlexam.geoff.model.run_geoff` and compare; :func:`analyse` (a :class:`GeoffQuery` in, a
:class:`GeoffReport` out) is what `dlexam geoff`, the web page and its JSON API show. The answer key
(:mod:`dlexam.answers.problem2`) and the report's Geoff section consume these same result objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlexam.attention import Temperature
from dlexam.geoff.model import (
    EXAM_EXAMPLE,
    EXAM_WEIGHTS,
    GRADIENT_EXPLANATION,
    PARAMETERS,
    GeoffResult,
    GeoffWeights,
    run_geoff,
    vanishing_gradients,
)

# ---- Problem 2.4: two identical heads ----------------------------------------------------------

@dataclass
class HeadsComparison:
    """Problem 2.4: the one-head model next to two identical heads whose concatenation meets W_O = I_4."""

    one: GeoffResult
    two: GeoffResult
    same_R: bool  # is R the same with two heads? (the exam says yes)
    columns_swapped: bool  # is the two-head R the one-head R with columns A<->B, C<->D swapped?
    R_difference: float  # max |R_two - R_one|
    swapped_difference: float  # max |R_two - R_one[:, [1, 0, 3, 2]]|
    effective_W_O: torch.Tensor  # (2, 4): two identical heads with W_O' act as one head with W_O'[:2] + W_O'[2:]
    equivalence_error: float  # max |Z (W_O'[:2] + W_O'[2:]) - R_two|
    reproducing_error: float  # max error of [Z Z] [W_O; 0] and [Z Z] [W_O/2; W_O/2] against the one-head R

    @property
    def identical(self) -> bool:
        """R and both losses are the same with one and two heads."""
        return self.same_R and all(
            abs(float(self.one.loss[c]["value"]) - float(self.two.loss[c]["value"])) < 1e-12 for c in self.one.loss
        )

    def to_json(self) -> dict:
        return {"same_R": self.same_R, "identical": self.identical, "columns_swapped": self.columns_swapped,
                "R_difference": self.R_difference, "swapped_difference": self.swapped_difference,
                "effective_W_O": self.effective_W_O.tolist(), "equivalence_error": self.equivalence_error,
                "reproducing_error": self.reproducing_error}


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def compare_heads(
    sequence: str | list[str] = EXAM_EXAMPLE,
    *,
    temperature: Temperature = 0.0,
    weights: GeoffWeights = EXAM_WEIGHTS,
    **run_options,
) -> HeadsComparison:
    """Problem 2.4: run one head and two identical heads and compare R (and the losses).

    `run_options` (loss, gradients, gradient_convention) go to both :func:`run_geoff` calls.
    """
    one = run_geoff(sequence, temperature=temperature, heads=1, weights=weights, **run_options)
    two = run_geoff(sequence, temperature=temperature, heads=2, weights=weights, **run_options)
    W_O1 = weights.tensor("W_O")  # (2, 4)
    W_O2 = weights.tensor("W_O_two_heads")  # (4, 4)
    z_cat = torch.cat([two.Z[0], two.Z[1]], dim=-1)  # [Z Z]: (T, 4)
    effective = W_O2[:2] + W_O2[2:]  # (2, 4)
    reproduce = max(_maxdiff(z_cat @ torch.cat([W_O1, torch.zeros_like(W_O1)]), one.R),
                    _maxdiff(z_cat @ torch.cat([W_O1 / 2, W_O1 / 2]), one.R))
    swapped = one.R[:, [1, 0, 3, 2]]  # columns A<->B, C<->D
    difference, swapped_difference = _maxdiff(two.R, one.R), _maxdiff(two.R, swapped)
    return HeadsComparison(
        one=one, two=two, same_R=difference < 1e-12, columns_swapped=swapped_difference < 1e-12,
        R_difference=difference, swapped_difference=swapped_difference, effective_W_O=effective,
        equivalence_error=_maxdiff(one.Z @ effective, two.R), reproducing_error=reproduce,
    )


# ---- Problem 2.5: which gradients vanish ---------------------------------------------------------

GRADIENT_TEMPERATURES = (("T=0 (argmax)", 0.0), ("T=sqrt(d_k)", "sqrt"))


@dataclass
class GradientComparison:
    """Problem 2.5: the gradients at argmax attention (T = 0) next to softmax at T = sqrt(d_k)."""

    convention: str
    results: dict[str, GeoffResult]  # label -> the run with its gradients
    norms: dict[str, dict[str, float]]  # label -> parameter -> Frobenius norm of the gradient
    vanishes: dict[str, dict[str, bool]]  # label -> parameter -> the gradient is exactly zero

    def frozen(self, label: str) -> list[str]:
        return [name for name, zero in self.vanishes[label].items() if zero]

    def to_json(self) -> dict:
        return {label: {"norms": self.norms[label], "vanishes": self.vanishes[label]} for label in self.results}


def compare_gradients(
    sequence: str | list[str] = EXAM_EXAMPLE,
    *,
    heads: int = 1,
    convention: str = "teacher_forcing",
    weights: GeoffWeights = EXAM_WEIGHTS,
) -> GradientComparison:
    """Problem 2.5: gradients of the loss under `convention` at T = 0 and at T = sqrt(d_k)."""
    results = {label: run_geoff(sequence, temperature=t, heads=heads, gradients=True,
                                gradient_convention=convention, weights=weights)
               for label, t in GRADIENT_TEMPERATURES}
    return GradientComparison(
        convention=convention, results=results,
        norms={label: {k: float(g.norm()) for k, g in r.gradients.items()} for label, r in results.items()},
        vanishes={label: vanishing_gradients(r) for label, r in results.items()},
    )


# ---- the command group's entry point ----------------------------------------------------------

@dataclass(frozen=True)
class GeoffQuery:
    """What `dlexam geoff` (and the web page's /api/geoff) is asked."""

    sequence: str = EXAM_EXAMPLE
    temperature: Temperature = 0.0  # 0 = argmax; a number T > 0; "sqrt" = sqrt(d_k)
    heads: int = 1  # 2 = Problem 2.4, shown next to the one-head model
    loss: bool | None = None  # None: when the sequence has a <START>; True: required
    gradients: bool = False  # Problem 2.5: gradients, and the T = 0 / T = sqrt(d_k) comparison
    convention: str = "teacher_forcing"  # which loss the gradients differentiate
    weights: GeoffWeights = EXAM_WEIGHTS
    gradient_of: tuple[str, ...] = PARAMETERS  # the matrices whose gradients are shown (E may be added)


@dataclass
class GeoffReport:
    """Everything `dlexam geoff` shows for one query."""

    query: GeoffQuery
    result: GeoffResult
    heads: HeadsComparison | None = None  # with two heads: Problem 2.4's comparison
    gradients: GradientComparison | None = None  # with gradients: Problem 2.5's comparison

    def to_json(self) -> dict:
        out = self.result.to_json()
        if self.heads is not None:
            out["one_head"] = self.heads.one.to_json()
            out["heads_comparison"] = self.heads.to_json()
        if self.gradients is not None:
            out["gradient_comparison"] = self.gradients.to_json()
            out["gradient_explanation"] = GRADIENT_EXPLANATION
        return out


def analyse(query: GeoffQuery) -> GeoffReport:
    """Run `query`: the model's matrices, and Problem 2.4's and 2.5's comparisons where asked."""
    q = query
    options = dict(temperature=q.temperature, loss=q.loss, gradients=q.gradients, gradient_convention=q.convention,
                   weights=q.weights, gradient_of=q.gradient_of)
    heads = compare_heads(q.sequence, **options) if q.heads == 2 else None
    result = heads.two if heads is not None else run_geoff(q.sequence, heads=q.heads, **options)
    gradients = (compare_gradients(q.sequence, heads=q.heads, convention=q.convention, weights=q.weights)
                 if q.gradients else None)
    return GeoffReport(q, result, heads, gradients)
