"""Batched greedy decoding of ``input <START>`` -> ``output <STOP>`` (Problem 2's decoding, batched).

Two ways that must give the same tokens:

- :func:`greedy_decode` with ``cache=True``: run the left-padded prompts once
  (:meth:`DecoderTransformer.prefill`), then feed one token per step, attending to the cached
  keys and values (:meth:`DecoderTransformer.step`). Each step costs O(T) per sequence.
- ``cache=False``, the baseline: recompute the whole forward pass over the prefix at every step,
  O(T^2) per step.

Each sequence stops at its own <STOP> (later steps feed it <STOP> and discard the result); the
loop ends when every sequence has stopped or after `max_steps` tokens. Ties in the logits go to
the lowest token id (``torch.argmax``), in both ways.

:func:`decode_stream` answers any number of inputs of any length in bounded memory: it reads them
in chunks, sorts each chunk by length and decodes batches of similar lengths within a token
budget, then gives the answers back in input order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

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
    (:meth:`DecoderTransformer.prefill`); None lets the model choose.
    """
    if max_steps is None:
        max_steps = vocab.n_symbols + 1
    if len(inputs) == 0:
        return Decoded([], [], 0)
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
    steps = 0
    for steps in range(1, max_steps + 1):  # noqa: B007 - `steps` is reported
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
    out = torch.stack(emitted, 1).tolist() if emitted else [[] for _ in range(b)]  # (B, steps)
    outputs, stopped = [], []
    for row in out:
        if vocab.stop in row:
            outputs.append(row[: row.index(vocab.stop)])
            stopped.append(True)
        else:
            outputs.append(row)
            stopped.append(False)
    return Decoded(outputs, stopped, steps)


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
CHUNK_TOKENS = 1 << 21  # input tokens read ahead before the chunk is decoded
CHUNK_LINES = 1 << 14  # and inputs: each costs a few hundred bytes of Python objects, even an empty one


def _batches_by_length(lengths: list[int], extra: int, budget: int) -> Iterator[list[int]]:
    """Indices grouped into batches of similar length, each within `budget` positions (padding included)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch: list[int] = []
    for i in order:
        width = lengths[i] + 1 + extra  # the prompt, <START>, the answer
        if batch and (len(batch) + 1) * width > budget:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


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
    """(output, stopped) for each input, in input order, decoding in bounded memory.

    A chunk of inputs (up to `chunk_tokens` symbols and `chunk_lines` inputs) is read, decoded in
    batches of similar lengths of at most `token_budget` positions each (an input longer than that is
    a batch of its own), and answered before the next chunk is read.
    """
    steps = vocab.n_symbols + 1 if max_steps is None else max_steps
    it = iter(inputs)
    while True:
        chunk, size = [], 0
        for x in it:
            chunk.append(x)
            size += len(x) + 1
            if size >= chunk_tokens or len(chunk) >= chunk_lines:
                break
        if not chunk:
            return
        answers: list = [None] * len(chunk)
        for idx in _batches_by_length([len(x) for x in chunk], steps, token_budget):
            got = greedy_decode(model, vocab, [chunk[i] for i in idx], max_steps=steps, temperature=temperature)
            for i, out, stopped in zip(idx, got.outputs, got.stopped, strict=True):
                answers[i] = (out, stopped)
        yield from answers
