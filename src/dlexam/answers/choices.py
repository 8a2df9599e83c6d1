"""Multiple choice (Part 1): which option the exam marks, which one the computation picks, the verdict."""

from __future__ import annotations

from dataclasses import dataclass

from dlexam.answers import exam_source


@dataclass
class Choice:
    exam_marks: list[int] | None  # 1-based options the exam marks; None where they could not be read
    marks_source: str
    computed: list[int]  # 1-based options the computation picks
    verdict: str  # agrees | disagrees | unread (the marks could not be read)

    def exam_answer(self, options: list[str]) -> str:
        if self.exam_marks is None:
            return "not read: an option of this question is not in the exam text"
        if not self.exam_marks:
            return "no option is marked in the exam text"
        return _listed(self.exam_marks, options)

    def explanation(self, options: list[str]) -> str:
        """Why the verdict is not `agrees` ("" where it is): the options each side picks, or what was not read."""
        if self.verdict == "unread":
            return ("An option of this question is not in the exam text (edited or cut?), so the option the exam "
                    "marks cannot be read; the computed answer is compared with nothing.")
        if self.verdict == "disagrees":
            marked = _listed(self.exam_marks, options) if self.exam_marks else "no option"
            picked = _listed(self.computed, options) if self.computed else "no option"
            return f"The exam marks {marked}; the computation picks {picked}."
        return ""

    def evidence(self) -> dict:
        return {"exam_marks": self.exam_marks, "exam_marks_source": self.marks_source,
                "computed_answer": self.computed}


def _listed(numbers: list[int], options: list[str]) -> str:
    return "; ".join(f"option {i}: {options[i - 1]}" for i in numbers)


def decide(options: list[str], holds: list[bool], *, asks_for_true: bool, key: list[bool] | None = None,
           marked: list[int] | None = None) -> Choice:
    """Compare the options the computation picks with the one the exam marks.

    `holds[i]` says whether option i+1 was shown to hold. A question asking for the **false**
    (or "not typical") statement wants the options that do not hold. The exam's mark is read from
    the exam text (:func:`exam_source.marked_options`, or `marked`: the 0-based marks a caller read with
    the options themselves, :func:`exam_source.options_after`); where an option is not in the text the
    verdict is ``unread``. For a version the text does not print (a variant), `key[i]` says whether option
    i+1 holds by that version's own exact arithmetic (:mod:`dlexam.spec`), and the marks are the options it
    picks.
    """
    computed = [i + 1 for i, h in enumerate(holds) if h == asks_for_true]
    if key is not None:
        marks = [i + 1 for i, h in enumerate(key) if h == asks_for_true]
        return Choice(marks, "this version's key (exact arithmetic from its spec)", computed,
                      "agrees" if computed == marks else "disagrees")
    parsed = exam_source.marked_options(options) if marked is None else marked
    if parsed is None:
        return Choice(None, "not read: an option is not in the exam text", computed, "unread")
    marks, source = [i + 1 for i in parsed], "read from the exam text (the option printed without a box)"
    return Choice(marks, source, computed, "agrees" if computed == marks else "disagrees")
