"""Whole-answer mistakes added on 2026-12-07 (`variants.mistakes.whole_mistake` names them; before, each wrong value or
cell got only its own reason): Pr2.4's R with the heads concatenated in the wrong order or without multi_W_O, S as
X X^T (W_Q and W_K left out), P with the causal mask as a score of 0 instead of -inf, Pr1.3's shapes with the
padding, the + 1 or the stride left out of (N + 2P - F)/S + 1, the in-features without the channels or of an
earlier map, Pr1.4's filters as the last map's channels, and a loss summed over every position or with each
softmax taken down its logit column.

Each wrong answer is built here by hand from the spec (Fraction products, the size formula by its own loop,
argmax written here), never from the grader's or the variant's mistakes, for seeds of both difficulties, and graded
by the variant and by its saved key.json."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from dlexam.spec import text

from .test_named_mistakes import SEEDS, graders, key, layers_with_parameters, result, variant
from .test_named_mistakes_habits import head_z, logits, nll, times, transpose

OLD_WORDS = ("the one-head R", "causal mask", "ties broken", "softmax(S", "down each column", "S scaled",
             "each row given as (height")


def right(v, aid: str):
    return v.fields()[aid][1].answer


def matrix(m) -> list[list[str]]:
    return [[text(Fraction(x)) for x in r] for r in m]


def all_start(r, words: str) -> bool:
    return bool(r.wrong) and all(w["reason"].startswith(words) for w in r.wrong)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_r_with_the_heads_in_the_wrong_order_or_without_multi_w_o_or_summed_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    zs = [head_z(t, h)[1] for h in t.multi_heads]
    n = len(t.example)
    R = times([[x for z in zs for x in z[i]] for i in range(n)], t.multi_W_O)
    assert R == [list(r) for r in right(v, "Pr2.4.R")]
    one = times(head_z(t, t.head)[1], t.W_O)
    swapped = times([[x for z in zs[::-1] for x in z[i]] for i in range(n)], t.multi_W_O)
    bare = [[x for z in zs for x in z[i]] for i in range(n)]  # [Z_1 Z_2], multi_W_O left out
    summed = times([[sum(z[i][j] for z in zs) for j in range(len(zs[0][0]))] for i in range(n)], t.W_O)
    named = 0
    for name, g in graders(seed, difficulty).items():
        if summed not in (R, one, swapped, bare):
            r = result(g, key(v) | {"Pr2.4.R": matrix(summed)}, "Pr2.4.R")
            assert all_start(r, "each head's Z times the one-head W_O, summed: Z_1 W_O + Z_2 W_O"), (name, r.wrong[0])
            named += 1
        if swapped not in (R, one):
            r = result(g, key(v) | {"Pr2.4.R": matrix(swapped)}, "Pr2.4.R")
            assert all_start(r, "the heads concatenated in the wrong order, [Z_2 Z_1] multi_W_O"), (name, r.wrong[0])
            named += 1
        if len(bare[0]) == len(R[0]) and bare not in (R, one, swapped):
            r = result(g, key(v) | {"Pr2.4.R": matrix(bare)}, "Pr2.4.R")
            assert all_start(r, "this is [Z_1 Z_2] itself: multi_W_O left out"), (name, r.wrong[0])
            named += 1
    if not named:
        pytest.skip("neither mistake gives another R in this variant")


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_s_as_x_x_transposed_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    S, _ = head_z(t, t.head)
    assert S == [list(r) for r in right(v, "Pr2.2.S")]
    X = [t.E[t.vocab.index(tok)] for tok in t.example]
    XX = times(X, transpose(X))
    assert XX != S
    for name, g in graders(seed, difficulty).items():
        r = result(g, key(v) | {"Pr2.2.S": matrix(XX)}, "Pr2.2.S")
        assert all_start(r, "S computed as X X^T, the embeddings' dot products: W_Q and W_K left out"), (name, r.wrong)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_p_with_the_mask_as_a_score_of_zero_is_named(seed, difficulty):
    """The causal mask applied by writing 0 over the hidden scores instead of -inf: a row whose largest visible
    score is 0 (the <START> row, whose embedding is 0) shares its weight with the hidden positions too."""
    v = variant(seed, difficulty)
    S, _ = head_z(v.spec.transformer, v.spec.transformer.head)
    n = len(S)
    zeroed = []
    for i, row in enumerate(S):
        scores = [row[j] if j <= i else Fraction(0) for j in range(n)]
        top = [j for j in range(n) if scores[j] == max(scores)]
        zeroed.append([Fraction(1, len(top)) if j in top else Fraction(0) for j in range(n)])
    unmasked = [[Fraction(1, row.count(max(row))) if x == max(row) else Fraction(0) for x in row] for row in S]
    P = [list(r) for r in right(v, "Pr2.2.P")]
    if zeroed in (P, unmasked):
        pytest.skip("the mask as 0 gives the right P, or P without the mask")
    for name, g in graders(seed, difficulty).items():
        r = result(g, key(v) | {"Pr2.2.P": matrix(zeroed)}, "Pr2.2.P")
        assert all_start(r, "the causal mask applied as a score of 0 instead of -inf"), (name, r.wrong[0])


def shapes_by_hand(cnn, slip: str, at) -> list[list[int]] | None:
    """The feature layers' (C, H, W) with one slip of the size formula at layer `at` (None: every layer), the other
    layers right from the size before them; None where a division is not exact."""
    c, (h, w) = cnn.input_channels, cnn.input_size
    out = []
    for i, layer in enumerate(cnn.layers[:-1]):
        sizes = []
        for n, k, s, p in zip((h, w), layer.kernel, layer.stride, layer.padding, strict=True):
            if at is None or at == i:
                p, s, plus = (0 if slip == "padding" else p), (1 if slip == "stride" else s), (slip != "plus one")
            else:
                plus = True
            if (n + 2 * p - k) % s or (n + 2 * p - k) // s + plus < 1:
                return None
            sizes.append((n + 2 * p - k) // s + plus)
        h, w = sizes
        c = getattr(layer, "out_channels", c)
        out.append([c, h, w])
    return out


WORDS = {"padding": "without its zero padding", "plus one": "without the + 1", "stride": "with its stride left out"}


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_shapes_with_a_slip_of_the_size_formula_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    cnn = v.spec.cnn
    names = [layer.name for layer in cnn.layers[:-1]]
    rows = shapes_by_hand(cnn, "", -1)
    assert rows == [list(r) for r in right(v, "Pr1.3.shapes")]
    made = {}
    for slip in WORDS:
        for at in (*range(len(names)), None):
            if (wrong := shapes_by_hand(cnn, slip, at)) is not None and wrong != rows:
                made.setdefault(str(wrong), []).append(
                    (wrong, f"{names[at]}'s size {WORDS[slip]}" if at is not None else
                     f"every layer's size {WORDS[slip]}"))
    hwc = str([[h, w, c] for c, h, w in rows])
    alone = [cases[0] for k, cases in made.items() if len(cases) == 1 and k != hwc]  # one slip gives it
    assert alone  # every variant has a pooling stride to leave out
    for name, g in graders(seed, difficulty).items():
        for wrong, words in alone:
            r = result(g, key(v) | {"Pr1.3.shapes": matrix(wrong)}, "Pr1.3.shapes")
            assert all_start(r, words), (name, words, r.wrong[0]["reason"])
        off = [list(r) for r in rows]
        off[-1][1] += 5  # a height no slip gives
        r = result(g, key(v) | {"Pr1.3.shapes": matrix(off)}, "Pr1.3.shapes")
        assert not any("size without" in w["reason"] or "left out" in w["reason"] for w in r.wrong), r.wrong


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_in_features_without_channels_or_of_an_earlier_map_and_filters_as_channels_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    table = v.spec.cnn.table()[:-1]
    c, h, w = table[-1].out_shape
    assert c * h * w == right(v, "Pr1.3.in_features")
    before = table[-2]
    cb, hb, wb = before.out_shape
    for name, g in graders(seed, difficulty).items():
        (x,) = result(g, key(v) | {"Pr1.3.in_features": str(h * w)}, "Pr1.3.in_features").wrong
        assert x["reason"].startswith(f"{h} x {w} = {h * w} leaves out the {c} channels"), (name, x)
        if cb * hb * wb != h * w:
            (x,) = result(g, key(v) | {"Pr1.3.in_features": str(cb * hb * wb)}, "Pr1.3.in_features").wrong
            assert x["reason"].startswith(f"{cb} x {hb} x {wb} = {cb * hb * wb} is {before.layer.name}'s map "
                                          "flattened"), (name, x)
        (x,) = result(g, key(v) | {"Pr1.3.in_features": str(c * h * w + 1)}, "Pr1.3.in_features").wrong
        assert "flattened:" not in x["reason"] and "leaves out" not in x["reason"]
        if c != v.spec.cnn.num_classes:
            (x,) = result(g, key(v) | {"Pr1.4.filters": str(c)}, "Pr1.4.filters").wrong
            assert x["reason"].startswith(f"{c} is the last map's channels"), (name, x)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
@pytest.mark.parametrize("aid", ["Pr2.3.loss", "Pr2.4.loss"])
def test_a_loss_over_every_position_or_with_softmax_down_the_columns_is_named(seed, difficulty, aid):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    L = logits(t, 1 if aid == "Pr2.3.loss" else t.heads)
    ids = [t.vocab.index(tok) for tok in t.example]
    start = t.example.index(t.start)
    rows = range(start, len(ids) - 1)
    assert math.fsum(nll(L[i], ids[i + 1]) for i in rows) == pytest.approx(float(right(v, aid)), abs=1e-9)
    every = math.fsum(nll(L[i], ids[i + 1]) for i in range(len(ids) - 1))  # the input's next tokens too
    column = [math.fsum(math.exp(float(L[r][ids[i + 1]])) for r in rows) for i in rows]  # softmax over positions
    down = math.fsum(-math.log(math.exp(float(L[i][ids[i + 1]])) / c) for i, c in zip(rows, column, strict=True))
    for name, g in graders(seed, difficulty).items():
        for value, words in ((every, "this is the loss summed over every position's next token"),
                             (down, "this is the loss with each softmax taken down its logit column")):
            (w,) = result(g, key(v) | {aid: f"{value:.4f}"}, aid).wrong
            assert w["reason"].startswith(words), (name, w["reason"])


def conv_params(c_in: int, c_out: int, kernel) -> int:
    from torch import nn

    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, tuple(kernel)).parameters())


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS[::2])
def test_parameters_over_the_output_channels_are_named(seed, difficulty):
    """A convolution's filters counted over its own output channels, in and out swapped: nn.Conv2d(c_out, c_out)."""
    v = variant(seed, difficulty)
    convs = layers_with_parameters(v)
    for name, g in graders(seed, difficulty).items():
        for aid, (c_in, c_out, k) in convs.items():
            assert conv_params(c_in, c_out, k) == right(v, aid)
            if c_in == c_out:
                continue
            (x,) = result(g, key(v) | {aid: str(conv_params(c_out, c_out, k))}, aid).wrong
            assert x["reason"].startswith(f"{c_out} x ({k[0]} x {k[1]} x {c_out} + 1) = {conv_params(c_out, c_out, k)} "
                                          f"counts the {c_out} output channels as its input"), (name, aid, x)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_a_receptive_field_with_each_layer_s_own_stride_counted_is_named(seed, difficulty):
    """r += (k - 1) x the strides before the layer; with its own stride counted too, a pooling layer of stride s
    adds s times too much."""
    v = variant(seed, difficulty)
    layers = v.spec.cnn.layers[:-1]
    r, jump, own = 1, 1, 1
    for layer in layers:
        r += (layer.kernel[0] - 1) * jump
        own += (layer.kernel[0] - 1) * jump * layer.stride[0]
        jump *= layer.stride[0]
    assert r == right(v, "Pr1.1.rf") and own != r
    for name, g in graders(seed, difficulty).items():
        (x,) = result(g, key(v) | {"Pr1.1.rf": str(own)}, "Pr1.1.rf").wrong
        assert x["reason"].startswith(f"{own} counts each layer's own stride too"), (name, x)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS[::3])
def test_the_rows_asked_given_among_more_rows_are_named_and_scored_where_they_stand(seed, difficulty):
    """Every position's logit rows where only the rows that score a target are asked, and Pr1.3's shapes with the
    input's shape above them: the rows asked stand, right, among the rows given. They earn full credit, as a teacher
    gives it to a student who computed more than was asked, all of it right (until 2026-12-07 they were scored where
    they landed: 5/3 of Pr2.3's 2 points for variant 7's full logits); one asked row wrong among them still loses
    its share."""
    v = variant(seed, difficulty)
    t = v.spec.transformer
    start = t.example.index(t.start)
    every = logits(t, 1)  # by hand: R E^T at every position
    assert every[start:len(t.example) - 1] == [list(r) for r in right(v, "Pr2.3.logits")]
    cnn = v.spec.cnn
    shapes = [[cnn.input_channels, *cnn.input_size]] + [list(r.out_shape) for r in cnn.table()[:-1]]
    for name, g in graders(seed, difficulty).items():
        for aid, given, first in (("Pr2.3.logits", every, start + 1), ("Pr1.3.shapes", shapes, 2)):
            asked = len(right(v, aid))
            r = result(g, key(v) | {aid: matrix(given)}, aid)
            assert r.notes and r.notes[0].startswith(
                f"rows {first}-{first + asked - 1} of the {len(given)} rows given are the {asked} rows asked"), (
                name, aid, r.notes)
            assert "all right" in r.notes[0] and "scored where they stand" in r.notes[0], r.notes
            assert (r.points, r.correct, r.wrong) == (r.max_points, True, []), (name, aid, r.points, r.wrong)
            slipped = [list(row) for row in given]
            slipped[first - 1][0] += 1  # the first asked row's first value wrong
            r = result(g, key(v) | {aid: matrix(slipped)}, aid)
            cells = asked * len(given[0])
            assert r.points == r.max_points * Fraction(cells - 1, cells), (name, aid, r.points, r.wrong)
            assert [w["at"] for w in r.wrong] == [[0, 0]], (name, aid, r.wrong)
            assert f"{asked - 1} of them right" in r.notes[0] or asked == 2, (name, aid, r.notes)
