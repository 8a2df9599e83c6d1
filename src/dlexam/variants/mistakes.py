"""What the grader says of a wrong answer: the right one as feedback states it, and the mistake that explains it.

A number that is the key rounded or cut to the decimals written (:func:`rounding`); a whole answer explained by one
mistake (:func:`whole_mistake`, the one place it is recognised: the field's own
:class:`~dlexam.variants.model.Mistake` s, else a matrix transposed, negated, scaled or its rows shifted, or a number
of the wrong sign); a matrix written transposed but for a slip or two (:func:`transposed_slips`, :func:`transposed`).
Everything here needs only the key and the answer as read (:mod:`dlexam.variants.reading`), so a saved key explains
it too; the grader (:mod:`dlexam.variants.grade`) scores.
"""
from __future__ import annotations

import math
import re
from collections.abc import Collection
from fractions import Fraction

from dlexam.spec import text
from dlexam.variants.model import Field, Mistake
from dlexam.variants.reading import read_matrix
from dlexam.variants.typed import UnreadableAnswer, key_decimal, near, scores, shown
from dlexam.words import counted


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


MOST_ROWS = 64  # rows of a matrix answer read when looking for the key's rows among more of them


def rows_among(f: Field, value) -> tuple[str, list] | None:
    """For a matrix answer with more rows than the key's, of its width, where the key's rows stand among them, later
    than its first row (every position's logit rows where rows 4-6 are asked; the input's shape above Pr1.3's
    layers): the words naming it, and those rows' cells (each (written, read)), to be scored where they stand. They
    stand where the most of their cells are right (more than where the rows given start), more than half of the rows
    whole; None otherwise: a slip in one row does not hide them, and rows that repeat (a logit row of a token seen
    twice) do not place them by chance. Needs only the key."""
    rows, cols = len(f.answer), len(f.answer[0])
    try:
        cells, _ = read_matrix(value, MOST_ROWS, cols)
    except UnreadableAnswer:
        return None
    given = MOST_ROWS
    while given and all(got is None for _, got in cells[given - 1]):
        given -= 1

    def right(start: int) -> tuple[int, int]:  # the cells, and the whole rows, right if the asked rows start here
        ok = [[isinstance(x, Fraction) and scores(x, want) for (_, x), want in zip(cells[start + k], f.answer[k],
                                                                                      strict=True)]
              for k in range(rows)]
        return sum(map(sum, ok)), sum(map(all, ok))

    counts = [right(start) for start in range(given - rows + 1)]
    if len(counts) < 2:
        return None
    best = max(range(1, len(counts)), key=lambda s: (counts[s], -s))
    if not (2 * counts[best][1] > rows and counts[best][0] > counts[0][0]):
        return None
    names = f" ({f.row_labels[0]} to {f.row_labels[-1]})" if f.row_labels else ""
    how = "all right" if counts[best][1] == rows else f"{counts[best][1]} of them right"
    return (f"rows {best + 1}-{best + rows} of the {given} rows given are the {rows} rows asked{names}, {how}: "
            f"they are scored where they stand, the other rows ignored; give those {rows} rows alone, in order",
            cells[best:best + rows])


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
