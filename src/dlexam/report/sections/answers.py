"""Section: the answer key, every one of the exam's questions checked by computation.

One row per question (from :func:`dlexam.answers.answer_key`): the question, what the exam
states (its formulas written out by :func:`dlexam.mathtext.exam_math`), what the computation found, and
the verdict (agrees, partly agrees, disagrees, conceptual; unread where the exam text given does not hold what a
question reads, :mod:`dlexam.answers.registry`); the
explanation of each disagreement, the notes on garbled or odd exam text, a link to the experiment
that measures a conceptual claim, and the evidence of every question, collapsed, below the table.
"""

from __future__ import annotations

from collections import Counter

from dlexam.mathtext import exam_math
from dlexam.plain import dumps
from dlexam.report import page
from dlexam.report.context import ReportContext

COLUMNS = ("#", "question", "the exam says", "computed", "verdict")
MAX_EVIDENCE_CHARS = 6_000


def computed_cell(entry: dict, quick: bool = False) -> str:
    """What was computed, with its notes and the link to the experiment that measures the claim: "Measured at
    scale" where the report ran the experiments in full, "Measured in a small, quick run" where it ran them
    `--quick`."""
    parts = [page.prose(entry["computed"])]
    if entry.get("explanation"):
        parts.append(f'<br><span class="note"><strong>Why:</strong> {page.prose(entry["explanation"])}</span>')
    for note in entry.get("notes") or []:
        parts.append(f'<br><span class="note">Note: {page.prose(note)}</span>')
    if entry.get("experiment"):
        name = page.esc(entry["experiment"])
        how = "Measured in a small, quick run" if quick else "Measured at scale"
        parts.append(f'<br><span class="note">{how}: <a href="#experiment-{name}">{name}</a></span>')
    return "".join(parts)


def question_anchor(qid: str) -> str:
    """A question's id cell, anchored with /answers' id (index.html#Pr2.4 as /answers#Pr2.4) and linking to itself."""
    q = page.esc(qid)
    return f'<a id="{q}" href="#{q}">{q}</a>'


def evidence_block(entry: dict) -> str:
    text = dumps(entry.get("evidence", {}), indent=1, default=str)
    if len(text) > MAX_EVIDENCE_CHARS:
        text = text[:MAX_EVIDENCE_CHARS] + "\n... (cut here; `dlexam answers --json` has everything)"
    return (
        f"<details><summary>{page.esc(entry['id'])}: {page.esc(entry['question'])}</summary>"
        f"<pre>{page.esc(text)}</pre></details>"
    )


def and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def measured_by_experiments(key: list[dict]) -> str:
    """Which conceptual questions an experiment below measures, and which none does ("measure them" had promised an
    experiment for every one, P1.5's auto-encoder included)."""
    conceptual = [e for e in key if e["verdict"] == "conceptual"]
    measured = [e["id"] for e in conceptual if e.get("experiment")]
    unmeasured = [e["id"] for e in conceptual if not e.get("experiment")]
    text = f", and the experiments below measure {and_list(measured)}" if measured else ""
    if unmeasured:
        text += f"; none measures {and_list(unmeasured)}" if measured else ", measured by no experiment below"
    return text


def build(ctx: ReportContext) -> str:
    from dlexam.answers import answer_key

    key = [a.to_dict() for a in answer_key()]
    if not key:
        raise ValueError("answer_key() returned no questions")
    rows = [
        (question_anchor(e["id"]), page.esc(e["question"]), page.keep_numbers(exam_math(e["exam_answer"])),
         computed_cell(e, ctx.settings.quick_experiments),
         page.verdict_badge(e["verdict"]))
        for e in key
    ]
    counts = Counter(str(e["verdict"]) for e in key)
    summary = ", ".join(f"{v} {n}" for v, n in counts.most_common())  # "agrees 13": the verdict is a label
    intro = page.paragraph(
        f"{len(key)} questions, each answered now by computation (`dlexam answers`) and held against "
        f"the exam's own answer. Verdicts: {summary}. “Conceptual” marks questions answered in words; "
        f"their evidence is a computation that bears on the claim{measured_by_experiments(key)}."
        + (" “Unread” marks questions whose answer the exam text given does not hold (an edited or cut text): "
           "what was computed is shown, compared with nothing." if counts.get("unread") else "")
    )
    table = page.table(rows, COLUMNS, raw_html_columns=range(len(COLUMNS)), css_class="key")
    evidence = "<h3 id=\"answer-key-evidence\">Evidence, question by question</h3>" + "".join(
        evidence_block(e) for e in key
    )
    return intro + table + evidence
