"""Whole-answer mistakes students make on this exam, named by the grader (`variants.mistakes.whole_mistake`) beside each
wrong value or cell they explain: Pr2.2's P without the causal mask, with its ties given to one position, or by
softmax where argmax is asked; S scaled by 1/sqrt(d_head) or masked; a loss in log base 10 or 2, or the mean of its
terms; a convolution's parameters without its biases, or over one input channel.

Each wrong answer is built here by hand from the spec, as a student would build it (S as Fraction products of E's
rows and W_Q, W_K; argmax over every position; softmax with math.exp; -log10 p with math.log10; nn.Conv2d's
parameter count with bias=False), never from the grader's or the variant's own mistakes, for several seeds of both
difficulties, and graded by the variant and by its saved key.json. A right answer, and wrong answers no such
mistake gives, are not called one."""

from __future__ import annotations

import functools
import json
import math
from fractions import Fraction

import pytest

from dlexam.spec import text
from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.saved import read_key

SEEDS = [(seed, d) for d in ("standard", "harder") for seed in (0, 1, 2, 3)]
NEW_WORDS = ("causal mask:", "ties broken", "softmax(S", "log base", "mean of the", "S scaled", "causal mask applied",
             "without the biases", "counts one input channel")


@functools.cache
def variant(seed: int, difficulty: str):
    return make_variant(seed, difficulty)


def graders(seed: int, difficulty: str) -> dict:
    v = variant(seed, difficulty)
    return {"variant": v, "key.json": read_key(json.dumps(v.to_json()).encode())}


def key(v) -> dict:
    return json.loads(json.dumps(v.key()))


def result(g, sub: dict, aid: str):
    return next(r for r in grade(g, sub).fields if r.id == aid)


def scores_by_hand(t) -> list[list[Fraction]]:
    """S = Q K^T of the example: the rows of E for its tokens times W_Q and W_K, in Fractions."""
    X = [[Fraction(x) for x in t.E[t.vocab.index(tok)]] for tok in t.example]

    def times(A, W):
        return [[sum((a * Fraction(W[k][j]) for k, a in enumerate(row)), Fraction(0)) for j in range(len(W[0]))]
                for row in A]

    Q, K = times(X, t.head.W_Q), times(X, t.head.W_K)
    return [[sum((a * b for a, b in zip(q, k, strict=True)), Fraction(0)) for k in K] for q in Q]


def argmax_rows(S, causal: bool, ties: str = "shared") -> list[list[Fraction]]:
    """Argmax attention as written in the exam: each row's largest (visible) scores share the weight; `ties` "first"
    or "last" gives it all to one of them instead."""
    out = []
    for i, row in enumerate(S):
        seen = row[:i + 1] if causal else row
        top = [j for j, s in enumerate(seen) if s == max(seen)]
        if ties != "shared":
            top = [top[0] if ties == "first" else top[-1]]
        out.append([Fraction(1, len(top)) if j in top else Fraction(0) for j in range(len(row))])
    return out


def causal_softmax(S, T: float) -> list[list[float]]:
    out = []
    for i, row in enumerate(S):
        e = [math.exp(float(s) / T) for s in row[:i + 1]]
        out.append([x / sum(e) for x in e] + [0.0] * (len(row) - i - 1))
    return out


def right(v, aid: str):
    return v.fields()[aid][1].answer


def reasons(r) -> list[str]:
    return [w["reason"] for w in r.wrong]


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_p_without_the_causal_mask_is_named_on_every_cell_it_changes(seed, difficulty):
    v = variant(seed, difficulty)
    t, P = v.spec.transformer, right(v, "Pr2.2.P")
    assert argmax_rows(scores_by_hand(t), causal=True) == [list(r) for r in P]  # the hand-built S is the variant's
    unmasked = argmax_rows(scores_by_hand(t), causal=False)
    changed = sum(a != b for r, s in zip(unmasked, P, strict=True) for a, b in zip(r, s, strict=True))
    assert changed  # row 1 sees only itself: some later position outscores it in every variant here
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub["Pr2.2.P"] = [[text(x) for x in r] for r in unmasked]
        r = result(g, sub, "Pr2.2.P")
        assert len(r.wrong) == changed, name
        assert all(why.startswith("P computed without the causal mask: ") for why in reasons(r)), (name, r.wrong[0])


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS[:3])
def test_one_row_without_the_mask_is_named_there_and_a_row_no_mistake_gives_names_nothing(seed, difficulty):
    v = variant(seed, difficulty)
    P = right(v, "Pr2.2.P")
    unmasked = argmax_rows(scores_by_hand(v.spec.transformer), causal=False)
    i = next(i for i in range(len(P)) if unmasked[i] != list(P[i]))
    sub = key(v)
    sub["Pr2.2.P"][i] = [text(x) for x in unmasked[i]]
    r = result(v, sub, "Pr2.2.P")
    assert r.wrong and all(w["at"][0] == i and w["reason"].startswith("P computed without the causal mask")
                           for w in r.wrong)
    # the same row beside another row wrong in a way no mistake gives: the whole matrix is not one mistake
    k = next(k for k in range(len(P)) if k != i)
    sub["Pr2.2.P"][k] = ["1/5"] * len(P)
    r = result(v, sub, "Pr2.2.P")
    assert r.wrong and not any(word in why for why in reasons(r) for word in NEW_WORDS), reasons(r)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
@pytest.mark.parametrize("which", ["first", "last"])
def test_ties_given_to_one_position_are_named(seed, difficulty, which):
    v = variant(seed, difficulty)
    P = right(v, "Pr2.2.P")
    broken = argmax_rows(scores_by_hand(v.spec.transformer), causal=True, ties=which)
    if broken == [list(r) for r in P]:
        pytest.skip("no tie in P")
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub["Pr2.2.P"] = [[text(x) for x in r] for r in broken]
        r = result(g, sub, "Pr2.2.P")
        assert r.wrong and all(why.startswith(f"ties broken: each row's weight given to the {which} of the positions")
                               for why in reasons(r)), (name, reasons(r)[0])


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
@pytest.mark.parametrize(("T", "words"), [("sqrt", "P computed with softmax(S/sqrt({d}))"),
                                          ("1", "P computed with softmax(S), at T = 1")])
@pytest.mark.parametrize("decimals", [2, 4])
def test_softmax_where_argmax_is_asked_is_named(seed, difficulty, T, words, decimals):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    soft = causal_softmax(scores_by_hand(t), math.sqrt(t.d_head) if T == "sqrt" else 1.0)
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub["Pr2.2.P"] = [[f"{x:.{decimals}f}" for x in r] for r in soft]
        r = result(g, sub, "Pr2.2.P")
        assert r.wrong and all(why.startswith(words.format(d=t.d_head)) for why in reasons(r)), (name, reasons(r))


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_s_scaled_by_sqrt_d_k_and_s_masked_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    S = scores_by_hand(t)
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub["Pr2.2.S"] = [[f"{float(x) / math.sqrt(t.d_head):.4f}" for x in r] for r in S]  # as a calculator gives
        r = result(g, sub, "Pr2.2.S")
        assert len(r.wrong) == sum(x != 0 for row in S for x in row)
        assert all(why.startswith(f"every entry given is the right one times 1/sqrt({t.d_head}) = 0.7071: S scaled "
                                  "by 1/sqrt(d_head)") for why in reasons(r)), (name, reasons(r)[0])
        sub["Pr2.2.S"] = [[text(x) if j <= i else "0" for j, x in enumerate(row)] for i, row in enumerate(S)]
        r = result(g, sub, "Pr2.2.S")
        assert len(r.wrong) == sum(x != 0 for i, row in enumerate(S) for j, x in enumerate(row) if j > i) > 0
        assert all(why.startswith("S given with the causal mask applied") for why in reasons(r)), name


def teacher_forced(v, heads: int) -> list[float]:
    """-ln p(target) of each target token, from the key's logit rows (one head) or R E^T (the k heads' R), by a
    softmax written here."""
    t = v.spec.transformer
    start = t.example.index(t.start)
    if heads == 1:
        rows = right(v, "Pr2.3.logits")
    else:
        R = right(v, "Pr2.4.R")[start:len(t.example) - 1]
        rows = [[sum((a * Fraction(e) for a, e in zip(r, E, strict=True)), Fraction(0)) for E in t.E] for r in R]
    targets = [t.vocab.index(tok) for tok in t.example[start + 1:]]
    return [-math.log(math.exp(float(row[k])) / sum(math.exp(float(z)) for z in row))
            for row, k in zip(rows, targets, strict=True)]


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
@pytest.mark.parametrize("aid", ["Pr2.3.loss", "Pr2.4.loss"])
def test_a_loss_in_log_base_10_or_2_or_averaged_is_named(seed, difficulty, aid):
    v = variant(seed, difficulty)
    nll = teacher_forced(v, 1 if aid == "Pr2.3.loss" else v.spec.transformer.heads)
    assert math.fsum(nll) == pytest.approx(right(v, aid), abs=1e-9)
    p = [math.exp(-x) for x in nll]
    written = {"log base 10": sum(-math.log10(x) for x in p), "log base 2": sum(-math.log2(x) for x in p),
               f"mean of the {len(p)} terms": sum(nll) / len(nll)}
    for name, g in graders(seed, difficulty).items():
        for words, value in written.items():
            sub = key(v)
            sub[aid] = f"{value:.4f}"
            (w,) = result(g, sub, aid).wrong
            assert w["reason"].startswith(f"this is the {'loss in ' if 'log' in words else ''}{words}"), (name, w)
        # the right loss, and one no such mistake gives, are not called one
        sub = key(v)
        sub[aid] = f"{math.fsum(nll):.4f}"
        assert result(g, sub, aid).correct
        sub[aid] = f"{math.fsum(nll) + 0.5:.4f}"
        (w,) = result(g, sub, aid).wrong
        assert not any(word in w["reason"] for word in NEW_WORDS), w


def layers_with_parameters(v) -> dict:
    """Each answer that counts a layer's parameters -> (in channels, out channels, kernel), from the variant's table:
    its convolutions, and the head as a convolution over the last map."""
    cnn = v.spec.cnn
    c, h, w = cnn.table()[-1].in_shape
    convs = {f"Pr1.2.{r.layer.name}": (r.in_shape[0], r.layer.out_channels, r.layer.kernel) for r in cnn.table()
             if hasattr(r.layer, "out_channels")}
    return convs | {"Pr1.4.params": (c, cnn.num_classes, (h, w))}


def conv_params(c_in: int, c_out: int, kernel, bias: bool) -> int:
    from torch import nn

    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, tuple(kernel), bias=bias).parameters())


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS[::2])
def test_parameters_without_biases_or_over_one_channel_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    convs = layers_with_parameters(v)
    for name, g in graders(seed, difficulty).items():
        for aid, (c_in, c_out, k) in convs.items():
            assert conv_params(c_in, c_out, k, bias=True) == right(v, aid)
            sub = key(v)
            sub[aid] = str(conv_params(c_in, c_out, k, bias=False))
            (wrong,) = result(g, sub, aid).wrong
            assert wrong["reason"].startswith("the weights without the biases: "), (name, wrong)
            sub[aid] = str(conv_params(1, c_out, k, bias=True))
            r = result(g, sub, aid)
            assert r.correct if c_in == 1 else r.wrong[0]["reason"].startswith(
                f"{c_out} x ({k[0]} x {k[1]} + 1) = {conv_params(1, c_out, k, True)} counts one input channel"), name
            sub[aid] = str(conv_params(c_in, c_out, k, bias=True) + 1)
            (wrong,) = result(g, sub, aid).wrong
            assert not any(word in wrong["reason"] for word in NEW_WORDS), wrong


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_the_key_and_unrelated_wrong_matrices_name_no_mistake(seed, difficulty):
    v = variant(seed, difficulty)
    g = grade(v, key(v))
    assert g.score == g.max_score
    P, S = right(v, "Pr2.2.P"), right(v, "Pr2.2.S")
    uniform = [[text(Fraction(1, i + 1)) if j <= i else "0" for j in range(len(P))] for i in range(len(P))]
    one_cell = [[text(x) for x in r] for r in P]
    one_cell[-1][0] = text(P[-1][0] + 1)
    plus_one = [[text(x + 1) for x in r] for r in S]
    for sub_p, sub_s in ((uniform, plus_one), (one_cell, [[text(x) for x in r] for r in S])):
        sub = key(v) | {"Pr2.2.P": sub_p, "Pr2.2.S": sub_s}
        for aid in ("Pr2.2.P", "Pr2.2.S"):
            r = result(v, sub, aid)
            assert not any(word in why for why in reasons(r) for word in NEW_WORDS), reasons(r)[:1]
