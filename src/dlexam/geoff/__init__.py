"""Geoff's transformer with the exam's exact weights, or a variant's (Problems 2.1-2.5).

- :mod:`dlexam.geoff.weights`: the vocabulary and the weights (Version A's, a variant's, a learner's edits);
- :mod:`dlexam.geoff.exact`: Problems 2.2-2.4 in exact fractions (torch-free), checked against the model;
- :mod:`dlexam.geoff.model`: the model, :func:`run_geoff` (every matrix, the loss under
  two conventions, autograd gradients), one step of gradient descent on edited weights;
- :mod:`dlexam.geoff.step`: that step as the web page's button (Problem 2.5 live: which matrices move);
- :mod:`dlexam.geoff.compare`: Problem 2.4 (two identical heads), Problem 2.5 (which gradients
  vanish) and :func:`analyse`, the entry point of `dlexam geoff` and of the web page.
"""

from dlexam.geoff.compare import (
    GRADIENT_TEMPERATURES,
    GeoffQuery,
    GeoffReport,
    GradientComparison,
    HeadsComparison,
    analyse,
    compare_gradients,
    compare_heads,
)
from dlexam.geoff.model import (
    CONVENTION_NAMES,
    CONVENTION_RULES,
    CONVENTION_SHORT,
    CONVENTIONS,
    GRADIENT_EXPLANATION,
    PARAMETERS,
    GeoffResult,
    exam_model,
    loss_terms,
    run_geoff,
    sgd_step,
    vanishing_gradients,
)
from dlexam.geoff.step import STEP_NAMES, STEPPABLE, GeoffStep, gradient_step
from dlexam.geoff.weights import (
    EXAM_EXAMPLE,
    EXAM_WEIGHTS,
    MAX_TOKENS,
    START,
    STOP,
    VOCAB,
    W_O,
    W_QKV,
    E,
    GeoffWeights,
    floats,
    parse_sequence,
    vocabulary_hint,
)

__all__ = [
    "CONVENTION_NAMES", "CONVENTION_RULES", "CONVENTION_SHORT",
    "CONVENTIONS", "E", "EXAM_EXAMPLE", "EXAM_WEIGHTS", "GRADIENT_EXPLANATION",
    "GRADIENT_TEMPERATURES",
    "MAX_TOKENS", "PARAMETERS", "START", "STEP_NAMES", "STEPPABLE", "STOP", "VOCAB", "W_O", "W_QKV", "GeoffQuery",
    "GeoffReport",
    "GeoffResult", "GeoffStep", "GeoffWeights", "GradientComparison", "HeadsComparison", "analyse",
    "compare_gradients", "compare_heads", "exam_model", "floats", "gradient_step", "loss_terms", "parse_sequence",
    "run_geoff", "sgd_step", "vanishing_gradients", "vocabulary_hint",
]
