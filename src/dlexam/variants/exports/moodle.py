"""A variant as Moodle XML: multichoice, numerical and essay questions, and a matrix as one cloze question.

Moodle's numerical questions take decimals only, so an exact answer is written as its decimal: exactly (tolerance
0) when it has a finite one (1/4 = 0.25), else to 6 decimals with a tolerance of 5e-5 (1/7 accepts 0.1429 and
0.142857); an irrational answer uses the key's tolerance. A matrix is a cloze ("embedded answers") question
with one NUMERICAL gap per cell, so it earns credit cell by cell as `dlexam grade` gives it; its text says to type
decimals (DECIMALS_ONLY), since the exam's "give exact fractions" cannot be followed there; so does every
numerical question with an exact answer (DECIMAL_ANSWER), whose typed "7/2" Moodle reads as 7. Both sentences, and
the decimals keyed, come from exports/decimals.py, which the QTI export shares.

Moodle's XML import builds a cloze question with qtype_multianswer_extract_question, whose default mark is the sum
of its gaps' weights (whole numbers); it never reads <defaultgrade>. A matrix's cells weigh the same, so the exam's
points (5 for 49 cells) are out of reach: the question is written worth what Moodle will make it (one mark a
cell), and a comment before it, like docs/variants.md, says to set its maximum mark in the quiz to the exam's
points (the quiz scales a question's mark to its slot's maximum mark).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from html import escape

from dlexam.variants.documents import answer_grid, feedback_html, field_html, points_text
from dlexam.variants.exports.decimals import MOODLE, decimal, instruction, keyed
from dlexam.variants.model import Field, Question, Variant

# what a question with exact numbers says before its answer (a cloze question's before its grid): the exam asks
# for exact fractions, but Moodle reads a typed "1/4" as 1 (exports/decimals.py); its examples are the rule
# decimal() keys: exact where finite, else within 5e-5 of the 6-decimal value
DECIMALS_ONLY = instruction(MOODLE, "each cell")
DECIMAL_ANSWER = instruction(MOODLE, "the answer")


def plain(s: str) -> str:
    """Plain text inside a format="html" text: < > & escaped ("T > 0", "a <- a - eta", "<START>")."""
    return escape(s, quote=False)


def _text(parent: ET.Element, tag: str, value: str, fmt: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = value
    return el


def _question(quiz: ET.Element, kind: str, name: str, body: str, grade: Fraction, feedback: str) -> ET.Element:
    q = ET.SubElement(quiz, "question", {"type": kind})
    _text(q, "name", name)
    _text(q, "questiontext", body, "html")
    _text(q, "generalfeedback", feedback, "html")
    ET.SubElement(q, "defaultgrade").text = f"{float(grade):.4f}"
    ET.SubElement(q, "penalty").text = "0"
    ET.SubElement(q, "hidden").text = "0"
    return q


def _cell_gap(value: Fraction, weight: int = 1) -> str:
    text, tolerance = decimal(value)
    return f"{{{weight}:NUMERICAL:={text}:{tolerance:g}}}"


def _field(quiz: ET.Element, v: Variant, q: Question, f: Field) -> None:
    name = f"dlexam {v.seed} {q.answer_id(f)}"
    body = field_html(q, f)
    grade = f.points * q.points
    # every text below is format="html": plain text escaped; a field with no one-line reason (a matrix) is given its
    # question's worked solution, its tables as HTML, as PrairieLearn's answer panel shows it
    why = feedback_html(q, f)
    if f.kind == "choice":
        el = _question(quiz, "multichoice", name, body, grade, why)
        ET.SubElement(el, "single").text = "true"
        ET.SubElement(el, "shuffleanswers").text = "false"  # the order the printed exam uses
        ET.SubElement(el, "answernumbering").text = "123"
        for i, option in enumerate(f.options, start=1):
            ans = ET.SubElement(el, "answer", {"fraction": "100" if i == f.answer else "0", "format": "html"})
            ET.SubElement(ans, "text").text = plain(option)  # "T > 0", "a <- a - eta"
            _text(ans, "feedback", "right" if i == f.answer else (  # why this option is wrong, as dlexam grade says
                plain(f.option_reasons[i - 1]) if f.option_reasons else "") or why, "html")
    elif f.kind == "number":
        el = _question(quiz, "numerical", name, body + (f"<p>{plain(DECIMAL_ANSWER)}</p>" if f.exact else ""),
                       grade, why)
        text, tolerance = keyed(f)  # the window dlexam grade scores by (typed.window), as Moodle's answer -/+ tolerance
        ans = ET.SubElement(el, "answer", {"fraction": "100"})
        ET.SubElement(ans, "text").text = text
        ET.SubElement(ans, "tolerance").text = f"{tolerance:g}"
        _text(ans, "feedback", why, "html")
        ET.SubElement(el, "unitgradingtype").text = "0"
        ET.SubElement(el, "showunits").text = "3"  # no units
    elif f.kind == "essay":
        el = _question(quiz, "essay", name, body, grade, plain(f.answer))
        ET.SubElement(el, "responseformat").text = "editor"
        ET.SubElement(el, "responsefieldlines").text = "8"
        _text(el, "graderinfo", plain(f.answer), "html")
    else:  # a matrix: one numerical gap per cell
        table = answer_grid(f, lambda i, j: _cell_gap(f.answer[i][j]))
        gaps = len(f.answer) * len(f.answer[0])
        quiz.append(ET.Comment(f" {name}: Moodle marks a cloze question out of its gaps' weights ({gaps} gaps of "
                               f"weight 1) and ignores defaultgrade on import; the exam gives it {points_text(grade)} "
                               f"points: set its maximum mark in the quiz to {points_text(grade)}. "))
        _question(quiz, "cloze", name, body + f"<p>{plain(DECIMALS_ONLY)}</p>" + table, Fraction(gaps), why)


def moodle_xml(v: Variant) -> bytes:
    """Every answer field of the variant as a Moodle question, in a category named for the variant."""
    quiz = ET.Element("quiz")
    cat = ET.SubElement(quiz, "question", {"type": "category"})
    _text(cat, "category", f"$course$/top/dlexam variant {v.seed} ({v.difficulty})")
    for q in v.questions:
        for f in q.fields:
            _field(quiz, v, q, f)
    ET.indent(quiz)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="utf-8") + b"\n"
