"""The project's one attention implementation (Problem 2.2).

Scaled dot-product attention with a temperature T:

    P = softmax(Q K^T / T)  (masked),   Z = P V.

``T = 0`` is the zero-temperature limit of Problem 2.2, lim_{T->0+} softmax(s/T): the weight goes
to the maximal scores of each row, shared equally among tied maxima, e.g.
[1, -2, 5, 0] -> [0, 0, 1, 0] and [5, -2, 5, 0] -> [1/2, 0, 1/2, 0]. Its weights are piecewise
constant in the scores, so no gradient reaches Q or K through them (Problem 2.5); V still
gets one. The usual transformer uses T = sqrt(d_k).

``straight_through=True`` (training only, T > 0) is argmax attention forward with the softmax's gradient
backward: P = hard + (soft - soft.detach()), where hard is the T = 0 weights and soft is softmax(S / T).
The forward pass is exactly T = 0's (the added term is 0), and Q and K get exactly the gradient the
softmax at T would give them, so a model can be trained on what argmax decoding computes.

The exam's fixed model (:mod:`dlexam.geoff`), the compiled sorter and the trained models all call
:func:`attention`. :func:`multiset_attention` is the same function for keys given as counts of
identical rows (a transformer without positions decoding: see :mod:`dlexam.transformer`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dlexam.bounds import QUERY_TEMPERATURES

# Scores within this many units in the last place of the row maximum count as tied under T = 0.
# Identical tokens give identical scores in exact arithmetic; a matmul kernel may differ by an ulp.
TIE_ULPS = 64


Temperature = float | str  # a number T >= 0, or "sqrt" for sqrt(d_k)


def parse_temperature(text: str | float) -> Temperature:
    """The one temperature parser: "0" -> 0.0 (argmax), "0.5" -> 0.5, "sqrt" -> "sqrt" (sqrt(d_k)).

    Its values are :data:`dlexam.bounds.QUERY_TEMPERATURES`, whose words its refusal (a BadValue naming
    "temperature") says: "temperature must be 0, a number in (0, inf), or 'sqrt', got -1", as the --help of every
    flag it reads states them. "sqrt" stays symbolic because d_k belongs to the model: :func:`resolve_temperature`
    turns it into a number for a given key width. Text float64 cannot hold ("1e-400", which float() reads as 0) is
    refused naming it as typed (:func:`dlexam.limits.float_text`); -0 is 0 (argmax), and is written so: never "T = -0".
    """
    if isinstance(text, str):
        return QUERY_TEMPERATURES.read("temperature", text)
    return QUERY_TEMPERATURES.check("temperature", text)


def resolve_temperature(temperature: Temperature | None, d_k: int) -> float:
    """The temperature as a number for keys of width `d_k`: "sqrt" or None -> sqrt(d_k); T must be >= 0."""
    if temperature is None or temperature == "sqrt":
        return math.sqrt(d_k)
    return float(parse_temperature(temperature))


def is_argmax(temperature: float, dtype: torch.dtype) -> bool:
    """Whether T acts as T = 0 for scores of `dtype`: T is 0, or so small (below the smallest normal
    number) that 1/T overflows; softmax(s/T) is then its T -> 0 limit, argmax with ties shared."""
    return temperature < torch.finfo(dtype).tiny


def tie_tolerance(row_max: torch.Tensor) -> torch.Tensor:
    """How far below a row's maximal score a score still ties with it under T = 0: TIE_ULPS units in
    the last place of the maximum (at least of 1)."""
    return TIE_ULPS * torch.finfo(row_max.dtype).eps * row_max.abs().clamp_min(1.0)


def tied_maxima(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean, along the last axis: where each row's maximal allowed scores are (within TIE_ULPS
    units in the last place of the maximum). `mask` is True where attending is allowed; a row with
    nothing allowed selects nothing. The keys that argmax attention shares its weight among."""
    s = scores.detach()
    if mask is not None:
        s = s.masked_fill(~mask, -math.inf)
    row_max = s.amax(dim=-1, keepdim=True)
    tied = s >= row_max - tie_tolerance(row_max)
    if mask is not None:
        tied &= mask
    return tied & torch.isfinite(row_max)  # fully masked rows select nothing


def argmax_weights(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """lim_{T->0+} softmax(scores / T) along the last axis: tied maxima (:func:`tied_maxima`) share
    the weight equally.

    `mask` is boolean, True where attending is allowed. A row with nothing allowed gets all zeros.
    The result carries no gradient to `scores`: it is piecewise constant in them.
    """
    w = tied_maxima(scores, mask).to(scores.dtype)
    return w / w.sum(dim=-1, keepdim=True).clamp_min(1.0)


def softmax_weights(
    scores: torch.Tensor, temperature: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(scores / T) along the last axis; masked entries get 0, fully masked rows all zeros.

    The row maximum is subtracted before dividing by T (softmax does not change), so a small T
    cannot overflow scores / T into inf - inf = NaN.
    """
    s = scores if mask is None else scores.masked_fill(~mask, -math.inf)
    s = s - s.amax(dim=-1, keepdim=True).detach()  # (..., Tq, Tk), every row's maximum at 0
    w = torch.softmax(s / temperature, dim=-1)
    if mask is not None:
        w = torch.nan_to_num(w, nan=0.0)  # fully masked rows: -inf - (-inf)
    return w


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    temperature: float,
    mask: torch.Tensor | None = None,
    need_weights: bool = True,
    straight_through: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Attention of queries `q` (..., Tq, d_k) over keys `k` (..., Tk, d_k) and values `v` (..., Tk, d_v).

    `mask` (broadcastable to (..., Tq, Tk), boolean, True = may attend) carries the causal and padding
    masks. Returns (Z, P, S): Z = P V (..., Tq, d_v), the attention matrix P and the raw scores
    S = Q K^T (..., Tq, Tk); P and S are None when `need_weights` is False and T > 0, where the
    fused kernel is used instead. `straight_through` (T > 0): P is T = 0's weights forward and has the
    softmax's (at T) gradient backward (see the module docstring); at T = 0 it changes nothing.
    """
    argmax = is_argmax(temperature, q.dtype)
    if straight_through and not argmax:
        scores = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
        soft = softmax_weights(scores, temperature, mask)
        p = argmax_weights(scores, mask) + (soft - soft.detach())  # forward: exactly the argmax weights
        return p @ v, p, scores
    if not argmax and not need_weights:
        # Same maths, fused kernel: softmax(Q K^T * scale) V with scale = 1 / T.
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / temperature)
        if mask is not None:  # rows with nothing to attend to give NaN in the fused kernel
            z = torch.nan_to_num(z, nan=0.0)
        return z, None, None
    scores = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
    if argmax:
        p = argmax_weights(scores, mask)
    else:
        p = softmax_weights(scores, temperature, mask)
    return p @ v, p, scores


def multiset_attention(
    scores: torch.Tensor, counts: torch.Tensor, values: torch.Tensor, *, temperature: float
) -> torch.Tensor:
    """:func:`attention` of one query per row over keys that come in groups of identical rows.

    scores (..., G): the query's score against each group's key; counts (..., G): how many keys of
    each group the query may attend to (0 = none); values (..., G, d_v): each group's value.
    Returns Z (..., d_v), what :func:`attention` gives over the keys listed one by one: a group of
    c keys gets c times one key's weight (softmax: c exp(s/T); argmax: c / the number of tied keys),
    the weights renormalised. Only the order of the additions differs.
    """
    present = counts > 0
    if is_argmax(temperature, scores.dtype):
        w = argmax_weights(scores, present) * counts
    else:
        w = softmax_weights(scores, temperature, present) * counts
    w = w / w.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)  # rows with nothing: zeros
    return (w.unsqueeze(-2) @ values).squeeze(-2)


def causal_mask(t: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(t, t) boolean lower-triangular mask: position i may attend to positions j <= i."""
    return torch.ones(t, t, dtype=torch.bool, device=device).tril()
