"""The whole-answer mistakes Problem 2's key names, each computed from the variant, and the tolerances of its answers.

P without the causal mask, with the mask as a score of 0, with its ties given to one position, with softmax where
argmax is asked, or normalised down its columns, and without the mask and with ties broken or as softmax too
(:func:`p_mistakes`); S scaled by 1/sqrt(d_head), masked, both, or X X^T without W_Q and W_K (:func:`s_mistakes`);
Pr2.4's R with the heads concatenated in the wrong order, without multi_W_O, as Z_1 W_O + Z_2 W_O, with the one-head
Z for both heads, or with its columns in alphabetical order (:func:`r_mistakes`); a loss in another log
base, as a mean, or scored at the targets' own positions as Version A's worked solution scores it
(:func:`loss_mistakes`). The grader names one where the answer given is what it gives
(:func:`dlexam.variants.mistakes.whole_mistake`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from dlexam.geoff.exact import ExactRun, argmax_row, matmul, softmax_row, transpose
from dlexam.spec import Matrix, TransformerSpec
from dlexam.spec.transformer import output_labels
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


def zero_masked_P(S: Matrix) -> Matrix:
    """P with the causal mask applied as a score of 0 instead of -inf: each row's argmax over all its positions, the
    later ones scoring 0 (ties shared)."""
    n = len(S)
    return tuple(argmax_row(tuple(x if j <= i else Fraction(0) for j, x in enumerate(row)), n)[0]
                 for i, row in enumerate(S))


def softmax_P(S: Matrix, T: float) -> tuple[tuple[float, ...], ...]:
    """Causal softmax(S/T) attention, in floats: the weights a student gets with softmax where argmax is asked."""
    return tuple(tuple(softmax_row(row, i + 1, T)) for i, row in enumerate(S))


def p_mistakes(run: ExactRun, t: TransformerSpec) -> tuple[Mistake, ...]:
    """Pr2.2 (b)'s whole-matrix mistakes, each computed from the variant's S: the causal mask as a score of 0 (first:
    it changes only the rows whose largest visible score is 0 or less, where P without the mask often agrees), P
    without the causal mask, ties given to one position, softmax at T = sqrt(d_head) or T = 1 where argmax is
    asked, argmax down the columns; then two at once, where that answer differs from each one's alone (`distinct`):
    without the mask and with ties broken, without the mask and as softmax."""
    S, tied, n, d = run.head.S, run.head.tied, len(run.tokens), t.d_head

    def one(pick) -> Matrix:  # each row's whole weight at the one position pick(row) names
        return tuple(tuple(Fraction(int(j == pick(i))) for j in range(n)) for i in range(n))

    argmax = ("; argmax is the limit of softmax(s/T) as T -> 0+: each row's largest visible scores share all the "
              "weight")
    return distinct(run.head.P, [
        Mistake(zero_masked_P(S), "the causal mask applied as a score of 0 instead of -inf: the hidden positions "
                                  "tie with (or beat) a row's largest visible score where that is 0 or less; a hidden "
                                  "position gets no weight at all"),
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
                             "sees, and it sums to 1"),
        # two mistakes at once, named only where the answer differs from the key's and from each one alone
        Mistake(one(lambda i: argmax_row(S[i], n)[1][0]), "P computed without the causal mask and with ties broken: "
                "each row's weight given to the first of its largest scores over all positions; a position sees only "
                "itself and the positions before it, and ties share the weight"),
        Mistake(one(lambda i: argmax_row(S[i], n)[1][-1]), "P computed without the causal mask and with ties broken: "
                "each row's weight given to the last of its largest scores over all positions; a position sees only "
                "itself and the positions before it, and ties share the weight"),
        *(Mistake(tuple(tuple(softmax_row(row, n, T)) for row in S), f"P computed with softmax(S{over}) and without "
                  f"the causal mask, where argmax over the visible positions is asked{argmax}", WEIGHT_TOLERANCE)
          for T, over in ((math.sqrt(d), f"/sqrt({d})"), (1.0, "")))])


def s_mistakes(run: ExactRun, t: TransformerSpec) -> tuple[Mistake, ...]:
    """Pr2.2 (a)'s: S divided by sqrt(d_head), as softmax's argument is (exact where d_head is a square), S with
    the causal mask applied (0 above the diagonal) though the question asks for every entry, both, and X X^T (the
    embeddings' dot products, W_Q and W_K left out)."""
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
    both = Mistake(tuple(tuple(x if j <= i else 0 * x for j, x in enumerate(r)) for i, r in enumerate(scaled.answer)),
                   "S scaled by 1/sqrt(d_head) and given with the causal mask applied (0 above the diagonal): the "
                   "question asks for every entry of S = Q K^T itself", scaled.tolerance)
    return distinct(S, [scaled, Mistake(masked, "S given with the causal mask applied (0 above the diagonal): the "
                                                "question asks for every entry of Q K^T, before masking"), both,
                        Mistake(matmul(run.X, transpose(run.X)), "S computed as X X^T, the embeddings' dot products: "
                                "W_Q and W_K left out; S = Q K^T with Q = X W_Q, K = X W_K")])


def r_mistakes(one: ExactRun, multi: ExactRun, t: TransformerSpec, where: str) -> tuple[Mistake, ...]:
    """Pr2.4 (a)'s: the one-head R = Z W_O (Version A's worked solution says a second head changes nothing; `where`
    names a cell where it differs), the heads' outputs concatenated in the wrong order ([Z_2 Z_1] multi_W_O),
    [Z_1 Z_2] itself, multi_W_O left out (where it has R's shape), Z_1 W_O + Z_2 W_O (W_O where multi_W_O is
    asked), [Z Z] multi_W_O with the one-head Z for every head (where the heads differ), and R with its columns in
    alphabetical order, where the model's dimensions (:func:`~dlexam.spec.transformer.output_labels`, R's column
    heads) are in another and that moves a value."""
    zs = [h.Z for h in multi.heads]
    names = " ".join(f"Z_{h + 1}" for h in range(len(zs)))

    def concat(parts) -> Matrix:
        return tuple(tuple(v for z in parts for v in z[i]) for i in range(len(zs[0])))

    out = [Mistake(one.R, "the one-head R = Z W_O, as Version A's worked solution says a second head gives; here "
                          f"[{names}] multi_W_O differs from it (at {where})"),
           Mistake(matmul(concat(zs[::-1]), t.multi_W_O),
                   f"the heads concatenated in the wrong order, [{' '.join(reversed(names.split()))}] multi_W_O: "
                   f"multi_W_O's first {t.d_head} rows multiply head 1's Z_1")]
    if len(zs) * t.d_head == t.d_model:  # [Z_1 Z_2] has R's shape
        out.append(Mistake(concat(zs), f"this is [{names}] itself: multi_W_O left out; R = [{names}] multi_W_O"))
    summed = tuple(tuple(sum(z[i][j] for z in zs) for j in range(t.d_head)) for i in range(len(zs[0])))
    out.append(Mistake(matmul(summed, t.W_O), f"each head's Z times the one-head W_O, summed: "
                       f"{' + '.join(f'Z_{h + 1} W_O' for h in range(len(zs)))}; multi_W_O, not W_O, maps "
                       f"[{names}] to R, a block of {t.d_head} rows for each head"))
    out.append(Mistake(matmul(concat([one.head.Z] * len(zs)), t.multi_W_O),
                       "the one-head Z of Pr2.3 used for every head, [Z Z] multi_W_O: the heads have weights of "
                       "their own, so each has its own Z"))
    outputs = output_labels(t.symbols, t.E)
    order = sorted(range(len(outputs)), key=lambda j: outputs[j])
    if order != list(range(len(outputs))):  # R's columns are the model's dimensions, not the symbols' order
        out.append(Mistake(tuple(tuple(r[j] for j in order) for r in multi.R),
                           f"R's columns given in alphabetical order ({', '.join(sorted(outputs))}): R's columns "
                           f"are the model's dimensions, in the order the exam heads them: {', '.join(outputs)}"))
    return distinct(multi.R, out)


def _nll(row, k: int, over) -> float:
    """-log of e^row[k] over the sum of e^x for x in `over` (the row itself, or a column), shifted by the largest."""
    top = max(over)
    return math.log(math.fsum(math.exp(float(x - top)) for x in over)) - float(row[k] - top)


def loss_mistakes(terms: list, own_terms: list, run: ExactRun) -> tuple[Mistake, ...]:
    """A loss's mistakes, from its terms: the sum of -log p in log base 10 or 2, the mean of the terms, (from
    `own_terms`, :func:`dlexam.geoff.exact.loss_terms` under the exam's convention) each target scored by the
    logits at its own position, as Version A's worked solution scores it (4.2114); and from `run`'s logits, the
    loss summed over every position's next token (the input's too, not only the tokens after <START>), and each
    softmax taken down its logit column, over the scored rows, instead of along the row, over the vocabulary."""
    ids, L = run.ids, run.logits
    rows = range(len(ids) - len(terms) - 1, len(ids) - 1)  # teacher forcing: the rows that score a target
    every = math.fsum(_nll(L[i], ids[i + 1], L[i]) for i in range(len(ids) - 1))
    down = math.fsum(_nll(L[i], ids[i + 1], [L[r][ids[i + 1]] for r in rows]) for i in rows)
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
                          "the loss is the summed cross-entropy", LOSS_TOLERANCE),
        Mistake(every, f"this is the loss summed over every position's next token ({len(ids) - 1} terms: "
                       f"{every:.4f}); the loss counts only the {n} tokens after <START>", LOSS_TOLERANCE),
        Mistake(down, f"this is the loss with each softmax taken down its logit column, over the {n} rows "
                      f"({down:.4f}), not along its row: p(target) is a softmax over the vocabulary", LOSS_TOLERANCE)])
