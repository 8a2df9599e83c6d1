"""The exam as given: find it, quote it, and read its stated answers out of the text.

The exam's stated answers are not typed into the answer key. Each question quotes the exam
verbatim (option texts, solution lines); :func:`marked_options` reads which option the exam
marks (the one printed without a box), :func:`parse_matrix` reads its LaTeX matrices and
:func:`arithmetic` evaluates its worked formulas. The tests check that every quote really
appears in ../shared/exam/ and that these readers return the numbers typed in by hand.
"""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from dlexam import shared

EXAM_FILE = shared.EXAM_FILE
# The box the extraction prints in front of an option the exam does NOT mark.
BOX_MARKERS = ("\u25a1", "\\Box", "\\square")


def exam_path() -> Path | None:
    """The exam text as :mod:`dlexam.shared` finds it ($DLEXAM_EXAM, $DLEXAM_SHARED, ../shared); None if absent."""
    try:
        return shared.exam_path()
    except shared.SharedDataMissing:
        return None


@lru_cache(maxsize=1)
def exam_text() -> str | None:
    """The exam text (checked by :func:`dlexam.shared.exam_text`), or None where it is absent; a file
    that is there but is not a text is a one-line error."""
    return shared.exam_text() if exam_path() else None


def quote_found(snippet: str, text: str | None = None) -> bool | None:
    """Whether `snippet` occurs verbatim in the exam text; None when the text is not available."""
    text = exam_text() if text is None else text
    return None if text is None else snippet in text


def line_of(snippet: str, text: str | None = None) -> str | None:
    """The whole line of the exam text that contains `snippet` (None if absent)."""
    text = exam_text() if text is None else text
    if text is None:
        return None
    for line in text.splitlines():
        if snippet in line:
            return line
    return None


_OPTION_PREFIX = re.compile(r"^(?:[\s\-$]|\\hfill|\\Box|\\square|\u25a1|\u25a0)*")


def option_line(option: str, text: str | None = None) -> str | None:
    """The line of the exam that *is* this option: after its bullet, box and `$`, it starts with `option`."""
    text = exam_text() if text is None else text
    if text is None:
        return None
    for line in text.splitlines():
        if _OPTION_PREFIX.sub("", line).startswith(option):
            return line
    return None


def marked_options(options: list[str], text: str | None = None) -> list[int] | None:
    """0-based indices of the options the exam marks: those whose line carries no box.

    In the extracted text an unmarked option is printed with a box (\u25a1, \\Box or \\square) in
    front and the marked one without. Returns None when the text is unavailable or an option is
    not found in it.
    """
    lines = [option_line(o, text) for o in options]
    if any(line is None for line in lines):
        return None
    return [i for i, line in enumerate(lines) if not any(m in line for m in BOX_MARKERS)]


_FRACTION = re.compile(r"^\s*(-?)\s*(?:\\frac\{(\d+)\}\{(\d+)\}|(\d+)\s*/\s*(\d+)|(\d+(?:\.\d+)?))\s*$")


def parse_number(cell: str) -> Fraction:
    """A matrix cell of the exam: 3, 1/2, \\frac{9}{7}, 0.4547."""
    m = _FRACTION.match(cell)
    if not m:
        raise ValueError(f"not a number: {cell!r}")
    sign = -1 if m.group(1) else 1
    if m.group(2):
        return sign * Fraction(int(m.group(2)), int(m.group(3)))
    if m.group(4):
        return sign * Fraction(int(m.group(4)), int(m.group(5)))
    return sign * Fraction(m.group(6))


def parse_matrix(latex: str) -> list[list[Fraction]]:
    """Rows of one LaTeX ``\\begin{bmatrix} ... \\end{bmatrix}``; rows may have different lengths.

    The rows are returned as printed: the extraction dropped or lengthened some of them, and the
    caller reports that instead of this function hiding it.
    """
    m = re.search(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", latex, flags=re.S)
    if not m:
        raise ValueError("no bmatrix in the given text")
    rows = [r for r in m.group(1).split("\\\\") if r.strip()]
    return [[parse_number(c) for c in row.split("&")] for row in rows]


def bmatrices(line: str) -> list[list[list[Fraction]]]:
    """Every bmatrix on one line of the exam, in order."""
    out = []
    for m in re.finditer(r"\\begin\{bmatrix\}.*?\\end\{bmatrix\}", line, flags=re.S):
        try:
            out.append(parse_matrix(m.group(0)))
        except ValueError:
            out.append([])  # a matrix of labels (e.g. the embedding table's "# A" column)
    return out


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def arithmetic(expression: str) -> Fraction:
    """Evaluate an exam formula such as ``8 \\times ((5 \\times 5 \\times 1) + 1)`` exactly.

    Only numbers, + - * / (``\\times`` and ``\\cdot`` are *) and parentheses: nothing is executed.
    """
    expr = expression.replace("\\times", "*").replace("\\cdot", "*").replace("$", "").strip()

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"not plain arithmetic: {expression!r}")

    return ev(ast.parse(expr, mode="eval"))
