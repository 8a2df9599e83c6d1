"""Part 1's computable items of a variant: temperature softmax (P1.1), a convolution's output size (P1.4) and an
RNN's SGD update (P1.6), each a multiple-choice item with exactly one correct option.

Each option carries what it claims in a form a check can evaluate (:mod:`dlexam.variants.checks` evaluates
every option, as `dlexam answers` does for Version A: P1.1 with torch.softmax and the tie rule, P1.4 with
nn.Conv2d, P1.6 with autograd on random values), and `because`: why it holds or fails, in a line, which the grader
gives as the reason when a student picks it wrongly (and the item's `why` for the right one). These lines state
only what the item's arithmetic decides: P1.4 names a mistake only where the option equals the size that
mistake gives (:func:`dlexam.variants.draw.p14_candidates`), and P1.6 what each candidate update is the
derivative of (tests/variants/test_grade_feedback.py checks each by autograd).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from dlexam.spec import ExamSpec, text
from dlexam.variants.draw import Draw, p14_candidates
from dlexam.variants.model import Field, Options, Question, Text


@dataclass(frozen=True)
class Claim:
    """One option: its text, and what it states in a checkable form."""

    text: str
    kind: str  # P1.1: "uniform_never" | "uniform_constant" | "large_T" | "limit" | "no_zeros"; P1.4: "shape";
    #            P1.6: "update"
    value: object = None  # the limit vector, the (rows, columns), or the update's name
    holds: bool = False  # what the exact reasoning says (the checks confirm it by computation)
    because: str = ""  # why it holds or fails, in a line


def vec(v) -> str:
    return "(" + ", ".join(text(Fraction(x)) for x in v) + ")"


def p11_claims(spec: ExamSpec) -> list[Claim]:
    """P1.1's statements. The spec's claimed limit is the true one (then "no finite T gives the uniform
    distribution" is the false statement) or a wrong one (then that statement comes in its true form)."""
    item = spec.part1.softmax
    z, claim, limit = item.z, item.claimed_limit, item.limit_at_zero()
    uniform = (Claim("For every z, no finite temperature T > 0 makes softmax(z/T) the uniform distribution.",
                     "uniform_never", None, False, "false: a constant z gives the uniform distribution at every T")
               if claim == limit else
               Claim("If all components of z are equal, softmax(z/T) is uniform for every T > 0.",
                     "uniform_constant", None, True,
                     "true: equal components make every exp(z_i/T) equal, so softmax(z/T) is uniform at every T"))
    to_max = f"as T -> 0+ the weight goes to z's largest components, shared among ties: {vec(limit)}"
    return [
        uniform,
        Claim("For every z, softmax(z/T) tends to the uniform distribution as T grows without bound.", "large_T",
              None, True, "true: as T grows, z/T tends to 0 and every component of softmax(z/T) tends to 1/n"),
        Claim(f"For z = {vec(z)}, softmax(z/T) tends to {vec(claim)} as T -> 0+.", "limit", claim, claim == limit,
              f"true: {to_max}" if claim == limit else f"false: {to_max}, not {vec(claim)}"),
        Claim("For every z and every T > 0, no component of softmax(z/T) is zero.", "no_zeros", None, True,
              "true: exp never vanishes, so every component of softmax(z/T) is positive"),
    ]


# what each wrong candidate of draw.p14_candidates does, in its order (after the right size)
P14_MISTAKES = ("swaps rows and columns", "leaves out the strides", "leaves out the zero padding")


def p14_claims(spec: ExamSpec) -> list[Claim]:
    """P1.4's options, as the spec lists them (in the order shown)."""
    c = spec.part1.conv_size
    right = c.output_size()
    sizes = ", ".join(f"{name} ({n} + {2 * p} - {f})/{s} + 1 = {out}" for name, n, f, s, p, out in zip(
        ("rows", "columns"), c.input_size, c.kernel, c.stride, c.padding, right, strict=True))
    mistakes: dict[tuple[int, int], str] = {}
    for shape, mistake in zip(p14_candidates(c)[1:], P14_MISTAKES, strict=True):
        mistakes.setdefault(shape, mistake)  # the first listed, were two to coincide (the checks refuse that)

    def because(shape) -> str:
        if shape == right:
            return sizes
        return f"it {mistakes.get(shape, 'is not the output size')}: {sizes}"

    return [Claim(f"{h} x {w}", "shape", (h, w), (h, w) == right, because((h, w))) for h, w in c.options]


UPDATES = {
    # name: (formula as printed, the parameter whose gradient it is: "w", "a", or None)
    "dw": ("(h_2 - y) g'(z_2) h_1", "w"),
    "da": ("(h_2 - y) g'(z_2) (x_2 + w g'(z_1) x_1)", "a"),
    "dh1": ("(h_2 - y) g'(z_2) w", None),
    "gg": ("(h_2 - y) g'(z_2) g'(z_1)", None),
    "direct": ("(h_2 - y) g'(z_2) x_2", None),
}


def update_because(name: str, p: str) -> str:
    """Why update `name` is (or is not) the SGD rule of parameter `p`: what derivative it is, by the chain rule on
    z_1 = a x_1 (h_0 = 0), h_1 = g(z_1), z_2 = w h_1 + a x_2."""
    formula, of = UPDATES[name]
    if of == p:
        return f"by the chain rule dL/d{p} = {formula}: " + (
            "w enters only z_2 (h_0 = 0)" if p == "w" else "a enters z_2 directly and through h_1 = g(a x_1)")
    if of is not None:
        return f"{formula} is dL/d{of}, the update of {of}, not of {p}"
    if name == "dh1":
        return f"{formula} is dL/dh_1, the gradient of the hidden state h_1, not of {p}"
    if name == "direct":
        return (f"{formula} is only the direct part of dL/da: a also enters through h_1 = g(a x_1), which adds "
                "w g'(z_1) x_1" if p == "a" else f"{formula} is not dL/dw: dz_2/dw = h_1, not x_2")
    return f"{formula} is not dL/d{p}: " + (  # gg
        "w enters only z_2 (h_0 = 0), so no g'(z_1) appears" if p == "w" else
        "the path through h_1 multiplies g'(z_1) by w and x_1")


def p16_claims(spec: ExamSpec) -> list[Claim]:
    p = spec.part1.rnn.parameter
    names = ("dw", "da", "dh1", "gg") if p == "w" else ("da", "dw", "direct", "dh1")
    return [Claim(f"{p} <- {p} - eta {UPDATES[n][0]}", "update", n, UPDATES[n][1] == p, update_because(n, p))
            for n in names]


def _choice(qid: str, title: str, points: int, prompt: list, claims: list[Claim], order: tuple[int, ...],
            want: bool, solution: list, topic: str) -> Question:
    """A multiple-choice item asking for the option whose claim `holds == want`; each option's `because` is the
    grader's reason when it is picked wrongly, and the right option's is the item's `why`."""
    shown = [claims[i] for i in order]
    right = [i for i, c in enumerate(shown) if c.holds == want]
    answer = right[0] + 1 if len(right) == 1 else 0  # 0: not exactly one (the checks refuse such a draw)
    options = tuple(c.text for c in shown)
    why = shown[answer - 1].because if answer else ""
    reasons = tuple("" if c.holds == want else c.because for c in shown)
    return Question(qid, title, points, (*prompt, Options(options)), (
        Field("choice", "choice", answer, Fraction(1), "option number", options=options, why=why,
              option_reasons=reasons),), tuple(solution), topic)


def questions(spec: ExamSpec, d: Draw) -> list[Question]:
    pts = dict(spec.points)
    z = spec.part1.softmax.z
    c = spec.part1.conv_size
    rnn = spec.part1.rnn
    (oh, ow) = c.output_size()
    p11 = p11_claims(spec)
    false_text = next(cl.text for cl in p11 if not cl.holds)
    limit = spec.part1.softmax.limit_at_zero()
    return [
        _choice("P1.1", "Temperature softmax", pts["P1.1"], [
            Text("For a temperature T > 0, the tempered softmax of a vector z is softmax(z/T). Exactly one of the "
                 "statements below is false. Which one?")], p11, d.orders["P1.1"], False, [
                    Text(f"As T -> 0+, softmax(z/T) puts its weight on the largest components of z, shared equally "
                         f"among ties: for z = {vec(z)} that is {vec(limit)}."),
                    Text("A constant z gives the uniform distribution at every T; as T grows every component tends "
                         "to 1/n; and exp never vanishes, so no component is ever exactly 0."),
                    Text(f"The false statement: {false_text}")], "softmax"),
        _choice("P1.4", "A convolution's output size", pts["P1.4"], [
            Text(f"A convolutional layer has a {c.kernel[0]}x{c.kernel[1]} filter, strides ({c.stride[0]}, "
                 f"{c.stride[1]}) (rows, columns), zero padding ({c.padding[0]}, {c.padding[1]}), and an input "
                 f"feature map of {c.input_size[0]}x{c.input_size[1]}. What is the size of its output?")],
                p14_claims(spec), tuple(range(len(c.options))), True, [
                    Text(f"Rows: ({c.input_size[0]} + {2 * c.padding[0]} - {c.kernel[0]})/{c.stride[0]} + 1 = {oh}. "
                         f"Columns: ({c.input_size[1]} + {2 * c.padding[1]} - {c.kernel[1]})/{c.stride[1]} + 1 = "
                         f"{ow}.")], "convolution"),
        _choice("P1.6", "An RNN's gradient step", pts["P1.6"], [
            Text("A recurrent network reads scalars x_1, x_2 with h_0 = 0, z_t = w h_{t-1} + a x_t, h_t = g(z_t), "
                 "predicts y_hat = h_2, and is trained on the squared loss (y_hat - y)^2 / 2 with learning rate "
                 f"eta. Which is the SGD update of {rnn.parameter}?")], p16_claims(spec), d.orders["P1.6"], True, [
                    Text("dL/dh_2 = h_2 - y and dh_2/dz_2 = g'(z_2). z_2 = w h_1 + a x_2 with h_1 = g(a x_1): "
                         "dz_2/dw = h_1, and dz_2/da = x_2 + w g'(z_1) x_1 (a also enters through h_1)."),
                    Text(f"So the update of {rnn.parameter} is {rnn.parameter} <- {rnn.parameter} - eta "
                         f"{UPDATES['dw' if rnn.parameter == 'w' else 'da'][0]}.")], "recurrent networks"),
    ]

