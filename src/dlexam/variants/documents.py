"""A variant's printable documents: the exam and its worked solution, as Markdown and as Typst (for PDF).

Both are rendered from the same blocks (:mod:`dlexam.variants.model`). The PDF is typeset by Typst, from the
`typst` package on PyPI: a self-contained compiler (no TeX installation, no network, fonts included) that
takes the generated source in memory and returns the PDF's bytes in well under a second.
"""

from __future__ import annotations

import re
from fractions import Fraction
from html import escape

from dlexam.variants.model import Block, Items, Options, Question, Text, Variant
from dlexam.variants.typed import bounds_text, key_decimal

PARTS = (("P1.", "Part 1: multiple choice"), ("Pr1.", "Problem 1: a convolutional network"),
         ("Pr2.", "Problem 2: a one-layer transformer on sequences of symbols"))



# Every file of a variant is dated 2025-01-22 00:00:00 UTC, Version A's date (a PDF's CreationDate, from which Typst
# derives its /ID; the QTI zip's entries), so one variant gives the same bytes each time; $SOURCE_DATE_EPOCH
# (reproducible builds' convention) dates them otherwise: dlexam.commands.variant.creation_time.
FILE_DATE = 1_737_504_000


def title(v: Variant, solution: bool) -> str:
    what = "Worked solution" if solution else "Exam"
    return f"{what}: Deep Learning, dlexam variant {v.seed} ({v.difficulty})"


_TITLE = re.compile(r"dlexam variant (\d+) \((\w+)\)")


def titled_variant(line: str) -> tuple[int, str] | None:
    """(seed, difficulty) of the variant a :func:`title` names in `line` (a document's first line), or None."""
    m = _TITLE.search(line)
    return None if m is None else (int(m.group(1)), m.group(2))


def _part(qid: str) -> str:
    return next(name for prefix, name in PARTS if qid.startswith(prefix))


# ---- Markdown -----------------------------------------------------------------------------------

def md(s: str) -> str:
    """Plain text as Markdown: the characters Markdown reads as markup escaped (<START> would be an HTML tag)."""
    return "".join("\\" + ch if ch in "\\`*_<>[]|" else ch for ch in s)


def as_is(s: str) -> str:
    """Plain text left as it is: what a terminal shows (`w <- w - eta ...`, where a .md file has `w \\<- ...`)."""
    return s


def md_block(b: Block, esc=md) -> str:
    """Block `b` laid out as Markdown, its text escaped by `esc` (:func:`md` for a file, :func:`as_is` for a
    terminal)."""
    if isinstance(b, Text):
        return esc(b.text)
    if isinstance(b, Options):
        return (f"{b.label}\n\n" if b.label else "") + "\n".join(
            f"{i}. {esc(o)}" for i, o in enumerate(b.options, start=1))
    if isinstance(b, Items):
        return "\n".join(f"- {esc(item)}" for item in b.items)
    head = ("",) * bool(b.row_labels) + b.header  # every Table has its column labels (model.Table)
    lines = [f"*{esc(b.caption)}*", "", "| " + " | ".join(esc(h) for h in head) + " |",
             "|" + "|".join("---" for _ in head) + "|"]
    for i, r in enumerate(b.rows):
        label = (f"**{esc(b.row_labels[i])}**",) if b.row_labels else ()
        lines.append("| " + " | ".join((*label, *map(esc, r))) + " |")
    return "\n".join(lines)


INSTRUCTIONS = ("Answers are exact: write fractions as 1/7 (not 0.1429) unless a question asks for decimals. "
                "Each question's answer fields are named so that `dlexam grade` can read a submission.")


def instructions(v: Variant) -> str:
    """INSTRUCTIONS, and the two lines that name this exam in an answer sheet (its seed and fingerprint)."""
    return (f"{INSTRUCTIONS} Begin the answers with `seed,{v.seed}` and `fingerprint,{v.fingerprint}` (in JSON: "
            f"`\"seed\": {v.seed}, \"fingerprint\": \"{v.fingerprint}\"`): they name this exam, so that the "
            "answers are never graded against another one.")


def with_code(s: str, escape_text) -> str:
    """s with its `code spans` kept (raw in Markdown and in Typst alike) and the text between them escaped."""
    return "`".join(part if k % 2 else escape_text(part) for k, part in enumerate(s.split("`")))


def answer_line(q: Question) -> str:
    """The question's answer fields, their ids in code spans, with their labels and points (plain text)."""
    return "Answer fields: " + ", ".join(
        f"`{q.answer_id(f)}` ({f.label}, {points_text(f.points * q.points)} pt)" for f in q.fields)


def markdown(v: Variant, solution: bool = False, esc=md) -> str:
    """The exam (questions only) or its worked solution, as Markdown (the .md files). With ``esc=as_is`` the same
    layout with its text unescaped: what `dlexam variant` prints to a terminal (:func:`terminal`)."""
    out = [f"# {esc(title(v, solution))}", ""]
    if not solution:
        out += [with_code(instructions(v), esc), ""]
    part = None
    for q in v.questions:
        if _part(q.id) != part:
            part = _part(q.id)
            out += [f"## {esc(part)}", ""]
            if q.context and not solution:  # the problem's setting, once
                out += [md_block(b, esc) + "\n" for b in q.context]
        out += [f"### {q.id} {esc(q.title)} ({q.points} points)", ""]
        blocks = q.solution if solution else q.prompt
        if solution:
            out += [_key_line(q, esc), ""]
        out += [md_block(b, esc) + "\n" for b in blocks]
        if not solution:
            out += [with_code(answer_line(q), esc), ""]
    return "\n".join(out).rstrip() + "\n"


def terminal(v: Variant, solution: bool = False) -> str:
    """The exam or its worked solution as a terminal shows it: :func:`markdown`'s layout, its text unescaped."""
    return markdown(v, solution, esc=as_is)


def answer_text(f) -> str:
    if f.kind == "matrix":
        return "[" + "; ".join(", ".join(r) for r in f.key_value()) + "]"
    if f.kind == "number":
        if f.exact:
            return f.key_value()
        low, high = bounds_text(key_decimal(f.answer), f.tolerance)  # typed.window: what every grader accepts
        return (f"{f.answer:.4f} (exactly {f.closed_form}; accepted: {key_decimal(f.answer)} -/+ {f.tolerance:g}, "
                f"{low} to {high})")
    if f.kind == "choice":
        return f"{f.answer}: {f.options[f.answer - 1]}"
    return f"(model answer) {f.answer}"


def answer_name(q: Question, f) -> str:
    """What a key calls field `f`'s answer: its item where the question has two ("(a)" of Pr2.5), else the field's
    name. Pr2.5's field names are Version A's ("zero", "softmax"), which a variant asking for the non-zero
    gradients, or about the learning rate, would contradict."""
    return (f.kind == "choice" and option_label(q, f)) or f.name


def _key_line(q: Question, esc=md) -> str:
    return "**Answer.** " + esc("; ".join(f"{answer_name(q, f)} = {answer_text(f)}" for f in q.fields))


# ---- HTML (the learning platforms' question text) -------------------------------------------------

def html_block(b: Block) -> str:
    if isinstance(b, Text):
        return f"<p>{escape(b.text)}</p>"
    if isinstance(b, Options):  # the platform shows the options itself, where its answer line names the item
        return ""
    if isinstance(b, Items):
        return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in b.items) + "</ul>"
    head = ([""] if b.row_labels else []) + list(b.header)
    rows = "".join("<tr>" + (f"<th>{escape(b.row_labels[i])}</th>" if b.row_labels else "")
                   + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for i, r in enumerate(b.rows))
    header = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
    return f"<table><caption>{escape(b.caption)}</caption>{header}{rows}</table>"


def html(blocks) -> str:
    return "\n".join(h for h in (html_block(b) for b in blocks) if h)


def option_label(q: Question, f) -> str:
    """The label of the item whose options are choice field `f`'s ("(b)" of Pr2.5), "" where the question has one."""
    return next((b.label for b in q.prompt if isinstance(b, Options) and b.options == f.options), "")


def field_html(q: Question, f) -> str:
    """A field's question text on a platform: the question's context and prompt, then what to answer (a choice
    of a question with two items: which item, "Answer (b):", since the platform shows that item's options only; a
    field whose label another field of the question has too: its name, "Answer (Conv-2): parameters", since each
    field is a question of its own there, with the same text, and the platform hides the question's name). A choice
    asks to choose one of the options the platform lists (on paper it asks for the option's number)."""
    item = option_label(q, f) if f.kind == "choice" else ""
    if not item and sum(g.label == f.label for g in q.fields) > 1:
        item = f"({f.name})"
    answer = f"Answer {item}" if item else "Answer"
    # a choice is answered by clicking one of the options the platform lists under it, not by typing its number
    label = "choose one of the options below" if f.kind == "choice" else f.label
    return html((*q.context, *q.prompt)) + f"<p><b>{escape(answer)}:</b> {escape(label)}</p>"


def feedback_html(q: Question, f) -> str:
    """What a platform shows about field `f` after the attempt (Moodle's general feedback, Canvas's neutral
    comments): an essay's model answer, else the field's one-line reason, else (a matrix) its question's worked
    solution with its tables."""
    if f.kind == "essay":
        return escape(f.answer, quote=False)
    return escape(f.why, quote=False) if f.why else html(q.solution)


def answer_grid(f, cell) -> str:
    """A matrix field's answer table: its row and column labels escaped (``<START>`` is text, not a tag), and
    each cell ``cell(i, j)``, the platform's own input markup (a Moodle cloze gap, a QTI blank) as given."""
    head = "".join(f"<th>{escape(c)}</th>" for c in ("", *f.col_labels)[not f.row_labels:]) if f.col_labels else ""
    rows = "".join(
        "<tr>" + (f"<th>{escape(f.row_labels[i])}</th>" if f.row_labels else "")
        + "".join(f"<td>{cell(i, j)}</td>" for j in range(len(r))) + "</tr>" for i, r in enumerate(f.answer))
    return f"<table>{f'<tr>{head}</tr>' if head else ''}{rows}</table>"


# ---- Typst --------------------------------------------------------------------------------------

def ty(s: str) -> str:
    """Plain text as Typst markup: every character Typst treats as markup escaped."""
    return "".join("\\" + ch if ch in "\\#$*_`<>@[]~=-+/'\"" else ch for ch in s)


# W_Q, z_2, h_{t-1}, d_head: a short name and its subscript; E^T, e^3, e^(9/7): a superscript
SCRIPT = re.compile(r"(?<![A-Za-z_])([A-Za-z]{1,2})_(\{[^}]*\}|[A-Za-z0-9]+)|\^\(([^)]*)\)|\^([A-Za-z0-9]+)")


def tym(s: str) -> str:
    """Plain text as Typst markup, with the text's subscripts and superscripts typeset as such."""
    out, last = [], 0
    for m in SCRIPT.finditer(s):
        out.append(ty(s[last:m.start()]))
        if m.group(1):
            out.append(f"{ty(m.group(1))}#sub[{ty(m.group(2).strip('{}'))}]")
        else:
            out.append(f"#super[{ty(m.group(3) or m.group(4))}]")
        last = m.end()
    return "".join(out) + ty(s[last:])


def ty_block(b: Block) -> str:
    if isinstance(b, Text):
        return tym(b.text)
    if isinstance(b, Options):  # an item's label and options on one page, never split by a page break
        return ("#block(breakable: false)[\n" + (f"{ty(b.label)}\n\n" if b.label else "")
                + "\n".join(f"+ {tym(o)}" for o in b.options) + "\n]")
    if isinstance(b, Items):
        return "\n".join(f"- {tym(o)}" for o in b.items)
    cols = len(b.rows[0]) + bool(b.row_labels)
    head = ([""] if b.row_labels else []) + list(b.header)
    cells = [f"[{ty(h)}]" for h in head]
    for i, r in enumerate(b.rows):
        cells += ([f"[*{ty(b.row_labels[i])}*]"] if b.row_labels else []) + [f"[{ty(c)}]" for c in r]
    return (f"#figure(caption: [{tym(b.caption)}], table(columns: {cols}, align: right, inset: 4pt, "
            + ", ".join(cells) + "))")


# The paper's room for answers (Version A: "provide your answer in the space below each question"), sized to each
# field: a box for a number, a box to tick per option, ruled room for an essay, a grid of a matrix's shape.
NUMBER_BOX = "#box(width: 5cm, height: 1cm, stroke: 0.5pt)"
TICK_BOX = "#box(width: 0.8em, height: 0.8em, stroke: 0.5pt, baseline: 0.1em)"
GRID_CELL = ("1.5cm", "0.9cm")  # a matrix cell: room for a fraction such as -13/7


def essay_height(points: Fraction) -> str:
    """An essay's room: 2 cm and 1 cm per point (Pr2.1's 3 points: 5 cm)."""
    return f"{2 + float(points):g}cm"


def ty_answer_space(q: Question, f) -> str:
    """Room on the paper for field `f`'s answer, after its question, headed by its answer id and label."""
    head = f"`{q.answer_id(f)}` ({ty(f.label)}): " if f.label else f"`{q.answer_id(f)}`: "
    if f.kind == "choice":
        item = option_label(q, f)
        return (f"{ty(item) + ' ' if item else ''}{head}"
                + " #h(1em) ".join(f"{TICK_BOX} {k}" for k in range(1, len(f.options) + 1)))
    if f.kind == "number":
        return head + NUMBER_BOX
    if f.kind == "essay":
        return (f"#block(breakable: false)[{head}"  # a block (the box, the table) starts on a line of its own
                f"#block(width: 100%, height: {essay_height(f.points * q.points)}, stroke: 0.5pt)]")
    rows, cols = len(f.answer), len(f.answer[0])
    labels = bool(f.row_labels)
    widths = ("auto",) * labels + (GRID_CELL[0],) * cols
    heights = ("auto",) * bool(f.col_labels) + (GRID_CELL[1],) * rows
    cells = ([f"[{ty(c)}]" for c in ("",) * labels + tuple(f.col_labels)] if f.col_labels else [])
    for i in range(rows):
        cells += [f"[*{ty(f.row_labels[i])}*]"] * labels + ["[]"] * cols
    return (f"#block(breakable: false)[{head}#table(columns: ({', '.join(widths)},), rows: ({', '.join(heights)},), "
            f"align: center + horizon, inset: 3pt, {', '.join(cells)})]")


def ty_blocks(blocks) -> str:
    """Blocks as Typst, one paragraph each; the text that asks an item (the sentence before its options) sticks to
    them, so a page break never falls between the question and its options. A heading sticks to what follows it
    (Typst's default), and a table to its caption (a figure is one unbreakable block)."""
    out = []
    for k, b in enumerate(blocks):
        source = ty_block(b)
        if isinstance(b, Text) and k + 1 < len(blocks) and isinstance(blocks[k + 1], Options):
            source = f"#block(sticky: true)[{source}]"
        out.append(source + "\n")
    return "\n".join(out)


def typst_source(v: Variant, solution: bool = False) -> str:
    named = title(v, solution).replace("\\", "\\\\").replace('"', '\\"')  # a Typst string: the PDF's own title
    out = [f'#set document(title: "{named}", author: "dlexam")', '#set page(paper: "a4", margin: 2cm)',
           '#set text(size: 10pt)', '#set par(justify: false)', f"= {ty(title(v, solution))}", ""]
    if not solution:
        out += [with_code(instructions(v), ty), ""]
    part = None
    for q in v.questions:
        if _part(q.id) != part:
            part = _part(q.id)
            out += [f"== {ty(part)}", ""]
            if q.context and not solution:
                out += [ty_block(b) + "\n" for b in q.context]
        out += [f"=== {ty(q.id)} {ty(q.title)} ({q.points} points)", ""]
        blocks = q.solution if solution else q.prompt
        if solution:
            # a field's name as written (in_features is no subscript), its answer with the text's scripts (h_2)
            out += ["*Answer.* " + "; ".join(f"{ty(f.name)} \\= {tym(answer_text(f))}" for f in q.fields), ""]
        out += [ty_blocks(blocks)]
        if not solution:
            out += [with_code(answer_line(q), ty), ""]
            out += [ty_answer_space(q, f) + "\n" for f in q.fields]
    return "\n".join(out)


def pdf(v: Variant, solution: bool = False, timestamp: int = FILE_DATE) -> bytes:
    """The exam or its solution typeset as PDF (UserError if the typst package is missing), dated `timestamp`
    (seconds since 1970-01-01 UTC). Typst derives the PDF's /ID from its date, so one variant dated alike gives the
    same bytes."""
    try:
        import typst
    except ImportError:  # pragma: no cover - a dependency of dlexam
        from dlexam.errors import UserError

        raise UserError("PDF output needs the typst package: pip install typst (or use --format markdown)") from None
    return typst.compile(typst_source(v, solution).encode(), format="pdf", timestamp=timestamp)


def points_text(p: Fraction) -> str:
    return str(p) if p.denominator == 1 else f"{float(p):.2f}"
