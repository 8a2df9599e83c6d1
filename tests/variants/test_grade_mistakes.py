"""Typical students' mistakes, graded: the marks, and a reason that names the mistake (a decimal rounded from an
exact fraction, a loss rounded too coarsely, a matrix transposed, negated, scaled by 1/sqrt(d_k) or with its rows
shifted by one); and a right answer in another exact form (the double nearest a fraction, as a program writes it)
earns full marks. Each mistake is built here from the key's own values (transposed by zip, scaled by math.sqrt), so
what the grader says is checked against what was done to the answer; a saved key (key.json) explains the same."""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
from fractions import Fraction

import pytest
import torch

from dlexam.spec import text
from dlexam.variants import make_variant
from dlexam.variants.grade import grade
from dlexam.variants.saved import read_key


def with_third():
    """The first variant whose P has a weight of a third (1/3 or 2/3) and, elsewhere, a weight of 1/4 or 1/2."""
    for seed in range(50):
        v = make_variant(seed)
        P = v.question("Pr2.2").fields[1].answer
        if any(x.denominator == 3 for r in P for x in r):
            return v
    raise AssertionError("no variant with a third in P among seeds 0-49")


V = with_third()
GRADERS = {"variant": V, "key.json": read_key(json.dumps(V.to_json()).encode())}


def key(v=V) -> dict:
    return json.loads(json.dumps(v.key()))


def result(v, sub: dict, aid: str):
    return next(r for r in grade(v, sub).fields if r.id == aid)


def answer(aid: str):
    return V.fields()[aid][1].answer


@pytest.mark.parametrize("graded", GRADERS)
@pytest.mark.parametrize("decimals", [2, 3, 4])
def test_a_decimal_rounded_from_an_exact_fraction_is_wrong_and_says_so(graded, decimals):
    P = answer("Pr2.2.P")
    sub = key()
    sub["Pr2.2.P"] = [[f"{float(x):.{decimals}f}" if x.denominator not in (1, 2, 4) else text(x) for x in r]
                      for r in P]
    r = result(GRADERS[graded], sub, "Pr2.2.P")
    thirds = [(i, j) for i, row in enumerate(P) for j, x in enumerate(row) if x.denominator not in (1, 2, 4)]
    assert {tuple(w["at"]) for w in r.wrong} == set(thirds)  # only the rounded cells cost points
    for w in r.wrong:
        x = P[w["at"][0]][w["at"][1]]
        assert w["reason"].startswith(f"{float(x):.{decimals}f} is {text(x)} rounded to {decimals} decimals: the "
                                      f"answer is exact (write {text(x)})"), w["reason"]


@pytest.mark.parametrize("graded", GRADERS)
def test_the_double_nearest_each_fraction_gets_full_marks(graded):
    """A program that computes P in floating point and writes it as JSON writes 1/3 as 0.3333333333333333: the
    fraction to the last digit a double holds, where no rounding by hand lands; every cell is right."""
    sub = key()
    for aid in ("Pr2.2.P", "Pr2.3.logits", "Pr2.4.R"):
        sub[aid] = [[float(x) for x in r] for r in answer(aid)]
    g = grade(GRADERS[graded], sub)
    assert g.score == g.max_score, [w for f in g.fields for w in f.wrong]
    # the same digits as text, too
    sub["Pr2.2.P"] = [[repr(float(x)) for x in r] for r in answer("Pr2.2.P")]
    assert result(GRADERS[graded], sub, "Pr2.2.P").correct


@pytest.mark.parametrize("form", ["2/6", " 1 / 3 ", "3/9", "0.3333333333333333"])
def test_a_third_in_any_exact_form_is_right(form):
    i, j = next((i, j) for i, r in enumerate(answer("Pr2.2.P")) for j, x in enumerate(r) if x == Fraction(1, 3)) \
        if any(x == Fraction(1, 3) for r in answer("Pr2.2.P") for x in r) else pytest.skip("no 1/3 in P")
    sub = key()
    sub["Pr2.2.P"][i][j] = form
    assert result(V, sub, "Pr2.2.P").correct


@pytest.mark.parametrize("graded", GRADERS)
def test_a_loss_rounded_too_coarsely_says_so(graded):
    loss = answer("Pr2.3.loss")
    d = next(d for d in (2, 1) if abs(round(loss, d) - loss) > 5e-4)
    sub = key()
    sub["Pr2.3.loss"] = f"{loss:.{d}f}"
    (w,) = result(GRADERS[graded], sub, "Pr2.3.loss").wrong
    assert w["reason"].startswith(f"{loss:.{d}f} is {loss:.{d + 2}f}... rounded to {d} decimal"), w["reason"]
    # a loss that is no rounding of the right one is not called one
    sub["Pr2.3.loss"] = f"{loss + 0.5:.{d}f}"
    (w,) = result(GRADERS[graded], sub, "Pr2.3.loss").wrong
    assert "rounded" not in w["reason"]


@pytest.mark.parametrize("graded", GRADERS)
def test_a_transposed_matrix_is_named_and_costs_the_cells_it_changes(graded):
    P = answer("Pr2.2.P")
    sub = key()
    sub["Pr2.2.P"] = [[text(x) for x in col] for col in zip(*P, strict=True)]
    r = result(GRADERS[graded], sub, "Pr2.2.P")
    n = len(P)
    changed = sum(P[i][j] != P[j][i] for i in range(n) for j in range(n))
    assert len(r.wrong) == changed > 0
    assert r.points == r.max_points * Fraction(n * n - changed, n * n)
    assert all(w["reason"].startswith("the matrix given is the right one transposed") for w in r.wrong)


@pytest.mark.parametrize("graded", GRADERS)
def test_scores_scaled_by_one_over_sqrt_d_k_are_named(graded):
    S = answer("Pr2.2.S")
    d_k = V.spec.transformer.d_head
    sub = key()
    sub["Pr2.2.S"] = [[float(x) / math.sqrt(d_k) for x in r] for r in S]
    r = result(GRADERS[graded], sub, "Pr2.2.S")
    assert len(r.wrong) == sum(x != 0 for row in S for x in row)
    assert all(w["reason"].startswith(f"every entry given is the right one times 1/sqrt({d_k}) = ")
               for w in r.wrong), r.wrong[0]


@pytest.mark.parametrize("graded", GRADERS)
def test_negated_logits_are_named(graded):
    L = answer("Pr2.3.logits")
    sub = key()
    sub["Pr2.3.logits"] = [[text(-x) for x in r] for r in L]
    r = result(GRADERS[graded], sub, "Pr2.3.logits")
    assert len(r.wrong) == sum(x != 0 for row in L for x in row)
    assert all(w["reason"].startswith("every entry given has the wrong sign") for w in r.wrong)


@pytest.mark.parametrize("graded", GRADERS)
def test_logit_rows_one_position_late_are_named_where_they_are(graded):
    """Teacher forcing off by one: the rows of positions start+1 .. give the next row of the right matrix; its last
    row (the <STOP> row's logits, not asked for) is wrong for a reason of its own."""
    def rows(v):
        return v.fields()["Pr2.3.logits"][1].answer

    v = next(v for v in map(make_variant, range(50)) if len(set(rows(v))) == len(rows(v)))  # no two rows alike
    L = rows(v)
    sub = key(v)
    sub["Pr2.3.logits"] = [[text(x) for x in r] for r in (*L[1:], [x + 7 for x in L[-1]])]
    r = result(v if graded == "variant" else read_key(json.dumps(v.to_json()).encode()), sub, "Pr2.3.logits")
    for w in r.wrong:
        shifted = w["reason"].startswith(f"these {len(L) - 1} rows given are each the right matrix's next row")
        assert shifted == (w["at"][0] < len(L) - 1), w


def test_one_wrong_cell_names_no_mistake_of_the_whole_matrix():
    P = answer("Pr2.2.P")
    sub = key()
    sub["Pr2.2.P"][0][0] = text(P[0][0] + 1)
    (w,) = result(V, sub, "Pr2.2.P").wrong
    assert not any(s in w["reason"] for s in ("transposed", "wrong sign", "times", "shifted", "rounded"))


def torch_receptive_field(cnn) -> int:
    """The width of the input one unit of the last feature map sees: the support of its gradient on a large input,
    every kernel weight 1 (no cancellation), no padding (the image border ignored)."""
    from torch import nn

    layers, c = [], cnn.input_channels
    for layer in cnn.layers[:-1]:
        if hasattr(layer, "out_channels"):
            conv = nn.Conv2d(c, 1, layer.kernel, stride=layer.stride, bias=False, dtype=torch.float64)
            nn.init.ones_(conv.weight)
            layers.append(conv)
            c = 1
        else:
            layers.append(nn.AvgPool2d(layer.kernel, stride=layer.stride))
    x = torch.ones(1, cnn.input_channels, 300, 300, dtype=torch.float64, requires_grad=True)
    y = nn.Sequential(*layers)(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    rows = torch.nonzero(x.grad[0].sum(0).sum(1)).flatten()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("seed", range(6))
def test_a_wrong_receptive_field_is_shown_its_sum_term_by_term(seed):
    v = make_variant(seed)
    sub = key(v)
    sub["Pr1.1.rf"] = str(int(sub["Pr1.1.rf"]) - 1)
    (w,) = result(v, sub, "Pr1.1.rf").wrong
    total, _, _ = w["reason"][w["reason"].index("r = 1 + "):].partition(":")  # after an off-by-one's words
    terms = re.findall(r"\((\d+) - 1\) x (\d+)", total)
    kernels = [layer.kernel[0] for layer in v.spec.cnn.layers[:-1]]
    jumps = list(itertools.accumulate([1] + [layer.stride[0] for layer in v.spec.cnn.layers[:-2]], operator.mul))
    assert [(int(k), int(j)) for k, j in terms] == list(zip(kernels, jumps, strict=True))
    assert eval(total.removeprefix("r = ").replace(" x ", " * ").replace("=", "==")) is True  # noqa: S307
    assert int(total.rpartition("= ")[2]) == torch_receptive_field(v.spec.cnn) == int(v.key()["Pr1.1.rf"])


def test_the_students_in_features_are_named_beside_the_right_ones():
    sub = key()
    sub["Pr1.3.in_features"] = str(V.spec.cnn.student_linear_in)
    (w,) = result(V, sub, "Pr1.3.in_features").wrong
    last = V.spec.cnn.layers[-2].name
    assert f"the student's {V.spec.cnn.student_linear_in} is the map before {last}" in w["reason"]


@pytest.mark.parametrize("seed", range(4))
def test_pr14s_kernel_is_the_only_one_the_question_allows(seed):
    """A convolution gives a 1x1 map from an h x h one with a kernel of h at stride 1 and no padding, but also with
    a smaller kernel and a larger stride (a 2x2 kernel at stride 2 on a 3x3 map), or a larger one with padding: the
    question fixes stride and padding, and under them nn.Conv2d gives 1x1 for the key's kernel only."""
    from torch import nn

    v = make_variant(seed)
    said = " ".join(b.text for b in v.question("Pr1.4").prompt if hasattr(b, "text"))
    assert "(stride 1, no padding)" in said
    c, h, w = v.spec.cnn.table()[-1].in_shape
    ones = [k for k in range(1, h + 1) if nn.Conv2d(c, 10, k)(torch.zeros(1, c, h, w)).shape[-2:] == (1, 1)]
    assert ones == [int(v.key()["Pr1.4.kernel"])]


def _matrix_forms(P) -> dict:
    rows = [[text(x) for x in r] for r in P]
    return {
        "MATLAB": "[" + "; ".join(" ".join(r) for r in rows) + "]",
        "NumPy": "[[" + "]\n [".join(" ".join(r) for r in rows) + "]]",
        "a line per row": "\n".join(", ".join(r) for r in rows),
        "a line per row, ';' ending each": ";\n".join(", ".join(r) for r in rows),
        "rows in brackets": "[[" + "], [".join(", ".join(r) for r in rows) + "]]",
        "spaced rows": [" ".join(r) for r in rows],
        "spaced rows in brackets": ["[" + " ".join(r) + "]" for r in rows],
    }


@pytest.mark.parametrize("form", list(_matrix_forms([[0]])))
def test_a_matrix_written_as_numpy_or_matlab_writes_it_gets_full_marks(form):
    P = answer("Pr2.2.P")
    sub = key()
    sub["Pr2.2.P"] = _matrix_forms(P)[form]
    r = result(V, sub, "Pr2.2.P")
    assert r.correct and not r.notes, (r.wrong[:2], r.notes)


def test_a_csv_row_of_spaced_numbers_is_a_row():
    from dlexam.variants.submission import read_submission

    P = answer("Pr2.2.P")
    lines = ["id,value", *(f"Pr2.2.P,{' '.join(text(x) for x in r)}" for r in P)]
    r = result(V, read_submission("\n".join(lines).encode()), "Pr2.2.P")
    assert r.correct, r.wrong[:2]


@pytest.mark.parametrize("form", ["({letter})", "{letter})", "({number})", "{number})", "{letter}."])
def test_an_option_marked_as_on_paper_is_read(form):
    f = V.fields()["P1.4.choice"][1]
    sub = key()
    sub["P1.4.choice"] = form.format(letter="abcd"[f.answer - 1], number=f.answer)
    assert result(V, sub, "P1.4.choice").correct


def test_a_typeset_minus_sign_is_a_minus():
    from dlexam.variants.reading import read_number

    assert read_number("\u22123/4") == Fraction(-3, 4)


@pytest.mark.parametrize(("written", "says"), [("0.3333", "0.3333 is 1/3 rounded to 4 decimals"),
                                                ("0.33", "0.33 is 1/3 rounded to 2 decimals"),
                                                ("0.34", None), ("0.3", "0.3 is 1/3 rounded to 1 decimal"),
                                                ("0.332", None), ("1/3.0", None)])
def test_only_a_true_rounding_is_called_one(written, says):
    from dlexam.variants.mistakes import rounding
    from dlexam.variants.reading import read_number

    got = read_number(written)
    assert (rounding(written, got, Fraction(1, 3)) or None) == (says and says + ": the answer is exact (write 1/3)")
    assert rounding("0.6666", read_number("0.6666"), Fraction(2, 3)).startswith("0.6666 is 2/3 cut to 4 decimals")
    assert rounding("0.6667", read_number("0.6667"), Fraction(2, 3)).startswith("0.6667 is 2/3 rounded to 4 decimals")


def test_the_command_says_a_whole_answer_mistake_once_and_each_cell_what_it_adds():
    """`dlexam grade` said a transposed P's name on every wrong cell's line (39 times for a P without the causal
    mask); the name is said once, on the answer's own line, and each cell's line keeps only its own reason. The JSON
    keeps both: the answer's `mistake`, and each cell's whole `reason` with what the cell adds as `cell`."""
    from dlexam.commands.grade import render

    P = answer("Pr2.2.P")
    sub = key()
    sub["Pr2.2.P"] = [[text(x) for x in col] for col in zip(*P, strict=True)]
    g = grade(V, sub)
    r = next(f for f in g.fields if f.id == "Pr2.2.P")
    name = "the matrix given is the right one transposed"
    assert r.mistake.startswith(name) and r.to_json()["mistake"] == r.mistake
    assert all(w["reason"].startswith(r.mistake) and w["reason"] == "; ".join(p for p in (r.mistake, w["cell"]) if p)
               for w in r.wrong)
    lines = render(g).splitlines()
    assert sum(name in line for line in lines) == 1
    assert f"  Pr2.2.P: {r.mistake} (all {len(r.wrong)} wrong cells)" in lines
    cells = [line for line in lines if line.startswith("  Pr2.2.P row ")]
    assert len(cells) == len(r.wrong) and all(name not in line for line in cells)
    unmarked = next(f for f in g.fields if f.id == "Pr2.2.S")
    assert unmarked.correct and unmarked.mistake == ""


@pytest.mark.parametrize("graded", GRADERS)
@pytest.mark.parametrize("aid", ["Pr1.3.shapes", "Pr2.3.logits", "Pr2.4.R"])
def test_a_transposed_matrix_that_is_not_square_is_one_mistake_not_cells_where_they_land(graded, aid):
    """Rows and columns swapped on a matrix that is not square (3 rows of 4 for 4 rows of 3) was named, but still
    scored by where its cells landed in the key's shape: the cells that happened to equal the key's cell at the
    same place earned points (3/2 of Pr1.3's 6), every other cell was reported against the wrong one ("gave 6,
    expected 32": the 6 was another cell's), and the notes said "row 4 counts as not answered". No value of it is
    in its place: it earns nothing, and is one wrong entry that says so, without those notes."""
    from dlexam.commands.grade import render

    A = answer(aid)
    rows, cols = len(A), len(A[0])
    assert rows != cols
    swapped = [[text(x) for x in col] for col in zip(*A, strict=True)]  # cols rows of rows values
    for written in (swapped, "; ".join(", ".join(r) for r in swapped)):
        sub = key()
        sub[aid] = written
        g = grade(GRADERS[graded], sub)
        r = next(f for f in g.fields if f.id == aid)
        assert r.points == 0 and not r.correct and r.notes == [], (r.points, r.notes)
        (w,) = r.wrong
        assert "at" not in w and w["where"] == aid
        assert r.mistake.startswith("the matrix given is the right one transposed (rows and columns swapped): "
                                    f"{cols} rows of {rows}, where {rows} rows of {cols} are asked")
        assert w["reason"].startswith(r.mistake) and "in its place" in w["reason"]
        assert w["given"] == "[" + "; ".join(", ".join(c) for c in swapped) + "]"
        assert w["expected"] == "[" + "; ".join(", ".join(text(x) for x in row) for row in A) + "]"
        assert g.score == g.max_score - r.max_points  # the rest of the key still earns its points
        lines = render(g).splitlines()
        assert sum("transposed" in line for line in lines) == 1, [x for x in lines if "transposed" in x]


@pytest.mark.parametrize("graded", GRADERS)
@pytest.mark.parametrize("aid", ["Pr2.3.loss", "Pr1.3.in_features", "Pr1.2.Conv-1"])
def test_a_number_with_the_wrong_sign_is_named(graded, aid):
    """A number given as the right one negated (a loss written as sum log p, without its minus sign) is named, as a
    matrix with every sign wrong is: 'the right value with the wrong sign'. It said only the formula."""
    want = answer(aid)
    given = f"-{want:.4f}" if isinstance(want, float) else f"-{want}"
    (w,) = result(GRADERS[graded], {**key(), aid: given}, aid).wrong
    assert "the right value with the wrong sign" in w["reason"], w["reason"]
    near_miss = f"-{want + 1:.4f}" if isinstance(want, float) else f"-{want + 1}"
    (w,) = result(GRADERS[graded], {**key(), aid: near_miss}, aid).wrong
    assert "sign" not in w["reason"], w["reason"]
