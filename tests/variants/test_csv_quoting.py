"""CSV answer sheets read as RFC 4180 writes them: a cell in quotes holds the separator, a line break and a doubled
quote; a sheet written by Python's csv module (every separator dlexam takes, minimal or full quoting, CRLF) reads
back cell for cell. Oracle: Python's csv module (its writer, and its reader where the case is one it reads), and
the option texts of a variant, which hold commas ("no, a poor choice")."""

from __future__ import annotations

import csv
import io

import pytest

from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.submission import SubmissionError, read_submission

V = make_variant(1)
WISE = V.fields()["Pr2.1.wise"][1]  # a choice whose options hold a comma
SHOWN = f"{WISE.answer}: {WISE.options[WISE.answer - 1]}"  # as the grader shows a choice: "2: yes, a sound choice"


def result(sub: dict, aid: str):
    return next(r for r in grade(V, sub).fields if r.id == aid)


def test_the_case_is_exercised():
    assert "," in SHOWN and any("," in o for o in WISE.options)


@pytest.mark.parametrize("sep", [",", ";", "\t"])
@pytest.mark.parametrize("quoting", [csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
def test_a_sheet_written_by_the_csv_module_reads_back_exactly(sep, quoting):
    """Cells holding ',', ';', a tab, a doubled quote and a line break, written by csv.writer, read back as written."""
    rows = [["id", "value"], ["seed", "1"], ["Pr2.1.wise", SHOWN],
            ["Pr2.2.P", 'a "quoted" word', "1;2", "x\ty", "two\nlines", "3, 4"],
            ["Pr2.2.P", '"', '""', ",", "1/2"], ["P1.1.choice", f"{WISE.answer}: " + 'say "yes, a sound choice"']]
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, quoting=quoting, lineterminator="\r\n").writerows(rows)
    assert list(csv.reader(io.StringIO(buf.getvalue()), delimiter=sep)) == rows  # the oracle reads its own
    sub = read_submission(buf.getvalue().encode())
    assert sub == {"seed": "1", "Pr2.1.wise": SHOWN, "Pr2.2.P": [r[1:] for r in rows[3:5]], "P1.1.choice": rows[5][1]}
    assert result(sub, "Pr2.1.wise").correct


def test_a_space_before_a_quoted_cell_keeps_it_one_cell():
    """`Pr2.1.wise, "2: yes, a sound choice"` (a space after the comma, as people type CSV) split the quoted cell at
    its comma: "expected one value, got 2". The csv module reads it as one cell where told to skip that space."""
    body = f'id, value\nPr2.1.wise, "{SHOWN}"\nPr2.2.P, "1, 0", 2\n'
    oracle = list(csv.reader(io.StringIO(body), skipinitialspace=True))
    assert oracle[1] == ["Pr2.1.wise", SHOWN] and oracle[2] == ["Pr2.2.P", "1, 0", "2"]
    sub = read_submission(body.encode())
    assert sub["Pr2.1.wise"] == SHOWN and sub["Pr2.2.P"] == [["1, 0", "2"]]
    assert result(sub, "Pr2.1.wise").correct


def test_a_quoted_header_cell_holding_a_comma_does_not_decide_the_separator():
    """A ';' sheet whose header is `"id, answer";"value"` was read as a comma sheet (its first ',' came before its
    first ';', inside the quotes): every answer id was then `Pr2.1.wise;"2: yes`, no such answer."""
    body = f'"id, answer";"value"\nPr2.1.wise;"{SHOWN}"\nP1.1.choice;2\n'
    oracle = list(csv.reader(io.StringIO(body), delimiter=";"))
    assert oracle[1:] == [["Pr2.1.wise", SHOWN], ["P1.1.choice", "2"]]
    sub = read_submission(body.encode())
    assert sub == {"id, answer": "value", "Pr2.1.wise": SHOWN, "P1.1.choice": "2"}


def test_a_quote_never_closed_is_refused_naming_its_line():
    """An opening quote with no closing one swallowed every later line into its cell: the answers after it were
    silently "not answered". RFC 4180 has no such sheet (the csv module, strict, refuses it too): one line, the line
    where the cell began."""
    body = 'id,value\nP1.4.choice,2\nPr1.3.in_features,"108\nP1.1.choice,2\nPr2.1.wise,1\n'
    with pytest.raises(csv.Error):
        list(csv.reader(io.StringIO(body), strict=True))
    with pytest.raises(SubmissionError, match=r"^answers\.csv line 3: a quoted cell is never closed"):
        read_submission(body.encode(), "answers.csv")


def test_an_unquoted_option_text_split_at_its_comma_says_to_quote_it():
    """`Pr2.1.wise,2: yes, a sound choice` is, by RFC 4180, two cells: the answer is refused as it was, but its
    message now says why and how to write it (quoted), not only "expected one value, got 2"."""
    sub = read_submission(f"Pr2.1.wise,{SHOWN}\n".encode())
    assert sub["Pr2.1.wise"] == [[s.strip() for s in SHOWN.split(",")]]  # the csv module's cells, stripped
    (w,) = result(sub, "Pr2.1.wise").wrong
    assert "quote" in w["invalid"] and f'"{SHOWN}"' in w["invalid"], w["invalid"]
