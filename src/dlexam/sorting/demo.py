"""A short sort demonstration for `dlexam demo` (a few seconds, no training: the trained sorter is the shipped one).

:func:`run_demo` returns what it found (:class:`SortDemo`); `dlexam demo` prints it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import greedy_decode
from dlexam.sorting.inspect import AttentionSteps, attention_steps
from dlexam.sorting.shipped import load_shipped
from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary
from dlexam.spec import VERSION_A

EXAMPLE = " ".join(VERSION_A.transformer.example_input)  # the exam's input, "D A A"


@dataclass
class SortDemo:
    examples: list[tuple[str, str]]  # (input, the compiled solver's answer) over A-D
    steps: AttentionSteps  # the attention of each decoding step on the exam's input (EXAMPLE, "D A A")
    batch: int  # random inputs over the symbols 0..99 ...
    length: int  # ... of this length
    correct: int  # answers equal to sorted(set(x))
    decode_steps: int
    seconds: float  # decoding the batch (by token counts: dlexam.sorting.counting)
    trained: list[tuple[str, str, str]]  # (input, the shipped trained sorter's answer at its T, and at T = 0)
    trained_name: str
    example: str = EXAMPLE  # the input whose attention `steps` shows: the exam's, "D A A"


def run_demo() -> SortDemo:
    """The compiled exact sorter at work: the exam's example, its attention, a large batch."""
    vocab = Vocabulary.from_spec(EXAM_VOCAB)
    model = compile_sorter(vocab.n_symbols)
    examples = [(text, vocab.format(greedy_decode(model, vocab, [vocab.parse(text)]).outputs[0]))
                for text in (EXAMPLE, "C A D B A C", "")]
    n_symbols, batch, length = 100, 64, 100
    v100 = Vocabulary.from_spec(str(n_symbols))
    m100 = compile_sorter(n_symbols)
    g = torch.Generator().manual_seed(0)
    inputs = torch.randint(0, n_symbols, (batch, length), generator=g).tolist()
    t0 = time.perf_counter()
    got = greedy_decode(m100, v100, inputs)
    seconds = time.perf_counter() - t0
    ok = sum(y == sorted(set(x)) for x, y in zip(inputs, got.outputs, strict=True))
    shipped = load_shipped()
    texts = (EXAMPLE, "C A D B A C", "B D D A C A B D A C A B B D")
    trained = [(t, *(vocab.format(greedy_decode(shipped.model, vocab, [vocab.parse(t)], temperature=temp).outputs[0])
                     for temp in (None, 0.0))) for t in texts]
    return SortDemo(examples, attention_steps(model, vocab, EXAMPLE), batch, length, ok, got.steps, seconds, trained,
                    shipped.name)
