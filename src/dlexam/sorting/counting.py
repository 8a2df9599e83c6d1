"""Greedy decoding from token counts: a one-layer transformer without positions reads a multiset.

In the exam's architecture (one layer, no positional encodings) a token's query, key and value depend
on the token alone, so what a position attends to is the multiset of the tokens before it
(:meth:`dlexam.transformer.DecoderTransformer.attends_to_a_multiset`). The prompt ``x <START>`` is
then its counts, (B, V), however long ``x`` is, and each decoding step adds the emitted token to them:
:func:`decode_counts`.

**Under argmax attention a step is a table look-up.** With T = 0 the weight goes to the key tokens of
maximal score (:func:`dlexam.attention.tied_maxima`). When one token's copies win, the copies share
the weight, their values are equal, and Z is exactly that token's value, so the logits, and the token
emitted, depend on the winning key token alone when the output does not mix in the query's own
embedding (one head, no residual connection). :func:`decode_counts` then computes "the token emitted
when the attention falls on key k" once per vocabulary entry, by running the model's own layer and
unembedding on k's value (:func:`next_token_table`). A step then only finds each row's winning key,
among its query's WINDOW best-scoring keys first (every present key where none of those is present or
a tie is possible), instead of passing through (d_model x V) weights. Rows where different key tokens
tie take the general step (:meth:`DecoderTransformer.prefill_counts`). ``benchmarks/sort_stream.py``
measures the compiled solver over 2,000 symbols both ways.
"""

from __future__ import annotations

import torch

from dlexam.attention import is_argmax, tie_tolerance, tied_maxima
from dlexam.transformer import DecoderTransformer

TABLE_BLOCK = 256  # vocabulary entries run through the model at once (the same blocks every time: exact reruns)
WINDOW = 32  # best-scoring keys of each query looked at first


@torch.no_grad()
def next_token_table(model: DecoderTransformer, tables: dict) -> torch.Tensor:
    """(V,): the token a one-head model without residual emits when its attention is all on key token k.

    Z is k's value (``tables["values"]``, from :meth:`DecoderTransformer.multiset_tables`); the model's
    own :meth:`Layer.mix` and unembedding give the logits, and ties go to the lowest id, as in decoding.
    """
    values = tables["values"][:, 0]  # (H = 1, V, d_head)
    layer = model.layers[0]
    out = []
    for start in range(0, values.shape[1], TABLE_BLOCK):
        z = values[:, start : start + TABLE_BLOCK].transpose(0, 1)[:, :, None]  # (block, H, 1, d_head)
        x = torch.zeros(z.shape[0], 1, model.cfg.d_model, dtype=z.dtype)  # the query's embedding: unused
        out.append(model.unembed(layer.mix(x, z)[0])[:, 0].argmax(-1))  # (block,)
    return torch.cat(out)


def decodes_by_table(model: DecoderTransformer, temperature: float) -> bool:
    """Whether a step of `model` at `temperature` is a look-up of the winning key token (module docstring)."""
    cfg = model.cfg
    return (model.attends_to_a_multiset() and cfg.n_heads == 1 and not cfg.residual
            and is_argmax(temperature, model.E.dtype))


@torch.no_grad()
def decode_counts(
    model: DecoderTransformer,
    counts: torch.Tensor,
    *,
    start: int,
    stop: int,
    max_steps: int,
    temperature: float | str | None = None,
    tables: dict | None = None,
    by_table: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Greedy decoding of prompts given as token counts (B, V) (the prompt's symbols; <START> is added).

    Returns (emitted (B, steps) token ids, STOP after a row's end; stopped (B,); steps taken).
    `tables` (:meth:`DecoderTransformer.multiset_tables`) may be computed once for many calls;
    `by_table` None lets the model choose the look-up (:func:`decodes_by_table`), False forces the
    general step (the oracle of the tests).
    """
    temp = model.temperature(temperature)
    tables = model.multiset_tables() if tables is None else tables
    counts = counts.to(torch.long).clone()
    counts[:, start] += 1  # <START> attends to itself
    b = counts.shape[0]
    if b == 0 or max_steps < 1:
        return torch.empty(b, 0, dtype=torch.long), torch.zeros(b, dtype=torch.bool), 0
    current = torch.full((b,), start, dtype=torch.long)
    if by_table is None:
        by_table = decodes_by_table(model, temp)
    if by_table:
        return _decode_by_table(model, counts, current, stop, max_steps, tables)
    logits, cache = model.prefill_counts(counts, current, temperature=temp, tables=tables)
    done = torch.zeros(b, dtype=torch.bool)
    emitted = []
    for step in range(1, max_steps + 1):
        nxt = logits.argmax(-1).masked_fill(done, stop)  # (B,)
        emitted.append(nxt)
        done |= nxt == stop
        if bool(done.all()) or step == max_steps:
            break
        logits, cache = model.step(nxt, cache)
    return torch.stack(emitted, 1), done, len(emitted)


def _lookups(model: DecoderTransformer, tables: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(next-token table (V,), each query's WINDOW best key tokens (V, K) and their scores (V, K), descending),
    computed once and kept in `tables`."""
    if "next_token" not in tables:
        scores = tables["scores"][0]  # (V, V): query token x key token
        top, at = scores.topk(min(WINDOW, scores.shape[1]), dim=1)  # (V, K)
        tables["next_token"], tables["window"] = next_token_table(model, tables), (at, top)
    return tables["next_token"], *tables["window"]


def _decode_by_table(model, counts, current, stop: int, max_steps: int, tables: dict):
    """:func:`decode_counts` with the look-up step.

    The winning key of a row is the first token present among its query's WINDOW best-scoring keys;
    it wins alone when the next present one there scores below it by more than the tie tolerance
    (or, with none, the window's last score does). Other rows (no present key in the window, a
    possible tie) score every present key, and rows where different keys tie take the general step.
    The rows still decoding are compacted as others end.
    """
    table, window, window_scores = _lookups(model, tables)
    scores = tables["scores"][0]
    b, v = counts.shape
    k = window.shape[1]
    present = (counts > 0).to(torch.uint8)  # (B, V)
    flat_present = present.view(-1)
    rows = torch.arange(b)  # the rows still decoding, as indices into the batch
    places = torch.arange(k)
    emitted = torch.full((b, min(max_steps, 16)), stop, dtype=torch.long)
    stopped = torch.zeros(b, dtype=torch.bool)
    steps = 0
    for step in range(max_steps):
        keys, key_scores = window[current], window_scores[current]  # (rows, K)
        here = flat_present.take(rows[:, None] * v + keys).bool()  # (rows, K): which of them are present
        first = here.to(torch.uint8).argmax(1, keepdim=True)  # (rows, 1)
        best = key_scores.gather(1, first)[:, 0]
        later = here & (places > first)
        runner_up = torch.where(later.any(1), key_scores.gather(1, later.to(torch.uint8).argmax(1, keepdim=True))[:, 0],
                                key_scores[:, -1])
        clear = here.gather(1, first)[:, 0] & (runner_up < best - tie_tolerance(best))
        nxt = table[keys.gather(1, first)[:, 0]]
        if not bool(clear.all()):
            unclear = (~clear).nonzero(as_tuple=True)[0]
            nxt[unclear] = _full_step(model, tables, table, scores, counts, present, rows[unclear], current[unclear])
        if step == emitted.shape[1]:
            emitted = torch.cat([emitted, torch.full_like(emitted, stop)], 1)  # (B, 2 x steps so far)
        emitted[rows, step] = nxt
        steps = step + 1
        ends = nxt == stop
        stopped[rows[ends]] = True
        if steps == max_steps or bool(ends.all()):
            break
        if bool(ends.any()):
            go = ~ends
            rows, nxt = rows[go], nxt[go]
        counts[rows, nxt] += 1  # the emitted token joins what the next query attends to (itself included)
        present[rows, nxt] = 1
        current = nxt
    return emitted[:, :steps], stopped, steps


def _full_step(model, tables, table, scores, counts, present, rows, current) -> torch.Tensor:
    """The next token of `rows` scoring every present key; where different key tokens tie, the general step."""
    tied = tied_maxima(scores[current], present[rows].bool())  # (rows, V)
    nxt = table[tied.to(torch.uint8).argmax(1)]
    shared = tied.sum(1) != 1
    if bool(shared.any()):
        logits, _ = model.prefill_counts(counts[rows[shared]], current[shared], temperature=0.0, tables=tables)
        nxt[shared] = logits.argmax(-1)
    return nxt
