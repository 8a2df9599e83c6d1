"""Exact numbers and sizes for the spec: fractions, matrices, (rows, columns) pairs, the output-size formula."""

from __future__ import annotations

import math
from dataclasses import fields
from decimal import Decimal
from fractions import Fraction
from typing import Any

Matrix = tuple[tuple[Fraction, ...], ...]
Pair = tuple[int, int]  # (rows, columns), as the exam writes sizes: 3x5 is (3, 5)


class SpecError(ValueError):
    """A spec that describes no well-formed exam (a non-rectangular matrix, a layer that does not fit)."""


# ---- numbers ------------------------------------------------------------------------------------

def number(value: Any) -> Fraction:
    """An exact number from an int, a Fraction or a string ("3", "-1/4", "0.25"); floats and bools are refused
    (a float is rarely the number that was meant: write "1/10", not 0.1)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise SpecError(f"spec numbers are exact: give {value!r} as an int or a fraction string")
    if isinstance(value, Fraction | int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise SpecError(f"not an exact number: {value!r}") from None
    raise SpecError(f"not an exact number: {value!r}")


def matrix(rows: Any, name: str = "matrix") -> Matrix:
    """A rectangular matrix of exact numbers from nested sequences."""
    if not isinstance(rows, list | tuple) or not rows or not all(isinstance(r, list | tuple) for r in rows):
        raise SpecError(f"{name} must be a non-empty list of rows")
    width = len(rows[0])
    if width == 0 or any(len(r) != width for r in rows):
        raise SpecError(f"{name} must be rectangular (rows of equal, non-zero length)")
    return tuple(tuple(number(v) for v in r) for r in rows)


def identity(n: int) -> Matrix:
    return tuple(tuple(Fraction(int(i == j)) for j in range(n)) for i in range(n))


def shape(m: Matrix) -> Pair:
    return len(m), len(m[0])


def text(x: Fraction) -> str:
    """A fraction as the spec's JSON writes it: '3', '-1/4'."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


BIG = 1e15  # from here on decimal_text writes a float in scientific notation (2^53, about 9.007e15, is float64's last
# whole number with every whole number below it)


def decimal_text(x: float, decimals: int = 4) -> str:
    """A float rounded to `decimals` places ("1.2346"); a non-zero float too small for them in scientific notation
    with `decimals` significant digits ("-1.703e-7", not "-0.0000", which hides both its size and that it is not 0:
    a gradient at T = 0.5 is tiny, at T = 0 it is 0); zero without a sign ("0.0000", never "-0.0000"); a float of
    size 1e15 and more, whose digits float64 no longer holds to the units, in scientific notation too ("9.000e300",
    not the 301 digits of the binary float's expansion that /geoff's explanation showed at T = 1e-300 until
    2026-12-07)."""
    x = float(x)
    if x == 0:
        return f"{0.0:.{decimals}f}"  # -0.0 too
    rounded = f"{x:.{decimals}f}"
    if not math.isfinite(x) or (float(rounded) != 0 and abs(x) < BIG):
        return rounded
    mantissa, exponent = f"{x:.{max(decimals - 1, 0)}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def shortest_text(x: float) -> str:
    """`x` as the web page writes a number it was given (JavaScript's String(x)): the shortest decimal that reads back
    as x, in positional notation from 1e-6 to below 1e21 and in exponent notation beyond (1e-9, 0.30000000000000004,
    1000000, 2.5e+21), as the page's own captions write it. Python's repr writes 1e-09 and 1e+16, and format ":g"
    rounds to 6 digits (/geoff's explanation of P at T = 0.30000000000000004 said "T = 0.3", another number)."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else repr(x)
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    n = len(ds) + exponent  # x = 0.ds x 10^n
    if len(ds) <= n <= 21:
        out = ds + "0" * (n - len(ds))
    elif 0 < n <= 21:
        out = f"{ds[:n]}.{ds[n:]}"
    elif -6 < n <= 0:
        out = "0." + "0" * -n + ds
    else:
        out = ds[0] + (f".{ds[1:]}" if len(ds) > 1 else "") + f"e{n - 1:+d}"
    return ("-" if sign else "") + out


def matrix_text(m: Matrix) -> list[list[str]]:
    return [[text(v) for v in r] for r in m]


def pair(value: Any, name: str) -> Pair:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (int(value[0]), int(value[1]))
    raise SpecError(f"{name} must be a whole number or a pair of whole numbers, got {value!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """(N + 2 P - F) / S + 1, the formula of the exam's solutions to P1.4 and Problem 1.3 (floor division,
    as PyTorch rounds; :func:`divides_evenly` tells whether the stride fits exactly)."""
    return (size + 2 * padding - kernel) // stride + 1


def divides_evenly(size: int, kernel: int, stride: int = 1, padding: int = 0) -> bool:
    """Whether (N + 2 P - F) / S is a whole number, so no row or column of the input is left out."""
    return (size + 2 * padding - kernel) % stride == 0


def to_plain(x: Any) -> Any:
    if isinstance(x, Fraction):
        return text(x)
    if hasattr(x, "__dataclass_fields__"):
        return {f.name: to_plain(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, tuple | list):
        return [to_plain(v) for v in x]
    return x


def pair_text(p: Pair) -> str:
    """A (rows, columns) size as the exam writes it: '4' when both are 4, else '(1, 3)'."""
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"
