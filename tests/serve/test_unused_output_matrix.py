"""An output matrix the computation does not use is refused, never ignored (2026-12-07): with one head (heads = 1)
the model uses W_O, so an edited multi_W_O in `weights`, or multi_W_O named in a step's `matrices`, in
`gradient_of`, in `dlexam geoff --step-matrices` or in a cell, had been ignored or read as W_O without a word. With
k heads both are used (the one-head model is shown beside the k heads, with W_O), and W_O stays the exam's name of
the output matrix (Problem 2.4: "He also changes W_O to be the 4-by-4 identity matrix"). In-process: the functions
the API parses its fields with; the oracle for the k-head case is Z W_O typed by hand."""

from __future__ import annotations

import pytest

from dlexam.serve import api_geoff
from dlexam.serve import params as p

EDITED = [[2, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]  # not Version A's I_4


@pytest.mark.parametrize(("body", "field", "says"), [
    ({"heads": 1, "weights": {"multi_W_O": EDITED}}, "weights.multi_W_O", "heads = 1 uses W_O"),
    ({"weights": {"multi_W_O": EDITED}}, "weights.multi_W_O", "heads = 1 uses W_O"),  # heads 1 by default
    ({"heads": 1, "gradients": True, "gradient_of": ["W_V", "multi_W_O"]}, "gradient_of", "heads = 1 uses W_O"),
], ids=["edited", "edited-default-heads", "gradient_of"])
def test_multi_W_O_with_one_head_is_a_400_naming_the_field(body, field, says):
    with pytest.raises(p.BadRequest) as e:
        api_geoff.geoff_answer(None, body, False)
    assert (e.value.field, e.value.status) == (field, 400), e.value.message
    assert says in e.value.message and "heads = 2" in e.value.message, e.value.message


def test_a_step_naming_multi_W_O_with_one_head_is_a_400_naming_matrices():
    with pytest.raises(p.BadRequest) as e:
        api_geoff.step_answer(None, {"heads": 1, "matrices": ["W_V", "multi_W_O"]})
    assert e.value.field == "matrices" and "heads = 1 uses W_O" in e.value.message, e.value.message


def test_a_step_refuses_an_edited_multi_W_O_with_one_head():
    with pytest.raises(p.BadRequest) as e:
        api_geoff.step_answer(None, {"heads": 1, "weights": {"multi_W_O": EDITED}})
    assert e.value.field == "weights.multi_W_O", e.value.message


def test_an_unedited_multi_W_O_with_one_head_is_taken():
    """The page's step sends every matrix; the model's own multi_W_O is no edit."""
    out = api_geoff.step_answer(None, {"heads": 1, "weights": {"multi_W_O": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                                                       [0, 0, 0, 1]]}})
    assert b'"change"' in out


def test_an_edited_W_O_with_k_heads_is_used_by_the_one_head_model_beside_them():
    import json

    W_O = [[0, 2, 0, 1], [1, 0, 1, 0]]  # the exam's W_O with one entry doubled
    d = json.loads(api_geoff.geoff_answer(None, {"heads": 2, "weights": {"W_O": W_O}}, False))
    Z = [[3, 0], [0, 3], [0, 3], [3 / 4, 3 / 2], [0, 3], [3, 0], [6 / 7, 9 / 7]]  # the exam's Z (Problem 2.3)
    want = [[sum(z[i] * W_O[i][j] for i in range(2)) for j in range(4)] for z in Z]
    assert [pytest.approx(r) for r in want] == d["one_head"]["R"]
