"""Part 1, questions 5, 6 and 8: an autoencoder's latent space, a two-step RNN's gradient and
multi-head attention. Question 7 (what runs in parallel) is in :mod:`dlexam.answers.part1_parallel`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dlexam.answers import choices
from dlexam.answers.registry import Answer, difference, question
from dlexam.attention import attention, causal_mask
from dlexam.spec import ExamSpec, RNNItem
from dlexam.transformer import DecoderTransformer, TransformerConfig

DT = torch.float64


# ---- P1.5 the latent space of a dense auto-encoder -------------------------------------------

P15_OPTIONS = [
    "It is a high-dimensional space where the input data is explicitly mapped, usually with more dimensions "
    "than the input.",
    "It is a space where the encoder attempts to transform the input to be linearly separable for "
    "classification purposes.",
    "It is a lower-dimensional space that aims to capture the most salient features of the input, enabling a "
    "compressed representation.",
    "It is a space where data points are perturbed with noise during training to improve the robustness of the "
    "model.",
]


def train_linear_autoencoder(x: torch.Tensor, k: int, steps: int = 150, seed: int = 0) -> float:
    """Train a dense auto-encoder 16 -> k -> 16 (no activation) with Adam; return the reconstruction MSE.

    Adam is written out (8 lines) because constructing a torch.optim optimizer imports torch._dynamo,
    which alone takes 2-7 s on this machine: more than the whole training.
    """
    torch.manual_seed(seed)
    d = x.shape[1]
    model = nn.Sequential(nn.Linear(d, k), nn.Linear(k, d)).to(DT)
    params = list(model.parameters())
    m1 = [torch.zeros_like(p) for p in params]
    m2 = [torch.zeros_like(p) for p in params]
    lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        grads = torch.autograd.grad(((model(x) - x) ** 2).mean(), params)
        with torch.no_grad():
            for p, g, a, b in zip(params, grads, m1, m2, strict=True):
                a.mul_(b1).add_(g, alpha=1 - b1)
                b.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.sub_(lr * (a / (1 - b1**t)) / ((b / (1 - b2**t)).sqrt() + eps))
    with torch.no_grad():
        return float(((model(x) - x) ** 2).mean())


def pca_error(x: torch.Tensor, k: int) -> float:
    """The best reconstruction MSE of any rank-k affine map (PCA, Eckart-Young): the linear AE's optimum."""
    xc = x - x.mean(0)
    s = torch.linalg.svdvals(xc)
    return float((s[k:] ** 2).sum() / x.numel())


@question("P1.5")
def p1_5() -> Answer:
    g = torch.Generator().manual_seed(5)
    n, d, k_true = 256, 16, 3
    latent = torch.randn(n, k_true, generator=g, dtype=DT)
    mixing = torch.randn(k_true, d, generator=g, dtype=DT)
    x = latent @ mixing + 0.05 * torch.randn(n, d, generator=g, dtype=DT)  # 16-d data near a 3-d subspace
    results = {}
    for k in (2, 3):
        results[k] = {"autoencoder_mse": train_linear_autoencoder(x, k), "pca_optimum_mse": pca_error(x, k)}
    # An over-complete dense AE (latent 32 > 16 inputs) can copy its input: on structureless noise it
    # still reconstructs, so it has learned nothing about the data. This is why the latent space is
    # made smaller than the input (or regularised).
    noise = torch.randn(n, d, generator=g, dtype=DT)
    overcomplete_noise = train_linear_autoencoder(noise, 32)
    typical = [False, False, True, False]
    ch = choices.decide(P15_OPTIONS, typical, asks_for_true=True)
    return Answer(
        id="P1.5",
        question="What best describes the latent space of a dense auto-encoder?",
        exam_answer=ch.exam_answer(P15_OPTIONS),
        computed=(f"16-d data near a 3-d subspace: a 3-unit bottleneck reconstructs with MSE "
                  f"{results[3]['autoencoder_mse']:.4f} (PCA optimum {results[3]['pca_optimum_mse']:.4f}), a 2-unit "
                  f"one "
                  f"{results[2]['autoencoder_mse']:.3f}; a 32-unit latent copies even pure noise (MSE "
                  f"{overcomplete_noise:.1e})"),
        verdict="conceptual",
        evidence={
            "data": {"n": n, "input_dim": d, "true_latent_dim": k_true, "noise_std": 0.05},
            "bottleneck": {str(k): v for k, v in results.items()},
            "pure_noise_input": {"latent_32_mse": overcomplete_noise, "variance": float(noise.var())},
            "options": [
                {"option": 1, "typical": False, "why": "an over-complete latent can learn the identity "
                 "(it reconstructs pure noise), so plain dense AEs use a bottleneck"},
                {"option": 2, "typical": False, "why": "the AE is trained without labels on reconstruction; "
                 "linear separability for a classifier is not its objective"},
                {"option": 3, "typical": True, "why": "the bottleneck keeps the directions that explain the data "
                 "(here the trained 3-unit AE comes close to the PCA optimum, the best any 3-unit linear AE can do: "
                 f"MSE {results[3]['autoencoder_mse']:.4f} against {results[3]['pca_optimum_mse']:.4f})"},
                {"option": 4, "typical": False, "why": "that describes a denoising AE, which perturbs the input, "
                 "not the latent space"},
            ],
            **{("judged_answer" if k == "computed_answer" else k): v for k, v in ch.evidence().items()},
            "judged_by": "the computations above and the standard definition (an under-complete auto-encoder)",
        },
        explanation=("Which option is 'most accurate' is a judgement; the computation shows what a bottleneck "
                     "does (compression that keeps the salient directions) and why an over-complete one does not."),
        exam_quotes=P15_OPTIONS,
    )


# ---- P1.6 the two-step RNN -------------------------------------------------------------------

P16_OPTIONS = [
    "w \\leftarrow w - \\eta (h_2 - y) g'(z_2) (x_2 + w g'(z_1) x_1)",
    "w \\leftarrow w - \\eta (h_2 - y) q'(z_2) q'(z_1)",
    "w \\leftarrow w - \\eta (h_2 - y) g'(z_2) w",
]
P16_SOLUTION = "and so the SGD update is $w \\leftarrow w - \\eta (h_2 - y) g'(z_2) h_1$."
P16_GARBLE = "\\underbrace{(g(w g(a x_1) + a x_2) - y) \\frac{d}{dw} (g(w g(a x_1) + a x_2))}_{h_2} - y)"

ACTIVATIONS = {"tanh": (torch.tanh, lambda z: 1 - torch.tanh(z) ** 2),
               "sigmoid": (torch.sigmoid, lambda z: torch.sigmoid(z) * (1 - torch.sigmoid(z)))}


def rnn_forward(a, w, xs, g) -> tuple[list, list]:
    """P1.6's RNN: h_0 = 0, z_t = w h_{t-1} + a x_t, h_t = g(z_t); returns (z_1..z_T), (h_1..h_T)."""
    zs, hs, h = [], [], 0.0
    for x in xs:
        z = w * h + a * x
        h = g(z)
        zs.append(z)
        hs.append(h)
    return zs, hs


def bptt_gradient(parameter: str, a, w, xs, y, g, dg):
    """dL/d`parameter` of L = (h_T - y)^2 / 2 in closed form (backpropagation through time):
    (h_T - y) sum_t [prod_{s > t} w g'(z_s)] g'(z_t) u_t, with u_t = h_{t-1} for w (h_0 = 0) and x_t for a."""
    zs, hs = rnn_forward(a, w, xs, g)
    total, carry = 0.0, hs[-1] - y
    for t in reversed(range(len(xs))):
        u = xs[t] if parameter == "a" else (hs[t - 1] if t else 0.0)
        total = total + carry * dg(zs[t]) * u
        carry = carry * dg(zs[t]) * w
    return total


_STEPS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


@question("P1.6")
def p1_6(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    item = spec.part1.rnn
    if item != ExamSpec.version_a().part1.rnn:
        return _p1_6_other(item)
    gen = torch.Generator().manual_seed(6)
    trials = 40
    err = {"option1": 0.0, "option2": 0.0, "option3": 0.0, "solution_h1": 0.0,
           "option1_vs_dL_da": 0.0, "option3_vs_dL_dh1": 0.0}
    for t in range(trials):
        g, dg = ACTIVATIONS["tanh" if t % 2 else "sigmoid"]
        a, w, *xs, y = (torch.randn((), generator=gen, dtype=DT) for _ in range(item.length + 3))
        a.requires_grad_(True)
        w.requires_grad_(True)
        (z1, z2), (h1, h2) = rnn_forward(a, w, xs, g)  # the exam's two steps, h_0 = 0
        x1, x2 = xs
        h1.retain_grad()
        loss = 0.5 * (h2 - y) ** 2
        loss.backward()
        with torch.no_grad():
            common = (h2 - y) * dg(z2)
            cands = {"option1": common * (x2 + w * dg(z1) * x1), "option2": common * dg(z1),  # q' read as g'
                     "option3": common * w, "solution_h1": common * h1}
            for name, c in cands.items():
                err[name] = max(err[name], float((c - w.grad).abs()))
            err["option1_vs_dL_da"] = max(err["option1_vs_dL_da"], float((cands["option1"] - a.grad).abs()))
            err["option3_vs_dL_dh1"] = max(err["option3_vs_dL_dh1"], float((cands["option3"] - h1.grad).abs()))
    tol = 1e-12
    listed_hold = [err[f"option{i}"] < tol for i in (1, 2, 3)]
    solution_holds = err["solution_h1"] < tol
    marks = choices.exam_source.marked_options(P16_OPTIONS)  # the text prints the options, none of them marked
    marked = [i + 1 for i in marks or []]
    why = [] if solution_holds else [
        f"The solution's (h2 - y) g'(z2) h1 is off from autograd by {err['solution_h1']:.3g}."]
    why += [f"Listed option {i} matches autograd, so the correct rule is printed after all."
            for i, h in enumerate(listed_hold, start=1) if h]
    why += [f"The exam text marks listed option {i}, which autograd rejects." for i in marked if not listed_hold[i - 1]]
    agree = not why
    return Answer(
        id="P1.6",
        question="SGD update of w for a two-step scalar RNN with squared loss",
        exam_answer=("solution: " + P16_SOLUTION.split("$")[1].replace("\\leftarrow", "<-").replace("\\eta", "eta")
                     + " (this option is missing from the printed list)"),
        computed=(f"autograd dL/dw = (h2 - y) g'(z2) h1 (max error {difference(err['solution_h1'])} over {trials} "
                  "draws); "
                  f"none of the 3 listed options matches (listed option 1 is dL/da, option 3 is dL/dh1)"),
        verdict="agrees" if agree else "disagrees",
        explanation="" if agree else " ".join(why),
        evidence={
            "trials": trials, "activations": ["sigmoid", "tanh"],
            "max_abs_error_vs_autograd_dL_dw": {k: err[k] for k in ("option1", "option2", "option3", "solution_h1")},
            "listed_option_1_equals_dL_da": err["option1_vs_dL_da"] < tol,
            "listed_option_3_equals_dL_dh1": err["option3_vs_dL_dh1"] < tol,
            "max_abs_error_option1_vs_dL_da": err["option1_vs_dL_da"],
            "max_abs_error_option3_vs_dL_dh1": err["option3_vs_dL_dh1"],
            "listed_options_hold": listed_hold, "solution_holds": solution_holds,
            "exam_marks": None if marks is None else [i + 1 for i in marks],
        },
        notes=[
            "The extracted text lists only 3 of the 4 options, none marked: the correct option, "
            "w <- w - eta (h_2 - y) g'(z_2) h_1 (the solution's answer), is missing from the list.",
            "The first listed option, (h_2 - y) g'(z_2) (x_2 + w g'(z_1) x_1), is exactly dL/da, the gradient with "
            "respect to a (z_2 = w h_1 + a x_2 and h_1 = g(a x_1)), not with respect to w.",
            "The third listed option, (h_2 - y) g'(z_2) w, is dL/dh_1.",
            "The second listed option prints q' for g' (an extraction error); read as g'(z_2) g'(z_1) it is still "
            "wrong.",
            "The solution's first derivative line is garbled: an underbrace labelled h_2 swallows '(g(...) - y) d/dw "
            "g(...)' "
            "and the factor '- y) d/dw (...)' is repeated.",
        ],
        exam_quotes=[*P16_OPTIONS, P16_SOLUTION, P16_GARBLE],
    )


def _p1_6_other(item: RNNItem) -> Answer:
    """P1.6 for a version whose RNN the exam does not print (another length or parameter): the closed-form
    gradient (:func:`bptt_gradient`) against autograd on random draws, with sigmoid and tanh."""
    gen = torch.Generator().manual_seed(6)
    trials, tol, worst = 40, 1e-12, 0.0
    for t in range(trials):
        g, dg = ACTIVATIONS["tanh" if t % 2 else "sigmoid"]
        a, w, *xs, y = (torch.randn((), generator=gen, dtype=DT) for _ in range(item.length + 3))
        theta = {"a": a, "w": w}[item.parameter].requires_grad_(True)
        _, hs = rnn_forward(a, w, xs, g)
        (grad,) = torch.autograd.grad(0.5 * (hs[-1] - y) ** 2, theta)
        with torch.no_grad():
            worst = max(worst, float((bptt_gradient(item.parameter, a, w, xs, y, g, dg) - grad).abs()))
    p, steps = item.parameter, item.length
    u = "h_{t-1}" if p == "w" else "x_t"
    rule = (f"{p} <- {p} - eta (h_{steps} - y) sum_(t=1..{steps}) [prod_(s=t+1..{steps}) w g'(z_s)] g'(z_t) {u}"
            + (" (h_0 = 0)" if p == "w" else ""))
    holds = worst < tol
    return Answer(
        id="P1.6",
        question=f"SGD update of {p} for a {_STEPS.get(steps, str(steps))}-step scalar RNN with squared loss",
        exam_answer=f"this version's key: {rule}",
        computed=f"autograd dL/d{p} equals the closed form (max error {difference(worst)} over {trials} draws)",
        verdict="agrees" if holds else "disagrees",
        explanation="" if holds else f"the closed form is off from autograd by up to {worst:.3g}",
        evidence={"trials": trials, "activations": ["sigmoid", "tanh"], "length": steps, "parameter": p,
                  "max_abs_error_vs_autograd": {"closed_form": worst}, "closed_form_holds": holds},
    )


# ---- P1.8 multi-head attention ---------------------------------------------------------------

P18_OPTIONS = [
    "It involves multiple sets of query, key, and value projections to allow the model to attend to different "
    "aspects of the input.",
    "It scales the dot product attention scores by the square root of the dimension of the keys to stabilize "
    "training and prevent vanishing gradients.",
    "It computes a single weighted average of the value vectors, using attention weights calculated from the dot "
    "product of queries and keys.",
    "It concatenates the results of individual attention heads, followed by a linear transformation to produce a "
    "final output for the layer.",
]


def softmax_jacobian_norms(d: int = 256, seed: int = 88) -> dict[str, float]:
    """Why scale: for random q, k of width d the raw dot products have std ~ sqrt(d), the softmax
    saturates and its Jacobian (the gradient that reaches the scores) nearly vanishes."""
    g = torch.Generator().manual_seed(seed)
    qb, kb = torch.randn(64, d, generator=g, dtype=DT), torch.randn(64, d, generator=g, dtype=DT)
    jac = {}
    for name, temp in (("unscaled", 1.0), ("sqrt_dk", math.sqrt(d))):
        p = torch.softmax((qb @ kb.T / temp)[0], -1)
        jac[name] = float(torch.linalg.matrix_norm(torch.diag(p) - torch.outer(p, p)))
    return jac


@question("P1.8")
def p1_8() -> Answer:
    torch.manual_seed(8)
    E, H, T = 16, 4, 6
    dk = E // H
    mha = nn.MultiheadAttention(E, H, batch_first=True).to(DT)
    x = torch.randn(1, T, E, dtype=DT)
    mask = causal_mask(T)
    with torch.no_grad():
        ref, weights = mha(x, x, x, attn_mask=~mask, need_weights=True, average_attn_weights=False)
        W_q, W_k, W_v = mha.in_proj_weight.chunk(3)  # each (E, E): rows h*dk:(h+1)*dk belong to head h
        b_q, b_k, b_v = mha.in_proj_bias.chunk(3)

        def heads(t):  # (1, T, E) -> (1, H, T, dk)
            return t.view(1, T, H, dk).transpose(1, 2)

        q, k, v = heads(x @ W_q.T + b_q), heads(x @ W_k.T + b_k), heads(x @ W_v.T + b_v)
        outs = {}
        for name, temp in (("sqrt_dk", math.sqrt(dk)), ("unscaled", 1.0)):
            z, p, _ = attention(q, k, v, temperature=temp, mask=mask)  # z (1, H, T, dk)
            concat = z.transpose(1, 2).reshape(1, T, E)  # (1, T, H*dk)
            outs[name] = (concat @ mha.out_proj.weight.T + mha.out_proj.bias, p, concat)
        err_scaled = float((outs["sqrt_dk"][0] - ref).abs().max())
        err_unscaled = float((outs["unscaled"][0] - ref).abs().max())
        err_weights = float((outs["sqrt_dk"][1] - weights).abs().max())
        # H different weightings per query, not one
        per_head = weights[0]  # (H, T, T)
        head_spread = float((per_head - per_head.mean(0, keepdim=True)).abs().amax(dim=(1, 2)).max())
        # Without the out_proj, the output would be the per-head averages side by side
        no_linear_err = float((outs["sqrt_dk"][0] - outs["sqrt_dk"][2]).abs().max())
        # The project's transformer layer with the same weights (no biases) is the same multi-head attention
        mha_nb = nn.MultiheadAttention(E, H, batch_first=True, bias=False).to(DT)
        ref_nb, _ = mha_nb(x, x, x, attn_mask=~mask, need_weights=False)
        layer = DecoderTransformer(TransformerConfig(vocab_size=2, d_model=E, n_heads=H)).to(DT).layers[0]
        Wq, Wk, Wv = mha_nb.in_proj_weight.chunk(3)
        for mine, theirs in ((layer.W_Q, Wq), (layer.W_K, Wk), (layer.W_V, Wv)):
            mine.copy_(theirs.view(H, dk, E).transpose(1, 2))  # (H, d_model, d_head)
        layer.W_O.copy_(mha_nb.out_proj.weight.T)  # (H*d_head, d_model)
        out_layer, _ = layer(x, mask, math.sqrt(dk))
        transformer_layer_err = float((out_layer - ref_nb).abs().max())

    jac = softmax_jacobian_norms()
    holds = [W_q.shape[0] == H * dk and head_spread > 1e-3, err_scaled < 1e-12 and err_unscaled > 1e-3,
             head_spread < 1e-9, err_scaled < 1e-12 and transformer_layer_err < 1e-12]
    ch = choices.decide(P18_OPTIONS, holds, asks_for_true=False)
    return Answer(
        id="P1.8",
        question="Which is NOT a typical characteristic of multi-head attention?",
        exam_answer=ch.exam_answer(P18_OPTIONS),
        computed=(f"nn.MultiheadAttention ({H} heads) = per-head dlexam.attention at T = sqrt(d_k) + concat + "
                  f"out_proj (error {difference(err_scaled)}; without the sqrt(d_k) scaling {err_unscaled:.2f}); its "
                  f"{H} heads "
                  f"give {H} different weightings (spread {head_spread:.2f}), not a single weighted average"),
        verdict=ch.verdict,
        explanation=ch.explanation(P18_OPTIONS),
        evidence={
            **ch.evidence(),
            "embed_dim": E, "heads": H, "d_k": dk,
            "projection_sets": {"in_proj_weight_shape": list(mha.in_proj_weight.shape),
                                "per_head_query_key_value_widths": [dk] * 3},
            "max_error_vs_nn_MultiheadAttention": {"scaled_by_sqrt_dk": err_scaled, "unscaled": err_unscaled,
                                                   "attention_weights": err_weights},
            "max_weight_difference_between_heads": head_spread,
            "output_without_out_proj_differs_by": no_linear_err,
            "dlexam_transformer_layer_vs_nn_MultiheadAttention_max_error": transformer_layer_err,
            "softmax_jacobian_norm_at_width_256": jac,
            "options": [
                {"option": 1, "holds": holds[0], "why": f"in_proj splits into {H} heads of Q, K, V projections"},
                {"option": 2, "holds": holds[1], "why": "MHA equals our attention only with T = sqrt(d_k); unscaled "
                 f"scores saturate the softmax (Jacobian norm {jac['unscaled']:.1e} vs {jac['sqrt_dk']:.2f})"},
                {"option": 3, "holds": holds[2], "why": f"{H} separate weighted averages, one per head"},
                {"option": 4, "holds": holds[3], "why": "concat of heads then out_proj reproduces MHA exactly"},
            ],
        },
        notes=["Option 3 describes single-head attention; with H heads there are H weighted averages (of H "
               "different value projections), concatenated. The project's transformer does the same, "
               "R = [Z_1 ... Z_H] W_O (dlexam.transformer.Layer), and equals nn.MultiheadAttention given its weights "
               f"(max error {difference(transformer_layer_err)})."],
        exam_quotes=P18_OPTIONS,
    )
