"""Problem 2.5, which weights learn: its options, why each wrong one is wrong, and the question, keyed by autograd.

(a) asks which of W_Q, W_K, W_V, W_O get an exactly zero gradient under argmax attention (or, worded the other way,
a non-zero one); (b) whether a remedy (softmax at T = sqrt(d_head), or a larger learning rate) gives all four a
non-zero one. The key is computed from the gradients autograd gives for the variant's weights
(:func:`dlexam.variants.evidence.zero_gradients`); without them (no torch) Pr2.5 is left out.
"""

from __future__ import annotations

from fractions import Fraction

from dlexam.geoff.exact import ExactRun, exact_run
from dlexam.spec import TransformerSpec
from dlexam.variants.model import Field, Options, Question, Text
from dlexam.variants.problem2_setting import chosen, in_order, setting

ZERO_OPTIONS = ("only W_Q and W_K", "W_Q, W_K and W_V", "all four: W_Q, W_K, W_V and W_O", "none of them")
ZERO_SETS = ({"W_Q", "W_K"}, {"W_Q", "W_K", "W_V"}, {"W_Q", "W_K", "W_V", "W_O"}, set())  # what each option says
MATRICES = ("W_Q", "W_K", "W_V", "W_O")
# Pr2.5 (a) asking which matrices get a NON-zero gradient: option i names the complement of ZERO_SETS[i], so the
# key is the same option, in other words (worded unlike ZERO_OPTIONS, so that a text names one claim)
NONZERO_OPTIONS = ("W_V and W_O only", "W_O only", "not one of the four", "every one of W_Q, W_K, W_V and W_O")
LINEAR_IN = {"W_V": "Z = P X W_V is linear in W_V", "W_O": "R = Z W_O is linear in W_O"}
# Pr2.5 (b)'s yes/no, as Version A would print it (yes first); a variant shows it in its drawn order
SOFTMAX_OPTIONS = ("yes", "no")


def zero_options(asks: str) -> tuple[str, ...]:
    """Pr2.5 (a)'s options in the exam's order, worded for what it asks ("zero" or "nonzero")."""
    return ZERO_OPTIONS if asks == "zero" else NONZERO_OPTIONS


def claimed_zero(option: str) -> set[str]:
    """The matrices an option of Pr2.5 (a), in either wording, says get an exactly zero gradient."""
    wording = ZERO_OPTIONS if option in ZERO_OPTIONS else NONZERO_OPTIONS
    return ZERO_SETS[wording.index(option)]


def names(matrices) -> str:
    ordered = sorted(matrices, key=MATRICES.index)
    return ", ".join(ordered[:-1]) + " and " + ordered[-1] if len(ordered) > 1 else "".join(ordered)


def zero_reason(claimed: set[str], true: set[str]) -> str:
    """Why the option of Pr2.5 (a) that says `claimed` get an exactly zero gradient is wrong ("" if it is right),
    `true` being the set autograd gives (:func:`dlexam.variants.evidence.zero_gradients`)."""
    parts = []
    if missed := true - claimed:
        because = ("argmax weights are piecewise constant in the scores" if missed <= {"W_Q", "W_K"}
                   else "autograd gives it exactly zero for these weights")
        parts.append(f"{names(missed)} get{'s' if len(missed) == 1 else ''} exactly zero: {because}")
    if moving := claimed - true:
        verb = "gets a non-zero gradient" if len(moving) == 1 else "get non-zero gradients"
        parts.append(f"{names(moving)} {verb}: " + " and ".join(
            LINEAR_IN.get(m, f"autograd gives {m} a non-zero gradient") for m in sorted(moving, key=MATRICES.index)))
    return "; ".join(parts)


def gradient_norms(g: dict) -> str:
    return ", ".join(f"|dL/d{m}| = {g['norms'][m]:.4g}" for m in MATRICES)


def remedy_zeros(remedy: str, gradients: dict) -> set[str]:
    """The matrices that still get an exactly zero gradient under Pr2.5 (b)'s proposed remedy
    (:data:`dlexam.variants.draw.REMEDIES`): softmax at T = sqrt(d_head) is autograd's own run at that T; a larger
    learning rate scales each update, not the gradient, so the zeros are argmax's."""
    return set(gradients["softmax" if remedy == "softmax" else "argmax"]["zero"])


def breakable_ties(run: ExactRun) -> list[tuple[int, tuple[int, ...]]]:
    """The rows of P (with their tied positions) where an arbitrarily small change of W_Q or W_K breaks the tie and
    P jumps: the tied positions hold different tokens and the row's token is not <START>'s zero embedding (then
    q_i (W_K's change) (x_a - x_b) or (x_i W_Q's change) . (k_a - k_b) is non-zero for some change). A tie of one
    token with itself, or of a zero query, holds for every W_Q and W_K."""
    h = run.head
    return [(i, tied) for i, tied in enumerate(h.tied) if len(tied) > 1 and any(run.X[i])
            and len({run.X[j] for j in tied}) > 1 and (any(h.Q[i]) or len({h.K[j] for j in tied}) > 1)]


def frozen_argument(run: ExactRun) -> str:
    """Why argmax gives W_Q and W_K exactly zero gradient, true of these weights: no comparison changes under a
    small change of them, or (where a tie of different tokens breaks) backpropagation through argmax's weights,
    constant where they are defined, passes nothing to them."""
    ties = breakable_ties(run)
    if not ties:
        return ("Argmax weights are piecewise constant in Q K^T: a small change of W_Q or W_K changes no "
                "comparison, so their gradients are exactly zero.")
    i, tied = ties[0]
    where = ", ".join(str(p + 1) for p in tied)
    return ("Argmax weights are piecewise constant in Q K^T, so backpropagation passes nothing through them: W_Q "
            f"and W_K get exactly zero gradient. (Row {run.tokens[i]} (position {i + 1}) ties positions {where}, "
            "which hold different tokens: there an arbitrarily small change of W_Q or W_K breaks the tie and P "
            "jumps, so the zero is backpropagation's, taken on argmax's constant pieces, not a slope the loss has "
            "across that jump.)")


def pr25(t: TransformerSpec, pts: int, gradients: dict, orders: dict, remedy: str = "softmax",
         asks: str = "zero") -> Question:
    """Problem 2.5, its key computed from `gradients` (autograd through the project's attention, at T = 0 and at
    T = sqrt(d_head): :func:`dlexam.variants.evidence.zero_gradients`). (a) asks which matrices get an exactly
    zero gradient (`asks` "zero", Version A) or which get a non-zero one ("nonzero": the complementary options,
    :data:`NONZERO_OPTIONS`). (b) asks about `remedy`: Version A's softmax at T = sqrt(d_head), or a variant's
    other remedy (:data:`dlexam.variants.draw.REMEDIES`)."""
    at_zero, left = set(gradients["argmax"]["zero"]), remedy_zeros(remedy, gradients)
    zero_order, soft_order = orders.get("Pr2.5"), orders.get("Pr2.5.softmax")
    worded = zero_options(asks)
    shown_zero, soft_options = in_order(worded, zero_order), in_order(SOFTMAX_OPTIONS, soft_order)
    right = next((i for i, claim in enumerate(ZERO_SETS) if claim == at_zero), None)
    frozen = at_zero == {"W_Q", "W_K"}  # what the argument below explains (the check gradients_decide keeps these)
    moving = set(MATRICES) - at_zero
    zero_why = ("argmax weights are piecewise constant in the scores, so no gradient reaches W_Q or W_K; "
                "Z = P X W_V and R = Z W_O are linear in W_V and W_O" if frozen else
                f"autograd gives {names(at_zero) or 'none of them'} an exactly zero gradient for these weights"
                + ("" if asks == "zero" else f", and {names(moving) or 'none of them'} a non-zero one"))
    which = "an exactly zero gradient" if asks == "zero" else "a non-zero gradient"
    root = f"sqrt({t.d_head})"
    if remedy == "softmax":
        asked = f"With softmax attention at T = sqrt(d_head) = {root} instead"
        soft_why = ("softmax weights depend smoothly on the scores, so all four matrices get gradients" if not left
                    else f"autograd gives {names(left)} an exactly zero gradient for these weights")
        soft_solution = (("With softmax the weights depend smoothly on the scores, so all four receive gradients"
                          if not left else soft_why[0].upper() + soft_why[1:])
                         + f"; autograd at T = {root}: {gradient_norms(gradients['softmax'])}.")
    else:
        asked = "If argmax attention is kept but the learning rate is made ten times larger"
        soft_why = ("the learning rate scales each update, not the gradient: "
                    + (f"{names(left)} still get{'s' if len(left) == 1 else ''} exactly zero" if left
                       else "all four already get non-zero gradients"))
        soft_solution = (soft_why[0].upper() + soft_why[1:] + (", so ten times zero is still no change" if left
                                                                else "") + f"; autograd at T = 0: "
                         f"{gradient_norms(gradients['argmax'])}.")
    return Question("Pr2.5", "Which weights learn", pts, (
        Text("The model is trained by gradient descent on the teacher-forcing loss, with argmax attention."),
        Text(f"(a) Which of W_Q, W_K, W_V, W_O receive {which} at these weights? (b) "
             f"{asked}, do all four receive a non-zero gradient?"),
        Options(shown_zero, "(a)"), Options(soft_options, "(b)")), (
        Field("zero", "choice", chosen(worded, zero_order, right), Fraction(2, 3), "1-4",
              options=shown_zero, why=zero_why,
              option_reasons=tuple(zero_reason(claimed_zero(o), at_zero) for o in shown_zero)),
        Field("softmax", "choice", chosen(SOFTMAX_OPTIONS, soft_order, 1 if left else 0),
              Fraction(1, 3), "1 or 2", options=soft_options, why=soft_why)), (
        Text((f"{frozen_argument(exact_run(t))} But Z = P X W_V is linear in W_V and R = Z W_O is linear in "
              "W_O, so those two receive non-zero gradients and do change." if frozen else zero_why[0].upper()
              + zero_why[1:] + ".")
             + f" Autograd at T = 0: {gradient_norms(gradients['argmax'])}."),
        Text(soft_solution)), "transformers", tuple(setting(t)))
