"""Pr2.4's R: the grader's feedback, the variant's tables and geoff's explanation of the same cell (/practice shows
both side by side) name R's columns alike. The grader said "column c2" where the explanation said "R[C (position 1),
B] = ... multi_W_O[:, B]", two names for one column, one of them typed in the grader.

Oracles: the meaning of a column's name, checked with Fractions here (R's column named after a symbol is that
symbol's logit: R E^T's column of that token, the exam's "multiplying by E^T we get the logits"; a name d1, d2 ..
only where no symbol's embedding is that dimension's unit vector), and the text of geoff's explanation of the cell
(``R[row, column]``), which the grader's ``where`` must agree with."""

from __future__ import annotations

import re

import pytest

from dlexam.variants import make_variant
from dlexam.variants.practice import check

VARIANTS = [(1, "standard"), (2, "standard"), (5, "harder")]


def logits(R, E):
    return [[sum(r[k] * e[k] for k in range(len(r))) for e in E] for r in R]


@pytest.mark.parametrize(("seed", "difficulty"), VARIANTS)
def test_r_columns_are_named_by_what_they_hold(seed, difficulty):
    v = make_variant(seed, difficulty)
    t = v.spec.transformer
    f = v.question("Pr2.4").fields[0]
    assert f.name == "R" and len(f.col_labels) == t.d_model
    L = logits(f.answer, t.E)
    for j, name in enumerate(f.col_labels):
        if name in t.symbols:  # R's column j is that symbol's logit, for every position
            assert [row[j] for row in f.answer] == [row[t.vocab.index(name)] for row in L], (j, name)
            assert t.E[t.vocab.index(name)] == tuple(int(k == j) for k in range(t.d_model))
        else:
            assert name == f"d{j + 1}"
    assert any(name in t.symbols for name in f.col_labels)  # every variant draws one-hot rows for its symbols
    tables = [b for q in v.questions for b in (*q.prompt, *q.solution, *q.context)
              if getattr(b, "caption", "").startswith(("R = ", "W_O", "multi_W_O"))]
    assert len(tables) >= 4 and all(b.header == f.col_labels for b in tables), [(b.caption, b.header) for b in tables]


@pytest.mark.parametrize(("seed", "difficulty"), VARIANTS)
def test_the_grader_and_geoffs_explanation_name_each_r_column_alike(seed, difficulty):
    v = make_variant(seed, difficulty)
    f = v.question("Pr2.4").fields[0]
    rows, cols = len(f.answer), len(f.answer[0])
    wrong_row = [[str(x + 1) for x in f.answer[0]]] + [[str(x) for x in r] for r in f.answer[1:]]
    g = check(v, {"Pr2.4.R": wrong_row})
    (r,) = [x for x in g["fields"] if x["id"] == "Pr2.4.R"]
    assert [w["at"] for w in r["wrong"]] == [[0, j] for j in range(cols)] and rows > 1
    for w in r["wrong"]:
        j = w["at"][1]
        title = w["explanation"]["title"]
        m = re.fullmatch(r"R\[(.+), ([^,\]]+)\]", title)
        assert m, title
        assert w["where"].endswith(f", column {m[2]}") and m[2] == f.col_labels[j], (w["where"], title)
        assert f"column {m[2]} of multi_W_O" in w["reason"] and f"multi_W_O[:, {m[2]}]" in w["explanation"]["summary"]
