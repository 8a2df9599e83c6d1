"""The experiments by name, and the shapes of a run and its result (light: no torch, no numpy).

Shared by :mod:`dlexam.experiments` (which runs them) and :mod:`dlexam.experiments.results` (which
writes them), so neither imports the other's heavy half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from dlexam.errors import UserError

RESULT_FILE = "result.json"
# name -> module, in the order the report shows them
MODULES = {
    "separable-logreg": "dlexam.experiments.separable_logreg",
    "activations": "dlexam.experiments.activations",
    "skip-connections": "dlexam.experiments.skip_connections",
    "attention-temperature": "dlexam.experiments.attention_temperature",
    "batch-size": "dlexam.experiments.batch_size",
    "pooling": "dlexam.experiments.pooling",
}

# What an experiment reads from the shared folder (dlexam.shared), by name; the others need nothing.
# The report checks these before any work (tests/experiments check the list against the modules).
SHARED_INPUTS = {
    "activations": ("data", "mnist-t10k"),
    "skip-connections": ("data", "mnist-t10k"),
}


def default_out_dir(name: str) -> Path:
    return Path("runs") / "experiments" / name


@dataclass(frozen=True)
class ExperimentRun:
    """Which experiment to run, where its figures and result.json go, and how big."""

    name: str
    out_dir: Path | None = None  # None: runs/experiments/NAME
    quick: bool = False  # small settings that finish in well under a minute
    force: bool = False  # replace result.json and figures even where dlexam did not write them

    def __post_init__(self) -> None:
        if self.name not in MODULES:
            raise UserError(f"unknown experiment {self.name!r}; choose from {', '.join(MODULES)}")


@dataclass
class ExperimentResult:
    """What an experiment found: the exam's claim, the verdict, the evidence (see results.py)."""

    name: str
    claim: str  # the exam's words, quoted
    claim_source: str  # where the exam makes the claim
    verdict: str  # supported | partly supported | not supported | inconclusive
    finding: str  # what the numbers showed, in words
    table: list[dict]  # the printed table: rows with the same columns
    figures: list[str]  # absolute paths of the PNG figures
    numbers: dict  # everything measured
    config: dict  # the settings that produced them
    quick: bool
    seconds: float
    json: str  # the result.json written
    data: str | None = None  # which data the experiment used
    captions: dict = field(default_factory=dict)  # figure file name -> {"alt", "caption"}, from the numbers
    extra: dict = field(default_factory=dict)  # any further fields an experiment reports

    @classmethod
    def from_json(cls, d: dict) -> ExperimentResult:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})

    def to_json(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        if d["data"] is None:
            del d["data"]
        if not d["captions"]:  # a result.json written before figures had captions
            del d["captions"]
        return {**d, **extra}
