"""`dlexam geoff SEQUENCE`: the exam's transformer (Problem 2), every matrix of the worked solution."""

from __future__ import annotations

import argparse
import json
import math

from dlexam.errors import UserError


def register(sub) -> None:
    p = sub.add_parser(
        "geoff",
        help="Geoff's transformer with the exam's weights (Problem 2)",
        description="Run the exam's one-layer, one-head transformer on a sequence and show every matrix "
        "of the worked solution (Problems 2.2-2.5).",
    )
    p.add_argument("sequence", nargs="?", default="D A A <START> A D <STOP>",
                   help='space-separated tokens from A B C D <START> <STOP> (default: the exam\'s example)')
    p.add_argument("--temperature", default="0",
                   help="attention temperature: 0 = argmax with ties shared (default), a number T > 0 = "
                   "softmax(s/T), or 'sqrt' = sqrt(d_k)")
    p.add_argument("--heads", type=int, default=1, choices=(1, 2),
                   help="2 = Problem 2.4: a second identical head and W_O = I_4, shown next to one head")
    p.add_argument("--loss", action="store_true", help="require the loss (error if there is no <START>)")
    p.add_argument("--gradients", action="store_true",
                   help="Problem 2.5: autograd gradients of the loss w.r.t. W_Q, W_K, W_V, W_O")
    p.add_argument("--convention", default="teacher_forcing", choices=("teacher_forcing", "exam"),
                   help="which loss the gradients differentiate (default: standard teacher forcing)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=handle)


def parse_temperature(text: str) -> float | str:
    if text == "sqrt":
        return "sqrt"
    try:
        t = float(text)
    except ValueError:
        raise UserError(f"--temperature must be a number >= 0 or 'sqrt', got {text!r}") from None
    if not (t >= 0 and math.isfinite(t)):
        raise UserError(f"--temperature must be a number >= 0 or 'sqrt', got {text!r}")
    return t


def handle(args: argparse.Namespace) -> int:
    from dlexam import geoff

    temperature = parse_temperature(args.temperature)
    kwargs = dict(temperature=temperature, loss=True if args.loss else None, gradients=args.gradients,
                  gradient_convention=args.convention)
    result = geoff.run_geoff(args.sequence, heads=args.heads, **kwargs)
    one_head = geoff.run_geoff(args.sequence, heads=1, **kwargs) if args.heads == 2 else None
    comparison = None
    if args.gradients:
        comparison = {}
        for label, t in (("T=0 (argmax)", 0.0), ("T=sqrt(d_k)", "sqrt")):
            r = geoff.run_geoff(args.sequence, heads=args.heads, temperature=t, gradients=True,
                                gradient_convention=args.convention)
            comparison[label] = {
                "norms": {k: float(v.norm()) for k, v in r.gradients.items()},
                "vanishes": geoff.vanishing_gradients(r),
            }
    if args.json:
        out = result.to_json()
        if one_head is not None:
            out["one_head"] = one_head.to_json()
        if comparison is not None:
            out["gradient_comparison"] = comparison
            out["gradient_explanation"] = geoff.GRADIENT_EXPLANATION
        print(json.dumps(out))
    else:
        print(render(result, one_head, comparison))
    return 0


def render(r, one_head=None, comparison=None) -> str:
    from dlexam import geoff

    fm = geoff.format_matrix
    toks = r.tokens
    t_label = "0 (argmax; tied maxima share the weight)" if r.temperature == 0 else f"{r.temperature:.4g}"
    out = [f"Geoff's transformer (Problem 2): {r.heads} head(s), temperature {t_label}",
           f"tokens: {' '.join(toks)}", "",
           fm("X = embeddings of the tokens (rows of E)", r.X, toks), ""]
    heads = [(f"head {h + 1}: ", h) for h in range(r.heads)] if r.heads > 1 else [("", None)]
    for prefix, h in heads:
        pick = (lambda m: m) if h is None else (lambda m, h=h: m[h])
        qkv = "Q = K = V = X W_Q (W_Q = W_K = W_V)" if _equal(pick(r.Q), pick(r.K), pick(r.V)) else "Q = X W_Q"
        out += [fm(prefix + qkv, pick(r.Q), toks), ""]
        if not _equal(pick(r.Q), pick(r.K), pick(r.V)):
            out += [fm(prefix + "K = X W_K", pick(r.K), toks), "", fm(prefix + "V = X W_V", pick(r.V), toks), ""]
        out += [fm(prefix + "Q K^T (scores)", pick(r.scores), toks, toks), "",
                fm(prefix + "P = causal attention", pick(r.P), toks, toks), "",
                fm(prefix + "Z = P V", pick(r.Z), toks), ""]
    r_name = "R = [Z Z] W_O, W_O = I_4" if r.heads == 2 else "R = Z W_O"
    out += [fm(r_name, r.R, toks), "", fm("logits = R E^T", r.logits, toks, list(geoff.VOCAB)), ""]
    if one_head is not None:
        out += ["Problem 2.4: next to the one-head model (same input):", "",
                fm("one head: R = Z W_O", one_head.R, toks), "",
                fm("one head: logits", one_head.logits, toks, list(geoff.VOCAB)), ""]
        same = bool((one_head.R - r.R).abs().max() < 1e-12)
        out.append("R is the same as with one head." if same else
                   "R differs from the one-head R: [Z Z] I_4 = Z [I_2 I_2], whereas W_O = [[0,1,0,1],[1,0,1,0]] "
                   "swaps the columns (A<->B, C<->D). The exam's 'the result would be identical' does not hold; "
                   "it would with W_O = [I_2 I_2].")
        out.append("")
    if r.loss:
        out += render_loss(r, "two heads" if one_head is not None else None)
        if one_head is not None:
            out += render_loss(one_head, "one head")
        out += ["Standard is teacher forcing: a causal decoder's row t has seen tokens 1..t, so it must predict",
                "token t+1 (rows <START>, A, D score A, D, <STOP>). The exam's Problem 2.3 reads the rows of the",
                "output tokens themselves (rows 5-7 in its example) to score those very tokens: that reproduces",
                "its 4.2114 but is not how such a model is trained.", ""]
    elif "<START>" not in toks:
        out += ["no loss: the sequence has no <START> (the loss scores the tokens after it)", ""]
    if r.gradients is not None:
        out += render_gradients(r, comparison)
    return "\n".join(out).rstrip()


def _equal(*ms) -> bool:
    return all(m.shape == ms[0].shape and bool((m - ms[0]).abs().max() == 0) for m in ms[1:])


def render_loss(r, label: str | None) -> list[str]:
    title = "Loss (cross-entropy, summed over the output tokens after <START>)"
    out = [title + (f" - {label}" if label else "") + ":"]
    names = {"teacher_forcing": "standard teacher forcing (logit row t predicts token t+1)",
             "exam": "the exam's convention (each output token scored by its own row)"}
    for conv in ("teacher_forcing", "exam"):
        term = r.loss[conv]
        parts = ", ".join(f"P({t} | row {row} {r.tokens[row - 1]}) = {p:.4f}"
                          for t, row, p in zip(term["targets"], term["rows"], term["probabilities"], strict=True))
        out.append(f"  {names[conv]}:")
        out.append(f"    {parts}")
        out.append(f"    loss = {float(term['value']):.4f}")
    return out + [""]


def render_gradients(r, comparison) -> list[str]:
    from dlexam import geoff

    out = [f"Problem 2.5: gradients of the {r.gradient_convention.replace('_', ' ')} loss "
           "(W_Q, W_K, W_V as separate parameters):"]
    for name, g in r.gradients.items():
        mats = [g] if g.dim() == 2 else list(g)
        for i, m in enumerate(mats):
            suffix = f" (head {i + 1})" if len(mats) > 1 else ""
            out += [geoff.format_matrix(f"d loss / d {name}{suffix}", m), ""]
    if comparison:
        out.append("gradient norms:     " + "  ".join(f"{n:>10}" for n in geoff.PARAMETERS))
        for label, c in comparison.items():
            out.append(f"  {label:<17}" + "  ".join(f"{c['norms'][n]:>10.4g}" for n in geoff.PARAMETERS))
        zero = [n for n, v in comparison["T=0 (argmax)"]["vanishes"].items() if v]
        out.append(f"  at T=0 exactly zero: {', '.join(zero) or 'none'}; at T=sqrt(d_k): "
                   f"{', '.join(n for n, v in comparison['T=sqrt(d_k)']['vanishes'].items() if v) or 'none'}")
    out += ["", geoff.GRADIENT_EXPLANATION]
    return out
