"""Argument types shared by the command groups: library parsers used as argparse `type=` functions.

The library's parsers raise errors that name the parameter ("temperature must be ..."); wrapped by
:func:`library_type`, argparse reports them with the flag in front ("argument --temperature:
temperature must be ..."), as one line with exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from dlexam.errors import UserError


def library_type(parse: Callable[[str], Any], name: str | None = None) -> Callable[[str], Any]:
    """`parse` as an argparse type: its UserError becomes argparse's one-line usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name or parse.__name__
    return convert


def temperature(text: str):
    """--temperature: 0 (argmax), a number T > 0, or 'sqrt' (imported lazily: no torch for --help)."""
    from dlexam.attention import parse_temperature

    return library_type(parse_temperature)(text)
