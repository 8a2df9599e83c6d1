"""Problems 2.4 and 2.5 computed once, for every view: two identical heads, and which gradients vanish.

:func:`compare_heads` (Problem 2.4) and :func:`compare_gradients` (Problem 2.5) run
:func:`dlexam.geoff.model.run_geoff` and compare; :func:`analyse` (a :class:`GeoffQuery` in, a
:class:`GeoffReport` out) is what `dlexam geoff`, the web page and its JSON API show. The answer key
(:mod:`dlexam.answers.problem2`) and the report's Geoff section consume these same result objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dlexam.attention import Temperature
from dlexam.errors import SettingsTogether
from dlexam.geoff.cells import temperature_name
from dlexam.geoff.model import (
    GRADIENT_EXPLANATION,
    PARAMETERS,
    GeoffResult,
    applied_gradient,
    frobenius_norm,
    run_geoff,
)
from dlexam.geoff.weights import EXAM_EXAMPLE, EXAM_WEIGHTS, GeoffWeights

# ---- Problem 2.4: k heads -------------------------------------------------------------------------

@dataclass
class HeadsComparison:
    """Problem 2.4: the one-head model next to the k heads whose concatenation meets multi_W_O (Version A: two
    identical heads and multi_W_O = I_4)."""

    one: GeoffResult
    two: GeoffResult  # the k-head run (named for Version A's two heads, as the JSON has always said)
    same_R: bool  # is R the same with k heads? (the exam says yes)
    columns_swapped: bool  # is the k-head R the one-head R with its columns permuted (not left in place)?
    R_difference: float  # max |R_k - R_one|
    swapped_difference: float  # max |R_k - R_one[:, permutation]| (greedy column matching)
    effective_W_O: torch.Tensor  # (d_head, d_model): k identical heads with W_O' act as one head with the sum
    equivalence_error: float  # max |Z (sum of W_O''s k blocks) - R_k| (0 when the heads are identical)
    reproducing_error: float  # max error of [Z..Z] [W_O; 0..] and [Z..Z] [W_O/k; ..] against the one-head R
    permutation: list[int] | None = None  # R_k[:, j] = R_one[:, permutation[j]], where such a permutation exists

    @property
    def identical(self) -> bool:
        """R and both losses are the same with one and k heads."""
        return self.same_R and all(
            abs(float(self.one.loss[c]["value"]) - float(self.two.loss[c]["value"])) < 1e-12 for c in self.one.loss
        )

    def to_json(self) -> dict:
        return {"same_R": self.same_R, "identical": self.identical, "columns_swapped": self.columns_swapped,
                "R_difference": self.R_difference, "swapped_difference": self.swapped_difference,
                "effective_W_O": self.effective_W_O.tolist(), "equivalence_error": self.equivalence_error,
                "reproducing_error": self.reproducing_error, "permutation": self.permutation}


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def column_matching(after: torch.Tensor, before: torch.Tensor) -> tuple[list[int], float]:
    """For each column of `after`, the closest unused column of `before` (greedy, left to right) and the largest
    difference left: a permutation with difference 0 when `after` is `before` with its columns permuted (for
    equal columns, equality is transitive, so greedy matching finds such a permutation whenever one exists)."""
    unused = list(range(before.shape[1]))
    perm, worst = [], 0.0
    for j in range(after.shape[1]):
        diffs = [float((after[:, j] - before[:, i]).abs().max()) for i in unused]
        best = min(range(len(unused)), key=diffs.__getitem__)
        perm.append(unused.pop(best))
        worst = max(worst, diffs[best])
    return perm, worst


def compare_heads(
    sequence: str | list[str] = EXAM_EXAMPLE,
    *,
    temperature: Temperature = 0.0,
    weights: GeoffWeights = EXAM_WEIGHTS,
    **run_options,
) -> HeadsComparison:
    """Problem 2.4: run one head and the weights' k heads and compare R (and the losses).

    `run_options` (loss, gradients, gradient_convention) go to both :func:`run_geoff` calls.
    """
    k = weights.heads
    one = run_geoff(sequence, temperature=temperature, heads=1, weights=weights, **run_options)
    multi = run_geoff(sequence, temperature=temperature, heads=k, weights=weights, **run_options)
    W_O1 = weights.tensor("W_O")  # (d_head, d_model)
    W_Ok = weights.tensor("multi_W_O")  # (k d_head, d_model)
    z_cat = torch.cat(list(multi.Z), dim=-1)  # [Z_1 ... Z_k]: (T, k d_head)
    effective = W_Ok.reshape(k, weights.d_head, -1).sum(0)  # (d_head, d_model): the k blocks added
    zeros = [torch.zeros_like(W_O1)] * (k - 1)
    reproduce = max(_maxdiff(z_cat @ torch.cat([W_O1, *zeros]), one.R),
                    _maxdiff(z_cat @ torch.cat([W_O1 / k] * k), one.R))
    perm, swapped_difference = column_matching(multi.R, one.R)
    difference = _maxdiff(multi.R, one.R)
    same = difference < 1e-12
    return HeadsComparison(
        one=one, two=multi, same_R=same, columns_swapped=swapped_difference < 1e-12 and not same,
        R_difference=difference, swapped_difference=swapped_difference, effective_W_O=effective,
        equivalence_error=_maxdiff(one.Z @ effective, multi.R), reproducing_error=reproduce,
        permutation=perm if swapped_difference < 1e-12 else None,
    )


# ---- Problem 2.5: which gradients vanish ---------------------------------------------------------

GRADIENT_TEMPERATURES = (("T=0 (argmax)", 0.0), ("T=sqrt(d_k)", "sqrt"))


@dataclass
class GradientComparison:
    """Problem 2.5: the gradients at argmax attention (T = 0) next to softmax at T = sqrt(d_k)."""

    convention: str
    results: dict[str, GeoffResult]  # label -> the run with its gradients
    # label -> parameter -> Frobenius norm of the gradient a gradient step applies to the matrix (k identical heads
    # share W_Q, W_K, W_V: the norm of the heads' summed gradient, model.applied_gradient, as sgd_step applies it)
    norms: dict[str, dict[str, float]]
    vanishes: dict[str, dict[str, bool]]  # label -> parameter -> that gradient is exactly zero (the matrix is frozen)
    # label -> parameter -> the norm of each head's part of that sum, for a matrix the k identical heads share
    # (W_Q, W_K, W_V with k > 1); absent for a matrix with one gradient (one head, the output matrix, own heads)
    head_parts: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # The same row at the query's own temperature, where it is neither 0 nor sqrt(d_k) (from the query's own run):
    # {"temperature": T, "norms": {...}, "vanishes": {...}, "head_parts": {...}}
    at_query: dict | None = None

    def frozen(self, label: str) -> list[str]:
        return [name for name, zero in self.vanishes[label].items() if zero]

    def to_json(self) -> dict:
        """label -> {"norms", "vanishes", "T": the row's temperature as a cell names it ("0", "sqrt"): its norms are
        explained as norm[W_Q,T=0] (:mod:`dlexam.geoff.explain_steps`), "temperature": that T as the number the
        model ran at (sqrt(d_k) = 1.4142...; a norm's explanation says its T so, whatever spelling asked for it)}."""
        at = dict(GRADIENT_TEMPERATURES)
        return {label: {"norms": self.norms[label], "vanishes": self.vanishes[label],
                        "head_parts": self.head_parts.get(label, {}),
                        "T": temperature_name(at[label]), "temperature": r.temperature}
                for label, r in self.results.items()}


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
    rows = {label: gradient_row(r, weights) for label, r in results.items()}
    return GradientComparison(convention=convention, results=results,
                              norms={label: row["norms"] for label, row in rows.items()},
                              vanishes={label: row["vanishes"] for label, row in rows.items()},
                              head_parts={label: row["head_parts"] for label, row in rows.items()})


def gradient_row(result: GeoffResult, weights: GeoffWeights) -> dict:
    """Problem 2.5's table row of one run with gradients (`weights`: the run's), for each of W_Q, W_K, W_V and the
    output matrix (W_O, or multi_W_O with k heads; E, if asked, left out): {"norms": the Frobenius norm of the
    gradient a gradient step applies to the matrix, "vanishes": whether that gradient is exactly zero, "head_parts":
    the norm of each head's part of it, for a matrix k identical heads share}.

    k identical heads share W_Q, W_K, W_V: the step (:func:`dlexam.geoff.model.sgd_step`) moves each by lr x the
    heads' summed gradient (:func:`dlexam.geoff.model.applied_gradient`), so that sum's norm is the row's number,
    the one that says whether and how fast the matrix moves; each head's own gradient is a part of it."""
    norms, zero, parts = {}, {}, {}
    for k, g in result.gradients.items():
        if k == "E":
            continue
        applied = applied_gradient(weights, k, g)
        norms[k], zero[k] = frobenius_norm(applied), bool((applied == 0).all())
        if applied.dim() < g.dim():  # the heads' sum: each head's gradient is one part of it
            parts[k] = [frobenius_norm(h) for h in g]
    return {"norms": norms, "vanishes": zero, "head_parts": parts}


FROZEN_CLAIM = ("W_Q", "W_K", "W_V")  # Problem 2.5: "The projection matrices W_Q, W_K, W_V never change"


def frozen_claim(frozen, fixed: bool) -> str:
    """How much of Problem 2.5's worked solution ("The argmax attention has zero gradient, therefore the projection
    matrices are never updated [...]. The problem would be fixed by using the usual softmax attention") an
    observation bears out: the one judgement of it, which the answer key (from the gradients at the exam's weights)
    and the attention-temperature experiment (from training runs) both word. `frozen`: the matrices argmax
    attention left unchanged; `fixed`: whether softmax attention set right what argmax froze.

    "all" where argmax froze every matrix of FROZEN_CLAIM and softmax fixed it; "none" where it froze none of them
    and softmax fixed nothing; "part" otherwise (Version A: W_Q and W_K frozen, W_V not, the fix works)."""
    held = set(FROZEN_CLAIM) & set(frozen)
    if held == set(FROZEN_CLAIM) and fixed:
        return "all"
    return "none" if not held and not fixed else "part"


# ---- the command group's entry point ----------------------------------------------------------

@dataclass(frozen=True)
class GeoffQuery:
    """What `dlexam geoff` (and the web page's /api/geoff) is asked: `weights` are Version A's unless given (a
    variant's, :meth:`GeoffWeights.from_spec`, or a learner's edits), and `sequence` uses their vocabulary."""

    sequence: str = EXAM_EXAMPLE
    temperature: Temperature = 0.0  # 0 = argmax; a number T > 0; "sqrt" = sqrt(d_k)
    heads: int = 1  # k (the weights' head count, 2 in Version A) = Problem 2.4, shown next to the one-head model
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
        """The run's JSON (:meth:`GeoffResult.to_json`) and beside its "temperature" (the number the model ran at,
        1.4142135623730951 for sqrt(d_k)) "T": that temperature as asked and as a cell names it, "0", "0.5" or
        "sqrt" (sqrt(d_k), d_k the columns of W_Q), as each row of "gradient_comparison" names its own."""
        out = self.result.to_json()
        out["T"] = temperature_name(self.query.temperature)
        out["vocab"] = list(self.query.weights.vocab)
        out["weights"] = self.query.weights.to_json()
        if self.heads is not None:
            out["one_head"] = self.heads.one.to_json()
            out["heads_comparison"] = self.heads.to_json()
        if self.gradients is not None:
            out["gradient_comparison"] = self.gradients.to_json()
            out["gradient_explanation"] = GRADIENT_EXPLANATION
            if self.gradients.at_query is not None:
                out["gradient_at_temperature"] = self.gradients.at_query
        return out


def analyse(query: GeoffQuery) -> GeoffReport:
    """Run `query`: the model's matrices, and Problem 2.4's and 2.5's comparisons where asked."""
    q = query
    for name in q.gradient_of:  # multi_W_O with one head: GeoffWeights.unused (step.matrix_names for the API's)
        if (why := q.weights.unused(name, q.heads)) is not None:
            raise SettingsTogether(f"{{gradient_of}}: {why}: list W_O", {"gradient_of": q.gradient_of})
    options = dict(temperature=q.temperature, loss=q.loss, gradients=q.gradients, gradient_convention=q.convention,
                   weights=q.weights, gradient_of=q.gradient_of)
    heads = compare_heads(q.sequence, **options) if q.heads != 1 and q.heads == q.weights.heads else None
    result = heads.two if heads is not None else run_geoff(q.sequence, heads=q.heads, **options)
    gradients = (compare_gradients(q.sequence, heads=q.heads, convention=q.convention, weights=q.weights)
                 if q.gradients else None)
    if gradients is not None and q.temperature not in (0, "sqrt"):  # the query's own T, beside Problem 2.5's two
        gradients.at_query = {"temperature": result.temperature, **gradient_row(result, q.weights)}
    return GeoffReport(q, result, heads, gradients)
