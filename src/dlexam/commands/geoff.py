"""`dlexam geoff SEQUENCE`: the exam's transformer (Problem 2), every matrix of the worked solution."""

from __future__ import annotations

import argparse

from dlexam.bounds import GEOFF_LR, QUERY_TEMPERATURES
from dlexam.commands.options import number_in, ranged, temperature
from dlexam.commands.variant import add_variant_options, variant_difficulty
from dlexam.errors import UserError
from dlexam.plain import dumps
from dlexam.spec.numbers import shortest_text


def register(sub) -> None:
    p = sub.add_parser(
        "geoff",
        help="Geoff's transformer with the exam's weights (Problem 2)",
        description="Run the exam's one-layer, one-head transformer on a sequence and show every matrix "
        "of the worked solution (Problems 2.2-2.5); --variant N runs a variant's transformer instead.",
        fields={"matrices": "step_matrices"},  # gradient_step's name of --step-matrices (cli.flag_message)
    )
    p.add_argument("sequence", nargs="?", default=None,
                   help="space-separated tokens from A B C D <START> <STOP> (a variant's own vocabulary with "
                   "--variant; default: the exam's (or the variant's) example)")
    p.add_argument("--temperature", default=0.0, type=temperature,
                   help=f"attention temperature: {ranged(QUERY_TEMPERATURES)} (0 = argmax with ties shared, the "
                   "default; a number T above 0 = softmax(s/T); 'sqrt' = sqrt(d_k))")
    p.add_argument("--heads", type=int, default=1,
                   help="1 or the model's head count k (Problem 2.4's heads, shown next to one head; Version A: k = 2, "
                   "a second identical head and W_O = I_4); default 1")
    p.add_argument("--loss", action="store_true", help="require the loss (error if there is no <START>)")
    p.add_argument("--gradients", action="store_true",
                   help="Problem 2.5: autograd gradients of the loss w.r.t. W_Q, W_K, W_V, W_O")
    p.add_argument("--convention", default=None, choices=("teacher_forcing", "exam"),
                   help="with --gradients or --explain of a gradient (dW_V[0,1], norm[W_Q], a gradient step's result): "
                   "which loss the gradients differentiate (default: standard teacher forcing)")
    p.add_argument("--explain", metavar="CELL",
                   help="where one number comes from: the arithmetic of CELL in exact form, e.g. 'P[3,0]' (row 3, "
                   "column 0 of P, counting from 0), 'S[3,0]', 'Z[6,:]', 'R[6,A]', 'logits[6,<STOP>]', 'loss[4]' (the "
                   "loss term of the token at index 4, which the explanation, like the exam, calls position 5), "
                   "'loss', 'dW_V[0,1]', 'dE[<START>,A]'; with --heads k a head first: "
                   "'P[h2,3,0]'; Problem 2.5: 'norm[W_Q]' (a gradient's norm at --temperature) or 'norm[W_Q,T=0]' "
                   "(a row of its table: T=0, T=sqrt, T=0.5), 'sqrt_d_k' (the temperature T = sqrt(d_k)), and "
                   "one gradient step's results: 'change[W_V]', 'step_norm[W_V]' (the norm of the gradient it applies),"
                   " 'loss_before', 'loss_after' (docs/serve.md)")
    p.add_argument("--lr", type=number_in(GEOFF_LR), default=None,
                   help=f"with --explain of a gradient step's result: its learning rate, {ranged(GEOFF_LR)} (default "
                   "0.1)")
    p.add_argument("--step-matrices", default=None, metavar="NAMES", type=name_list,
                   help="with --explain of a gradient step's result: the matrices it moves, a comma list from E, W_Q, "
                   "W_K, W_V, W_O (default W_Q,W_K,W_V,W_O)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_variant_options(p, required=False)
    p.set_defaults(handler=handle)


def name_list(text: str) -> tuple[str, ...]:
    """'E, W_V' -> ('E', 'W_V'): the names as typed, an empty item too ('E,,W_Q'), which the library refuses as it
    checks them (geoff.step.matrix_names; its error names the flag); '' is no name at all."""
    return tuple(m.strip() for m in text.split(",")) if text.strip() else ()


def handle(args: argparse.Namespace) -> int:
    # the flags that go together, checked before the model's modules (torch) load
    if args.convention is not None and not (args.gradients or args.explain is not None):
        raise UserError(f"--convention {args.convention} goes with --gradients or --explain of a gradient (the loss "
                        "the gradients differentiate)")
    if (args.lr is not None or args.step_matrices is not None) and args.explain is None:
        raise UserError("--lr and --step-matrices go with --explain of a gradient step's result (change[W_V], "
                        "loss_before, loss_after)")
    from dlexam import geoff

    weights, example = geoff.EXAM_WEIGHTS, geoff.EXAM_EXAMPLE
    difficulty = variant_difficulty(args)
    if args.variant is not None:  # the variant's own transformer and example (dlexam variant --seed N)
        from dlexam.variants import make_variant

        t = make_variant(args.variant, difficulty).spec.transformer
        weights, example = geoff.GeoffWeights.from_spec(t), " ".join(t.example)
    if args.heads not in (1, weights.heads):
        raise UserError(f"--heads must be 1 (Problem 2.2) or {weights.heads} (Problem 2.4), got {args.heads}")
    sequence = example if args.sequence is None else args.sequence
    try:
        geoff.parse_sequence(sequence, weights.vocab)
    except UserError as exc:  # "DAA <START>": say how to write it, as the web page does (dlexam.words)
        from dlexam.words import sequence_advice

        advice = sequence_advice(sequence, weights.vocab)
        raise UserError(f"{exc}; {advice}" if advice else str(exc)) from None
    query = geoff.GeoffQuery(sequence=sequence,
                             temperature=args.temperature, weights=weights,
                             heads=args.heads, loss=True if args.loss else None, gradients=args.gradients,
                             **({} if args.convention is None else {"convention": args.convention}))
    step = None
    if args.lr is not None or args.step_matrices is not None:
        from dlexam.geoff.step import DEFAULT_LR, StepSettings

        matrices = geoff.PARAMETERS if args.step_matrices is None else args.step_matrices
        step = StepSettings(DEFAULT_LR if args.lr is None else args.lr, matrices)
    if args.explain is not None:
        from dlexam.geoff.explain import explain

        e = explain(query, args.explain, step)
        refuse_unused(args, e.kind)
        print(dumps(e.to_json()) if args.json else e.text)
        return 0
    report = geoff.analyse(query)
    print(dumps(report.to_json()) if args.json else render(report))
    return 0


STEP_KINDS = ("change", "step_norm", "step_loss")  # the explanations of a gradient step's results
GRADIENT_KINDS = ("gradient", "norm", *STEP_KINDS)  # those that differentiate a loss: --convention picks which


def refuse_unused(args: argparse.Namespace, kind: str) -> None:
    """A flag the explained cell does not use is refused, never dropped in silence (`--explain "P[3,0]" --lr 0.5`
    printed P's explanation without a word about --lr until 2026-12-07)."""
    if kind not in STEP_KINDS and (args.lr is not None or args.step_matrices is not None):
        flag = "--lr" if args.lr is not None else "--step-matrices"
        raise UserError(f"{flag} goes with --explain of a gradient step's result (change[W_V], step_norm[W_V], "
                        f"loss_before, loss_after), not {args.explain}")
    if kind not in GRADIENT_KINDS and args.convention is not None:
        raise UserError(f"--convention goes with --explain of a gradient (dW_V[0,1], norm[W_Q], change[W_V], "
                        f"loss_after), not {args.explain}" + (": its explanation shows both conventions"
                                                              if kind in ("loss", "loss_term") else ""))


def format_matrix(name: str, m, rows: list[str] | None = None, cols: list[str] | None = None, *,
                  keep_nonzero: bool = False, cells: list[list[str]] | None = None) -> str:
    """A matrix as text, one labelled row per line, each cell an exact fraction where it is one (`keep_nonzero`: a
    softmax weight's or a gradient's tiny entry is not written 0; dlexam.exact), or as `cells` gives its texts."""
    from dlexam.exact import fraction_rows

    cells = cells or fraction_rows(m, keep_nonzero=keep_nonzero)
    width = max([len(c) for row in cells for c in row] + [len(c) for c in cols or []] + [1])
    label_w = max([len(r) for r in rows] if rows else [0])
    lines = [f"{name} ({m.shape[0]}x{m.shape[1]}):"]
    if cols:
        lines.append(" " * (label_w + 4) + " ".join(c.rjust(width) for c in cols))
    for i, row in enumerate(cells):
        label = rows[i].ljust(label_w) if rows else ""
        lines.append(f"  {label}  [" + " ".join(c.rjust(width) for c in row) + "]")
    return "\n".join(lines)


def render(report) -> str:
    """The text of `dlexam geoff`: every matrix, Problem 2.4's comparison, the losses, the gradients."""

    from dlexam.exact import attention_rows
    from dlexam.geoff.weights import labels
    from dlexam.words import counted

    r = report.result
    one_head = report.heads.one if report.heads is not None else None
    toks = r.tokens

    def fm(title: str, m, name: str, **kw) -> str:  # every matrix headed as every view heads it (weights.labels)
        return format_matrix(title, m, *map(list, labels(report.query.weights, name, toks)), **kw)

    t_label = ("0 (argmax; tied maxima share the weight)" if r.temperature == 0 else
               f"sqrt(d_k) = sqrt({report.query.weights.d_head}) = {r.temperature:.4g}"
               if report.query.temperature == "sqrt" else shortest_text(r.temperature))
    out = [f"Geoff's transformer (Problem 2): {counted(r.heads, 'head')}, temperature {t_label}",
           f"tokens: {' '.join(toks)}", "",
           fm("X = embeddings of the tokens (rows of E)", r.X, "X"), ""]
    heads = [(f"head {h + 1}: ", h) for h in range(r.heads)] if r.heads > 1 else [("", None)]
    soft = r.temperature != 0  # softmax mixes: Z, R and the logits' tiny entries are not 0 (dlexam.exact)
    for prefix, h in heads:
        pick = (lambda m: m) if h is None else (lambda m, h=h: m[h])
        qkv = "Q = K = V = X W_Q (W_Q = W_K = W_V)" if _equal(pick(r.Q), pick(r.K), pick(r.V)) else "Q = X W_Q"
        out += [fm(prefix + qkv, pick(r.Q), "Q"), ""]
        if not _equal(pick(r.Q), pick(r.K), pick(r.V)):
            out += [fm(prefix + "K = X W_K", pick(r.K), "K"), "", fm(prefix + "V = X W_V", pick(r.V), "V"), ""]
        out += [fm(prefix + "Q K^T (scores)", pick(r.scores), "S"), "",
                fm(prefix + "P = causal attention", pick(r.P), "P", keep_nonzero=True,
                   cells=attention_rows(pick(r.P), pick(r.scores)) if soft else None), "",
                fm(prefix + "Z = P V", pick(r.Z), "Z", keep_nonzero=soft), ""]
    r_name = f"R = [{' '.join(f'Z_{h + 1}' for h in range(r.heads))}] multi_W_O" if r.heads > 1 else "R = Z W_O"
    out += [fm(r_name, r.R, "R", keep_nonzero=soft), "", fm("logits = R E^T", r.logits, "logits", keep_nonzero=soft),
            ""]
    if one_head is not None:
        out += ["Problem 2.4: next to the one-head model (same input):", "",
                fm("one head: R = Z W_O", one_head.R, "R", keep_nonzero=soft), "",
                fm("one head: logits", one_head.logits, "logits", keep_nonzero=soft), ""]
        out.append(heads_finding(report.heads, list(labels(report.query.weights, "R")[1])))  # R's columns
        out.append("")
    if r.loss:
        out += render_loss(r, "two heads" if one_head is not None else None)
        if one_head is not None:
            out += render_loss(one_head, "one head")
        out += ["Standard is teacher forcing: a causal decoder's row t has seen tokens 1..t, so it must predict",
                "token t+1 (the rows from <START> on score the tokens after them). The exam's Problem 2.3 reads the",
                "rows of the output tokens themselves (rows 5-7 in its example) to score those very tokens: that",
                "reproduces its 4.2114 but is not how such a model is trained.", ""]
    elif "<START>" not in toks:
        out += ["no loss: the sequence has no <START> (the loss scores the tokens after it)", ""]
    if r.gradients is not None:
        out += render_gradients(r, report.gradients, report.query.weights)
    return "\n".join(out).rstrip()


def heads_finding(c, columns: list[str]) -> str:
    """Problem 2.4's finding in a sentence: R is the same, or how it differs."""
    if c.same_R:
        return "R is the same as with one head."
    k = c.two.heads
    how = ""
    if c.permutation is not None:
        pairs = sorted({tuple(sorted((j, i))) for j, i in enumerate(c.permutation) if i != j})
        how = " (its columns permuted: " + ", ".join(f"{columns[a]}<->{columns[b]}" for a, b in pairs) + ")"
    return (f"R differs from the one-head R{how}: {k} identical heads with multi_W_O act as one head with "
            "the sum of multi_W_O's blocks, " + format_rows(c.effective_W_O) + ", not W_O. The exam's 'the result "
            "would be identical' holds only when that sum is W_O."
            if c.equivalence_error < 1e-12 else
            f"R differs from the one-head R{how}: the {k} heads differ, so [Z_1 ... Z_k] multi_W_O is not Z W_O.")


def format_rows(m) -> str:
    from dlexam.exact import fraction_rows

    return "[" + ", ".join("[" + ", ".join(row) + "]" for row in fraction_rows(m)) + "]"


def _equal(*ms) -> bool:
    return all(m.shape == ms[0].shape and bool((m - ms[0]).abs().max() == 0) for m in ms[1:])


def render_loss(r, label: str | None) -> list[str]:
    title = "Loss (cross-entropy, summed over the output tokens after <START>)"
    out = [title + (f" - {label}" if label else "") + ":"]
    from dlexam.geoff import CONVENTION_NAMES, CONVENTIONS

    for conv in CONVENTIONS:
        term = r.loss[conv]
        parts = ", ".join(f"P({t} | row {row} {r.tokens[row - 1]}) = {p:.4f}"
                          for t, row, p in zip(term["targets"], term["rows"], term["probabilities"], strict=True))
        out.append(f"  {CONVENTION_NAMES[conv]}:")
        out.append(f"    {parts}")
        out.append(f"    loss = {float(term['value']):.4f}")
    return out + [""]


def render_gradients(r, comparison, weights) -> list[str]:
    from dlexam import geoff
    from dlexam.geoff.weights import labels

    out = [f"Problem 2.5: gradients of the {geoff.CONVENTION_SHORT[r.gradient_convention]} loss "
           "(W_Q, W_K, W_V as separate parameters):"]
    for name, g in r.gradients.items():
        mats = [g] if g.dim() == 2 else list(g)
        for i, m in enumerate(mats):
            suffix = f" (head {i + 1})" if len(mats) > 1 else ""
            rows, cols = labels(weights, name)  # a gradient is named as its matrix
            out += [format_matrix(f"d loss / d {name}{suffix}", m, list(rows), list(cols), keep_nonzero=True), ""]
    if comparison:
        names = list(next(iter(comparison.norms.values())))  # W_Q, W_K, W_V and W_O (multi_W_O with k heads)
        rows = dict(comparison.norms)
        parts = dict(comparison.head_parts)
        if comparison.at_query is not None:  # the query's own T, beside Problem 2.5's two
            asked = f"T={comparison.at_query['temperature']:.4g} (asked)"
            rows[asked], parts[asked] = comparison.at_query["norms"], comparison.at_query["head_parts"]
        out.append("gradient norms:     " + "  ".join(f"{n:>10}" for n in names))
        for label, norms in rows.items():
            out.append(f"  {label:<17}" + "  ".join(f"{norms[n]:>10.4g}" for n in names))
        shared = [n for n in names if any(n in p for p in parts.values())]
        if shared:  # k identical heads: one shared matrix, moved by the heads' summed gradient
            k = len(next(p[shared[0]] for p in parts.values() if shared[0] in p))
            heads = " + ".join(f"g{h + 1}" for h in range(k))
            out.append(f"  the {k} identical heads share {', '.join(shared)}: each one's norm above is |{heads}|, "
                       "the norm of the heads' summed gradient, which a gradient step applies (gh: head h's part of "
                       "it); the parts' own norms, " + ", ".join(f"|g{h + 1}|" for h in range(k)) + ":")
            cells = {label: [", ".join(f"{x:.4g}" for x in p[n]) if n in p else "" for n in names]
                     for label, p in parts.items()}
            width = max(10, *(len(c) for row in cells.values() for c in row))
            for label, row in cells.items():
                out.append(f"  {label:<17}" + "  ".join(f"{c:>{width}}" for c in row).rstrip())
        (t0, _), (tsqrt, _) = geoff.GRADIENT_TEMPERATURES
        out.append(f"  at T=0 exactly zero: {', '.join(comparison.frozen(t0)) or 'none'}; at T=sqrt(d_k): "
                   f"{', '.join(comparison.frozen(tsqrt)) or 'none'}")
    out += ["", geoff.GRADIENT_EXPLANATION]
    return out
