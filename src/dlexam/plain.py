"""Plain data for JSON: what the project prints with --json and writes into .json files.

:func:`plain` turns tensors, arrays, numpy scalars, tuples and paths into lists, numbers and strings,
and every NaN or infinity into None; :func:`dumps` then writes strict JSON (``allow_nan=False``), so
no JSON the project writes ever holds ``NaN`` or ``Infinity``, which strict parsers reject.
:func:`loads` reads JSON a user hands in (a submission, a key.json, a folder's file record).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

# orjson refuses these (json would too, or would write them its own way) instead of writing them itself
_STRICT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def plain(x: Any) -> Any:
    """`x` with every value JSON can hold as it is, and None for NaN and infinities."""
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if hasattr(x, "detach") and hasattr(x, "tolist"):  # a torch tensor
        return plain(x.detach().cpu().tolist())
    if hasattr(x, "tolist") and not isinstance(x, str | bytes):  # a numpy array or scalar
        return plain(x.tolist())
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Path):
        return text(str(x))
    if isinstance(x, str) and _has_surrogate(x):
        return text(x)
    return x


def text(s: str) -> str:
    """`s` as text every JSON parser reads: a file name that is not UTF-8 (Python holds its bytes as lone
    surrogates, `caf\udce9.png`, which strict parsers such as orjson, jq or a browser's refuse) written with its
    bytes escaped as `ls -b` shows them (`caf\\xe9.png`); any other text as it is."""
    if not _has_surrogate(s):
        return s
    try:
        raw = s.encode("utf-8", "surrogateescape")  # a name's undecodable bytes, back as bytes
    except UnicodeEncodeError:  # a surrogate that stands for no byte
        return s.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def printable(s: str) -> str:
    """`s` (a file name) as it can stand on one line of text output: :func:`text`'s reading, with each character that
    is not printable (a newline, a tab, an escape) written as Python escapes it (`a\\nb.png`), so a line per image
    stays one line per image."""
    s = text(s)
    return s if s.isprintable() else "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                                             for c in s)


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_LONE_SURROGATE = re.compile(r"(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}|\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f])")


def dumps(x: Any, indent: int | None = None, **kwargs) -> str:
    """Strict JSON text of plain(x).

    Data that is plain already with every number finite (the common case) is written as it is, without
    walking it through :func:`plain` first, which costs more than the writing on large answers (the web
    page's Geoff answers); anything json refuses (a NaN, a tensor, a path) takes the walk.

    Compact JSON (no `indent`, no other option) is written by orjson, ten times faster than json on
    answers full of floats (36 vs 365 us for a Geoff answer), with the same values: each float as the
    shortest text that reads back as the same float (``1e-5`` where json writes ``1e-05``), no spaces
    after separators (json's fallback is given the same separators). A NaN or infinity is null either
    way (orjson writes null; json refuses, and plain() makes it None). What orjson would write
    differently takes the json path: non-ASCII text (json escapes it), and whatever orjson refuses
    (tensors, paths, integers beyond 64 bits, non-string keys, subclasses of str/int/dict/list,
    dataclasses and datetimes).
    """
    utf8 = False
    if indent is None and not kwargs:
        kwargs = {"separators": (",", ":")}  # json's compact text as orjson writes it: no space after , or :
        try:
            out = orjson.dumps(x, option=_STRICT)
        except TypeError:  # orjson.JSONEncodeError
            pass
        else:
            if out.isascii():
                return out.decode("ascii")
            utf8 = True  # orjson wrote it: every text in it is UTF-8 already
    try:
        out = json.dumps(x, indent=indent, allow_nan=False, **kwargs)
    except (ValueError, TypeError):
        return json.dumps(plain(x), indent=indent, allow_nan=False, **kwargs)
    if not utf8 and _lone_surrogate(out):  # a file name that is not UTF-8: written as plain.text writes it
        return json.dumps(plain(x), indent=indent, allow_nan=False, **kwargs)
    return out


def _lone_surrogate(out: str) -> bool:
    """Whether json's text `out` holds a surrogate that no other completes: escaped (`\\udce9`, json's default) or
    as it is (ensure_ascii=False). A scan for `\\ud` first, so that text without one costs no pattern search."""
    if "\\ud" in out and _LONE_SURROGATE.search(out):
        return True
    return not out.isascii() and _has_surrogate(out)


def given_twice(names: Iterable[str]) -> str | None:
    """The first name that `names` holds a second time (a JSON object's keys, a query string's fields), else None."""
    seen: set[str] = set()
    return next((n for n in names if n in seen or seen.add(n)), None)


def _once(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        raise ValueError(f"the key {given_twice(k for k, _ in pairs)[:60]!r} is given twice in one object")
    return obj


def loads(text: str | bytes, parse_float=None) -> Any:
    """JSON a user hands in, parsed; every way it can fail is a ValueError whose message is one plain reason.
    `parse_float`, as json.loads takes it, reads each number with a point or an exponent (float by default).

    json.loads alone lets nesting thousands of levels deep out as a RecursionError, words a number of more
    than 4,300 digits as advice about ``sys.set_int_max_str_digits``, and keeps the last value of a key given twice
    without a word (an answer sheet with "P1.1.choice" twice was graded on the second): that is refused here."""
    try:
        return json.loads(text, object_pairs_hook=_once, parse_float=parse_float)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise ValueError(f"a whole number of more than {sys.get_int_max_str_digits():,} digits") from None
        raise
