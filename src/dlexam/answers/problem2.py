"""Problem 2: Geoff's dedup-and-sort transformer with the exam's weights.

Every number comes from :func:`dlexam.geoff.run_geoff` (the project's model of Problem 2); the exam's
numbers are read out of the exam text (:mod:`dlexam.answers.exam_source`), garbles and all.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import torch

from dlexam import geoff
from dlexam.answers import exam_source
from dlexam.answers.registry import Answer, difference, not_read, question
from dlexam.exact import exact_fraction, fraction_rows
from dlexam.geoff.compare import FROZEN_CLAIM, frozen_claim
from dlexam.geoff.positions import bag_determines_next_token
from dlexam.spec import VERSION_A, text
from dlexam.spec import identity as identity_matrix
from dlexam.words import counted

EXAMPLE = geoff.EXAM_EXAMPLE  # "D A A <START> A D <STOP>"
OUTPUT = (*VERSION_A.transformer.example_target, VERSION_A.transformer.stop)  # the tokens Pr2.3 scores: A, D, <STOP>
N = len(VERSION_A.transformer.example)  # the example's tokens, the rows of its matrices (7)
# Anchors of the worked solution's lines in the exam text.
LINE_Q = "Q = K = V = XW_Q"
LINE_S = "$$\\boldsymbol{Q}\\boldsymbol{K}^{\\mathsf{T}} ="
LINE_P = "$$\\boldsymbol{P} = \\begin{bmatrix}"
LINE_Z = "$$\\boldsymbol{Z} = \\boldsymbol{P} \\boldsymbol{V}"
LINE_R = "$$\\boldsymbol{R} = \\boldsymbol{Z}\\boldsymbol{W}_O"
# Lead-ins of the solution's numbers: what follows each is read, so an edited number is compared, not assumed.
LINE_LOGITS = [f"\\mathbf{{z}}_{{{i}}}^{{\\mathsf{{T}}}} = [" for i in (5, 6, 7)]
LINE_PROBS = ["$$P(y_5 = A) = ", "P(y_6 = D) = ", "P(y_7 = \\langle \\text{STOP} \\rangle) = "]
LINE_LOSS = "$$L = -\\log P(y_5 = A) - \\log P(y_6 = D) - \\log P(y_7 = \\langle STOP \\rangle) = "
PR21_SOLUTION = ("It was a wise decision, since for this particular problem the output is invariant to the order by "
                 "which the inputs are presented.")
PR22_CAUSAL = "Remember that this is a decoder-only model, so you need to use **causal masking**."
PR23_ROWS = "To compute the loss, only the bottom three representations matter."
PR24_SOLUTION = ("We would concatenate two copies of the matrix Z as above and would obtain the same R, so the result "
                 "would be identical.")
PR24_JOHN = "John decides to add a second attention head"
PR25_QUESTION = "The projection matrices \\mathbf{W}_Q , \\mathbf{W}_K , \\mathbf{W}_V never change."
PR25_SOLUTION = ("The argmax attention has zero gradient, therefore the projection matrices are never updated in the "
                 "gradient backpropagation algorithm.")
PR25_FIX = "The problem would be fixed by using the usual softmax attention with temperature $T = \\sqrt{d}$."
PR22_D = ("Let softmax(s/T) denote the softmax transformation of a vector $s \\in \\mathbb{R}^d$ with temperature T. "
          "Normally, transformers use scaled dot product attention with $T = \\sqrt{d}$")  # which d: Pr2.5's note


def exam_matrix(anchor: str, index: int) -> list[list[Fraction]] | None:
    """The `index`-th bmatrix on the exam line containing `anchor` (None where the text has no such matrix)."""
    line = exam_source.line_of(anchor)
    matrices = [] if line is None else exam_source.bmatrices(line)
    return matrices[index] if index < len(matrices) and matrices[index] else None


def exam_number_after(anchor: str) -> float | None:
    """The number the exam states last after `anchor` on its line (e.g. '... = 0.4547' -> 0.4547); None where
    the anchor is absent or no number follows its last '='."""
    rest = exam_source.after(anchor, "")
    return None if rest is None else exam_source.leading_number(rest.rsplit("=", 1)[-1])


def exam_logit_row(anchor: str) -> list[float] | None:
    """The logits after `anchor` ('z_5^T = [z^T W-row] E^T = [logits]': the last bracket); None if unreadable."""
    rest = exam_source.after(anchor, "")
    rows = [] if rest is None else re.findall(r"\[([^\]]*)\]", "[" + rest)
    try:
        return [float(exam_source.parse_number(c)) for c in rows[-1].split(",")] if rows else None
    except ValueError:
        return None


def align_rows(printed: list[list[Fraction]], true: torch.Tensor) -> dict:
    """Match the rows the exam prints, in order, to the true matrix's rows.

    Returns which true rows (1-based) the printout skips and which printed rows (1-based) have the
    wrong length or match no remaining row: the extraction's garbles, located.
    """
    rows = [[exact_fraction(v) or Fraction(v) for v in r] for r in true.tolist()]
    cursor, missing, malformed, matched = 0, [], [], []
    for i, pr in enumerate(printed, start=1):
        if len(pr) != len(rows[0]):
            malformed.append({"printed_row": i, "entries": len(pr), "expected_entries": len(rows[0])})
            if cursor < len(rows):
                matched.append((i, cursor + 1))
                cursor += 1
            continue
        j = next((j for j in range(cursor, len(rows)) if rows[j] == pr), None)
        if j is None:
            malformed.append({"printed_row": i, "values": [str(v) for v in pr], "matches_no_row": True})
            continue
        missing += list(range(cursor + 1, j + 1))
        matched.append((i, j + 1))
        cursor = j + 1
    missing += list(range(cursor + 1, len(rows) + 1))
    return {"printed_rows": len(printed), "true_rows": len(rows), "missing_true_rows": missing,
            "malformed_printed_rows": malformed}


def _rows(n: int | str) -> str:
    """How many rows a printout has, in words ("6 rows", "1 row"; "? rows" where it was not read)."""
    return f"{n} rows" if isinstance(n, str) else counted(n, "row")


def _numbered(noun: str, numbers: list[int] | str) -> str:
    """Rows named by their numbers: "true row 5", "true rows 3 and 5", "no true row" ("true rows ?" where they
    were not read)."""
    if isinstance(numbers, str):
        return f"{noun}s {numbers}"
    if not numbers:
        return f"no {noun}"
    if len(numbers) == 1:
        return f"{noun} {numbers[0]}"
    return f"{noun}s {', '.join(str(n) for n in numbers[:-1])} and {numbers[-1]}"


def _as_tensor(m: list[list[Fraction]]) -> torch.Tensor:
    return torch.tensor([[float(v) for v in r] for r in m], dtype=torch.float64)


def _rows_text(m) -> str:
    return " ".join("[" + " ".join(row) + "]" for row in fraction_rows(m))


def _shape(m: list[list]) -> tuple[int, ...]:
    """(rows, columns) of a printed matrix; (rows, -1) where its rows differ in length."""
    widths = {len(row) for row in m}
    return (len(m), widths.pop() if len(widths) == 1 else -1)


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


# ---- Pr2.1 no positional encodings -----------------------------------------------------------

@question("Pr2.1")
def pr2_1() -> Answer:
    t = VERSION_A.transformer
    second = ("C", "A", "B", "D", "B")  # a longer input with a repeat, every symbol used
    checks = []
    for given in (t.example_input, second):
        inp, out = " ".join(given), " ".join((*t.goal.target(given), t.stop))
        orders = sorted(set(itertools.permutations(inp.split())))
        results = [geoff.run_geoff(" ".join(o) + f" {t.start} " + out) for o in orders]
        n_in = len(inp.split())
        ref = results[0]
        after = max(_maxdiff(r.logits[n_in:], ref.logits[n_in:]) for r in results)
        before = max(_maxdiff(r.logits[:n_in], ref.logits[:n_in]) for r in results)
        losses = sorted({round(float(r.loss["teacher_forcing"]["value"]), 12) for r in results})
        checks.append({"input": inp, "orders": len(orders), "max_logit_difference_from_START_on": after,
                       "max_logit_difference_at_input_positions": before, "distinct_losses": losses})
    bag = bag_determines_next_token(t.task, t.symbols, start=t.start, stop=t.stop)
    bag_only = bag_determines_next_token(t.task, t.symbols, with_last_token=False, start=t.start, stop=t.stop)
    invariant = all(c["max_logit_difference_from_START_on"] < 1e-12 for c in checks)
    wise = invariant and bag["conflicts"] == 0
    return Answer(
        id="Pr2.1",
        question="No positional encodings: a wise decision?",
        exam_answer=PR21_SOLUTION,
        computed=(f"run_geoff on all {checks[0]['orders']} orders of '{checks[0]['input']}' and "
                  f"{checks[1]['orders']} of '{checks[1]['input']}': "
                  f"logits from {t.start} on identical (max difference "
                  f"{difference(max(c['max_logit_difference_from_START_on'] for c in checks))}); "
                  f"over {bag['prefixes']} prefixes of every input up to length {bag['max_len']}, (bag, last token) "
                  f"fixes "
                  f"the next token with {counted(bag['conflicts'], 'conflict')}"),
        verdict="agrees" if wise else "disagrees",
        explanation="" if wise else "the outputs after <START> depend on the input order, or a bag is not enough",
        evidence={"permutation_checks": checks, "bag_sufficiency": bag,
                  "bag_without_the_query_token": bag_only},
        notes=["Caveat: the model must still know what it has already emitted, and its own outputs join the same bag "
               "as the input. It works here because the output is sorted: everything emitted is <= the last token "
               "(the query), every symbol above it can only come from the input, and <START> occurs once (so even "
               "attention's normalised averages recover the counts). The exhaustive check above confirms it; the bag "
               "alone, without the query token, is not enough (conflicts in bag_without_the_query_token).",
               "Only the rows from <START> on are order-invariant; rows at input positions differ, but no loss or "
               "output reads them."],
        exam_quotes=[PR21_SOLUTION],
    )


# ---- Pr2.2 the attention matrix --------------------------------------------------------------

@question("Pr2.2")
def pr2_2() -> Answer:
    r = geoff.run_geoff(EXAMPLE, temperature=0.0)
    exam_P = exam_matrix(LINE_P, 0)
    exam_Q = exam_matrix(LINE_Q, 2)
    exam_S = exam_matrix(LINE_S, 2)
    diff = None if exam_P is None or _shape(exam_P) != tuple(r.P.shape) else _maxdiff(_as_tensor(exam_P), r.P)
    ev = {"computed_P": fraction_rows(r.P), "exam_P": None if exam_P is None else [[str(v) for v in row]
                                                                                    for row in exam_P],
          "max_abs_difference_P_vs_exam": diff,
          "max_abs_difference_QKV_vs_exam": None if exam_Q is None or _shape(exam_Q) != tuple(r.Q.shape)
          else _maxdiff(_as_tensor(exam_Q), r.Q),
          "exam_QK^T_printout_vs_computed": None if exam_S is None else align_rows(exam_S, r.scores)}
    s_garble = ev["exam_QK^T_printout_vs_computed"] or {"printed_rows": "?", "missing_true_rows": "?"}
    q_diff = ev["max_abs_difference_QKV_vs_exam"]
    if exam_P is None or exam_Q is None:
        verdict = "unread"
        explanation = not_read(["the attention matrix P"] * (exam_P is None) + ["Q = K = V = X W_Q"] * (exam_Q is None))
    else:
        differ = []
        if diff is None:
            differ.append(f"The exam's P has rows of {[len(row) for row in exam_P]} entries; run_geoff's P is "
                          f"{r.P.shape[0]}x{r.P.shape[1]}.")
        elif diff >= 1e-12:
            differ.append(f"run_geoff's P differs from the exam's by {diff:.4g}.")
        if q_diff is None:
            differ.append(f"The exam's Q = K = V = X W_Q has rows of {[len(row) for row in exam_Q]} entries; "
                          f"run_geoff's Q is {r.Q.shape[0]}x{r.Q.shape[1]}.")
        elif q_diff >= 1e-12:
            differ.append(f"run_geoff's Q = K = V = X W_Q differs from the exam's by {q_diff:.4g}.")
        verdict, explanation = ("disagrees", " ".join(differ)) if differ else ("agrees", "")
    return Answer(
        id="Pr2.2",
        question=f"The causal argmax (T -> 0) attention matrix for '{EXAMPLE}'",
        exam_answer="not read: the exam text has no P" if exam_P is None else "P = " + _rows_text(exam_P),
        computed=(f"run_geoff(T=0): P = {_rows_text(r.P)}"
                  + ("" if diff is None else f" (max difference from the exam's P: {difference(diff)})")),
        verdict=verdict,
        explanation=explanation,
        evidence=ev,
        notes=[
            "The printed Q K^T is garbled by the extraction: it has "
            f"{_rows(s_garble['printed_rows'])} instead of {N} ({_numbered('true row', s_garble['missing_true_rows'])} "
            "missing: an 'A' row) and its last row has 8 entries; the P built from it is nevertheless right.",
            "Ties share the weight equally (row of <START>: four zero scores -> 1/4 each; <STOP>: 1/7 each), as the "
            "exam's lim T->0+ softmax(s/T) examples say.",
        ],
        exam_quotes=[LINE_P, LINE_Q, LINE_S, PR22_CAUSAL],
    )


# ---- Pr2.3 the loss --------------------------------------------------------------------------

@question("Pr2.3")
def pr2_3() -> Answer:
    r = geoff.run_geoff(EXAMPLE, temperature=0.0)
    exam_loss = exam_number_after(LINE_LOSS)
    exam_probs = [exam_number_after(a) for a in LINE_PROBS]
    exam_logits = [exam_logit_row(a) for a in LINE_LOGITS]
    L = r.loss
    exam_value = float(L["exam"]["value"])
    tf_value = float(L["teacher_forcing"]["value"])
    ev = {
        "exam_convention": {"value": exam_value, "rows": L["exam"]["rows"], "targets": L["exam"]["targets"],
                            "probabilities": L["exam"]["probabilities"]},
        "teacher_forcing": {"value": tf_value, "rows": L["teacher_forcing"]["rows"],
                            "targets": L["teacher_forcing"]["targets"],
                            "probabilities": L["teacher_forcing"]["probabilities"]},
        "exam_printed": {"loss": exam_loss, "probabilities": exam_probs, "logits_z5_z6_z7": exam_logits},
    }
    logits_read = all(row is not None and len(row) == r.logits.shape[1] for row in exam_logits)
    ev["logits_rows_5_6_7_max_difference"] = (_maxdiff(torch.tensor(exam_logits, dtype=torch.float64), r.logits[4:7])
                                              if logits_read else None)
    probs_read = None not in exam_probs
    ev["probabilities_max_difference"] = (max(abs(a - b) for a, b in zip(exam_probs, L["exam"]["probabilities"],
                                                                         strict=True)) if probs_read else None)
    printouts = {"exam_Z_printout_vs_computed": (LINE_Z, 2, r.Z), "exam_R_printout_vs_computed": (LINE_R, 2, r.R),
                 "exam_Z_inside_R_line_vs_computed": (LINE_R, 0, r.Z),
                 "exam_P_inside_Z_line_vs_computed": (LINE_Z, 0, r.P)}
    for name, (anchor, index, true) in printouts.items():
        printed = exam_matrix(anchor, index)
        ev[name] = None if printed is None else align_rows(printed, true)
    zmiss = (ev["exam_Z_printout_vs_computed"] or {}).get("missing_true_rows", "?")
    rmiss = (ev["exam_R_printout_vs_computed"] or {}).get("missing_true_rows", "?")
    a, d, stop = ("?" if p is None else p for p in exam_probs)
    stated = f"L = {'?' if exam_loss is None else exam_loss} (P(A) = {a}, P(D) = {d}, P(<STOP>) = {stop})"
    logit_names = [f"z_{i}" for i in range(5, 5 + len(LINE_LOGITS))]
    if exam_loss is None or not probs_read or None in exam_logits:
        unread = (["the loss"] if exam_loss is None else []) + [
            f"P({t})" for t, p in zip(OUTPUT, exam_probs, strict=True) if p is None] + [
            f"the logits {z}" for z, row in zip(logit_names, exam_logits, strict=True) if row is None]
        verdict, stated, explanation = "unread", f"not read: {stated}", not_read(unread)
    else:
        differ = [] if abs(round(exam_value, 4) - exam_loss) < 1e-9 else [
            f"run_geoff gives L = {exam_value:.4f} under the exam's convention ({tf_value:.4f} under teacher "
            f"forcing), the exam text states {exam_loss}"]
        differ += [f"run_geoff gives P({t}) = {c:.4f}, the exam text states {p}"
                   for t, p, c in zip(OUTPUT, exam_probs, L["exam"]["probabilities"], strict=True)
                   if abs(c - p) >= 5e-5]
        true_logits = r.logits[4:4 + len(LINE_LOGITS)].tolist()  # rows 5-7, z_5..z_7 as the solution names them
        differ += [f"run_geoff gives {z} = [{', '.join(true)}], the exam text states "
                   f"[{', '.join(fraction_rows([row])[0])}]"
                   for z, row, true, c in zip(logit_names, exam_logits, fraction_rows(true_logits), true_logits,
                                              strict=True)
                   if len(row) != len(c) or max(abs(x - y) for x, y in zip(row, c, strict=True)) >= 5e-5]
        verdict, explanation = ("disagrees", "; ".join(differ) + ".") if differ else ("agrees", "")
    return Answer(
        id="Pr2.3",
        question=f"Cross-entropy loss of the output tokens '{' '.join(OUTPUT)}'",
        exam_answer=stated,
        computed=(f"{exam_value:.4f} under the exam's convention ({_numbered('row', L['exam']['rows'])} score their "
                  f"own tokens); {tf_value:.4f} under standard teacher forcing "
                  f"({_numbered('row', L['teacher_forcing']['rows'])} predict the next token)"),
        verdict=verdict,
        explanation=explanation,
        evidence=ev,
        notes=[
            f"The {exam_value:.4f} holds under the exam's own convention only: it scores each output token with the "
            "logit row at that token's own position (rows 5, 6, 7 = A, D, <STOP>: z_5 scores A, z_6 D, z_7 <STOP>). "
            "Standard teacher forcing scores token t+1 with row t (rows 4, 5, 6 = <START>, A, D), since a causal "
            f"decoder's row t can see token t itself. That gives {tf_value:.4f}.",
            f"The printed Z = P V has 6 rows instead of {N} ({_numbered('true row', zmiss)} missing); the printed R = "
            f"Z W_O also has 6 ({_numbered('row', rmiss)} missing), while the Z printed inside the R line has all {N}. "
            "The P printed inside the Z line has 8 entries in most rows. The rows the loss uses (5-7) are unaffected.",
        ],
        exam_quotes=[LINE_LOSS, *LINE_PROBS, *LINE_LOGITS, PR23_ROWS, LINE_Z, LINE_R],
    )


# ---- Pr2.4 k identical heads, W_O = I_{k d_head} ------------------------------------------------

def heads_formulas(c: geoff.HeadsComparison, t=VERSION_A.transformer) -> dict[str, str]:
    """The formulas of Problem 2.4's answer, written from the spec (Version A: two heads of width 2, I_4)."""
    k, d, n = t.heads, t.d_head, t.d_model
    identity = t.multi_W_O == identity_matrix(k * d)
    w_prime = f"I_{k * d}" if identity else "multi_W_O"
    concat = "[" + " ".join(["Z"] * k) + "]"
    blocks = " + ".join(f"W_O'[{'' if h == 0 else h * d}:{'' if h == k - 1 else (h + 1) * d}]" for h in range(k))
    pairs = sorted({tuple(sorted((j, i))) for j, i in enumerate(c.permutation or []) if i != j})
    return {"k": str(k), "concat": concat, "w_prime": w_prime, "blocks": blocks,
            "as_one": f"Z [{' '.join([f'I_{d}'] * k)}]" if identity else f"Z ({blocks})",
            "swaps": ", ".join(f"{t.vocab[a]}<->{t.vocab[b]}" for a, b in pairs),
            "W_O": "[" + ",".join("[" + ",".join(text(v) for v in r) + "]" for r in t.W_O) + "]",
            "shape": f"{k * d}x{n}", "stacked": "[W_O; " + "; ".join(["0"] * (k - 1)) + "]",
            "split": "[" + "; ".join([f"W_O/{k}"] * k) + "]"}


@question("Pr2.4")
def pr2_4() -> Answer:
    c = geoff.compare_heads(EXAMPLE, temperature=0.0)
    one, two = c.one, c.two
    f = heads_formulas(c)
    losses = {name: {"one_head": float(one.loss[name]["value"]), "two_heads": float(two.loss[name]["value"])}
              for name in ("exam", "teacher_forcing")}
    identical = c.identical
    return Answer(
        id="Pr2.4",
        question=f"A second, identical head and W_O = {f['w_prime']}: repeat the loss",
        exam_answer=PR24_SOLUTION,
        computed=(f"{f['concat']} {f['w_prime']} = {f['as_one']} is R with columns swapped ({f['swaps']}; max "
                  f"difference {difference(c.swapped_difference)}); loss {losses['exam']['two_heads']:.4f} vs "
                  f"{losses['exam']['one_head']:.4f} ({geoff.CONVENTION_SHORT['exam']}), "
                  f"{losses['teacher_forcing']['two_heads']:.4f} vs {losses['teacher_forcing']['one_head']:.4f} "
                  f"({geoff.CONVENTION_SHORT['teacher_forcing']})"),
        verdict="agrees" if identical else "disagrees",
        explanation=("" if identical else
                     f"The heads' outputs are concatenated: {f['concat']} W_O' with W_O' = {f['w_prime']} gives R' = "
                     f"{f['concat']} = {f['as_one']}, "
                     f"while the one-head R = Z W_O with W_O = {f['W_O']}. The columns of R' are those of R "
                     f"swapped ({f['swaps']}), so the logits and the loss change. Two identical heads with a "
                     f"{f['shape']} W_O' equal one head with {f['blocks']}; the result would be identical for W_O' = "
                     f"{f['stacked']} or {f['split']}, not for {f['w_prime']}."),
        evidence={"R_one_head": one.R.tolist(), "R_two_heads": two.R.tolist(),
                  "two_heads_R_minus_swapped_columns_of_R": c.swapped_difference,
                  "two_heads_R_minus_R": c.R_difference,
                  "loss": losses,
                  "equivalent_single_head_W_O": c.effective_W_O.tolist(),
                  "max_error_single_head_with_W_O'[:2]+W_O'[2:]": c.equivalence_error,
                  "max_error_W_O'=[W_O;0]_or_[W_O/2;W_O/2]_reproduces_one_head": c.reproducing_error},
        notes=["Problems 2.4 and 2.5 call the engineer John; 2.1-2.3 call him Geoff."],
        exam_quotes=[PR24_SOLUTION, PR24_JOHN],
    )


# ---- Pr2.5 gradients under argmax attention --------------------------------------------------

# how much of the exam's answer the gradients bear out (geoff.compare.frozen_claim), in the key's words
PR25_VERDICTS = {"all": "agrees", "part": "partly agrees", "none": "disagrees"}


@question("Pr2.5")
def pr2_5() -> Answer:
    norms, zero = {}, {}
    labels = dict(zip(("argmax_T0", "softmax_T_sqrt_dk"), (label for label, _ in geoff.GRADIENT_TEMPERATURES),
                      strict=True))
    for conv in ("teacher_forcing", "exam"):
        comparison = geoff.compare_gradients(EXAMPLE, convention=conv)
        for key, label in labels.items():
            norms[f"{key}/{conv}"] = comparison.norms[label]
            zero[f"{key}/{conv}"] = comparison.vanishes[label]
    frozen_t0 = {k for k, v in zero["argmax_T0/teacher_forcing"].items() if v}
    moving_sqrt = {k for k, v in zero["softmax_T_sqrt_dk/teacher_forcing"].items() if not v}
    same_pattern = zero["argmax_T0/teacher_forcing"] == zero["argmax_T0/exam"] and (
        zero["softmax_T_sqrt_dk/teacher_forcing"] == zero["softmax_T_sqrt_dk/exam"])
    claim = set(FROZEN_CLAIM)  # the exam: these never change
    fix_holds = claim <= moving_sqrt  # softmax gives every one of them a gradient
    held = frozen_claim(frozen_t0, fix_holds)  # the one judgement, which the attention-temperature experiment words too
    return Answer(
        id="Pr2.5",
        question="Why do W_Q, W_K, W_V never change, and does softmax with T = sqrt(d) fix it?",
        exam_answer=f"{PR25_SOLUTION} {PR25_FIX}",
        computed=(f"at T = 0 only {' and '.join(sorted(frozen_t0, reverse=True))} get zero gradient; W_V gets |grad| = "
                  f"{norms['argmax_T0/teacher_forcing']['W_V']:.3f} and W_O "
                  f"{norms['argmax_T0/teacher_forcing']['W_O']:.3f} "
                  f"(teacher forcing); at T = sqrt({VERSION_A.transformer.d_head}) {len(moving_sqrt)} of "
                  f"{len(zero['softmax_T_sqrt_dk/teacher_forcing'])} get gradients "
                  f"({', '.join(sorted(moving_sqrt))})"),
        verdict=PR25_VERDICTS[held],
        explanation=(
            "" if held == "all" else
            "Agrees in part. Argmax weights are piecewise constant in Q K^T, so W_Q and W_K get exactly zero "
            "gradient, as the exam says. But Z = P V = P X W_V is linear in W_V, so W_V does get a gradient and does "
            "change: the claim that W_V never changes is wrong (W_O changes too, so the model does learn something). "
            "The fix is right: with softmax at T = sqrt(d_k) all four matrices get gradients."
            if held == "part" and frozen_t0 == {"W_Q", "W_K"} and fix_holds else
            f"Argmax leaves {', '.join(sorted(frozen_t0)) or 'no matrix'} with exactly zero gradient, and softmax at "
            f"T = sqrt(d_k) gives gradients to {', '.join(sorted(moving_sqrt)) or 'none'}; the exam says W_Q, W_K "
            "and W_V never change under argmax and that softmax fixes it."),
        evidence={"gradient_norms": norms, "all_zero": zero, "frozen_at_T0": sorted(frozen_t0),
                  "moving_at_sqrt": sorted(moving_sqrt), "exam_claim_frozen": sorted(claim),
                  "explanation_from_dlexam.geoff": geoff.GRADIENT_EXPLANATION},
        notes=["Both loss conventions (see Pr2.3) give the same zero/non-zero pattern." if same_pattern else
               "The two loss conventions (see Pr2.3) give different zero/non-zero patterns; see all_zero.",
               "If W_Q = W_K = W_V were one shared (tied) matrix, as the problem's notation allows, it would receive "
               "W_V's gradient and change as well.",
               "The exam writes T = sqrt(d) right after defining the scores as 'a vector s in R^d' (Problem 2.2), "
               f"so its d is the number of positions a row attends to (1 to {N} here); scaled dot-product attention "
               f"divides by sqrt(d_k), the key width, and the key reads d as d_k = {VERSION_A.transformer.d_head}. "
               "Softmax at any T > 0 depends "
               "smoothly on the scores, so the fix does not depend on which d is meant."],
        exam_quotes=[PR25_QUESTION, PR25_SOLUTION, PR25_FIX, PR22_D],
    )
