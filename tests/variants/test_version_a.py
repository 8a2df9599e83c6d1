"""Version A regenerated from its spec (ExamSpec.version_a()) reproduces every number of the exam, typed in here by
hand from the exam's worked solution: the exact Problem 2 (dlexam.geoff.exact), the model built from the spec, and
the sizes of Problem 1 and P1.4."""

from __future__ import annotations

import math
from fractions import Fraction as F

from dlexam import geoff
from dlexam.geoff.exact import exact_run, loss_terms
from dlexam.spec import ExamSpec

A = ExamSpec.version_a()
EXAM_P = [[1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0], [0, F(1, 2), F(1, 2), 0, 0, 0, 0],
          [F(1, 4), F(1, 4), F(1, 4), F(1, 4), 0, 0, 0], [0, F(1, 3), F(1, 3), 0, F(1, 3), 0, 0],
          [F(1, 2), 0, 0, 0, 0, F(1, 2), 0], [F(1, 7)] * 7]
EXAM_QKV = [[3, 0], [0, 3], [0, 3], [0, 0], [0, 3], [3, 0], [0, 0]]
EXAM_Z = [[3, 0], [0, 3], [0, 3], [F(3, 4), F(3, 2)], [0, 3], [3, 0], [F(6, 7), F(9, 7)]]  # row 3 restored
EXAM_LOGITS_567 = [[3, 0, 3, 0, 0, 0], [0, 3, 0, 3, 0, 0], [F(9, 7), F(6, 7), F(9, 7), F(6, 7), 0, 0]]


def as_lists(m):
    return [list(r) for r in m]


def test_problem_2_exactly_as_the_worked_solution():
    run = exact_run(A.transformer)
    assert as_lists(run.head.Q) == EXAM_QKV and run.head.K == run.head.Q == run.head.V
    assert as_lists(run.head.P) == EXAM_P
    assert as_lists(run.head.Z) == EXAM_Z
    assert as_lists(run.logits[4:7]) == EXAM_LOGITS_567
    terms = loss_terms(run, A.transformer, "exam")
    # P(y5 = A) = P(y6 = D) = exp(3)/(2 exp(3) + 4) = 0.4547, P(y7 = <STOP>) = 1/(2 exp(9/7) + 2 exp(6/7) + 2) = 0.0717
    assert [x.probability_text for x in terms] == ["e^3 / (2 e^3 + 4)", "e^3 / (2 e^3 + 4)",
                                                   "1 / (2 e^(9/7) + 2 e^(6/7) + 2)"]
    assert [round(x.probability, 4) for x in terms] == [0.4547, 0.4547, 0.0717]
    assert round(sum(x.nll for x in terms), 4) == 4.2114
    p_stop = 1 / (2 * math.exp(9 / 7) + 2 * math.exp(6 / 7) + 2)
    p_ad = math.exp(3) / (2 * math.exp(3) + 4)
    assert math.isclose(sum(x.nll for x in terms), -2 * math.log(p_ad) - math.log(p_stop), rel_tol=1e-14)


def test_problem_2_4_two_identical_heads_from_the_spec():
    one, two = exact_run(A.transformer), exact_run(A.transformer, heads=A.transformer.heads)
    assert A.transformer.heads == 2
    # [Z Z] I_4: R's columns swapped (A<->B, C<->D), not the one-head R (dlexam's finding, docs/answers.md)
    assert [list(r) for r in two.R] == [[r[1], r[0], r[3], r[2]] for r in one.R] and two.R != one.R


def test_the_model_built_from_the_spec_is_the_exams():
    w = geoff.GeoffWeights.from_spec(A.transformer)
    assert w.to_json() == geoff.EXAM_WEIGHTS.to_json() and w.vocab == geoff.VOCAB and w.heads == 2
    r = geoff.run_geoff(" ".join(A.transformer.example), weights=w)
    assert r.P.tolist() == [[float(x) for x in row] for row in EXAM_P]
    assert round(float(r.loss["exam"]["value"]), 4) == 4.2114


def test_problem_1_and_part_1_sizes():
    table = A.cnn.table()
    # Problem 1.2: 8(5*5*1+1) = 208 and 16(4*4*8+1) = 2064; Problem 1.3: 28x28x8, 7x7x8, 6x6x16, 3x3x16, 144
    assert [r.params for r in table[:4]] == [208, 0, 2064, 0]
    assert [r.out_shape for r in table[:4]] == [(8, 28, 28), (8, 7, 7), (16, 6, 6), (16, 3, 3)]
    assert A.cnn.flat_features() == 144
    assert A.part1.conv_size.output_size() == (126, 42)  # P1.4
