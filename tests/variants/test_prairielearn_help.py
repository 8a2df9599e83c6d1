"""PrairieLearn's help beside each number and matrix input says what server.py scores, no more and no less.

pl-number-input's help popover, with rtol 0 and atol 0, read "Your answer must be accurate to within relative
tolerance 0 and absolute tolerance 0": an exact answer, where server.py (typed.scores, `dlexam grade`'s rule) takes
the double nearest the key written out in full too (0.14285714285714285 for 1/7). pl-matrix-component-input, given
no tolerance, showed its defaults (rtol 0.01, atol 1e-8), where every cell is graded exactly. The element's help is
now off (pl-number-input's show-help-text) or names tolerance 0 (the matrix, whose help cannot be turned off), and
a sentence under each input says what scores; its examples are checked here against `dlexam grade`'s grader.
Read in PrairieLearn's element source (PrairieLearn/PrairieLearn, apps/prairielearn/elements/pl-number-input and
pl-matrix-component-input: their optional attributes, their .mustache help text).
"""

from __future__ import annotations

import re
from fractions import Fraction
from html import unescape

from dlexam.variants import exports, make_variant
from dlexam.variants.grade import grade_field
from dlexam.variants.model import Field

V = make_variant(1)


def pages() -> dict[str, str]:
    return {name: data.decode() for name, data in exports.prairielearn(V).items() if name.endswith("question.html")}


def helps(html: str, element: str) -> list[tuple[str, str]]:
    """(the element's tag, the help sentence under it) for each `element` of the page."""
    return [(tag, unescape(text)) for tag, text in
            re.findall(rf"(<{element} [^>]*>)</{element}>\s*<p><small>([^<]*)</small></p>", html)]


def scores(key: Fraction, text: str) -> tuple[bool, bool]:
    """`dlexam grade`'s verdict on `text` for an exact key, as a number field and as a matrix cell."""
    number, cell = Field("n", "number", key, Fraction(1)), Field("m", "matrix", ((key,),), Fraction(1))
    return grade_field("T.1.n", "T.1", 1, number, text).correct, grade_field("T.1.m", "T.1", 1, cell, [[text]]).correct


def test_every_number_and_matrix_input_has_help_that_is_true():
    seen = {"pl-number-input": 0, "pl-matrix-component-input": 0}
    for name, html in pages().items():
        for element in seen:
            found = helps(html, element)
            assert len(found) == html.count(f"<{element} "), (name, element)  # a sentence under every input
            for tag, sentence in found:
                seen[element] += 1
                if element == "pl-number-input":
                    assert 'show-help-text="false"' in tag, tag  # its own help would promise tolerance 0
                else:
                    assert 'rtol="0"' in tag and 'atol="0"' in tag, tag  # its help names these; 1% by default
                if "Exact answers" in sentence:  # each clause's example, graded as the clause says
                    for clause, verdict in ((r"a decimal equal to the answer", True),
                                            (r"a rounded decimal", False), (r"written out in full", True)):
                        text, key = re.search(clause + r" \(([^ ()]+) for (\d+/\d+)\)", sentence).groups()
                        assert scores(Fraction(key), text) == (verdict, verdict), (clause, text, key)
                    assert scores(Fraction(0), "1e-400") == (False, False)  # "0 takes 0 alone"
                else:
                    assert element == "pl-number-input" and "within 0.0005" in sentence, sentence
    assert seen["pl-number-input"] and seen["pl-matrix-component-input"]


def test_a_loss_rounded_to_4_decimals_scores_as_its_help_says():
    for aid, (q, f) in V.fields().items():
        if f.kind == "number" and not f.exact:
            four = f"{f.answer:.4f}"
            assert grade_field(aid, q.id, q.points, f, four).correct, four
