"""Geoff's transformer with the exam's exact weights (Problems 2.1-2.5).

One self-attention layer, one head, no positional encodings, no feed-forward, no residual,
causal mask, vocabulary {A, B, C, D, <START>, <STOP>} and

    W_Q = W_K = W_V = [[0, 3], [1, 2], [2, 1], [3, 0]]  (4x2),   W_O = [[0, 1, 0, 1], [1, 0, 1, 0]]  (2x4),
    E = [I_4; 0; 0]  (6x4: A-D one-hot, <START> and <STOP> zero),
    Z = P V,   R = Z W_O,   logits = R E^T.

The model is :class:`dlexam.transformer.DecoderTransformer`, the project's one transformer, with
these weights set; :func:`run_geoff` runs it on a sequence and returns every matrix of the exam's
worked solution, the loss under two conventions (see :func:`loss_terms`) and, on request, the
autograd gradients of Problem 2.5.

Problem 2.4 (``heads=2``): a second head identical to the first, and W_O = I_4. The heads'
outputs are concatenated, [Z Z] I_4 = Z [I_2 I_2], which is *not* Z W_O: the exam's claim that
"the result would be identical" does not hold for its W_O (the columns of R come out swapped,
A<->B and C<->D). Two identical heads with a 4x4 W_O' equal one head with W_O'[:2] + W_O'[2:].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import torch

from dlexam.attention import resolve_temperature
from dlexam.errors import UserError
from dlexam.transformer import DecoderTransformer, TransformerConfig

VOCAB = ("A", "B", "C", "D", "<START>", "<STOP>")
START, STOP = VOCAB.index("<START>"), VOCAB.index("<STOP>")
EXAM_EXAMPLE = "D A A <START> A D <STOP>"

# The exam's matrices, as printed in Problem 2.
E = ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0))
W_QKV = ((0, 3), (1, 2), (2, 1), (3, 0))  # W_Q = W_K = W_V
W_O = ((0, 1, 0, 1), (1, 0, 1, 0))
PARAMETERS = ("W_Q", "W_K", "W_V", "W_O")


def vocabulary_hint() -> str:
    return "the vocabulary is " + ", ".join(VOCAB)


def parse_sequence(text: str | list[str]) -> list[int]:
    """Token ids of a space-separated sequence such as "D A A <START> A D <STOP>"."""
    words = text.split() if isinstance(text, str) else list(text)
    if not words:
        raise UserError(f"empty sequence: give tokens separated by spaces; {vocabulary_hint()}")
    ids = []
    for i, w in enumerate(words, start=1):
        if w not in VOCAB:
            raise UserError(f"unknown token {w!r} at position {i}; {vocabulary_hint()}")
        ids.append(VOCAB.index(w))
    return ids


def exam_model(heads: int = 1, temperature: float | str = 0.0, dtype=torch.float64) -> DecoderTransformer:
    """The exam's model: one head (Problem 2.2-2.3) or two identical heads with W_O = I_4 (Problem 2.4)."""
    if heads not in (1, 2):
        raise UserError(f"--heads must be 1 (Problem 2.2) or 2 (Problem 2.4), got {heads}")
    cfg = TransformerConfig(vocab_size=len(VOCAB), d_model=4, n_heads=heads, d_head=2, n_layers=1,
                            temperature=resolve_temperature(temperature, 2))
    model = DecoderTransformer(cfg).to(dtype)
    layer = model.layers[0]
    w = torch.tensor(W_QKV, dtype=dtype)
    with torch.no_grad():
        model.E.copy_(torch.tensor(E, dtype=dtype))
        for p in (layer.W_Q, layer.W_K, layer.W_V):
            p.copy_(w.expand(heads, 4, 2))  # (H, d_model, d_head): identical heads
        layer.W_O.copy_(torch.tensor(W_O, dtype=dtype) if heads == 1 else torch.eye(4, dtype=dtype))
    return model


def loss_terms(logits: torch.Tensor, ids: list[int], convention: str) -> dict:
    """Cross-entropy (summed) of the output tokens, those after <START> ("A D <STOP>" in the exam).

    * ``"teacher_forcing"`` (standard): the logits at position t predict token t+1, so the rows
      of <START>, A and D score A, D and <STOP>. A decoder can only be trained this way: the
      row of a token must not be asked to predict that token, which it can see.
    * ``"exam"``: the exam's worked solution (Problem 2.3) scores each output token with the
      logit row at that token's own position (z_5, z_6, z_7 for A, D, <STOP>). This reproduces
      its 4.2114 but is not teacher forcing.
    """
    if START not in ids:
        raise UserError(f"a loss needs a <START> token: the loss scores the tokens after it; {vocabulary_hint()}")
    s = ids.index(START)
    targets = list(range(s + 1, len(ids)))
    if not targets:
        raise UserError("nothing after <START> to score: add the expected output, e.g. 'D A A <START> A D <STOP>'")
    rows = targets if convention == "exam" else [t - 1 for t in targets]
    log_p = torch.log_softmax(logits[rows], dim=-1)  # (n_targets, V)
    target_ids = torch.tensor([ids[t] for t in targets])
    picked = log_p[torch.arange(len(targets)), target_ids]
    return {
        "value": -picked.sum(),
        "rows": [r + 1 for r in rows],  # 1-indexed, as the exam counts positions
        "targets": [VOCAB[ids[t]] for t in targets],
        "probabilities": picked.detach().exp().tolist(),
    }


@dataclass
class GeoffResult:
    tokens: list[str]
    heads: int
    temperature: float
    X: torch.Tensor  # (T, 4) embeddings
    Q: torch.Tensor  # (T, 2), or (H, T, 2) with two heads; likewise K, V, scores, P, Z
    K: torch.Tensor
    V: torch.Tensor
    scores: torch.Tensor  # Q K^T
    P: torch.Tensor  # causal attention matrix
    Z: torch.Tensor  # P V
    R: torch.Tensor  # (T, 4) concatenated heads times W_O
    logits: torch.Tensor  # (T, 6) = R E^T
    loss: dict = field(default_factory=dict)  # convention -> {"value", "rows", "targets", "probabilities"}
    gradients: dict | None = None  # parameter -> gradient, under `gradient_convention`
    gradient_convention: str = "teacher_forcing"

    def to_json(self) -> dict:
        def m(t: torch.Tensor) -> list:
            return t.tolist()

        out = {
            "tokens": self.tokens, "heads": self.heads, "temperature": self.temperature,
            "X": m(self.X), "Q": m(self.Q), "K": m(self.K), "V": m(self.V), "scores": m(self.scores),
            "attention": m(self.P), "Z": m(self.Z), "R": m(self.R), "logits": m(self.logits),
        }
        if self.loss:
            out["loss"] = {name: {**term, "value": float(term["value"])} for name, term in self.loss.items()}
            out["loss"]["standard"] = "teacher_forcing"
        if self.gradients is not None:
            out["gradients"] = {k: m(v) for k, v in self.gradients.items()}
            out["gradient_convention"] = self.gradient_convention
        return out


def _squeeze_head(t: torch.Tensor, heads: int) -> torch.Tensor:
    return t[0, 0] if heads == 1 else t[0]  # (T, ...) for one head, (H, T, ...) for several


def run_geoff(
    sequence: str | list[str] = EXAM_EXAMPLE,
    *,
    temperature: float | str = 0.0,
    heads: int = 1,
    loss: bool | None = None,
    gradients: bool = False,
    gradient_convention: str = "teacher_forcing",
) -> GeoffResult:
    """Run the exam's model on `sequence` and return every intermediate matrix.

    The loss is computed when the sequence has a <START> (``loss=None``), or demanded with
    ``loss=True``. ``gradients=True`` returns d loss / d {W_Q, W_K, W_V, W_O}, the three
    projections treated as separate parameters (Problem 2.5), under `gradient_convention`.
    """
    ids = parse_sequence(sequence)
    if gradient_convention not in ("teacher_forcing", "exam"):
        raise UserError(f"unknown loss convention {gradient_convention!r}: use teacher_forcing or exam")
    want_loss = (START in ids) if loss is None else loss
    if gradients:
        want_loss = True
    model = exam_model(heads, temperature)
    trace: list[dict] = []
    tokens = torch.tensor([ids])
    logits = model(tokens, trace=trace)[0]  # (T, 6)
    tr = trace[0]
    result = GeoffResult(
        tokens=[VOCAB[i] for i in ids], heads=heads, temperature=model.temperature(),
        X=tr["X"][0].detach(), Q=_squeeze_head(tr["Q"], heads).detach(), K=_squeeze_head(tr["K"], heads).detach(),
        V=_squeeze_head(tr["V"], heads).detach(), scores=_squeeze_head(tr["scores"], heads).detach(),
        P=_squeeze_head(tr["P"], heads).detach(), Z=_squeeze_head(tr["Z"], heads).detach(),
        R=tr["R"][0].detach(), logits=logits.detach(), gradient_convention=gradient_convention,
    )
    if want_loss:
        result.loss = {c: loss_terms(logits, ids, c) for c in ("exam", "teacher_forcing")}
    if gradients:
        layer = model.layers[0]
        params = {"W_Q": layer.W_Q, "W_K": layer.W_K, "W_V": layer.W_V, "W_O": layer.W_O}
        # Under argmax attention W_Q and W_K do not reach the loss at all: their gradient is zero.
        grads = torch.autograd.grad(result.loss[gradient_convention]["value"], list(params.values()),
                                    allow_unused=True, materialize_grads=True)
        result.gradients = {name: (g[0] if name != "W_O" and heads == 1 else g)  # drop the head axis of one head
                            for name, g in zip(params, grads, strict=True)}
    for term in result.loss.values():
        term["value"] = term["value"].detach()
    return result


def vanishing_gradients(result: GeoffResult, atol: float = 0.0) -> dict[str, bool]:
    """Which of W_Q, W_K, W_V, W_O have an all-zero gradient (Problem 2.5)."""
    assert result.gradients is not None
    return {k: bool((g.abs() <= atol).all()) for k, g in result.gradients.items()}


GRADIENT_EXPLANATION = (
    "Under argmax attention (T = 0) the weights P are piecewise constant in the scores Q K^T: a small change of "
    "W_Q or W_K changes no comparison, so d loss/d W_Q = d loss/d W_K = 0 and they never move. But Z = P V = P X W_V "
    "is linear in W_V and R = Z W_O is linear in W_O, so W_V and W_O get non-zero gradients whenever the loss "
    "does not already sit at a stationary point: the exam's claim that W_V never changes is wrong, only W_Q and "
    "W_K are frozen. With softmax at T = sqrt(d_k) the weights depend smoothly on the scores and all four matrices "
    "get gradients (the exam's fix works)."
)


# ---- exact display ---------------------------------------------------------------------------

def exact(x: float, max_den: int = 10_000) -> str:
    """A number as an exact fraction when it is one (3, 1/3, 9/7), else as a decimal."""
    f = Fraction(x).limit_denominator(max_den)
    if abs(float(f) - x) <= 1e-12 * max(1.0, abs(x)):
        return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"
    return f"{x:.4f}"


def format_matrix(name: str, m: torch.Tensor, rows: list[str] | None = None, cols: list[str] | None = None) -> str:
    cells = [[exact(float(v)) for v in row] for row in m.tolist()]
    width = max([len(c) for row in cells for c in row] + [len(c) for c in cols or []] + [1])
    label_w = max([len(r) for r in rows] if rows else [0])
    lines = [f"{name} ({m.shape[0]}x{m.shape[1]}):"]
    if cols:
        lines.append(" " * (label_w + 4) + " ".join(c.rjust(width) for c in cols))
    for i, row in enumerate(cells):
        label = rows[i].ljust(label_w) if rows else ""
        lines.append(f"  {label}  [" + " ".join(c.rjust(width) for c in row) + "]")
    return "\n".join(lines)
