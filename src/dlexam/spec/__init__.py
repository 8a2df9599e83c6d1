"""The exam as data: everything the numbers of the exam depend on, as typed, torch-free dataclasses.

:meth:`ExamSpec.version_a` is the exam of 2025-01-22 as printed (Version A); a new version of the exam
(``dlexam variant``) is another value of the same type. Every number of the answer key, the report,
the web pages and the variants is computed from a spec; this module is the one place where Version A's
constants (shapes, sizes, weights, the head count, the example, the points) are typed.

Numbers are exact: matrices hold :class:`fractions.Fraction` entries. The derived arithmetic here is
plain integer arithmetic (output sizes, parameter counts), so a spec can be checked without torch;
the models build their layers from it (:mod:`dlexam.svhn.model`, :mod:`dlexam.geoff.model`).

A spec round-trips through JSON (:meth:`ExamSpec.to_dict`, :meth:`ExamSpec.from_dict`): fractions are
written as strings ("1/4", "3") and read back exactly.
"""

from __future__ import annotations

from dlexam.spec.cnn import CNNSpec, Conv, Layer, LayerShape, Linear, Pool  # noqa: F401
from dlexam.spec.exam import QUESTION_IDS, VERSION_A, ExamSpec  # noqa: F401
from dlexam.spec.numbers import (  # noqa: F401
    Matrix,
    Pair,
    SpecError,
    conv_output_size,
    divides_evenly,
    identity,
    matrix,
    matrix_text,
    number,
    pair,
    pair_text,
    shape,
    text,
    to_plain,
)
from dlexam.spec.part1 import ConvSizeItem, Part1Spec, RNNItem, SoftmaxItem  # noqa: F401
from dlexam.spec.transformer import TASKS, Head, Task, TransformerSpec  # noqa: F401
