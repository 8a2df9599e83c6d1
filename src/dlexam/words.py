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


def case_fixed(text: str, symbols) -> str | None:
    """`text` with each word that is a symbol but for its case written as that symbol ("d a a" -> "D A A"), or None
    where some word is no symbol in any case, a case fits two symbols, or nothing needs fixing."""
    by_fold: dict[str, list[str]] = {}
    for sym in set(symbols):
        by_fold.setdefault(sym.casefold(), []).append(sym)
    words = text.split()
    if not words or len(words) > 64:
        return None
    out = []
    for w in words:
        same = by_fold.get(w.casefold(), [])
        if w not in same and len(same) != 1:
            return None
        out.append(w if w in same else same[0])
    return " ".join(out) if out != words else None


def sequence_advice(text: str, symbols, *, start: str | None = None) -> str | None:
    """What to write instead of a sequence refused for an unknown token, in the one wording of the command line and
    the web page; None where there is nothing to suggest:

    - a sorter's input (`start`: the <START> it decodes from) given as a training example, "D A A <START> A D
      <STOP>": "the sorter adds <START> ... type the input alone, D A A" (:func:`sorter_input`);
    - symbols in another case, "d a a": "symbols are case-sensitive: D A A" (:func:`case_fixed`);
    - symbols run together or written as a list, "DAA", "D, A, A": "separate tokens with spaces: D A A"
      (:func:`spaced`); never for a vocabulary of numbers, where "427" may be 42 7, 4 27 or a number past it."""
    if start is not None and (alone := sorter_input(text, start)) is not None:
        return alone
    if (cased := case_fixed(text, symbols)) is not None:
        return f"symbols are case-sensitive: {cased}"
    if any(sym.isdigit() for sym in symbols):
        return None
    fixed = spaced(text, symbols)
    return f"separate tokens with spaces: {fixed}" if fixed else None
