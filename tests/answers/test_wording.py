"""The answer key's words: every measured difference or error is written one way (0 where it is exactly zero, else
2 significant digits in scientific notation), and counts and row numbers read as words, not "(s)" or a Python
list. The oracle is the format itself, written out here, and the exam's garbled printouts as read by hand (its
printed Q K^T lacks true row 5, an 'A' row; its printed Z and R lack row 3)."""

from __future__ import annotations

import re

import pytest

from dlexam.answers import answer_key
from dlexam.answers.variant import variant_answers
from dlexam.variants import make_variant

# "max difference 2.2e-16", "(error 0;", "max difference from the exam's P: 0)", "differ by 0;"
MEASURED = re.compile(r"\b(?:error|difference|diff|differ by)(?: from the exam's P:)? ([-+\d.][^\s;,)]*)")
ONE_WAY = re.compile(r"0|[1-9]\.\de-\d\d")  # 0, or 2 significant digits in scientific notation (2.2e-16)


def texts(a: dict) -> list[str]:
    return [a["computed"], a["exam_answer"], a["explanation"], *a["notes"]]


@pytest.fixture(scope="module")
def key(exam_text) -> list[dict]:
    return [a.to_dict() for a in answer_key()]


def test_every_measured_difference_is_written_one_way(key):
    found = {}
    for a in key:
        for t in texts(a):
            for m in MEASURED.finditer(t):
                found.setdefault(a["id"], []).append(m[1])
    # the answers that measure a difference or an error against another computation say so in their texts
    assert {"P1.3", "P1.6", "P1.8", "Pr1.4", "Pr2.1", "Pr2.2", "Pr2.4"} <= set(found), found
    bad = {i: [n for n in ns if not ONE_WAY.fullmatch(n)] for i, ns in found.items()}
    assert not any(bad.values()), bad
    assert not any("e+00" in t or "max diff " in t for a in key for t in texts(a))


def test_exact_zero_differences_read_0(key):
    by_id = {a["id"]: a for a in key}
    # the exam's P is exact fractions, and so is run_geoff's at T = 0: the difference is exactly zero
    assert by_id["Pr2.2"]["evidence"]["max_abs_difference_P_vs_exam"] == 0
    assert by_id["Pr2.2"]["computed"].endswith("(max difference from the exam's P: 0)")
    assert "max difference 0)" in by_id["Pr2.4"]["computed"]  # R's columns swapped: exactly the two-head R


def test_missing_rows_are_named_in_words(key):
    by_id = {a["id"]: a for a in key}
    assert "it has 6 rows instead of 7 (true row 5 missing: an 'A' row)" in by_id["Pr2.2"]["notes"][0]
    assert ("has 6 rows instead of 7 (true row 3 missing); the printed R = Z W_O also has 6 (row 3 missing)"
            in by_id["Pr2.3"]["notes"][1])
    for a in key:
        for t in [a["computed"], *a["notes"]]:
            assert "(s)" not in t and not re.search(r"\] missing", t), (a["id"], t)


def test_several_missing_rows_read_as_a_list_in_words():
    from dlexam.answers.problem2 import _numbered

    assert _numbered("true row", [5]) == "true row 5"
    assert _numbered("true row", [3, 5]) == "true rows 3 and 5"
    assert _numbered("row", [1, 2, 7]) == "rows 1, 2 and 7"
    assert _numbered("row", []) == "no row"


def test_a_variants_answers_read_the_same_way():
    answers = variant_answers(make_variant(0))
    for a in answers:
        for t in [a.computed, *a.notes]:
            assert "(s)" not in t and "e+00" not in t, (a.id, t)
            for m in MEASURED.finditer(t):
                assert ONE_WAY.fullmatch(m[1]), (a.id, t)
    assert any(MEASURED.search(a.computed) for a in answers)


def test_the_loss_rows_are_named_in_words(key):
    """Pr2.3's computed text named the logit rows the loss uses as Python lists ("rows [5, 6, 7]"). The oracle is the
    exam's example by hand: "D A A <START> A D <STOP>" has its output tokens A, D, <STOP> at positions 5, 6 and 7
    (counted from 1, as the exam counts), which the exam's convention scores with their own rows; teacher forcing
    scores each with the row before it, 4, 5 and 6."""
    by_id = {a["id"]: a for a in key}
    computed = by_id["Pr2.3"]["computed"]
    assert "(rows 5, 6 and 7 score their own tokens)" in computed, computed
    assert "(rows 4, 5 and 6 predict the next token)" in computed, computed
    for a in key:
        for t in [a["computed"], *a["notes"]]:
            assert not re.search(r"\brows? \[\d", t), (a["id"], t)


def test_no_text_holds_a_python_bool_and_the_logits_shape_names_its_batch(key):
    """An audit read "(oracles hold: True)" in P1.7 and "gives logits [2, 10]" in Pr1.3 without the batch it is for."""
    bools = [(a["id"], t) for a in key for t in texts(a) if re.search(r"\b(True|False|None)\b", t)]
    assert bools == []
    pr13 = next(a for a in key if a["id"] == "Pr1.3")
    assert "nn.Linear(144, 10) gives logits of shape [2, 10] for a batch of 2 images" in pr13["computed"]
