"""The answer key's registry: one function per exam question, run in the exam's order.

Each question module decorates its function with :func:`question`; the function computes its
evidence now and returns an :class:`Answer`. :func:`answer_key` runs them, times them and checks
every verbatim quote against the exam text.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dlexam import shared
from dlexam.answers import exam_source
from dlexam.cpu import torch_threads
from dlexam.errors import UserError

VERDICTS = ("agrees", "disagrees", "conceptual")
QUESTION_IDS = (
    [f"P1.{i}" for i in range(1, 9)]
    + [f"P2.{i}" for i in range(1, 4)]
    + [f"Pr1.{i}" for i in range(1, 5)]
    + [f"Pr2.{i}" for i in range(1, 6)]
)
MODULES = ("part1_math", "part1_models", "part1_parallel", "part2", "problem1", "problem2")

_REGISTRY: dict[str, Callable[[], Answer]] = {}


@dataclass
class Answer:
    """One question of the key. `evidence` holds only JSON types (numbers, strings, lists, dicts)."""

    id: str
    question: str  # the question, in a line
    exam_answer: str  # what the exam states (its marked option or its worked solution), quoted
    computed: str  # what the computation found, in a line
    verdict: str  # agrees | disagrees | conceptual
    evidence: dict
    notes: list[str] = field(default_factory=list)  # where the text as given is garbled, has a typo, ...
    exam_quotes: list[str] = field(default_factory=list)  # verbatim snippets of the exam this answer relies on
    explanation: str = ""  # why, for a disagrees verdict (and for conceptual ones: what bears on the claim)
    experiment: str | None = None  # the `dlexam experiment NAME` that measures the claim at scale
    exam_quotes_found: bool | None = None  # every quote occurs verbatim in the exam text (set when answered)
    seconds: float | None = None  # how long the check took (set when answered)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.id}: verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.verdict == "disagrees" and not self.explanation:
            raise ValueError(f"{self.id}: a disagrees verdict needs an explanation")

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
    if exam_source.exam_text() is None:
        shared.exam_path()  # raises SharedDataMissing: one line saying where it looked
    _load()
    if qid not in _REGISTRY:
        raise UserError(f"question {qid} has no check yet")
    t0 = time.perf_counter()
    with torch_threads(1):
        ans = _REGISTRY[qid]()
    seconds = time.perf_counter() - t0
    if ans.id != qid:
        raise RuntimeError(f"check registered for {qid} answered {ans.id}")
    ans.exam_quotes_found = all(exam_source.quote_found(q) for q in ans.exam_quotes)
    ans.seconds = round(seconds, 4)
    return ans


def answer_key(ids: list[str] | None = None) -> list[Answer]:
    """Every question of the exam (or those in `ids`), in the exam's order, computed now."""
    wanted = QUESTION_IDS if ids is None else [normalise_id(i) for i in ids]
    return [answer(q) for q in wanted]
