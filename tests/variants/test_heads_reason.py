"""Pr2.4 (b), "Is R the same as with one head?": the worked solution and the grader give the reason for the key.

With heads of their own (`--difficulty harder`) the solution said only "The heads have different weights, so Z_1
and Z_2 differ; R = [Z_1 Z_2] multi_W_O has to be computed from both", even where multi_W_O is [W_O; 0] (one
harder variant in five), so that head 2 is multiplied by zeros and R *is* the one-head R: the reason contradicted
the key printed above it; and where R differs, neither the solution nor the grader's reason said where.

Oracle: the one-head and two-head R computed here with Fractions from the variant's spec (X = E's rows, argmax
attention with ties shared under the causal mask, Z = P V, R = Z W_O or [Z_1 Z_2] multi_W_O)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from dlexam.variants import make_variant
from dlexam.variants.model import Text


def mul(A, B):
    return [[sum(Fraction(a) * Fraction(B[k][j]) for k, a in enumerate(row)) for j in range(len(B[0]))] for row in A]


def head_z(X, W):
    Q = mul(X, W)  # W_Q = W_K = W_V
    Z = []
    for i in range(len(X)):
        scores = [sum(a * b for a, b in zip(Q[i], Q[j], strict=True)) for j in range(i + 1)]
        top = [j for j, s in enumerate(scores) if s == max(scores)]
        Z.append([sum(Q[j][c] for j in top) / len(top) for c in range(len(Q[0]))])
    return Z


def both_R(t):
    vocab = list(t.symbols) + [t.start, t.stop]
    X = [t.E[vocab.index(tok)] for tok in t.example]
    one = mul(head_z(X, t.head.W_Q), t.W_O)
    Zs = [head_z(X, h.W_Q) for h in t.multi_heads]
    multi = mul([sum((z[i] for z in Zs), []) for i in range(len(X))], t.multi_W_O)
    return one, multi


@pytest.mark.parametrize("seed", range(8))
def test_pr24_reason_says_why_r_is_or_is_not_the_same(seed):
    v = make_variant(seed, "harder", computed=False)
    one, multi = both_R(v.spec.transformer)
    q = v.question("Pr2.4")
    R = q.fields[0]
    reason = next(b.text for b in q.solution if isinstance(b, Text) and "multi_W_O" in b.text and "heads" in b.text)
    why = next(f for f in q.fields if f.name == "same").why
    if one == multi:
        assert "same as with one head" in reason and "R changes" not in reason, reason
        return
    assert "R changes" in reason and "same as with one head" not in reason, reason
    named = [(R.row_labels[i], R.col_labels[j], one[i][j], multi[i][j])
             for i in range(len(one)) for j in range(len(one[0])) if one[i][j] != multi[i][j]]
    cells = [f"row {r}, column {c}: {m} here, {o} with one head" for r, c, o, m in named]
    assert any(c in reason for c in cells), (reason, cells[:3])
    assert any(c in why for c in cells), (why, cells[:3])


def test_some_harder_variant_has_a_silent_second_head():
    """The case the old reason got wrong is among the seeds above: multi_W_O's second block is zero."""
    silent = []
    for seed in range(8):
        t = make_variant(seed, "harder", computed=False).spec.transformer
        d = t.d_head
        if all(x == 0 for row in t.multi_W_O[d:] for x in row):
            silent.append(seed)
            one, multi = both_R(t)
            assert one == multi
    assert silent
