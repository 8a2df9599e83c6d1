"""Problem 2: Geoff's dedup-and-sort transformer with the exam's weights.

Every number comes from :func:`dlexam.geoff.run_geoff` (the project's model of Problem 2); the exam's
numbers are read out of the exam text (:mod:`dlexam.answers.exam_source`), garbles and all.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from fractions import Fraction

import torch

from dlexam import geoff
from dlexam.answers import exam_source
from dlexam.answers.registry import Answer, question
from dlexam.exact import exact_fraction, fraction_rows
from dlexam.spec import VERSION_A, text
from dlexam.spec import identity as identity_matrix

EXAMPLE = geoff.EXAM_EXAMPLE  # "D A A <START> A D <STOP>"
# Anchors of the worked solution's lines in the exam text.
LINE_Q = "Q = K = V = XW_Q"
LINE_S = "$$\\boldsymbol{Q}\\boldsymbol{K}^{\\mathsf{T}} ="
LINE_P = "$$\\boldsymbol{P} = \\begin{bmatrix}"
LINE_Z = "$$\\boldsymbol{Z} = \\boldsymbol{P} \\boldsymbol{V}"
LINE_R = "$$\\boldsymbol{R} = \\boldsymbol{Z}\\boldsymbol{W}_O"
LINE_LOGITS = ["\\mathbf{z}_{5}^{\\mathsf{T}} = [3, 0, 3, 0]", "\\mathbf{z}_{6}^{\\mathsf{T}} = [0, 3, 0, 3]",
               "\\mathbf{z}_{7}^{\\mathsf{T}} = [9/7, 6/7, 9/7, 6/7]"]
LINE_PROBS = ["$$P(y_5 = A) = ", "P(y_6 = D) = ", "P(y_7 = \\langle \\text{STOP} \\rangle) = "]
LINE_LOSS = "$$L = -\\log P(y_5 = A) - \\log P(y_6 = D) - \\log P(y_7 = \\langle STOP \\rangle) = 4.2114.$$"
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


def exam_matrix(anchor: str, index: int) -> list[list[Fraction]] | None:
    """The `index`-th bmatrix on the exam line containing `anchor` (None without the exam text)."""
    line = exam_source.line_of(anchor)
    return None if line is None else exam_source.bmatrices(line)[index]


def exam_number_after(anchor: str) -> float | None:
    """The last decimal on the exam line containing `anchor` (e.g. 0.4547)."""
    line = exam_source.line_of(anchor)
    if line is None:
        return None
    return float(re.findall(r"\d+\.\d+", line)[-1])


def exam_logit_row(anchor: str) -> list[float] | None:
    line = exam_source.line_of(anchor)
    if line is None:
        return None
    part = line[line.index(anchor):]
    last = re.findall(r"\[([^\]]*)\]", part)[1]  # [z^T W-row] E^T = [logits]
    return [float(exam_source.parse_number(c)) for c in last.split(",")]


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


def _as_tensor(m: list[list[Fraction]]) -> torch.Tensor:
    return torch.tensor([[float(v) for v in r] for r in m], dtype=torch.float64)


def _rows_text(m) -> str:
    return " ".join("[" + " ".join(row) + "]" for row in fraction_rows(m))


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


# ---- Pr2.1 no positional encodings -----------------------------------------------------------

def bag_determines_next_token(max_len: int = 5, symbols: str = "ABCD", with_last_token: bool = True) -> dict:
    """Is the correct next token a function of (multiset of the prefix, last token) alone?

    That is all a one-layer, position-free causal decoder sees at its last position: its query is
    the last token and its keys/values are the prefix as a bag. Checked over every input of length
    1..max_len and every prefix of its target output.
    """
    seen: dict = {}
    conflicts = prefixes = 0
    for n in range(1, max_len + 1):
        for inp in itertools.product(symbols, repeat=n):
            out = sorted(set(inp)) + ["<STOP>"]
            for k in range(len(out)):
                prefix = list(inp) + ["<START>"] + out[:k]
                key = (frozenset(Counter(prefix).items()), prefix[-1] if with_last_token else None)
                prefixes += 1
                if seen.setdefault(key, out[k]) != out[k]:
                    conflicts += 1
    return {"max_len": max_len, "prefixes": prefixes, "distinct_(bag, last token)": len(seen), "conflicts": conflicts}


@question("Pr2.1")
def pr2_1() -> Answer:
    checks = []
    for inp, out in (("D A A", "A D <STOP>"), ("C A B D B", "A B C D <STOP>")):
        orders = sorted(set(itertools.permutations(inp.split())))
        results = [geoff.run_geoff(" ".join(o) + " <START> " + out) for o in orders]
        n_in = len(inp.split())
        ref = results[0]
        after = max(_maxdiff(r.logits[n_in:], ref.logits[n_in:]) for r in results)
        before = max(_maxdiff(r.logits[:n_in], ref.logits[:n_in]) for r in results)
        losses = sorted({round(float(r.loss["teacher_forcing"]["value"]), 12) for r in results})
        checks.append({"input": inp, "orders": len(orders), "max_logit_difference_from_START_on": after,
                       "max_logit_difference_at_input_positions": before, "distinct_losses": losses})
    bag = bag_determines_next_token()
    bag_only = bag_determines_next_token(with_last_token=False)
    invariant = all(c["max_logit_difference_from_START_on"] < 1e-12 for c in checks)
    wise = invariant and bag["conflicts"] == 0
    return Answer(
        id="Pr2.1",
        question="No positional encodings: a wise decision?",
        exam_answer=PR21_SOLUTION,
        computed=(f"run_geoff on all {checks[0]['orders']} orders of 'D A A' and {checks[1]['orders']} of 'C A B D B': "
                  f"logits from <START> on identical (max diff "
                  f"{max(c['max_logit_difference_from_START_on'] for c in checks):.0e}); "
                  f"over {bag['prefixes']} prefixes of every input up to length {bag['max_len']}, (bag, last token) "
                  f"fixes "
                  f"the next token with {bag['conflicts']} conflicts"),
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
    diff = _maxdiff(_as_tensor(exam_P), r.P)
    agree = diff < 1e-12
    ev = {"computed_P": fraction_rows(r.P), "exam_P": [[str(v) for v in row] for row in exam_P],
          "max_abs_difference_P_vs_exam": diff,
          "max_abs_difference_QKV_vs_exam": _maxdiff(_as_tensor(exam_Q), r.Q),
          "exam_QK^T_printout_vs_computed": align_rows(exam_S, r.scores)}
    s_garble = ev["exam_QK^T_printout_vs_computed"]
    return Answer(
        id="Pr2.2",
        question="The causal argmax (T -> 0) attention matrix for 'D A A <START> A D <STOP>'",
        exam_answer="P = " + _rows_text(exam_P),
        computed=(f"run_geoff(T=0): P = {_rows_text(r.P)} (max difference from the exam's {diff:.0e})"),
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else f"run_geoff's P differs from the exam's by {diff}",
        evidence=ev,
        notes=[
            "The printed Q K^T is garbled by the extraction: it has "
            f"{s_garble['printed_rows']} rows instead of 7 (true row(s) {s_garble['missing_true_rows']} "
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
    ev["logits_rows_5_6_7_max_difference"] = _maxdiff(torch.tensor(exam_logits, dtype=torch.float64), r.logits[4:7])
    ev["probabilities_max_difference"] = max(abs(a - b) for a, b in zip(exam_probs, L["exam"]["probabilities"],
                                                                        strict=True))
    ev["exam_Z_printout_vs_computed"] = align_rows(exam_matrix(LINE_Z, 2), r.Z)
    ev["exam_R_printout_vs_computed"] = align_rows(exam_matrix(LINE_R, 2), r.R)
    ev["exam_Z_inside_R_line_vs_computed"] = align_rows(exam_matrix(LINE_R, 0), r.Z)
    ev["exam_P_inside_Z_line_vs_computed"] = align_rows(exam_matrix(LINE_Z, 0), r.P)
    agree = abs(round(exam_value, 4) - exam_loss) < 1e-9 and ev["probabilities_max_difference"] < 5e-5
    zmiss = ev["exam_Z_printout_vs_computed"]["missing_true_rows"]
    rmiss = ev["exam_R_printout_vs_computed"]["missing_true_rows"]
    return Answer(
        id="Pr2.3",
        question="Cross-entropy loss of the output tokens 'A D <STOP>'",
        exam_answer=f"L = {exam_loss} (P(A) = {exam_probs[0]}, P(D) = {exam_probs[1]}, P(<STOP>) = {exam_probs[2]})",
        computed=(f"{exam_value:.4f} under the exam's convention (rows {L['exam']['rows']} score their own tokens); "
                  f"{tf_value:.4f} under standard teacher forcing (rows {L['teacher_forcing']['rows']} predict the "
                  f"next token)"),
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else f"run_geoff gives {exam_value:.4f}, the exam {exam_loss}",
        evidence=ev,
        notes=[
            "The 4.2114 holds under the exam's own convention only: it scores each output token with the logit row "
            "at that token's own position (rows 5, 6, 7 = A, D, <STOP>: z_5 scores A, z_6 D, z_7 <STOP>). Standard "
            "teacher forcing scores token t+1 with row t (rows 4, 5, 6 = <START>, A, D), since a causal decoder's "
            f"row t can see token t itself. That gives {tf_value:.4f}.",
            f"The printed Z = P V has 6 rows instead of 7 (true row(s) {zmiss} missing); the printed R = Z W_O "
            f"also has 6 (row(s) {rmiss} missing), while the Z printed inside the R line has all 7. The P printed "
            "inside the Z line has 8 entries in most rows. The rows the loss uses (5-7) are unaffected.",
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
        computed=(f"{f['concat']} {f['w_prime']} = {f['as_one']} is R with columns swapped ({f['swaps']}; max diff "
                  f"{c.swapped_difference:.0e}); loss {losses['exam']['two_heads']:.4f} vs "
                  f"{losses['exam']['one_head']:.4f} (exam convention), {losses['teacher_forcing']['two_heads']:.4f} "
                  f"vs "
                  f"{losses['teacher_forcing']['one_head']:.4f} (teacher forcing)"),
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
    claim = {"W_Q", "W_K", "W_V"}  # the exam: these never change
    claim_holds = claim <= frozen_t0
    fix_holds = claim <= moving_sqrt
    return Answer(
        id="Pr2.5",
        question="Why do W_Q, W_K, W_V never change, and does softmax with T = sqrt(d) fix it?",
        exam_answer=f"{PR25_SOLUTION} {PR25_FIX}",
        computed=(f"at T = 0 only {' and '.join(sorted(frozen_t0, reverse=True))} get zero gradient; W_V gets |grad| = "
                  f"{norms['argmax_T0/teacher_forcing']['W_V']:.3f} and W_O "
                  f"{norms['argmax_T0/teacher_forcing']['W_O']:.3f} "
                  f"(teacher forcing); at T = sqrt(2) {len(moving_sqrt)} of 4 get gradients "
                  f"({', '.join(sorted(moving_sqrt))})"),
        verdict="agrees" if claim_holds and fix_holds else "disagrees",
        explanation=("" if claim_holds and fix_holds else
                     "Disagrees in part. Argmax weights are piecewise constant in Q K^T, so W_Q and W_K get exactly "
                     "zero "
                     "gradient, as the exam says. But Z = P V = P X W_V is linear in W_V, so W_V does get a gradient "
                     "and "
                     "does change: the claim that W_V never changes is wrong (W_O changes too, so the model does "
                     "learn something). The fix is right: with softmax at T = sqrt(d_k) all four matrices get "
                     "gradients."),
        evidence={"gradient_norms": norms, "all_zero": zero, "frozen_at_T0": sorted(frozen_t0),
                  "moving_at_sqrt": sorted(moving_sqrt), "exam_claim_frozen": sorted(claim),
                  "explanation_from_dlexam.geoff": geoff.GRADIENT_EXPLANATION},
        notes=["Both loss conventions (see Pr2.3) give the same zero/non-zero pattern." if same_pattern else
               "The two loss conventions (see Pr2.3) give different zero/non-zero patterns; see all_zero.",
               "If W_Q = W_K = W_V were one shared (tied) matrix, as the problem's notation allows, it would receive "
               "W_V's gradient and change as well.",
               "The exam writes T = sqrt(d); d is the key width d_k = 2 here."],
        exam_quotes=[PR25_QUESTION, PR25_SOLUTION, PR25_FIX],
        experiment="attention-temperature",
    )
