"""dlexam.geoff.explain (issue 20 item 1): every cell's explanation against the float64 model's own value, and where
the cell is rational, against Fractions computed here from the exam's matrices typed in by hand (Problem 2) with
the tie rule written here; the exam's own worked-solution lines; the spelling of cells; `dlexam geoff --explain`."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
import torch

from dlexam import geoff
from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.geoff.cells import Cell
from dlexam.geoff.explain import Explainer

EXAMPLE = "D A A <START> A D <STOP>"
VOCAB = ("A", "B", "C", "D", "<START>", "<STOP>")
# Problem 2 as printed: E = [I_4; 0; 0], W_Q = W_K = W_V, W_O (typed here, not read from dlexam.spec)
E_ = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
W_ = [[0, 3], [1, 2], [2, 1], [3, 0]]
W_O_ = [[0, 1, 0, 1], [1, 0, 1, 0]]


def mm(a, b):
    return [[sum((Fraction(x) * Fraction(y) for x, y in zip(r, c, strict=True)), Fraction(0)) for c in zip(*b,
                                                                                                          strict=True)]
            for r in a]


def oracle(seq: str, heads: int = 1) -> dict:
    """Problem 2 at T = 0 in Fractions: the tie rule as the exam states it (the largest visible scores share)."""
    toks = seq.split()
    X = [E_[VOCAB.index(t)] for t in toks]
    Q = mm(X, W_)
    S = mm(Q, [list(c) for c in zip(*Q, strict=True)])  # K = Q
    P = []
    for i, row in enumerate(S):
        top = max(row[: i + 1])
        n = sum(1 for v in row[: i + 1] if v == top)
        P.append([Fraction(1, n) if j <= i and row[j] == top else Fraction(0) for j in range(len(row))])
    Z = mm(P, Q)  # V = Q
    Wout = W_O_ if heads == 1 else [[int(i == j) for j in range(4)] for i in range(4)]  # Problem 2.4: W_O' = I_4
    R = mm([z * heads for z in Z], Wout)
    return {"X": X, "Q": Q, "K": Q, "V": Q, "S": S, "P": P, "Z": Z, "R": R,
            "logits": mm(R, [list(c) for c in zip(*E_, strict=True)])}


def close(a, b) -> bool:
    return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b)))


def every_cell(ex: Explainer):
    r, k = ex.result, ex.query.heads
    for m in ("X", "Q", "K", "V", "S", "P", "Z", "R", "logits"):
        heads = range(k) if k > 1 and m in ("Q", "K", "V", "S", "P", "Z") else [None]
        for h in heads:
            t = ex.matrix(m, h)
            for i in range(t.shape[0]):
                for j in range(t.shape[1]):
                    yield Cell(m, i, j, h), float(t[i, j])
    if r.loss:
        s = r.tokens.index("<START>") if "<START>" in r.tokens else None
        for p in range(s + 1, len(r.tokens)):
            yield Cell("loss", p), -math.log(r.loss["teacher_forcing"]["probabilities"][p - s - 1])
        grads = ex.backward()["params"]
        for name, g in grads.items():
            m = "dE" if name == "E" else "dW_O" if name in ("W_O", "multi_W_O") else "d" + name
            for h, gh in enumerate(g if g.dim() == 3 else [g]):
                for i in range(gh.shape[0]):
                    for j in range(gh.shape[1]):
                        yield Cell(m, i, j, h if g.dim() == 3 else None), float(gh[i, j])


QUERIES = [
    geoff.GeoffQuery(EXAMPLE),
    geoff.GeoffQuery(EXAMPLE, heads=2),
    geoff.GeoffQuery(EXAMPLE, temperature=0.5),
    geoff.GeoffQuery(EXAMPLE, temperature="sqrt", heads=2, convention="exam"),
    geoff.GeoffQuery("C A B B <START> A B C <STOP>", temperature=2.35),
    geoff.GeoffQuery("B D", temperature=0),  # no <START>: no loss
    geoff.GeoffQuery(EXAMPLE, weights=geoff.GeoffWeights(W_V=((2.5, 3), (1, 2), (2, 1), (3, -0.25)),
                                                         E=((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1),
                                                            (0.5, 0, 0, 0), (0, 0, 0.1, 0)))),
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.sequence[:12]}-T{q.temperature}-h{q.heads}")
def test_every_cell_computes_the_models_value(query):
    ex = Explainer(query)
    n = 0
    for cell, value in every_cell(ex):
        e = ex.explain(cell)
        assert e.cell == cell and e.summary
        assert close(e.value, value), (cell.name, e.value, value)  # the model's own number, as run_geoff gives it
        assert close(e.computed, value), (cell.name, e.computed, value, e.summary)  # what its arithmetic gives
        n += 1
    assert n >= 40


@pytest.mark.parametrize("heads", [1, 2])
def test_version_a_at_T0_is_exact_and_equals_fractions_computed_here(heads):
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, heads=heads))
    want = oracle(EXAMPLE, heads)
    for name, m in want.items():
        for i, row in enumerate(m):
            for j, v in enumerate(row):
                head = 1 if heads == 2 and name in ("Q", "K", "V", "S", "P", "Z") else None  # the second head
                e = ex.explain(Cell(name, i, j, head))
                assert e.computed == v and isinstance(e.computed, Fraction), (name, i, j, e.computed, v)
                assert e.to_json()["exact"] == (str(v.numerator) if v.denominator == 1 else str(v))


def test_the_issues_examples_and_the_exams_worked_solution():
    ex = Explainer(geoff.GeoffQuery(EXAMPLE))
    assert ex.explain("P[3,0]").summary == "P[<START>, :]: the scores 0, 0, 0, 0 tie, so argmax shares the weight: " \
                                           "1/4 each"
    assert ex.explain("Z[6,:]").summary == "Z[<STOP>] = 1/7 (v_D + v_A + v_A + v_<START> + v_A + v_D + v_<STOP>) = " \
                                           "(6/7, 9/7)"
    # Problem 2.3's worked solution: p(A | z_5) = e^3 / (2 e^3 + 4) = 0.4547, the exam's row; teacher forcing reads
    # row 4 (<START>, 0-based 3) instead
    term = ex.explain("loss[4]").to_json()["conventions"]
    assert term["exam"]["row"] == 4 and term["exam"]["probability_text"] == "e^3 / (2 e^3 + 4)"
    assert term["exam"]["nll_text"] == "log(2 e^3 + 4) - 3" and round(term["exam"]["probability"], 4) == 0.4547
    assert term["teacher_forcing"]["row"] == 3
    loss = ex.explain("loss").to_json()["conventions"]
    assert round(loss["exam"]["computed"], 4) == 4.2114 and close(loss["exam"]["computed"], loss["exam"]["value"])
    # Problem 2.5: at T = 0 no gradient reaches W_Q, and the explanation says why
    e = ex.explain("dW_Q[1,0]")
    assert e.computed == 0 and any("piecewise constant" in line for line in e.lines)
    assert ex.explain("dW_V[0,1]").computed != 0


def test_softmax_cells_in_closed_form():
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.5))
    e = ex.explain("P[4,0]")  # row A (position 4): scores 0, 9, 9, 0, 9 at T = 1/2: exponents 0, 18, 18, 0, 18
    assert e.closed_form == "1 / (3 e^18 + 2)" and close(e.computed, 1 / (3 * math.exp(18) + 2))
    assert ex.explain("P[3,1]").computed == Fraction(1, 4)  # equal scores: exactly 1/4 at any T


def test_a_cell_is_stated_once():
    """Under softmax every visible cell of the row has its own line, so the clicked one is not stated again above
    them (an audit saw P[5,0] = 0.5000 twice running); under argmax and for a masked cell it leads the lines."""
    softmax = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.5))
    for cell, title in (("P[5,0]", "P[D (position 6), D (position 1)]"),
                        ("P[4,0]", "P[A (position 5), D (position 1)]")):
        lines = softmax.explain(cell).lines
        assert sum(line.startswith(title) for line in lines) == 1, lines
    masked = softmax.explain("P[2,5]").lines
    assert masked[0] == "P[A (position 3), D (position 6)] = 0 (masked (a later position))"
    argmax = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.0)).explain("P[5,0]").lines
    assert argmax[0] == "P[D (position 6), D (position 1)] = 1/2 (its share)"


def test_sources_are_the_cells_a_number_came_from():
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, heads=2))
    s = ex.explain("S[h2,5,1]")
    assert s.sources == [{"matrix": "Q", "head": 1, "cells": [[5, 0], [5, 1]]},
                         {"matrix": "K", "head": 1, "cells": [[1, 0], [1, 1]]}]
    assert ex.explain("P[h1,2,0]").sources == [{"matrix": "S", "head": 0, "cells": [[2, 0], [2, 1], [2, 2]]}]
    z = ex.explain("Z[h1,1,0]").sources  # row A (position 1): its largest visible score is its own
    assert z[0] == {"matrix": "P", "head": 0, "cells": [[1, 1]]}
    r = ex.explain("R[6,A]").sources
    assert [x["matrix"] for x in r] == ["Z", "Z", "multi_W_O"]
    assert ex.explain("logits[6,<STOP>]").sources[1] == {"matrix": "E", "head": None,
                                                         "cells": [[5, d] for d in range(4)]}


def test_a_variants_transformer_is_explained_with_its_own_weights():
    from dlexam.geoff.exact import exact_run
    from dlexam.variants import make_variant

    t = make_variant(3, "harder").spec.transformer
    ex = Explainer(geoff.GeoffQuery(" ".join(t.example), heads=t.heads, weights=geoff.GeoffWeights.from_spec(t)))
    run = exact_run(t, heads=t.heads)
    for h, head in enumerate(run.heads):
        for i, row in enumerate(head.P):
            for j, v in enumerate(row):
                assert ex.explain(Cell("P", i, j, h)).computed == v
    for i, row in enumerate(run.R):
        for j, v in enumerate(row):
            assert ex.explain(Cell("R", i, j)).computed == v


def test_a_heads_own_projection_is_its_source_by_head():
    """Variant 0 (harder): each head has its own W_Q, W_K, W_V. Q[h2,..] is x . head 2's own W_Q column, and its source
    names head 2 (index 1), so /geoff lights that head's editor; it said W_Q with no head (the one-head model's).
    With one head the source is the shared W_Q. Oracle: the spec's matrices, read here."""
    from dlexam.variants import make_variant

    t = make_variant(0, "harder").spec.transformer
    assert t.multi_heads is not None
    w = geoff.GeoffWeights.from_spec(t)
    seq = " ".join(t.example)
    for m in ("Q", "K", "V"):
        own = [float(r[0]) for r in getattr(t.multi_heads[1], f"W_{m}")]
        e = Explainer(geoff.GeoffQuery(seq, heads=t.heads, weights=w)).explain(f"{m}[h2,6,0]")
        assert e.sources[1] == {"matrix": f"W_{m}", "head": 1, "cells": [[d, 0] for d in range(len(own))]}
        assert f"W_{m}_h2[:, d1]" in e.summary and str(tuple(int(v) for v in own)).replace(",)", ")") in e.summary
        one = Explainer(geoff.GeoffQuery(seq, heads=1, weights=w)).explain(f"{m}[6,0]")
        assert one.sources[1]["head"] is None and f" W_{m}[:, d1]" in one.summary


@pytest.mark.parametrize("text, needle", [
    ("Foo[1,2]", "unknown cell"), ("P[9,0]", "P has 7 rows here (0-6), got 9"), ("P[3]", "takes 2 indexes"),
    ("R[3,:]", "whole row (:) is explained for P and Z only"), ("logits[2,E]", "one of A, B, C, D, <START>, <STOP>"),
    ("P[h2,3,0]", "head h2 does not exist"), ("loss[2]", "tokens after <START>"), ("X", "needs an index"),
    ("dW_O[h1,0,0]", "one matrix for every head"),
    # P and S are 7x7: an index past the end names its own axis, the second one the columns
    ("P[3,9]", "P has 7 columns here (0-6), got 9"), ("S[9,3]", "S has 7 rows here (0-6), got 9"),
    ("S[3,7]", "S has 7 columns here (0-6), got 7"), ("R[6,4]", "R has 4 columns here (0-3), got 4"),
])
def test_a_bad_cell_is_one_clear_error(text, needle):
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE)).explain(text)
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text, says", [
    ("p[3,0]", "unknown cell 'p[3,0]': did you mean P[3,0]? "), ("Logits[6,<STOP>]", "did you mean logits[6,<STOP>]?"),
    ("dWQ[0,0]", "did you mean dW_Q[0,0]?"), ("dw_v[ 0, 1 ]", "did you mean dW_V[ 0, 1 ]?"),
    ("LOSS", "did you mean loss?"), ("w_v[0,1]", "W_V is a weight the model is given"),
    ("W_Q[0,1]", "W_Q is a weight the model is given, not a number it computes: its gradient is dW_Q[0,1]"),
    ("E[4,0]", "E is a weight the model is given, not a number it computes: its gradient is dE[4,0]"),
])
def test_a_cell_name_nearly_right_is_refused_naming_the_cell_meant(text, says):
    """A learner's typing on /geoff's explain form (and `geoff --explain`): the case of a name, its underscore left out,
    or a weight named for its gradient. It said "unknown cell" and the whole spelling guide alone (2026-12-07)."""
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE)).explain(text)
    assert says in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_labels_and_aliases_name_the_same_cell():
    ex = Explainer(geoff.GeoffQuery(EXAMPLE))
    assert ex.explain("logits[6,<STOP>]").cell == ex.explain("logits[6,5]").cell == Cell("logits", 6, 5)
    assert ex.explain("QK^T[3,0]").cell == ex.explain("scores[3,0]").cell == Cell("S", 3, 0)
    assert ex.explain("dE[<START>,d1]").cell.name == "dE[4,0]"


def test_cli_explain(capsys):
    assert main(["geoff", "--explain", "P[3,0]"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("P[<START>, :]: the scores 0, 0, 0, 0 tie, so argmax shares the weight: 1/4 each")
    assert main(["geoff", "--heads", "2", "--explain", "Z[h2,6,1]", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["exact"] == "9/7" and d["cell"] == "Z[h2,6,1]" and d["value"] == pytest.approx(9 / 7, rel=1e-15)
    assert main(["geoff", "--explain", "P[3,"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "name a cell as NAME[row,column]" in err


def test_the_gradient_row_at_the_querys_own_temperature_comes_from_the_library(capsys):
    report = geoff.analyse(geoff.GeoffQuery(EXAMPLE, temperature=0.5, gradients=True, heads=2))
    row = report.to_json()["gradient_at_temperature"]
    grads = geoff.run_geoff(EXAMPLE, temperature=0.5, heads=2, gradients=True).gradients  # autograd, afresh
    assert row["temperature"] == 0.5
    # the two identical heads share W_Q, W_K, W_V: the row's norm is that of the gradient a step applies, their sum
    applied = {k: g.sum(0) if k in ("W_Q", "W_K", "W_V") else g for k, g in grads.items()}
    assert row["norms"] == pytest.approx({k: float(g.norm()) for k, g in applied.items()}, rel=1e-12)
    assert row["vanishes"] == {k: False for k in grads}
    for t in (0, "sqrt"):  # Problem 2.5's own two rows say it
        assert "gradient_at_temperature" not in geoff.analyse(geoff.GeoffQuery(EXAMPLE, t, gradients=True)).to_json()
    assert main(["geoff", "--heads", "2", "--gradients", "--temperature", "0.5"]) == 0  # multi_W_O's column
    out = capsys.readouterr().out
    assert "multi_W_O" in out and "T=0.5 (asked)" in out


def test_a_tiny_temperature_or_huge_weights_are_explained_not_crashed():
    """T = 1e-300 is 0 to format_exact's tolerance but not to the softmax (it raised ZeroDivisionError; the API
    answered 500); a target's probability e^-2250000 underflows to 0 (-log 0 raised a domain error); a logit of 2e25
    absorbed the log 2 beside it (the loss term read 0). Each explanation's arithmetic now gives the model's own
    number, checked here against torch.log_softmax and the attention's own weights."""
    tiny_t = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=1e-300))
    assert tiny_t.explain("P[3,0]").computed == Fraction(1, 4)  # four equal scores: 1/4 at any T
    assert tiny_t.explain("P[4,1]").computed == pytest.approx(1 / 3)
    big_W_O = geoff.EXAM_WEIGHTS.replace(W_O=[[1e6] * 4] * 2)
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=1e-300, weights=big_W_O))
    for cell in ("loss", "loss[4]", "loss[5]", "loss[6]"):
        e = ex.explain(cell)
        assert math.isfinite(e.value) and e.computed == pytest.approx(e.value, rel=1e-9), cell
    # tiny weights: scores of ~1e-12 are written 0, yet at T = 1e-300 they decide the softmax
    tiny_w = geoff.EXAM_WEIGHTS.replace(E=[[1e-6 * (1 + i + j) for j in range(4)] for i in range(6)])
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=1e-300, weights=tiny_w))
    for j in range(5):
        assert ex.explain(f"P[4,{j}]").computed == pytest.approx(float(ex.result.P[4, j]), abs=1e-12), j
    # logits of +-2e25 (E and W_V at 1e6, argmax): the target shares its row's top with one other: -log p = log 2
    big = [[1e6 * (1 if (i + j) % 3 else -1) for j in range(4)] for i in range(6)]
    w = geoff.EXAM_WEIGHTS.replace(E=big, W_V=[r[:2] for r in big[:4]])
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0, weights=w))
    logits = ex.result.logits.double()
    for p in (4, 5, 6):
        want = -float(torch.log_softmax(logits[p - 1], dim=-1)[VOCAB.index(EXAMPLE.split()[p])])
        assert ex.explain(f"loss[{p}]").computed == pytest.approx(want, rel=1e-9, abs=1e-12), p


def test_sqrt_d_k_is_the_root_of_W_Qs_columns_as_the_model_runs_it():
    """sqrt_d_k (the T of P's caption at T = sqrt): d_k is the number of columns of W_Q, typed in here for Version A
    (2) and for weights of width 4 (whose root, 2, is exact); the value is the T the model itself runs at."""
    def explain(query, cell):
        return Explainer(query).explain(cell)

    e = explain(geoff.GeoffQuery(EXAMPLE, temperature="sqrt"), "sqrt_d_k")
    model_t = geoff.run_geoff(EXAMPLE, temperature="sqrt").temperature
    assert e.kind == "scale" and e.value == math.sqrt(len(W_[0])) == model_t  # the exam's W_Q: 2 columns
    assert e.computed == pytest.approx(math.sqrt(2), rel=1e-15) and e.closed_form == "sqrt(2)"
    assert e.summary.startswith("sqrt(d_k) = sqrt(2) = 1.4142: d_k = 2") and e.to_json()["d_k"] == 2
    assert e.sources == [{"matrix": "W_Q", "head": None, "cells": [[i, j] for i in range(4) for j in range(2)]}]
    assert explain(geoff.GeoffQuery(EXAMPLE, temperature=0.5), "sqrt_d_k").value == e.value  # whatever the page's T
    eye = [[float(i == j) for j in range(4)] for i in range(4)]
    wide = geoff.GeoffWeights(W_Q=eye, W_K=eye, W_V=eye, W_O=eye, multi_W_O=eye + eye)
    e4 = explain(geoff.GeoffQuery(EXAMPLE, temperature="sqrt", weights=wide), "sqrt_d_k")
    assert e4.computed == Fraction(2) and e4.value == 2.0 and e4.closed_form == ""
    with pytest.raises(UserError, match="takes no index"):
        explain(geoff.GeoffQuery(EXAMPLE), "sqrt_d_k[0]")


@pytest.mark.parametrize(("heads", "says", "never"), [(1, "R = Z W_O: row 1 of W_O", "Z_1"),
                                                      (2, "R = [Z_1 Z_2] multi_W_O: row 1 of multi_W_O", "Z_k")])
def test_dW_O_names_the_R_of_its_own_head_count(heads, says, never):
    """dW_O's explanation writes R as the model computes it: with one head R = Z W_O (2026-12-07 it read
    "R = [Z_1 .. Z_k] W_O" with one head too), with two heads [Z_1 Z_2] multi_W_O."""
    text = "\n".join(Explainer(geoff.GeoffQuery(EXAMPLE, temperature="sqrt", heads=heads)).explain("dW_O[1,2]").lines)
    assert says in text and never not in text


@pytest.mark.parametrize(("heads", "formula", "value"), [(1, "R = Z W_O", Fraction(9, 7)),
                                                         (2, "R = [Z_1 Z_2] multi_W_O", Fraction(6, 7))])
def test_a_cell_of_R_names_the_matrix_its_heads_multiply(heads, formula, value):
    """R[<STOP>, A] by hand: Z[<STOP>] = (6/7, 9/7) (the exam's Z); one head: (6/7, 9/7) . W_O[:, A] = (0, 1) gives 9/7;
    two heads: [Z Z] . I_4[:, A] = 6/7. With two heads the explanation said "R = [Z_1 .. Z_k] W_O" beside a
    summary (and a matrix view) multiplying by multi_W_O (2026-12-07)."""
    e = Explainer(geoff.GeoffQuery(EXAMPLE, heads=heads)).explain("R[6,A]")
    assert e.computed == value and e.lines[0] == formula
    assert "] W_O" not in e.text and ("multi_W_O" in e.summary) == (heads == 2)


def test_a_head_past_the_models_count_is_said_in_words():
    """One head is "1 head", not "1 head(s)" (dlexam.words.counted, as every text the library returns)."""
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE)).explain("P[h2,3,0]")
    assert str(e.value) == "P: head h2 does not exist: this model has 1 head, h1"
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE, heads=2)).explain("P[h3,3,0]")
    assert str(e.value) == "P: head h3 does not exist: this model has 2 heads, h1-h2"


@pytest.mark.parametrize(("text", "says"), [
    ("P[-1,0]", "P: '-1' is not an index here: give a position, a whole number from 0 to 6 (counting from 0)"),
    ("P[3,x]", "P: 'x' is not an index here: give a position, a whole number from 0 to 6 (counting from 0)"),
    ("R[6,E]", "R: 'E' is not an index here: give a whole number from 0 to 3 or one of A, B, C, D"),
])
def test_a_bad_index_says_which_indexes_there_are(text, says):
    """`P[-1,0]` said "give a position (a number)", and -1 is a number (2026-12-07): the range is said, as an index
    past the end says it ("P has 7 rows here (0-6)"): the example has 7 tokens, R 4 columns (E is 6x4)."""
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE)).explain(text)
    assert str(e.value) == says


def test_a_subnormal_temperature_is_explained_as_the_temperature_asked_for_not_as_0():
    """T = 1e-320, below float64's smallest normal number, makes 1/T overflow: the attention takes softmax(s/T)'s
    T -> 0 limit (argmax, ties shared), the right weights. The explanation said "T = 0: ...", a temperature the
    header (`temperature 1e-320`) and the query did not give (until 2026-12-07)."""
    def rule(temperature):  # the explanation's line that names the temperature and the rule
        e = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=temperature)).explain("P[2,1]")
        assert e.computed == Fraction(1, 2)  # the scores 0, 9, 9: the two 9s share the weight, as the limit does
        return next(line for line in e.lines if "lim_{T->0+}" in line)

    assert rule(1e-320).startswith("T = 1e-320, "), rule(1e-320)
    assert rule(0).startswith("T = 0: ")


def test_an_exact_zero_reads_0_in_every_explanation():
    """An exact 0 is "0" in an explanation, as the gradient matrices and P's masked cells write it (format_exact):
    the upstream gradients, a masked weight at T > 0 and a logit of E's zero <STOP> row read "0.0000" until
    2026-12-07. The zeros by hand: no later position attends to <STOP> (the last), the positions before <START> are
    scored by no loss term, the mask hides later positions, and E's <STOP> row is 0 (Version A: E = [I_4; 0; 0])."""
    argmax = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.0, gradients=True))
    dv = [line for line in argmax.explain("dW_V[0,0]").lines if line.startswith("dL/dV[:, d1] = (")][0]
    assert dv.endswith(", 0)"), dv  # the <STOP> position's value row meets the loss through no one
    dr = [line for line in argmax.explain("dW_O[0,0]").lines if line.startswith("dL/dR[:, A] = (")][0]
    assert dr.startswith("dL/dR[:, A] = (0, 0, 0, "), dr  # D A A: before <START>, no loss term
    softmax = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.5, gradients=True))
    masked = softmax.explain("P[0,1]")
    assert masked.to_json()["exact"] == "0" and masked.computed == 0
    logit = softmax.explain("logits[1,5]")  # r . e_<STOP>, e_<STOP> = 0
    assert logit.summary.endswith("= 0") and logit.to_json()["exact"] == "0", logit.summary
    for ex, cells in ((argmax, ("dW_V[0,0]", "dW_V[0,1]", "dW_O[0,0]", "dW_Q[0,0]", "dW_K[0,0]")),
                      (softmax, ("dW_Q[0,0]", "dW_K[0,1]", "P[3,4]", "logits[5,4]"))):
        for cell in cells:
            e = ex.explain(cell)
            assert not any("0.0000" in line for line in (e.summary, *e.lines)), (cell, e.text)
