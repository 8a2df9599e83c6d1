"""The block reader of `dlexam sort`'s input (dlexam.sorting.lines): the same lines and tokens however the
blocks fall, long lines counted, caps, and the lines before a bad one handed on first.

The oracle is Python's own text handling: universal-newline line splitting (``io.StringIO`` with
``newline=None``) and ``bytes.split()`` for tokens."""

from __future__ import annotations

import io
import itertools
import random
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam.errors import UserError
from dlexam.sorting.lines import LineReader
from dlexam.sorting.vocab import Vocabulary

VOCAB = Vocabulary.from_spec("A-D")
INDEX = {"A": 0, "B": 1, "C": 2, "D": 3}


def oracle(text: str) -> tuple[list[list[int]], str | None]:
    """The lines' ids up to the first unknown token, and the error it gives (None: no error)."""
    out = []
    for number, line in enumerate(io.StringIO(text, newline=None), 1):  # universal newlines: \n, \r\n, \r
        words = line.split()
        unknown = [w for w in words if w not in INDEX]
        if unknown:
            return out, str(VOCAB.unknown_token(unknown[0].encode(), number))
        out.append([INDEX[w] for w in words])
    return out, None


def read_all(text: str | bytes, **kwargs) -> tuple[list, str | None]:
    """Every line the reader gives (its ids in order, or ("counts", counts) where only counts were kept),
    and the error it ends with (None: none)."""
    data = text.encode() if isinstance(text, str) else text
    out = []
    try:
        for chunk in LineReader(VOCAB, **kwargs).from_stream(io.BytesIO(data)):
            offsets, symbols = chunk.offsets(), chunk.symbols()
            for i, n in enumerate(chunk.lengths):
                if i in chunk.counts:
                    out.append(("counts", chunk.counts[i].tolist()))
                else:
                    out.append(symbols[offsets[i] : offsets[i] + n].tolist())
    except UserError as exc:
        return out, str(exc)
    return out, None


def read(text: str | bytes, **kwargs) -> list:
    lines, error = read_all(text, **kwargs)
    if error is not None:
        raise UserError(error)
    return lines


PIECES = ["A", "B", "C", "D", " ", " ", " ", "  ", "\t", "\n", "\n", "\r\n", "\r", "\x0b", "\x0c", "x"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60), st.integers(1, 9), st.integers(1, 4))
def test_any_blocks_give_the_lines_and_tokens_of_the_text(pieces, block, chunk_lines):
    """Also where the text holds unknown tokens ('AB', 'x'): the lines before the first come first. A token
    cut by the end of a block and already longer than every symbol is named by its start, with '...'."""
    text = "".join(pieces)
    got, error = read_all(text, block=block, chunk_lines=chunk_lines)
    want, want_error = oracle(text)
    assert got == want
    if error != want_error:
        shown = re.fullmatch(r"line (\d+): unknown token '(\w+)'\.\.\.: vocabulary A-D is A B C D", error)
        token = re.fullmatch(r"line (\d+): unknown token '(\w+)': .*", want_error)
        assert shown.group(1) == token.group(1) and token.group(2).startswith(shown.group(2)), (error, want_error)


def test_line_ends_and_whitespace_by_hand():
    assert read("D A A\nC B\n\nB B B\n") == [[3, 0, 0], [2, 1], [], [1, 1, 1]]
    assert read("D A A\r\nC B\rA", block=1) == [[3, 0, 0], [2, 1], [0]]  # the last line needs no newline
    assert read("") == [] and read("\n") == [[]] and read("  \t") == [[]]
    assert read("A\tB\x0bC\x0cD") == [[0, 1, 2, 3]]  # every ASCII whitespace separates tokens


@pytest.mark.parametrize("block", [1, 2, 3, 7, 1 << 20])
def test_a_long_line_of_an_order_blind_reading_keeps_only_its_counts(block):
    rng = random.Random(block)
    words = [rng.choice("ABCD") for _ in range(3000)]
    text = "B A\n" + " ".join(words) + "\nC\n"
    got = read(text, order=False, long_line=100, block=block)
    c = Counter(words)
    assert got == [[1, 0], ("counts", [c["A"], c["B"], c["C"], c["D"]]), [2]]
    assert read(text, order=True, block=block)[1] == [INDEX[w] for w in words]  # in order, for other models


def test_chunks_hold_at_most_their_lines_and_symbols():
    text = "".join("A B C\n" for _ in range(100))
    sizes = [len(c) for c in LineReader(VOCAB, chunk_lines=7).from_stream(io.BytesIO(text.encode()))]
    assert sizes == [7] * 14 + [2]
    chunks = list(LineReader(VOCAB, chunk_tokens=10).from_stream(io.BytesIO(text.encode())))
    assert all(len(c.flat) <= 12 for c in chunks) and sum(map(len, chunks)) == 100


@pytest.mark.parametrize("block", [2, 1 << 20])
def test_an_unknown_token_comes_after_the_lines_before_it(block):
    text = "A\nB\nC\nD\nE\nA\nB\n"
    reader = LineReader(VOCAB, block=block, chunk_lines=3)
    got, chunks = [], reader.from_stream(io.BytesIO(text.encode()))
    with pytest.raises(UserError, match=r"^line 5: unknown token 'E': vocabulary A-D is A B C D$"):
        for chunk in chunks:
            got += list(chunk.lengths)
    assert got == [1, 1, 1, 1]  # lines 1-4, in two chunks: none lost


def test_an_endless_line_without_whitespace_stops_at_its_first_block():
    class Zeros(io.RawIOBase):  # /dev/zero
        reads = 0

        def readable(self):
            return True

        def readinto(self, b):
            self.reads += 1
            b[:] = bytes(len(b))
            return len(b)

    zeros = Zeros()
    with pytest.raises(UserError, match=r"^line 1: unknown token '(\\x00){20}'\.\.\.: vocabulary A-D"):
        list(LineReader(VOCAB, block=4096).from_stream(io.BufferedReader(zeros)))
    assert zeros.reads <= 2


def test_a_token_cut_by_the_block_end_is_refused_once_longer_than_any_symbol():
    vocab = Vocabulary.from_spec("2000")  # symbols of up to 4 characters
    with pytest.raises(UserError, match="line 2: unknown token '12345'"):
        list(LineReader(vocab, block=3).from_stream(io.BytesIO(b"5 17\n1999 12345 7\n")))
    got = list(LineReader(vocab, block=3).from_stream(io.BytesIO(b"5 17\n1999 1234 7\n")))
    assert got[0].symbols().tolist() == [5, 17, 1999, 1234, 7]


def test_line_caps():
    endless_blanks = b"A" + b" " * 5000
    with pytest.raises(UserError, match=r"^line 2 is longer than 1,000 bytes, the most a line may hold$"):
        read(b"B\n" + endless_blanks, max_line_bytes=1000, block=64)
    with pytest.raises(UserError, match=r"^line 2 holds more than 5 symbols, the most this model reads in one line"):
        read("A\nA B C D A B\n", order=True, max_tokens=5)
    with pytest.raises(UserError, match="^line 1 holds more than 5 symbols"):
        read("A B C D A B C\n", order=True, max_tokens=5, block=2)
    assert read("A B C D A\n", order=True, max_tokens=5) == [[0, 1, 2, 3, 0]]


def test_texts_are_one_line_each_and_ids_are_checked():
    reader = LineReader(VOCAB, numbered=False)
    chunks = list(reader.from_texts(["D A\nA", "", "C"]))
    assert [c.symbols().tolist() for c in chunks] == [[3, 0, 0, 2]] and list(chunks[0].lengths) == [3, 0, 1]
    with pytest.raises(UserError, match="^unknown token 'x'"):
        list(reader.from_texts(["A x"]))
    with pytest.raises(UserError, match="holds 4, not a symbol id"):
        list(LineReader(VOCAB).from_ids([[0, 4]]))


def test_a_whole_input_of_random_lines_in_small_blocks():
    rng = random.Random(3)
    lines = [[rng.choice("ABCD") for _ in range(rng.choice([0, 1, 5, 40, 300]))] for _ in range(500)]
    text = "".join(" ".join(x) + rng.choice(["\n", "\r\n"]) for x in lines)
    for block, long_line in itertools.product((5, 64, 4096), (50, 1 << 16)):
        got = read(text, block=block, order=False, long_line=long_line)
        want = [("counts", np.bincount([INDEX[w] for w in x], minlength=4).tolist()) if len(x) > long_line
                else [INDEX[w] for w in x] for x in lines]
        assert got == want


@pytest.mark.parametrize("char", ["\U0001f600", "\u00e9", "x"])
def test_an_unknown_token_cut_for_showing_says_more_follows(char):
    """At most 20 characters are shown, with "..." where the token goes on. 21 four-byte characters were
    shown as the first 20 with no "...", just as 20 are (the 80 bytes decoded held exactly 20 characters)."""
    for n in (19, 20, 21, 40):
        token = char * n
        _, error = read_all(f"A\n{token}\n")
        shown = error.split("unknown token ", 1)[1].split(": vocabulary")[0]
        assert shown == repr(token[:20]) + ("..." if n > 20 else ""), (n, shown)
        assert str(VOCAB.unknown_token(token.encode(), 2)) == error


@pytest.mark.parametrize("block", [1, 2, 3, 4, 7, 1 << 20])
@pytest.mark.parametrize("text", ["D A C\nB B\n", "A", "", "\n", "  C\r\nD"])
def test_a_byte_order_mark_opening_the_stream_is_skipped_as_utf_8_sig_decoding_skips_it(text, block):
    """A file saved by Notepad or PowerShell starts with UTF-8's byte-order mark: the first token read
    '\\ufeffD', unknown, and the file was refused. The oracle is Python's utf-8-sig codec; the mark may come a
    byte at a time. A mark anywhere else is no whitespace: the token holding it is unknown."""
    data = b"\xef\xbb\xbf" + text.encode()
    assert read_all(data, block=block) == oracle(data.decode("utf-8-sig"))
    lines, error = read_all("B\n\ufeffA\n".encode(), block=block)
    assert lines == [[1]] and error.startswith("line 2: unknown token '")  # cut by a small block: its start, '...'
    if block > 4:
        assert error == str(VOCAB.unknown_token("\ufeffA".encode(), 2))
