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
from dlexam.variants.part1 import UPDATES, p11_claims, p14_claims, p16_claims

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
    "gradients_decide": "at T = 0 exactly W_Q and W_K get zero gradient (autograd) and at T = sqrt(d_head) none "
                        "does, so Pr2.5's items have one correct option",
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


def exact_failures(d: Draw, questions: list[Question]) -> list[str]:
    """The checks that need no torch: sizes, options, embeddings, losses in closed form."""
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
    for q in questions:
        for f in q.fields:
            if f.kind == "choice" and (f.answer == 0 or len(set(f.options)) != len(f.options)):
                out.append(f"one_correct_option: {q.id} has " + (
                    "two equal options" if f.answer else "no single correct option"))
    t = spec.transformer
    seen: dict = {}
    for token, row in zip(t.vocab, t.E, strict=True):
        if row in seen:
            out.append(f"distinct_embeddings: {token} and {seen[row]} have the same embedding {list(map(str, row))}")
        seen.setdefault(row, token)
    losses = {}
    for heads in (1, t.heads):
        terms = loss_terms(exact_run(t, heads=heads), t)
        losses[heads] = sum(x.nll for x in terms)
        if not all(math.isfinite(x.nll) and x.probability > 1e-12 for x in terms):
            out.append(f"finite_losses: with {heads} head(s) a target's probability is below 1e-12")
    if spec.cnn.student_linear_in == spec.cnn.flat_features():
        out.append("student_bug_differs: forgetting the last pooling layer does not change the in-features")
    if exact_run(t).R != exact_run(t, heads=t.heads).R and abs(losses[1] - losses[t.heads]) <= 1e-3:
        out.append(f"heads_losses_apart: R changes with {t.heads} heads but the loss only by "
                   f"{abs(losses[1] - losses[t.heads]):.1e}")
    return out + _near_version_a(spec)


def computed_failures(d: Draw, questions: list[Question]) -> list[str]:
    """The checks by computation (torch): the float64 model, autograd, PyTorch's layers (on one thread: the
    tensors are tiny, and a second thread only waits for the first)."""
    from dlexam.cpu import torch_threads

    with torch_threads(1):
        return _geoff_failures(d.spec) + _option_failures(d) + _shape_failures(d.spec)


def _geoff_failures(spec: ExamSpec) -> list[str]:
    from dlexam import geoff
    from dlexam.geoff.exact import differences

    t, out = spec.transformer, []
    weights = geoff.GeoffWeights.from_spec(t)
    example = list(t.example)
    for heads in (1, t.heads):
        run = exact_run(t, heads=heads)
        result = geoff.run_geoff(example, temperature=0.0, heads=heads, weights=weights)
        worst = max(differences(run, result).items(), key=lambda kv: kv[1])
        if worst[1] > 1e-12:
            out.append(f"float64_agrees: with {heads} head(s) {worst[0]} differs from run_geoff by {worst[1]:.1e}")
        closed = sum(x.nll for x in loss_terms(run, t))
        model = float(result.loss["teacher_forcing"]["value"])
        if not abs(closed - model) <= 1e-12 * max(1.0, abs(model)):
            out.append(f"float64_agrees: the closed-form loss {closed!r} differs from run_geoff's {model!r}")
    comparison = geoff.compare_gradients(example, weights=weights)
    (zero_label, _), (sqrt_label, _) = geoff.GRADIENT_TEMPERATURES
    frozen = set(comparison.frozen(zero_label))
    if frozen != {"W_Q", "W_K"}:
        out.append(f"gradients_decide: at T = 0 the zero gradients are {sorted(frozen)}, not exactly W_Q and W_K")
    if comparison.frozen(sqrt_label):
        out.append(f"gradients_decide: at T = sqrt(d_head) {comparison.frozen(sqrt_label)} get no gradient")
    return out


def _option_failures(d: Draw) -> list[str]:
    import torch

    from dlexam.attention import argmax_weights

    spec, out = d.spec, []
    dt = torch.float64
    z = torch.tensor([float(v) for v in spec.part1.softmax.z], dtype=dt)
    for claim in p11_claims(spec, d):
        if claim.kind == "uniform_never":  # a counterexample refutes it: a constant z
            computed = not bool(torch.allclose(torch.softmax(torch.full((4,), 2.5, dtype=dt) / 0.7, -1),
                                               torch.full((4,), 0.25, dtype=dt), rtol=0, atol=1e-15))
        elif claim.kind == "uniform_constant":
            computed = all(bool(torch.allclose(torch.softmax(torch.full((5,), a, dtype=dt) / T, -1),
                                               torch.full((5,), 0.2, dtype=dt), rtol=0, atol=1e-15))
                           for a in (-3.0, 0.0, 4.0) for T in (0.1, 1.0, 10.0))
        elif claim.kind == "large_T":
            computed = float((torch.softmax(z / 1e9, -1) - 1 / len(z)).abs().max()) < 1e-6
        elif claim.kind == "limit":
            want = torch.tensor([float(v) for v in claim.value], dtype=dt)
            computed = (float((torch.softmax(z / 1e-3, -1) - want).abs().max()) < 1e-9
                        and torch.equal(argmax_weights(z), want))
        else:  # no_zeros: log-softmax is finite, so every exp(z_i / T) > 0
            computed = all(math.isfinite(float(torch.log_softmax(z / T, -1).min())) for T in (1e-3, 1.0, 1e3))
        if computed != claim.holds:
            out.append(f"options_by_computation: P1.1 option '{claim.text}' computes as {computed}")
    c = spec.part1.conv_size
    conv = torch.nn.Conv2d(1, 1, c.kernel, c.stride, c.padding, device="meta")  # shapes only, nothing computed
    with torch.no_grad():
        shape = tuple(conv(torch.zeros(1, 1, *c.input_size, device="meta")).shape[-2:])
    for claim in p14_claims(spec):
        if (claim.value == shape) != claim.holds:
            out.append(f"options_by_computation: P1.4 option {claim.text} vs nn.Conv2d's {shape}")
    out += _rnn_failures(spec)
    return out


def _rnn_failures(spec: ExamSpec) -> list[str]:
    import torch

    gen = torch.Generator().manual_seed(6)
    err = {name: 0.0 for name in UPDATES}
    target = spec.part1.rnn.parameter
    for trial in range(8):
        g = torch.tanh if trial % 2 else torch.sigmoid
        a, w, x1, x2, y = (torch.randn((), generator=gen, dtype=torch.float64) for _ in range(5))
        a.requires_grad_(True)
        w.requires_grad_(True)
        z1 = a * x1  # h_0 = 0
        h1 = g(z1)
        z2 = w * h1 + a * x2
        h2 = g(z2)
        (0.5 * (h2 - y) ** 2).backward()
        grad = (w if target == "w" else a).grad
        with torch.no_grad():
            if trial % 2:
                dg = lambda z: 1 - torch.tanh(z) ** 2  # noqa: E731
            else:
                dg = lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))  # noqa: E731
            common = (h2 - y) * dg(z2)
            values = {"dw": common * h1, "da": common * (x2 + w * dg(z1) * x1), "dh1": common * w,
                      "gg": common * dg(z1), "direct": common * x2}
        for name, v in values.items():
            err[name] = max(err[name], float((v - grad).abs()))
    out = []
    for claim in p16_claims(spec):
        if (err[claim.value] < 1e-12) != claim.holds:
            out.append(f"options_by_computation: P1.6 option '{claim.text}' against autograd (error "
                       f"{err[claim.value]:.1e})")
    return out


def _shape_failures(spec: ExamSpec) -> list[str]:
    import torch
    from torch import nn

    from dlexam.spec import Conv, Pool

    cnn, out = spec.cnn, []
    x = torch.zeros(1, cnn.input_channels, *cnn.input_size, device="meta")  # shapes only, nothing computed
    with torch.no_grad():
        for row in cnn.table()[:-1]:
            L = row.layer
            if isinstance(L, Conv):
                m = nn.Conv2d(x.shape[1], L.out_channels, L.kernel, L.stride, L.padding, device="meta")
            elif isinstance(L, Pool):
                m = (nn.AvgPool2d if L.mode == "avg" else nn.MaxPool2d)(L.kernel, L.stride, L.padding)
            x = m(x)
            params = sum(p.numel() for p in m.parameters())
            if tuple(x.shape[1:]) != row.out_shape or params != row.params:
                out.append(f"shapes_match_pytorch: {L.name} gives {tuple(x.shape[1:])} with {params} parameters in "
                           f"PyTorch, {row.out_shape} with {row.params} by the formula")
    return out
