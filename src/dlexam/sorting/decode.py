"""Batched greedy decoding of ``input <START>`` -> ``output <STOP>`` (Problem 2's decoding, batched).

Two ways that must give the same tokens:

- :func:`greedy_decode` with ``cache=True``: run the left-padded prompts once
  (:meth:`DecoderTransformer.prefill`), then feed one token per step, attending to the cached
  keys and values (:meth:`DecoderTransformer.step`). Each step costs O(T) per sequence.
- ``cache=False``, the baseline: recompute the whole forward pass over the prefix at every step,
  O(T^2) per step.

A model that :meth:`~dlexam.transformer.DecoderTransformer.attends_to_a_multiset` (one layer, no
positions: the compiled solver, the trained sorters) decodes from the counts of its prompt's tokens
instead (:mod:`dlexam.sorting.counting`), unless ``multiset=False``.

Each sequence stops at its own <STOP> (later steps feed it <STOP> and discard the result); the
loop ends when every sequence has stopped or after `max_steps` tokens. Ties in the logits go to
the lowest token id (``torch.argmax``), in every way.

:func:`decode_chunks` answers any number of inputs of any length in bounded memory: it takes them in
chunks (:mod:`dlexam.sorting.lines` reads them so), sorts each chunk by length and decodes batches of
similar lengths within a budget, then gives the answers back in input order before taking the next
chunk. :func:`decode_stream` does the same for inputs given as lists of symbol ids.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dlexam.sorting.counting import decode_counts
from dlexam.sorting.lines import CHUNK_LINES, CHUNK_TOKENS, Chunk, LineReader
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer


@dataclass
class Decoded:
    outputs: list[list[int]]  # the emitted symbols of each sequence, <STOP> excluded
    stopped: list[bool]  # False where max_steps ran out before <STOP>
    steps: int  # decoding steps taken (the longest output + 1 when all stopped)


def left_padded_prompts(
    inputs: Sequence[Sequence[int]], vocab: Vocabulary
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompts ``x <START>`` right-aligned in a (B, T) batch: (tokens, pad_mask True at real tokens)."""
    b = len(inputs)
    lengths = torch.tensor([len(x) for x in inputs], dtype=torch.long)  # (B,)
    t = int(lengths.max()) + 1 if b else 1
    tokens = torch.full((b, t), vocab.stop, dtype=torch.long)
    flat = torch.tensor(list(itertools.chain.from_iterable(inputs)), dtype=torch.long)  # (sum n,)
    rows = torch.repeat_interleave(torch.arange(b), lengths)
    offset = torch.arange(flat.numel()) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)
    tokens[rows, t - 1 - lengths[rows] + offset] = flat
    tokens[:, t - 1] = vocab.start
    mask = torch.arange(t)[None, :] >= (t - 1 - lengths)[:, None]  # (B, T)
    return tokens, mask


@torch.no_grad()
def greedy_decode(
    model: DecoderTransformer,
    vocab: Vocabulary,
    inputs: Sequence[Sequence[int]],
    *,
    max_steps: int | None = None,
    temperature: float | str | None = None,
    cache: bool = True,
    multiset: bool | None = None,
) -> Decoded:
    """Greedy decoding of a batch of inputs (lists of symbol ids). `max_steps` defaults to n_symbols + 1.

    `multiset=False` keeps keys and values even where the model could decode by token counts
    (:mod:`dlexam.sorting.counting`); None lets the model choose.
    """
    if max_steps is None:
        max_steps = vocab.n_symbols + 1
    if len(inputs) == 0:
        return Decoded([], [], 0)
    if cache and multiset is not False and model.attends_to_a_multiset():
        counts = torch.zeros(len(inputs), vocab.size, dtype=torch.long)
        lengths = torch.tensor([len(x) for x in inputs])
        flat = torch.tensor(list(itertools.chain.from_iterable(inputs)), dtype=torch.long)
        counts.view(-1).index_add_(0, torch.repeat_interleave(torch.arange(len(inputs)), lengths) * vocab.size
                                   + flat, torch.ones_like(flat))
        return _decoded(*decode_counts(model, counts, start=vocab.start, stop=vocab.stop, max_steps=max_steps,
                                       temperature=temperature), vocab.stop)
    tokens, mask = left_padded_prompts(inputs, vocab)
    b = tokens.shape[0]
    was_training = model.training
    model.eval()
    done = torch.zeros(b, dtype=torch.bool)
    emitted = []
    if cache:
        logits, kv = model.prefill(
            tokens, mask, temperature=temperature, capacity=tokens.shape[1] + max_steps, multiset=multiset
        )
    else:
        logits = model(tokens, mask, temperature=temperature)[:, -1]
    for steps in range(1, max_steps + 1):
        nxt = logits.argmax(-1).masked_fill(done, vocab.stop)  # (B,)
        emitted.append(nxt)
        done |= nxt == vocab.stop
        if bool(done.all()) or steps == max_steps:
            break
        if cache:
            logits, kv = model.step(nxt, kv)
        else:
            tokens = torch.cat([tokens, nxt[:, None]], 1)  # (B, T + 1)
            mask = torch.cat([mask, torch.ones(b, 1, dtype=torch.bool)], 1)
            logits = model(tokens, mask, temperature=temperature)[:, -1]
    model.train(was_training)
    out = torch.stack(emitted, 1) if emitted else torch.empty(b, 0, dtype=torch.long)  # (B, steps)
    return _decoded(out, done, len(emitted), vocab.stop)


def _decoded(emitted: torch.Tensor, stopped: torch.Tensor, steps: int, stop: int) -> Decoded:
    """Decoded from the emitted tokens (B, steps): each row up to its <STOP>."""
    ended = stopped.numpy().tolist()  # numpy's tolist: several times faster than torch's
    rows = emitted.numpy().tolist()
    outputs = [row[: row.index(stop)] if e else row for row, e in zip(rows, ended, strict=True)]
    return Decoded(outputs, ended, steps)


def decode_in_batches(
    model: DecoderTransformer,
    vocab: Vocabulary,
    inputs: Sequence[Sequence[int]],
    *,
    batch_size: int = 1024,
    **kwargs,
) -> Decoded:
    """:func:`greedy_decode` over consecutive chunks (keeps padding and memory small)."""
    outputs, stopped, steps = [], [], 0
    for i in range(0, len(inputs), batch_size):
        d = greedy_decode(model, vocab, inputs[i : i + batch_size], **kwargs)
        outputs += d.outputs
        stopped += d.stopped
        steps = max(steps, d.steps)
    return Decoded(outputs, stopped, steps)


TOKEN_BUDGET = 1 << 18  # prompt and output positions held by one decoding batch
COUNT_BUDGET = 1 << 21  # token counts held by one batch decoded from counts (lines x vocabulary size)
MAX_BATCH_LINES = 4096  # lines in one batch decoded from counts
PREFILL_BYTES = 256 << 20  # what a line of a model that needs its order may cost while it is prefilled
MAX_ORDERED_LINE = 1_000_000  # symbols in one line for such a model, at most
# Query-key scores in the layers of a prefill that attend from every position to every earlier one (all but the last),
# past which a line takes noticeably long: 500,000,000 took 3-6 s on the 2-core AMD EPYC, shared (docs/sorting.md)
SLOW_SCORES = 500_000_000
# Cached keys read by the decoding steps of a line of an ordered model, in every layer and head, past which its answer
# takes noticeably long: each step reads all T + s positions before it (memory-bound, about ten times a prefill's
# score). 50,000,000 took 5.7-7.3 s on the 2-core AMD EPYC, shared (a one-layer, sinusoidal, d_model 16 model of 2,000
# symbols: 2,001 steps over 25,000 symbols, 501 steps over 100,000), where the prefill rule saw no quadratic layer
SLOW_READS = 50_000_000


def _batches_by_length(lengths: Sequence[int], extra: int, budget: int, max_lines: int | None = None
                       ) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, each within `budget` positions (padding included;
    a line costs its length + 1 + `extra`) and `max_lines` lines."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch: list[int] = []
    for i in order:
        width = lengths[i] + 1 + extra  # the prompt, <START>, the answer
        if batch and ((len(batch) + 1) * width > budget or len(batch) == max_lines):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def max_line_tokens(model: DecoderTransformer) -> int | None:
    """The most symbols one input line may hold for `model`: None (no cap but the reader's bytes) for a
    model decoding from counts; else what keeps its prefill within :data:`PREFILL_BYTES` (its keys and
    values of every layer, a few activations per position), at most :data:`MAX_ORDERED_LINE`."""
    if model.attends_to_a_multiset():
        return None
    cfg = model.cfg
    per_position = 4 * (cfg.n_layers * 2 * cfg.n_heads * cfg.d_head + 8 * max(cfg.d_model, cfg.n_heads * cfg.d_head)
                        + 2 * cfg.d_ff) + 64
    return max(1, min(MAX_ORDERED_LINE, PREFILL_BYTES // per_position))


def quadratic_scores(model: DecoderTransformer, n: int) -> int:
    """The query-key scores the prefill of a line of `n` symbols computes where its time is quadratic: in each layer
    before the last, every one of its T = n + 1 positions (<START> included) attends to itself and every earlier one,
    n_heads x T(T+1)/2 scores a layer. 0 for a model decoding from counts or of one layer (only the last position
    attends: linear time)."""
    if model.attends_to_a_multiset():
        return 0
    t = n + 1
    return (model.cfg.n_layers - 1) * model.cfg.n_heads * t * (t + 1) // 2


def _fewest_reaching(cost, threshold: int) -> int:
    """The least n >= 0 with cost(n) >= threshold, for a cost that grows with n and reaches it (doubling, then
    bisection: a few dozen calls)."""
    if cost(0) >= threshold:
        return 0
    high = 1
    while cost(high) < threshold:
        high *= 2
    low = high // 2  # cost(low) < threshold <= cost(high)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if cost(mid) < threshold else (low, mid)
    return high


def slow_line_tokens(model: DecoderTransformer) -> int | None:
    """The fewest symbols in a line whose prefill takes :data:`SLOW_SCORES` :func:`quadratic_scores` or more; None
    where no line does (no quadratic layer)."""
    if quadratic_scores(model, 1) == 0:
        return None
    return _fewest_reaching(lambda n: quadratic_scores(model, n), SLOW_SCORES)


def decoding_reads(model: DecoderTransformer, n: int, steps: int) -> int:
    """The cached keys that `steps` decoding steps after the prefill of a line of `n` symbols read, in every layer and
    head: step s (from 0) attends to the T + s positions before it, T = n + 1. 0 for a model decoding from counts."""
    if model.attends_to_a_multiset():
        return 0
    t = n + 1
    return model.cfg.n_layers * model.cfg.n_heads * (steps * t + steps * (steps - 1) // 2)


def answer_steps(vocab: Vocabulary, distinct: int) -> int:
    """The decoding steps of a line with `distinct` different symbols, for a model that answers it right: each
    distinct symbol once, then <STOP> (at most the decoder's own cap, n_symbols + 1)."""
    return min(distinct, vocab.n_symbols) + 1


def slow_answer_tokens(model: DecoderTransformer, vocab: Vocabulary) -> int | None:
    """The fewest symbols in a line whose answer could read :data:`SLOW_READS` cached keys (its symbols all different,
    up to the vocabulary's): shorter lines never do, so only longer ones have their different symbols counted. None
    for a model decoding from counts. Found once per stream (the reads grow with n)."""
    if model.attends_to_a_multiset():
        return None
    return _fewest_reaching(lambda n: decoding_reads(model, n, answer_steps(vocab, n)), SLOW_READS)


def slow_line_note(model: DecoderTransformer, n: int, subject: str, steps: int | None = None) -> str | None:
    """What to say before a line of `n` symbols is decoded (`subject`: "line 3", "the input"), or None where it is
    quick: its prefill reaches :data:`SLOW_SCORES` (:func:`quadratic_scores`), or its `steps` decoding steps (those of
    :func:`answer_steps`; None: not counted) read :data:`SLOW_READS` cached keys or more."""
    if quadratic_scores(model, n) >= SLOW_SCORES:
        return (f"{subject} holds {n:,} symbols: in every layer but its last this model attends from each position to "
                f"every earlier one ({quadratic_scores(model, n):,} scores), a time that grows with the square of the "
                "line's length; expect a wait (docs/sorting.md, 'Input of any size')")
    if steps is not None and (reads := decoding_reads(model, n, steps)) >= SLOW_READS:
        return (f"{subject} holds {n:,} symbols, {steps - 1:,} of them different: each of the {steps:,} steps of its "
                f"answer attends to every position before it ({reads:,} keys read in all), a time that grows with "
                "the line's length times its different symbols; expect a wait (docs/sorting.md, 'Input of any size')")
    return None


def line_reader(model: DecoderTransformer, vocab: Vocabulary, **kwargs) -> LineReader:
    """The :class:`LineReader` that suits `model`: counts for long lines where order does not matter to it,
    else its order, within :func:`max_line_tokens`."""
    order = not model.attends_to_a_multiset()
    note = (" (it needs a line's symbols in order: it has positional encodings or more than one layer; a "
            "one-layer model without positions reads lines of any length)") if order else ""
    return LineReader(vocab, order=order, max_tokens=max_line_tokens(model), too_long_note=note, **kwargs)


def _counts(chunk: Chunk, idx: list[int], size: int) -> torch.Tensor:
    """(len(idx), size) int64: how often each token occurs in each of the lines `idx` of the chunk."""
    offsets, symbols = chunk.offsets(), chunk.symbols()
    lengths = np.frombuffer(chunk.lengths, dtype=np.int64)
    ordered = [j for j, i in enumerate(idx) if i not in chunk.counts]
    rows = np.repeat(np.array(ordered, dtype=np.int64), lengths[[idx[j] for j in ordered]])
    ids = np.concatenate([symbols[offsets[idx[j]] : offsets[idx[j]] + lengths[idx[j]]] for j in ordered] or
                         [np.zeros(0, np.int16)]).astype(np.int64)
    counts = np.bincount(rows * size + ids, minlength=len(idx) * size).reshape(len(idx), size)
    for j, i in enumerate(idx):
        if i in chunk.counts:
            counts[j, : chunk.counts[i].size] = chunk.counts[i]
    return torch.from_numpy(counts)


def decode_chunks(
    model: DecoderTransformer,
    vocab: Vocabulary,
    chunks: Iterable[Chunk],
    *,
    token_budget: int = TOKEN_BUDGET,
    max_steps: int | None = None,
    temperature: float | str | None = None,
) -> Iterator[tuple[list[int], bool]]:
    """(output, stopped) for each line of each chunk, in input order, in bounded memory.

    Each chunk is decoded in batches of similar lengths and answered before the next is taken: a model
    decoding from counts (:mod:`dlexam.sorting.counting`) takes batches of at most :data:`COUNT_BUDGET`
    counts, any other batches of at most `token_budget` positions (a longer input is a batch of its own).
    An error raised by `chunks` comes after the answers to every chunk it gave before.
    """
    steps = vocab.n_symbols + 1 if max_steps is None else max_steps
    by_counts = model.attends_to_a_multiset()
    tables = None
    was_training = model.training
    model.eval()
    try:
        for chunk in chunks:
            lengths = list(chunk.lengths)
            answers: list = [None] * len(lengths)
            if by_counts:
                if tables is None:
                    tables = model.multiset_tables()  # once for the whole stream
                batches = _batches_by_length(lengths, 0, 1 << 62, max(1, min(MAX_BATCH_LINES,
                                                                               COUNT_BUDGET // vocab.size)))
            else:
                batches = _batches_by_length(lengths, steps, token_budget)
            for idx in batches:
                if by_counts:
                    got = _decoded(*decode_counts(model, _counts(chunk, idx, vocab.size), start=vocab.start,
                                                  stop=vocab.stop, max_steps=steps, temperature=temperature,
                                                  tables=tables), vocab.stop)
                else:
                    offsets, symbols = chunk.offsets(), chunk.symbols()
                    inputs = [symbols[offsets[i] : offsets[i] + lengths[i]].tolist() for i in idx]
                    got = greedy_decode(model, vocab, inputs, max_steps=steps, temperature=temperature)
                for i, out, stopped in zip(idx, got.outputs, got.stopped, strict=True):
                    answers[i] = (out, stopped)
            yield from answers
    finally:
        model.train(was_training)


def decode_stream(
    model: DecoderTransformer,
    vocab: Vocabulary,
    inputs: Iterable[Sequence[int]],
    *,
    token_budget: int = TOKEN_BUDGET,
    chunk_tokens: int = CHUNK_TOKENS,
    chunk_lines: int = CHUNK_LINES,
    max_steps: int | None = None,
    temperature: float | str | None = None,
) -> Iterator[tuple[list[int], bool]]:
    """(output, stopped) for each input (a list of symbol ids), in input order, decoding in bounded memory:
    :func:`decode_chunks` over chunks of at most `chunk_tokens` symbols and `chunk_lines` inputs. An
    error raised by `inputs` comes after the answers to every input before it."""
    reader = LineReader(vocab, chunk_tokens=chunk_tokens, chunk_lines=chunk_lines)
    return decode_chunks(model, vocab, reader.from_ids(inputs), token_budget=token_budget, max_steps=max_steps,
                         temperature=temperature)
