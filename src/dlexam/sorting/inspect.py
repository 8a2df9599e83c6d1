"""Attention matrices of a sorting model on one example, step by step (for the HTML report).

Greedy decoding with a causal mask means the attention row of each decoding step is the same as
the corresponding row of one forward pass over the finished sequence ``input <START> output
<STOP>``; :func:`attention_steps` decodes the answer, runs that forward pass with a trace, and
returns the matrices plus, for each decoding step, the query token, its attention weights over
the prefix and the token it produced.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer


@dataclass
class Step:
    query: str  # the token whose output predicts the next token (<START>, then each output symbol)
    position: int  # its index in `tokens`
    weights: list[list[float]]  # (n_layers * n_heads, position + 1): attention over tokens[: position + 1]
    produced: str  # the greedy prediction at this step


@dataclass
class AttentionSteps:
    tokens: list[str]  # input <START> output <STOP>, as text
    output: list[str]  # the decoded answer (symbols only)
    P: list[list[list[list[float]]]]  # (n_layers, n_heads, T, T): the full causal attention matrices
    scores: list[list[list[list[float]]]] | None  # raw scores Q K^T, same shape
    steps: list[Step]
    temperature: float


@torch.no_grad()
def attention_steps(
    model: DecoderTransformer,
    vocab: Vocabulary,
    sequence: str | list[int],
    *,
    temperature: float | str | None = None,
) -> AttentionSteps:
    """Decode `sequence` (text like "D A A" or symbol ids) and return every attention matrix."""
    ids = vocab.parse(sequence) if isinstance(sequence, str) else list(sequence)
    decoded = greedy_decode(model, vocab, [ids], temperature=temperature)
    out = decoded.outputs[0]
    full = ids + [vocab.start] + out + ([vocab.stop] if decoded.stopped[0] else [])
    trace: list[dict] = []
    logits = model(torch.tensor([full]), temperature=temperature, trace=trace)[0]  # (T, V)
    p = torch.stack([d["P"][0] for d in trace])  # (n_layers, n_heads, T, T)
    s = torch.stack([d["scores"][0] for d in trace])
    steps = []
    # one step per token decoded: each output, and <STOP> where it came (an answer cut at the step limit has no step
    # after its last token: before, one more was listed, whose output greedy decoding never produced)
    for pos in range(len(ids), len(ids) + len(out) + (1 if decoded.stopped[0] else 0)):
        steps.append(
            Step(
                query=vocab.token_text(full[pos]),
                position=pos,
                weights=p[:, :, pos, : pos + 1].reshape(-1, pos + 1).tolist(),  # (L * H, pos + 1)
                produced=vocab.token_text(int(logits[pos].argmax())),
            )
        )
    return AttentionSteps(
        tokens=[vocab.token_text(t) for t in full],
        output=[vocab.token_text(t) for t in out],
        P=p.tolist(),
        scores=s.tolist(),
        steps=steps,
        temperature=model.temperature(temperature),
    )
