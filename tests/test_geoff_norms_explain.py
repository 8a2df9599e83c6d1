"""Problem 2.5's numbers explained (dlexam.geoff.explain's `norm`, `change`, `loss_before`, `loss_after` cells):
each gradient norm of Problem 2.5's table, at the temperature of its row, and each result of one gradient step,
against an oracle written here: the exam's Geoff transformer typed in (E, W_Q = W_K = W_V, W_O), run as a plain
float64 torch forward with autograd, and one SGD step taken by hand."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import pytest
import torch

from dlexam import geoff
from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.geoff.explain import Explainer
from dlexam.geoff.step import StepSettings

EXAMPLE = "D A A <START> A D <STOP>"
VOCAB = ["A", "B", "C", "D", "<START>", "<STOP>"]
E = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]  # the exam's E
W = [[0, 3], [1, 2], [2, 1], [3, 0]]  # W_Q = W_K = W_V
W_O = [[0, 1, 0, 1], [1, 0, 1, 0]]
I4 = [[int(i == j) for j in range(4)] for i in range(4)]  # Problem 2.4's multi_W_O
SQRT2 = math.sqrt(2)  # sqrt(d_k), d_k = 2


def forward(T: float, weights: dict | None = None, heads: int = 1, shared: bool = True, convention="teacher_forcing"):
    """The exam's model on its example in float64: (loss, probabilities of the targets, gradients by autograd).
    With `heads` identical heads, `shared` uses one W_Q, W_K, W_V for all (its gradient: the heads' sum), else a
    copy per head (a gradient each, stacked)."""
    given = {"E": E, "W_Q": W, "W_K": W, "W_V": W, "W_O": W_O if heads == 1 else I4, **(weights or {})}
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in given.items()}
    copies = [{k: p[k] if shared else p[k].detach().clone().requires_grad_() for k in ("W_Q", "W_K", "W_V")}
              for _ in range(heads)]
    toks = EXAMPLE.split()
    ids = [VOCAB.index(t) for t in toks]
    n = len(ids)
    X = p["E"][ids]
    future = torch.ones(n, n).triu(1).bool()
    Z = []
    for w in copies:
        Q, K, V = X @ w["W_Q"], X @ w["W_K"], X @ w["W_V"]
        S = Q @ K.T
        if T == 0:  # argmax, tied maxima share the weight: a constant of the weights
            s = S.detach().masked_fill(future, -math.inf)
            top = (s == s.max(dim=1, keepdim=True).values).double()
            P = top / top.sum(dim=1, keepdim=True)
        else:
            P = torch.softmax((S / T).masked_fill(future, -math.inf), dim=1)
        Z.append(P @ V)
    logits = torch.cat(Z, dim=1) @ p["W_O"] @ p["E"].T
    log_p = torch.log_softmax(logits, dim=1)
    shift = 1 if convention == "teacher_forcing" else 0
    terms = [-log_p[t - shift, ids[t]] for t in range(toks.index("<START>") + 1, n)]
    loss = sum(terms)
    loss.backward()
    grad = lambda t: t.grad if t.grad is not None else torch.zeros_like(t)  # noqa: E731
    grads = {k: grad(p[k]) for k in ("E", "W_O")}
    for k in ("W_Q", "W_K", "W_V"):
        grads[k] = grad(p[k]) if shared else torch.stack([grad(w[k]) for w in copies])
    return loss.item(), [math.exp(-t.item()) for t in terms], grads


def test_the_oracle_is_the_exams_model():
    loss, probabilities, _ = forward(0.0, convention="exam")
    assert round(loss, 4) == 4.2114  # Problem 2.3's worked solution
    assert [round(x, 4) for x in probabilities] == [0.4547, 0.4547, 0.0717]


def squares_of(summary: str) -> list[float]:
    """The entries a norm's arithmetic writes out, each squared: "sqrt(0^2 + (-0.1234)^2 + (3/7)^2 + ...)"."""
    return [float(Fraction(x)) for x in re.findall(r"\(?(-?\d[\d./e+-]*)\)?\^2", summary)]


@pytest.mark.parametrize("T, name", [(0.0, "0"), (SQRT2, "sqrt"), (0.5, "0.5")])
def test_each_norm_is_the_root_of_the_sum_of_its_squared_gradient_entries(T, name):
    _, _, grads = forward(T)
    page = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=1.7))  # another T: each row its own model
    for m in ("W_Q", "W_K", "W_V", "W_O"):
        e = page.explain(f"norm[{m},T={name}]")
        want = float(grads[m].pow(2).sum().sqrt())
        assert e.kind == "norm" and e.cell.name == f"norm[{m},T={name}]"
        assert e.value == pytest.approx(want, rel=1e-12, abs=1e-15), (m, T)
        assert float(e.computed) == pytest.approx(want, rel=1e-9, abs=1e-15), (m, T)
        entries = squares_of(e.summary)  # written out: every entry of the gradient, to the precision shown
        assert len(entries) == 8, e.summary
        for shown, g in zip(entries, grads[m].flatten().tolist(), strict=True):
            assert shown == pytest.approx(g, abs=5e-5, rel=5e-4), (m, e.summary)
        assert e.to_json()["temperature"] == pytest.approx(T)
        assert e.sources == [{"matrix": f"d{m}", "head": None, "cells": [[i, j] for i in range(4 if m != "W_O" else 2)
                                                                         for j in range(2 if m != "W_O" else 4)]}]


def test_at_T0_the_norms_of_W_Q_and_W_K_are_exactly_zero_and_it_says_why():
    ex = Explainer(geoff.GeoffQuery(EXAMPLE))
    for m in ("W_Q", "W_K"):
        for cell in (f"norm[{m}]", f"norm[{m},T=0]"):
            e = ex.explain(cell)
            assert e.computed == 0 and isinstance(e.computed, Fraction) and e.value == 0
            assert e.to_json()["exact"] == "0" and e.to_json()["vanishes"] is True
            assert "piecewise constant" in e.text and "Problem 2.5" in e.text
    assert ex.explain("norm[W_V]").computed > 0.1 and "piecewise" not in ex.explain("norm[W_V]").text


def test_the_page_row_follows_the_query_and_a_named_row_keeps_its_T():
    at_half = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.5))
    _, _, half = forward(0.5)
    _, _, zero = forward(0.0)
    assert at_half.explain("norm[W_Q]").value == pytest.approx(float(half["W_Q"].norm()), rel=1e-12)
    assert at_half.explain("norm[W_Q,T=0]").value == 0 != float(half["W_Q"].norm())
    assert at_half.explain("norm[W_V,T=0]").value == pytest.approx(float(zero["W_V"].norm()), rel=1e-12)
    # the norms table's numbers are these
    report = geoff.analyse(geoff.GeoffQuery(EXAMPLE, temperature=0.5, gradients=True)).to_json()
    for m, v in report["gradient_at_temperature"]["norms"].items():
        assert at_half.explain(f"norm[{m}]").value == v
    for label, t in (("T=0 (argmax)", "0"), ("T=sqrt(d_k)", "sqrt")):
        for m, v in report["gradient_comparison"][label]["norms"].items():
            assert at_half.explain(f"norm[{m},T={t}]").value == v


def test_two_identical_heads_norms_table_is_the_gradient_the_step_applies(capsys):
    """Problem 2.5's norms table with k identical heads: the heads share W_Q, W_K, W_V, and a gradient step moves each
    by lr x the heads' summed gradient (autograd on one shared leaf gives that sum), so the table's number is that
    sum's norm, with each head's own gradient a part of it. It had shown the norm over both heads' 16 entries,
    sqrt(|g_1|^2 + |g_2|^2) (W_V at T = sqrt(2): 1.0031; the step's own |gradient|: 0.8381), in the table of
    `dlexam geoff --heads 2 --gradients`, of /geoff and of norm[W_V]'s explanation alike."""
    for T, name, label in ((0.0, 0.0, "T=0 (argmax)"), (SQRT2, "sqrt", "T=sqrt(d_k)")):
        _, _, shared = forward(T, heads=2)  # one W_Q, W_K, W_V for both heads: the gradient a step applies
        _, _, own = forward(T, heads=2, shared=False)  # a copy per head: each head's part of that gradient
        for m in ("W_Q", "W_K", "W_V"):  # the oracle's parts add up to the shared gradient
            assert torch.allclose(own[m].sum(0), shared[m], rtol=0, atol=1e-12)
        comparison = geoff.compare_gradients(EXAMPLE, heads=2)
        query = geoff.GeoffQuery(EXAMPLE, temperature=name, heads=2)
        step = geoff.gradient_step(query, lr=0.1)
        ex = Explainer(query)
        for m, key in (("W_Q", "W_Q"), ("W_K", "W_K"), ("W_V", "W_V"), ("W_O", "multi_W_O")):
            want = float(shared[m].norm())
            assert comparison.norms[label][key] == pytest.approx(want, rel=1e-12, abs=1e-15), (m, T)
            assert comparison.vanishes[label][key] == bool((shared[m] == 0).all()), (m, T)
            assert comparison.norms[label][key] == pytest.approx(step.gradient_norms[key], rel=1e-12, abs=1e-15)
            e = ex.explain(f"norm[{m}]")
            assert e.value == comparison.norms[label][key]
            assert float(e.computed) == pytest.approx(want, rel=1e-9, abs=1e-15), (m, e.summary)
            assert squares_of(e.summary) == pytest.approx(shared[m].flatten().tolist(), abs=5e-5, rel=5e-4)
        for m in ("W_Q", "W_K", "W_V"):  # the heads' parts: each head's own gradient's norm
            assert comparison.head_parts[label][m] == pytest.approx([float(h.norm()) for h in own[m]], rel=1e-12,
                                                                    abs=1e-15), (m, T)
        assert "multi_W_O" not in comparison.head_parts[label]  # one matrix, one gradient: no parts
        assert "sum of the heads' parts" in ex.explain("norm[W_V]").text
    assert comparison.frozen("T=0 (argmax)") == ["W_Q", "W_K"] and comparison.frozen("T=sqrt(d_k)") == []
    assert geoff.compare_gradients(EXAMPLE).head_parts["T=sqrt(d_k)"] == {}  # one head: nothing to split
    # the query's own T (neither 0 nor sqrt(d_k)): the same row, from the query's own run
    _, _, half = forward(0.5, heads=2)
    at = geoff.analyse(geoff.GeoffQuery(EXAMPLE, temperature=0.5, heads=2, gradients=True)).to_json()
    assert at["gradient_at_temperature"]["norms"]["W_V"] == pytest.approx(float(half["W_V"].norm()), rel=1e-12)
    assert at["gradient_comparison"]["T=sqrt(d_k)"]["head_parts"]["W_V"] == comparison.head_parts["T=sqrt(d_k)"]["W_V"]
    # the command line's table: 0.8381 for W_V at T = sqrt(d_k), not the 16 entries' 1.003
    assert main(["geoff", "--heads", "2", "--gradients"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("T=sqrt(d_k)"))
    assert f"{float(shared['W_V'].norm()):.4g}" in row.split() and "1.003" not in row.split(), row
    assert "share W_Q, W_K, W_V" in out and "|g1 + g2|" in out
    assert ex.explain("norm[W_O]").cell.name == "norm[multi_W_O]"  # the output matrix two heads use


def manual_step(T: float, lr: float, matrices=("W_Q", "W_K", "W_V", "W_O"), heads: int = 1,
                convention="teacher_forcing"):
    """One SGD step by hand: W - lr dL/dW on `matrices` (identical heads share W_Q, W_K, W_V); each matrix's
    largest |change| and where, and the loss before and after."""
    before, _, g = forward(T, heads=heads, convention=convention)
    given = {"E": E, "W_Q": W, "W_K": W, "W_V": W, "W_O": W_O if heads == 1 else I4}
    after, change, where = {}, {}, {}
    for m in matrices:
        old = torch.tensor(given[m], dtype=torch.float64)
        new = old - lr * g[m]
        after[m] = new.tolist()
        d = (new - old).abs()
        change[m] = float(d.max())
        where[m] = divmod(int(g[m].abs().argmax()), g[m].shape[1])
    loss_after, _, _ = forward(T, after, heads=heads, convention=convention)
    return before, loss_after, change, where, g


@pytest.mark.parametrize("T, name", [(0.0, 0.0), (SQRT2, "sqrt"), (0.5, 0.5)])
def test_a_steps_change_is_lr_times_its_largest_gradient_entry_and_its_loss_after_is_the_stepped_models(T, name):
    lr = 0.25
    before, after, change, where, g = manual_step(T, lr, ("E", "W_Q", "W_K", "W_V", "W_O"))
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=name), StepSettings(lr, ("E", "W_Q", "W_K", "W_V", "W_O")))
    # the model's dimensions (E's columns, W_Q's rows, W_O's columns) are one axis, named after the symbol each is the
    # unit vector of (the exam's E = [I_4; 0; 0]); a head's are d1, d2
    rows = {"E": VOCAB, "W_Q": ["A", "B", "C", "D"], "W_O": ["d1", "d2"]}
    cols = {"E": ["A", "B", "C", "D"], "W_O": ["A", "B", "C", "D"]}
    for m in ("E", "W_Q", "W_K", "W_V", "W_O"):
        e = ex.explain(f"change[{m}]")
        assert e.kind == "change"
        assert e.value == pytest.approx(change[m], rel=1e-12, abs=1e-15), m
        assert float(e.computed) == pytest.approx(change[m], rel=1e-9, abs=1e-15), m
        a, b = where[m]
        if change[m] > 0:  # the entry is named, with its value: lr x |dL/dW[a, b]|
            entry = f"d loss / d {m}[{rows.get(m, rows['W_Q'])[a]}, {cols.get(m, ['d1', 'd2'])[b]}]"
            assert entry in e.summary and "0.25 x " in e.summary, e.summary
            assert e.to_json()["entry"]["gradient"] == pytest.approx(float(g[m][a, b]), rel=1e-12)
        else:
            assert T == 0 and m in ("W_Q", "W_K") and "piecewise constant" in e.text
    e = ex.explain("loss_after")
    assert e.value == pytest.approx(after, rel=1e-12) and e.computed == pytest.approx(after, rel=1e-9)
    assert e.kind == "step_loss" and ("down" if after < before else "up") in e.lines[-1]  # lr 0.25 overshoots at T=0.5
    assert ex.explain("loss_before").value == pytest.approx(before, rel=1e-12)
    assert ex.explain("loss_before").computed == pytest.approx(before, rel=1e-9)
    assert "W_V - 0.25 x d loss / d W_V" in e.text


def test_two_identical_heads_step_their_shared_matrix_by_the_heads_summed_gradient():
    before, after, change, where, g = manual_step(0.5, 0.1, heads=2)  # the oracle's W_V is shared by both heads
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, temperature=0.5, heads=2), StepSettings(0.1))
    e = ex.explain("change[W_V]")
    assert e.value == pytest.approx(change["W_V"], rel=1e-12) and float(e.computed) == pytest.approx(change["W_V"])
    assert "sum" in e.text and ex.explain("change[W_O]").cell.name == "change[multi_W_O]"
    assert ex.explain("loss_after").value == pytest.approx(after, rel=1e-12)


def test_two_identical_heads_step_reports_the_norm_of_the_gradient_it_applies():
    """The step table's |gradient| with k identical heads: the heads share W_Q, W_K, W_V, so the gradient the step
    applies to each is the heads' sum (autograd on one shared leaf says so); its norm is |g_1 + g_2|, not the norm
    over both heads' 16 entries, sqrt(|g_1|^2 + |g_2|^2) (what it had shown: 1.0031 for W_V at T = sqrt(2),
    against 0.8381)."""
    for T, name in ((SQRT2, "sqrt"), (0.5, 0.5)):
        _, _, shared = forward(T, heads=2)  # one W_Q, W_K, W_V for both heads: its gradient is the heads' sum
        query = geoff.GeoffQuery(EXAMPLE, temperature=name, heads=2)
        step = geoff.gradient_step(query, lr=0.1)
        want = {"W_Q": shared["W_Q"], "W_K": shared["W_K"], "W_V": shared["W_V"], "multi_W_O": shared["W_O"]}
        for m, g in want.items():
            assert step.gradient_norms[m] == pytest.approx(float(g.norm()), rel=1e-12), (m, T)
            e = Explainer(query, StepSettings(0.1)).explain(f"step_norm[{m}]")
            assert e.kind == "step_norm" and e.value == step.gradient_norms[m]
            assert float(e.computed) == pytest.approx(float(g.norm()), rel=1e-9), (m, e.summary)
            entries = squares_of(e.summary)  # the 8 (16 for multi_W_O) entries of the applied gradient
            assert entries == pytest.approx(g.flatten().tolist(), abs=5e-5, rel=5e-4), (m, e.summary)
        assert "sum" in Explainer(query, StepSettings(0.1)).explain("step_norm[W_V]").text
    one = geoff.gradient_step(geoff.GeoffQuery(EXAMPLE, temperature=0.5), lr=0.1)  # one head: its own gradient
    _, _, g1 = forward(0.5)
    assert one.gradient_norms["W_V"] == pytest.approx(float(g1["W_V"].norm()), rel=1e-12)


def test_the_exam_convention_steps_its_own_loss():
    before, after, change, _, _ = manual_step(0.0, 0.1, convention="exam")
    ex = Explainer(geoff.GeoffQuery(EXAMPLE, convention="exam"))  # lr 0.1, W_Q..W_O: the page's defaults
    assert ex.explain("loss_before").value == pytest.approx(before, rel=1e-12) and round(before, 4) == 4.2114
    assert ex.explain("loss_after").computed == pytest.approx(after, rel=1e-9)
    assert ex.explain("change[W_O]").value == pytest.approx(change["W_O"], rel=1e-12)


@pytest.mark.parametrize("text, needle", [
    ("norm[W_X]", "one of E, W_Q, W_K, W_V, W_O"), ("norm", "needs an index"), ("norm[W_Q,T=-1]", "temperature"),
    ("norm[W_Q,3]", "T="), ("change[W_Q,T=0]", "the step's own T"), ("change[E]", "E was not stepped"),
    ("loss_after[3]", "takes no index"), ("norm[h1,W_Q]", "one number over every head"),
])
def test_a_bad_name_is_one_clear_error(text, needle):
    with pytest.raises(UserError) as e:
        Explainer(geoff.GeoffQuery(EXAMPLE)).explain(text)
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_cli_explains_norms_and_step_results(capsys):
    assert main(["geoff", "--explain", "norm[W_K,T=0]"]) == 0
    assert "piecewise constant" in capsys.readouterr().out
    assert main(["geoff", "--temperature", "0.5", "--explain", "norm[W_Q]", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["cell"] == "norm[W_Q]" and d["value"] == pytest.approx(float(forward(0.5)[2]["W_Q"].norm()), rel=1e-12)
    assert main(["geoff", "--explain", "change[E]", "--lr", "0.5", "--step-matrices", "E,W_V", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["value"] == pytest.approx(manual_step(0.0, 0.5, ("E", "W_V"))[2]["E"], rel=1e-12)
    assert main(["geoff", "--explain", "loss_after", "--lr", "0.5"]) == 0
    assert main(["geoff", "--explain", "loss_after"]) == 0
    capsys.readouterr()
    for bad in (["--explain", "norm[W_X]"], ["--explain", "change[E]"], ["--explain", "change[W_V]", "--lr", "0"],
                ["--explain", "change[W_V]", "--step-matrices", "W_Z"], ["--lr", "0.5"]):
        assert main(["geoff", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, (bad, err)


@pytest.mark.parametrize("typed, shown", [
    ("W_Z", ": unknown matrix 'W_Z'"), (",", " must list some of E, W_Q, W_K, W_V, W_O, multi_W_O, got none"),
    ("E,W_X", ": unknown matrix 'W_X'")])
def test_cli_names_step_matrices_flag(typed, shown, capsys):
    """A bad --step-matrices is refused in the words of the flag the user typed (as --lr's is), not the library's
    'matrices to step' (the item at fault named, as the API names it: tests/test_geoff_cli.py)."""
    assert main(["geoff", "--explain", "change[W_V]", "--step-matrices", typed]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dlexam: error: --step-matrices{shown}"), err
    assert err.count("\n") == 1, err


def exact_norm(values) -> float:
    """sqrt(sum of squares) of float64 values, exactly summed (Fraction) and rooted to 40 digits (Decimal): no
    float64 square underflows here (3e-200 squared is 0 in float64)."""
    from decimal import Context, Decimal

    s = sum((Fraction(float(v)) ** 2 for v in values), Fraction(0))
    ctx = Context(prec=40)
    return float(ctx.divide(Decimal(s.numerator), Decimal(s.denominator)).sqrt(ctx))


def test_the_norm_of_tiny_entries_does_not_underflow():
    """|(3e-200, 4e-200)| is 5e-200, where sqrt(sum of squares) in float64 is sqrt(0) = 0."""
    from dlexam.geoff.model import frobenius_norm

    tiny = torch.tensor([[3e-200, 4e-200]], dtype=torch.float64)
    assert math.sqrt(sum(v * v for v in tiny.flatten().tolist())) == 0  # the naive formula
    assert frobenius_norm(tiny) == pytest.approx(exact_norm([3e-200, 4e-200]), rel=1e-15, abs=0)
    assert frobenius_norm(tiny) == pytest.approx(5e-200, rel=1e-15, abs=0)
    huge = torch.tensor([3e200, -4e200], dtype=torch.float64)  # and large ones do not overflow
    assert frobenius_norm(huge) == pytest.approx(5e200, rel=1e-15, abs=0) and frobenius_norm(torch.zeros(2, 2)) == 0


@pytest.mark.parametrize("T", [1e160, 1e200, 1e300])
def test_norms_at_a_huge_temperature_are_the_gradients_norms_not_0(T):
    """At T >= 1e154 the gradient of W_Q (about 1/T) has entries whose squares underflow float64: its norm was
    3.08739e-160 at T = 1e160 (not 3.08741e-160) and 0 at T = 1e200, with the gradient not 0, in the norms table, the
    gradient step's norms and the explanation of norm[W_Q]. Oracle: the typed-in model's autograd gradients, their
    norm summed exactly."""
    _, _, grads = forward(T)
    oracle = {m: exact_norm(grads[m].flatten().tolist()) for m in ("W_Q", "W_K")}
    assert all(v > 0 for v in oracle.values())
    q = geoff.GeoffQuery(sequence=EXAMPLE, temperature=T, gradients=True)
    table = geoff.analyse(q).gradients.at_query["norms"]
    step = geoff.gradient_step(q, 1e-3)
    explained = Explainer(q).explain("norm[W_Q]")
    for m, want in oracle.items():
        assert table[m] == pytest.approx(want, rel=1e-12, abs=0), m
        assert step.gradient_norms[m] == pytest.approx(want, rel=1e-12, abs=0), m
    assert explained.value == pytest.approx(oracle["W_Q"], rel=1e-12, abs=0)
    assert float(explained.computed) == pytest.approx(oracle["W_Q"], rel=1e-12, abs=0)
    assert "sqrt(0) = 0" not in explained.text
