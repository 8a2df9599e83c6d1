"""Numbers said in words, for the texts the library returns (answers, findings, notes): one way of saying a count;
and how to write a sequence whose tokens were run together (:func:`spaced`, for the page's and the command's
refusals). Standard library only, so the torch-free answers can say counts too."""

from __future__ import annotations


def counted(n: float, noun: str) -> str:
    """`n` `noun`s in words, the noun plural unless `n` is 1: counted(1, "seed") is "1 seed", counted(3, "seed")
    "3 seeds", counted(1330, "conflict") "1,330 conflicts" ("1 seed(s)" read badly)."""
    number = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{number} {noun}{'' if n == 1 else 's'}"


def mean_of(n: int, noun: str, mean: str = "mean of") -> str:
    """What a number averaged over `n` runs is, in words: mean_of(3, "seed") is "mean of 3 seeds", but
    mean_of(1, "seed") just "1 seed" (a quick run with one seed had said "mean of 1 seed"). `mean` is the words
    before the count where there are several ("the mean of", "means over")."""
    return counted(n, noun) if n == 1 else f"{mean} {counted(n, noun)}"


def spaced(text: str, symbols) -> str | None:
    """`text` with every word that runs known symbols together split into them ("DAA C" -> "D A A C"), and commas
    between tokens made spaces ("D, A, A" -> "D A A"), or None when some word is no run of symbols or nothing needs
    splitting. Longest symbols first (<START> before <)."""
    known = sorted(set(symbols), key=len, reverse=True)

    def split(word: str) -> list[str] | None:
        if not word:
            return []
        for sym in known:
            if word.startswith(sym) and (rest := split(word[len(sym):])) is not None:
                return [sym, *rest]
        return None

    words = text.split()
    if len(words) > 64 or any(len(w) > 64 for w in words):
        return None
    # tokens separated by commas, as a list is written ("D, A, A"; "D,A,A"): where no symbol holds a comma
    pieces = words if any("," in sym for sym in known) else text.replace(",", " ").split()
    out = []
    for w in pieces:
        parts = [w] if w in known else split(w)
        if parts is None:
            return None
        out += parts
    return " ".join(out) if out != words else None


def sorter_input(text: str, start: str) -> str | None:
    """What to type instead where a sorter's input is given as a training example, `start` and what follows it too
    ("D A A <START> A D <STOP>", /geoff's sequence): the sorter decodes from its own `start`, so the input is the
    symbols before it. None where `text` has no `start` token."""
    words = text.split()
    if start not in words:
        return None
    before = " ".join(words[:words.index(start)]) or f"the symbols before {start}"
    return f"the sorter adds {start} and decodes the rest itself: type the input alone, {before}"
