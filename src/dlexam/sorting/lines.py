"""Reading `dlexam sort`'s input: lines of symbols from a byte stream, in memory bounded by a constant.

The stream is read a block at a time (:data:`BLOCK` bytes), split into lines at ``\\n`` (``\\r\\n`` and
a lone ``\\r`` end a line too) and into tokens at ASCII whitespace, and each token is looked up in the
vocabulary as it comes (:meth:`dlexam.sorting.vocab.Vocabulary.byte_index`): no line is ever held
whole as text. Lines are handed on in :class:`Chunk`\\ s of at most `chunk_tokens` symbols and
`chunk_lines` lines:

- a line keeps its symbols in order, 2 bytes each, in one flat array per chunk;
- a line longer than `long_line` symbols, read for a model that cannot see order (``order=False``: one
  layer, no positional encodings, like the compiled solver and the trained sorters; see
  :meth:`dlexam.transformer.DecoderTransformer.attends_to_a_multiset`), keeps only the count of each
  symbol, so it costs the same memory however long it is;
- read for a model that needs the order, a line of more than `max_tokens` symbols is refused.

A UTF-8 byte-order mark at the start of the stream (:data:`BOM`) is skipped. Every line is capped at
:data:`MAX_LINE_BYTES` bytes. An unknown token or a line over a cap raises
UserError naming the line, but only after the chunk of the lines before it has been handed on, so
that their answers come first. A token is known to be unknown as soon as it is longer than every
symbol, so an endless line without whitespace (``/dev/zero``) stops at once.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from dlexam.errors import UserError
from dlexam.sorting.vocab import Vocabulary

BLOCK = 1 << 20  # bytes read at a time
MAX_LINE_BYTES = 1 << 30  # the longest line read (1 GiB: about 500 million one-letter symbols)
LONG_LINE = 1 << 16  # symbols: a longer line read for an order-blind model keeps only its counts
CHUNK_TOKENS = 1 << 21  # symbols read ahead before the chunk is answered
CHUNK_LINES = 1 << 14  # and lines: each costs some bytes of bookkeeping, even an empty one
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark, which some editors write at the start of a file


@dataclass
class Chunk:
    """Lines read together. Line i's symbols are ``flat[offsets[i]:offsets[i] + lengths[i]]``, or, where
    ``i in counts``, only their counts (n_symbols,) were kept (a long line of an order-blind reading)."""

    first_line: int  # the number of its first line, from 1
    lengths: array = field(default_factory=lambda: array("q"))  # symbols per line
    flat: array = field(default_factory=lambda: array("h"))  # the symbols of the lines kept in order
    counts: dict[int, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lengths)

    def offsets(self) -> np.ndarray:
        """Where each line starts in `flat` (lines with counts take no room there)."""
        kept = np.frombuffer(self.lengths, dtype=np.int64).copy()
        if self.counts:
            kept[list(self.counts)] = 0
        return np.cumsum(kept) - kept

    def symbols(self) -> np.ndarray:
        """`flat` as a numpy array (a view, no copy)."""
        return np.frombuffer(self.flat, dtype=np.int16)


class LineReader:
    """Turns text into :class:`Chunk`\\ s of symbol ids for a vocabulary (see the module docstring)."""

    def __init__(self, vocab: Vocabulary, *, order: bool = True, max_tokens: int | None = None,
                 too_long_note: str = "", numbered: bool = True, chunk_tokens: int = CHUNK_TOKENS,
                 chunk_lines: int = CHUNK_LINES, long_line: int = LONG_LINE, block: int = BLOCK,
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.vocab, self.order, self.max_tokens, self.too_long_note = vocab, order, max_tokens, too_long_note
        self.numbered, self.chunk_tokens, self.chunk_lines = numbered, chunk_tokens, chunk_lines
        self.long_line, self.block, self.max_line_bytes = long_line, block, max_line_bytes
        self.index = vocab.byte_index()
        self.longest = max(map(len, self.index))

    # ---- the sources -------------------------------------------------------------------------------
    def from_stream(self, stream: BinaryIO) -> Iterator[Chunk]:
        """Chunks of the lines of a binary stream (a text stream's str is encoded as UTF-8)."""
        read = getattr(stream, "read1", stream.read)  # read1: what has arrived, without waiting for a full block
        out = _Chunks(self)
        open_line: _OpenLine | None = None  # a line that has not ended yet in the blocks read so far
        number, cr, eof, start = 1, False, False, True

        def block() -> bytes:
            try:
                data = read(self.block)
            except OSError as exc:
                raise UserError(f"cannot read line {number} of the input: {exc.strerror or exc}") from None
            return data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data

        try:
            while not eof:
                data = block()
                if start and data:  # a UTF-8 byte-order mark (Notepad's, PowerShell's) opens the stream: skipped
                    while len(data) < len(BOM) and BOM.startswith(data) and (more := block()):
                        data += more  # the mark cut across reads
                    data, start = data.removeprefix(BOM), False
                    if not data:
                        continue
                eof = not data
                if cr:  # the last block ended with \r: a line end, or the first half of \r\n
                    data, cr = b"\r" + data, False
                if data.endswith(b"\r") and not eof:
                    data, cr = data[:-1], True
                if b"\r" in data:
                    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                parts = data.split(b"\n")  # the lines that end in this block; the last part opens the next
                tail = parts.pop()
                first = 0
                if open_line is not None and parts:  # the open line ends here
                    open_line.feed(parts[0], True)
                    out.add_open(open_line)
                    open_line, number, first = None, number + 1, 1
                    if out.full():
                        yield out.take()
                i = first
                while i < len(parts):  # whole lines inside this block: the fast path
                    i = out.add_lines(parts, i, number - first)
                    if out.full():
                        yield out.take()
                number += len(parts) - first
                if open_line is not None or tail:
                    open_line = open_line or _OpenLine(self, number)
                    open_line.feed(tail, eof)
                    if eof:
                        out.add_open(open_line)
                        open_line, number = None, number + 1
        except UserError:
            if len(out.chunk):
                yield out.take()  # the answers to the lines before the bad one come first
            raise
        if len(out.chunk):
            yield out.take()

    def from_texts(self, texts: Iterable[str]) -> Iterator[Chunk]:
        """Chunks of texts, each one line whatever it holds (newlines in it separate tokens)."""
        return self._whole_lines(t.encode("utf-8", "surrogateescape").split() for t in texts)

    def from_ids(self, inputs: Iterable[Sequence[int]]) -> Iterator[Chunk]:
        """Chunks of inputs given as symbol ids (checked to be symbols)."""
        return self._whole_lines(inputs, ids=True)

    def _whole_lines(self, lines: Iterable, ids: bool = False) -> Iterator[Chunk]:
        out = _Chunks(self)
        try:
            for number, words in enumerate(lines, 1):
                if ids:
                    out.add_ids(words, number)
                else:
                    out.add_words(words, number)
                if out.full():
                    yield out.take()
        except UserError:
            if len(out.chunk):
                yield out.take()
            raise
        if len(out.chunk):
            yield out.take()

    # ---- errors -------------------------------------------------------------------------------------
    def where(self, number: int) -> int | None:
        return number if self.numbered else None

    def _over_bytes(self, number: int) -> UserError:
        return UserError(f"{self._subject(number)} is longer than {self.max_line_bytes:,} bytes, the most a line "
                         "may hold")

    def too_long(self, number: int) -> UserError:
        return UserError(f"{self._subject(number)} holds more than {self.max_tokens:,} symbols, the most this "
                         f"model reads in one line{self.too_long_note}")

    def _subject(self, number: int) -> str:
        return f"line {number}" if self.numbered else "the input"


class _Chunks:
    """The chunk being filled."""

    def __init__(self, reader: LineReader) -> None:
        self.reader = reader
        self.chunk = Chunk(1)
        self.size = 0  # symbols and counts held

    def full(self) -> bool:
        r = self.reader
        return self.size >= r.chunk_tokens or len(self.chunk) >= r.chunk_lines

    def take(self) -> Chunk:
        chunk, first = self.chunk, self.chunk.first_line + len(self.chunk)
        self.chunk, self.size = Chunk(first), 0
        return chunk

    def add_lines(self, parts: list[bytes], i: int, first_number: int) -> int:
        """Add the whole lines parts[i:] (line numbers from first_number + i) until the chunk is full;
        returns the index of the first line not added. The common case, inlined: a short line of
        known tokens."""
        r, chunk = self.reader, self.chunk
        extend, append, get = chunk.flat.extend, chunk.lengths.append, r.index.__getitem__
        special = r.max_tokens if r.order else r.long_line  # longer lines take add_words
        special = math.inf if special is None else special
        room = r.chunk_lines - len(chunk.lengths)
        while i < len(parts) and room > 0 and self.size < r.chunk_tokens:
            part = parts[i]
            if len(part) > r.max_line_bytes:
                raise r._over_bytes(first_number + i)
            words = part.split()
            n = len(words)
            if n > special:
                self.add_words(words, first_number + i)
            else:
                before = len(chunk.flat)
                try:
                    extend(map(get, words))
                except KeyError as exc:
                    del chunk.flat[before:]
                    raise r.vocab.unknown_token(exc.args[0], r.where(first_number + i)) from None
                append(n)
                self.size += n + 1
            room -= 1
            i += 1
        return i

    def add_words(self, words: list[bytes], number: int) -> None:
        r = self.reader
        if not r.order and len(words) > r.long_line:
            self.add_counts(_count(words, r, number), len(words))
            return
        if r.order and r.max_tokens is not None and len(words) > r.max_tokens:
            raise r.too_long(number)
        flat = self.chunk.flat
        before = len(flat)
        try:
            flat.extend(map(r.index.__getitem__, words))
        except KeyError as exc:
            del flat[before:]
            raise r.vocab.unknown_token(exc.args[0], r.where(number)) from None
        self.chunk.lengths.append(len(words))
        self.size += len(words) + 1

    def add_ids(self, ids: Sequence[int], number: int) -> None:
        r = self.reader
        if r.order and r.max_tokens is not None and len(ids) > r.max_tokens:
            raise r.too_long(number)
        bad = [i for i in ids if not 0 <= i < r.vocab.n_symbols]
        if bad:
            raise UserError(f"{r._subject(number)} holds {bad[0]!r}, not a symbol id of vocabulary "
                            f"{r.vocab.spec} (0 .. {r.vocab.n_symbols - 1})")
        self.chunk.flat.extend(ids)
        self.chunk.lengths.append(len(ids))
        self.size += len(ids) + 1

    def add_counts(self, counts: np.ndarray, length: int) -> None:
        self.chunk.counts[len(self.chunk)] = counts
        self.chunk.lengths.append(length)
        self.size += counts.size + 1

    def add_open(self, line: _OpenLine) -> None:
        if line.counts is not None:
            self.add_counts(line.counts, line.length)
        else:
            self.chunk.flat.extend(line.ids)
            self.chunk.lengths.append(line.length)
            self.size += line.length + 1


class _OpenLine:
    """A line read across blocks: its symbols so far (in order, or counted), and its last token so far,
    which the next block may continue."""

    def __init__(self, reader: LineReader, number: int) -> None:
        self.reader, self.number = reader, number
        self.ids: array | None = array("h")
        self.counts: np.ndarray | None = None
        self.length = 0
        self.bytes = 0
        self.carry = b""

    def feed(self, part: bytes, ended: bool) -> None:
        r = self.reader
        self.bytes += len(part)
        if self.bytes > r.max_line_bytes:
            raise r._over_bytes(self.number)
        text = self.carry + part if self.carry else part
        words = text.split()
        self.carry = b""
        if not ended and words and not text[-1:].isspace():  # the last token may go on in the next block
            self.carry = words.pop()
        self._add(words)
        if len(self.carry) > r.longest:  # whatever follows, no symbol is this long
            raise r.vocab.unknown_token(self.carry, r.where(self.number), cut=True)

    def _add(self, words: list[bytes]) -> None:
        r = self.reader
        self.length += len(words)
        if self.counts is not None:
            self.counts += _count(words, r, self.number)
            return
        if r.order and r.max_tokens is not None and self.length > r.max_tokens:
            raise r.too_long(self.number)
        try:
            self.ids.extend(map(r.index.__getitem__, words))
        except KeyError as exc:
            raise r.vocab.unknown_token(exc.args[0], r.where(self.number)) from None
        if not r.order and self.length > r.long_line:  # from now on only the counts
            self.counts = np.bincount(np.frombuffer(self.ids, dtype=np.int16),
                                      minlength=r.vocab.n_symbols).astype(np.int64)
            self.ids = None


def _count(words: list[bytes], r: LineReader, number: int) -> np.ndarray:
    """How many times each symbol occurs in `words` (n_symbols,); UserError at the first unknown token."""
    counts = np.zeros(r.vocab.n_symbols, dtype=np.int64)
    for word, n in Counter(words).items():
        i = r.index.get(word)
        if i is None:
            first = next(w for w in words if w not in r.index)
            raise r.vocab.unknown_token(first, r.where(number))
        counts[i] = n
    return counts
