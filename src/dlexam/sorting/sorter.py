"""Answer dedup-and-sort queries with the compiled solver or a trained checkpoint (`dlexam sort`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from dlexam.errors import UserError
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import decode_in_batches
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer


@dataclass
class Sorter:
    model: DecoderTransformer
    vocab: Vocabulary
    max_len: int | None  # longest input length trained on; None for the compiled solver (any length)
    name: str


@dataclass
class Answers:
    lines: list[str]  # one answer per input
    warnings: list[str] = field(default_factory=list)


def load_sorter(vocab_spec: str | None = None, checkpoint: str | os.PathLike | None = None) -> Sorter:
    """The compiled solver for `vocab_spec` (default A-D), or the trained model in `checkpoint`."""
    if checkpoint is None:
        vocab = Vocabulary.from_spec(vocab_spec or "A-D")
        return Sorter(
            compile_sorter(vocab.n_symbols), vocab, None, f"compiled solver, vocabulary {vocab.spec}"
        )
    from dlexam.sorting.train import load_model  # noqa: PLC0415 - keeps `dlexam sort "D A A"` light

    model, vocab, max_len = load_model(checkpoint)
    if vocab_spec is not None and Vocabulary.from_spec(vocab_spec) != vocab:
        raise UserError(f"{checkpoint} was trained on vocabulary {vocab.spec}, not {vocab_spec}")
    return Sorter(model, vocab, max_len, f"trained model {checkpoint}, vocabulary {vocab.spec}")


def answer(
    sorter: Sorter, texts: Iterable[str], *, numbered: bool = False, temperature: float | str | None = None
) -> Answers:
    """Parse each text (UserError naming the token, and the line when `numbered`), decode, format."""
    inputs = [sorter.vocab.parse(t, line=i if numbered else None) for i, t in enumerate(texts, 1)]
    decoded = decode_in_batches(sorter.model, sorter.vocab, inputs, batch_size=512, temperature=temperature)
    out = Answers([sorter.vocab.format(y) for y in decoded.outputs])
    if sorter.max_len is not None:
        long = [len(x) for x in inputs if len(x) > sorter.max_len]
        if long:
            out.warnings.append(
                f"{len(long)} input(s) longer than the {sorter.max_len} symbols the model was trained on "
                f"(longest {max(long)}); answered anyway, check the results"
            )
    unstopped = sum(not s for s in decoded.stopped)
    if unstopped:
        out.warnings.append(
            f"{unstopped} answer(s) hit the step limit without <STOP>; printed as decoded so far"
        )
    return out
