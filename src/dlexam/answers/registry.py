"""The answer key's registry: one function per exam question, run in the exam's order.

Each question module decorates its function with :func:`question`; the function computes its
evidence now and returns an :class:`Answer`. :func:`answer_key` runs them, times them and checks
every verbatim quote against the exam text: an answer whose quotes are not all in the given text gets
the verdict ``unread`` (:func:`mark_unread`), so no verdict rests on a quote the file does not hold.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dlexam.answers import exam_source
from dlexam.cpu import torch_threads
from dlexam.errors import UserError
from dlexam.words import counted

VERDICTS = ("agrees", "partly agrees", "disagrees", "conceptual", "unread")
# partly agrees: the exam's answer is right in one part and wrong in another (Pr2.5: W_Q and W_K frozen under argmax,
# as it says, but W_V not); the explanation says which part.
# unread: the given exam text does not hold what the check reads the exam's answer from (an edited or
# cut text); the computation is shown, and compared with nothing.
QUESTION_IDS = (
    [f"P1.{i}" for i in range(1, 9)]
    + [f"P2.{i}" for i in range(1, 4)]
    + [f"Pr1.{i}" for i in range(1, 5)]
    + [f"Pr2.{i}" for i in range(1, 6)]
)
# The `dlexam experiment NAME` that measures a conceptual question's claim at scale: the one place that pairs them
# (each Answer's `experiment`; the report links each experiment back to its question's row).
EXPERIMENT_OF = {"P1.2": "separable-logreg", "P2.1": "batch-size", "P2.2": "activations",
                 "P2.3": "skip-connections", "Pr1.1": "pooling", "Pr2.5": "attention-temperature"}
MODULES = ("part1_math", "part1_logreg", "part1_models", "part1_parallel", "part2", "problem1", "problem2")

_REGISTRY: dict[str, Callable[[], Answer]] = {}


@dataclass
class Answer:
    """One question of the key. `evidence` holds only JSON types (numbers, strings, lists, dicts)."""

    id: str
    question: str  # the question, in a line
    exam_answer: str  # what the exam states (its marked option or its worked solution), quoted
    computed: str  # what the computation found, in a line
    verdict: str  # agrees | partly agrees | disagrees | conceptual | unread
    evidence: dict
    notes: list[str] = field(default_factory=list)  # where the text as given is garbled, has a typo, ...
    exam_quotes: list[str] = field(default_factory=list)  # verbatim snippets of the exam this answer relies on
    explanation: str = ""  # why, for a partly agrees, disagrees or unread verdict (conceptual: what bears on the claim)
    experiment: str | None = None  # the `dlexam experiment NAME` that measures the claim at scale (EXPERIMENT_OF)
    exam_quotes_found: bool | None = None  # every quote occurs verbatim in the exam text (set when answered)
    exam_quotes_missing: list[str] = field(default_factory=list)  # the quotes it does not hold (set when answered)
    seconds: float | None = None  # how long the check took (set when answered)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.id}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.verdict in ("partly agrees", "disagrees", "unread") and not self.explanation:
            raise ValueError(f"{self.id}: a {self.verdict} verdict needs an explanation")

    def to_dict(self) -> dict:
        return asdict(self)


def question(qid: str):
    """Register the decorated function as the check of question `qid`."""
    if qid not in QUESTION_IDS:
        raise ValueError(f"unknown question id {qid!r}")

    def wrap(fn: Callable[[], Answer]) -> Callable[[], Answer]:
        _REGISTRY[qid] = fn
        return fn

    return wrap


def _load() -> None:
    for name in MODULES:
        importlib.import_module(f"dlexam.answers.{name}")


def normalise_id(qid: str) -> str:
    """Accept `P1.1`, `p1.1`, `pr2.3`, `PR2.3`; raise UserError for anything else."""
    for known in QUESTION_IDS:
        if qid.strip().lower() == known.lower():
            return known
    raise UserError(f"unknown question {qid!r}: use one of {', '.join(QUESTION_IDS)}")


def answer(qid: str) -> Answer:
    """Run one question's check now and return its :class:`Answer` (``.to_dict()`` for JSON)."""
    qid = normalise_id(qid)
    text = exam_source.require_exam_text()  # one line where it is absent or is not the exam
    _load()
    if qid not in _REGISTRY:
        raise UserError(f"question {qid} has no check yet")
    t0 = time.perf_counter()
    with torch_threads(1):
        ans = _REGISTRY[qid]()
    seconds = time.perf_counter() - t0
    if ans.id != qid:
        raise RuntimeError(f"check registered for {qid} answered {ans.id}")
    ans.experiment = ans.experiment or EXPERIMENT_OF.get(qid)  # the exam's claim, measured at scale
    ans.exam_quotes_missing = [q for q in ans.exam_quotes if not exam_source.quote_found(q, text)]
    ans.exam_quotes_found = not ans.exam_quotes_missing
    if ans.exam_quotes_missing:
        mark_unread(ans, ans.exam_quotes_missing)
    ans.seconds = round(seconds, 4)
    return ans


def not_read(what: list[str]) -> str:
    """The explanation of an ``unread`` verdict whose lead-ins are there but what follows is not readable."""
    return ("The exam text does not state " + "; ".join(what) + " where the solution does (edited or cut?): what "
            "was computed is shown, but not compared with it.")


def difference(x: float) -> str:
    """A measured difference or error in the key's words, the same in every answer: 0 where it is exactly zero,
    else 2 significant digits in scientific notation (2.2e-16), never 0e+00."""
    return "0" if x == 0 else f"{x:.1e}"


def shorten(quote: str, width: int = 90) -> str:
    """A quote cut to `width` characters, for a one-line message."""
    return quote if len(quote) <= width else quote[: width - 3].rstrip() + "..."


def quoted(quote: str) -> str:
    """A quote of the exam text in single quotes, as the file has it (repr would double each backslash of its
    LaTeX), cut to one line's width."""
    return f"'{shorten(quote)}'"


def mark_unread(ans: Answer, missing: list[str]) -> None:
    """The exam text does not hold `missing` (quotes `ans` reads its exam answer or its premises from):
    the verdict becomes ``unread`` and the exam answer says which quote is gone. What was computed stays."""
    more = f" (and {counted(len(missing) - 1, 'more quote')}: see exam_quotes_missing)" if len(missing) > 1 else ""
    ans.verdict = "unread"
    ans.exam_answer = f"not read: the exam text has no {quoted(missing[0])}{more}"
    quotes = counted(len(ans.exam_quotes), "quote")
    ans.explanation = (f"The exam text given does not contain {len(missing)} of the {quotes} this check reads"
                       f" (first: {quoted(missing[0])}): it is not the text the key was written "
                       "for, so what was computed is shown but not compared with it, and the notes describe the "
                       "published text.")


def answer_key(ids: list[str] | None = None) -> list[Answer]:
    """Every question of the exam (or those in `ids`), in the exam's order, computed now."""
    wanted = QUESTION_IDS if ids is None else [normalise_id(i) for i in ids]
    return [answer(q) for q in wanted]
