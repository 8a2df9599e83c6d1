"""A variant's numbers computed the way `dlexam answers` computes Version A's, as data.

The checks (:mod:`dlexam.variants.checks`) refuse a draw whose evidence disagrees with its exact key, and
`dlexam answers --variant N` shows the same evidence with a verdict (:mod:`dlexam.answers.variant`):

- :func:`geoff_evidence`: the project's float64 transformer (:func:`dlexam.geoff.run_geoff`) against the exact
  matrices, its losses against the closed forms, and which gradients vanish (autograd);
- :func:`option_evidence`: every option of P1.1, P1.4 and P1.6 evaluated (torch.softmax and the tie rule,
  nn.Conv2d, autograd of the RNN on random values);
- :func:`shape_evidence`: Problem 1's layer table against PyTorch's own layers.
"""

from __future__ import annotations

import math

from dlexam.geoff.exact import differences, exact_run, loss_terms
from dlexam.spec import Conv, ExamSpec, Pool
from dlexam.variants.draw import Draw
from dlexam.variants.part1 import p11_claims, p14_claims, p16_claims

GRADIENT_KEYS = ("argmax", "softmax")  # Problem 2.5's two settings, in geoff.GRADIENT_TEMPERATURES' order


def zero_gradients(spec: ExamSpec) -> dict:
    """Problem 2.5 for a variant's weights: autograd through the project's own transformer and attention
    (:func:`dlexam.geoff.compare_gradients`) on the teacher-forcing loss of the variant's example, at T = 0
    (argmax) and at T = sqrt(d_head). "argmax" | "softmax" -> {"zero": the matrices whose gradient is exactly
    zero (sorted), "norms": each matrix's gradient norm}: plain data, which the key is computed from (and which
    the PrairieLearn export ships with the seeds it verified)."""
    from dlexam import geoff

    comparison = geoff.compare_gradients(list(spec.transformer.example),
                                         weights=geoff.GeoffWeights.from_spec(spec.transformer))
    return {key: {"zero": sorted(comparison.frozen(label)), "norms": comparison.norms[label]}
            for key, (label, _) in zip(GRADIENT_KEYS, geoff.GRADIENT_TEMPERATURES, strict=True)}


def geoff_evidence(spec: ExamSpec, gradients: dict | None = None) -> dict:
    """The float64 model against the exact key; `gradients`: :func:`zero_gradients`' result where already
    computed."""
    from dlexam import geoff

    t = spec.transformer
    weights = geoff.GeoffWeights.from_spec(t)
    example = list(t.example)
    runs = {}
    for heads in (1, t.heads):
        run = exact_run(t, heads=heads)
        result = geoff.run_geoff(example, temperature=0.0, heads=heads, weights=weights)
        runs[heads] = {"differences": differences(run, result),
                       "closed_form_loss": math.fsum(x.nll for x in loss_terms(run, t)),
                       "model_loss": float(result.loss["teacher_forcing"]["value"]),
                       "S": result.scores.tolist(), "P": result.P.tolist(), "R": result.R.tolist(),
                       "logits": result.logits.tolist()}
    g = gradients or zero_gradients(spec)
    labels = [label for label, _ in geoff.GRADIENT_TEMPERATURES]
    norms = {label: g[key]["norms"] for label, key in zip(labels, GRADIENT_KEYS, strict=True)}
    return {"runs": runs, "gradient_norms": norms,
            "zero_at_T0": g["argmax"]["zero"], "zero_at_sqrt": g["softmax"]["zero"]}


def option_evidence(d: Draw) -> dict[str, list[dict]]:
    """question -> one row per option (in the exam's own order of claims): text, expected, computed, how."""
    import torch

    from dlexam.attention import argmax_weights

    spec = d.spec
    dt = torch.float64
    z = torch.tensor([float(v) for v in spec.part1.softmax.z], dtype=dt)
    rows = []
    for claim in p11_claims(spec):
        if claim.kind == "uniform_never":  # refuted by a counterexample: a constant z
            computed = not bool(torch.allclose(torch.softmax(torch.full((4,), 2.5, dtype=dt) / 0.7, -1),
                                               torch.full((4,), 0.25, dtype=dt), rtol=0, atol=1e-15))
            how = "softmax of a constant z at T = 0.7"
        elif claim.kind == "uniform_constant":
            computed = all(bool(torch.allclose(torch.softmax(torch.full((5,), a, dtype=dt) / T, -1),
                                               torch.full((5,), 0.2, dtype=dt), rtol=0, atol=1e-15))
                           for a in (-3.0, 0.0, 4.0) for T in (0.1, 1.0, 10.0))
            how = "constant z at T = 0.1, 1, 10"
        elif claim.kind == "large_T":
            computed = float((torch.softmax(z / 1e9, -1) - 1 / len(z)).abs().max()) < 1e-6
            how = "torch.softmax(z / 1e9)"
        elif claim.kind == "limit":
            want = torch.tensor([float(v) for v in claim.value], dtype=dt)
            computed = (float((torch.softmax(z / 1e-3, -1) - want).abs().max()) < 1e-9
                        and torch.equal(argmax_weights(z), want))
            how = "torch.softmax(z / 0.001) and attention.argmax_weights(z)"
        else:  # no_zeros: log-softmax is finite, so every exp(z_i / T) > 0
            computed = all(math.isfinite(float(torch.log_softmax(z / T, -1).min())) for T in (1e-3, 1.0, 1e3))
            how = "log-softmax finite at T = 0.001, 1, 1000"
        rows.append({"text": claim.text, "expected": claim.holds, "computed": bool(computed), "how": how})
    out = {"P1.1": rows}
    c = spec.part1.conv_size
    conv = torch.nn.Conv2d(1, 1, c.kernel, c.stride, c.padding, device="meta")  # shapes only, nothing computed
    with torch.no_grad():
        shape = tuple(conv(torch.zeros(1, 1, *c.input_size, device="meta")).shape[-2:])
    out["P1.4"] = [{"text": claim.text, "expected": claim.holds, "computed": claim.value == shape,
                    "how": f"nn.Conv2d gives {shape[0]} x {shape[1]}"} for claim in p14_claims(spec)]
    errors = rnn_errors(spec.part1.rnn.parameter)
    out["P1.6"] = [{"text": claim.text, "expected": claim.holds, "computed": errors[claim.value] < 1e-12,
                    "how": f"max |option - autograd| = {errors[claim.value]:.1e} over 8 random draws"}
                   for claim in p16_claims(spec)]
    return out


def rnn_errors(parameter: str) -> dict[str, float]:
    """The largest |update - autograd's dL/d parameter| of each candidate update of P1.6, on random values."""
    import torch

    gen = torch.Generator().manual_seed(6)
    derivatives = {torch.tanh: lambda z: 1 - torch.tanh(z) ** 2,
                   torch.sigmoid: lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z))}
    err: dict[str, float] = {}
    for trial in range(8):
        g = torch.tanh if trial % 2 else torch.sigmoid
        dg = derivatives[g]
        a, w, x1, x2, y = (torch.randn((), generator=gen, dtype=torch.float64) for _ in range(5))
        a.requires_grad_(True)
        w.requires_grad_(True)
        z1 = a * x1  # h_0 = 0
        h1 = g(z1)
        z2 = w * h1 + a * x2
        h2 = g(z2)
        (0.5 * (h2 - y) ** 2).backward()
        grad = (w if parameter == "w" else a).grad
        with torch.no_grad():
            common = (h2 - y) * dg(z2)
            values = {"dw": common * h1, "da": common * (x2 + w * dg(z1) * x1), "dh1": common * w,
                      "gg": common * dg(z1), "direct": common * x2}
        for name, v in values.items():
            err[name] = max(err.get(name, 0.0), float((v - grad).abs()))
    return err


def shape_evidence(spec: ExamSpec) -> list[dict]:
    import torch
    from torch import nn

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
            out.append({"layer": L.name, "shape": list(row.out_shape), "params": row.params,
                        "torch_shape": list(x.shape[1:]), "torch_params": sum(p.numel() for p in m.parameters())})
    return out
