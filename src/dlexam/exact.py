"""Exact numbers for display: a float shown as the fraction it equals (3, 1/3, 9/7), else a decimal.

The exam's worked solution of Problem 2 is written in fractions (P has rows of 1/4 and 1/7, Z and
the logits have sevenths). Every view (the CLI, the report's heatmaps, the answer key, the web page)
labels numbers with :func:`format_exact`, so the same matrix reads the same everywhere.

A value counts as the fraction p/q when q <= MAX_DENOMINATOR and |x - p/q| <= REL_TOL * max(1, |x|):
float64 arithmetic on small fractions lands within a few ulps (~1e-15) of them, while an irrational
value (a softmax probability) lies that close to such a fraction about once in a million. Past 1 the tolerance
grows with |x| while fractions of denominators up to q lie about 1/q^2 apart, so the denominators allowed shrink
to MAX_DENOMINATOR / sqrt(|x|) (at least 1: integers stay exact at any size) and the chance stays one in a million:
until 2026-12-07 nearly every number near 1e6 was read as a fraction (/geoff's loss 1000005.1744 as 866004481/866).

Near 0 that tolerance is absolute (1e-12): it reads float noise such as the 6.9e-18 of 0.1 + 0.2 - 0.3 as the 0 it
stands for. A softmax weight, a probability or a gradient is no such noise: e^-90 (P at T = 0.1) and the gradient of
W_Q at T = 0.2 (-8.0e-19) are those numbers, and "0" would say argmax's exact 0, which they are not (Problem 2.5's
frozen W_Q). Their views pass ``keep_nonzero=True``: a non-zero float is then never the fraction 0.
"""

from __future__ import annotations

import math
from fractions import Fraction

from dlexam.spec.numbers import decimal_text

MAX_DENOMINATOR = 1000
REL_TOL = 1e-12


def exact_fraction(x: float, max_denominator: int = MAX_DENOMINATOR, rel_tol: float = REL_TOL, *,
                   keep_nonzero: bool = False) -> Fraction | None:
    """The fraction p/q (q <= max_denominator) that `x` equals within `rel_tol`, or None. `keep_nonzero`: a non-zero
    `x` is never the fraction 0 (a softmax weight, a probability, a gradient: see the module's note)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    # (the module's note) denominators up to q cover about 0.6 q^2 * 2 tol of each unit: one in a million at any size
    f = Fraction(x).limit_denominator(max(1, min(max_denominator, int(max_denominator / math.sqrt(max(1.0, abs(x)))))))
    if keep_nonzero and f == 0 and x != 0:
        return None
    return f if abs(float(f) - x) <= rel_tol * max(1.0, abs(x)) else None


def format_exact(x: float, decimals: int = 4, *, keep_nonzero: bool = False) -> str:
    """'3', '1/3', '-3/4', '9/7' where `x` is such a fraction, else the decimal rounded to `decimals` (a non-zero
    value too small for them in scientific notation, '-1.703e-7', never '-0.0000': :func:`decimal_text`);
    `keep_nonzero`: as :func:`exact_fraction`."""
    f = exact_fraction(x, keep_nonzero=keep_nonzero)
    if f is None:
        return decimal_text(x, decimals)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def fraction_rows(matrix, *, keep_nonzero: bool = False) -> list[list[str]]:
    """A 2-D matrix (tensor, array or nested lists) as rows of :func:`format_exact` strings."""
    rows = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    return [[format_exact(v, keep_nonzero=keep_nonzero) for v in row] for row in rows]


def attention_rows(P, S) -> list[list[str]]:
    """Causal attention weights at T > 0 as text, as the explanation of a cell writes them (dlexam.geoff.explain):
    a row whose visible scores are all equal as the fractions 1/k, any other row's weights as decimals, a tiny one
    never 0. By :func:`format_exact`'s tolerance P[A, A] = 0.99999999999990 (Version A at T = 0.3) read "1" and
    weights of 0.33333333333331 "1/3", in a row summing past 1. `P`, `S`: one head's weights and scores (rows of
    floats, a tensor or nested lists), or a list of heads."""
    P = P.tolist() if hasattr(P, "tolist") else P
    S = S.tolist() if hasattr(S, "tolist") else S
    if P and P[0] and isinstance(P[0][0], list):
        return [attention_rows(ph, sh) for ph, sh in zip(P, S, strict=True)]
    rows = []
    for i, (weights, scores) in enumerate(zip(P, S, strict=True)):
        tie = len(set(scores[: i + 1])) == 1  # causal: row i sees positions 0..i
        rows.append([format_exact(v, keep_nonzero=True) if tie or j > i else decimal_text(v)
                     for j, v in enumerate(weights)])
    return rows

