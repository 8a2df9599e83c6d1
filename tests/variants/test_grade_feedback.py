"""A wrong choice's feedback: the chosen option's text, and why it is wrong, each reason checked against an oracle
that is not the code that wrote it: nn.Conv2d for P1.4's sizes and the mistake it names, autograd for what each P1.6
update is the derivative of, torch.softmax for P1.1's statements, and autograd through the plain forward of
test_oracles.py for which of Pr2.5's matrices get a zero gradient."""

from __future__ import annotations

import json
import re
from fractions import Fraction

import pytest
import torch
from torch import nn

from dlexam.variants import make_variant
from dlexam.variants.grade import grade

from .test_oracles import DT, RNN, forward, numbers, p11_truth, t64, tf_loss

SEEDS = [(s, "standard") for s in range(30)] + [(s, "harder") for s in range(10)]


def choices(v):
    return {aid: f for aid, (_, f) in v.fields().items() if f.kind == "choice"}


def picked(v, aid, k) -> dict:
    """The grader's feedback when option k (1-based) is chosen for `aid` and every other answer is the key's."""
    sub = {**json.loads(json.dumps(v.key())), aid: k}
    (r,) = [r for r in grade(v, sub).fields if r.id == aid]
    assert r.points == 0 and len(r.wrong) == 1
    return r.wrong[0]


@pytest.mark.parametrize("seed, difficulty", SEEDS)
def test_every_wrong_option_is_named_and_gets_a_reason_of_its_own(seed, difficulty):
    v = make_variant(seed, difficulty)
    for aid, f in choices(v).items():
        reasons = set()
        for k, option in enumerate(f.options, start=1):
            if k == f.answer:
                continue
            w = picked(v, aid, k)
            assert w["given"] == f"{k}: {option}" and w["expected"] == f"{f.answer}: {f.options[f.answer - 1]}"
            assert w["reason"] and "invalid" not in w
            reasons.add(w["reason"])
        if len(f.options) > 2:  # P1.x and Pr2.5 (a): each wrong option is wrong for its own reason
            assert len(reasons) == len(f.options) - 1, (aid, reasons)


def conv_size(c, stride=None, padding=None) -> tuple[int, int]:
    conv = nn.Conv2d(1, 1, c.kernel, stride or c.stride, c.padding if padding is None else padding, device="meta")
    return tuple(conv(torch.zeros(1, 1, *c.input_size, device="meta")).shape[-2:])


@pytest.mark.parametrize("seed, difficulty", SEEDS)
def test_p14_names_the_mistake_that_gives_the_chosen_size(seed, difficulty):
    v = make_variant(seed, difficulty)
    c, f = v.spec.part1.conv_size, choices(v)["P1.4.choice"]
    right = conv_size(c)
    for k, option in enumerate(f.options, start=1):
        if k == f.answer:
            continue
        shape = tuple(map(int, option.split(" x ")))
        reason = picked(v, "P1.4.choice", k)["reason"]
        m = re.fullmatch(r"it (.+): rows \((\d+) \+ (\d+) - (\d+)\)/(\d+) \+ 1 = (\d+), "
                         r"columns \((\d+) \+ (\d+) - (\d+)\)/(\d+) \+ 1 = (\d+)", reason)
        assert m, reason
        for dim, (n, two_p, k, s, out) in enumerate((m.groups()[1:6], m.groups()[6:])):
            n, two_p, k, s, out = map(int, (n, two_p, k, s, out))  # the formula as the reason writes it
            assert (n, two_p, k, s) == (c.input_size[dim], 2 * c.padding[dim], c.kernel[dim], c.stride[dim])
            assert out == right[dim] and (n + two_p - k) % s == 0 and (n + two_p - k) // s + 1 == out
        made = {"swaps rows and columns": right[::-1], "leaves out the strides": conv_size(c, stride=(1, 1)),
                "leaves out the zero padding": conv_size(c, padding=(0, 0))}
        assert made[m.group(1)] == shape, (reason, shape)  # the mistake named gives exactly the chosen size


def rnn_derivatives(seed: int):
    """Values of the RNN's quantities and autograd's dL/dw, dL/da, dL/dh_1, and dL/da with h_1 held fixed."""
    g = torch.Generator().manual_seed(seed)
    a, w, x1, x2, y = (torch.randn((), generator=g, dtype=DT, requires_grad=True) for _ in range(5))
    z1 = a * x1
    h1 = torch.tanh(z1)
    z2 = w * h1 + a * x2
    h2 = torch.tanh(z2)
    da, dw, dh1 = torch.autograd.grad(0.5 * (h2 - y) ** 2, [a, w, h1])
    z2_direct = w * h1.detach() + a * x2  # a's path into z_2 only
    (da_direct,) = torch.autograd.grad(0.5 * (torch.tanh(z2_direct) - y) ** 2, [a])
    with torch.no_grad():
        values = {f: fn((h2 - y) * (1 - h2 ** 2), h1, w, x1, x2, 1 - h1 ** 2) for f, fn in RNN.items()}
    return values, {"dL/dw": dw, "dL/da": da, "dL/dh_1": dh1, "direct dL/da": da_direct}


@pytest.mark.parametrize("seed, difficulty", SEEDS[:12])
def test_p16_says_what_derivative_the_chosen_update_is(seed, difficulty):
    v = make_variant(seed, difficulty)
    f, p = choices(v)["P1.6.choice"], v.spec.part1.rnn.parameter
    draws = [rnn_derivatives(s) for s in range(3)]
    for k, option in enumerate(f.options, start=1):
        formula = option.split(" - eta ", 1)[1]
        reason = f.why if k == f.answer else picked(v, "P1.6.choice", k)["reason"]
        for values, d in draws:
            value = values[formula]
            if k == f.answer:
                assert reason.startswith(f"by the chain rule dL/d{p} = {formula}: ")
                assert torch.isclose(value, d[f"dL/d{p}"], rtol=0, atol=1e-12)
            elif m := re.fullmatch(re.escape(formula) + r" is (dL/d\w+), .*", reason):
                assert torch.isclose(value, d[m.group(1)], rtol=0, atol=1e-12), reason
                assert m.group(1) != f"dL/d{p}" and not torch.isclose(value, d[f"dL/d{p}"], rtol=0, atol=1e-9)
            elif reason.startswith(f"{formula} is only the direct part of dL/da"):
                assert torch.isclose(value, d["direct dL/da"], rtol=0, atol=1e-12)
                assert not torch.isclose(value, d["dL/da"], rtol=0, atol=1e-9)
            else:
                assert reason.startswith(f"{formula} is not dL/d{p}: "), reason
                assert not torch.isclose(value, d[f"dL/d{p}"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed, difficulty", SEEDS)
def test_p11_says_the_chosen_statement_is_true(seed, difficulty):
    """P1.1 asks for the false statement: a wrong pick is a true one, and its reason says so (torch.softmax agrees);
    a limit stated in a reason is softmax(z/T) at a small T."""
    v = make_variant(seed, difficulty)
    f = choices(v)["P1.1.choice"]
    z = torch.tensor([float(x) for x in v.spec.part1.softmax.z], dtype=DT)
    limit = torch.softmax(z / 1e-4, 0)
    for k, option in enumerate(f.options, start=1):
        reason = f.why if k == f.answer else picked(v, "P1.1.choice", k)["reason"]
        assert reason.startswith("false: " if k == f.answer else "true: ") and p11_truth(option, z) == (k != f.answer)
        if m := re.search(r"shared among ties: \(([^)]*)\)", reason):
            assert torch.allclose(limit, torch.tensor([float(x) for x in numbers(m.group(1))], dtype=DT), atol=1e-9)


def zero_gradients(v) -> set[str]:
    """The matrices autograd gives an exactly zero gradient at T = 0, through test_oracles' plain forward."""
    t = v.spec.transformer
    ids = [t.vocab.index(x) for x in t.example]
    w = {name: t64(getattr(t.head, name)).requires_grad_(True) for name in ("W_Q", "W_K", "W_V")}
    w["W_O"] = t64(t.W_O).requires_grad_(True)
    _, _, logits = forward(t, [(w["W_Q"], w["W_K"], w["W_V"])], w["W_O"], ids, 0.0)
    grads = torch.autograd.grad(tf_loss(t, logits, ids), list(w.values()), allow_unused=True)
    return {name for name, g in zip(w, grads, strict=True) if g is None or not g.abs().max() > 0}


@pytest.mark.parametrize("seed, difficulty", SEEDS[::4])
def test_pr25_says_which_matrices_get_a_gradient(seed, difficulty):
    v = make_variant(seed, difficulty)
    f, zero = choices(v)["Pr2.5.zero"], zero_gradients(v)
    assert zero == {"W_Q", "W_K"}
    for k in range(1, len(f.options) + 1):
        if k == f.answer:
            continue
        for part in picked(v, "Pr2.5.zero", k)["reason"].split("; "):
            names = set(re.findall(r"W_[QKVO]", part.split(":")[0]))
            if " get exactly zero:" in part:
                assert names and names <= zero, part
            else:
                assert re.search(r" gets? (a )?non-zero gradients?:", part) and names and not names & zero, part


def test_a_two_option_item_gives_the_right_ones_reason():
    v = make_variant(7)
    for aid in ("Pr2.1.wise", "Pr2.4.same", "Pr2.5.softmax"):
        f = choices(v)[aid]
        w = picked(v, aid, 3 - f.answer)
        assert w["reason"] == f.why and w["given"] == f"{3 - f.answer}: {f.options[2 - f.answer]}"


@pytest.mark.parametrize("seed", [7, 11])
def test_a_wrong_loss_states_its_closed_form_once(seed):
    """An audit saw the loss's closed form twice in one line: in the expected value and again in the reason."""
    v = make_variant(seed)
    fields = {aid: f for aid, (_, f) in v.fields().items() if f.kind == "number" and not f.exact}
    assert fields  # the losses of Problem 2
    for aid, f in fields.items():
        sub = {**json.loads(json.dumps(v.key())), aid: f.answer + 1.0}  # wrong by a whole unit
        (r,) = [r for r in grade(v, sub).fields if r.id == aid]
        (w,) = r.wrong
        line = f"{w['expected']} {w['reason']}"
        assert f.closed_form and line.count(f.closed_form) == 1, line
        assert w["expected"].startswith(f"{f.answer:.6f} (within ")


def test_a_number_is_quoted_as_written_and_the_expected_value_shows_why_it_missed():
    """An audit's 17.0080 for a loss of 17.007456... was shown as 2126/125, beside an expected 17.0075 that made it
    look inside the tolerance of 0.0005."""
    v = make_variant(7)
    (aid, f), = [(aid, f) for aid, (_, f) in v.fields().items() if aid == "Pr2.4.loss"]
    given = round(f.answer + 0.000544, 4)
    assert abs(given - f.answer) > f.tolerance  # wrong, by the key's own tolerance
    (r,) = [r for r in grade(v, {**json.loads(json.dumps(v.key())), aid: given}).fields if r.id == aid]
    (w,) = r.wrong
    assert w["given"] == repr(given) and "/" not in w["given"]
    assert w["expected"] == f"{f.answer:.6f} (within {f.tolerance:g})"
    cell_aid, cell = next((a, fl) for a, (_, fl) in v.fields().items() if fl.kind == "matrix")
    rows = json.loads(json.dumps(v.key()))[cell_aid]
    rows[0][0] = 0.3333  # a float in a matrix of exact fractions
    (r,) = [r for r in grade(v, {**json.loads(json.dumps(v.key())), cell_aid: rows}).fields if r.id == cell_aid]
    if cell.answer[0][0] != Fraction(3333, 10000):
        (w,) = r.wrong
        assert w["given"] == "0.3333"


def test_a_wrong_choice_says_which_option_each_reason_is_about(capsys, tmp_path):
    """The reason beside a wrong pick is about the option picked, not the right one printed just before it: the
    feedback names the option each reason is about, and also says why the right option is right (P1.1: the false
    statement's limit, here checked with torch.softmax; before, "right: 2: <statement> - true: ..." read as if the
    right statement were true, and why it is false was never said)."""
    from dlexam.cli import main

    v = make_variant(3, "standard")
    f = choices(v)["P1.1.choice"]
    k = next(k for k in range(1, len(f.options) + 1) if k != f.answer)
    w = picked(v, "P1.1.choice", k)
    assert (w["option"], w["answer"]) == (k, f.answer)
    assert w["reason"].startswith("true: ") and w["right_why"].startswith("false: ")
    z = torch.tensor([float(x) for x in v.spec.part1.softmax.z], dtype=DT)
    m = re.search(r"shared among ties: \(([^)]*)\)", w["right_why"])
    assert torch.allclose(torch.softmax(z / 1e-4, 0), torch.tensor([float(x) for x in numbers(m.group(1))],
                                                                    dtype=DT), atol=1e-9)
    p14 = choices(v)["P1.4.choice"]  # P1.4's reason already gives the right sizes: not said twice
    assert picked(v, "P1.4.choice", p14.answer % len(p14.options) + 1)["right_why"] == ""

    same = choices(v)["Pr2.4.same"]  # a yes/no item has no reason of its own for the wrong answer: only the right's
    no = 3 - same.answer
    assert not same.option_reasons and picked(v, "Pr2.4.same", no)["option_why"] == ""

    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"P1.1.choice,{k}\nPr2.4.same,{no}\n")
    assert main(["grade", "--variant", "3", str(sheet)]) == 0
    out = capsys.readouterr().out.splitlines()
    (line,) = [x for x in out if x.startswith("  P1.1.choice: gave")]
    assert line.endswith(f" - option {k}: {w['reason']}; option {f.answer}: {w['right_why']}"), line
    (line,) = [x for x in out if x.startswith("  Pr2.4.same: gave")]
    assert line.endswith(f" - option {same.answer}: {same.why}"), line
