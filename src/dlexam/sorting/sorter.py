"""Answer dedup-and-sort queries with the compiled solver or a trained checkpoint (`dlexam sort`)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from dlexam.attention import is_argmax
from dlexam.errors import UserError
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import (
    answer_steps,
    decode_chunks,
    line_reader,
    slow_answer_tokens,
    slow_line_note,
    slow_line_tokens,
)
from dlexam.sorting.lines import CHUNK_LINES, Chunk
from dlexam.sorting.vocab import EXAM_VOCAB, Vocabulary
from dlexam.spec.numbers import shortest_text
from dlexam.transformer import DecoderTransformer
from dlexam.words import counted


@dataclass
class Sorter:
    model: DecoderTransformer
    vocab: Vocabulary
    max_len: int | None  # longest input length trained on; None for the compiled solver (any length)
    name: str
    training: dict | None = None  # a trained model's record (dlexam.sorting.trained.training_record); None: compiled

    @property
    def compiled(self) -> bool:
        """The compiled exact solver (hand-set weights), not a trained model."""
        return self.training is None

    def decoding_temperature(self, temperature: float | str | None) -> float | str | None:
        """The temperature to decode at, as asked (None: the model's own). The compiled solver is exact
        only with its own argmax attention, so it takes no other: UserError for any T but 0, writing T as it was
        typed (spec.numbers.shortest_text: 1e-9, which Python writes 1e-09), on the command line and the web page."""
        if self.compiled and temperature is not None and temperature != 0:
            shown = shortest_text(temperature) if isinstance(temperature, float) else str(temperature)
            raise UserError(f"temperature {shown} does not apply to the compiled "
                            "solver: its weights are "
                            "exact with argmax attention (T = 0) only; decode a trained sorter to choose T")
        return temperature

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


def learned_table(model) -> int | None:
    """The rows of `model`'s table of learned positions; None where it has none (any position is its own)."""
    return model.cfg.max_len if model.cfg.positional == "learned" else None


@dataclass
class StreamNotes:
    """What :func:`answer_stream` noticed while answering, for warnings at the end."""

    max_len: int | None  # the longest input length the model was trained on (None: any)
    long: int = 0  # inputs longer than max_len
    longest: int = 0
    unstopped: int = 0  # answers that hit the step limit without <STOP>
    counts_matter: bool = False  # decoded by counts under softmax: a symbol far outnumbered can be outweighed
    emptied: int = 0  # inputs with symbols answered with none
    temperature: float | None = None  # the temperature decoded at, where the user chose one
    own_temperature: float | None = None  # the model's own
    table: int | None = None  # the rows of the model's table of learned positions (None: no learned positions)
    past_table: int = 0  # answers whose input, <START> and answer took more positions than the table has
    most_past: int = 0  # the most positions beyond the table one of them took
    most_past_len: int = 0  # that input's length

    @classmethod
    def for_model(cls, sorter: Sorter) -> StreamNotes:
        """Notes for `sorter`'s answers, its table of learned positions known (`sort` and `sort evaluate`)."""
        return cls(sorter.max_len, table=learned_table(sorter.model))

    def note_positions(self, n: int, out: int, stopped: bool) -> None:
        """Count an answer of `out` symbols to an input of `n` that went past the table of learned positions."""
        if self.table is not None and (past := self.positions_used(n, out, stopped) - self.table) > 0:
            self.past_table += 1  # positions clamp to the table's last row (DecoderTransformer.embed)
            if past > self.most_past:
                self.most_past, self.most_past_len = past, n

    def positions_used(self, n: int, out: int, stopped: bool) -> int:
        """The positions an input of `n` symbols took, answered with `out` symbols: the input, <START> at position n,
        and each answer symbol fed back in turn (all of them where <STOP> ended it; where the step limit did, the
        last is never fed)."""
        return n + 1 + (out if stopped else max(out - 1, 0))

    def warnings(self) -> list[str]:
        out = []
        if self.long:
            why = ("; under softmax attention a symbol far outnumbered by another can be lost (`--temperature 0` "
                   "answers from which symbols occur, not how often)") if self.counts_matter else ""
            out.append(f"{counted(self.long, 'input')} longer than the {counted(self.max_len, 'symbol')} the model was "
                       f"trained on (longest {self.longest:,}); answered anyway, check the results{why}")
        if self.past_table:
            t = self.table
            out.append(f"{counted(self.past_table, 'input')} took more positions than the model's table of {t} learned "
                       f"positions (0-{t - 1}): the furthest, {self.most_past_len} symbols, took "
                       f"{t + self.most_past} with <START> and its answer, {self.most_past} beyond the table; every "
                       f"position beyond it reuses the table's last row (position {t - 1}), so the model cannot "
                       "tell those positions apart: check the results")
        if self.emptied:
            head = f"{counted(self.emptied, 'input')} with symbols answered with none"
            if self.temperature is not None and self.temperature != self.own_temperature:
                other = "" if self.temperature == 0 else " or at --temperature 0"  # never advise what was done
                out.append(f"{head} at --temperature {shortest_text(self.temperature)} (the model's own is "
                           f"{shortest_text(self.own_temperature)}): the model stopped at once, which is not a right "
                           f"answer; decode at the model's own temperature ({shortest_text(self.own_temperature)})"
                           f"{other}")
            else:  # at its own temperature: the model itself answers so (its own T is no advice)
                other = ("" if self.own_temperature == 0 else
                         "; --temperature 0 may answer otherwise (argmax: from which symbols occur)")
                out.append(f"{head} at the model's own temperature ({shortest_text(self.own_temperature)}): the model "
                           f"stopped at once, which is not a right answer; it has not learnt these inputs{other}")
        if self.unstopped:
            out.append(f"{counted(self.unstopped, 'answer')} hit the step limit without <STOP>; printed as decoded so "
                       "far")
        return out


def load_sorter(vocab_spec: str | None = None, checkpoint: str | os.PathLike | None = None) -> Sorter:
    """The compiled solver for `vocab_spec` (default A-D), or the trained model in `checkpoint`."""
    if checkpoint is None:
        vocab = Vocabulary.from_spec(EXAM_VOCAB if vocab_spec is None else vocab_spec)  # "" is a bad spec, not A-D
        return Sorter(
            compile_sorter(vocab.n_symbols), vocab, None, f"compiled solver, vocabulary {vocab.spec}"
        )
    from dlexam.sorting.trained import load_trained  # noqa: PLC0415 - keeps `dlexam sort "D A A"` light

    t = load_trained(checkpoint)
    # the same symbols are the same vocabulary, however spelled (`04` is `4`: before, refused as another)
    if vocab_spec is not None and Vocabulary.from_spec(vocab_spec).symbols != t.vocab.symbols:
        raise UserError(f"{checkpoint} was trained on vocabulary {t.vocab.spec}, not {vocab_spec}")
    return Sorter(t.model, t.vocab, t.max_len, f"trained model {checkpoint}, vocabulary {t.vocab.spec}", t.record)


def answer_stream(
    sorter: Sorter,
    source: BinaryIO | Iterable[str],
    *,
    numbered: bool = False,
    temperature: float | str | None = None,
    notes: StreamNotes | None = None,
    chunk_lines: int = CHUNK_LINES,
    warn: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """The answer to each line of `source`, in order, in memory bounded by a constant whatever the
    number and length of the lines.

    `source` is a binary stream (one input per line, read a block at a time: :mod:`dlexam.sorting.lines`)
    or texts (one input each). An unknown token or a line over a cap raises UserError naming the token
    (and the line, when `numbered`) after the answers to every line before it. `notes` collects what the
    warnings report; `chunk_lines` caps the lines read before answering (1 answers each line as it comes).
    `warn` is told, before the work on a line begins, of each line long enough to take a while
    (:func:`dlexam.sorting.decode.slow_line_note`: a prefill whose time is quadratic in a line's length, or an answer
    of many steps over a long line).
    """
    temperature = sorter.decoding_temperature(temperature)
    notes = notes if notes is not None else StreamNotes(sorter.max_len)
    model = sorter.model
    notes.counts_matter = model.attends_to_a_multiset() and not is_argmax(model.temperature(temperature),
                                                                         model.E.dtype)
    notes.own_temperature = model.temperature()
    notes.temperature = None if temperature is None else model.temperature(temperature)
    notes.table = learned_table(model)
    lengths: deque[int] = deque()  # of the lines read and not yet answered (a chunk or two: bounded)
    slow = slow_line_tokens(model) if warn is not None else None
    long_answer = slow_answer_tokens(model, sorter.vocab) if warn is not None else None
    reader = line_reader(sorter.model, sorter.vocab, numbered=numbered, chunk_lines=chunk_lines)
    chunks = reader.from_stream(source) if hasattr(source, "read") else reader.from_texts(source)

    def noted(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            lengths.extend(chunk.lengths)
            if sorter.max_len is not None:
                long = [n for n in chunk.lengths if n > sorter.max_len]
                notes.long += len(long)
                notes.longest = max([notes.longest, *long])
            if slow is not None or long_answer is not None:  # said before the chunk is decoded
                offsets = None
                for i, n in enumerate(chunk.lengths):
                    steps = None
                    if long_answer is not None and n >= long_answer:  # its different symbols counted where they matter
                        offsets = chunk.offsets() if offsets is None else offsets
                        start = int(offsets[i])
                        steps = answer_steps(sorter.vocab, len(np.unique(chunk.symbols()[start : start + n])))
                    if (slow is not None and n >= slow) or steps is not None:
                        note = slow_line_note(model, n, f"line {chunk.first_line + i}" if numbered else "the input",
                                              steps)
                        if note is not None:
                            warn(note)
            yield chunk

    for out, stopped in decode_chunks(sorter.model, sorter.vocab, noted(chunks), temperature=temperature):
        notes.unstopped += not stopped
        n = lengths.popleft()
        notes.emptied += n > 0 and len(out) == 0
        notes.note_positions(n, len(out), stopped)
        yield sorter.vocab.format(out)


def answer(
    sorter: Sorter, texts: Iterable[str], *, numbered: bool = False, temperature: float | str | None = None
) -> Answers:
    """Every answer at once (see :func:`answer_stream`), with the warnings."""
    notes, slow = StreamNotes(sorter.max_len), []
    lines = list(answer_stream(sorter, texts, numbered=numbered, temperature=temperature, notes=notes,
                               warn=slow.append))
    return Answers(lines, slow + notes.warnings())
