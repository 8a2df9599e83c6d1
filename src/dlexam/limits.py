"""Checks of the numbers a user gives (flags, configs, checkpoint files), each one clear line.

A setting outside its range is refused before any work, with a message that names the parameter:
no flag is silently replaced by a default, and no NaN, infinity or absurd size reaches a model.
"""

from __future__ import annotations

import math
from typing import Any

from dlexam.errors import UserError


def whole(name: str, value: Any, lo: int, hi: int, *, optional: bool = False) -> int | None:
    """`value` as a whole number in [lo, hi] (None allowed when `optional`); UserError otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserError(f"{name} must be a whole number from {lo} to {hi:,}, got {value!r}")
    return value


def number(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
           optional: bool = False) -> float | None:
    """`value` as a finite number in the interval [lo, hi] (ends open where asked); UserError otherwise."""
    if value is None and optional:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (lo < value if lo_open else lo <= value) and (value < hi if hi_open else value <= hi)
    if not ok:
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise UserError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def choice(name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        raise UserError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value
