"""Matplotlib figures as PNG: the one place the project renders and saves a figure.

Everything draws on the non-interactive Agg backend (nothing opens a window) and renders with the
same settings, so a figure in the report, an experiment's folder and a training run look alike.
:func:`save_png` writes atomically (:mod:`dlexam.files`). PNGs carry no "Software" stamp, so the
same figure gives the same bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

DPI = 110


def pyplot():
    """matplotlib.pyplot on the Agg backend (imported on first use: it is slow to import)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 5.2, height: float = 3.8):
    """(figure, axes[nrows][ncols]) with a constrained layout; width and height are per panel, in inches."""
    fig, axes = pyplot().subplots(
        nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, layout="constrained"
    )
    return fig, axes


def to_png(fig, dpi: int = DPI) -> bytes:
    """Render `fig` to PNG bytes and close it."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.06, metadata={"Software": None})
    finally:
        pyplot().close(fig)
    return buf.getvalue()


def save_png(fig, path: str | os.PathLike, dpi: int = DPI) -> str:
    """Render `fig` and write it to `path` atomically; returns the absolute path as a string."""
    from dlexam.files import atomic_write_bytes

    atomic_write_bytes(path, to_png(fig, dpi))
    return str(Path(path).resolve())


def save_into(out, name: str, fig) -> str:
    """Render `fig` into the :class:`~dlexam.files.OutputDir` `out` as `name` (checked there and
    recorded as dlexam's); returns the absolute path as a string."""
    return str(out.write_bytes(name, to_png(fig)).resolve())
