"""A submission file read into answers, and what its CSV form can do to one answer.

A submission maps answer ids (``Pr2.2.P``, ``P1.4.choice``) to answers: a number as text or JSON ("1/4", "0.25",
"2.5e-1", 3), a matrix as a list of rows, a choice as its option number. JSON (an object; the output of ``dlexam
variant --json`` is one too) or CSV (``id,value`` per line, a matrix one line per row with its id repeated).
:func:`read_submission` refuses only a file that cannot be read as either (:class:`SubmissionError`: one line,
`dlexam grade` exits 2); what is wrong with one answer is the grader's to report (:mod:`dlexam.variants.grade`), and
where a CSV line split an answer at its commas, or gave it twice, :func:`split_option`, :func:`split_number` and
:func:`given_lines` say so.
"""
from __future__ import annotations

import csv
import io
import math
import re

from dlexam.errors import UserError
from dlexam.plain import loads
from dlexam.variants.reading import blank, left_out
from dlexam.variants.typed import foreign

MAX_SUBMISSION_BYTES = 1 << 20


class SubmissionError(UserError):
    """A submission that cannot be graded at all: names the answer id (or the file) and what is wrong with it."""


def json_float(literal: str) -> float | str:
    """A JSON number with a point or an exponent, as float64 reads it, except one float64 cannot hold: one that is
    not 0 but reads as 0.0 (1e-400) or one beyond its range (1e400) stays the text written, which
    :func:`dlexam.variants.reading.read_number` reads exactly, as it reads that text typed (so 1e-400 is no 0: the
    key's 0 takes 0 alone)."""
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
    :func:`dlexam.variants.reading.row_cells` reads the same row quoted; any other cells as they are (a whole
    matrix, "[[1", "0]", ..., is left to be refused as no numbers)."""
    if len(cells) > 1:
        first, last = cells[0], cells[-1]
        for opening, closing in ("[]", "()"):
            if (first.startswith(opening) and not first.startswith(opening * 2) and last.endswith(closing)
                    and not last.endswith(closing * 2)):
                return [first[1:].strip(), *cells[1:-1], last[:-1].strip()]
    return cells


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
