"""More whole-answer mistakes the grader names (`variants.mistakes.whole_mistake`), those a student brings from Version
A's worked solution or makes with an axis: the loss and logit rows of Version A's own-position convention where
the variant asks for teacher forcing, Problem 1's shapes written height x width x channels as the exam writes them
(28 x 28 x 8) where (C, H, W) is asked, P's argmax taken down each column instead of along each row, and a
receptive field that stops a layer early or leaves the strides out.

Each wrong answer is built here by hand from the spec (Fraction products of E's rows and the weights, a softmax by
math.exp, the receptive field by its recursion written here), never from the grader's or the variant's mistakes,
for seeds of both difficulties, and graded by the variant and by its saved key.json."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from dlexam.spec import text

from .test_named_mistakes import SEEDS, graders, key, result, variant

NEW_WORDS = ("own position", "height, width, channels", "down each column", "receptive field after",
             "leaves the strides out")


def right(v, aid: str):
    return v.fields()[aid][1].answer


def times(A, B) -> list[list[Fraction]]:
    return [[sum((Fraction(a) * Fraction(B[k][j]) for k, a in enumerate(row)), Fraction(0)) for j in range(len(B[0]))]
            for row in A]


def transpose(A) -> list[list]:
    return [list(r) for r in zip(*A, strict=True)]


def argmax_causal(S) -> list[list[Fraction]]:
    out = []
    for i, row in enumerate(S):
        top = [j for j in range(i + 1) if row[j] == max(row[:i + 1])]
        out.append([Fraction(1, len(top)) if j in top else Fraction(0) for j in range(len(row))])
    return out


def head_z(t, h) -> tuple[list, list]:
    """S and Z = P V of one head on the example, argmax attention, by hand."""
    X = [t.E[t.vocab.index(tok)] for tok in t.example]
    Q, K, V = times(X, h.W_Q), times(X, h.W_K), times(X, h.W_V)
    S = times(Q, transpose(K))
    return S, times(argmax_causal(S), V)


def logits(t, heads: int) -> list[list[Fraction]]:
    """Every position's logits: R E^T, with R = Z W_O (one head) or [Z_1 .. Z_k] multi_W_O."""
    if heads == 1:
        R = times(head_z(t, t.head)[1], t.W_O)
    else:
        zs = [head_z(t, h)[1] for h in t.multi_heads]
        R = times([[x for z in zs for x in z[i]] for i in range(len(t.example))], t.multi_W_O)
    return times(R, transpose(t.E))


def nll(row, k: int) -> float:
    return -math.log(math.exp(float(row[k])) / math.fsum(math.exp(float(z)) for z in row))


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
@pytest.mark.parametrize("aid", ["Pr2.3.loss", "Pr2.4.loss"])
def test_the_loss_of_version_a_s_own_position_convention_is_named(seed, difficulty, aid):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    L = logits(t, 1 if aid == "Pr2.3.loss" else t.heads)
    start = t.example.index(t.start)
    targets = range(start + 1, len(t.example))
    forced = math.fsum(nll(L[p - 1], t.vocab.index(t.example[p])) for p in targets)
    assert forced == pytest.approx(right(v, aid), abs=1e-9)  # the hand-built model is the variant's
    own = math.fsum(nll(L[p], t.vocab.index(t.example[p])) for p in targets)  # Version A's 4.2114 is this sum
    if abs(own - forced) < 1e-3:
        pytest.skip("both conventions give this loss")
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub[aid] = f"{own:.4f}"
        (w,) = result(g, sub, aid).wrong
        assert w["reason"].startswith("this is the loss with each target token scored by the logits at its own "
                                      "position"), (name, w)
        sub[aid] = f"{own + 0.5:.4f}"
        (w,) = result(g, sub, aid).wrong
        assert not any(word in w["reason"] for word in NEW_WORDS), w


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_the_logit_rows_of_the_targets_own_positions_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    L = logits(t, 1)
    start = t.example.index(t.start)
    assert L[start:len(t.example) - 1] == [list(r) for r in right(v, "Pr2.3.logits")]
    own = L[start + 1:]  # the rows at the target tokens' positions, as Version A's worked solution takes them
    changed = sum(a != b for r, s in zip(own, L[start:], strict=False) for a, b in zip(r, s, strict=True))
    assert changed
    for name, g in graders(seed, difficulty).items():
        sub = key(v)
        sub["Pr2.3.logits"] = [[text(x) for x in r] for r in own]
        r = result(g, sub, "Pr2.3.logits")
        assert len(r.wrong) == changed, name
        assert all(w["reason"].startswith("the logit rows at the target tokens' own positions") for w in r.wrong), (
            name, r.wrong[0])


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_shapes_written_height_width_channels_are_named(seed, difficulty):
    v = variant(seed, difficulty)
    rows = [r.out_shape for r in v.spec.cnn.table()[:-1]]
    assert [list(r) for r in right(v, "Pr1.3.shapes")] == [[Fraction(x) for x in r] for r in rows]
    hwc = [[str(h), str(w), str(c)] for c, h, w in rows]  # as the exam writes them: 28 x 28 x 8
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr1.3.shapes": hwc}
        r = result(g, sub, "Pr1.3.shapes")
        assert r.wrong and all(w["reason"].startswith("each row given as (height, width, channels)")
                               for w in r.wrong), (name, r.wrong[0])
        sub["Pr1.3.shapes"] = [[str(c + 1), str(h), str(w)] for c, h, w in rows]
        assert not any(word in w["reason"] for w in result(g, sub, "Pr1.3.shapes").wrong for word in NEW_WORDS)


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_p_with_argmax_down_each_column_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    t = v.spec.transformer
    S, _ = head_z(t, t.head)
    P = right(v, "Pr2.2.P")
    assert argmax_causal(S) == [list(r) for r in P]
    n = len(S)
    by_column = [[Fraction(0)] * n for _ in range(n)]  # each key position's weight shared among the queries seeing it
    for j in range(n):
        seen = [S[i][j] for i in range(j, n)]
        top = [i for i in range(j, n) if S[i][j] == max(seen)]
        for i in top:
            by_column[i][j] = Fraction(1, len(top))
    changed = sum(a != b for r, s in zip(by_column, P, strict=True) for a, b in zip(r, s, strict=True))
    assert changed
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr2.2.P": [[text(x) for x in r] for r in by_column]}
        r = result(g, sub, "Pr2.2.P")
        assert len(r.wrong) == changed, name
        assert all(w["reason"].startswith("P normalised down each column") for w in r.wrong), (name, r.wrong[0])


def fields_by_hand(cnn) -> tuple[list[int], int]:
    """The receptive field after each feature layer (r += (k - 1) j, j *= s), and with the strides left out."""
    r, jump, after = 1, 1, []
    for layer in cnn.layers[:-1]:
        r += (layer.kernel[0] - 1) * jump
        jump *= layer.stride[0]
        after.append(r)
    return after, 1 + sum(layer.kernel[0] - 1 for layer in cnn.layers[:-1])


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_a_receptive_field_a_layer_short_or_without_strides_is_named(seed, difficulty):
    v = variant(seed, difficulty)
    cnn = v.spec.cnn
    after, no_strides = fields_by_hand(cnn)
    assert after[-1] == right(v, "Pr1.1.rf")
    names = [r.layer.name for r in cnn.table()[:-1]]
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr1.1.rf": str(after[-2])}
        (w,) = result(g, sub, "Pr1.1.rf").wrong
        assert w["reason"].startswith(f"{after[-2]} is the receptive field after {names[-2]}: {names[-1]} "), (name, w)
        if no_strides not in after:  # else it is named as the field after that layer (harder seed 0: 8 both ways)
            sub["Pr1.1.rf"] = str(no_strides)
            (w,) = result(g, sub, "Pr1.1.rf").wrong
            assert w["reason"].startswith(f"{no_strides} leaves the strides out"), (name, w)
        sub["Pr1.1.rf"] = str(after[-1] + 1000)
        (w,) = result(g, sub, "Pr1.1.rf").wrong
        assert not any(word in w["reason"] for word in NEW_WORDS), w


SEEDS_2HEADS = [(seed, d) for d in ("standard", "harder") for seed in (0, 1, 5)]


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS_2HEADS)
def test_the_one_head_r_and_loss_in_pr2_4_are_named(seed, difficulty):
    """Version A's worked solution says a second head gives "the same R": a student who writes the one-head R = Z W_O
    (or Pr2.3's loss) in Pr2.4 where [Z_1 Z_2] multi_W_O differs is told so; Pr2.3's loss beside the one-head R is
    that R's loss, and said to be right given it (test_follow_through.py)."""
    v = variant(seed, difficulty)
    t = v.spec.transformer
    one = times(head_z(t, t.head)[1], t.W_O)
    zs = [head_z(t, h)[1] for h in t.multi_heads]
    multi = times([[x for z in zs for x in z[i]] for i in range(len(t.example))], t.multi_W_O)
    assert multi == [list(r) for r in right(v, "Pr2.4.R")]
    if one == multi:
        pytest.skip("R is the one-head R in this variant")
    changed = sum(a != b for r, s in zip(one, multi, strict=True) for a, b in zip(r, s, strict=True))
    L1 = logits(t, 1)
    start = t.example.index(t.start)
    loss1 = math.fsum(nll(L1[p - 1], t.vocab.index(t.example[p])) for p in range(start + 1, len(t.example)))
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr2.4.R": [[text(x) for x in r] for r in one], "Pr2.4.loss": f"{loss1:.4f}"}
        r = result(g, sub, "Pr2.4.R")
        assert len(r.wrong) == changed, name
        assert all(w["reason"].startswith("the one-head R = Z W_O, as Version A's worked solution") for w in r.wrong), (
            name, r.wrong[0])
        if abs(loss1 - float(right(v, "Pr2.4.loss"))) > 1e-3:
            (w,) = result(g, key(v) | {"Pr2.4.loss": f"{loss1:.4f}"}, "Pr2.4.loss").wrong  # beside the right R
            assert w["reason"].startswith("this is the one-head loss of Pr2.3"), (name, w)
            (w,) = result(g, sub, "Pr2.4.loss").wrong  # beside the one-head R, whose loss it is (since 2026-12-07)
            assert w["reason"].startswith("right given your R: the loss of your R's logits R E^T is"), (name, w)


@pytest.mark.parametrize(("seed", "difficulty"), [(3, "standard"), (0, "harder")])
@pytest.mark.parametrize("aid", ["Pr2.3.logits", "Pr2.4.R", "Pr1.3.shapes"])
def test_a_transposed_matrix_that_is_not_square_is_named(seed, difficulty, aid):
    """The logit rows written one column per position (E R^T), R one row per dimension, the shapes one column per
    layer: the right matrix transposed, which the grader named only for square matrices (this one was "5 rows
    given for 3: rows 4-5 are ignored")."""
    v = variant(seed, difficulty)
    t = v.spec.transformer
    start = t.example.index(t.start)
    by_hand = {"Pr2.3.logits": logits(t, 1)[start:len(t.example) - 1],
               "Pr1.3.shapes": [[Fraction(x) for x in r.out_shape] for r in v.spec.cnn.table()[:-1]]}
    if aid == "Pr2.4.R":
        zs = [head_z(t, h)[1] for h in t.multi_heads]
        by_hand[aid] = times([[x for z in zs for x in z[i]] for i in range(len(t.example))], t.multi_W_O)
    assert by_hand[aid] == [list(r) for r in right(v, aid)]
    assert len(by_hand[aid]) != len(by_hand[aid][0])
    for name, g in graders(seed, difficulty).items():
        for written in (transpose([[text(x) for x in r] for r in by_hand[aid]]),  # a list of rows, and as text
                        "; ".join(" ".join(text(x) for x in r) for r in transpose(by_hand[aid]))):
            r = result(g, key(v) | {aid: written}, aid)
            assert r.mistake.startswith("the matrix given is the right one transposed"), (name, r.mistake, r.notes)
        slipped = transpose([[text(x) for x in r] for r in by_hand[aid]])
        slipped[0][-1] = text(by_hand[aid][-1][0] + 1)  # and one value wrong: the key's last row, first column
        r = result(g, key(v) | {aid: slipped}, aid)
        assert r.mistake.startswith("the matrix given is the right one transposed"), (name, r.mistake)
        assert "1 value wrong" in r.mistake and r.points == 0, (name, r.mistake)
        assert [w["at"] for w in r.wrong if "at" in w] == [[len(by_hand[aid]) - 1, 0]], (name, r.wrong)
        rows = [[text(x) for x in r] for r in by_hand[aid]]
        rows[0][0] = "99"  # one wrong cell of the right shape: no transposition named
        assert not result(g, key(v) | {aid: rows}, aid).mistake
