"""Answer dedup-and-sort queries with the compiled solver or a trained checkpoint (`dlexam sort`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from dlexam.errors import UserError
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import decode_stream
from dlexam.sorting.vocab import Vocabulary
from dlexam.transformer import DecoderTransformer


@dataclass
class Sorter:
    model: DecoderTransformer
    vocab: Vocabulary
    max_len: int | None  # longest input length trained on; None for the compiled solver (any length)
    name: str
    training: dict | None = None  # a trained model's record (dlexam.sorting.trained.training_record); None: compiled

    @property
    def finished(self) -> bool:
        """False for a checkpoint of a training run that has not ended (a periodic one: resume it)."""
        return self.training is None or bool(self.training.get("finished", True))

    def unfinished_note(self) -> str | None:
        """What to say about a checkpoint of a training run that has not ended (None when it has)."""
        if self.finished:
            return None
        t = self.training
        return f"this checkpoint is from an unfinished training run (step {t.get('step')} of {t.get('steps')})"


@dataclass
class Answers:
    lines: list[str]  # one answer per input
    warnings: list[str] = field(default_factory=list)


@dataclass
class StreamNotes:
    """What :func:`answer_stream` noticed while answering, for warnings at the end."""

    max_len: int | None  # the longest input length the model was trained on (None: any)
    long: int = 0  # inputs longer than max_len
    longest: int = 0
    unstopped: int = 0  # answers that hit the step limit without <STOP>

    def warnings(self) -> list[str]:
        out = []
        if self.long:
            out.append(f"{self.long} input(s) longer than the {self.max_len} symbols the model was trained on "
                       f"(longest {self.longest}); answered anyway, check the results")
        if self.unstopped:
            out.append(f"{self.unstopped} answer(s) hit the step limit without <STOP>; printed as decoded so far")
        return out


def load_sorter(vocab_spec: str | None = None, checkpoint: str | os.PathLike | None = None) -> Sorter:
    """The compiled solver for `vocab_spec` (default A-D), or the trained model in `checkpoint`."""
    if checkpoint is None:
        vocab = Vocabulary.from_spec(vocab_spec or "A-D")
        return Sorter(
            compile_sorter(vocab.n_symbols), vocab, None, f"compiled solver, vocabulary {vocab.spec}"
        )
    from dlexam.sorting.trained import load_trained  # noqa: PLC0415 - keeps `dlexam sort "D A A"` light

    t = load_trained(checkpoint)
    if vocab_spec is not None and Vocabulary.from_spec(vocab_spec) != t.vocab:
        raise UserError(f"{checkpoint} was trained on vocabulary {t.vocab.spec}, not {vocab_spec}")
    return Sorter(t.model, t.vocab, t.max_len, f"trained model {checkpoint}, vocabulary {t.vocab.spec}", t.record)


def answer_stream(
    sorter: Sorter,
    texts: Iterable[str],
    *,
    numbered: bool = False,
    temperature: float | str | None = None,
    notes: StreamNotes | None = None,
) -> Iterator[str]:
    """The answer to each text, in order, in bounded memory whatever the number and length of the texts.

    Texts are parsed as they are read (UserError naming the token, and the line when `numbered`);
    `notes` collects what the warnings report.
    """
    notes = notes if notes is not None else StreamNotes(sorter.max_len)

    def parsed() -> Iterator[list[int]]:
        for i, t in enumerate(texts, 1):
            x = sorter.vocab.parse(t, line=i if numbered else None)
            if sorter.max_len is not None and len(x) > sorter.max_len:
                notes.long += 1
                notes.longest = max(notes.longest, len(x))
            yield x

    for out, stopped in decode_stream(sorter.model, sorter.vocab, parsed(), temperature=temperature):
        notes.unstopped += not stopped
        yield sorter.vocab.format(out)


def answer(
    sorter: Sorter, texts: Iterable[str], *, numbered: bool = False, temperature: float | str | None = None
) -> Answers:
    """Every answer at once (see :func:`answer_stream`), with the warnings."""
    notes = StreamNotes(sorter.max_len)
    lines = list(answer_stream(sorter, texts, numbered=numbered, temperature=temperature, notes=notes))
    return Answers(lines, notes.warnings())
