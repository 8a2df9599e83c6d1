"""Problem 2.1: what a one-layer causal decoder without positional encodings can tell apart.

At a position after <START>, such a model sees only its query token (the token at that position) and the
prefix as a bag: its keys and values are the prefix's tokens with no positions, and attention's weights and
averages do not depend on their order. So positional encodings can be left out without loss exactly when
the correct next token is a function of (the bag of the prefix, the last token) for every input and every
point of its target. :func:`bag_determines_next_token` checks that exhaustively for a task
(:data:`dlexam.spec.TASKS`), and names the first two prefixes that such a model cannot tell apart where there
are any. Plain Python: the variants' torch-free generator computes Pr2.1's key with it.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter

from dlexam.spec import TASKS, VERSION_A

_A = VERSION_A.transformer  # the defaults: Version A's task, symbols and tokens


def bag_determines_next_token(task: str = _A.task, symbols: tuple[str, ...] = _A.symbols,
                              max_len: int = 5, with_last_token: bool = True, start: str = _A.start,
                              stop: str = _A.stop) -> dict:
    """Is the correct next token of `task` a function of (multiset of the prefix, last token) alone?

    Checked over every input of length 1..max_len over `symbols` and every prefix of its target followed by
    <STOP>. `conflict` is the first pair of prefixes (shortest inputs first) with the same bag and last token
    but different next tokens, as {"prefixes": (p1, p2), "next": (t1, t2)}; None where there is none.
    A check is computed once per process (a variant's questions are built for every draw).
    """
    return dict(_bag_check(task, tuple(symbols), max_len, with_last_token, start, stop))


@functools.lru_cache(maxsize=64)
def _bag_check(task: str, symbols: tuple[str, ...], max_len: int, with_last_token: bool, start: str,
               stop: str) -> dict:
    target = TASKS[task].target
    seen: dict = {}
    conflicts = prefixes = 0
    conflict = None
    for n in range(1, max_len + 1):
        for given in itertools.product(symbols, repeat=n):
            out = [*target(given), stop]
            for k in range(len(out)):
                prefix = (*given, start, *out[:k])
                key = (frozenset(Counter(prefix).items()), prefix[-1] if with_last_token else None)
                prefixes += 1
                first = seen.setdefault(key, (prefix, out[k]))
                if first[1] != out[k]:
                    conflicts += 1
                    if conflict is None:
                        conflict = {"prefixes": (first[0], prefix), "next": (first[1], out[k])}
    return {"task": task, "max_len": max_len, "prefixes": prefixes, "distinct_(bag, last token)": len(seen),
            "conflicts": conflicts, "conflict": conflict}


def order_counterexample(task: str, given: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """An order of `given`'s symbols whose target differs from `given`'s own, with that target, preferring one whose
    target differs from the first token on; None where every order of `given` has the same target."""
    target = TASKS[task].target
    want = target(given)
    others = [(o, target(o)) for o in sorted(set(itertools.permutations(given))) if target(o) != want]
    return min(others, key=lambda pair: first_difference(want, pair[1]), default=None)


def first_difference(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The first position where the targets `a` and `b` differ (followed by <STOP>, a prefix differs at its end)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
