"""Geoff's transformer with the exam's exact weights, or a variant's (Problems 2.1-2.5).

- :mod:`dlexam.geoff.model`: the weights, the model, :func:`run_geoff` (every matrix, the loss under
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
    CONVENTIONS,
    EXAM_EXAMPLE,
    EXAM_WEIGHTS,
    GRADIENT_EXPLANATION,
    MAX_TOKENS,
    PARAMETERS,
    START,
    STOP,
    VOCAB,
    W_O,
    W_QKV,
    E,
    GeoffResult,
    GeoffWeights,
    exam_model,
    floats,
    loss_terms,
    parse_sequence,
    run_geoff,
    sgd_step,
    vanishing_gradients,
    vocabulary_hint,
)
from dlexam.geoff.step import STEPPABLE, GeoffStep, gradient_step

__all__ = [
    "CONVENTIONS", "E", "EXAM_EXAMPLE", "EXAM_WEIGHTS", "GRADIENT_EXPLANATION", "GRADIENT_TEMPERATURES",
    "MAX_TOKENS", "PARAMETERS", "START", "STEPPABLE", "STOP", "VOCAB", "W_O", "W_QKV", "GeoffQuery", "GeoffReport",
    "GeoffResult", "GeoffStep", "GeoffWeights", "GradientComparison", "HeadsComparison", "analyse",
    "compare_gradients", "compare_heads", "exam_model", "floats", "gradient_step", "loss_terms", "parse_sequence",
    "run_geoff", "sgd_step", "vanishing_gradients", "vocabulary_hint",
]
