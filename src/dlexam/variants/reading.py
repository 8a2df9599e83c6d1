"""How the grader reads one answer: a number, a choice or a matrix, each as a student may write it.

A number is text read by :func:`dlexam.variants.typed.read_text` alone, or a JSON int or float; a choice is its option
number, its letter, or its text; a matrix is a list of rows (each a list of cells, or a row written as text and split
by :func:`row_cells`, the one rule by which dlexam splits a row) or the whole matrix as text. What cannot be read is
:class:`~dlexam.variants.typed.UnreadableAnswer` saying why, which the grader (:mod:`dlexam.variants.grade`) reports
as that answer's, or that cell's, feedback; nothing here scores.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from dlexam.variants.typed import UnreadableAnswer, foreign, read_text, shown

LETTERS = "abcdefghijklmnopqrstuvwxyz"  # a choice's option letters: a = option 1


def blank(value) -> bool:
    """Nothing written: null, or text of spaces only."""
    return value is None or (isinstance(value, str) and not value.strip())


def left_out(value, depth: int = 0) -> bool:
    """An answer with nothing in it: blank, or a list (of rows) of blank cells only."""
    if isinstance(value, list):
        return depth < 2 and all(left_out(v, depth + 1) for v in value)
    return blank(value)


def read_number(value) -> Fraction:
    """ "1/4", "0.25", "2.5e-1", 3 or 0.25 as an exact Fraction (a JSON float is read as the decimal it prints; one
    a double cannot hold is text here: :func:`dlexam.variants.submission.json_float`);
    :class:`UnreadableAnswer` for anything else. Text is read by :func:`dlexam.variants.typed.read_text` alone
    (its NUMBER: ASCII digits, a sign, a decimal point, an exponent, a/b, spaces around; not the rest of what
    Python's Fraction takes: "2_16" is 216 to it, "٢" is 2), the rule the PrairieLearn export's server.py reads by
    too."""
    if isinstance(value, bool | list | dict) or value is None:
        raise UnreadableAnswer(f"expected a number, got {shown(value)}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnreadableAnswer(f"expected a finite number, got {value}")
        value = repr(value)
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        return read_text(value)
    raise UnreadableAnswer(f"not a number: {shown(value)!r} (write 1/4, 0.25 or 2.5e-1)")


def _option_text(s: str) -> str:
    return " ".join(s.split()).casefold()


def _option_by_text(value: str, options: tuple[str, ...]) -> int | None:
    """The one option whose whole text, or its words before its first comma, `value` is (spaces and case aside):
    "yes" for "yes, R is the same"; None where none is, or several are."""
    said = _option_text(value)
    hits = [i + 1 for i, o in enumerate(options) if said in (_option_text(o), _option_text(o.split(",", 1)[0]))]
    return hits[0] if len(hits) == 1 else None


def read_choice(value, n: int, options: tuple[str, ...] = ()) -> int:
    """A choice's option number, 1 to `n`, or its letter (a = 1), also written "option 2" or as the grader shows a
    choice, "2: 99 x 114" (the number and that option's text, spaces and case aside; `options` are the texts), or as
    one option's text alone or its words before its first comma ("yes" for "yes, R is the same");
    :class:`UnreadableAnswer` for anything else, and for a number whose text is another option's or none."""
    last = LETTERS[min(n, len(LETTERS)) - 1]
    if isinstance(value, str) and (m := re.fullmatch(r"option\s*(\S.*)", value.strip(), re.IGNORECASE | re.DOTALL)):
        value = m.group(1)  # "option 2", "Option b"
    elif options and isinstance(value, str) and (m := re.fullmatch(r"(\w+)\s*:\s*(.*\S)", value.strip(), re.DOTALL)):
        k = read_choice(m.group(1), n)  # "2: 99 x 114", the grader's own display of option 2
        said = [i + 1 for i, o in enumerate(options) if _option_text(o) == _option_text(m.group(2))]
        if said != [k]:
            whose = f"option {said[0]}'s" if said else "no option's"
            raise UnreadableAnswer(f"{shown(value.strip())!r} names option {k}, but its text is {whose}: write the "
                                   f"option's number alone (1-{n})")
        return k
    if isinstance(value, str) and (m := re.fullmatch(r"\(\s*(\w+)\s*\)|(\w+)\s*[).]", value.strip())):
        value = m.group(1) or m.group(2)  # "(b)", "b)", "2." as an option is marked on paper
    if isinstance(value, str) and len(value.strip()) == 1 and value.strip().isalpha():
        i = LETTERS.find(value.strip().lower())
        if not 0 <= i < n:
            raise UnreadableAnswer(f"option {value.strip()} is not one of a-{last} (or 1-{n})")
        return i + 1
    try:
        number = read_number(value)
    except UnreadableAnswer:
        if options and isinstance(value, str) and (said := _option_by_text(value, options)):
            return said  # "yes", where option 2 is "yes, R is the same": only where no number or letter is read
        why = foreign(value.strip()) if isinstance(value, str) else ""
        raise UnreadableAnswer(f"not a number: {shown(value)!r} ({why + '; ' if why else ''}an option is 1-{n} or "
                               f"a-{last})") from None
    if number.denominator != 1 or not 1 <= number <= n:
        raise UnreadableAnswer(f"option {shown(value)} is not one of 1-{n}")
    return int(number)


def one_value(value):
    """The one value of a number or a choice: itself, or the one filled cell of rows ([["3"]] as a CSV line
    reads, trailing empty cells dropped); None if nothing is written; :class:`UnreadableAnswer` if several are."""
    if not isinstance(value, list):
        return None if blank(value) else value
    filled = [c for row in value for c in (row if isinstance(row, list) else [row]) if not blank(c)]
    if len(filled) > 1:
        raise UnreadableAnswer(f"expected one value, got {len(filled)}: {shown(value)}")
    return filled[0] if filled else None


Cell = Fraction | UnreadableAnswer | None  # a matrix cell as read: its value, what is wrong with it, or not answered


def _rows(numbers: list[int], verb: tuple[str, str], names=()) -> str:
    """ "row 4 counts", "rows 4-7 count", "rows 2, 5 count" (verb: its singular and plural); with the key's row
    `names`, rows named as the grader names their cells where a name is not the row's number (Pr2.3's logit rows
    are "4 <START>", "5 A", "6 D": "row 6 D counts"; Pr2.2's "1 D", ... keep their numbers)."""
    if names and all(n <= len(names) for n in numbers) and any(
            names[n - 1].split(" ", 1)[0] != str(n) for n in numbers):
        listed = ", ".join(names[n - 1] for n in numbers[:8]) + (", ..." if len(numbers) > 8 else "")
        return f"row {listed} {verb[0]}" if len(numbers) == 1 else f"rows {listed} {verb[1]}"
    if len(numbers) == 1:
        return f"row {numbers[0]} {verb[0]}"
    if numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"rows {numbers[0]}-{numbers[-1]} {verb[1]}"
    return "rows " + ", ".join(map(str, numbers[:8])) + (", ..." if len(numbers) > 8 else "") + f" {verb[1]}"


def flat_entries(value: list, given: list[list], typed: bool, rows: int, cols: int) -> list | None:
    """The cells of a matrix answer written as one flat list, its trailing empty cells dropped, or None where it
    is written as rows. Flat is a JSON list of numbers (or of texts without commas) for a matrix of more than one
    column, and one line of more than `cols` cells (a CSV line, or text without ";") for a matrix of more than
    one row. A flat list of exactly rows*cols cells is read row by row (as anyone writes a matrix on one line);
    one of any other length cannot be read as the matrix (see :func:`read_matrix`)."""
    def trimmed(cells: list) -> list:
        end = len(cells)
        while end and blank(cells[end - 1]):
            end -= 1
        return list(cells[:end])

    if not typed and cols > 1 and value and all(
            not isinstance(r, list) and not (isinstance(r, str) and several(r)) for r in value):
        return trimmed(value)
    if rows > 1 and len(given) == 1 and len(trimmed(given[0])) > cols:
        return trimmed(given[0])
    return None


ROW_GAP = re.compile(r"(?<![\s/])\s+(?![\s/])")  # spaces between a row's numbers: not those around a fraction's "/"
SIGNS = ("+", "-", "\u2212")
DECIMAL_COMMA = re.compile(r"(?<=[0-9]),(?=[0-9])")  # a comma between two digits: "0,5" may be a decimal comma


def decimal_commas(s: str, cols: int | None = None) -> bool:
    """Whether the commas in the row `s` are decimal commas ("0,5 0,25 1"), not the commas between its cells: each
    comma stands between two digits, no number holds two, and either the row has spaces between numbers too (split at
    its commas, "0,5 0,25 1" is "0", "5 0" and "25 1", no row of numbers), or, where the matrix has `cols` columns,
    the commas would make the row longer than that while without them it has `cols` cells ("0,5" in a matrix of one
    column). Where the commas can be cell separators ("1,0,1", "1, 0", "0,5,0,25" for 2 columns) they are."""
    if DECIMAL_COMMA.sub("", s).count(","):
        return False  # a comma beside a space or a sign: the commas separate the cells
    cells = ROW_GAP.split(s)
    if any(c.count(",") > 1 for c in cells):
        return False
    return len(cells) > 1 or cols is not None and s.count(",") + 1 > cols == len(cells)


TIMES = re.compile(r"[x\u00d7X]")  # "10 x 24 x 24", "10×24×24": a shape's numbers apart by "times"
TIMES_USED = re.compile(r"[0-9\s][x\u00d7X]|[x\u00d7X][\s0-9+-]")  # an x beside a number or a space, not in "max"
SHAPE = re.compile(r"\s*[+-]?[0-9][0-9./eE+-]*(?:\s*[x\u00d7X]\s*[+-]?[0-9][0-9./eE+-]*)+\s*")


def row_cells(text: str, cols: int | None = None) -> list[str]:
    """A row written as text, split into its cells' texts: at commas ("1, 0, 1/2"), or where it has none at the
    spaces between numbers ("1 0 1/2", as NumPy and MATLAB print a row), or either in brackets or parentheses ("(10,
    24, 24)", a shape as Python prints it), or at x's ("10 x 24 x 24", a shape as Version A writes one; an "x" that
    does not stand between two numbers makes the row unreadable). The one rule by which
    dlexam splits a row: a cell is one number, read by :func:`dlexam.variants.typed.read_text`, which takes spaces
    around a fraction's "/", so "1 / 4 1/2" is the two cells 1/4 and 1/2, as " 1 / 4 " typed into one cell
    (/practice's, PrairieLearn's) is 1/4: the spaces beside a "/" join, never split (a "/" alone is no number, so
    no other reading of the row is one of numbers). A sign apart from its number ("- 1/4 0", "1 - 2") could be the
    next number's or a subtraction (MATLAB reads [1 - 2] as -1): the row is :class:`UnreadableAnswer`, never
    guessed at, since reading "-" as a cell would shift every cell after it. Commas that cannot be the commas between
    cells are decimal commas (:func:`decimal_commas`: "0,5 0,25 1", or "0,5" where the matrix has `cols` = 1 column):
    the row is split at its spaces, and each cell "0,5" is no number, with a message asking for a decimal point,
    never the cells 0 and 5."""
    s = text.strip()
    if s.startswith("(") and s.endswith(")"):  # a shape as Python prints a tuple, "(10, 24, 24)"
        s = s[1:-1]
    s = s.removeprefix("[").removesuffix("]")
    if TIMES_USED.search(s):  # a shape as Version A writes one, "28 x 28 x 8": the numbers between the x's
        if not SHAPE.fullmatch(s):
            raise UnreadableAnswer(f"{shown(text)!r}: an 'x' stands between numbers only, as in 10 x 24 x 24; write "
                                   "the row's numbers apart by x, by commas or by spaces")
        return [c.strip() for c in TIMES.split(s)]
    if "," in s and not decimal_commas(s.strip(), cols) or not s.strip():
        return s.split(",")
    cells = ROW_GAP.split(s.strip())
    if any(c in SIGNS for c in cells):
        raise UnreadableAnswer(f"a sign apart from its number in {shown(text)!r}: is it the next number's, or a "
                               "subtraction? Write the sign against its number (-1/4), or put commas between the "
                               "numbers")
    return cells


@dataclass(frozen=True)
class RefusedRow:
    """Each cell of a row written as text that cannot be split into cells (:func:`row_cells`): the row as written
    and why; every cell of that row is wrong with that reason, and the other rows are graded as usual."""
    text: str
    why: UnreadableAnswer


def row_of(text: str, cols: int) -> list:
    """A row written as text as its cells: :func:`row_cells`, or `cols` :class:`RefusedRow` cells."""
    try:
        return row_cells(text, cols)
    except UnreadableAnswer as bad:
        return [RefusedRow(text, bad)] * cols


def several(text: str) -> bool:
    """Whether text holds more than one cell (a row, not a cell): its split gives several, or it cannot be split."""
    try:
        return len(row_cells(text)) > 1
    except UnreadableAnswer:
        return True


def matrix_rows(text: str) -> list:
    """A matrix written as text: rows apart by ";" or by line ("1, 0; 1/2, 1/2", "1 0\n1/2 1/2", "[1 0; 0 1]"
    as MATLAB writes it), or as a list of rows in brackets ("[[1, 0], [1/2, 1/2]]", "[[1 0]\n [0 1]]" as NumPy
    prints it)."""
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1].strip()
        if s.startswith("[") and s.endswith("]"):
            return re.split(r"\]\s*[,;]?\s*\[", s[1:-1])
    return re.split(r"\s*;\s*\n?\s*|\s*\n\s*", s)


def read_matrix(value, rows: int, cols: int, names=()) -> tuple[list[list[tuple[object, Cell]]], list[str]]:
    """A matrix answer of the key's shape: each cell as (written, read), where a cell left empty ("" or null) or
    missing (a short row, a missing row) is not answered, so wrong while the rest still earns its share, as a
    student who fills part of a matrix expects; and notes on its shape: rows or cells beyond `rows` x `cols` are
    ignored. A row may be text ("1, 0, 0"), as the whole matrix may ("1, 0; 1/2, 1/2"), split by :func:`row_cells`
    alone (a cell is one number: "1 / 4" is 1/4); a row given as a list is its cells, never split. A flat list of
    exactly rows*cols cells (a JSON list of numbers, or all of them on one line) is read row by row, with a note; a
    flat list of any other length, and anything else that is not a list of rows, is :class:`UnreadableAnswer`.
    `names`: the key's row labels, which the notes name its rows by (:func:`_rows`)."""
    typed = isinstance(value, str)
    if typed:
        value = matrix_rows(value)
    if not isinstance(value, list):
        raise UnreadableAnswer(f"expected a matrix ({rows} rows of {cols} numbers), got {shown(value)}")
    given = [row_of(r, cols) if isinstance(r, str) else r if isinstance(r, list) else [r] for r in value]
    # a row given as a list is its cells, each one number; but one text alone, where a row has several cells, is the
    # row written as text (a CSV line of one cell, "1 0 0"): a list of cells is never split, so that a matrix of one
    # column reads its cell "1 2" as /practice's and PrairieLearn's input of that cell do (no number)
    given = [row_of(r[0], cols) if cols > 1 and len(r) == 1 and isinstance(r[0], str) else r for r in given]
    if rows > 1 and len(given) == 1 and given[0] and isinstance(given[0][0], RefusedRow):
        raise given[0][0].why  # the whole matrix on one line: neither its rows nor a flat list can be told
    notes = []
    flat = flat_entries(value, given, typed, rows, cols)
    if flat is not None:  # one line of numbers for a matrix of several rows (or one row, a flat list of cells)
        if len(flat) != rows * cols:
            raise UnreadableAnswer(f"a flat list of {len(flat)} numbers, not {rows} rows of {cols}: write the "
                                   "matrix as a list of rows ([[...], [...]], \"1, 0; 1/2, 1/2\" or one CSV line "
                                   "per row)")
        given = [flat[i * cols:(i + 1) * cols] for i in range(rows)]  # row-major: (rows*cols,) -> (rows, cols)
        if rows > 1:
            notes.append(f"the {rows * cols} numbers were given in one flat list: read row by row, as {rows} rows "
                         f"of {cols}")
    if len(given) < rows:
        notes.append(f"{len(given)} of {rows} rows given: "
                     + _rows(list(range(len(given) + 1, rows + 1)), ("counts", "count"), names) + " as not answered")
    if beyond := [i + 1 for i in range(rows, len(given)) if not left_out(given[i])]:
        notes.append(f"{len(given)} rows given for {rows}: " + _rows(beyond, ("is", "are")) + " ignored")
    if short := [i + 1 for i, r in enumerate(given[:rows]) if len(r) < cols]:
        notes.append(_rows(short, ("has", "have"), names) + f" fewer than {cols} entries: the missing ones count as "
                     "not answered")
    if long := [i + 1 for i, r in enumerate(given[:rows]) if not left_out(r[cols:])]:
        notes.append(_rows(long, ("has", "have"), names) + f" more than {cols} entries: those after entry {cols} are "
                     "ignored")
    cells = []
    for i in range(rows):
        row = given[i] if i < len(given) else []
        cells.append([])
        for j in range(cols):
            written = row[j] if j < len(row) else None
            if isinstance(written, RefusedRow):
                cells[-1].append((written.text, written.why))
                continue
            try:
                cells[-1].append((written, None if blank(written) else read_number(written)))
            except UnreadableAnswer as bad:
                cells[-1].append((written, bad))
    return cells, notes
