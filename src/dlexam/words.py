"""Numbers said in words, for the texts the library returns (answers, findings, notes): one way of saying a count.
Standard library only, so the torch-free answers can say counts too."""

from __future__ import annotations


def counted(n: float, noun: str) -> str:
    """`n` `noun`s in words, the noun plural unless `n` is 1: counted(1, "seed") is "1 seed", counted(3, "seed")
    "3 seeds", counted(1330, "conflict") "1,330 conflicts" ("1 seed(s)" read badly)."""
    number = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{number} {noun}{'' if n == 1 else 's'}"
