"""The sizes `dlexam sort evaluate` takes, checked without torch: a bad `--lengths` or `--samples` is refused
before torch loads (1.5 CPU-seconds) and before anything is drawn (:mod:`dlexam.sorting.evaluate` checks them again
for a caller of the library). Lengths 1 .. :data:`MAX_LENGTH`, at most :data:`SAMPLES` per length, and at most
:data:`MAX_TOKENS` input tokens in all (samples x the sum of the lengths)."""

from __future__ import annotations

from dlexam.bounds import MAX_LENGTH, MAX_TOKENS, SAMPLES
from dlexam.errors import UserError
from dlexam.limits import digits


def parse_lengths(text: str) -> list[int]:
    """'1-32' -> [1..32]; '3' -> [3]; '1-8,16,32' -> the union, sorted; each length 1 .. MAX_LENGTH
    (checked before a range is expanded), in ASCII digits (int() alone read '1_0' as 10 and '٣' as 3)."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if not all(digits(p.strip()) for p in part.split("-", 1)):
                raise ValueError
            lo, hi = (int(p) for p in part.split("-", 1)) if "-" in part else (int(part), int(part))
            if hi < lo:
                raise ValueError
            if lo < 1 or hi > MAX_LENGTH:
                raise UserError(f"bad lengths {text!r}: each length must be 1 .. {MAX_LENGTH}")
            out.update(range(lo, hi + 1))
    except ValueError:
        raise UserError(f"bad lengths {text!r}: use e.g. 1-32 or 1-8,16") from None
    return sorted(out)


def check_size(lengths: list[int], samples: int, text: str | None = None) -> int:
    """The number of input tokens `samples` sequences of each length hold; UserError above MAX_TOKENS."""
    SAMPLES.check("samples", samples)
    tokens = samples * sum(lengths)
    if tokens > MAX_TOKENS:
        raise UserError(f"lengths {text or lengths!r} with {samples:,} samples each are {tokens:,} input tokens; "
                        f"at most {MAX_TOKENS:,} (fewer samples or shorter lengths)")
    return tokens
