"""Multiple choice (Part 1): which option the exam marks, which one the computation picks, the verdict."""

from __future__ import annotations

from dataclasses import dataclass

from dlexam.answers import exam_source


@dataclass
class Choice:
    exam_marks: list[int]  # 1-based options the exam marks
    marks_source: str
    computed: list[int]  # 1-based options the computation picks
    verdict: str

    def exam_answer(self, options: list[str]) -> str:
        if not self.exam_marks:
            return "no option is marked in the exam text"
        return "; ".join(f"option {i}: {options[i - 1]}" for i in self.exam_marks)

    def evidence(self) -> dict:
        return {"exam_marks": self.exam_marks, "exam_marks_source": self.marks_source,
                "computed_answer": self.computed}


def decide(options: list[str], holds: list[bool], *, asks_for_true: bool, key: list[bool] | None = None) -> Choice:
    """Compare the options the computation picks with the one the exam marks.

    `holds[i]` says whether option i+1 was shown to hold. A question asking for the **false**
    (or "not typical") statement wants the options that do not hold. The exam's mark is read from
    the exam text (:func:`exam_source.marked_options`); for a version the text does not print (a
    variant), `key[i]` says whether option i+1 holds by that version's own exact arithmetic
    (:mod:`dlexam.spec`), and the marks are the options it picks.
    """
    if key is not None:
        marks = [i + 1 for i, h in enumerate(key) if h == asks_for_true]
        computed = [i + 1 for i, h in enumerate(holds) if h == asks_for_true]
        return Choice(marks, "this version's key (exact arithmetic from its spec)", computed,
                      "agrees" if computed == marks else "disagrees")
    parsed = exam_source.marked_options(options)
    if parsed is None:
        raise RuntimeError(f"an option of this question is not in the exam text: {options}")
    marks, source = [i + 1 for i in parsed], "read from the exam text (the option printed without a box)"
    computed = [i + 1 for i, h in enumerate(holds) if h == asks_for_true]
    verdict = "agrees" if computed == marks else "disagrees"
    return Choice(marks, source, computed, verdict)
