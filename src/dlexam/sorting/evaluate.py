"""Measuring sorters: exact match of greedy decoding against sorted(set(x)) on held-out inputs.

- :func:`evaluate`: exact match per input length on held-out random sequences
  (:mod:`dlexam.sorting.data`, the hash split training never sees).
- :func:`accuracy_summary`: the trained lengths and the longer, never trained ones, with the model's
  temperature and with T = 0 (what `dlexam sort train` reports after training).
- :func:`evaluation_report`: what `dlexam sort evaluate` shows, as plain data. Its size is capped
  before anything is sampled (:mod:`dlexam.sorting.sizes`, which the command line calls before torch loads):
  lengths 1 .. :data:`MAX_LENGTH`, at most :data:`SAMPLES` per length, and at most :data:`MAX_TOKENS` input
  tokens in all (samples x the sum of the lengths).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from dlexam.errors import UserError
from dlexam.sorting.data import EVAL_KINDS, is_heldout, sample_split
from dlexam.sorting.decode import decode_in_batches
from dlexam.sorting.sizes import check_size, parse_lengths
from dlexam.sorting.sorter import Sorter, StreamNotes
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer

BLOCK_TOKENS = 1 << 20  # input symbols drawn and decoded at once by `sort evaluate` (its memory stays flat)
# `sort evaluate` counts a length's distinct inputs where at most this many sequences of it exist (A-D: lengths 1-8):
# there random draws repeat, and the set that counts them stays small; past it the count is not taken (None)
DISTINCT_SPACE = 1 << 16


def heldout_blocks(vocab: Vocabulary, lengths: list[int], per_length: int, seed: int,
                   inputs: str = "uniform") -> Iterator[list[list[int]]]:
    """:func:`heldout_inputs` a block at a time: each length's inputs in blocks of at most BLOCK_TOKENS
    symbols (one input at least). A length whose inputs fit in one block is drawn exactly as before blocks
    existed, so every figure measured on fewer than BLOCK_TOKENS symbols per length is drawn the same.
    `inputs`: what kind of input (:data:`dlexam.sorting.data.EVAL_KINDS`: uniform, few, sorted, reversed)."""
    if inputs not in EVAL_KINDS:
        raise UserError(f"inputs must be one of {', '.join(EVAL_KINDS)}, got {inputs!r:.40}")
    gen = torch.Generator().manual_seed(seed)
    for n in lengths:
        rows = per_length if per_length * n <= BLOCK_TOKENS else max(1, BLOCK_TOKENS // n)
        left = per_length
        while left > 0:
            want = min(rows, left)
            tokens, _ = sample_split(gen, want, vocab.n_symbols, n, n, heldout=True, kind=inputs)
            if tokens.shape[0] == 0:  # no held-out sequence of this length (and kind) exists
                break
            yield tokens[:, :n].tolist()
            left -= tokens.shape[0]
            if tokens.shape[0] < want:  # a kind few held-out sequences are (data.sample_split): no more to find
                break


def heldout_inputs(vocab: Vocabulary, lengths: list[int], per_length: int, seed: int,
                   inputs: str = "uniform") -> list[list[int]]:
    """`per_length` held-out random inputs of each length (own seed, not the training stream): uniform, or the
    kind `inputs` names (:func:`heldout_blocks`)."""
    return [x for block in heldout_blocks(vocab, lengths, per_length, seed, inputs) for x in block]


def _exact_per_length(model: DecoderTransformer, vocab: Vocabulary, inputs: list[list[int]],
                      temperature: float | str | None, per: dict[int, list[int]] | None = None,
                      notes: StreamNotes | None = None) -> dict[int, list[int]]:
    """{length: [exact answers, inputs]}: greedy decoding against the oracle sorted(set(x)), counted into
    `per` where given (one block after another); the positions each answer took, into `notes` where given."""
    decoded = decode_in_batches(model, vocab, inputs, batch_size=2048, temperature=temperature)
    got = decoded.outputs
    if notes is not None:
        for x, y, stopped in zip(inputs, got, decoded.stopped, strict=True):
            notes.note_positions(len(x), len(y), stopped)
    per = {} if per is None else per
    for x, y in zip(inputs, got, strict=True):
        c = per.setdefault(len(x), [0, 0])
        c[0] += y == sorted(set(x))
        c[1] += 1
    return per


def _accuracy(model: DecoderTransformer, temperature: float | str | None, per: dict[int, list[int]]) -> dict:
    """The exact-match figures of `per`; "overall" is None where there was no input to measure (not 0.0)."""
    n = sum(c[1] for c in per.values())
    return {
        "temperature": model.temperature(temperature),
        "overall": sum(c[0] for c in per.values()) / n if n else None,
        "n": n,
        "per_length": {length: c[0] / c[1] for length, c in sorted(per.items())},
    }


@torch.no_grad()
def evaluate(
    model: DecoderTransformer,
    vocab: Vocabulary,
    lengths: list[int],
    *,
    per_length: int = 1000,
    seed: int = 12345,
    temperature: float | str | None = None,
    inputs: list[list[int]] | None = None,
) -> dict:
    """Exact match of greedy decoding vs sorted(set(x)): {"overall", "per_length", "n", "temperature"}
    ("overall" None where no held-out input of these lengths exists: nothing was measured)."""
    if inputs is None:
        inputs = heldout_inputs(vocab, lengths, per_length, seed)
    return _accuracy(model, temperature, _exact_per_length(model, vocab, inputs, temperature))


def accuracy_summary(
    model: DecoderTransformer, vocab: Vocabulary, max_len: int, *, per_length: int = 300, seed: int = 12345
) -> dict:
    """Exact match on held-out inputs of the trained lengths 1..max_len and of the longer, never
    trained lengths max_len+1..2 max_len, each with the model's temperature and with T = 0:
    {"trained": {"lengths", "n", "softmax", "T0"}, "longer": {...}}. Where no held-out input of a block's
    lengths exists (n = 0: over A-D, `max_len` 1), its "softmax" and "T0" are None, not 0.0.

    The inputs are drawn and decoded a block at a time (:func:`heldout_blocks`: at most BLOCK_TOKENS symbols), the
    same inputs :func:`heldout_inputs` draws; before, all of them were held at once (at `sort train --max-len 512`,
    lengths 513-1024 at 300 each: 118 million symbols in Python lists, about 1.7 GB)."""
    out = {}
    temps = (None, 0.0)
    for name, lengths in (("trained", range(1, max_len + 1)), ("longer", range(max_len + 1, 2 * max_len + 1))):
        counted: list[dict[int, list[int]]] = [{} for _ in temps]
        with torch.no_grad():
            for block in heldout_blocks(vocab, list(lengths), per_length, seed):
                for per, t in zip(counted, temps, strict=True):
                    _exact_per_length(model, vocab, block, t, per)
        softmax, t0 = (_accuracy(model, t, per) for per, t in zip(counted, temps, strict=True))
        out[name] = {
            "lengths": f"{lengths[0]}-{lengths[-1]}",
            "n": softmax["n"],
            "softmax": softmax["overall"],
            "T0": t0["overall"],
        }
    return out


def train_report(result, *, per_length: int = 300) -> dict:
    """What `dlexam sort train` reports: the run's summary (:meth:`TrainResult.summary`) and its
    exact match (:func:`accuracy_summary`)."""
    tc = result.config
    acc = accuracy_summary(result.model, Vocabulary.from_spec(tc.vocab), tc.max_len, per_length=per_length)
    return {
        **result.summary(),
        "temperature": result.model.temperature(),
        "exact_match": acc,
        "exact_match_trained_lengths": acc["trained"]["softmax"],
        "exact_match_trained_lengths_T0": acc["trained"]["T0"],
    }


def evaluation_report(
    sorter: Sorter, lengths: str, *, samples: int = 1000, seed: int = 12345, temperature: float | str | None = None,
    inputs: str = "uniform", notes: StreamNotes | None = None,
) -> dict:
    """Exact match of `sorter` on `samples` held-out inputs of each length in `lengths` ('1-32'),
    at `temperature` if given, else at the model's own and at 0 (the compiled solver: its own only).
    `inputs`: uniform random inputs, or the hard cases: `few` distinct symbols (at most 3, each repeated), `sorted`
    or `reversed` (:data:`dlexam.sorting.data.EVAL_KINDS`); held out from training all the same.
    The sizes are checked before any input is drawn (:func:`parse_lengths`, :func:`check_size`); lengths
    without any held-out sequence (A-D's length 1) are UserError, as there is nothing to measure. `notes`
    (:meth:`StreamNotes.for_model`), where given, counts the answers at the first temperature that went past the
    model's table of learned positions, for `sort`'s warning."""
    wanted = parse_lengths(lengths)
    check_size(wanted, samples, lengths)
    temperature = sorter.decoding_temperature(temperature)
    temps = [temperature] if temperature is not None else [None, 0.0]
    if sorter.compiled:  # the compiled solver is argmax already
        temps = temps[:1]
    counted: list[dict[int, list[int]]] = [{} for _ in temps]
    distinct: dict[int, int | None] = {}  # a short length's draws repeat: how many of them differ
    seen: set[tuple[int, ...]] | None = None  # the length's distinct inputs, only where it stays small
    with torch.no_grad():
        for block in heldout_blocks(sorter.vocab, wanted, samples, seed, inputs):  # memory: one block, not all inputs
            n = len(block[0])  # the blocks come a length at a time
            if n not in distinct:
                seen = set() if sorter.vocab.n_symbols ** n <= DISTINCT_SPACE else None
            if seen is not None:
                seen.update(map(tuple, block))
            distinct[n] = None if seen is None else len(seen)
            for i, (per, t) in enumerate(zip(counted, temps, strict=True)):
                _exact_per_length(sorter.model, sorter.vocab, block, t, per, notes if i == 0 else None)
    results = [_accuracy(sorter.model, t, per) for per, t in zip(counted, temps, strict=True)]
    if results[0]["n"] == 0:  # before, an exact match of 0.0 over no input at all
        kind = "" if inputs == "uniform" else f"{inputs} "
        if sorter.vocab.n_symbols == 1:  # one sequence of each length: longer lengths have no more to hold out
            some = torch.arange(1, 65)
            some = some[is_heldout(torch.zeros(len(some), len(some), dtype=torch.long), some)][:3].tolist()
            hint = ("a vocabulary of one symbol has one sequence of each length, held out at some lengths only: "
                    f"choose lengths such as {', '.join(map(str, some))}")
        else:
            hint = "choose longer lengths"
        raise UserError(f"no held-out {kind}sequences exist at lengths {lengths} over vocabulary {sorter.vocab.spec} "
                        f"(too few sequences to hold any out): nothing to measure; {hint}")
    training = sorter.training or {}
    return {
        "model": sorter.name,
        "trained_max_len": sorter.max_len,
        "trained_with": training.get("provenance"),
        "made_by": training.get("command"),
        "finished": training.get("finished") if sorter.training is not None else None,
        "step": training.get("step"),
        "steps": training.get("steps"),
        "lengths": lengths,
        "inputs": inputs,
        "samples_per_length": samples,
        "n": results[0]["n"],
        "lengths_without_heldout_sequences": sorted(set(wanted) - set(results[0]["per_length"])),
        # inputs drawn per length, and how many of them differ (counted where at most DISTINCT_SPACE sequences of that
        # length exist; A-D's length 2 has 16, so its 1000 draws measure a few inputs many times)
        "inputs_per_length": {str(k): c[1] for k, c in sorted(counted[0].items())},
        "distinct_per_length": {str(k): v for k, v in sorted(distinct.items())},
        "results": [
            {
                "temperature": r["temperature"],
                "overall": r["overall"],
                "per_length": {str(k): v for k, v in r["per_length"].items()},
            }
            for r in results
        ],
    }
