"""Problem 2 of a variant: a one-layer decoder meant to do a task on sequences of symbols, with fixed weights.

The questions are asked in dlexam's own words; every answer is exact (:mod:`dlexam.geoff.exact`: Fraction
matrix products and the tie rule; the loss in closed form with its value), and checked against the
project's float64 model before the variant is accepted (:mod:`dlexam.variants.checks`). Each question opens with
Problem 2's setting (:mod:`dlexam.variants.problem2_setting`); the whole-answer mistakes its key names are computed
by :mod:`dlexam.variants.problem2_mistakes`, and Pr2.5 is :mod:`dlexam.variants.problem2_gradients`.
"""

from __future__ import annotations

from fractions import Fraction

from dlexam.geoff.exact import ExactRun, exact_run, loss_terms, matmul, transpose
from dlexam.geoff.positions import bag_determines_next_token, first_difference, order_counterexample
from dlexam.spec import ExamSpec, Matrix, TransformerSpec, text
from dlexam.spec.numbers import decimal_text
from dlexam.spec.transformer import output_labels
from dlexam.variants.model import (
    Field,
    FollowThrough,
    Items,
    Mistake,
    Options,
    Question,
    Text,
    distinct,
    matrix_table,
)
from dlexam.variants.problem2_gradients import pr25
from dlexam.variants.problem2_mistakes import LOSS_TOLERANCE, loss_mistakes, p_mistakes, r_mistakes, s_mistakes
from dlexam.variants.problem2_setting import chosen, factor, in_order, labels, mat, named, setting, vec

BAG_LENGTH = 5  # Pr2.1's key checks every input of up to this many symbols
# the yes/no items, as Version A would print them (yes first); a variant shows them in its drawn order
WISE_OPTIONS = ("yes, a sound choice", "no, a poor choice")
SAME_OPTIONS = ("yes, R is the same", "no, R differs")


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
    targets = [t.vocab.index(t.example[p + 1]) for p in score_rows]
    E_T = transpose(t.E)
    # follow-through: each answer as it follows from the student's own earlier one (variants.follow)
    p_from_s = FollowThrough("Pr2.2.S", "argmax", "S", "causal argmax")
    logits_from_p = FollowThrough("Pr2.2.P", "rows_times", "P", "P V W_O E^T", {
        "rows": list(score_rows), "M": matmul(matmul(run.head.V, t.W_O), E_T)})
    loss_from_logits = FollowThrough("Pr2.3.logits", "loss", "logit rows", "the loss of your logit rows", {
        "rows": list(range(len(score_rows))), "targets": targets})
    loss_from_r = FollowThrough("Pr2.4.R", "loss", "R", "the loss of your R's logits R E^T", {
        "rows": list(score_rows), "targets": targets, "M": E_T})

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
                  reason=lambda i, j: p_reason(run, i, j), mistakes=p_mistakes(run, t), follows=(p_from_s,))), (
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
                      f"({score_rows[0] + 1}-{score_rows[-1] + 1}) score the targets")]), follows=(logits_from_p,)),
            Field("loss", "number", loss, Fraction(3, 5), "loss", tolerance=LOSS_TOLERANCE, closed_form=closed,
                  why=f"the sum of -log p(target) over the rows: {closed} = {loss:.4f}",
                  mistakes=loss_mistakes(terms, own_terms, run), follows=(loss_from_logits,))), (
            matrix_table("Z = P V", run.head.Z, *named(t, "Z", rows)),
            matrix_table("R = Z W_O", run.R, *named(t, "R", rows)),
            matrix_table("logits = R E^T", run.logits, *named(t, "logits", rows)),
            # a tiny p (or -log p) in scientific notation, never 0.0000 (decimal_text)
            Items(tuple(f"row {x.row} scores {x.target}: p = {x.probability_text} = {decimal_text(x.probability)}, "
                        f"-log p = {x.nll_text} = {decimal_text(x.nll)}" for x in terms)),
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
                  reason=r_reason, mistakes=r_mistakes(run, multi, t, r_difference(run.R, multi.R, rows, outputs))),
            Field("same", "choice", chosen(SAME_OPTIONS, orders.get("Pr2.4"), 0 if same_R else 1), Fraction(1, 4),
                  "1 or 2", options=same_options, follows=(FollowThrough(
                      "Pr2.4.R", "same_as", "R", "the one-head R = Z W_O", {
                          "M": run.R, "same": chosen(SAME_OPTIONS, orders.get("Pr2.4"), 0),
                          "differs": chosen(SAME_OPTIONS, orders.get("Pr2.4"), 1)}),),
                  why="R equals the one-head R" if same_R
                  else f"R differs from the one-head R, at {r_difference(run.R, multi.R, rows, outputs)}"),
            Field("loss", "number", loss_k, Fraction(1, 4), "loss", tolerance=LOSS_TOLERANCE, closed_form=closed_k,
                  why=f"{closed_k} = {loss_k:.4f}", mistakes=distinct(loss_k, [
                      Mistake(loss, f"this is the one-head loss of Pr2.3 ({loss:.4f}), as if R were the one-head R",
                              LOSS_TOLERANCE), *loss_mistakes(terms_k, own_terms_k, multi)]),
                  follows=(loss_from_r,))), (
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
