"""One version of the exam (ExamSpec), and Version A as printed."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlexam.spec.cnn import CNNSpec, Conv, Linear, Pool
from dlexam.spec.numbers import SpecError, identity, to_plain
from dlexam.spec.part1 import ConvSizeItem, Part1Spec, RNNItem, SoftmaxItem
from dlexam.spec.transformer import Head, TransformerSpec

# ---- the exam ---------------------------------------------------------------------------------

QUESTION_IDS = (
    tuple(f"P1.{i}" for i in range(1, 9))
    + tuple(f"P2.{i}" for i in range(1, 4))
    + tuple(f"Pr1.{i}" for i in range(1, 5))
    + tuple(f"Pr2.{i}" for i in range(1, 6))
)


@dataclass(frozen=True)
class ExamSpec:
    """One version of the exam: Part 1's computable items, Problem 1 (the CNN), Problem 2 (the transformer),
    and the points of each question. `seed` is the variant's seed (None for a printed version)."""

    name: str
    part1: Part1Spec
    cnn: CNNSpec
    transformer: TransformerSpec
    points: tuple[tuple[str, int], ...]
    seed: int | None = None

    def __post_init__(self) -> None:
        ids = tuple(q for q, _ in self.points)
        if ids != QUESTION_IDS:
            raise SpecError("points must list every question, in the exam's order")

    def points_of(self, qid: str) -> int:
        return dict(self.points)[qid]

    @classmethod
    def version_a(cls) -> ExamSpec:
        """The exam of 2025-01-22, Version A, as printed."""
        return VERSION_A

    def to_dict(self) -> dict:
        """Plain JSON types; fractions as strings."""
        return to_plain(self)

    @classmethod
    def from_dict(cls, d: dict) -> ExamSpec:
        """The spec :meth:`to_dict` wrote (SpecError for anything else)."""
        try:
            p1, cnn, tr = d["part1"], d["cnn"], d["transformer"]
            heads = [Head(**h) for h in tr["multi_heads"]]
            return cls(
                name=str(d["name"]),
                seed=d.get("seed"),
                points=tuple((str(q), int(p)) for q, p in d["points"]),
                part1=Part1Spec(softmax=SoftmaxItem(z=tuple(p1["softmax"]["z"]),
                                                    claimed_limit=tuple(p1["softmax"].get("claimed_limit", ()))),
                                conv_size=ConvSizeItem(**p1["conv_size"]),
                                rnn=RNNItem(**p1["rnn"])),
                cnn=CNNSpec.from_dict(cnn),
                transformer=TransformerSpec(
                    symbols=tuple(tr["symbols"]), E=tr["E"], head=Head(**tr["head"]), W_O=tr["W_O"],
                    example_input=tuple(tr["example_input"]), example_target=tuple(tr["example_target"]),
                    multi_heads=tuple(heads), multi_W_O=tr["multi_W_O"], temperatures=tuple(tr["temperatures"]),
                    start=str(tr.get("start", "<START>")), stop=str(tr.get("stop", "<STOP>")),
                    task=str(tr.get("task", "dedupe-sort"))),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SpecError(f"not an exam spec ({type(exc).__name__}: {exc})") from None






def _version_a() -> ExamSpec:
    w = ((0, 3), (1, 2), (2, 1), (3, 0))  # W_Q = W_K = W_V, as printed in Problem 2
    head = Head(W_Q=w, W_K=w, W_V=w)
    return ExamSpec(
        name="Deep Learning final exam, 2025-01-22, Version A",
        part1=Part1Spec(
            softmax=SoftmaxItem(z=(4, 3, 2, 1), claimed_limit=(1, 0, 0, 0)),
            conv_size=ConvSizeItem(input_size=(128, 128), kernel=(3, 5), stride=(1, 3), padding=(0, 0),
                                   options=((126, 124), (126, 42), (42, 126), (42, 42))),
            rnn=RNNItem(length=2, parameter="w"),
        ),
        cnn=CNNSpec(
            input_size=(32, 32),
            input_channels=1,
            layers=(
                Conv("Conv-1", out_channels=8, kernel=(5, 5), stride=(1, 1), padding=(0, 0)),
                Pool("AvgPool-1", kernel=(4, 4), stride=(4, 4)),
                Conv("Conv-2", out_channels=16, kernel=(4, 4), stride=(1, 1), padding=(1, 1)),
                Pool("AvgPool-2", kernel=(2, 2), stride=(2, 2)),
                Linear("Linear", out_features=10),
            ),
            activation="relu",
            # The student's code ("as seen below") is missing from the exam's text; 16 x 7 x 7 (Conv-2's
            # channels on AvgPool-1's 7 x 7 map, as if Conv-2 and AvgPool-2 kept the size) stands in for the
            # in-features it had. The key also runs LeNet-5's 16 x 5 x 5 and AvgPool-1's 8 x 7 x 7 flattened.
            student_linear_in=784,
            tried_linear_in=(400, 784, 392),
        ),
        transformer=TransformerSpec(
            symbols=("A", "B", "C", "D"),
            E=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)),
            head=head,
            W_O=((0, 1, 0, 1), (1, 0, 1, 0)),
            example_input=("D", "A", "A"),
            example_target=("A", "D"),
            multi_heads=(head, head),  # Problem 2.4: a second head identical to the first
            multi_W_O=identity(4),  # ... and W_O the 4x4 identity
            temperatures=(Fraction(0), "sqrt"),
        ),
        points=(
            *((f"P1.{i}", 4) for i in range(1, 9)),
            *((f"P2.{i}", 6) for i in range(1, 4)),
            ("Pr1.1", 5), ("Pr1.2", 5), ("Pr1.3", 10), ("Pr1.4", 5),
            ("Pr2.1", 5), ("Pr2.2", 8), ("Pr2.3", 5), ("Pr2.4", 4), ("Pr2.5", 3),
        ),
    )


VERSION_A = _version_a()
