"""Section: the answer key, every one of the exam's questions checked by computation."""

from __future__ import annotations

from collections import Counter

from dlexam.report import page
from dlexam.report.build import ReportContext

COLUMNS = ("#", "question", "exam's answer", "computed", "verdict", "evidence")


def build(ctx: ReportContext) -> str:
    from dlexam.answers import answer_key

    key = list(answer_key())
    if not key:
        raise ValueError("answer_key() returned no questions")
    rows = [
        (e["id"], e["question"], e["exam_answer"], e["computed"], page.verdict_badge(e["verdict"]), e["evidence"])
        for e in key
    ]
    counts = Counter(str(e["verdict"]) for e in key)
    summary = ", ".join(f"{n} {v}" for v, n in counts.most_common())
    intro = page.paragraph(
        f"{len(key)} questions; for each, the exam's answer next to the answer computed by the package "
        f"(`dlexam answers`). Verdicts: {summary}."
    )
    return intro + page.table(rows, COLUMNS, raw_html_columns=[4], css_class="key")
