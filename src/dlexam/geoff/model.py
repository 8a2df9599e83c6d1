"""Geoff's transformer with the exam's exact weights (Problems 2.1-2.5).

One self-attention layer, one head, no positional encodings, no feed-forward, no residual,
causal mask, vocabulary {A, B, C, D, <START>, <STOP>} and

    W_Q = W_K = W_V = [[0, 3], [1, 2], [2, 1], [3, 0]]  (4x2),   W_O = [[0, 1, 0, 1], [1, 0, 1, 0]]  (2x4),
    E = [I_4; 0; 0]  (6x4: A-D one-hot, <START> and <STOP> zero),
    Z = P V,   R = Z W_O,   logits = R E^T.

The model is :class:`dlexam.transformer.DecoderTransformer`, the project's one transformer, with
these weights set (or a learner's edited copy, :class:`GeoffWeights`); :func:`run_geoff` runs it on
a sequence and returns every matrix of the exam's worked solution, the loss under two conventions
(see :func:`loss_terms`) and, on request, the autograd gradients of Problem 2.5.
Problem 2.4's and 2.5's comparisons live in :mod:`dlexam.geoff.compare`.

Problem 2.4 (``heads=2``): a second head identical to the first, and W_O = I_4. The heads'
outputs are concatenated, [Z Z] I_4 = Z [I_2 I_2], which is *not* Z W_O: the exam's claim that
"the result would be identical" does not hold for its W_O (the columns of R come out swapped,
A<->B and C<->D). Two identical heads with a 4x4 W_O' equal one head with W_O'[:2] + W_O'[2:].
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from dlexam.attention import Temperature, resolve_temperature
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
CONVENTIONS = ("teacher_forcing", "exam")
# T x T matrices are computed and shown: the sequence is capped (a learner's example is a handful of tokens).
MAX_TOKENS = 64
# An edited weight must be a finite number no larger than this in magnitude.
MAX_WEIGHT = 1e6


def vocabulary_hint() -> str:
    return "the vocabulary is " + ", ".join(VOCAB)


def parse_sequence(text: str | list[str]) -> list[int]:
    """Token ids of a space-separated sequence such as "D A A <START> A D <STOP>"."""
    words = text.split() if isinstance(text, str) else list(text)
    if not words:
        raise UserError(f"empty sequence: give tokens separated by spaces; {vocabulary_hint()}")
    if len(words) > MAX_TOKENS:
        raise UserError(f"sequence has {len(words)} tokens; at most {MAX_TOKENS} (its T x T matrices are shown)")
    ids = []
    for i, w in enumerate(words, start=1):
        if w not in VOCAB:
            raise UserError(f"unknown token {w!r} at position {i}; {vocabulary_hint()}")
        ids.append(VOCAB.index(w))
    return ids


@dataclass(frozen=True)
class GeoffWeights:
    """The model's matrices as nested lists: the exam's by default, or a learner's edits.

    With two heads (Problem 2.4) both heads use W_Q, W_K, W_V and the concatenation is multiplied
    by the 4x4 `W_O_two_heads` (the exam's I_4); with one head by the 2x4 `W_O`.
    """

    E: tuple = E  # (6, 4): one row per token A, B, C, D, <START>, <STOP>
    W_Q: tuple = W_QKV  # (4, 2)
    W_K: tuple = W_QKV  # (4, 2)
    W_V: tuple = W_QKV  # (4, 2)
    W_O: tuple = W_O  # (2, 4)
    W_O_two_heads: tuple = ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1))  # (4, 4) = I_4

    SHAPES = {"E": (6, 4), "W_Q": (4, 2), "W_K": (4, 2), "W_V": (4, 2), "W_O": (2, 4), "W_O_two_heads": (4, 4)}

    def __post_init__(self) -> None:
        for name, shape in self.SHAPES.items():
            rows = getattr(self, name)
            ok = (isinstance(rows, list | tuple) and len(rows) == shape[0]
                  and all(isinstance(r, list | tuple) and len(r) == shape[1] for r in rows))
            if not ok:
                raise UserError(f"{name} must be a {shape[0]}x{shape[1]} matrix of numbers")
            for r in rows:
                for v in r:
                    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) \
                            or abs(v) > MAX_WEIGHT:
                        raise UserError(f"{name} entries must be finite numbers within +-{MAX_WEIGHT:g}, got {v!r}")
            object.__setattr__(self, name, tuple(tuple(float(v) for v in r) for r in rows))

    def tensor(self, name: str, dtype=torch.float64) -> torch.Tensor:
        return torch.tensor(getattr(self, name), dtype=dtype)

    def to_json(self) -> dict:
        return {name: [list(r) for r in getattr(self, name)] for name in self.SHAPES}

    def __reduce__(self):
        """Pickled (for `dlexam serve`'s worker processes): the exam's own weights by name, so the receiver gets
        its EXAM_WEIGHTS object back and the model built for it (:func:`shared_model`), others by value."""
        if self is EXAM_WEIGHTS:
            return "EXAM_WEIGHTS"
        return (GeoffWeights, tuple(getattr(self, name) for name in self.SHAPES))


EXAM_WEIGHTS = GeoffWeights()


def exam_model(
    heads: int = 1, temperature: Temperature = 0.0, dtype=torch.float64, weights: GeoffWeights = EXAM_WEIGHTS
) -> DecoderTransformer:
    """The exam's model: one head (Problem 2.2-2.3) or two identical heads with W_O = I_4 (Problem 2.4)."""
    if heads not in (1, 2):
        raise UserError(f"heads must be 1 (Problem 2.2) or 2 (Problem 2.4), got {heads}")
    cfg = TransformerConfig(vocab_size=len(VOCAB), d_model=4, n_heads=heads, d_head=2, n_layers=1,
                            temperature=resolve_temperature(temperature, 2))
    model = DecoderTransformer(cfg).to(dtype)
    layer = model.layers[0]
    with torch.no_grad():
        model.E.copy_(weights.tensor("E", dtype))
        for name in ("W_Q", "W_K", "W_V"):
            getattr(layer, name).copy_(weights.tensor(name, dtype).expand(heads, 4, 2))  # (H, d_model, d_head)
        layer.W_O.copy_(weights.tensor("W_O" if heads == 1 else "W_O_two_heads", dtype))
    return model


@functools.lru_cache(maxsize=64)
def _built_model(heads: int, weights: GeoffWeights, signs: tuple) -> DecoderTransformer:
    """:func:`exam_model` (float64) built once per (heads, weights) and shared by :func:`run_geoff`, which only
    reads it and gives the temperature to its forward: building a module costs as much as running it.

    `signs` tells 0.0 from -0.0 (equal as floats, so one key, but a -0.0 weight can print as -0.0). The global
    random state is put back after the build, so run_geoff draws no random numbers, cached or not.
    """
    with torch.random.fork_rng(devices=[]):
        return exam_model(heads, 0.0, weights=weights)


def shared_model(heads: int, weights: GeoffWeights) -> DecoderTransformer:
    """The float64 exam model for `heads` and `weights`, built once (never modify it: use :func:`exam_model`)."""
    if weights is EXAM_WEIGHTS:  # the common case: no edited matrix
        return _built_model(heads, weights, ())
    signs = tuple(math.copysign(1.0, v) for name in GeoffWeights.SHAPES for r in getattr(weights, name) for v in r)
    return _built_model(heads, weights, signs)


def loss_terms(logits: torch.Tensor, ids: list[int], convention: str) -> dict:
    """Cross-entropy (summed) of the output tokens, those after <START> ("A D <STOP>" in the exam).

    * ``"teacher_forcing"`` (standard): the logits at position t predict token t+1, so the rows
      of <START>, A and D score A, D and <STOP>. A decoder can only be trained this way: the
      row of a token must not be asked to predict that token, which it can see.
    * ``"exam"``: the exam's worked solution (Problem 2.3) scores each output token with the
      logit row at that token's own position (z_5, z_6, z_7 for A, D, <STOP>). This reproduces
      its 4.2114 but is not teacher forcing.
    """
    return all_loss_terms(logits, ids, (convention,))[convention]


def all_loss_terms(logits: torch.Tensor, ids: list[int], conventions: tuple[str, ...] = ("exam", "teacher_forcing")
                   ) -> dict[str, dict]:
    """:func:`loss_terms` under each of `conventions`, from one log-softmax of the rows from <START> on (the
    log-softmax is row by row, so each convention's numbers are the same as computed alone)."""
    if START not in ids:
        raise UserError(f"a loss needs a <START> token: the loss scores the tokens after it; {vocabulary_hint()}")
    s = ids.index(START)
    if s == len(ids) - 1:
        raise UserError("nothing after <START> to score: add the expected output, e.g. 'D A A <START> A D <STOP>'")
    log_p = torch.log_softmax(logits[s:], dim=-1)  # (n_targets + 1, V): rows <START> .. the last token
    target_ids = torch.tensor(ids[s + 1 :])[:, None]  # (n_targets, 1)
    targets = [VOCAB[i] for i in ids[s + 1 :]]
    out = {}
    for convention in conventions:
        exam = convention == "exam"  # rows of the targets themselves, else of the tokens before them
        picked = (log_p[1:] if exam else log_p[:-1]).gather(1, target_ids)[:, 0]  # (n_targets,): log p of each
        first = s + 1 if exam else s
        out[convention] = {
            "value": -picked.sum(),
            "rows": list(range(first + 1, first + 1 + len(targets))),  # 1-indexed, as the exam counts positions
            "targets": targets,
            "probabilities": picked.detach().exp().tolist(),
        }
    return out


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
    temperature: Temperature = 0.0,
    heads: int = 1,
    loss: bool | None = None,
    gradients: bool = False,
    gradient_convention: str = "teacher_forcing",
    weights: GeoffWeights = EXAM_WEIGHTS,
    gradient_of: tuple[str, ...] = PARAMETERS,
) -> GeoffResult:
    """Run the model (the exam's weights unless `weights` says otherwise) on `sequence` and return
    every intermediate matrix.

    The loss is computed when the sequence has a <START> (``loss=None``), or demanded with
    ``loss=True``. ``gradients=True`` returns d loss / d each matrix named in `gradient_of` (W_Q,
    W_K, W_V, W_O, and E if asked), the three projections treated as separate parameters
    (Problem 2.5), under `gradient_convention`.
    """
    ids = parse_sequence(sequence)
    if gradient_convention not in CONVENTIONS:
        raise UserError(f"unknown loss convention {gradient_convention!r}: use teacher_forcing or exam")
    unknown = set(gradient_of) - {*PARAMETERS, "E"}
    if unknown:
        raise UserError(f"no gradient of {sorted(unknown)}: choose from E, {', '.join(PARAMETERS)}")
    want_loss = (START in ids) if loss is None else loss
    if gradients:
        want_loss = True
    model = shared_model(heads, weights)  # exam_model refuses heads other than 1 and 2
    trace: list[dict] = []
    tokens = torch.tensor([ids])
    with torch.set_grad_enabled(gradients):  # a graph only when the gradients are asked for
        logits = model(tokens, temperature=temperature, trace=trace)[0]  # (T, 6)
        if want_loss:
            loss_by_convention = all_loss_terms(logits, ids)
    tr = trace[0]
    result = GeoffResult(
        tokens=[VOCAB[i] for i in ids], heads=heads, temperature=model.temperature(temperature),
        X=tr["X"][0].detach(), Q=_squeeze_head(tr["Q"], heads).detach(), K=_squeeze_head(tr["K"], heads).detach(),
        V=_squeeze_head(tr["V"], heads).detach(), scores=_squeeze_head(tr["scores"], heads).detach(),
        P=_squeeze_head(tr["P"], heads).detach(), Z=_squeeze_head(tr["Z"], heads).detach(),
        R=tr["R"][0].detach(), logits=logits.detach(), gradient_convention=gradient_convention,
    )
    if want_loss:
        result.loss = loss_by_convention
    if gradients:
        layer = model.layers[0]
        every = {"E": model.E, "W_Q": layer.W_Q, "W_K": layer.W_K, "W_V": layer.W_V, "W_O": layer.W_O}
        params = {name: every[name] for name in gradient_of}
        # Under argmax attention W_Q and W_K do not reach the loss at all: their gradient is zero.
        grads = torch.autograd.grad(result.loss[gradient_convention]["value"], list(params.values()),
                                    allow_unused=True, materialize_grads=True)
        result.gradients = {name: (g[0] if name in ("W_Q", "W_K", "W_V") and heads == 1 else g)  # drop one head's axis
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


def sgd_step(weights: GeoffWeights, gradients: dict[str, torch.Tensor], lr: float, heads: int = 1) -> GeoffWeights:
    """One step of gradient descent on the matrices in `gradients` (both heads share W_Q, W_K, W_V,
    so their gradient is the sum over the heads)."""
    if not (math.isfinite(lr) and 0 < lr <= 100):
        raise UserError(f"lr must be a number in (0, 100], got {lr!r}")
    new = {}
    for name, g in gradients.items():
        if name in ("W_Q", "W_K", "W_V") and g.dim() == 3:
            g = g.sum(0)  # (H, 4, 2) -> (4, 2)
        key = "W_O_two_heads" if name == "W_O" and heads == 2 else name
        new[key] = (weights.tensor(key) - lr * g).tolist()
    return GeoffWeights(**{**{n: getattr(weights, n) for n in GeoffWeights.SHAPES}, **new})
