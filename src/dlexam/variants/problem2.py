"""Problem 2 of a variant: a one-layer decoder meant to do a task on sequences of symbols, with fixed weights.

The questions are asked in dlexam's own words; every answer is exact (:mod:`dlexam.geoff.exact`: Fraction
matrix products and the tie rule; the loss in closed form with its value), and checked against the
project's float64 model before the variant is accepted (:mod:`dlexam.variants.checks`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from dlexam.geoff.exact import ExactRun, argmax_row, exact_run, loss_terms, matmul, softmax_row
from dlexam.geoff.positions import bag_determines_next_token, first_difference, order_counterexample
from dlexam.spec import ExamSpec, Matrix, TransformerSpec, text
from dlexam.spec.transformer import axes_of, labels_of, output_labels
from dlexam.variants.model import Field, Items, Mistake, Options, Question, Text, distinct, matrix_table

BAG_LENGTH = 5  # Pr2.1's key checks every input of up to this many symbols
LOSS_TOLERANCE = 5e-4  # a loss written to 4 decimals is accepted
WEIGHT_TOLERANCE = 1e-2  # a mistake's irrational cell (softmax's weight, a score over sqrt(2)) written to 2 decimals
ZERO_OPTIONS = ("only W_Q and W_K", "W_Q, W_K and W_V", "all four: W_Q, W_K, W_V and W_O", "none of them")
ZERO_SETS = ({"W_Q", "W_K"}, {"W_Q", "W_K", "W_V"}, {"W_Q", "W_K", "W_V", "W_O"}, set())  # what each option says
MATRICES = ("W_Q", "W_K", "W_V", "W_O")
# Pr2.5 (a) asking which matrices get a NON-zero gradient: option i names the complement of ZERO_SETS[i], so the
# key is the same option, in other words (worded unlike ZERO_OPTIONS, so that a text names one claim)
NONZERO_OPTIONS = ("W_V and W_O only", "W_O only", "not one of the four", "every one of W_Q, W_K, W_V and W_O")
LINEAR_IN = {"W_V": "Z = P X W_V is linear in W_V", "W_O": "R = Z W_O is linear in W_O"}
# the yes/no items, as Version A would print them (yes first); a variant shows them in its drawn order
WISE_OPTIONS = ("yes, a sound choice", "no, a poor choice")
SAME_OPTIONS = ("yes, R is the same", "no, R differs")
SOFTMAX_OPTIONS = ("yes", "no")


def zero_options(asks: str) -> tuple[str, ...]:
    """Pr2.5 (a)'s options in the exam's order, worded for what it asks ("zero" or "nonzero")."""
    return ZERO_OPTIONS if asks == "zero" else NONZERO_OPTIONS


def claimed_zero(option: str) -> set[str]:
    """The matrices an option of Pr2.5 (a), in either wording, says get an exactly zero gradient."""
    wording = ZERO_OPTIONS if option in ZERO_OPTIONS else NONZERO_OPTIONS
    return ZERO_SETS[wording.index(option)]


def in_order(options: tuple[str, ...], order) -> tuple[str, ...]:
    """`options` in the order a variant shows them (`order`: a permutation; None: the exam's own order)."""
    return tuple(options[i] for i in (order or range(len(options))))


def chosen(options: tuple[str, ...], order, right: int | None) -> int:
    """The 1-based number of option `right` (an index into `options`) as shown; 0 (no correct option: the check
    one_correct_option refuses the draw) for None."""
    return 0 if right is None else in_order(options, order).index(options[right]) + 1


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


def pr21(t: TransformerSpec, pts: int, order, common: list) -> Question:
    """Problem 2.1, its key computed: leaving out positional encodings is sound exactly when the next token is a
    function of (the bag of the prefix, the last token) for every input up to length 5 over the variant's symbols
    (:func:`dlexam.geoff.positions.bag_determines_next_token`); where it is not, the answer names two inputs
    that such a model cannot tell apart."""
    bag = bag_determines_next_token(t.task, t.symbols, max_len=BAG_LENGTH, start=t.start, stop=t.stop)
    wise = bag["conflicts"] == 0
    options = in_order(WISE_OPTIONS, order)
    says = t.goal.says
    if wise:
        choice_why = "the target depends only on which symbols occur, not on their order"
        essay = ("Yes. The output depends only on which symbols occur, not on their order, so a model that sees its "
                 "input as a bag of tokens loses nothing it needs; without positions attention treats the input as "
                 "such a bag, an inductive bias that fits the task.")
        solution = (f"Yes: the target, {says}, is the same for every ordering of the input, so nothing about "
                    "the positions is needed. Without positional encodings self-attention sees the input as a bag of "
                    "symbols, which is exactly the invariance the task has.")
    else:
        pair = order_counterexample(t.task, t.example_input)
        if pair is not None:
            one, two = (t.example_input, t.example_target), pair
        else:  # every order of the example has one target: the shortest inputs the check found instead
            inputs = (p[:p.index(t.start)] for p in bag["conflict"]["prefixes"])
            one, two = ((x, t.goal.target(x)) for x in inputs)
        shown = [f"{' '.join(x)} gives {' '.join(y)}" for x, y in (one, two)]
        k = first_difference(one[1], two[1])  # the step where the two targets part
        where = "at <START>" if k == 0 else f"after <START> {' '.join(one[1][:k])}"
        choice_why = f"the target depends on the order of the input: {shown[0]}, {shown[1]}"
        essay = (f"No. The target depends on the order of the input: {shown[0]} but {shown[1]}. Without "
                 f"positional encodings this one-layer model sees its input as a bag of tokens: {where} it "
                 "attends to the same tokens with the same weights for both orders, so it predicts the same next "
                 "token for both, and one of the two targets is missed there.")
        solution = (f"No: the target, {says}, changes when the input is reordered: {shown[0]}, but {shown[1]}. "
                    "Without positional encodings, and with one layer, every position after <START> sees all the "
                    "input's tokens as a bag (its own token is the query, the prefix gives keys and values without "
                    "positions), so both orders get identical logits from <START> on and the model cannot fit "
                    f"both. Over every input of up to {BAG_LENGTH} symbols, at least {bag['conflicts']} of "
                    f"{bag['prefixes']} prefixes share their bag and last token with a prefix that needs another "
                    "next token.")
    return Question("Pr2.1", "Positional encodings", pts, (
        Text("(a) Was leaving out positional encodings a sound choice for this task? (b) Explain why in two or "
             "three sentences."),
        Options(options)), (
        Field("wise", "choice", chosen(WISE_OPTIONS, order, 0 if wise else 1), Fraction(2, 5), "1 or 2",
              options=options, why=choice_why),
        Field("why", "essay", essay, Fraction(3, 5), "two or three sentences")), (
        Text(solution),), "transformers", tuple(common))


def named(t: TransformerSpec, name: str, positions=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The matrix `name`'s (row labels, column labels), as every view names them
    (:data:`dlexam.spec.transformer.MATRIX_AXES`): E's columns and W_O's are one axis, the model's dimensions."""
    return labels_of(name, axes_of(t.vocab, t.E, t.d_head, t.heads), positions)


def labels(tokens) -> tuple[str, ...]:
    return tuple(f"{i + 1} {t}" for i, t in enumerate(tokens))


def vec(v) -> str:
    return "(" + ", ".join(text(x) for x in v) + ")"


def factor(x) -> str:
    """A number as a factor of a product written out: -1/2 in parentheses, so that "3 x (-1/2)" reads as one."""
    return f"({text(x)})" if x < 0 or "/" in text(x) else text(x)


def mat(m: Matrix) -> str:
    return "[" + "; ".join(", ".join(text(x) for x in r) for r in m) + "]"


def setting(t: TransformerSpec) -> list:
    """The model, as every question of Problem 2 states it, with the conventions their answers depend on (argmax
    attention, the loss): a platform shows each question alone, PrairieLearn each with a variant of its own."""
    outputs = output_labels(t.symbols, t.E)
    blocks = [
        Text(f"A small decoder-only transformer is meant to map a sequence of symbols to {t.goal.says}, followed "
             "by <STOP>. It has one self-attention layer with one head, no positional encodings, no feed-forward "
             "block and no residual connection. Attention is causal (a position sees itself and the positions "
             "before it)."),
        Text(f"The vocabulary is {', '.join(t.vocab)}; the embedding matrix E has one row per token, in that "
             f"order. The representation after attention is multiplied by W_O, and the logits are that result "
             f"times E^T." + (" E's columns, W_Q's rows and W_O's columns, the model's dimensions, are named after "
                              "the symbol whose row of E is that dimension's unit vector."
                              if set(outputs) <= set(t.symbols) else "")),
        matrix_table(f"E ({len(t.vocab)}x{t.d_model})", t.E, *named(t, "E")),
        matrix_table(f"W_Q = W_K = W_V ({t.d_model}x{t.d_head})" if t.head.W_Q == t.head.W_K == t.head.W_V
                     else "W_Q", t.head.W_Q, *named(t, "W_Q")),
        matrix_table(f"W_O ({t.d_head}x{t.d_model})", t.W_O, *named(t, "W_O")),
        Text(f"The training example is \"{' '.join(t.example)}\": the input {' '.join(t.example_input)}, then "
             f"<START>, the target {' '.join(t.example_target)}, then <STOP>."),
        Text("Attention uses the zero-temperature limit of softmax(s/T): as T -> 0+, each row's weight goes to its "
             "largest visible scores, shared equally when several are tied (e.g. scores (4, 1, 4) give (1/2, 0, "
             "1/2))."),
        Text("The loss is the summed cross-entropy of the tokens after <START>, with teacher forcing: the logits at "
             "position t score the token at position t+1."),
    ]
    if not t.head.W_Q == t.head.W_K == t.head.W_V:
        blocks[4:4] = [matrix_table("W_K", t.head.W_K, *named(t, "W_K")),
                       matrix_table("W_V", t.head.W_V, *named(t, "W_V"))]
    return blocks


def p_reason(run: ExactRun, i: int, j: int) -> str:
    row, tokens = run.head.S[i], run.tokens
    if j > i:
        return f"position {j + 1} comes after position {i + 1}: the causal mask hides it, weight 0"
    tied = run.head.tied[i]
    top = row[tied[0]]
    if len(tied) > 1:
        where = ", ".join(str(p + 1) for p in tied)
        return (f"row {tokens[i]} (position {i + 1}): its {len(tied)} visible scores at positions {where} tie at the "
                f"maximum {text(top)}, so argmax shares the weight: 1/{len(tied)} each" if j in tied else
                f"row {tokens[i]}: score {text(row[j])} is below the maximum {text(top)}, weight 0")
    return (f"row {tokens[i]} (position {i + 1}): the maximum visible score {text(top)} is at position {j + 1} only, "
            "so all the weight goes there: 1" if j in tied else
            f"row {tokens[i]}: score {text(row[j])} is below the maximum {text(top)}, weight 0")


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


def questions(spec: ExamSpec, orders: dict | None = None, gradients: dict | None = None,
              remedy: str = "softmax", asks: str = "zero") -> list[Question]:
    """Problem 2's questions. `orders` (:attr:`dlexam.variants.draw.Draw.orders`) shuffles the options of Pr2.1,
    Pr2.4 (b) and both items of Pr2.5 (none: the exam's own order); `gradients`
    (:func:`dlexam.variants.evidence.zero_gradients`) is what Pr2.5's key is computed from: without it (no torch)
    Pr2.5 is left out; `remedy` (:attr:`dlexam.variants.draw.Draw.remedy`) is what Pr2.5 (b) proposes, and `asks`
    (:attr:`dlexam.variants.draw.Draw.asks`) what Pr2.5 (a) asks for."""
    t = spec.transformer
    orders = orders or {}
    run = exact_run(t)
    multi = exact_run(t, heads=t.heads)
    tokens, rows = t.example, labels(t.example)
    pts = dict(spec.points)
    terms = loss_terms(run, t)
    terms_k = loss_terms(multi, t)
    own_terms, own_terms_k = loss_terms(run, t, "exam"), loss_terms(multi, t, "exam")
    loss, loss_k = sum(x.nll for x in terms), sum(x.nll for x in terms_k)
    closed, closed_k = " + ".join(f"[{x.nll_text}]" for x in terms), " + ".join(f"[{x.nll_text}]" for x in terms_k)
    start = t.example.index(t.start)
    score_rows = tuple(range(start, len(tokens) - 1))  # teacher forcing: these rows predict the next token
    logits_used = tuple(run.logits[i] for i in score_rows)
    used_labels = tuple(rows[i] for i in score_rows)
    same_R = multi.R == run.R
    outputs = output_labels(t.symbols, t.E)  # R's columns, as geoff's explanations name them
    Q = run.head.Q
    same_options = in_order(SAME_OPTIONS, orders.get("Pr2.4"))

    def s_reason(i: int, j: int) -> str:
        return f"q_{i + 1} . k_{j + 1} = {vec(Q[i])} . {vec(run.head.K[j])} = {text(run.head.S[i][j])}"

    def logit_reason(i: int, j: int) -> str:
        r = run.R[score_rows[i]]
        return f"r_{score_rows[i] + 1} . E[{t.vocab[j]}] = {vec(r)} . {vec(t.E[j])} = {text(logits_used[i][j])}"

    def r_reason(i: int, j: int) -> str:
        """R[i, j] as the product that makes it: row i of [Z_1 Z_2] times column j of multi_W_O, term by term."""
        concat = tuple(v for h in multi.heads for v in h.Z[i])
        column = tuple(r[j] for r in t.multi_W_O)
        terms = " + ".join(f"{factor(z)} x {factor(w)}" for z, w in zip(concat, column, strict=True))
        heads = " ".join(f"Z_{h + 1}" for h in range(t.heads)) if t.heads <= 3 else f"Z_1 ... Z_{t.heads}"
        return (f"row {i + 1} of [{heads}] times column {outputs[j]} of multi_W_O: {vec(concat)} . {vec(column)} = "
                f"{terms} = {text(multi.R[i][j])}")

    common = setting(t)
    qs = [
        pr21(t, pts["Pr2.1"], orders.get("Pr2.1"), common),
        Question("Pr2.2", "Argmax attention", pts["Pr2.2"], (
            Text("(a) Compute the score matrix S = Q K^T for the training example (all its entries, before "
                 "masking). (b) Compute the causal attention matrix P. Give exact fractions."),), (
            Field("S", "matrix", run.head.S, Fraction(3, 8), "S = Q K^T", row_labels=rows, col_labels=rows,
                  reason=s_reason, mistakes=s_mistakes(run, t)),
            Field("P", "matrix", run.head.P, Fraction(5, 8), "P", row_labels=rows, col_labels=rows,
                  reason=lambda i, j: p_reason(run, i, j), mistakes=p_mistakes(run, t))), (
            matrix_table("X: the rows of E for the example's tokens", run.X, *named(t, "X", rows)),
            matrix_table("Q = X W_Q" + (" = K = V" if t.head.W_Q == t.head.W_K == t.head.W_V else ""), Q,
                         *named(t, "Q", rows)),
            matrix_table("S = Q K^T", run.head.S, *named(t, "S", rows)),
            Text("Each row keeps the scores at its own and earlier positions; the largest of them share the "
                 "weight equally:"),
            Items(tuple(p_reason(run, i, run.head.tied[i][0]) for i in range(len(tokens)))),
            matrix_table("P", run.head.P, *named(t, "P", rows))), "attention", tuple(common)),
        Question("Pr2.3", "The loss", pts["Pr2.3"], (
            Text(f"(a) Give the logit rows at positions {score_rows[0] + 1}-{score_rows[-1] + 1}, the rows that "
                 f"score the {len(score_rows)} target tokens (at positions {score_rows[0] + 2}-{score_rows[-1] + 2}), "
                 "exactly. (b) Give the loss (natural log), to 4 decimals."),), (
            Field("logits", "matrix", logits_used, Fraction(2, 5), "logit rows", row_labels=used_labels,
                  col_labels=t.vocab, reason=logit_reason, mistakes=distinct(logits_used, [Mistake(
                      tuple(run.logits[i + 1] for i in score_rows),
                      f"the logit rows at the target tokens' own positions ({score_rows[0] + 2}-{score_rows[-1] + 2}), "
                      "as Version A's worked solution takes them; with teacher forcing the rows one earlier "
                      f"({score_rows[0] + 1}-{score_rows[-1] + 1}) score the targets")])),
            Field("loss", "number", loss, Fraction(3, 5), "loss", tolerance=LOSS_TOLERANCE, closed_form=closed,
                  why=f"the sum of -log p(target) over the rows: {closed} = {loss:.4f}",
                  mistakes=loss_mistakes(terms, own_terms))), (
            matrix_table("Z = P V", run.head.Z, *named(t, "Z", rows)),
            matrix_table("R = Z W_O", run.R, *named(t, "R", rows)),
            matrix_table("logits = R E^T", run.logits, *named(t, "logits", rows)),
            Items(tuple(f"row {x.row} scores {x.target}: p = {x.probability_text} = {x.probability:.4f}, "
                        f"-log p = {x.nll_text} = {x.nll:.4f}" for x in terms)),
            Text(f"L = {closed} = {loss:.4f}.")), "transformers", tuple(common)),
        Question("Pr2.4", f"Attention with {t.heads} heads", pts["Pr2.4"], (
            Text("A second attention head is added" + (" with the same W_Q, W_K, W_V as the first" if same_heads(t)
                                                        else " with weights of its own")
                 + f". The {t.heads} heads' outputs are concatenated, [Z_1 Z_2] ({t.heads * t.d_head} columns), and "
                 "multiplied by a new output matrix multi_W_O instead of W_O."),
            *([] if same_heads(t) else [matrix_table(f"head {h + 1}: W_Q = W_K = W_V", hd.W_Q, *named(t, "W_Q"))
                                         for h, hd in enumerate(t.multi_heads)]),
            matrix_table(f"multi_W_O ({t.heads * t.d_head}x{t.d_model})", t.multi_W_O, *named(t, "multi_W_O")),
            Text("(a) Compute R = [Z_1 Z_2] multi_W_O, exactly. (b) Is R the same as with one head? (c) Give the "
                 "teacher-forcing loss, to 4 decimals."),
            Options(same_options)), (
            Field("R", "matrix", multi.R, Fraction(1, 2), "R", row_labels=rows, col_labels=outputs,
                  reason=r_reason, mistakes=distinct(multi.R, [Mistake(
                      run.R, "the one-head R = Z W_O, as Version A's worked solution says a second head gives; here "
                             f"[Z_1 Z_2] multi_W_O differs from it (at {r_difference(run.R, multi.R, rows, outputs)})")
                  ])),
            Field("same", "choice", chosen(SAME_OPTIONS, orders.get("Pr2.4"), 0 if same_R else 1), Fraction(1, 4),
                  "1 or 2", options=same_options,
                  why="R equals the one-head R" if same_R
                  else f"R differs from the one-head R, at {r_difference(run.R, multi.R, rows, outputs)}"),
            Field("loss", "number", loss_k, Fraction(1, 4), "loss", tolerance=LOSS_TOLERANCE, closed_form=closed_k,
                  why=f"{closed_k} = {loss_k:.4f}", mistakes=distinct(loss_k, [
                      Mistake(loss, f"this is the one-head loss of Pr2.3 ({loss:.4f}), as if R were the one-head R",
                              LOSS_TOLERANCE), *loss_mistakes(terms_k, own_terms_k)]))), (
            *(m for h, hd in enumerate(multi.heads) for m in (
                () if same_heads(t) else (matrix_table(f"head {h + 1}: S_{h + 1} = Q_{h + 1} K_{h + 1}^T", hd.S,
                                                       *named(t, "S", rows)),
                                          matrix_table(f"head {h + 1}: P_{h + 1}", hd.P, *named(t, "P", rows))))
              + (matrix_table(f"head {h + 1}: Z_{h + 1} = P_{h + 1} V_{h + 1}", hd.Z, *named(t, "Z", rows)),)),
            Text(heads_explanation(t, run.R, multi.R, rows, outputs)),
            matrix_table("R = [Z_1 Z_2] multi_W_O", multi.R, *named(t, "R", rows)),
            Text(f"L = {closed_k} = {loss_k:.4f} (one head: {loss:.4f}).")), "transformers", tuple(common)),
    ]
    if gradients is not None:
        qs.append(pr25(t, pts["Pr2.5"], gradients, orders, remedy, asks))
    return qs


def same_heads(t: TransformerSpec) -> bool:
    return all(h == t.head for h in t.multi_heads)


def r_difference(one: Matrix, multi: Matrix, rows: tuple[str, ...], outputs: tuple[str, ...]) -> str:
    """The first cell where the k-head R (`multi`) differs from the one-head R (`one`), in words; "" if none."""
    for i, (a, b) in enumerate(zip(multi, one, strict=True)):
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return f"row {rows[i]}, column {outputs[j]}: {text(x)} here, {text(y)} with one head"
    return ""


def heads_explanation(t: TransformerSpec, one: Matrix, multi: Matrix, rows: tuple[str, ...],
                      outputs: tuple[str, ...]) -> str:
    """Why R with k heads (`multi`) is or is not the one-head R (`one`): from multi_W_O's blocks of d_head rows."""
    k, d = t.heads, t.d_head
    blocks = [t.multi_W_O[h * d:(h + 1) * d] for h in range(k)]
    names = " ".join(f"Z_{h + 1}" for h in range(k))
    parts = " + ".join(f"Z_{h + 1} B_{h + 1}" for h in range(k))
    block_names = ", ".join(f"B_{h + 1}" for h in range(k - 1)) + f" and B_{k}"
    if same_heads(t):
        total = blocks[0]
        for b in blocks[1:]:
            total = tuple(tuple(x + y for x, y in zip(r, s, strict=True)) for r, s in zip(total, b, strict=True))
        verdict = "equals W_O, so R is the same as with one head" if one == multi else "is not W_O, so R changes"
        return (f"Both heads are identical, so Z_1 = Z_2 = Z and [Z Z] multi_W_O = Z (B_1 + B_2), where B_1 and B_2 "
                f"are multi_W_O's two blocks of {d} rows. Here B_1 + B_2 = {mat(total)}, which {verdict}.")
    out = [f"The heads have different weights, so each has its own Z, and R = [{names}] multi_W_O = {parts}, where "
           f"{block_names} are multi_W_O's {'two' if k == 2 else k} blocks of {d} rows."]
    silent = [h for h, b in enumerate(blocks) if all(x == 0 for r in b for x in r)]
    kept = [h for h in range(k) if h not in silent]
    if silent:
        out.append(f"Here {' and '.join(f'B_{h + 1}' for h in silent)} = 0, so "
                   f"{' and '.join(f'head {h + 1}' for h in silent)} add{'s' if len(silent) == 1 else ''} nothing: "
                   f"R = {' + '.join(f'Z_{h + 1} B_{h + 1}' for h in kept) or '0'}.")
        if kept == [0] and t.multi_heads[0] == t.head and blocks[0] == t.W_O:
            out.append("Head 1 is the one-head model's head and B_1 = W_O, so R = Z W_O: the same as with one head.")
            return " ".join(out)
    if one == multi:
        out.append("Computed, R equals the one-head R = Z W_O in every cell, so R is the same as with one head.")
    else:
        out.append(f"R is not the one-head R = Z W_O ({r_difference(one, multi, rows, outputs)}), so R changes.")
    return " ".join(out)


def check_exact_heads_claim(t: TransformerSpec) -> bool:
    """Whether Z (sum of multi_W_O's blocks) equals the k-head R for identical heads (the identity used above)."""
    if not same_heads(t):
        return True
    run, multi = exact_run(t), exact_run(t, heads=t.heads)
    d = t.d_head
    total = tuple(tuple(sum(t.multi_W_O[h * d + i][j] for h in range(t.heads)) for j in range(t.d_model))
                  for i in range(d))
    return matmul(run.head.Z, total) == multi.R


def geoff_cell(t: TransformerSpec, answer_id: str, at: tuple[int, int] | None = None) -> tuple[str, int] | None:
    """The cell of Geoff's transformer (:mod:`dlexam.geoff.cells`' name) an answer of Problem 2 is, on the spec's
    example at T = 0, and the heads its model has (1, or k for Pr2.4): "P[3,0]" for Pr2.2.P row 3, column 0; the
    teacher-forcing logit rows of Pr2.3 are the rows from <START> on; a loss is "loss". None for the other
    answers (the choices, and the questions outside Problem 2)."""
    start = t.example.index(t.start)
    i, j = at if at is not None else (None, None)
    cells = {"Pr2.2.S": ("S", 1), "Pr2.2.P": ("P", 1), "Pr2.3.logits": ("logits", 1), "Pr2.4.R": ("R", t.heads)}
    if answer_id in ("Pr2.3.loss", "Pr2.4.loss"):
        return "loss", 1 if answer_id == "Pr2.3.loss" else t.heads
    if answer_id not in cells or at is None:
        return None
    name, heads = cells[answer_id]
    row = start + i if answer_id == "Pr2.3.logits" else i  # Pr2.3 asks for the rows that score a target
    return f"{name}[{row},{j}]", heads
