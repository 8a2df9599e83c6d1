"""dlexam.exact: a float is shown as a fraction only where it is one, at any size."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from dlexam.exact import exact_fraction, format_exact


def test_a_large_number_is_no_fraction_by_coincidence():
    """/geoff with W_V[A, d2] = 1e6 (the weights' cap) showed its loss, 1000005.17436449..., as "866004481/866":
    the tolerance grows with the number (1e-12 of it) while fractions of denominators up to 1000 lie about 1e-6
    apart, so near 1e6 nearly every number was within it of one. The denominators allowed shrink with the size, so
    a number that is no fraction reads as one about once in a million at any size (the module's note): here, none
    of 3,000 random numbers between 1 and 1e9 (drawn on a log scale; a random float is no fraction of a small
    denominator), and the loss as its decimal (torch's float64 value: tests/serve, test_demanding_learner)."""
    assert exact_fraction(1000005.1743644982) is None
    assert format_exact(1000005.1743644982) == "1000005.1744"
    rng = random.Random(0)
    misread = [x for x in (10 ** rng.uniform(0, 9) for _ in range(3000)) if exact_fraction(x) is not None]
    assert misread == [], misread[:5]


def test_fractions_of_any_size_whose_denominator_size_allows_are_still_fractions():
    """What the exam's worked solution prints stays exact (9/7, 1/7, 3/4), as do integers of any size, and sevenths
    of numbers in the hundreds (denominators up to 1000 / sqrt(|x|): 48 at 428)."""
    for f in (Fraction(9, 7), Fraction(1, 7), Fraction(-3, 4), Fraction(999, 1000), Fraction(3_000_000),
              Fraction(-3_000_001), Fraction(3001, 7), Fraction(-1, 999), Fraction(12345, 48)):
        assert exact_fraction(float(f)) == f, f
    assert exact_fraction(math.pi * 1e4) is None and exact_fraction(math.e) is None


def test_a_number_past_float64s_whole_digits_is_written_in_scientific_notation():
    """/geoff at T = 1e-300 explained P[1,1] with e^(8999999999999999877736078905726557...776.0000): 301 digits, of
    which all but the first 16 are the binary float's expansion, not the number 9e300 (the score 9 over T). A number
    of size 1e15 and more, whose digits float64 no longer holds to the units (2^53 is about 9.007e15), is written
    with 4 significant digits, as a tiny one is ("5.977e-7"): "9.000e300". Smaller ones keep their 4 decimals."""
    from dlexam.spec.numbers import decimal_text

    assert decimal_text(9 / 1e-300) == "9.000e300" and decimal_text(-3.7e20) == "-3.700e20"
    assert float(decimal_text(9 / 1e-300)) == 9e300
    assert decimal_text(1e15) == "1.000e15" and decimal_text(999999999999999.9) == "999999999999999.8750"
    assert decimal_text(-3709143096.49497) == "-3709143096.4950" and decimal_text(5.977e-7) == "5.977e-7"
    assert decimal_text(float("inf")) == "inf"


# JavaScript's String(x) for each, as node 18 printed them (2026-12-07): the page's captions write T this way
JS_STRINGS = [(1e-9, "1e-9"), (0.30000000000000004, "0.30000000000000004"), (1e6, "1000000"), (2.0, "2"), (0.5, "0.5"),
              (1.4142135623730951, "1.4142135623730951"), (1e21, "1e+21"), (2.5e21, "2.5e+21"), (1e-6, "0.000001"),
              (1e-7, "1e-7"), (-1e-300, "-1e-300"), (1e300, "1e+300"), (1e16, "10000000000000000"), (0.0, "0")]


@pytest.mark.parametrize("x, js", JS_STRINGS)
def test_shortest_text_writes_a_number_as_the_page_does(x, js):
    """/geoff's explanation of P said "T = 1e-09" (Python's repr) where the page's caption says 1e-9, and ":g" wrote
    T = 0.30000000000000004 as 0.3, another number."""
    from dlexam.spec.numbers import shortest_text

    assert shortest_text(x) == js and float(shortest_text(x)) == x
