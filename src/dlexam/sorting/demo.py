"""A short sort demonstration for `dlexam demo` (a few seconds, no training)."""

from __future__ import annotations

import time

import torch

from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.inspect import attention_steps, format_steps
from dlexam.sorting.vocab import Vocabulary


def run_demo() -> None:
    """Print the compiled exact sorter at work: the exam's example, its attention, a large batch."""
    print("== Problem 2, solved: a 1-layer, 1-head, argmax-attention transformer that deduplicates and sorts")
    vocab = Vocabulary.from_spec("A-D")
    model = compile_sorter(vocab.n_symbols)
    for text in ("D A A", "C A D B A C", ""):
        out = greedy_decode(model, vocab, [vocab.parse(text)]).outputs[0]
        print(f"  {text or '(empty)':<14} -> {vocab.format(out) or '(empty)'}")
    steps = attention_steps(model, vocab, "D A A")
    print("  attention of each decoding step on 'D A A' (weights > 0 only):")
    print("    " + format_steps(steps).replace("\n", "\n    "))
    n_symbols, batch, length = 100, 64, 100
    v100 = Vocabulary.from_spec(str(n_symbols))
    m100 = compile_sorter(n_symbols)
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, n_symbols, (batch, length), generator=g).tolist()
    t0 = time.perf_counter()
    got = greedy_decode(m100, v100, inputs)
    dt = time.perf_counter() - t0
    ok = sum(y == sorted(set(x)) for x, y in zip(inputs, got.outputs, strict=True))
    print(
        f"  vocabulary 0..99, {batch} random inputs of length {length}: {ok}/{batch} exactly "
        f"sorted(set(x)), {got.steps} decoding steps with a KV cache in {dt:.2f} s"
    )
    print('  (`dlexam sort "D A A"`, `dlexam sort train`, `dlexam sort evaluate`; see docs/sorting.md)')
