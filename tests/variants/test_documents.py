"""exam.pdf says what exam.md says: the instruction on exact answers and each question's answer fields with their
points (the Typst source against the Markdown, and the PDF's own text where pypdf is installed)."""

from __future__ import annotations

import io
import math
import re

import pytest

from dlexam.variants import documents, make_variant

LEADS = ("Answers are exact", "Answer fields:")


def unescaped(line: str) -> str:
    """A line of Markdown or Typst as text: a backslash escapes the next character in both."""
    return re.sub(r"\\(.)", r"\1", line)


def lines(source: str) -> list[str]:
    return [unescaped(s) for s in source.splitlines() if s.startswith(LEADS)]


@pytest.mark.parametrize("seed, difficulty", [(7, "standard"), (11, "harder")])
def test_typst_source_has_the_markdowns_instructions_and_answer_fields(seed, difficulty):
    v = make_variant(seed, difficulty)
    ours = lines(documents.typst_source(v))
    assert ours == lines(documents.markdown(v))
    assert len(ours) == 1 + len(v.questions)
    # by hand: Pr2.3's 5 points are 2 for the logits and 3 for the loss; Pr2.4's 4 are 2 for R, 1 and 1
    (pr23,) = [s for s in ours if "`Pr2.3." in s]
    assert re.fullmatch(r"Answer fields: `Pr2\.3\.logits` \([^)]*, 2 pt\), `Pr2\.3\.loss` \([^)]*, 3 pt\)", pr23)
    (pr24,) = [s for s in ours if "`Pr2.4." in s]
    assert re.search(r"`Pr2\.4\.R` \([^)]*, 2 pt\), `Pr2\.4\.same` \([^)]*, 1 pt\), `Pr2\.4\.loss` \([^)]*, 1 pt\)",
                     pr24)
    assert not any(s.startswith(LEADS) for s in documents.typst_source(v, solution=True).splitlines())


def test_pdf_text_has_them():
    import pypdf  # a dev dependency (pyproject.toml), pure Python
    v = make_variant(7)
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(documents.pdf(v))).pages)
    text = re.sub(r"\s+", " ", text)
    assert "Answers are exact: write fractions as 1/7 (not 0.1429)" in text
    assert text.count("Answer fields:") == len(v.questions)
    assert re.search(r"Pr2\.3\.logits \([^)]*, 2 pt\), Pr2\.3\.loss \([^)]*, 3 pt\)", text)


def test_each_pdf_names_itself_in_its_metadata():
    """A PDF viewer's title bar and a course's file list show the document's title (they showed none, or the file's
    name); typed here as the documents' first line says it."""
    import pypdf
    v = make_variant(7)
    for solution, title in ((False, "Exam: Deep Learning, dlexam variant 7 (standard)"),
                            (True, "Worked solution: Deep Learning, dlexam variant 7 (standard)")):
        meta = pypdf.PdfReader(io.BytesIO(documents.pdf(v, solution))).metadata
        assert (meta.title, meta.author) == (title, "dlexam")


# variant 7's answer fields and the shape of each matrix, typed from its printed exam (the example
# "D A A <START> A D <STOP>", 6 tokens, 4 dimensions, 4 layers before the linear one)
SHAPES_7 = {"Pr1.3.shapes": (4, 3), "Pr2.2.S": (7, 7), "Pr2.2.P": (7, 7), "Pr2.3.logits": (3, 6), "Pr2.4.R": (7, 4)}


def answer_spaces(source: str) -> dict[str, str]:
    """answer id -> the Typst line that leaves room for it (it starts with the id, or an item's label and the id)."""
    out = {}
    for line in source.splitlines():
        m = re.match(r"(?:#block\(breakable: false\)\[)?(?:\(\w\) )?`([\w.-]+)`", line)
        if m:
            out[m.group(1)] = out.get(m.group(1), "") + line
    return out


def test_the_exam_leaves_room_for_every_answer_sized_to_it():
    """Version A's paper: "provide your answer in the space below each question". A matrix gets an empty grid of
    its shape, a number a box, a choice a box per option, an essay a box."""
    v = make_variant(7)
    spaces = answer_spaces(documents.typst_source(v))
    assert set(spaces) == set(v.fields())
    for aid, (_, f) in v.fields().items():
        line = spaces[aid]
        if aid in SHAPES_7:
            rows, cols = SHAPES_7[aid]
            assert f.kind == "matrix"
            widths = re.search(r"columns: \(([^)]*)\)", line).group(1).rstrip(",").split(", ")
            assert widths.count("1.5cm") == cols
            assert line.count("[]") == rows * cols + bool(f.row_labels and f.col_labels)  # and the corner
        elif f.kind == "choice":
            assert line.count("#box(") == len(f.options) and "#h(" in line
        elif f.kind == "number":
            assert line.count("#box(") == 1
        else:
            assert f.kind == "essay" and "height:" in line
    assert sum(f.kind == "matrix" for _, f in v.fields().values()) == len(SHAPES_7)
    assert not answer_spaces(documents.typst_source(v, solution=True))


def test_pdf_has_the_room():
    import pypdf
    v = make_variant(7)
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(documents.pdf(v))).pages)
    for aid in v.fields():  # named in the answer line and above its room
        assert text.count(aid) >= 2, aid


def test_solution_answer_lines_name_the_fields_as_written():
    """The worked solution's "Answer." lines write each field's name as the key does: Pr1.3's `in_features` once
    came out of Typst as "in" with "features" subscripted (the line's subscript rule, meant for W_Q and h_2, caught
    the field's name). Variant 7's last map is 24 x 3 x 3 (worked by hand from its printed exam): 216."""
    source = documents.typst_source(make_variant(7, computed=False), solution=True)
    (line,) = [s for s in source.splitlines() if s.startswith("*Answer.* shapes")]
    assert "#sub[" not in line and "#super[" not in line, line
    assert unescaped(line).endswith("; in_features = 216"), line


def test_solution_never_rounds_a_probability_to_zero():
    """The loss's worked solution wrote each target's probability to 4 places, so variant 7's row 5 read
    "p = e^3 / (...) = 0.0000" for a probability that is not 0 (the project writes such a number in scientific
    notation, never 0.0000). The oracle is math.exp on the closed form the line itself prints (the logits of row 5,
    worked by hand from the printed exam: 3, 5, 2, 3, 0, 13, target D)."""
    source = documents.markdown(make_variant(7, computed=False), solution=True)
    (line,) = [s for s in source.splitlines() if s.startswith("- row 5 scores D: p = ")]
    shown = float(re.search(r"= ([^ ,=]+), -log p", line).group(1))
    e = math.exp
    p = e(3) / (e(13) + e(5) + 2 * e(3) + e(2) + 1)
    assert shown != 0 and math.isclose(shown, p, rel_tol=1e-3), line


def as_read(s: str) -> str:
    """Text as pypdf reads it from the PDF: a sub- or superscript run into its name (W_Q reads WQ)."""
    return s.replace("_", "").replace("^", "")


def pdf_pages(v) -> list[str]:
    import pypdf
    return [re.sub(r"\s+", " ", p.extract_text()) for p in pypdf.PdfReader(io.BytesIO(documents.pdf(v))).pages]


def test_a_questions_options_are_never_split_across_pages():
    """Harder variant 0's exam.pdf put option 1 of Pr2.1 at the foot of page 3 and option 2 at the head of page 4
    (seen in the page images; 10 of harder seeds 0-29 split Pr2.1's, 4 of standard seeds 0-29 Pr2.4 (b)'s). Each
    item's options, with its label and the words asking it before them, are one run of text on one page, and each
    question's heading is on the page of its text's first words. Oracle: the PDF's own text, page by page (pypdf),
    searched for the option texts the variant holds, numbered as a list reads."""
    from dlexam.variants.model import Options, Text
    v = make_variant(0, "harder")
    pages = pdf_pages(v)
    items = 0
    for q in v.questions:
        heading = f"{q.id} {q.title} ({q.points} points)"
        first = " ".join(as_read(next(b.text for b in q.prompt if isinstance(b, Text))).split()[:6])
        assert [i for i, p in enumerate(pages) if heading in p] == [i for i, p in enumerate(pages) if first in p], q.id
        for k, b in enumerate(q.prompt):
            if isinstance(b, Options):
                asked = " ".join(q.prompt[k - 1].text.split()[-3:]) if isinstance(q.prompt[k - 1], Text) else ""
                run = " ".join(t for t in (asked, b.label, *(f"{n}. {o}" for n, o in enumerate(b.options, 1))) if t)
                assert sum(as_read(run) in p for p in pages) == 1, (q.id, b.label, as_read(run))
                items += 1
    assert items == 7  # P1.1, P1.4, P1.6, Pr2.1, Pr2.4 (b), Pr2.5 (a) and (b)
