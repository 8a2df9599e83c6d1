"""The whole-answer mistakes Problem 2's key names, each computed from the variant, and the tolerances of its answers.

P without the causal mask, with its ties given to one position, with softmax where argmax is asked, or normalised
down its columns (:func:`p_mistakes`); S scaled by 1/sqrt(d_head) or masked (:func:`s_mistakes`); a loss in another
log base, as a mean, or scored at the targets' own positions as Version A's worked solution scores it
(:func:`loss_mistakes`). The grader names one where the answer given is what it gives
(:func:`dlexam.variants.mistakes.whole_mistake`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from dlexam.geoff.exact import ExactRun, argmax_row, softmax_row
from dlexam.spec import Matrix, TransformerSpec
from dlexam.variants.model import Mistake, distinct

LOSS_TOLERANCE = 5e-4  # a loss written to 4 decimals is accepted
WEIGHT_TOLERANCE = 1e-2  # a mistake's irrational cell (softmax's weight, a score over sqrt(2)) written to 2 decimals


def unmasked_P(S: Matrix) -> Matrix:
    """P computed without the causal mask: each row's argmax over every position, ties shared."""
    return tuple(argmax_row(row, len(row))[0] for row in S)


def column_P(S: Matrix) -> Matrix:
    """P with argmax taken down each column instead of along each row (the wrong axis): each key position's weight
    goes to the queries that see it (rows i >= j) with the largest score in its column, shared among ties."""
    n = len(S)
    cols = [argmax_row(tuple(S[i][j] for i in range(j, n)), n - j)[0] for j in range(n)]
    return tuple(tuple(cols[j][i - j] if i >= j else Fraction(0) for j in range(n)) for i in range(n))


def softmax_P(S: Matrix, T: float) -> tuple[tuple[float, ...], ...]:
    """Causal softmax(S/T) attention, in floats: the weights a student gets with softmax where argmax is asked."""
    return tuple(tuple(softmax_row(row, i + 1, T)) for i, row in enumerate(S))


def p_mistakes(run: ExactRun, t: TransformerSpec) -> tuple[Mistake, ...]:
    """Pr2.2 (b)'s whole-matrix mistakes, each computed from the variant's S: P without the causal mask, ties given
    to one position, softmax at T = sqrt(d_head) or T = 1 where argmax is asked."""
    S, tied, n, d = run.head.S, run.head.tied, len(run.tokens), t.d_head

    def one(pick) -> Matrix:  # each row's whole weight at the one position pick(row) names
        return tuple(tuple(Fraction(int(j == pick(i))) for j in range(n)) for i in range(n))

    argmax = ("; argmax is the limit of softmax(s/T) as T -> 0+: each row's largest visible scores share all the "
              "weight")
    return distinct(run.head.P, [
        Mistake(unmasked_P(S), f"P computed without the causal mask: each row's argmax taken over all {n} positions, "
                               "later ones too; a position sees only itself and the positions before it"),
        Mistake(one(lambda i: tied[i][0]), "ties broken: each row's weight given to the first of the positions tied "
                                           "at its maximum alone; argmax shares it equally among them (1/k each)"),
        Mistake(one(lambda i: tied[i][-1]), "ties broken: each row's weight given to the last of the positions tied "
                                            "at its maximum alone; argmax shares it equally among them (1/k each)"),
        Mistake(softmax_P(S, math.sqrt(d)), f"P computed with softmax(S/sqrt({d})), scaled dot-product attention at "
                                            f"T = sqrt(d_head), where argmax is asked{argmax}", WEIGHT_TOLERANCE),
        Mistake(softmax_P(S, 1.0), f"P computed with softmax(S), at T = 1, where argmax is asked{argmax}",
                WEIGHT_TOLERANCE),
        Mistake(column_P(S), "P normalised down each column instead of along each row: each column's weight given "
                             "to its largest visible score; a row of P is one query's weights over the positions it "
                             "sees, and it sums to 1")])


def s_mistakes(run: ExactRun, t: TransformerSpec) -> tuple[Mistake, ...]:
    """Pr2.2 (a)'s: S divided by sqrt(d_head), as softmax's argument is (exact where d_head is a square), and S with
    the causal mask applied (0 above the diagonal) though the question asks for every entry."""
    S, d = run.head.S, t.d_head
    root = math.isqrt(d)
    if root * root == d:
        scaled = Mistake(tuple(tuple(x / root for x in r) for r in S), f"every entry given is the right one times "
                         f"1/{root}: S scaled by 1/sqrt(d_head), as scaled dot-product attention scales softmax's "
                         "argument; the question asks for S = Q K^T itself")
    else:
        scaled = Mistake(tuple(tuple(float(x) / math.sqrt(d) for x in r) for r in S),
                         f"every entry given is the right one times 1/sqrt({d}) = {1 / math.sqrt(d):.4g}: S scaled "
                         "by 1/sqrt(d_head), as scaled dot-product attention scales softmax's argument; the question "
                         "asks for S = Q K^T itself", WEIGHT_TOLERANCE)
    masked = tuple(tuple(x if j <= i else Fraction(0) for j, x in enumerate(r)) for i, r in enumerate(S))
    return distinct(S, [scaled, Mistake(masked, "S given with the causal mask applied (0 above the diagonal): the "
                                                "question asks for every entry of Q K^T, before masking")])


def loss_mistakes(terms: list, own_terms: list) -> tuple[Mistake, ...]:
    """A loss's mistakes, from its terms: the sum of -log p in log base 10 or 2, the mean of the terms, and (from
    `own_terms`, :func:`dlexam.geoff.exact.loss_terms` under the exam's convention) each target scored by the
    logits at its own position, as Version A's worked solution scores it (4.2114)."""
    nll = [x.nll for x in terms]
    loss, n = math.fsum(nll), len(nll)
    own = math.fsum(x.nll for x in own_terms)
    rows = f"{own_terms[0].row}-{own_terms[-1].row}"
    return distinct(loss, [
        Mistake(own, f"this is the loss with each target token scored by the logits at its own position (rows {rows}: "
                     f"{own:.4f}), as Version A's worked solution scores it; with teacher forcing the logits at "
                     "position t score the token at position t+1, one row earlier", LOSS_TOLERANCE),
        *(Mistake(math.fsum(v / math.log(b) for v in nll), f"this is the loss in log base {b} (the sum of -log{b} p "
                  f"= {math.fsum(v / math.log(b) for v in nll):.4f}): cross-entropy uses the natural log",
                  LOSS_TOLERANCE) for b in (10, 2)),
        Mistake(loss / n, f"this is the mean of the {n} terms ({loss:.4f} / {n} = {loss / n:.4f}), not their sum: "
                          "the loss is the summed cross-entropy", LOSS_TOLERANCE)])
