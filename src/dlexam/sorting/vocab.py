"""Vocabularies of the sorting task (Problem 2): symbols, then <START> and <STOP>.

A training or decoding sequence follows the exam's convention ``input <START> output <STOP>``,
e.g. ``D A A <START> A D <STOP>``. Token ids: the symbols are 0 .. n_symbols-1 in the
vocabulary's order (which is also the sort order), then START = n_symbols, STOP = n_symbols + 1;
so the exam's vocabulary {A, B, C, D, <START>, <STOP>} has exactly the exam's row order of E.
There is no <PAD> token: batches mark padding with a boolean mask instead, and the padded slots
hold STOP (never attended to).

Specs a user types (``--vocab``): ``A-D`` (the exam's, default), ``A-Z`` or any letter range
``X-Y``, or an integer N meaning the symbols "0" .. "N-1" written in decimal.

Text is split into tokens at ASCII whitespace (space, tab, newline, carriage return, vertical tab,
form feed), as bytes: :meth:`Vocabulary.parse` and the stream reader of `dlexam sort`
(:mod:`dlexam.sorting.lines`) split the same way and name an unknown token the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dlexam.errors import UserError
from dlexam.spec import VERSION_A

_A = VERSION_A.transformer
START_TEXT = _A.start  # "<START>"
STOP_TEXT = _A.stop  # "<STOP>"
EXAM_VOCAB = f"{_A.symbols[0]}-{_A.symbols[-1]}"  # "A-D": the exam's symbols as a --vocab spec, the default
MAX_SYMBOLS = 2000  # the one-hot models hold (N + 2)^2 weights per matrix
UNKNOWN_SHOWN = 20  # characters of an unknown token an error shows


@dataclass(frozen=True)
class Vocabulary:
    """Symbols in sort order, plus <START> and <STOP>. Build one with :meth:`from_spec`."""

    spec: str
    symbols: tuple[str, ...]

    @classmethod
    def from_spec(cls, spec: str | int = EXAM_VOCAB) -> Vocabulary:
        s = str(spec).strip()
        m = re.fullmatch(r"([A-Za-z])-([A-Za-z])", s)
        if m:
            lo, hi = m.group(1), m.group(2)
            if lo.isupper() != hi.isupper() or ord(hi) < ord(lo):
                raise UserError(f"bad vocabulary {s!r}: a letter range goes up in one case, like A-D or a-z")
            return cls(s, tuple(chr(c) for c in range(ord(lo), ord(hi) + 1)))
        if re.fullmatch(r"[0-9]+", s):
            n = int(s)
            if not 1 <= n <= MAX_SYMBOLS:
                raise UserError(f"bad vocabulary {s!r}: the number of symbols must be 1 .. {MAX_SYMBOLS}")
            return cls(s, tuple(str(i) for i in range(n)))
        raise UserError(f"bad vocabulary {s!r}: use a letter range like A-D or A-Z, or a number of symbols N")

    # ---- sizes and special ids ------------------------------------------------------------------
    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def size(self) -> int:
        """Number of token ids: the symbols, <START> and <STOP>."""
        return len(self.symbols) + 2

    @property
    def start(self) -> int:
        return len(self.symbols)

    @property
    def stop(self) -> int:
        return len(self.symbols) + 1

    def token_text(self, i: int) -> str:
        if i == self.start:
            return START_TEXT
        if i == self.stop:
            return STOP_TEXT
        return self.symbols[i]

    # ---- text <-> ids ---------------------------------------------------------------------------
    def byte_index(self) -> dict[bytes, int]:
        """Each symbol's UTF-8 bytes -> its id (what the tokenizers look tokens up in)."""
        # Cached on the frozen instance (cheap to rebuild, but it is used per line).
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {s.encode(): i for i, s in enumerate(self.symbols)}
            object.__setattr__(self, "_idx", idx)
        return idx

    def parse(self, text: str | bytes, *, line: int | None = None) -> list[int]:
        """Symbols separated by ASCII whitespace -> ids. An unknown token raises UserError naming it (and `line`)."""
        words = (text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape")).split()
        try:
            return list(map(self.byte_index().__getitem__, words))  # the fast path: every token known
        except KeyError as exc:
            raise self.unknown_token(exc.args[0], line) from None

    def unknown_token(self, token: bytes, line: int | None = None, *, cut: bool = False) -> UserError:
        """The error for a token not in the vocabulary, shown as text (at most UNKNOWN_SHOWN characters;
        "..." where more follows, or where `cut`: the token's start, known to be no symbol already)."""
        where = f"line {line}: " if line is not None else ""
        # a byte that is not UTF-8 stays one character (a surrogate, as Python reads the command line): repr shows it
        # once, the command line as \xff (backslashreplace made it the text \xff, which repr showed as \\xff)
        text = token[: 4 * UNKNOWN_SHOWN].decode("utf-8", "surrogateescape")
        # more follows where the characters shown are not the whole token: 20 four-byte characters are the
        # 80 bytes decoded, so a longer token is cut there too (before, 21 emoji were shown as 20, no "...")
        more = cut or len(text) > UNKNOWN_SHOWN or len(token) > 4 * UNKNOWN_SHOWN
        shown = repr(text[:UNKNOWN_SHOWN]) + ("..." if more else "")
        return UserError(f"{where}unknown token {shown}: vocabulary {self.spec} {self.spelled()}")

    def format(self, ids: Iterable[int]) -> str:
        texts = self.__dict__.get("_texts")
        if texts is None:
            texts = (*self.symbols, START_TEXT, STOP_TEXT)
            object.__setattr__(self, "_texts", texts)
        return " ".join(map(texts.__getitem__, ids))

    def spelled(self) -> str:
        """What the vocabulary is, after its name: "is A B C D" for letters; for a number N, whose name is no symbol of
        it, the symbols said as symbols: "has one symbol, 0", "has 12 symbols, 0 1 ... 11" (it said "vocabulary 1 is
        0")."""
        if self.spec.isdigit():
            count = "one symbol" if self.n_symbols == 1 else f"{self.n_symbols} symbols"
            return f"has {count}, {self.describe()}"
        return f"is {self.describe()}"

    def describe(self) -> str:
        s = self.symbols
        return " ".join(s) if len(s) <= 6 else f"{s[0]} {s[1]} ... {s[-1]}"

    @staticmethod
    def target(ids: Sequence[int]) -> list[int]:
        """The task's answer: the distinct symbols in vocabulary order, i.e. sorted(set(ids))."""
        return sorted(set(ids))
