"""Geoff's transformer (Problem 2): Version A's exact weights, or a variant's.

One self-attention layer, one head, no positional encodings, no feed-forward, no residual,
causal mask; in Version A the vocabulary is {A, B, C, D, <START>, <STOP>} and

    W_Q = W_K = W_V = [[0, 3], [1, 2], [2, 1], [3, 0]]  (4x2),   W_O = [[0, 1, 0, 1], [1, 0, 1, 0]]  (2x4),
    E = [I_4; 0; 0]  (6x4: A-D one-hot, <START> and <STOP> zero),
    Z = P V,   R = Z W_O,   logits = R E^T.

The numbers are those of a :class:`dlexam.spec.TransformerSpec` (Version A's by default,
:meth:`GeoffWeights.from_spec` for a variant's), typed once in :mod:`dlexam.spec`. The model is
:class:`dlexam.transformer.DecoderTransformer`, the project's one transformer, with these weights set (or a
learner's edited copy, :class:`GeoffWeights`); :func:`run_geoff` runs it on a sequence and returns every
matrix of the exam's worked solution, the loss under two conventions (see :func:`loss_terms`) and, on
request, the autograd gradients of Problem 2.5. Problem 2.4's and 2.5's comparisons live in
:mod:`dlexam.geoff.compare`; the same steps in exact fractions in :mod:`dlexam.geoff.exact`.

Problem 2.4 (``heads=k``): k heads whose outputs are concatenated and multiplied by the
(k d_head, d_model) `multi_W_O`; Version A has k = 2 identical heads and multi_W_O = I_4. Then
[Z Z] I_4 = Z [I_2 I_2], which is *not* Z W_O: the exam's claim that "the result would be identical" does
not hold for its W_O (the columns of R come out swapped, A<->B and C<->D). k identical heads with a
(k d_head, d_model) multi_W_O equal one head with the sum of multi_W_O's k blocks of d_head rows.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import torch

from dlexam.attention import Temperature, resolve_temperature
from dlexam.bounds import GEOFF_LR
from dlexam.errors import InputsTogether, UserError
from dlexam.geoff.weights import (
    EXAM_EXAMPLE,
    EXAM_WEIGHTS,
    MAX_WEIGHT,
    VOCAB,
    GeoffWeights,
    cell_words,
    parse_sequence,
    vocabulary_hint,
)
from dlexam.transformer import DecoderTransformer, TransformerConfig

PARAMETERS = ("W_Q", "W_K", "W_V", "W_O")
CONVENTIONS = ("teacher_forcing", "exam")
# The one place a loss convention is named in words: CONVENTION_SHORT in running text (--gradients, --explain,
# the answers), CONVENTION_NAMES with its rule where a table lists both (dlexam geoff, the report's Loss table).
CONVENTION_SHORT = {"teacher_forcing": "standard teacher forcing", "exam": "the exam's convention"}
CONVENTION_RULES = {"teacher_forcing": "logit row t predicts token t+1",
                    "exam": "each output token scored by its own row"}
CONVENTION_NAMES = {c: f"{CONVENTION_SHORT[c]} ({CONVENTION_RULES[c]})" for c in CONVENTIONS}

def exam_model(
    heads: int = 1, temperature: Temperature = 0.0, dtype=torch.float64, weights: GeoffWeights = EXAM_WEIGHTS
) -> DecoderTransformer:
    """The exam's model: one head (Problem 2.2-2.3) or the k heads of Problem 2.4 (Version A: two identical
    heads and W_O = I_4), with `weights` (Version A's unless given)."""
    k = weights.heads
    if heads not in (1, k):
        raise UserError(f"heads must be 1 (Problem 2.2) or {k} (Problem 2.4), got {heads}")
    cfg = TransformerConfig(vocab_size=len(weights.vocab), d_model=weights.d_model, n_heads=heads,
                            d_head=weights.d_head, n_layers=1, temperature=resolve_temperature(temperature,
                                                                                             weights.d_head))
    model = DecoderTransformer(cfg).to(dtype)
    layer = model.layers[0]
    heads_qkv = weights.projections(heads)
    with torch.no_grad():
        model.E.copy_(weights.tensor("E", dtype))
        for i, name in enumerate(("W_Q", "W_K", "W_V")):
            stacked = torch.tensor([h[i] for h in heads_qkv], dtype=dtype)  # (H, d_model, d_head)
            getattr(layer, name).copy_(stacked)
        layer.W_O.copy_(weights.tensor(weights.output_matrix(heads), dtype))
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


def _entries(weights: GeoffWeights):
    for name in GeoffWeights.MATRICES:
        yield from (v for r in getattr(weights, name) for v in r)
    for h in weights.multi_heads or ():
        yield from (v for m in h for r in m for v in r)


def shared_model(heads: int, weights: GeoffWeights) -> DecoderTransformer:
    """The float64 exam model for `heads` and `weights`, built once (never modify it: use :func:`exam_model`)."""
    if weights is EXAM_WEIGHTS:  # the common case: no edited matrix
        return _built_model(heads, weights, ())
    signs = tuple(math.copysign(1.0, v) for v in _entries(weights))
    return _built_model(heads, weights, signs)


def loss_terms(logits: torch.Tensor, ids: list[int], convention: str, vocab: tuple[str, ...] = VOCAB) -> dict:
    """Cross-entropy (summed) of the output tokens, those after <START> ("A D <STOP>" in the exam).

    * ``"teacher_forcing"`` (standard): the logits at position t predict token t+1, so the rows
      of <START>, A and D score A, D and <STOP>. A decoder can only be trained this way: the
      row of a token must not be asked to predict that token, which it can see.
    * ``"exam"``: the exam's worked solution (Problem 2.3) scores each output token with the
      logit row at that token's own position (z_5, z_6, z_7 for A, D, <STOP>). This reproduces
      its 4.2114 but is not teacher forcing.
    """
    return all_loss_terms(logits, ids, (convention,), vocab)[convention]


def all_loss_terms(logits: torch.Tensor, ids: list[int], conventions: tuple[str, ...] = ("exam", "teacher_forcing"),
                   vocab: tuple[str, ...] = VOCAB) -> dict[str, dict]:
    """:func:`loss_terms` under each of `conventions`, from one log-softmax of the rows from <START> on (the
    log-softmax is row by row, so each convention's numbers are the same as computed alone). <START> is the
    second-last token of `vocab`."""
    start = len(vocab) - 2
    if start not in ids:
        raise UserError(f"a loss needs a {vocab[start]} token: the loss scores the tokens after it; "
                        f"{vocabulary_hint(vocab)}")
    s = ids.index(start)
    if s == len(ids) - 1:
        raise UserError(f"nothing after {vocab[start]} to score: add the expected output, e.g. '{EXAM_EXAMPLE}'")
    log_p = torch.log_softmax(logits[s:], dim=-1)  # (n_targets + 1, V): rows <START> .. the last token
    target_ids = torch.tensor(ids[s + 1 :])[:, None]  # (n_targets, 1)
    targets = [vocab[i] for i in ids[s + 1 :]]
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

    `heads` is 1 (Problems 2.2-2.3) or the weights' k (Problem 2.4). The loss is computed when the
    sequence has a <START> (``loss=None``), or demanded with ``loss=True``. ``gradients=True`` returns
    d loss / d each matrix named in `gradient_of` (W_Q, W_K, W_V, W_O, and E if asked), the three
    projections treated as separate parameters (Problem 2.5), under `gradient_convention`. The output
    matrix's gradient is keyed by the matrix the model uses: W_O with one head, multi_W_O with k (asking
    for either name gives it).
    """
    ids = parse_sequence(sequence, weights.vocab)
    if gradient_convention not in CONVENTIONS:
        raise UserError(f"unknown loss convention {gradient_convention!r}: use teacher_forcing or exam")
    unknown = set(gradient_of) - {*PARAMETERS, "multi_W_O", "E"}
    if unknown:
        raise UserError(f"no gradient of {sorted(unknown)}: choose from E, {', '.join(PARAMETERS)}")
    want_loss = (weights.start in ids) if loss is None else loss
    if gradients:
        want_loss = True
    model = shared_model(heads, weights)  # exam_model refuses heads other than 1 and k
    trace: list[dict] = []
    tokens = torch.tensor([ids])
    with torch.set_grad_enabled(gradients):  # a graph only when the gradients are asked for
        logits = model(tokens, temperature=temperature, trace=trace)[0]  # (T, V)
        if want_loss:
            loss_by_convention = all_loss_terms(logits, ids, vocab=weights.vocab)
    tr = trace[0]
    result = GeoffResult(
        tokens=[weights.vocab[i] for i in ids], heads=heads, temperature=model.temperature(temperature),
        X=tr["X"][0].detach(), Q=_squeeze_head(tr["Q"], heads).detach(), K=_squeeze_head(tr["K"], heads).detach(),
        V=_squeeze_head(tr["V"], heads).detach(), scores=_squeeze_head(tr["scores"], heads).detach(),
        P=_squeeze_head(tr["P"], heads).detach(), Z=_squeeze_head(tr["Z"], heads).detach(),
        R=tr["R"][0].detach(), logits=logits.detach(), gradient_convention=gradient_convention,
    )
    if want_loss:
        result.loss = loss_by_convention
    if gradients:
        layer = model.layers[0]
        output = weights.output_matrix(heads)
        every = {"E": model.E, "W_Q": layer.W_Q, "W_K": layer.W_K, "W_V": layer.W_V, output: layer.W_O}
        names = list(dict.fromkeys(output if n in ("W_O", "multi_W_O") else n for n in gradient_of))
        params = {name: every[name] for name in names}
        # Under argmax attention W_Q and W_K do not reach the loss at all: their gradient is zero.
        grads = torch.autograd.grad(result.loss[gradient_convention]["value"], list(params.values()),
                                    allow_unused=True, materialize_grads=True)
        result.gradients = {name: (g[0] if name in ("W_Q", "W_K", "W_V") and heads == 1 else g)  # drop one head's axis
                            for name, g in zip(params, grads, strict=True)}
        overflowed = [name for name, g in result.gradients.items() if not bool(torch.isfinite(g).all())]
        if overflowed:  # 1/T times scores of 1e12 is inf in float64, and inf * 0 is NaN: no gradient to show
            raise InputsTogether(f"the gradient of {overflowed[0]} overflows float64 at T = {result.temperature:g} "
                                 "with these weights (1/T times their scores' gradient): use T = 0 (argmax) or a "
                                 "larger T")
    for term in result.loss.values():
        term["value"] = term["value"].detach()
    return result


def vanishing_gradients(result: GeoffResult, atol: float = 0.0) -> dict[str, bool]:
    """Which of W_Q, W_K, W_V, W_O have an all-zero gradient (Problem 2.5)."""
    assert result.gradients is not None
    return {k: bool((g.abs() <= atol).all()) for k, g in result.gradients.items()}


GRADIENT_EXPLANATION = (
    "Under argmax attention (T = 0) the weights P are piecewise constant in the scores Q K^T: a small change of "
    "W_Q or W_K changes no comparison (unless it breaks a row's tie between different tokens, where P jumps and the 0 "
    "is backpropagation's, taken on argmax's constant pieces), so d loss/d W_Q = d loss/d W_K = 0 and they never move. "
    "But Z = P V = P X W_V "
    "is linear in W_V and R = Z W_O is linear in W_O, so W_V and W_O get non-zero gradients whenever the loss "
    "does not already sit at a stationary point: the exam's claim that W_V never changes is wrong, only W_Q and "
    "W_K are frozen. With softmax at T = sqrt(d_k) the weights depend smoothly on the scores and all four matrices "
    "get gradients (the exam's fix works)."
)


def sgd_step(weights: GeoffWeights, gradients: dict[str, torch.Tensor], lr: float, heads: int = 1) -> GeoffWeights:
    """One step of gradient descent on the matrices in `gradients` (keyed as :func:`run_geoff` keys them).

    With k identical heads (``weights.multi_heads`` None) the heads share W_Q, W_K, W_V, so their gradient is
    the sum over the heads; heads with their own projections each take their own step."""
    GEOFF_LR.check("lr", lr)
    new: dict = {}
    for name, g in gradients.items():
        if name in ("W_Q", "W_K", "W_V") and g.dim() == 3 and weights.multi_heads is not None:
            i = ("W_Q", "W_K", "W_V").index(name)
            heads_now = [list(h) for h in new.get("multi_heads", weights.multi_heads)]
            for h, gh in zip(heads_now, g, strict=True):
                h[i] = (torch.tensor(h[i], dtype=torch.float64) - lr * gh).tolist()
            new["multi_heads"] = tuple(tuple(h) for h in heads_now)
            continue
        new[name] = (weights.tensor(name) - lr * applied_gradient(weights, name, g)).tolist()
    _within_cap(weights, new, lr)
    return weights.replace(**new)


def _within_cap(weights: GeoffWeights, new: dict, lr: float) -> None:
    """Refuse a step that takes a weight past MAX_WEIGHT (or to inf), naming the entry and its values before and after.

    The stepped weights are the next query's: past the cap the model would refuse them as it refuses typed ones,
    in words about an input the learner never typed ("W_V entries must be ..., got -99000000.0"), so the step is
    refused instead, saying that the learning rate with these weights took it there."""
    g = lambda x: f"{x:g}".replace("e+0", "e").replace("e+", "e")  # noqa: E731 - 1e6, as the page writes the cap
    for name, m in new.items():
        named = ([(cell_words(weights, name, i, j), getattr(weights, name)[i][j], v)
                  for i, r in enumerate(m) for j, v in enumerate(r)] if name != "multi_heads" else
                 [(cell_words(weights, p, i, j, h), weights.multi_heads[h][k][i][j], v)
                  for h, head in enumerate(m) for k, (p, w) in enumerate(zip(("W_Q", "W_K", "W_V"), head, strict=True))
                  for i, r in enumerate(w) for j, v in enumerate(r)])
        for where, old, v in named:
            if not (math.isfinite(v) and abs(v) <= MAX_WEIGHT):
                raise InputsTogether(f"the gradient step (lr {g(lr)}) would take {where} from {g(old)} to {g(v)}, "
                                     f"past the largest weight the model takes (between -{g(MAX_WEIGHT)} and "
                                     f"{g(MAX_WEIGHT)}): take a smaller lr, or smaller weights")


def frobenius_norm(g: torch.Tensor) -> float:
    """sqrt(sum of the squared entries) of `g`, without underflow or overflow: math.hypot scales by the largest entry,
    where torch's norm squares each entry first, and the square of 3e-200 is 0 in float64 (the gradient of W_Q at
    T = 1e200 had norm 0 though its entries are about 3e-200; every norm of Problem 2.5 on /geoff is this one)."""
    return math.hypot(*g.detach().to(torch.float64).flatten().tolist())


def applied_gradient(weights: GeoffWeights, name: str, g: torch.Tensor) -> torch.Tensor:
    """The gradient of the matrix `name` itself, as :func:`sgd_step` applies it, from `g` as :func:`run_geoff` gives
    it: k identical heads (``weights.multi_heads`` None) share W_Q, W_K, W_V, so its gradient is the sum of the
    heads' ((H, d_model, d_head) -> (d_model, d_head)); heads with projections of their own keep one each."""
    if name in ("W_Q", "W_K", "W_V") and g.dim() == 3 and weights.multi_heads is None:
        return g.sum(0)
    return g
