"""The command line's text-table printer (the HTML report has its own, :mod:`dlexam.report.page`). Three fixed
layouts line up their own columns in place: `geoff --gradients`' norms, `svhn evaluate`'s confusion matrix and
`demo`'s layer lines.

:func:`format_table` lines up rows of cells under a header and a rule. A cell may hold several lines
(text with newlines): its row is then as tall as its tallest cell. :func:`format_value` is how a
number reads in a table.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any


def format_value(v: Any) -> str:
    """None -> '-', booleans -> yes/no, floats to 4 significant digits (scientific when tiny or huge)."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e5 or a < 1e-3:
            return f"{v:.3e}"
        if a >= 100:
            return f"{v:.1f}"
        return f"{v:.4g}"
    return str(v)


def format_table(
    rows: Sequence[dict] | Sequence[Sequence[Any]],
    header: Sequence[str] | None = None,
    *,
    align: str | None = None,
    sep: str = "  ",
) -> str:
    """Rows (dicts with the same keys, or sequences under `header`) as aligned text.

    `align` has one character per column, "<" (left) or ">" (right); by default every column is
    right-aligned. Cells that are not strings go through :func:`format_value`.
    """
    if not rows:
        return "(no rows)"
    if isinstance(rows[0], dict):
        header = list(header or rows[0].keys())
        rows = [[r.get(c) for c in header] for r in rows]
    header = [str(h) for h in header or []]
    cells = [[(c if isinstance(c, str) else format_value(c)).split("\n") for c in row] for row in rows]
    n = len(header) or len(cells[0])
    align = align or ">" * n
    widths = [max([len(header[i]) if header else 0] + [len(line) for row in cells for line in row[i]])
              for i in range(n)]

    def line(values: Sequence[str]) -> str:
        return sep.join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths])] if header else []
    for row in cells:
        out += [line(parts) for parts in itertools.zip_longest(*row, fillvalue="")]
    return "\n".join(out)
