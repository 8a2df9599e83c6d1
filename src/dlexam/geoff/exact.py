"""Problem 2 in exact arithmetic: the linear steps as Fraction matrix products, argmax attention by its tie rule.

Under argmax attention (T = 0) every number of Problems 2.2-2.4 is rational: X = rows of E, Q = X W_Q,
K = X W_K, V = X W_V, S = Q K^T, P (each row's largest visible scores share the weight equally), Z = P V,
R = [Z_1 ... Z_k] W_O and the logits R E^T. :func:`exact_run` computes them with
:class:`fractions.Fraction`, so a worked solution can print 9/7 rather than 1.2857; the loss is a sum of
log terms, given in closed form (:func:`loss_terms`). The numbers themselves come from the project's one
transformer (:func:`dlexam.geoff.run_geoff`, float64): :func:`differences` compares an exact run with a
float run, and a variant is refused unless they agree (:mod:`dlexam.variants`).

This module imports no torch (it is plain Python over :mod:`dlexam.spec`), so a question generator
exported to another platform can carry it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

from dlexam.spec import Matrix, TransformerSpec, text
from dlexam.spec.numbers import decimal_text


def matmul(a: Matrix, b: Matrix) -> Matrix:
    """The exact product of two Fraction matrices (in integers over one common denominator per operand)."""
    da = math.lcm(*(v.denominator for r in a for v in r))
    db = math.lcm(*(v.denominator for r in b for v in r))
    ia = [[v.numerator * (da // v.denominator) for v in r] for r in a]  # a * da, in integers
    cols = list(zip(*([v.numerator * (db // v.denominator) for v in r] for r in b), strict=True))
    scale = da * db
    return tuple(tuple(Fraction(sum(x * y for x, y in zip(row, col, strict=True)), scale) for col in cols)
                 for row in ia)


def transpose(a: Matrix) -> Matrix:
    return tuple(zip(*a, strict=True))


def argmax_row(scores: tuple[Fraction, ...], visible: int) -> tuple[tuple[Fraction, ...], list[int]]:
    """The tie rule of Problem 2.2, lim T->0+ softmax(s/T): the largest of the first `visible` scores share the
    weight equally (the rest are masked). Returns the weights and the tied positions."""
    top = max(scores[:visible])
    tied = [j for j in range(visible) if scores[j] == top]
    share = Fraction(1, len(tied))
    return tuple(share if j in tied else Fraction(0) for j in range(len(scores))), tied


def softmax_row(scores: tuple, visible: int, T: float) -> list[float]:
    """softmax(s/T) over the first `visible` scores in floats, the rest masked (0.0): each e^((s - max s)/T) over
    their fsum, the largest score subtracted in the scores' own arithmetic (exactly for Fractions)."""
    top = max(scores[:visible])
    e = [math.exp(float(s - top) / T) for s in scores[:visible]]
    total = math.fsum(e)
    return [*(x / total for x in e), *[0.0] * (len(scores) - visible)]


@dataclass(frozen=True)
class ExactHead:
    Q: Matrix
    K: Matrix
    V: Matrix
    S: Matrix  # Q K^T, every entry (the causal mask hides those above the diagonal)
    P: Matrix  # causal argmax attention
    Z: Matrix  # P V
    tied: tuple[tuple[int, ...], ...]  # per row, the positions sharing its weight


@dataclass(frozen=True)
class ExactRun:
    """One run of Geoff's model in exact arithmetic: one head, or the k heads of Problem 2.4."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    X: Matrix
    heads: tuple[ExactHead, ...]
    R: Matrix
    logits: Matrix

    @property
    def head(self) -> ExactHead:
        return self.heads[0]


@functools.lru_cache(maxsize=256)
def exact_run(t: TransformerSpec, tokens: tuple[str, ...] | None = None, heads: int = 1) -> ExactRun:
    """Geoff's model with the spec's weights on `tokens` (the spec's example by default) at T = 0, exactly:
    one head with W_O (`heads` = 1) or the spec's k heads with multi_W_O (`heads` = k)."""
    tokens = t.example if tokens is None else tuple(tokens)
    ids = tuple(t.vocab.index(tok) for tok in tokens)
    X = tuple(t.E[i] for i in ids)  # (T, d_model)
    projections = [t.head] if heads == 1 else list(t.multi_heads)
    if heads not in (1, t.heads):
        raise ValueError(f"heads must be 1 or {t.heads}")
    out = []
    for h in projections:
        Q, K, V = matmul(X, h.W_Q), matmul(X, h.W_K), matmul(X, h.W_V)  # (T, d_head) each
        S = matmul(Q, transpose(K))  # (T, T)
        rows = [argmax_row(S[i], i + 1) for i in range(len(ids))]
        P = tuple(r for r, _ in rows)
        out.append(ExactHead(Q, K, V, S, P, matmul(P, V), tuple(tuple(tied) for _, tied in rows)))
    concat = tuple(tuple(v for h in out for v in h.Z[i]) for i in range(len(ids)))  # [Z_1 ... Z_k]: (T, k d_head)
    R = matmul(concat, t.W_O if heads == 1 else t.multi_W_O)  # (T, d_model)
    return ExactRun(tokens, ids, X, tuple(out), R, matmul(R, transpose(t.E)))


# ---- the loss in closed form -------------------------------------------------------------------

Number = Fraction | float  # an exact value, or (softmax at T > 0, edited weights) a float written to 4 decimals


def number_text(x: Number) -> str:
    """An exact number as a fraction ("9/7"), a float to 4 decimals ("1.2346"; "-1.703e-7" where 4 decimals would
    show 0: :func:`dlexam.spec.numbers.decimal_text`)."""
    return text(x) if isinstance(x, Fraction) else decimal_text(x)


def exp_text(x: Number) -> str:
    """e^x as the worked solution writes it: 1, e, e^3, e^(9/7), e^(-1/2); a float exponent to 4 decimals."""
    if x == 0:
        return "1"
    if x == 1:
        return "e"
    if not isinstance(x, Fraction):
        return f"e^({decimal_text(x)})"
    return f"e^{text(x)}" if x.denominator == 1 and x > 0 else f"e^({text(x)})"


def sum_of_exps(row: tuple[Number, ...]) -> str:
    """sum_j e^{row_j} with equal terms grouped, largest exponent first: "2 e^3 + 4"."""
    counts: dict[Number, int] = {}
    for v in row:
        counts[v] = counts.get(v, 0) + 1
    terms = []
    for v in sorted(counts, reverse=True):
        c, e = counts[v], exp_text(v)
        terms.append(str(c) if e == "1" and c > 1 else e if c == 1 else f"{c} {e}")
    return " + ".join(terms)


@dataclass(frozen=True)
class LossTerm:
    """-log P(target | row): the probability e^{z_target} / sum_j e^{z_j} in closed form and as a number."""

    row: int  # 1-based position of the logit row
    target: str
    probability_text: str  # "e^3 / (2 e^3 + 4)"
    probability: float
    nll_text: str  # "log(2 e^3 + 4) - 3"
    nll: float


def loss_term(logits: tuple[Number, ...], target: int, row: int, vocab: tuple[str, ...]) -> LossTerm:
    """One cross-entropy term of a logit row: exact Fractions give the worked solution's closed form; floats (a
    softmax model's logits) the same form with 4-decimal exponents."""
    z = logits[target]
    top = max(logits)
    # log-sum-exp - z, shifted by the largest logit: a logit of 2e25 would absorb the log(2) beside it
    nll = math.log(math.fsum(math.exp(float(v - top)) for v in logits)) - float(z - top)
    denominator = sum_of_exps(logits)
    prob_text = f"{exp_text(z)} / ({denominator})" if "+" in denominator else f"{exp_text(z)} / {denominator}"
    nll_text = f"log({denominator})" + ("" if z == 0 else f" - {number_text(z)}" if z > 0 else
                                        f" + {number_text(-z)}")
    return LossTerm(row, vocab[target], prob_text, math.exp(-nll), nll_text, nll)


def loss_terms(run: ExactRun, t: TransformerSpec, convention: str = "teacher_forcing") -> list[LossTerm]:
    """The cross-entropy terms of the tokens after <START>: under teacher forcing the row of token t scores token
    t+1; under the exam's convention (Problem 2.3's worked solution) each token is scored by its own row."""
    start = t.vocab.index(t.start)
    s = run.ids.index(start)
    shift = 1 if convention == "exam" else 0
    return [loss_term(run.logits[i + shift], run.ids[i + 1], i + shift + 1, t.vocab)
            for i in range(s, len(run.ids) - 1)]


# ---- agreement with the float64 model -----------------------------------------------------------

def differences(run: ExactRun, result) -> dict[str, float]:
    """max |exact - float| of each matrix, against a :class:`dlexam.geoff.GeoffResult` of the same sequence,
    heads and weights at T = 0 (its tensors are read with ``tolist()``)."""
    def worst(exact: Matrix, floats: list) -> float:
        return max((abs(float(e) - f) for er, fr in zip(exact, floats, strict=True)
                    for e, f in zip(er, fr, strict=True)), default=0.0)

    per_head = (lambda name: [getattr(h, name) for h in run.heads]) if len(run.heads) > 1 else (
        lambda name: getattr(run.head, name))
    out = {"X": worst(run.X, result.X.tolist()), "R": worst(run.R, result.R.tolist()),
           "logits": worst(run.logits, result.logits.tolist())}
    for exact_name, float_name in (("Q", "Q"), ("K", "K"), ("V", "V"), ("S", "scores"), ("P", "P"), ("Z", "Z")):
        ex, fl = per_head(exact_name), getattr(result, float_name).tolist()
        if len(run.heads) > 1:
            out[exact_name] = max(worst(e, f) for e, f in zip(ex, fl, strict=True))
        else:
            out[exact_name] = worst(ex, fl)
    return out
