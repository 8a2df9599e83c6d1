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


# The exam's title block and section headings: a file without them is not this exam (checked before any work).
EXAM_HEADINGS = ("Deep Learning", "Final Exam", "January 22, 2025", "Version A",
                 "Part 1: Multiple Choice Questions", "Part 2: Short Answer Questions",
                 "Problem 1: Convolutional Neural Networks",
                 "Problem 2: Transformer Model for Deduplicating and Sorting")


def exam_path() -> Path | None:
    """The exam text as :mod:`dlexam.shared` finds it ($DLEXAM_EXAM, $DLEXAM_SHARED, ../shared); None if absent."""
    try:
        return shared.exam_path()
    except shared.SharedDataMissing:
        return None


def check_exam(text: str, path: Path | str) -> None:
    """Refuse a text that is not this exam: SharedDataMissing, one line naming the headings it lacks.

    An edited copy of the exam keeps its headings and passes; each question then reads what it can
    (a question whose quote is gone gets the verdict ``unread``, :mod:`dlexam.answers.registry`).
    """
    lacking = [h for h in EXAM_HEADINGS if h not in text]
    if lacking:
        quoted = [repr(h) for h in lacking]
        if len(lacking) == len(EXAM_HEADINGS):
            which = f"none of the exam's {len(quoted)} headings ({', '.join(quoted[:4])}, ...) is in it"
        else:
            which = f"it lacks {len(quoted)} of the exam's {len(EXAM_HEADINGS)} headings: {', '.join(quoted)}"
        raise shared.SharedDataMissing(f"{path} is not the exam text ({EXAM_FILE}): {which}")


@lru_cache(maxsize=4)
def _checked_text(path: str, mtime_ns: int, size: int) -> str:
    text = shared.exam_text(Path(path))
    check_exam(text, path)
    return text


def _read(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError:
        return shared.exam_text(path)  # raises the one-line error naming the file
    return _checked_text(str(path), stat.st_mtime_ns, stat.st_size)


def exam_text() -> str | None:
    """The exam text (a text file, :func:`dlexam.shared.exam_text`, that is this exam, :func:`check_exam`),
    or None where no exam text is set up; a file that is there but is not the exam is a one-line error.
    Read once per file and version (path, modification time, size)."""
    path = exam_path()
    return None if path is None else _read(path)


exam_text.cache_clear = _checked_text.cache_clear  # type: ignore[attr-defined]  # tests switch exams


def require_exam_text() -> str:
    """The exam text, checked as by :func:`exam_text`; where none is set up, SharedDataMissing: one line
    saying where it was looked for."""
    return _read(shared.exam_path())


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


def after(anchor: str, until: str = "$", text: str | None = None) -> str | None:
    """What the exam states after a fixed lead-in: the rest of `anchor`'s line up to the first `until`
    (the whole rest where `until` is empty or absent), stripped. None where the anchor is not in the text.

    The answer key reads the exam's numbers and formulas this way, so an edited number is read (and
    compared) rather than silently assumed.
    """
    line = line_of(anchor, text)
    if line is None:
        return None
    rest = line[line.index(anchor) + len(anchor):]
    return (rest.split(until, 1)[0] if until else rest).strip()


_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")


def leading_number(stated: str | None) -> float | None:
    """The number a stated answer starts with ('4.2114.' -> 4.2114); None where there is none."""
    m = None if stated is None else _DECIMAL.match(stated.strip())
    return None if m is None else float(m.group(0))


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


def size_pair(stated: str | None) -> tuple[int, int] | None:
    """An output size as an option prints it, '126 × 42' -> (126, 42); None for anything else."""
    m = None if stated is None else re.fullmatch(r"\s*(\d+)\s*(?:×|\\times|x)\s*(\d+)\s*", stated)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def shape_hwc(stated: str | None) -> list[int] | None:
    """A map size as the solution writes it, '28 \\times 28 \\times 8' (or 1\\times1\\times10) -> [28, 28, 8];
    None for anything else."""
    m = None if stated is None else re.fullmatch(r"\s*(\d+)\s*\\times\s*(\d+)\s*\\times\s*(\d+)\s*", stated)
    return None if m is None else [int(v) for v in m.groups()]


def formula_value(stated: str | None) -> int | None:
    """The exact value of a formula the solution states ('8 \\times ((5 \\times 5 \\times 1) + 1)' -> 208,
    by :func:`arithmetic`); None where it is not plain arithmetic with an integer value."""
    try:
        value = None if stated is None else arithmetic(stated)
    except (ValueError, SyntaxError, ZeroDivisionError):
        return None
    return None if value is None or value.denominator != 1 else int(value)


_NEXT_QUESTION = re.compile(r"^\s*-?\s*\d+\.\s*\(\d+ points?\)")


def options_after(stem: str, text: str | None = None) -> list[tuple[str, bool]] | None:
    """The options printed after the line containing `stem`, up to its solution (or the next question):
    each as (its text without bullet, box and `$`, whether the exam marks it, i.e. prints it without a
    box). None where the stem is not in the text."""
    text = exam_text() if text is None else text
    if text is None:
        return None
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if stem in line), None)
    if start is None:
        return None
    options = []
    for line in lines[start + 1:]:
        if line.strip().startswith("Solution") or _NEXT_QUESTION.match(line):
            break
        if line.strip():
            options.append((_OPTION_PREFIX.sub("", line).strip(), not any(m in line for m in BOX_MARKERS)))
    return options


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
