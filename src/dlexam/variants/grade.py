"""Grading a submission against a variant's key: exact for rationals, the key's tolerance for irrationals.

A submission maps answer ids (``Pr2.2.P``, ``P1.4.choice``) to answers: a number as text or JSON ("1/4",
"0.25", "2.5e-1", 3), a matrix as a list of rows, a choice as its option number. JSON (an object; the
output of ``dlexam variant --json`` is one too) or CSV (``id,value`` per line, a matrix one line per row
with its id repeated). ``seed`` and ``difficulty`` in a submission must name the variant graded.

Every answer field earns its share of the question's points; a matrix earns it cell by cell. Each wrong cell
or value is reported with the right value and a one-line reason; a wrong choice with why the chosen option is
wrong where the variant knows (``Field.option_reasons``). Where one mistake explains a whole answer (a matrix
transposed, P without the causal mask, a loss in log base 10: :func:`whole_mistake`), its reason names it first.
Essays are left to a person: their points are reported as ``manual_points``. :func:`grade` is what `dlexam grade`
and the web page's practice call.

Only what leaves nothing to grade is refused (:class:`SubmissionError`: one line, `dlexam grade` exits 2): a
file that is not UTF-8 JSON or CSV, a submission with no answers, an answer id the variant does not have, a seed
or difficulty of another variant (both mean the wrong variant or the wrong file). One answer that cannot be read
(an option number out of range, text that is not a number, a matrix of the wrong shape) costs only its own
points, or its cells': it is wrong, its feedback says what is wrong with it (``invalid``), and the rest is graded
as usual. A matrix's missing rows or cells are not answered; rows or cells beyond its shape are ignored and
noted (``notes``). An answer with nothing in it ("", null, empty cells only) counts as left out (``missing``).
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction

from dlexam.errors import UserError
from dlexam.plain import loads
from dlexam.spec import text
from dlexam.variants.model import SUBMISSION_META, Field, Mistake, Variant
from dlexam.variants.typed import UnreadableAnswer, foreign, key_decimal, near, read_text, scores, shown
from dlexam.words import counted

MAX_SUBMISSION_BYTES = 1 << 20
LETTERS = "abcdefghijklmnopqrstuvwxyz"  # a choice's option letters: a = option 1


class SubmissionError(UserError):
    """A submission that cannot be graded at all: names the answer id (or the file) and what is wrong with it."""


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
    a double cannot hold is text here: :func:`json_float`);
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


def _rows(numbers: list[int], verb: tuple[str, str]) -> str:
    """ "row 4 counts", "rows 4-7 count", "rows 2, 5 count" (verb: its singular and plural)."""
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


def read_matrix(value, rows: int, cols: int) -> tuple[list[list[tuple[object, Cell]]], list[str]]:
    """A matrix answer of the key's shape: each cell as (written, read), where a cell left empty ("" or null) or
    missing (a short row, a missing row) is not answered, so wrong while the rest still earns its share, as a
    student who fills part of a matrix expects; and notes on its shape: rows or cells beyond `rows` x `cols` are
    ignored. A row may be text ("1, 0, 0"), as the whole matrix may ("1, 0; 1/2, 1/2"), split by :func:`row_cells`
    alone (a cell is one number: "1 / 4" is 1/4); a row given as a list is its cells, never split. A flat list of
    exactly rows*cols cells (a JSON list of numbers, or all of them on one line) is read row by row, with a note; a
    flat list of any other length, and anything else that is not a list of rows, is :class:`UnreadableAnswer`."""
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
                     + _rows(list(range(len(given) + 1, rows + 1)), ("counts", "count")) + " as not answered")
    if beyond := [i + 1 for i in range(rows, len(given)) if not left_out(given[i])]:
        notes.append(f"{len(given)} rows given for {rows}: " + _rows(beyond, ("is", "are")) + " ignored")
    if short := [i + 1 for i, r in enumerate(given[:rows]) if len(r) < cols]:
        notes.append(_rows(short, ("has", "have")) + f" fewer than {cols} entries: the missing ones count as not "
                     "answered")
    if long := [i + 1 for i, r in enumerate(given[:rows]) if not left_out(r[cols:])]:
        notes.append(_rows(long, ("has", "have")) + f" more than {cols} entries: those after entry {cols} are "
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


def json_float(literal: str) -> float | str:
    """A JSON number with a point or an exponent, as float64 reads it, except one float64 cannot hold: one that is
    not 0 but reads as 0.0 (1e-400) or one beyond its range (1e400) stays the text written, which
    :func:`read_number` reads exactly, as it reads that text typed (so 1e-400 is no 0: the key's 0 takes 0 alone)."""
    value = float(literal)
    if math.isinf(value) or value == 0 and any(c in "123456789" for c in literal.lower().split("e")[0]):
        return literal
    return value


def csv_separator(body: str) -> str:
    """The character between a CSV sheet's cells: the first of ',', ';' and tab outside quotes on its first line
    that is not empty or a comment. Excel in a decimal-comma locale saves CSV with ';', a spreadsheet's text export
    uses tabs; a line of a comma sheet begins with an answer id or a header, neither of which holds ';' or a tab
    outside quotes (a quoted header cell may hold any: `"id, answer";"value"` is a ';' sheet)."""
    for line in body.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            outside = re.sub(r'"[^"]*"?', "", line)  # the line without its quoted parts ("" inside one: two parts)
            return min((",", ";", "\t"), key=lambda c: (c not in outside, outside.find(c)))
    return ","


CSV_END = "\ue000dlexam: end of the sheet\ue000"  # a line after the sheet: inside a cell only if a quote is left open


def read_submission(data: bytes, name: str = "submission") -> dict:
    """A submission file's answers: JSON (an object) or CSV (id,value...). Only a file that cannot be read as
    either is refused here; what is wrong with one answer is the grader's to report."""
    if len(data) > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{name}: larger than {MAX_SUBMISSION_BYTES} bytes; a submission is a few kB")
    try:
        body = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError(f"{name}: not UTF-8 text (give JSON or CSV)") from None
    try:  # JSON of any kind (null, a number, a string: no sheet, once read as CSV's one answer id), else CSV
        obj, is_json = loads(body, parse_float=json_float), True
    except ValueError as exc:
        if body.lstrip().startswith(("{", "[")):
            raise SubmissionError(f"{name}: not valid JSON ({str(exc)[:100]})") from None
        is_json = False
    if is_json:
        if not isinstance(obj, dict):
            raise SubmissionError(f"{name}: a JSON submission is an object {{answer id: answer}}")
        return obj.get("key", obj) if isinstance(obj.get("key"), dict) else obj
    answers: dict = {}
    # RFC 4180's quoting (a quoted cell holds the separator, line breaks and "" for a quote), and a space before an
    # opening quote skipped (`id, "2: yes, a sound choice"`, as people type CSV; the cells are stripped anyway)
    lines = csv.reader(io.StringIO(body + "\n" + CSV_END + "\n"), delimiter=csv_separator(body), skipinitialspace=True)
    start = 1  # the line the next row begins on
    try:
        for row in lines:
            if any(CSV_END in c for c in row):
                if row == [CSV_END]:
                    break
                raise SubmissionError(f"{name} line {start}: a quoted cell is never closed (its opening \" has no "
                                      "closing one; a quote inside a quoted cell is written twice, \"\")")
            start = lines.line_num + 1
            cells = [c.strip() for c in row]
            if not cells or not any(cells) or cells[0].startswith("#") or cells[0].lower() in ("id", "question"):
                continue
            answers.setdefault(cells[0], []).append(unbracketed(cells[1:]))  # rows: a number is one row of one value
    except csv.Error as exc:
        raise SubmissionError(f"{name} line {lines.line_num}: not CSV ({exc})") from None
    return {k: rows[0][0] if len(rows) == 1 and len(rows[0]) == 1 else rows for k, rows in answers.items()}


def unbracketed(cells: list[str]) -> list[str]:
    """A CSV line's cells after its id, where they are one row written in brackets and split at its commas
    ("Pr1.3.shapes,[12, 4, 4]": "[12", "4", "4]"; or "(12", "4", "4)"): the row's cells without its brackets, as
    :func:`row_cells` reads the same row quoted; any other cells as they are (a whole matrix, "[[1", "0]", ...,
    is left to be refused as no numbers)."""
    if len(cells) > 1:
        first, last = cells[0], cells[-1]
        for opening, closing in ("[]", "()"):
            if (first.startswith(opening) and not first.startswith(opening * 2) and last.endswith(closing)
                    and not last.endswith(closing * 2)):
                return [first[1:].strip(), *cells[1:-1], last[:-1].strip()]
    return cells


@dataclass
class FieldResult:
    id: str
    question: str
    points: Fraction  # exact: the field's share of the question's points, times the fraction of it right
    max_points: Fraction
    correct: bool
    wrong: list[dict] = field(default_factory=list)  # each: where, given, expected, reason (and at, invalid, cell;
    #                                                  a wrong choice: option, option_why, answer, right_why)
    notes: list[str] = field(default_factory=list)  # what was written beyond a matrix's shape, or short of it
    mistake: str = ""  # a matrix's whole-answer mistake (whole_mistake), once; its cells' reasons start with it

    def to_json(self) -> dict:
        return {"id": self.id, "question": self.question, "points": float(self.points),
                "max_points": float(self.max_points), "correct": self.correct, "wrong": self.wrong,
                "notes": self.notes, "mistake": self.mistake}


@dataclass
class Grade:
    seed: int
    difficulty: str
    score: Fraction  # exact (points are the exam's, shared exactly between fields and cells)
    max_score: Fraction  # the points graded here: every question's but the essays'
    manual_points: Fraction  # essay points, for a person to grade
    fields: list[FieldResult]
    missing: list[str]

    def to_json(self) -> dict:
        return {"seed": self.seed, "difficulty": self.difficulty, "score": float(self.score),
                "max_score": float(self.max_score), "score_exact": text(self.score),
                "manual_points": float(self.manual_points), "missing": self.missing,
                "fields": [f.to_json() for f in self.fields]}


def _because(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def expected_text(f: Field) -> str:
    """A field's right answer as its feedback states it."""
    if f.kind == "choice":
        return f"{f.answer}: {f.options[f.answer - 1]}"
    if f.kind == "matrix":
        return "[" + "; ".join(", ".join(text(x) for x in r) for r in f.answer) + "]"
    if f.exact:
        return text(f.answer)
    # six decimals: 17.0080 is 0.000544 from 17.007456, outside 0.0005, though 17.0075 would hide it
    if f.closed_form and f.closed_form not in f.why:  # the reason shown beside it does not already give it
        return f"{key_decimal(f.answer)} (within {f.tolerance:g}; exactly {f.closed_form})"
    return f"{key_decimal(f.answer)} (within {f.tolerance:g})"


def as_written(written, got) -> str:
    """An answer as the student wrote it (3.11 or 17.008, not 311/100 or 2126/125); `got` where it was no number."""
    if isinstance(written, str):
        return written.strip()
    if isinstance(written, int | float) and not isinstance(written, bool):
        return repr(written)
    return text(got)


def decimals_written(written) -> int | None:
    """How many digits a decimal answer has after its point ("0.33": 2); None for a fraction, an integer, or
    scientific notation."""
    s = repr(written) if isinstance(written, float) else written.strip() if isinstance(written, str) else ""
    m = re.fullmatch(r"[+-]?\d*\.(\d+)", s)
    return len(m.group(1)) if m else None


def rounding(written, got: Fraction, want, tolerance: float | None = None) -> str:
    """Why `got` (as `written`) missed `want` where it is `want` rounded (half up or half to even) or cut to the
    decimals written: the exact value of an exact answer, or the digits an irrational one needs for its tolerance;
    "" for any other miss (0.34 is no rounding of 1/3)."""
    d = decimals_written(written)
    if d is None or got == want:
        return ""
    try:
        scaled = Fraction(want) * 10 ** d
    except (OverflowError, ValueError):
        return ""
    cut = math.trunc(scaled)
    half_up = (1 if scaled >= 0 else -1) * math.floor(abs(scaled) + Fraction(1, 2))
    if got * 10 ** d in (round(scaled), half_up):
        how = "rounded"
    elif got * 10 ** d == cut:
        how = "cut"
    else:
        return ""
    places = "decimal" if d == 1 else "decimals"
    if isinstance(want, Fraction):
        return f"{as_written(written, got)} is {text(want)} {how} to {d} {places}: the answer is exact (write " \
               f"{text(want)})"
    off = float(abs(got - Fraction(key_decimal(want))))  # from the key, the window's centre (typed.window)
    return (f"{as_written(written, got)} is {want:.{d + 2}f}... {how} to {d} {places}, {off:.1e} from the key "
            f"{key_decimal(want)}: more than the tolerance {tolerance:g}; give more decimals")


def _ratio_text(c: float) -> str:
    """A constant factor in words: 1/sqrt(2), -1, 1/2, or 0.7071."""
    for k in range(2, 17):
        for value, name in ((1 / math.sqrt(k), f"1/sqrt({k})"), (math.sqrt(k), f"sqrt({k})")):
            if math.isclose(c, value, rel_tol=1e-6) and round(math.sqrt(k)) ** 2 != k:
                return f"{name} = {c:.4g}"
    f = Fraction(c).limit_denominator(12)
    return text(f) if math.isclose(float(f), c, rel_tol=1e-9) else f"{c:.4g}"


def matrix_mistake(answer, got) -> tuple[str, range]:
    """One mistake that explains a fully read matrix answer `got` (Fractions) at once, and the rows it explains:
    the right matrix transposed, negated or times one factor (1/sqrt(d_k) where none is asked), all rows; or its
    rows shifted by one (a teacher-forcing off-by-one), the rows that match a neighbour; ("", ()) where none does.
    Needs only the key, so a saved key explains it too."""
    rows, cols = len(answer), len(answer[0])
    every = range(rows)
    if got == [list(r) for r in answer]:
        return "", range(0)
    if rows == cols and rows > 1 and all(got[i][j] == answer[j][i] for i in every for j in range(cols)):
        return "the matrix given is the right one transposed (rows and columns swapped)", every
    if all(got[i][j] == -answer[i][j] for i in every for j in range(cols)):
        return "every entry given has the wrong sign", every
    try:
        nonzero = [(float(got[i][j]), float(answer[i][j])) for i in range(rows) for j in range(cols) if answer[i][j]]
    except OverflowError:  # a cell given beyond float's range ("1e400"): no factor explains it
        nonzero = []
    zeros_kept = all(got[i][j] == 0 for i in range(rows) for j in range(cols) if not answer[i][j])
    if len(nonzero) > 1 and zeros_kept and nonzero[0][0]:
        c = nonzero[0][0] / nonzero[0][1]
        if not math.isclose(c, 1.0) and all(math.isclose(g, c * a, rel_tol=1e-6, abs_tol=1e-12) for g, a in nonzero):
            return (f"every entry given is the right one times {_ratio_text(c)}: a factor the question does not "
                    "ask for"), every
    for shift, word in ((1, "next"), (-1, "previous")):
        pairs = [(i, i + shift) for i in every if 0 <= i + shift < rows]
        if (pairs and all(got[i] == list(answer[k]) for i, k in pairs)
                and any(got[i] != list(answer[i]) for i, _ in pairs)):
            shifted = range(pairs[0][0], pairs[-1][0] + 1)
            rows_given = "this row given is" if len(shifted) == 1 else f"these {len(shifted)} rows given are each"
            return f"{rows_given} the right matrix's {word} row: the rows are shifted by one", shifted
    return "", range(0)


def slip_limit(cells: int) -> int:
    """How many values of a transposed answer may be wrong for it still to be named transposed: max(2, a tenth of
    its cells). A slip (a value mistyped or miscomputed) is one or two per matrix, so at least 2, even in a matrix of
    12 cells (Pr1.3's shapes) or 15 (Pr2.3's logit rows); a tenth, so that the values read transposed that are
    right outnumber the wrong ones nine to one and the transposition is what the answer shows, not a guess (7x7's P:
    4). Beyond it the answer is wrong for more than a slip, and is scored cell by cell with no name."""
    return max(2, cells // 10)


def transposed_slips(answer, given) -> list[tuple[int, int]] | None:
    """The key's cells (i, j) that an answer read transposed, `given` (cols rows of rows cells, each (written,
    read)), gives wrong: given[j][i] is its value for answer[i][j]. None where it is not the key transposed but for
    a slip or two: more wrong cells than :func:`slip_limit`, or, for a square key (whose cells also stand in the
    key's own places), not fewer than half as many as it has wrong where they stand (a key that is symmetric, or
    nearly, is then not named). Needs only the key, so a saved key explains it too."""
    rows, cols = len(answer), len(answer[0])

    def wrong(got, want) -> bool:
        return not (isinstance(got, Fraction) and scores(got, want))

    slips = [(i, j) for i in range(rows) for j in range(cols) if wrong(given[j][i][1], answer[i][j])]
    if len(slips) > slip_limit(rows * cols):
        return None
    if rows == cols and not 2 * len(slips) < sum(wrong(given[i][j][1], answer[i][j])
                                                 for i in range(rows) for j in range(cols)):
        return None
    return slips


def cell_name(f: Field, i: int, j: int) -> str:
    """Cell (i, j) of the key as the feedback names it: "row 4, column B", or by number from 1."""
    return f"row {f.row_labels[i] if f.row_labels else i + 1}, column " + (
        f.col_labels[j] if f.col_labels else str(j + 1))


def transposition(f: Field, given, slips: list[tuple[int, int]]) -> str:
    """The words for an answer that is the key transposed but for `slips` (:func:`transposed_slips`): the mistake,
    the shape given where it is not the key's, and each wrong value in the key's coordinates."""
    rows, cols = len(f.answer), len(f.answer[0])
    words = "the matrix given is the right one transposed (rows and columns swapped)"
    if rows != cols:
        words += f": {cols} rows of {rows}, where {rows} rows of {cols} are asked"
    if slips:
        words += f", and {counted(len(slips), 'value')} wrong as well, read transposed: " + "; ".join(
            f"{cell_name(f, i, j)} (given {shown_cell(*given[j][i])}, is {text(f.answer[i][j])})" for i, j in slips)
    return words


def shown_cell(written, got) -> str:
    """A cell as given, for feedback: its number as written, else what was typed, else "nothing"."""
    if isinstance(got, Fraction):
        return as_written(written, got)
    return shown(written) if got is not None else "nothing"


def transposed(f: Field, value) -> tuple[str, list[tuple[int, int]], list]:
    """For a matrix answer that is not square and was given with the key's shape swapped (the logit rows one column
    per position, as E R^T gives them): the words naming it, the key's cells it gives wrong read transposed, where
    those are a slip or two (:func:`transposed_slips`), and its cells read in the swapped shape; ("", [], [])
    otherwise. Needs only the key."""
    rows, cols = len(f.answer), len(f.answer[0])
    if rows == cols:
        return "", [], []  # a square one is read in its own shape: matrix_mistake and _grade_matrix name it
    try:
        cells, notes = read_matrix(value, cols, rows)
    except UnreadableAnswer:
        return "", [], []
    slips = None if notes else transposed_slips(f.answer, cells)
    return ("", [], []) if slips is None else (transposition(f, cells, slips), slips, cells)


def mistake_rows(answer, m: Mistake, got) -> tuple[int, ...]:
    """The rows of a fully read matrix answer `got` that mistake `m` explains: every wrong row of it is `m`'s row
    (each cell as :func:`dlexam.variants.typed.scores` scores it against `m`'s cell, within `m`'s tolerance), and
    at least one is told from the right row by more than that tolerance; () where `got` is not so."""
    cols = range(len(answer[0]))
    wrong = [i for i, r in enumerate(answer) if not all(scores(got[i][j], r[j]) for j in cols)]
    if not wrong or not all(scores(got[i][j], m.answer[i][j], m.tolerance) for i in wrong for j in cols):
        return ()
    if m.tolerance is not None and all(near(got[i][j], float(answer[i][j]), m.tolerance) for i in wrong for j in cols):
        return ()  # within the tolerance of the right answer too: nothing tells the mistake from a slip
    return tuple(wrong)


def whole_mistake(f: Field, got) -> tuple[str, Collection[int]]:
    """The one place a whole answer's mistake is recognised. For a fully read matrix answer `got`: the first of the
    field's own :class:`~dlexam.variants.model.Mistake` s (computed from the variant) that explains every wrong row
    (:func:`mistake_rows`), else one that needs only the key (:func:`matrix_mistake`); its words and the rows it
    explains. For a number `got` (a Fraction): the first of the field's mistakes whose value it is, else the right
    value negated, all rows (range(1)); ("", ()) where none fits."""
    if f.kind == "matrix":
        for m in f.mistakes:
            if rows := mistake_rows(f.answer, m, got):
                return m.why, rows
        return matrix_mistake(f.answer, got)
    if not scores(got, f.answer, f.tolerance):
        for m in f.mistakes:
            if scores(got, m.answer, m.tolerance):
                return m.why, range(1)
        if got and scores(-got, f.answer, f.tolerance):  # a loss written as sum log p, its minus sign left out
            return "the right value with the wrong sign", range(1)
    return "", range(0)


def split_option(value) -> tuple[str, str] | None:
    """(the option number, the text as written) where one row of several cells is a choice written as the grader
    shows it, "2: yes, a sound choice", on a CSV line without quotes (RFC 4180 splits it at its commas); else None."""
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], list)):
        return None
    cells = [c for c in value[0] if isinstance(c, str)]
    while cells and blank(cells[-1]):
        cells.pop()
    if len(cells) < 2 or not (m := re.fullmatch(r"\s*(\w+)\s*:.*", cells[0], re.DOTALL)):
        return None
    return m.group(1), ", ".join(c.strip() for c in cells)


def split_number(value) -> str:
    """Why one row of cells is one number split at its comma where a CSV line "Pr2.3.loss,17,0075" is (RFC 4180
    makes a decimal comma, or a thousands separator, a cell separator): what to write, as for the number quoted
    ("17,0075"); "" where the cells rejoined are no number with a comma ("108, -9" and "1/2,5" are two values)."""
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], list)):
        return ""
    cells = list(value[0])
    while cells and blank(cells[-1]):
        cells.pop()
    if len(cells) < 2 or not all(isinstance(c, str) and re.fullmatch(r"[+-]?[0-9.eE+-]+", c.strip()) for c in cells):
        return ""
    joined = ",".join(c.strip() for c in cells)
    if joined != ",".join(cells) or not (why := foreign(joined)):  # a space beside a comma: values typed apart
        return ""
    return (f"a CSV line is split at each comma outside quotes, so {joined} is {len(cells)} cells; if it is one "
            f"number, {why}")


def given_lines(value) -> list[str]:
    """The rows of a number's or a choice's answer that hold something, each as written ("3", "1" where a CSV sheet
    has the id on two lines, a student's answer and its correction); [] for an answer that is no list of rows."""
    if not (isinstance(value, list) and all(isinstance(r, list) for r in value)):
        return []
    return [", ".join(str(c).strip() for c in r if not blank(c)) for r in value if not left_out(r, 1)]


def unanswered(aid: str, qid: str, f: Field, q_points: int) -> FieldResult:
    return FieldResult(aid, qid, Fraction(0), f.points * q_points, False,
                       [{"where": aid, "given": "", "expected": "an answer", "reason": "not answered"}])


def grade_field(aid: str, qid: str, q_points: int, f: Field, value) -> FieldResult:
    """One answer against its field of the key. An answer that cannot be read scores 0 (a matrix cell: that
    cell), with what is wrong with it as ``invalid``; it raises nothing."""
    share = f.points * q_points
    if f.kind == "matrix":
        return _grade_matrix(aid, qid, share, f, value)
    written = value
    try:
        written = one_value(value)  # "9" of a CSV line "P1.1.choice,9,,"
        if written is None:
            return unanswered(aid, qid, f, q_points)
        got = read_choice(written, len(f.options), f.options) if f.kind == "choice" else read_number(written)
    except UnreadableAnswer as bad:
        if f.kind == "choice" and (split := split_option(value)):
            bad = UnreadableAnswer(f"{bad}: a CSV line is split at each comma outside quotes, so an option's text "
                                   f"with a comma is several cells; write it in quotes, \"{split[1]}\", or the "
                                   f"option's number alone, {split[0]}")
        elif f.kind == "number" and (split := split_number(value)):
            bad = UnreadableAnswer(f"{bad}: {split}")
        elif len(lines := given_lines(value)) > 1:
            bad = UnreadableAnswer(f"{bad}: {aid} is on {len(lines)} lines ({', then '.join(lines)}): give each "
                                   "answer once")
        return FieldResult(aid, qid, Fraction(0), share, False, [
            {"where": aid, "given": shown(written), "expected": expected_text(f),
             "reason": _because(str(bad), f.why), "invalid": str(bad)}])
    if f.kind == "choice":
        ok = got == f.answer
        option_why = f.option_reasons[got - 1] if f.option_reasons else ""  # why the chosen option is wrong
        reason = option_why or f.why  # else why the right one is right
        wrong = [] if ok else [{"where": aid, "given": f"{got}: {f.options[got - 1]}", "expected": expected_text(f),
                                "reason": reason, "option": got, "option_why": option_why, "answer": f.answer,
                                "right_why": "" if f.why in option_why else f.why}]
        plain = isinstance(written, str) and written.strip().lower() in (str(got), LETTERS[got - 1])
        read_as = [] if plain or not isinstance(written, str) else [f"{written.strip()!r} read as option {got}"]
        return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong, read_as)
    ok = scores(got, f.answer, f.tolerance)  # exactly (same_value) or within the tolerance (near): typed.scores
    given = as_written(written, got)
    wrong = [] if ok else [{"where": aid, "given": given, "expected": expected_text(f),
                            "reason": _because(rounding(written, got, f.answer, f.tolerance)
                                               or whole_mistake(f, got)[0], f.why)}]
    return FieldResult(aid, qid, share if ok else Fraction(0), share, ok, wrong)


def _grade_matrix(aid: str, qid: str, share: Fraction, f: Field, value) -> FieldResult:
    """A matrix earns its share cell by cell; an unreadable or missing cell is wrong, the others count."""
    rows, cols = len(f.answer), len(f.answer[0])
    try:
        cells, notes = read_matrix(value, rows, cols)
    except UnreadableAnswer as bad:
        return FieldResult(aid, qid, Fraction(0), share, False, [
            {"where": aid, "given": shown(value), "expected": expected_text(f), "reason": str(bad),
             "invalid": str(bad)}])
    wrong = []
    read = [[got for _, got in r] for r in cells]
    whole, explained = (whole_mistake(f, read) if all(isinstance(x, Fraction) for r in read for x in r)
                        else ("", range(0)))
    swapped, slips, given_t = transposed(f, value) if notes else ("", [], [])  # read in the key's shape, its rows
    if swapped:  # or cells were too many or few: no value of it is in its place, one wrong answer, not cells
        given = [[shown_cell(w, got) for w, got in r] for r in given_t]  # where they land
        labels = f" (rows {f.row_labels[0]} to {f.row_labels[-1]})" if f.row_labels else ""
        right_ones = "every value is right" if not slips else "every other value is right"
        rest = _because(f"{right_ones}, but written at row j, column i for row i, column j, so none is in its "
                        f"place; write {rows} rows of {cols}{labels}", f.why)
        wrong = [{"where": aid, "given": "[" + "; ".join(", ".join(r) for r in given) + "]",
                  "expected": expected_text(f), "reason": f"{swapped}: {rest}"}
                 | ({"cell": rest} if slips else {})]  # with entries for its wrong values: the name said once
        for i, j in slips:  # each wrong value where it belongs, in the key's coordinates
            cell = _because(f"wrong read transposed too (written at row {j + 1}, column {i + 1})",
                            f.reason(i, j) if f.reason else "")
            wrong.append({"where": cell_name(f, i, j), "at": [i, j], "given": given[j][i],
                          "expected": text(f.answer[i][j]), "reason": _because(swapped, cell), "cell": cell})
        return FieldResult(aid, qid, Fraction(0), share, False, wrong, [], swapped)
    square = transposed_slips(f.answer, cells) if not whole and rows == cols else None  # its cells as written
    if square:  # a square answer transposed, a slip or two in it: named, its cells scored where they land, as
        whole, explained, slips = transposition(f, cells, square), range(rows), square  # one without a slip is
    slipped = {(j, i) for i, j in slips}  # where each wrong value stands in the answer
    for i in range(rows):
        for j in range(cols):
            written, got = cells[i][j]
            if isinstance(got, Fraction) and scores(got, f.answer[i][j]):
                continue
            where = cell_name(f, i, j)
            why = f.reason(i, j) if f.reason else ""
            entry = {"where": where, "at": [i, j], "given": "", "expected": text(f.answer[i][j]), "reason": why}
            if got is None:
                entry["reason"] = _because("not answered", why)
            elif isinstance(got, UnreadableAnswer):
                entry |= {"given": shown(written), "reason": _because(str(got), why), "invalid": str(got)}
            elif (i, j) in slipped:  # wrong here, and wrong read transposed too: the key's cell (j, i)
                cell = _because(f"wrong read transposed too: {cell_name(f, j, i)} is {text(f.answer[j][i])}", why)
                entry |= {"given": as_written(written, got), "reason": _because(whole, cell), "cell": cell}
            elif i in explained:  # the whole answer's mistake; "cell": what this cell's reason adds to it
                entry |= {"given": as_written(written, got), "reason": _because(whole, why), "cell": why}
            else:
                entry |= {"given": as_written(written, got),
                          "reason": _because(rounding(written, got, f.answer[i][j]), why)}
            wrong.append(entry)
    right = rows * cols - len(wrong)
    named = whole if any("cell" in w for w in wrong) else ""
    return FieldResult(aid, qid, share * Fraction(right, rows * cols), share, not wrong, wrong, notes, named)


def _named_variant(v: Variant, submission: dict) -> None:
    """Refuse a submission whose ``seed``, ``difficulty`` or ``fingerprint`` (where given) is another variant's."""
    said = {}
    for name in SUBMISSION_META:
        try:
            said[name] = one_value(submission.get(name))
        except UnreadableAnswer:
            said[name] = shown(submission[name])
    for name, want in (("seed", v.seed), ("difficulty", v.difficulty)):
        if said[name] is not None and str(said[name]).strip() != str(want):
            seed = v.seed if said["seed"] is None else said["seed"]
            raise SubmissionError(f"{name}: this submission is for variant {seed} "
                                  f"({said['difficulty'] or 'standard'}), not variant {v.seed} ({v.difficulty})")
    if said["fingerprint"] is not None and v.fingerprint and str(said["fingerprint"]).strip().lower() != v.fingerprint:
        raise SubmissionError(f"fingerprint: this submission answers an exam with fingerprint "
                              f"{shown(str(said['fingerprint']).strip())}, and variant {v.seed} ({v.difficulty}) "
                              f"here has fingerprint {v.fingerprint}: another dlexam drew that exam for seed {v.seed}; "
                              "grade it against the key.json written with it (dlexam grade --key KEY.json ...)")


def id_meant(unknown: str, known) -> str:
    """What an unknown answer id almost is, said after "no such answer": a known id run into its answer, its
    separator lost ("Pr1.3.in_features 108", "Pr1.3.in_features: 108"), or a known id in other letter case; ""
    for any other."""
    for k in known:
        if m := re.fullmatch(re.escape(k) + r"\s*[:=]?\s*(\S.*)", unknown, re.DOTALL):
            if unknown[len(k)].isspace() or unknown[len(k)] in ":=":
                return (f": is it {k} with its answer, {shown(m.group(1).strip())}, in the same cell? Write the id "
                        f"and the answer in cells of their own: {k},{shown(m.group(1).strip())}")
    same = [k for k in known if k.casefold() == unknown.strip().casefold()]
    return f": is it {same[0]}? Answer ids are written as the exam prints them" if same else ""


def grade(v: Variant, submission: dict) -> Grade:
    """Score `submission` (answer id -> answer) against variant `v`'s key. Raises :class:`SubmissionError` only
    for a submission with nothing to grade: no answers, an answer id `v` does not have, or another variant's."""
    _named_variant(v, submission)
    known = v.fields()
    if not any(k not in SUBMISSION_META for k in submission):
        raise SubmissionError("submission: no answers in it (give answer id -> answer, e.g. \"Pr2.2.P\")")
    unknown = [k for k in submission if k not in known and k not in SUBMISSION_META]
    if unknown:
        raise SubmissionError(f"{shown(unknown[0])}: no such answer in variant {v.seed}"
                              + (id_meant(unknown[0], known) or "; the answers are " + ", ".join(known)))
    results, missing, manual = [], [], Fraction(0)
    for aid, (q, f) in known.items():
        if f.kind == "essay":
            manual += f.points * q.points
            continue
        if left_out(submission.get(aid)):
            missing.append(aid)
            results.append(unanswered(aid, q.id, f, q.points))
            continue
        results.append(grade_field(aid, q.id, q.points, f, submission[aid]))
    score = sum((r.points for r in results), Fraction(0))
    max_score = sum((r.max_points for r in results), Fraction(0))
    return Grade(v.seed, v.difficulty, score, max_score, manual, results, missing)
