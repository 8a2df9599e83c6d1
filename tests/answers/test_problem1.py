"""Problem 1: counts and shapes typed in by hand from the exam's worked solution."""

from __future__ import annotations

import pytest

from dlexam.answers import answer

pytestmark = pytest.mark.usefixtures("exam_text")  # the key reads the exam; skip without it


def test_pr1_1_pooling_shift_and_receptive_field():
    a = answer("Pr1.1").to_dict()
    ev = a["evidence"]
    assert a["verdict"] == "conceptual" and a["experiment"] == "pooling"
    # a one-pixel circular shift stays in its window for 3 of 4 columns (4x4 pool), 1 of 2 (2x2)
    expected = {"max_pool_4": 0.75, "avg_pool_4": 0.75, "max_pool_2": 0.5, "no_pool": 0.0}
    assert ev["unchanged_after_1px_shift"] == expected
    # receptive field by hand: 5, then +3*1 (pool 4), +3*4 (conv 4), +1*4 (pool 2) = 24; convs alone 5 + 3 = 8
    for model in ("ExamCNN", "torch_layers"):
        assert ev["receptive_field"][model] == {"with_pools": [24, 24], "convs_only": [8, 8]}
    assert ev["max_vs_avg"]["lone_feature_8_in_4x4"] == {"max": 8.0, "avg": 0.5}


def test_pr1_2_parameter_counts():
    a = answer("Pr1.2").to_dict()
    expected = {"Conv-1": 8 * (5 * 5 * 1 + 1), "AvgPool-1": 0, "Conv-2": 16 * (4 * 4 * 8 + 1), "AvgPool-2": 0}
    assert expected == {"Conv-1": 208, "AvgPool-1": 0, "Conv-2": 2064, "AvgPool-2": 0}
    assert a["evidence"]["torch_layers"] == expected
    assert a["evidence"]["exam_expressions_evaluated"] == expected
    assert a["evidence"]["project_model"] == expected  # dlexam.svhn.model's layer table
    assert a["verdict"] == "agrees"


def test_pr1_3_shapes_and_linear_in():
    a = answer("Pr1.3").to_dict()
    ev = a["evidence"]
    by_hand = {"Conv-1": [28, 28, 8], "AvgPool-1": [7, 7, 8], "Conv-2": [6, 6, 16], "AvgPool-2": [3, 3, 16]}
    assert ev["torch_shapes_HWC"] == by_hand == ev["exam_shapes_HWC"]
    assert ev["flattened"] == 144 == ev["exam_flattened"]
    assert ev["logits_shape_batch_2"] == [2, 10]
    assert all("cannot be multiplied" in msg for msg in ev["errors_for_wrong_in_features"].values())
    assert ev["project_model_shapes"] == by_hand
    for n_in, bug in ev["project_student_bug"].items():  # dlexam.svhn.model reproduces the error, and the fix
        assert (bug["error"] is None) == (n_in == "144") == (bug["fix"] is None)  # the right N needs no fix
        assert n_in == "144" or "nn.Linear(144, 10)" in bug["fix"]
    assert a["verdict"] == "agrees"


def test_pr1_4_convolutional_heads():
    a = answer("Pr1.4").to_dict()
    v1, v2 = a["evidence"]["v1"], a["evidence"]["v2"]
    assert v1["output_HWC"] == [1, 1, 10] and v1["params"] == 10 * (3 * 3 * 16 + 1) == 1450
    assert v1["max_error_vs_linear_144_10"] < 1e-12
    assert v2["output_HWC"] == [3, 3, 10] and v2["params"] == 10 * (16 + 1) == 170
    assert v2["after_global_avg_pool_HWC"] == [1, 1, 10]
    assert v2["exam_sentence_truncated"] is True
    project = a["evidence"]["project_model"]  # dlexam.svhn.model's two convolutional heads
    assert project["conv3x3"] == {"output_HWC": [1, 1, 10], "params": 1450}
    assert project["conv1x1-gap"] == {"conv_output_HWC": [3, 3, 10], "params": 170, "after_gap": [1, 1, 10]}
    assert project["conv3x3_from_linear_max_error"] < 1e-12
    assert a["verdict"] == "agrees"


def test_pr1_1_says_its_shift_count_is_for_one_active_pixel_and_measures_a_random_map():
    """"unchanged in 75% of positions (max) and 75% (avg)" holds for one active pixel only: said without that, it
    read as if average pooling were as shift-invariant as max pooling. On a map of iid random values a one-pixel
    shift moves every average; a 4x4 max stays exactly when the largest of the 20 values its old and new windows
    cover lies in the 12 they share: probability 12/20 = 0.6 (the oracle; 256 windows, so within 0.15)."""
    a = answer("Pr1.1").to_dict()
    rnd = a["evidence"]["unchanged_after_1px_shift_random_map"]
    assert rnd["avg_pool_4"] == 0.0 and abs(rnd["max_pool_4"] - 12 / 20) < 0.15 and rnd["no_pool"] == 0.0
    assert "one active pixel" in a["computed"]
    assert f"{rnd['max_pool_4']:.0%} (max) and 0% (avg)" in a["computed"], a["computed"]


def test_pr1_4_names_the_questions_undefined_z3():
    """The question asks to 'obtain z^3'; Problem 1 names no z at all (P1.6's z_1, z_2 are another network's): the
    note says how the key reads it. Oracle: the exam text, read here."""
    from dlexam.answers import exam_source

    text = exam_source.require_exam_text()
    problem1 = text[text.index("Problem 1:"):text.index("Problem 2")]
    assert "z^3" in problem1 and not any(f"z^{k}" in problem1 or f"z_{k}" in problem1 for k in (1, 2))
    (note,) = answer("Pr1.4").notes
    assert "'to obtain z^3', a name Problem 1 never defines" in note and "the 10 logits" in note


def test_pr1_1_says_the_problems_heading_has_its_first_questions_points():
    """The exam text heads Problem 1 twice: 'Convolutional Neural Networks (25 points)', then 'Convolutional neural
    networks (5 points)', its first question's 5 points in the heading. Oracle: the questions' points typed from
    the exam (1. 5, 2. 5, 3. 10, 4. 5) and the two headings as printed."""
    from dlexam.answers import exam_source

    text = exam_source.require_exam_text()
    assert "Problem 1: Convolutional Neural Networks (25 points)" in text
    assert "Problem 1: Convolutional neural networks (5 points)" in text
    assert 5 + 5 + 10 + 5 == 25
    notes = [n for n in answer("Pr1.1").notes if "heading" in n]
    assert notes == ["Problem 1's second heading reads '(5 points)' where its first says 25 points, the sum of its "
                     "questions' 5 + 5 + 10 + 5: the first question's 5 points run into the heading."], notes
