"""dlexam.geoff.exact (Problem 2 in fractions) against the project's float64 model on random small specs (hypothesis):
every matrix equal to within 1e-12 for one head and for k heads of their own, and the closed-form loss equal to the
model's teacher-forcing loss."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dlexam import geoff
from dlexam.geoff.exact import differences, exact_run, loss_terms
from dlexam.spec import Head, TransformerSpec

small = st.integers(-3, 3)


@st.composite
def specs(draw):
    n, d_head = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    d_model = n
    symbols = tuple("ABCD"[:n])

    def mat(rows, cols):
        return tuple(tuple(draw(small) for _ in range(cols)) for _ in range(rows))

    def head():
        return Head(W_Q=mat(d_model, d_head), W_K=mat(d_model, d_head), W_V=mat(d_model, d_head))

    heads = (head(), head())
    example = tuple(draw(st.lists(st.sampled_from(symbols), min_size=1, max_size=4)))
    return TransformerSpec(symbols=symbols, E=mat(n + 2, d_model), head=heads[0], W_O=mat(d_head, d_model),
                           example_input=example, example_target=tuple(sorted(set(example))), multi_heads=heads,
                           multi_W_O=mat(2 * d_head, d_model))


@settings(max_examples=40, deadline=None)
@given(specs())
def test_exact_equals_the_float64_model(t):
    weights = geoff.GeoffWeights.from_spec(t)
    for heads in (1, 2):
        run = exact_run(t, heads=heads)
        result = geoff.run_geoff(list(t.example), heads=heads, weights=weights)
        assert max(differences(run, result).values()) <= 1e-9 * max(1.0, max(abs(float(v)) for r in run.logits
                                                                             for v in r))
        closed = sum(x.nll for x in loss_terms(run, t))
        model = float(result.loss["teacher_forcing"]["value"])
        assert abs(closed - model) <= 1e-9 * max(1.0, abs(model))
