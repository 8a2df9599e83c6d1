"""Part 1, questions 5-8: an autoencoder's latent space, a two-step RNN's gradient, what runs in
parallel in RNNs and transformers, and multi-head attention.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from dlexam.answers import choices
from dlexam.answers.registry import Answer, question
from dlexam.attention import attention, causal_mask
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
                 "(here the trained AE reaches the PCA optimum)"},
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


@question("P1.6")
def p1_6() -> Answer:
    gen = torch.Generator().manual_seed(6)
    trials = 40
    err = {"option1": 0.0, "option2": 0.0, "option3": 0.0, "solution_h1": 0.0,
           "option1_vs_dL_da": 0.0, "option3_vs_dL_dh1": 0.0}
    for t in range(trials):
        g, dg = ACTIVATIONS["tanh" if t % 2 else "sigmoid"]
        a, w, x1, x2, y = (torch.randn((), generator=gen, dtype=DT) for _ in range(5))
        a.requires_grad_(True)
        w.requires_grad_(True)
        z1 = w * 0.0 + a * x1  # h_0 = 0
        h1 = g(z1)
        h1.retain_grad()
        z2 = w * h1 + a * x2
        h2 = g(z2)
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
    marks = choices.exam_source.marked_options(P16_OPTIONS)
    return Answer(
        id="P1.6",
        question="SGD update of w for a two-step scalar RNN with squared loss",
        exam_answer=("solution: " + P16_SOLUTION.split("$")[1].replace("\\leftarrow", "<-").replace("\\eta", "eta")
                     + " (this option is missing from the printed list)"),
        computed=(f"autograd dL/dw = (h2 - y) g'(z2) h1 (max error {err['solution_h1']:.1e} over {trials} draws); "
                  f"none of the 3 listed options matches (listed option 1 is dL/da, option 3 is dL/dh1)"),
        verdict="agrees" if solution_holds and not any(listed_hold) else "disagrees",
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


# ---- P1.7 what can run in parallel -----------------------------------------------------------

P17_OPTIONS = [
    "The training forward pass of a sequence can be parallelized in an encoder-decoder RNN.",
    "The test forward pass of a sequence can be parallelized in an encoder-decoder RNN.",
    "The training forward pass of a sequence can be parallelized in a decoder transformer.",
    "The test forward pass of a sequence can be parallelized in a decoder transformer.",
]


class Seq2SeqGRU(nn.Module):
    """A small encoder-decoder GRU, stepped one cell call at a time so the sequential steps can be counted."""

    def __init__(self, vocab: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.enc = nn.GRUCell(hidden, hidden)
        self.dec = nn.GRUCell(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)
        self.calls = 0  # sequential cell calls: each needs the previous hidden state

    def encode(self, src: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(src.shape[0], self.enc.hidden_size, dtype=self.emb.weight.dtype)
        for t in range(src.shape[1]):
            h = self.enc(self.emb(src[:, t]), h)
            self.calls += 1
        return h

    def forward_train(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the decoder inputs are known, but h_t still needs h_{t-1}."""
        h = self.encode(src)
        logits = []
        for t in range(tgt_in.shape[1]):
            h = self.dec(self.emb(tgt_in[:, t]), h)
            self.calls += 1
            logits.append(self.out(h))
        return torch.stack(logits, 1)  # (B, T_tgt, vocab)

    def generate(self, src: torch.Tensor, n: int, bos: int = 0) -> torch.Tensor:
        h = self.encode(src)
        tok = torch.full((src.shape[0],), bos, dtype=torch.long)
        out = []
        for _ in range(n):
            h = self.dec(self.emb(tok), h)
            self.calls += 1
            tok = self.out(h).argmax(-1)  # the next input is this output: unknown until now
            out.append(tok)
        return torch.stack(out, 1)


def _median_time(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def count_sequential_steps(T: int, seed: int = 7) -> dict:
    """Sequential model calls for a T-token source and T-token target, in the four passes of Part 1.7.

    Also returns the oracles that make the counts meaningful: the GRU cell loop equals ``nn.GRU``; the
    transformer's one parallel training pass equals running each prefix on its own; greedy generation
    feeds each output back as the next input, so step t+1 cannot start before step t ends.
    """
    torch.manual_seed(seed)
    vocab = 10
    src = torch.randint(1, vocab, (4, T))
    tgt = torch.randint(1, vocab, (4, T))
    rnn = Seq2SeqGRU(vocab)
    cfg = TransformerConfig(vocab_size=vocab, d_model=32, n_heads=2, n_layers=2, d_ff=64, residual=True,
                            positional="learned", max_len=2 * T + 1)
    tf = DecoderTransformer(cfg).eval()
    seq = torch.cat([src, tgt], 1)  # (B, 2T)
    out: dict = {}
    with torch.no_grad():
        gru = nn.GRU(32, 32, batch_first=True)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(gru, f"{name}_l0").copy_(getattr(rnn.enc, name))
        _, h_gru = gru(rnn.emb(src))
        out["gru_cell_loop_equals_nn_GRU"] = float((rnn.encode(src) - h_gru[0]).abs().max()) < 1e-5
        rnn.calls = 0
        rnn.forward_train(src, tgt)
        out["rnn_train"] = rnn.calls
        rnn.calls = 0
        rnn.generate(src, T)
        out["rnn_generate"] = rnn.calls

        calls = 0
        parallel = tf(seq)  # one call: every position at once under the causal mask
        calls += 1
        out["transformer_train"] = calls
        out["transformer_parallel_vs_prefix_by_prefix_max_error"] = max(
            float((tf(seq[:, : t + 1])[:, -1] - parallel[:, t]).abs().max()) for t in range(0, 2 * T, 5))
        calls = 0
        logits, cache = tf.prefill(src, torch.ones_like(src, dtype=torch.bool))
        calls += 1
        generated = []
        for i in range(T):
            tok = logits.argmax(-1)  # the next input is this output: unknown until now
            generated.append(tok)
            if i < T - 1:  # T tokens need the prefill and T - 1 steps
                logits, cache = tf.step(tok, cache)
                calls += 1
        out["transformer_generate"] = calls
        gen = torch.stack(generated, 1)
        check = tf(torch.cat([src, gen], 1))[:, T - 1 : 2 * T - 1].argmax(-1)
        out["transformer_greedy_equals_parallel_rescoring"] = bool((check == gen).all())
    # the RNN recurrence is a true dependency: the last encoder state depends on the first token
    emb_in = rnn.emb(src[:1]).detach().requires_grad_(True)
    h = torch.zeros(1, 32)
    for t in range(T):
        h = rnn.enc(emb_in[:, t], h)
    (dep,) = torch.autograd.grad(h.sum(), emb_in)
    out["rnn_last_state_gradient_wrt_first_token"] = float(dep[0, 0].norm())
    out["_models"] = (rnn, tf, src, tgt, seq)
    return out


@question("P1.7")
def p1_7() -> Answer:
    lengths = (8, 32)
    runs = {T: count_sequential_steps(T) for T in lengths}
    passes = ("rnn_train", "rnn_generate", "transformer_train", "transformer_generate")
    steps = {p: {str(T): runs[T][p] for T in lengths} for p in passes}
    # parallel over the sequence <=> the number of sequential calls does not grow with its length
    holds = [runs[lengths[0]][p] == runs[lengths[1]][p] for p in passes]
    big = runs[lengths[1]]
    rnn, tf, src, tgt, seq = big.pop("_models")
    runs[lengths[0]].pop("_models")
    with torch.no_grad():
        timing = {
            "rnn_train_forward_s": _median_time(lambda: rnn.forward_train(src, tgt)),
            "transformer_train_forward_s": _median_time(lambda: tf(seq)),
            "transformer_prefix_by_prefix_s": _median_time(
                lambda: [tf(seq[:, : t + 1]) for t in range(seq.shape[1])], 3),
            "rnn_generate_s": _median_time(lambda: rnn.generate(src, lengths[1])),
        }
    oracles_ok = all(r["gru_cell_loop_equals_nn_GRU"] and r["transformer_parallel_vs_prefix_by_prefix_max_error"] < 1e-4
                     and r["transformer_greedy_equals_parallel_rescoring"] for r in runs.values())
    ch = choices.decide(P17_OPTIONS, holds, asks_for_true=True)
    T = lengths[1]
    return Answer(
        id="P1.7",
        question="Which forward pass can be parallelized over the sequence?",
        exam_answer=ch.exam_answer(P17_OPTIONS),
        computed=(f"sequential calls for source+target of {lengths[0]}+{lengths[0]} vs {T}+{T} tokens: "
                  + ", ".join(f"{p} {steps[p][str(lengths[0])]} vs {steps[p][str(T)]}" for p in passes)
                  + f"; only transformer training stays at 1 pass (oracles hold: {oracles_ok})"),
        verdict=ch.verdict if oracles_ok else "disagrees",
        explanation="" if oracles_ok else "an oracle of the step counting failed; see evidence",
        evidence={
            **ch.evidence(),
            "sequential_calls_by_length": steps,
            "oracles": {str(T_): {k: v for k, v in r.items() if k not in passes} for T_, r in runs.items()},
            f"median_seconds_at_{T}_plus_{T}_tokens": timing,
            "options": [{"option": i + 1, "pass": passes[i], "holds": holds[i]} for i in range(4)],
        },
        notes=["'Parallelized' means across the positions of one sequence; every model here parallelizes "
               "across a batch. Teacher forcing gives the RNN decoder its inputs in advance, but h_t still needs "
               "h_{t-1}: the training pass stays sequential in time.",
               "The transformer's parallel training pass is legitimate because of the causal mask: its logits at "
               "each position equal those of running that prefix alone (checked)."],
        exam_quotes=P17_OPTIONS,
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

    # Why scale: for random q, k of width 256 the raw dot products have std ~ sqrt(256) = 16, the softmax
    # saturates and its Jacobian (the gradient that reaches the scores) nearly vanishes.
    g = torch.Generator().manual_seed(88)
    d_big = 256
    qb, kb = torch.randn(64, d_big, generator=g, dtype=DT), torch.randn(64, d_big, generator=g, dtype=DT)
    jac = {}
    for name, temp in (("unscaled", 1.0), ("sqrt_dk", math.sqrt(d_big))):
        s = (qb @ kb.T / temp)[0]
        p = torch.softmax(s, -1)
        jac[name] = float(torch.linalg.matrix_norm(torch.diag(p) - torch.outer(p, p)))
    holds = [W_q.shape[0] == H * dk and head_spread > 1e-3, err_scaled < 1e-12 and err_unscaled > 1e-3,
             head_spread < 1e-9, err_scaled < 1e-12 and transformer_layer_err < 1e-12]
    ch = choices.decide(P18_OPTIONS, holds, asks_for_true=False)
    return Answer(
        id="P1.8",
        question="Which is NOT a typical characteristic of multi-head attention?",
        exam_answer=ch.exam_answer(P18_OPTIONS),
        computed=(f"nn.MultiheadAttention ({H} heads) = per-head dlexam.attention at T = sqrt(d_k) + concat + "
                  f"out_proj (error {err_scaled:.1e}; without the sqrt(d_k) scaling {err_unscaled:.2f}); its {H} heads "
                  f"give {H} different weightings (spread {head_spread:.2f}), not a single weighted average"),
        verdict=ch.verdict,
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
               f"(max error {transformer_layer_err:.0e})."],
        exam_quotes=P18_OPTIONS,
    )
