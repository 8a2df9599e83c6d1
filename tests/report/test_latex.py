"""The exam's math on the page: LaTeX between dollar signs read as HTML (dlexam/mathtext.py), against HTML typed by
hand. The answer key's "the exam says" column had quoted `temp-softmax $_T(z)$` and `$T = \\sqrt{d}$` as raw
LaTeX (an audit, 2026-12-07)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from dlexam.mathtext import exam_math, exam_plain


@pytest.mark.parametrize(("text", "shown"), [
    # the two formulas the answer key quotes (P1.1's option 1 and Pr2.5's solution), typed by hand
    ("temp-softmax $_T(z)$ is a uniform", 'temp-softmax<span class="math"><sub><i>T</i></sub>(<i>z</i>)</span> is a '
                                          "uniform"),
    ("temperature $T = \\sqrt{d}$.",
     'temperature <span class="math"><i>T</i> = √<span class="radicand"><i>d</i></span></span>.'),
    ("$\\boldsymbol{w}^{\\top}\\boldsymbol{x}$",
     '<span class="math"><b><i>w</i></b><sup>⊤</sup><b><i>x</i></b></span>'),
    ("$\\frac{\\lambda}{2} ||w||_{\\infty}^2$", '<span class="math">λ/2 ||<i>w</i>||<sub>∞</sub><sup>2</sup></span>'),
    ("$\\frac{1}{1+\\exp\\{-z\\}}$", '<span class="math">1/(1+exp{-<i>z</i>})</span>'),
    ("$\\mathcal{D} \\in \\mathbb{R}^D$", '<span class="math">𝒟 ∈ ℝ<sup><i>D</i></sup></span>'),
    ("$\\operatorname{argmax}((1, 5, 3)) = 2$", '<span class="math">argmax((1, 5, 3)) = 2</span>'),
    ("$T \\to 0$ and $\\eta$", '<span class="math"><i>T</i> → 0</span> and <span class="math">η</span>'),
])
def test_the_exams_latex_reads_as_html(text, shown):
    assert exam_math(text) == shown


def test_text_outside_the_math_is_escaped_and_a_lone_dollar_stays():
    assert exam_math("a <b> & $5") == "a &lt;b&gt; &amp; $5"
    assert exam_math("$x < y$") == '<span class="math"><i>x</i> &lt; <i>y</i></span>'


def test_a_command_it_does_not_know_is_shown_as_written_never_guessed():
    assert exam_math("$\\weird{x}$") == '<span class="math">\\weird<i>x</i></span>'


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, tag

    def handle_data(self, data):
        self.text.append(data)


def test_every_inline_formula_of_the_exam_is_read_whole(exam_text):
    """Each $...$ span of the exam's text (its display blocks aside): its tags balanced, and no backslash or dollar
    left, so every command the exam uses in a sentence is one the reader knows."""
    inline = re.sub(r"\$\$.*?\$\$", "", exam_text, flags=re.S)
    spans = re.findall(r"\$[^$]+\$", inline)
    assert len(spans) > 50
    for span in spans:
        tags = _Tags()
        tags.feed(exam_math(span))
        tags.close()
        assert tags.open == [], span
        shown = "".join(tags.text)
        assert "\\" not in shown and "$" not in shown, (span, shown)


def test_the_answer_keys_exam_column_shows_no_latex(tmp_path, exam_text):
    """The answer key's third column ("the exam says"), as the report builds it from the real key: no dollar sign
    and no backslash command, and P1.1's and Pr2.5's formulas as typed by hand above."""
    from dlexam.report.context import ReportContext, ReportSettings
    from dlexam.report.sections import answers as answers_section

    html = answers_section.build(ReportContext(ReportSettings(tiny=True), tmp_path / "w", tmp_path))
    said = re.findall(r'<td data-label="the exam says">(.*?)</td>', html, flags=re.S)
    assert len(said) == 20
    assert not [s for s in said if "$" in s or re.search(r"\\[a-z]", s)]
    assert any('temp-softmax<span class="math"><sub><i>T</i></sub>(<i>z</i>)</span>' in s for s in said)
    assert any('√<span class="radicand"><i>d</i></span>' in s for s in said)


@pytest.mark.parametrize(("text", "shown"), [
    # a terminal's reading of the same formulas, typed by hand: scripts as _ and ^, bracketed where longer than one
    ("temp-softmax $_T(z)$ is a uniform", "temp-softmax_T(z) is a uniform"),
    ("temperature $T = \\sqrt{d}$.", "temperature T = √d."),
    ("$\\sqrt{d_k}$", "√(d_k)"),
    ("$\\frac{\\lambda}{2} ||w||_{\\infty}^2$", "λ/2 ||w||_∞^2"),
    ("$\\sum_{y_i=1}$ and a < b & c", "∑_(y_i=1) and a < b & c"),
    ("$\\boldsymbol{w}_{*}^{\\mathsf{T}} x$", "w_*^T x"),
    ("$a^{10}$ costs $5", "a^10 costs $5"),
])
def test_the_exams_latex_reads_as_text_for_a_terminal(text, shown):
    assert exam_plain(text) == shown


def test_the_answers_table_shows_the_exams_formulas_as_text():
    """`dlexam answers` quoted P1.1's option as `temp-softmax $_T(z)$` (an audit, 2026-12-07)."""
    from dlexam.commands.answers import render_question, render_table

    key = [{"id": "P1.1", "verdict": "agrees", "exam_answer": "option 1: temp-softmax $_T(z)$ is uniform",
            "computed": "c", "question": "q", "evidence": {}, "exam_quotes": [], "seconds": 0.0}]
    for shown in (render_table(key, width=160), render_question(key[0])):
        assert "temp-softmax_T(z) is uniform" in shown and "$" not in shown
