"""Follow-through: an answer wrong only because it used the student's own wrong earlier answer correctly is said to
be ("right given your S"), and still scored against the key, as the PrairieLearn, Moodle and Canvas exports score
it (docs/variants.md, Grading). Until 2026-12-07 such an answer got only its own reason, as if its step were wrong.

Each earlier answer is made wrong here by hand, and the later answer built from it by hand (argmax written here,
Fraction products of the spec's weights, a softmax by math.exp, nn.Conv2d's parameter count), never by the grader's
follow-through rules; graded by the variant and by its saved key.json."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from dlexam.spec import text
from dlexam.variants.grade import grade

from .test_named_mistakes import graders, key, result, variant
from .test_named_mistakes_habits import argmax_causal, head_z, times, transpose

SEEDS = [(1, "standard"), (3, "standard"), (0, "harder"), (2, "harder")]


def right(v, aid: str):
    return v.fields()[aid][1].answer


def matrix(m) -> list[list[str]]:
    return [[text(Fraction(x)) for x in r] for r in m]


def loss(rows, targets) -> float:
    return math.fsum(math.log(math.fsum(math.exp(float(z)) for z in r)) - float(r[k]) for r, k in zip(
        rows, targets, strict=True))


def setting(v):
    t = v.spec.transformer
    start = t.example.index(t.start)
    rows = list(range(start, len(t.example) - 1))  # teacher forcing: these rows score the next token
    targets = [t.vocab.index(tok) for tok in t.example[start + 1:]]
    return t, rows, targets


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_p_right_given_a_wrong_s_is_said_and_scored_against_the_key(seed, difficulty):
    v = variant(seed, difficulty)
    S = [list(r) for r in right(v, "Pr2.2.S")]
    P = [list(r) for r in right(v, "Pr2.2.P")]
    i = next(i for i in range(1, len(S)) if P[i][0] != 1)  # a row whose weight is not all at position 1
    S[i][0] = max(S[i][:i + 1]) + 1  # one slip in S: position 1 now outscores the rest of row i
    mine = argmax_causal(S)
    assert mine != P and [k for k in range(len(P)) if mine[k] != P[k]] == [i]
    label = v.fields()["Pr2.2.P"][1].row_labels[i]
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr2.2.S": matrix(S), "Pr2.2.P": matrix(mine)}
        r = result(g, sub, "Pr2.2.P")
        changed = sum(a != b for a, b in zip(mine[i], P[i], strict=True))
        assert len(r.wrong) == changed and all(w["at"][0] == i for w in r.wrong), name
        assert all(w["reason"].startswith(f"right given your S: row {label} is what causal argmax gives on your S")
                   for w in r.wrong), (name, r.wrong[0]["reason"])
        assert r.mistake.startswith("right given your S") and all("cell" in w for w in r.wrong), name
        n = len(P) ** 2
        assert r.points == r.max_points * Fraction(n - changed, n)  # no points for those cells, as on every export
        # the same P beside the right S is no follow-through: the S it would follow is the key's
        r = result(g, key(v) | {"Pr2.2.P": matrix(mine)}, "Pr2.2.P")
        assert r.wrong and not any("right given" in w["reason"] for w in r.wrong), name


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_logits_right_given_a_wrong_p_and_the_loss_right_given_wrong_logits_are_said(seed, difficulty):
    v = variant(seed, difficulty)
    t, rows, targets = setting(v)
    P = [list(r) for r in right(v, "Pr2.2.P")]
    k = rows[0]
    P[k] = [Fraction(1 if j == 0 else 0) for j in range(len(P))]  # the <START> row's weight all at position 1
    assert P[k] != list(right(v, "Pr2.2.P")[k])
    X = [t.E[t.vocab.index(tok)] for tok in t.example]
    logits = times(times(times(P, times(X, t.head.W_V)), t.W_O), transpose(t.E))  # P V W_O E^T, by hand
    mine = [logits[r] for r in rows]
    key_logits = [list(r) for r in right(v, "Pr2.3.logits")]
    assert mine[0] != key_logits[0] and mine[1:] == key_logits[1:]
    own = loss(mine, targets)
    assert abs(own - float(right(v, "Pr2.3.loss"))) > 1e-3
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr2.2.P": matrix(P), "Pr2.3.logits": matrix(mine), "Pr2.3.loss": f"{own:.4f}"}
        r = result(g, sub, "Pr2.3.logits")
        assert r.wrong and all(w["reason"].startswith("right given your P: row ") and w["at"][0] == 0
                               for w in r.wrong), (name, r.wrong[0]["reason"])
        (w,) = result(g, sub, "Pr2.3.loss").wrong
        assert w["reason"].startswith(f"right given your logit rows: the loss of your logit rows is {own:.4f}"), w
        assert result(g, sub, "Pr2.3.loss").points == 0
        sub["Pr2.3.loss"] = f"{own + 0.01:.4f}"  # not what their logit rows give
        (w,) = result(g, sub, "Pr2.3.loss").wrong
        assert "right given" not in w["reason"], w


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_pr2_4_loss_right_given_a_wrong_r_is_said(seed, difficulty):
    v = variant(seed, difficulty)
    t, rows, targets = setting(v)
    R = [list(r) for r in right(v, "Pr2.4.R")]
    R[rows[-1]][0] += 2  # a slip in the last row that scores a target
    logits = times(R, transpose(t.E))
    own = loss([logits[r] for r in rows], targets)
    assert abs(own - float(right(v, "Pr2.4.loss"))) > 1e-3
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr2.4.R": matrix(R), "Pr2.4.loss": f"{own:.4f}"}
        (w,) = result(g, sub, "Pr2.4.loss").wrong
        assert w["reason"].startswith(f"right given your R: the loss of your R's logits R E^T is {own:.4f}"), (name, w)


def conv_params(c_in: int, c_out: int, k) -> int:
    from torch import nn

    return sum(p.numel() for p in nn.Conv2d(c_in, c_out, tuple(k)).parameters())


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_problem_1_answers_right_given_wrong_shapes_or_kernel_are_said(seed, difficulty):
    v = variant(seed, difficulty)
    cnn = v.spec.cnn
    shapes = [list(r) for r in right(v, "Pr1.3.shapes")]
    c, h, w = (int(x) for x in shapes[-1])
    shapes[-1][1:] = [h + 1, w + 1]  # the last map one pixel too large each way
    classes = cnn.num_classes
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr1.3.shapes": matrix(shapes), "Pr1.3.in_features": str(c * (h + 1) * (w + 1)),
                        "Pr1.4.kernel": str(h + 1), "Pr1.4.params": str(conv_params(c, classes, (h + 1, w + 1)))}
        got = {r.id: r for r in grade(g, sub).fields}
        for aid in ("Pr1.3.in_features", "Pr1.4.kernel", "Pr1.4.params"):
            (x,) = got[aid].wrong
            assert x["reason"].startswith("right given your "), (name, aid, x)
            assert got[aid].points == 0
        assert got["Pr1.3.in_features"].wrong[0]["reason"].startswith(
            f"right given your shapes: your last shape flattened, C x H x W is {c * (h + 1) * (w + 1)}")
        assert got["Pr1.4.kernel"].wrong[0]["reason"].startswith(f"right given your shapes: your last shape's side "
                                                                 f"is {h + 1}")
        assert got["Pr1.4.params"].wrong[0]["reason"].startswith("right given your kernel: ")
        sub["Pr1.4.kernel"] = str(h)  # the right kernel: the parameters then follow from the shapes alone
        (x,) = result(g, sub, "Pr1.4.params").wrong
        assert x["reason"].startswith(f"right given your shapes: {classes} x (H x W x C + 1) of your last shape"), x


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_a_convolution_s_parameters_right_given_the_channels_of_wrong_shapes_are_said(seed, difficulty):
    v = variant(seed, difficulty)
    table = v.spec.cnn.table()[:-1]
    convs = [i for i, r in enumerate(table) if hasattr(r.layer, "out_channels")]
    i = convs[-1]  # the last convolution: its input channels come from the row before it
    shapes = [list(r) for r in right(v, "Pr1.3.shapes")]
    wrong_in = int(shapes[i - 1][0]) + 2
    for k in range(i):  # the channels before it two too many, as a student who misread Conv-1's filters writes them
        shapes[k][0] = wrong_in
    layer = table[i].layer
    mine = conv_params(wrong_in, layer.out_channels, layer.kernel)
    assert mine != right(v, f"Pr1.2.{layer.name}")
    for name, g in graders(seed, difficulty).items():
        sub = key(v) | {"Pr1.3.shapes": matrix(shapes), f"Pr1.2.{layer.name}": str(mine)}
        (x,) = result(g, sub, f"Pr1.2.{layer.name}").wrong
        assert x["reason"].startswith(f"right given your shapes: {layer.name}'s count from the channels C of your "
                                      f"shapes"), (name, x)


def test_practice_shows_the_follow_through_beside_the_right_value_s_arithmetic():
    """/practice (variants.practice.check, the grader of `dlexam grade`) gives the same reason, and the arithmetic of
    the key's loss as for any wrong loss."""
    from dlexam.variants.practice import check

    v = variant(1, "standard")
    _, rows, targets = setting(v)
    L = [list(r) for r in right(v, "Pr2.3.logits")]
    L[0][0] += 3
    own = loss(L, targets)
    g = check(v, {"Pr2.3.logits": matrix(L), "Pr2.3.loss": f"{own:.4f}"})
    (w,) = next(f for f in g["fields"] if f["id"] == "Pr2.3.loss")["wrong"]
    assert w["reason"].startswith(f"right given your logit rows: the loss of your logit rows is {own:.4f}"), w
    assert "explanation" in w


@pytest.mark.parametrize(("seed", "difficulty"), SEEDS)
def test_pr2_4_s_choice_right_given_a_wrong_r_is_said(seed, difficulty):
    """(b) asks whether R is the one-head R: a student whose R is wrong and who answers for that R (a slip in R where
    the key says "the same"; the one-head R itself where the key says "differs") is told so."""
    v = variant(seed, difficulty)
    t = v.spec.transformer
    one = times(head_z(t, t.head)[1], t.W_O)  # the one-head R = Z W_O, by hand
    R = [list(r) for r in right(v, "Pr2.4.R")]
    options = v.fields()["Pr2.4.same"][1].options
    same, differs = options.index("yes, R is the same") + 1, options.index("no, R differs") + 1
    if R == one:  # the key: the same; a slip in R makes it differ
        R[0][0] += 1
        mine, words = differs, "right given your R: it differs from the one-head R = Z W_O"
    else:  # the key: it differs; the one-head R makes it the same
        R = one
        mine, words = same, "right given your R: it equals the one-head R = Z W_O"
    assert mine != right(v, "Pr2.4.same")
    for name, g in graders(seed, difficulty).items():
        r = result(g, key(v) | {"Pr2.4.R": matrix(R), "Pr2.4.same": mine}, "Pr2.4.same")
        (w,) = r.wrong
        assert w["reason"].startswith(words) and w["option_why"].startswith(words) and r.points == 0, (name, w)
        (w,) = result(g, key(v) | {"Pr2.4.same": mine}, "Pr2.4.same").wrong  # beside the right R: no follow-through
        assert "right given" not in w["reason"], (name, w)


@pytest.mark.parametrize(("aid", "edit"), [
    ("Pr2.3.loss", lambda ft: ft.update(rule="argmax", data={})),  # a matrix row's rule on a number
    ("Pr2.2.P", lambda ft: ft.update(rule="flat", data={})),  # a number's rule on a matrix
    ("Pr2.4.same", lambda ft: ft.update(rule="argmax", data={})),  # a matrix row's rule on a choice
    ("Pr2.3.logits", lambda ft: ft["data"].update(rows=[0])),  # fewer rows than the answer has
])
def test_a_key_json_whose_follow_through_cannot_explain_its_field_is_refused_not_a_traceback(aid, edit):
    """A key.json's follow-through rule is checked against its field when the key is read (a matrix row's rule on a
    matrix, a number's on a number, a choice's on a choice; one source row per answer row), so that grading a sheet
    never raises on it: the key is refused in one line (`dlexam grade --key`: exit status 2)."""
    import json

    from dlexam.errors import UserError
    from dlexam.variants.saved import read_key

    data = variant(1, "standard").to_json()
    edit(data["fields"][aid]["follows"][0])
    with pytest.raises(UserError, match="not a key.json"):
        read_key(json.dumps(data).encode())
