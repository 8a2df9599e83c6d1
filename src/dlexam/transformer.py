"""One general decoder-only transformer (Problem 2, and the sorting models beyond it).

Problem 2's model is the smallest instance: one layer, one head, no positional encodings, no
feed-forward, no residual, logits = (Z W_O) E^T with the embedding matrix E tied. Everything
else is a switch in :class:`TransformerConfig`, so `dlexam geoff`, the compiled sorter and the
trained sorters are all this module, and all of them call :func:`dlexam.attention.attention`.

Per layer, with X the layer input (T, d_model), for each head h:

    Q_h = X W_Q[h],  K_h = X W_K[h],  V_h = X W_V[h],  Z_h = P_h V_h,
    P_h = softmax(Q_h K_h^T / T)  under the causal (and padding) mask, T = 0 meaning argmax,
    R   = [Z_1 ... Z_H] W_O,
    out = X + R (with residual) or R (without); then X + FF(X) or FF(X) if there is a feed-forward.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from dlexam import limits
from dlexam.attention import attention, causal_mask, multiset_attention, resolve_temperature
from dlexam.bounds import MAX_FF, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH
from dlexam.errors import UserError

# Bounds of a config (dlexam.bounds): far beyond the project's models, far below what would exhaust memory.
MAX_PARAMETERS = 50_000_000


@dataclass
class TransformerConfig:
    vocab_size: int  # number of tokens, specials included
    d_model: int  # embedding width
    n_heads: int = 1
    n_layers: int = 1
    d_head: int | None = None  # width of each head's Q, K, V; default d_model // n_heads
    d_ff: int = 0  # hidden width of the feed-forward block; 0 = no feed-forward
    residual: bool = False  # residual connections around attention (and feed-forward)
    layernorm: bool = False  # pre-LayerNorm before attention, feed-forward and the unembedding
    positional: str = "none"  # "none" | "sinusoidal" | "learned"
    max_len: int = 0  # table size for learned positional encodings
    temperature: float | None = None  # attention temperature; None = sqrt(d_head); 0 = argmax
    tie_embeddings: bool = True  # logits = h E^T (the exam's choice) instead of a separate unembedding
    extra: dict = field(default_factory=dict)  # free-form metadata (e.g. the vocabulary), kept in checkpoints

    def __post_init__(self) -> None:
        """Check every field (a config may come from an untrusted checkpoint) before anything is allocated."""
        limits.whole("vocab_size", self.vocab_size, 1, MAX_VOCAB)
        limits.whole("d_model", self.d_model, 1, MAX_WIDTH)
        limits.whole("n_heads", self.n_heads, 1, MAX_HEADS)
        limits.whole("n_layers", self.n_layers, 1, MAX_LAYERS)
        if self.d_head is None:
            self.d_head = max(1, self.d_model // self.n_heads)
        limits.whole("d_head", self.d_head, 1, MAX_WIDTH)
        limits.whole("d_ff", self.d_ff, 0, MAX_FF)
        limits.whole("max_len", self.max_len, 0, MAX_POSITIONS)
        for name in ("residual", "layernorm", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise UserError(f"{name} must be true or false, got {getattr(self, name)!r}")
        limits.choice("positional", self.positional, ("none", "sinusoidal", "learned"))
        if self.positional == "learned" and self.max_len <= 0:
            raise UserError("learned positional encodings need max_len > 0")
        if self.temperature is not None:
            limits.number("temperature", self.temperature, 0, math.inf, hi_open=True)
        if not isinstance(self.extra, dict):
            raise UserError(f"extra must be a mapping, got {type(self.extra).__name__}")
        layers = self.n_layers * (4 * self.n_heads * self.d_head * self.d_model + 2 * self.d_model * self.d_ff)
        embeddings = self.vocab_size * self.d_model * (1 if self.tie_embeddings else 2) + self.max_len * self.d_model
        if layers + embeddings > MAX_PARAMETERS:
            raise UserError(f"the model would hold {layers + embeddings:,} weights ({layers:,} in its layers, "
                            f"{embeddings:,} in its embeddings); dlexam builds at most {MAX_PARAMETERS:,}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TransformerConfig:
        """The config :meth:`to_dict` wrote (a checkpoint's), checked; a key it does not have is refused
        (:func:`dlexam.limits.known_keys`), never a TypeError's words."""
        if not isinstance(d, dict):
            raise UserError(f"a model config must be a mapping, got {type(d).__name__}")
        limits.known_keys(d, cls.__dataclass_fields__)
        return cls(**d)


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


class Layer(nn.Module):
    """Multi-head causal self-attention, then an optional feed-forward block."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        h, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        scale = 1.0 / math.sqrt(d)
        self.W_Q = nn.Parameter(torch.randn(h, d, dh) * scale)  # (H, d_model, d_head)
        self.W_K = nn.Parameter(torch.randn(h, d, dh) * scale)
        self.W_V = nn.Parameter(torch.randn(h, d, dh) * scale)
        self.W_O = nn.Parameter(torch.randn(h * dh, d) * (1.0 / math.sqrt(h * dh)))  # (H*d_head, d_model)
        self.ln_attn = nn.LayerNorm(d) if cfg.layernorm else nn.Identity()
        self.ff = FeedForward(d, cfg.d_ff) if cfg.d_ff > 0 else None
        self.ln_ff = nn.LayerNorm(d) if (cfg.layernorm and self.ff is not None) else nn.Identity()

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.unsqueeze(1)  # (B, 1, T, d_model), broadcast over heads
        return x @ self.W_Q, x @ self.W_K, x @ self.W_V  # each (B, H, T, d_head)

    def mix(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Concatenate heads, apply W_O, the residual and the feed-forward. Returns (out, R)."""
        b, h, t, dh = z.shape
        r = z.transpose(1, 2).reshape(b, t, h * dh) @ self.W_O  # (B, T, d_model)
        out = x + r if self.cfg.residual else r
        if self.ff is not None:
            f = self.ff(self.ln_ff(out))
            out = out + f if self.cfg.residual else f
        return out, r

    def forward(self, x, mask, temperature, trace=None, cache=None, straight_through=False):
        q, k, v = self.project(self.ln_attn(x))
        if cache is not None:  # incremental decoding: append this step's keys and values
            k = torch.cat([cache[0], k], dim=2) if cache[0] is not None else k
            v = torch.cat([cache[1], v], dim=2) if cache[1] is not None else v
        z, p, s = attention(q, k, v, temperature=temperature, mask=mask, need_weights=trace is not None,
                            straight_through=straight_through)
        out, r = self.mix(x, z)
        if trace is not None:
            trace.append({"X": x, "Q": q, "K": k, "V": v, "scores": s, "P": p, "Z": z, "R": r, "out": out})
        return out, (k, v)

    def step(self, x, mask, temperature, k_buf, v_buf, n: int) -> torch.Tensor:
        """One decoding step: write this token's key and value at slot n of the buffers, attend to 0..n."""
        q, k, v = self.project(self.ln_attn(x))  # each (B, H, 1, d_head)
        k_buf[:, :, n : n + 1] = k
        v_buf[:, :, n : n + 1] = v
        z, _, _ = attention(q, k_buf[:, :, : n + 1], v_buf[:, :, : n + 1], temperature=temperature, mask=mask,
                            need_weights=False)
        return self.mix(x, z)[0]


def sinusoidal_table(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float32)
    angle = pos / (10000.0 ** (i / d))  # (n, ceil(d/2))
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d // 2])
    return table


# Queries per block times keys: the most attention scores held at once when a prompt is prefilled.
SCORE_BUDGET = 1 << 22


def blocked_attention(q, k, v, pad_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Causal attention of every position over a left-padded prompt, one block of queries at a time.

    q, k, v (B, H, T, d_head), pad_mask (B, T) True at real tokens. Each block of queries sees the keys
    up to its last position; blocks are sized so that B * H * block * T stays within SCORE_BUDGET.
    Returns Z (B, H, T, d_head), the same as one call of :func:`attention` with the full causal mask.
    """
    b, h, t, _ = q.shape
    block = max(1, min(t, SCORE_BUDGET // max(1, b * h * t)))
    out = []
    for start in range(0, t, block):
        end = min(t, start + block)
        rows = torch.arange(start, end, device=q.device)[:, None]  # (block, 1) query positions
        cols = torch.arange(end, device=q.device)[None, :]  # (1, end) key positions
        mask = (cols <= rows) & pad_mask[:, None, None, :end]  # (B, 1, block, end)
        z, _, _ = attention(q[:, :, start:end], k[:, :, :end], v[:, :, :end], temperature=temperature, mask=mask,
                            need_weights=False)
        out.append(z)
    return torch.cat(out, dim=2)  # (B, H, T, d_head)


class DecoderTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.E = nn.Parameter(torch.randn(cfg.vocab_size, cfg.d_model) * 0.5)  # (V, d_model)
        learned = cfg.positional == "learned"
        self.pos = nn.Parameter(torch.zeros(cfg.max_len, cfg.d_model)) if learned else None
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(cfg.d_model) if cfg.layernorm else nn.Identity()
        self.U = None if cfg.tie_embeddings else nn.Parameter(torch.randn(cfg.d_model, cfg.vocab_size) * 0.1)

    def temperature(self, override: float | str | None = None) -> float:
        t = self.cfg.temperature if override is None else override
        return resolve_temperature(t, self.cfg.d_head)

    def embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        x = self.E[tokens]  # (B, T, d_model)
        if self.cfg.positional == "learned":
            x = x + self.pos[positions.clamp_max(self.cfg.max_len - 1)]
        elif self.cfg.positional == "sinusoidal":
            x = x + sinusoidal_table(int(positions.max()) + 1, self.cfg.d_model).to(x)[positions]
        return x

    def unembed(self, h: torch.Tensor) -> torch.Tensor:
        h = self.ln_out(h)
        return h @ (self.E.T if self.U is None else self.U)  # (B, T, V)

    def forward(
        self,
        tokens: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
        *,
        temperature: float | str | None = None,
        trace: list | None = None,
        straight_through: bool = False,
    ) -> torch.Tensor:
        """Logits (B, T, V) for tokens (B, T). `pad_mask` (B, T) is True at real tokens.

        `straight_through` (training): argmax attention forward, the softmax's gradient at the temperature
        backward (:func:`dlexam.attention.attention`).

        Pass a list as `trace` to receive each layer's intermediate matrices (X, Q, K, V, scores,
        P, Z, R, out), for display and teaching.
        """
        b, t = tokens.shape
        mask = causal_mask(t, tokens.device)  # (T, T)
        if pad_mask is not None:
            mask = mask & pad_mask[:, None, None, :]  # (B, 1, T, T)
            positions = (pad_mask.long().cumsum(-1) - 1).clamp_min(0)
        else:
            positions = torch.arange(t, device=tokens.device).expand(b, t)
        temp = self.temperature(temperature)
        x = self.embed(tokens, positions)
        for layer in self.layers:
            x, _ = layer(x, mask, temp, trace=trace, straight_through=straight_through)
        return self.unembed(x)

    # ---- incremental decoding with a KV cache ------------------------------------------------
    # The cache holds, per layer, key and value buffers (B, H, capacity, d_head) filled up to
    # `length`, and the key mask (B, capacity). A step writes its new key and value in place (the
    # buffers double when full) instead of concatenating, which would copy the whole cache at every
    # step. A model that attends to a multiset keeps counts per token instead, also updated in
    # place. Use the cache a call returns; an older one shares its buffers.
    def attends_to_a_multiset(self) -> bool:
        """One layer and no positional encodings: a token's query, key and value depend on the token
        alone, so what a position attends to is the multiset of the tokens up to it, whatever their
        order. Decoding then keeps counts per token (B, V) instead of keys and values (B, T, d)."""
        return len(self.layers) == 1 and self.cfg.positional == "none"

    def _token_tables(self, layer: Layer) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first layer's query, key and value of every vocabulary entry, each (H, V, d_head): without
        positional encodings a position's projections are those of its token."""
        return tuple(m[0] for m in layer.project(layer.ln_attn(self.E[None])))

    @torch.no_grad()
    def prefill(self, tokens: torch.Tensor, pad_mask: torch.Tensor, *, temperature=None, capacity: int = 0,
                multiset: bool | None = None):
        """Run a left-padded prompt batch once. Returns (logits at the last position (B, V), cache).

        `capacity` reserves room for that many cached positions in total (prompt + new tokens).
        Memory stays linear in the prompt length: the last layer attends from the last position only
        (the only one whose output is used), and earlier layers attend in blocks of queries
        (:func:`blocked_attention`), so no (T, T) score matrix is ever built.
        Time is still quadratic in T in those earlier layers (exact attention of every position over its
        prefix; docs/sorting.md says why it stays so).

        Where :meth:`attends_to_a_multiset` (and `multiset` is not False), the cache is the count of
        each token instead (:func:`dlexam.attention.multiset_attention`): a step then costs O(V)
        per sequence however long the prompt, the same numbers up to the order of additions.
        """
        b, t = tokens.shape
        if multiset is not False and self.attends_to_a_multiset():
            counts = torch.zeros(b, self.cfg.vocab_size, dtype=torch.long, device=tokens.device)
            counts.scatter_add_(1, tokens, pad_mask.long())
            return self.prefill_counts(counts, tokens[:, -1], temperature=temperature)
        temp = self.temperature(temperature)
        positions = (pad_mask.long().cumsum(-1) - 1).clamp_min(0)
        cap = max(capacity, t + 16)
        kv = []
        x = None  # the layer's input, (B, T, d_model); built only where it is needed
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            if i == 0 and self.cfg.positional == "none":
                # Without positional encodings a token's projections depend on the token alone: project
                # each vocabulary entry once and look them up (the same numbers, O(V) instead of O(T) work).
                q, k, v = (m[:, tokens].transpose(0, 1) for m in self._token_tables(layer))
                if not last:
                    x = self.embed(tokens, positions)
            else:
                x = self.embed(tokens, positions) if x is None else x
                q, k, v = layer.project(layer.ln_attn(x))  # each (B, H, T, d_head)
            if last:  # only the last position's output is used
                z, _, _ = attention(q[:, :, -1:], k, v, temperature=temp, mask=pad_mask[:, None, None, :],
                                    need_weights=False)  # (B, H, 1, d_head)
                x_last = self.embed(tokens[:, -1:], positions[:, -1:]) if x is None else x[:, -1:]
                x = layer.mix(x_last, z)[0]  # (B, 1, d_model)
            else:
                x = layer.mix(x, blocked_attention(q, k, v, pad_mask, temp))[0]  # (B, T, d_model)
            k_buf = k.new_empty(b, k.shape[1], cap, k.shape[3])  # (B, H, capacity, d_head)
            v_buf = v.new_empty(b, v.shape[1], cap, v.shape[3])
            k_buf[:, :, :t] = k
            v_buf[:, :, :t] = v
            kv.append((k_buf, v_buf))
        key_mask = torch.zeros(b, cap, dtype=torch.bool, device=tokens.device)
        key_mask[:, :t] = pad_mask
        cache = {"kv": kv, "key_mask": key_mask, "length": t, "next_pos": positions[:, -1] + 1,
                 "temperature": temp}
        return self.unembed(x[:, -1:])[:, 0], cache

    @torch.no_grad()
    def multiset_tables(self) -> dict:
        """For a model that :meth:`attends_to_a_multiset`: every (query token, key token) score,
        "scores" (H, V, V), and every token's value, "values" (H, 1, V, d_head). A step only looks
        its row up; compute them once for many batches and pass them to :meth:`prefill_counts`."""
        q, k, v = self._token_tables(self.layers[0])
        return {"scores": q @ k.transpose(-2, -1), "values": v[:, None]}

    @torch.no_grad()
    def prefill_counts(self, counts: torch.Tensor, token: torch.Tensor, *, temperature=None,
                       tables: dict | None = None):
        """:meth:`prefill` for a model that :meth:`attends_to_a_multiset`, from what it attends to:
        counts (B, V) of the tokens up to and including the current ones, token (B,). The order of
        the prompt does not matter to such a model, so a prompt of any length is its counts.
        Returns (logits (B, V), cache for :meth:`step`); the cache holds `counts` itself."""
        if not self.attends_to_a_multiset():
            raise ValueError("prefill_counts needs one layer and no positional encodings")
        tables = self.multiset_tables() if tables is None else tables
        cache = {"counts": counts, **tables, "temperature": self.temperature(temperature)}
        return self._multiset_logits(token, cache), cache

    @torch.no_grad()
    def step(self, token: torch.Tensor, cache: dict):
        """Feed one new token per sequence (B,), attending to the cached keys.

        Returns (logits (B, V), cache).
        """
        if "counts" in cache:
            cache["counts"][torch.arange(token.shape[0], device=token.device), token] += 1  # it attends to itself
            return self._multiset_logits(token, cache), cache
        n = cache["length"]
        kv, key_mask = cache["kv"], cache["key_mask"]
        if n == key_mask.shape[1]:  # full: double the buffers
            kv = [(torch.cat([k, torch.empty_like(k)], 2), torch.cat([v, torch.empty_like(v)], 2))
                  for k, v in kv]  # each (B, H, 2 * capacity, d_head)
            key_mask = torch.cat([key_mask, torch.zeros_like(key_mask)], 1)
        key_mask[:, n] = True
        mask = key_mask[:, None, None, : n + 1]  # (B, 1, 1, n+1): the new token sees every real earlier token
        x = self.embed(token[:, None], cache["next_pos"][:, None])  # (B, 1, d_model)
        for layer, (k_buf, v_buf) in zip(self.layers, kv, strict=True):
            x = layer.step(x, mask, cache["temperature"], k_buf, v_buf, n)
        cache = {**cache, "kv": kv, "key_mask": key_mask, "length": n + 1, "next_pos": cache["next_pos"] + 1}
        return self.unembed(x)[:, 0], cache

    def _multiset_logits(self, token: torch.Tensor, cache: dict) -> torch.Tensor:
        """Logits (B, V) of a one-layer model without positions for the current tokens (B,), which attend
        to the tokens counted in cache["counts"] (B, V)."""
        scores = cache["scores"][:, token]  # (H, B, V): the current token's query against every key
        z = multiset_attention(scores, cache["counts"][None], cache["values"], temperature=cache["temperature"])
        x = self.E[token][:, None]  # (B, 1, d_model): its embedding (no positions)
        return self.unembed(self.layers[0].mix(x, z.transpose(0, 1)[:, :, None])[0])[:, 0]  # z: (B, H, 1, d_head)
