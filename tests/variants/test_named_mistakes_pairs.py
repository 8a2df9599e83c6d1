"""Whole-answer mistakes the grader names since 2026-12-07 (`variants.mistakes.whole_mistake`): Pr2.4's R with its
columns in alphabetical order where R's columns are the model's dimensions in another order, and two mistakes at once
where the answer they give differs from the key's and from each mistake's alone: P without the causal mask and with
its ties broken, P without the mask and as softmax, S scaled by 1/sqrt(d_head) and masked. (The exam's S is Q K^T
unscaled, argmax attention: no answer of it asks for a 1/sqrt scale a student could leave out.)

Each wrong answer is built here by hand from the spec (Fraction products, argmax and the unit vectors of E by their
own loops, softmax by math.exp), never from the grader's or the variant's mistakes, for seeds of both difficulties,
and graded by the variant and by its saved key.json."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from .test_named_mistakes import SEEDS, graders, key, result, variant
from .test_named_mistakes_habits import argmax_causal, head_z, times
from .test_named_mistakes_slips import all_start, matrix, right


def near(A, B, tol: float = 0.02) -> bool:
    return all(abs(float(a) - float(b)) <= tol
               for ra, rb in zip(A, B, strict=True) for a, b in zip(ra, rb, strict=True))


def decimals(m) -> list[list[str]]:
    return [[f"{float(x):.4f}" for x in r] for r in m]


def softmax(S, T: float, causal: bool) -> list[list[float]]:
    out = []
    for i, row in enumerate(S):
        seen = len(row) if not causal else i + 1
        e = [math.exp((float(x) - max(float(y) for y in row[:seen])) / T) for x in row[:seen]]
        out.append([x / sum(e) for x in e] + [0.0] * (len(row) - seen))
    return out


def one_hot(S, pick, causal: bool) -> list[list[Fraction]]:
    """Each row's whole weight at the first (pick 0) or last (pick -1) of its largest scores."""
    out = []
    for i, row in enumerate(S):
        seen = row[:i + 1] if causal else row
        tied = [j for j, x in enumerate(seen) if x == max(seen)]
        out.append([Fraction(int(j == tied[pick])) for j in range(len(row))])
    return out


def unmasked(S) -> list[list[Fraction]]:
    return [[Fraction(1, row.count(max(row))) if x == max(row) else Fraction(0) for x in row] for row in S]


def zero_masked(S) -> list[list[Fraction]]:
    """The mask as a score of 0: each row's argmax over all positions, the hidden ones scoring 0."""
    n = len(S)
    return unmasked([[row[j] if j <= i else Fraction(0) for j in range(n)] for i, row in enumerate(S)])


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_p_without_the_mask_and_with_ties_broken_or_as_softmax_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    S, _ = head_z(t, t.head)
    P = argmax_causal(S)
    assert P == [list(r) for r in right(v, "Pr2.2.P")]
    singles = [unmasked(S), zero_masked(S), *(one_hot(S, k, True) for k in (0, -1))]
    named = 0
    for pick, word in ((0, "first"), (-1, "last")):
        both = one_hot(S, pick, False)
        if both in [P, *singles] or (pick == -1 and both == one_hot(S, 0, False)):
            continue
        for name, g in graders(seed, difficulty).items():
            r = result(g, key(v) | {"Pr2.2.P": matrix(both)}, "Pr2.2.P")
            assert all_start(r, "P computed without the causal mask and with ties broken: each row's weight given to "
                                f"the {word} of its largest scores over all positions"), (name, r.wrong[0])
            named += 1
    root = math.sqrt(t.d_head)
    soft = [softmax(S, T, True) for T in (root, 1.0)]
    for T, words in ((root, f"P computed with softmax(S/sqrt({t.d_head})) and without the causal mask"),
                     (1.0, "P computed with softmax(S) and without the causal mask")):
        both = softmax(S, T, False)
        if any(near(both, other) for other in [P, *singles, *soft]) or (T == 1.0 and near(both, softmax(S, root,
                                                                                                         False))):
            continue
        for name, g in graders(seed, difficulty).items():
            r = result(g, key(v) | {"Pr2.2.P": decimals(both)}, "Pr2.2.P")
            assert all_start(r, words), (name, r.wrong[0])
            named += 1
    if not named:
        pytest.skip("no pair gives a P of its own in this variant")


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_s_scaled_and_masked_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    S, _ = head_z(t, t.head)
    n = len(S)
    root = math.isqrt(t.d_head)
    exact = root * root == t.d_head
    scale = Fraction(1, root) if exact else 1 / math.sqrt(t.d_head)
    both = [[x * scale if j <= i else 0 for j, x in enumerate(row)] for i, row in enumerate(S)]
    masked = [[x if j <= i else 0 for j, x in enumerate(row)] for i, row in enumerate(S)]
    scaled = [[x * scale for x in row] for row in S]
    if any(near(both, other, 0 if exact else 0.02) for other in (S, masked, scaled)):
        pytest.skip("S scaled and masked is S, or one mistake's S alone")
    given = matrix(both) if exact else decimals(both)
    assert len(given) == n
    for name, g in graders(seed, difficulty).items():
        r = result(g, key(v) | {"Pr2.2.S": given}, "Pr2.2.S")
        assert all_start(r, "S scaled by 1/sqrt(d_head) and given with the causal mask applied"), (name, r.wrong[0])


@pytest.mark.parametrize(("seed", "difficulty"), [*SEEDS, (7, "standard"), (7, "harder")])
def test_r_with_its_columns_in_alphabetical_order_is_named(seed, difficulty):
    """R's column j is the symbol whose embedding is the unit vector e_j (variant 7: D, B, C, A); a student who heads
    them A, B, C, D writes the columns permuted."""
    v = variant(seed, difficulty)
    t = v.spec.transformer
    d = len(t.E[0])
    units = [[s for s, row in zip(t.symbols, t.E, strict=False)
              if list(row) == [int(k == j) for k in range(d)]] for j in range(d)]
    if not all(len(u) == 1 for u in units):
        pytest.skip("R's columns are not named by symbols in this variant")
    heads = [u[0] for u in units]
    zs = [head_z(t, h)[1] for h in t.multi_heads]
    R = times([[x for z in zs for x in z[i]] for i in range(len(t.example))], t.multi_W_O)
    assert R == [list(r) for r in right(v, "Pr2.4.R")]
    alphabetical = [[row[heads.index(s)] for s in sorted(heads)] for row in R]
    one = times(head_z(t, t.head)[1], t.W_O)
    swapped = times([[x for z in zs[::-1] for x in z[i]] for i in range(len(R))], t.multi_W_O)
    if heads == sorted(heads) or alphabetical in (R, one, swapped):
        pytest.skip("R's columns in alphabetical order are R itself, or another mistake's R")
    for name, g in graders(seed, difficulty).items():
        r = result(g, key(v) | {"Pr2.4.R": matrix(alphabetical)}, "Pr2.4.R")
        assert all_start(r, f"R's columns given in alphabetical order ({', '.join(sorted(heads))})"), (name, r.wrong[0])
