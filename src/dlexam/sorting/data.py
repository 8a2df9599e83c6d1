"""Random multisets for training and evaluation, teacher-forcing batches, and the held-out split.

Inputs are sampled on the fly from a seeded ``torch.Generator`` (separate from the model's), two
ways:

- ``"uniform"``: every symbol i.i.d. uniform over the vocabulary (the evaluation distribution:
  "random sequences");
- ``"mixed"`` (training): half the rows as above, half drawn uniformly from a random subset of
  1..V symbols, so that training also sees few distinct symbols with large multiplicities.

The hard cases of deduplicating and sorting, for evaluation (:data:`EVAL_KINDS`, ``dlexam sort evaluate --inputs``):

- ``"few"``: at most :data:`FEW` distinct symbols (1 to 3 drawn uniformly, then each position uniformly from
  them), so a long input repeats each many times;
- ``"sorted"`` / ``"reversed"``: a uniform input in ascending / descending order.

Held-out split: a sequence belongs to the held-out set when a fixed random linear hash of its
length and tokens is 0 mod 10 (:func:`is_heldout`). Training drops those rows; evaluation keeps
only them. So the evaluation sequences are never trained on (as sequences; a permutation of one
may be, which is the point of the task: the answer depends only on the set).
"""

from __future__ import annotations

import torch

from dlexam.sorting.vocab import Vocabulary

HELDOUT_MOD = 10
FEW = 3  # the most distinct symbols of a "few" input
EVAL_KINDS = ("uniform", "few", "sorted", "reversed")  # what `sort evaluate --inputs` draws
ENUMERATE_MAX = 200_000
MAX_ROUNDS = 100  # draws of held-out rows before giving up (uniform inputs: about 5 draws find them all)
_HASH_SEED = 20250122


def _hash_weights(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(_HASH_SEED)
    return torch.randint(1, 2**20, (n + 1,), generator=g, dtype=torch.long)  # last entry weighs the length


def is_heldout(tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B,) bool: True for rows of the held-out split. `tokens` (B, L) symbol ids, valid up to `lengths`."""
    b, width = tokens.shape
    w = _hash_weights(max(width, 4096))
    valid = torch.arange(width)[None, :] < lengths[:, None]  # (B, L)
    h = ((tokens + 1) * valid * w[:width]).sum(1) + (lengths + 1) * w[-1]  # (B,)
    return (h % HELDOUT_MOD == 0) & (lengths > 0)  # the empty input is always trained on


def all_sequences(n_symbols: int, length: int) -> torch.Tensor:
    """Every sequence of `length` symbols, (n_symbols ** length, length), in lexicographic order."""
    if length == 0:
        return torch.zeros(1, 0, dtype=torch.long)
    grids = torch.meshgrid(*[torch.arange(n_symbols)] * length, indexing="ij")
    return torch.stack([g.reshape(-1) for g in grids], 1)  # (V^L, L)


def sample_inputs(
    gen: torch.Generator, batch: int, n_symbols: int, min_len: int, max_len: int, kind: str = "uniform"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs: (tokens (B, max_len) long, right-padded with 0; lengths (B,)), lengths uniform; `kind`
    uniform, mixed (training) or one of :data:`EVAL_KINDS` (the module's docstring)."""
    lengths = torch.randint(min_len, max_len + 1, (batch,), generator=gen)
    tokens = torch.randint(0, n_symbols, (batch, max_len), generator=gen)
    padding = torch.arange(max_len)[None, :] >= lengths[:, None]
    if kind == "mixed":
        sparse = torch.rand(batch, generator=gen) < 0.5
        k = torch.randint(1, n_symbols + 1, (batch, 1), generator=gen)  # subset size per row
        subset = torch.rand(batch, n_symbols, generator=gen).argsort(1)  # (B, V): a random order of symbols
        pick = (torch.rand(batch, max_len, generator=gen) * k).long()  # (B, L) index into the first k
        tokens = torch.where(sparse[:, None], subset.gather(1, pick), tokens)
    elif kind == "few":  # FEW symbols per row (repeats allowed: fewer then), the first k of them used
        k = torch.randint(1, min(FEW, n_symbols) + 1, (batch, 1), generator=gen)
        few = torch.randint(0, n_symbols, (batch, FEW), generator=gen)
        tokens = few.gather(1, (torch.rand(batch, max_len, generator=gen) * k).long())
    elif kind in ("sorted", "reversed"):  # the padding sorts last either way, then is overwritten below
        key = tokens.masked_fill(padding, n_symbols if kind == "sorted" else -1)
        tokens = key.sort(1, descending=kind == "reversed").values
    elif kind != "uniform":
        raise ValueError(f"kind must be uniform, mixed or one of {', '.join(EVAL_KINDS)}, got {kind!r}")
    tokens = tokens.masked_fill(padding, 0)
    return tokens, lengths


def of_kind(tokens: torch.Tensor, kind: str) -> torch.Tensor:
    """(B,) bool: which rows of equal-length inputs `tokens` (B, L) an input of `kind` can be (every row: uniform)."""
    if kind == "sorted":
        return (tokens[:, 1:] >= tokens[:, :-1]).all(1)
    if kind == "reversed":
        return (tokens[:, 1:] <= tokens[:, :-1]).all(1)
    if kind == "few":
        s = tokens.sort(1).values
        return (s[:, 1:] != s[:, :-1]).sum(1) + 1 <= FEW
    return torch.ones(tokens.shape[0], dtype=torch.bool)


def sample_split(
    gen: torch.Generator, batch: int, n_symbols: int, min_len: int, max_len: int, *, heldout: bool, kind: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`sample_inputs`, keeping only rows of the training (or held-out) split:
    exactly `batch` rows, or fewer where :data:`MAX_ROUNDS` draws of them found fewer (a kind that few sequences
    are, of which few or none are held out: sorted inputs of length 20 over 2 symbols are 21 sequences).

    For held-out rows of one length whose space is small (V^n <= ENUMERATE_MAX), the held-out
    sequences of that length (and `kind`: :func:`of_kind`) are enumerated and drawn with replacement; if there are
    none (tiny spaces, e.g. 4 sequences of length 1 over A-D), the result is empty.
    """
    if heldout and min_len == max_len and n_symbols**max_len <= ENUMERATE_MAX:
        every = all_sequences(n_symbols, max_len)
        lens = torch.full((every.shape[0],), max_len)
        pool = every[is_heldout(every, lens) & of_kind(every, kind)]
        if pool.shape[0] == 0:
            return pool, torch.zeros(0, dtype=torch.long)
        pick = torch.randint(0, pool.shape[0], (batch,), generator=gen)
        return pool[pick], torch.full((batch,), max_len)
    got_t, got_l, have = [torch.zeros(0, max_len, dtype=torch.long)], [torch.zeros(0, dtype=torch.long)], 0
    for _ in range(MAX_ROUNDS):
        if have >= batch:
            break
        t, l = sample_inputs(
            gen, max(2 * batch, 64) if heldout else batch + batch // 4, n_symbols, min_len, max_len, kind
        )
        keep = is_heldout(t, l) == heldout
        got_t.append(t[keep])
        got_l.append(l[keep])
        have += int(keep.sum())
    return torch.cat(got_t)[:batch], torch.cat(got_l)[:batch]


def targets(tokens: torch.Tensor, lengths: torch.Tensor, n_symbols: int) -> tuple[torch.Tensor, torch.Tensor]:
    """sorted(set(x)) per row: (outputs (B, V) right-padded with n_symbols, counts (B,))."""
    b, width = tokens.shape
    valid = torch.arange(width)[None, :] < lengths[:, None]
    present = torch.zeros(b, n_symbols + 1, dtype=torch.bool)
    present.scatter_(1, torch.where(valid, tokens, n_symbols), True)
    present = present[:, :n_symbols]  # (B, V)
    key = torch.where(present, torch.arange(n_symbols)[None, :], n_symbols)
    out = key.sort(1).values  # (B, V): present symbols first, in order, then n_symbols
    return out, present.sum(1)


def teacher_forcing_batch(
    tokens: torch.Tensor, lengths: torch.Tensor, vocab: Vocabulary
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequences ``x <START> y <STOP>`` right-padded: (seq (B, T), pad_mask (B, T), labels (B, T)).

    labels[t] is the token at t + 1 where a loss applies (the positions from <START> to the last
    output symbol, whose next tokens are the output tokens ``y <STOP>``) and -100 elsewhere.
    """
    b, width = tokens.shape
    n = lengths[:, None]  # (B, 1)
    outs, u = targets(tokens, lengths, vocab.n_symbols)
    u = u[:, None]
    out_w = min(vocab.n_symbols, width)
    outs = outs[:, :out_w]
    t_len = width + out_w + 2
    pos = torch.arange(t_len)[None, :]  # (1, T)
    seq = torch.full((b, t_len), vocab.stop, dtype=torch.long)
    seq = torch.where(
        pos < n, tokens.gather(1, pos.clamp_max(width - 1).expand(b, -1)) if width else seq, seq
    )
    seq = torch.where(pos == n, vocab.start, seq)
    j = (pos - n - 1).clamp(0, max(out_w - 1, 0))  # index into the outputs
    if out_w:
        seq = torch.where((pos > n) & (pos <= n + u), outs.gather(1, j), seq)
    pad_mask = pos <= n + u + 1
    nxt = torch.cat([seq[:, 1:], torch.full((b, 1), vocab.stop)], 1)
    labels = torch.where((pos >= n) & (pos <= n + u), nxt, -100)
    return seq, pad_mask, labels
