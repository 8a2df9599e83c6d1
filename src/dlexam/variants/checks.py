"""The checks a drawn exam must pass to become a variant: each question well-posed, each answer confirmed.

:data:`CHECKS` names every check and what it makes sure of (``dlexam variant --explain`` lists them). The
exact ones (:func:`exact_failures`) are integer and Fraction arithmetic; the computed ones
(:func:`computed_failures`) evaluate every option and every number the way `dlexam answers` does for
Version A: the project's float64 transformer (:func:`dlexam.geoff.run_geoff`) and its autograd gradients,
``nn.Conv2d`` / ``nn.AvgPool2d``, ``torch.softmax``, and autograd on the RNN of P1.6.
"""

from __future__ import annotations

import math

from dlexam.geoff.exact import exact_run, loss_terms
from dlexam.spec import VERSION_A, ExamSpec, divides_evenly
from dlexam.variants.draw import Draw
from dlexam.variants.model import Question

CHECKS = {
    "well_formed": "every layer's window fits its input and every matrix has the shape the model needs",
    "integer_sizes": "every convolution and pooling output size (P1.4 and Problem 1) is a whole number: "
                     "(N + 2P - F) is a multiple of the stride",
    "one_correct_option": "every multiple-choice item has exactly one correct option, and its options differ",
    "distinct_embeddings": "every token's embedding differs from every other's (<START> and <STOP> can be told "
                           "apart; Version A's cannot)",
    "finite_losses": "every loss is finite and every target's probability is above 1e-12",
    "student_bug_differs": "the student's in-features (the last pooling layer forgotten) differ from the right ones",
    "heads_losses_apart": "when R changes with k heads, the loss changes by more than 1e-3 (no near-coincidence)",
    "near_version_a": "sequence lengths, matrix sizes, weight magnitudes and the image size within 1.5x of "
                      "Version A's",
    "float64_agrees": "the exact matrices (Fractions, the tie rule) equal the project's float64 transformer's, "
                      "and the closed-form losses its losses, within 1e-12 (no float tie that exact scores lack)",
    "gradients_decide": "Pr2.5's key is computed by autograd through the project's attention (at T = 0 and at T = "
                        "sqrt(d_head)); the draw is kept only where it is what the worked solution explains: at "
                        "T = 0 exactly W_Q and W_K get zero gradient, at T = sqrt(d_head) none does (a gradient "
                        "that vanishes structurally, as when W_O maps every Z to zero logits, is refused)",
    "options_by_computation": "every option of P1.1, P1.4 and P1.6 is true or false as computed: torch.softmax at "
                              "small and large T, nn.Conv2d, autograd on random values",
    "shapes_match_pytorch": "Problem 1's shapes and parameter counts equal nn.Conv2d / pooling layers' on a tensor "
                            "of the input's size",
}


def _near_version_a(spec: ExamSpec) -> list[str]:
    a, t = VERSION_A.transformer, spec.transformer
    out = []
    limits = {"input length": (len(t.example_input), len(a.example_input)), "vocabulary": (len(t.vocab), len(a.vocab)),
              "d_model": (t.d_model, a.d_model), "d_head": (t.d_head, a.d_head),
              "largest weight": (max(abs(v) for h in t.multi_heads for r in h.W_Q for v in r), 3),
              "image size": (spec.cnn.input_size[0], VERSION_A.cnn.input_size[0])}
    for name, (v, ref) in limits.items():
        if not ref / 1.5 <= v <= 1.5 * ref:
            out.append(f"near_version_a: {name} {v} is not within 1.5x of Version A's {ref}")
    return out


def draw_failures(d: Draw) -> list[str]:
    """The checks on the drawn numbers alone (cheap: run before any question is built)."""
    spec, out = d.spec, []
    c = spec.part1.conv_size
    for dim in (0, 1):
        if not divides_evenly(c.input_size[dim], c.kernel[dim], c.stride[dim], c.padding[dim]):
            out.append(f"integer_sizes: P1.4's {'rows' if dim == 0 else 'columns'}: ({c.input_size[dim]} + "
                       f"{2 * c.padding[dim]} - {c.kernel[dim]}) is not a multiple of the stride {c.stride[dim]}")
    for row in spec.cnn.table()[:-1]:
        n, L = row.in_shape[1], row.layer
        if not divides_evenly(n, L.kernel[0], L.stride[0], L.padding[0]):
            out.append(f"integer_sizes: {L.name} on a {n}-wide input: ({n} + {2 * L.padding[0]} - {L.kernel[0]}) "
                       f"is not a multiple of the stride {L.stride[0]}")
    t = spec.transformer
    seen: dict = {}
    for token, row in zip(t.vocab, t.E, strict=True):
        if row in seen:
            out.append(f"distinct_embeddings: {token} and {seen[row]} have the same embedding {list(map(str, row))}")
        seen.setdefault(row, token)
    if spec.cnn.student_linear_in == spec.cnn.flat_features():
        out.append("student_bug_differs: forgetting the last pooling layer does not change the in-features")
    return out + _near_version_a(spec)


def exact_failures(d: Draw, questions: list[Question]) -> list[str]:
    """The checks that need no torch: options and losses in closed form (after :func:`draw_failures`)."""
    t, out = d.spec.transformer, []
    for q in questions:
        for f in q.fields:
            if f.kind == "choice" and (f.answer == 0 or len(set(f.options)) != len(f.options)):
                out.append(f"one_correct_option: {q.id} has " + (
                    "two equal options" if f.answer else "no single correct option"))
    losses = {}
    for heads in (1, t.heads):
        terms = loss_terms(exact_run(t, heads=heads), t)
        losses[heads] = sum(x.nll for x in terms)
        if not all(math.isfinite(x.nll) and x.probability > 1e-12 for x in terms):
            out.append(f"finite_losses: with {heads} head(s) a target's probability is below 1e-12")
    if exact_run(t).R != exact_run(t, heads=t.heads).R and abs(losses[1] - losses[t.heads]) <= 1e-3:
        out.append(f"heads_losses_apart: R changes with {t.heads} heads but the loss only by "
                   f"{abs(losses[1] - losses[t.heads]):.1e}")
    return out


def computed_failures(d: Draw, questions: list[Question]) -> list[str]:
    """The checks by computation (torch): the float64 model, autograd, PyTorch's layers (on one thread: the
    tensors are tiny, and a second thread only waits for the first)."""
    from dlexam.cpu import torch_threads
    from dlexam.variants import evidence

    with torch_threads(1):
        g = evidence.geoff_evidence(d.spec, d.gradients)
        options = evidence.option_evidence(d)
        shapes = evidence.shape_evidence(d.spec)
    out = []
    for heads, e in g["runs"].items():
        name, worst = max(e["differences"].items(), key=lambda kv: kv[1])
        if worst > 1e-12:
            out.append(f"float64_agrees: with {heads} head(s) {name} differs from run_geoff by {worst:.1e}")
        if not abs(e["closed_form_loss"] - e["model_loss"]) <= 1e-12 * max(1.0, abs(e["model_loss"])):
            out.append(f"float64_agrees: the closed-form loss {e['closed_form_loss']!r} differs from run_geoff's "
                       f"{e['model_loss']!r}")
    if set(g["zero_at_T0"]) != {"W_Q", "W_K"}:  # the key would still be right (computed): its explanation not
        out.append(f"gradients_decide: at T = 0 the zero gradients are {g['zero_at_T0']}, not exactly W_Q and W_K")
    if g["zero_at_sqrt"]:
        out.append(f"gradients_decide: at T = sqrt(d_head) {g['zero_at_sqrt']} get no gradient")
    for qid, rows in options.items():
        out += [f"options_by_computation: {qid} option '{r['text']}' computes as {r['computed']} ({r['how']})"
                for r in rows if r["computed"] != r["expected"]]
    out += [f"shapes_match_pytorch: {r['layer']} gives {r['torch_shape']} with {r['torch_params']} parameters in "
            f"PyTorch, {r['shape']} with {r['params']} by the formula" for r in shapes
            if r["torch_shape"] != r["shape"] or r["torch_params"] != r["params"]]
    return out
