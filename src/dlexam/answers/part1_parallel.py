"""Part 1, question 7: which forward passes can run in parallel over a sequence, counted and timed.

An encoder-decoder GRU (stepped one cell call at a time, checked against ``nn.GRU``) and the
project's decoder transformer (:mod:`dlexam.transformer`, with its KV-cache decoding) are run at two
sequence lengths; a pass is parallel over the sequence when its number of sequential model calls
does not grow with the length.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from dlexam.answers import choices
from dlexam.answers.registry import Answer, question
from dlexam.transformer import DecoderTransformer, TransformerConfig

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
                  + "; only transformer training stays at 1 pass ("
                  + ("the counting's oracles hold)" if oracles_ok else "an oracle of the counting failed)")),
        verdict=ch.verdict if oracles_ok else "disagrees",
        explanation=(ch.explanation(P17_OPTIONS) if oracles_ok else
                     "an oracle of the step counting failed; see evidence"),
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
