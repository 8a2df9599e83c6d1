"""Part 1, questions 1 and 4, the two a variant redraws from its spec: temperature softmax, a conv layer's output
shape. (Questions 2 and 3, logistic regression, are :mod:`dlexam.answers.part1_logreg`.)

Every option is checked by computation: a counterexample search, or a real ``nn.Conv2d``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import nn

from dlexam.answers import choices, exam_source
from dlexam.answers.registry import Answer, question
from dlexam.attention import argmax_weights
from dlexam.spec import ConvSizeItem, ExamSpec, SoftmaxItem, conv_output_size, pair_text, text

DT = torch.float64


# ---- P1.1 temperature softmax ----------------------------------------------------------------

P11_OPTIONS = [
    "For all z, there is no finite value of T for which temp-softmax $_T(z)$ is a uniform distribution.",
    "For any z, as $T \\to \\infty$, temp-softmax_T(z) approaches a uniform distribution.",
    "For z = (4,3,2,1), as $T \\to 0$, temp-softmax_T(z) approaches (1,0,0,0).",
    "For any z and any T > 0, temp-softmax $_T(z)$ has no zero components.",
]
P11_DEFINITION = "temp-softmax $_T(z)$ = softmax $_T(z)$, where softmax denotes the standard softmax"
P11_SOLUTION = ("For z = (a, a, a, a), for any real value a, temp-softmax $_T(z) = (1/4, 1/4, 1/4, 1/4)$, "
                "for any real value T.")


def temp_softmax(z: torch.Tensor, T: float) -> torch.Tensor:
    """softmax(z / T): what the exam's garbled "softmax_T(z)" means."""
    return torch.softmax(z / T, dim=-1)


def _vector_text(v) -> str:
    """(4,3,2,1): exact numbers (or symbols) as the exam writes a vector."""
    return "(" + ",".join(text(x) if isinstance(x, Fraction) else str(x) for x in v) + ")"


def p11_options(item: SoftmaxItem) -> list[str]:
    """The four statements for `item`'s z, in dlexam's words (Version A prints its own, :data:`P11_OPTIONS`)."""
    return ["For all z, there is no finite value of T > 0 for which softmax(z/T) is a uniform distribution.",
            "For any z, as T -> infinity, softmax(z/T) approaches a uniform distribution.",
            f"For z = {_vector_text(item.z)}, as T -> 0, softmax(z/T) approaches {_vector_text(item.claimed_limit)}.",
            "For any z and any T > 0, softmax(z/T) has no zero components."]


@question("P1.1")
def p1_1(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    item = spec.part1.softmax
    stated = item == ExamSpec.version_a().part1.softmax  # the exam text prints this item
    n = len(item.z)
    g = torch.Generator().manual_seed(11)
    temps = [1e-2, 0.5, 1.0, 7.0, 1e3]

    # 1. search for a uniform output at a finite T: constant vectors, then random ones.
    constants = [-3.0, 0.0, 2.5, 100.0]
    uniform_hits = []
    for a in constants:
        for T in temps:
            p = temp_softmax(torch.full((n,), a, dtype=DT), T)
            if torch.equal(p, torch.full((n,), 1 / n, dtype=DT)):
                uniform_hits.append({"z": [a] * n, "T": T})
    z_rand = torch.randn(200, n, generator=g, dtype=DT) * 3
    # for a non-constant z no finite T gives the uniform distribution: the spread max-min stays > 0
    spread_nonconstant = min(float((temp_softmax(z_rand, T).amax(-1) - temp_softmax(z_rand, T).amin(-1)).min())
                             for T in temps)
    holds1 = not uniform_hits

    # 2. T -> infinity: distance to uniform, worst over random z, shrinks like 1/T
    dist = {}
    for T in (1e1, 1e2, 1e3, 1e4, 1e6):
        dist[T] = float((temp_softmax(z_rand, T) - 1 / n).abs().max())
    seq = list(dist.values())
    holds2 = all(b < a for a, b in zip(seq, seq[1:], strict=False)) and seq[-1] < 1e-5

    # 3. the item's z, T -> 0: the distance to the claimed limit shrinks, and the project's T = 0 limit is it
    z3 = torch.tensor([float(v) for v in item.z], dtype=DT)
    target = torch.tensor([float(v) for v in item.claimed_limit], dtype=DT)
    dist3 = {T: float((temp_softmax(z3, T) - target).abs().max()) for T in (1.0, 0.1, 0.01)}
    limit = argmax_weights(z3)  # the project's T = 0 limit (ties share the weight)
    shrinking = list(dist3.values())
    holds3 = torch.equal(limit, target) and all(b <= a for a, b in zip(shrinking, shrinking[1:], strict=False))

    # 4. no zero components: log-softmax is finite everywhere (so every exp is > 0), but float64
    # rounds exp(-800) to an exact 0.
    min_log_p = min(float(torch.log_softmax(z_rand / T, dim=-1).min()) for T in temps)
    exact_zeros = sum(int((temp_softmax(z_rand, T) == 0).sum()) for T in temps)
    z_big = torch.tensor([0.0, 800.0], dtype=DT)
    p_big = temp_softmax(z_big, 1.0)
    holds4 = math.isfinite(min_log_p) and math.isfinite(float(torch.log_softmax(z_big, -1)[0]))

    holds = [holds1, holds2, holds3, holds4]
    options = P11_OPTIONS if stated else p11_options(item)
    # a variant's key: statements 1, 2 and 4 are facts about every z; 3 is its spec's exact limit
    key = None if stated else [False, True, item.claimed_limit == item.limit_at_zero(), True]
    ch = choices.decide(options, holds, asks_for_true=False, key=key)
    constant, uniform = _vector_text(["a"] * n), _vector_text([Fraction(1, n)] * n)
    notes = [
        "The definition is garbled in the extraction: 'temp-softmax_T(z) = softmax_T(z)' should read "
        "softmax(z/T); the key uses softmax(z/T).",
        "The solution says 'for any real value T'; the statement is about T > 0 (at T = 0, z/T is undefined).",
    ] if stated else []
    notes.append(
        "Numerical caveat for statement 4: mathematically every component is exp(z_i/T)/sum > 0, but in "
        f"float64 softmax((0, 800)) = {p_big.tolist()} has an exact zero (exp(-800) underflows), and so do "
        f"{exact_zeros} components among the random trials. "
        "The statement is about the mathematics, so it holds.")
    return Answer(
        id="P1.1",
        question="Which statement about the temperature softmax, softmax(z/T), is false?",
        exam_answer=ch.exam_answer(options) + " (solution: constant z gives the uniform distribution)",
        computed=(f"statement {', '.join(map(str, ch.computed))} fails: z = {constant} gives exactly "
                  f"{uniform} at "
                  f"{len(uniform_hits)} of {len(constants) * len(temps)} tried (a, T); "
                  + ("statements 2-4 hold" if ch.computed == [1] else
                     f"statements {', '.join(str(i + 1) for i, h in enumerate(holds) if h)} hold")),
        verdict=ch.verdict,
        explanation=ch.explanation(options),
        evidence={
            **ch.evidence(),
            "options": [
                {"option": 1, "holds": holds1, "counterexamples": uniform_hits[:3],
                 "min_spread_nonconstant_z": spread_nonconstant,
                 "check": "constant z at several T; non-constant random z never uniform (spread > 0)"},
                {"option": 2, "holds": holds2, "max_abs_distance_to_uniform_by_T": {str(k): v for k, v in dist.items()},
                 "check": "worst of 200 random z; distance shrinks like 1/T"},
                {"option": 3, "holds": holds3,
                 f"max_abs_distance_to_{_vector_text(item.claimed_limit)}_by_T": {str(k): v for k, v in dist3.items()},
                 "argmax_limit": limit.tolist(), "check": "torch.softmax at small T and "
                                                          "dlexam.attention.argmax_weights"},
                {"option": 4, "holds": holds4, "min_log_probability": min_log_p,
                 "float64_exact_zeros_among_random_z": exact_zeros,
                 "float64_softmax_of_(0,800)": p_big.tolist(),
                 "check": "log-softmax is finite: exp(z_i/T) > 0 for every real z_i/T"},
            ],
        },
        notes=notes,
        exam_quotes=[*P11_OPTIONS, P11_DEFINITION, P11_SOLUTION] if stated else [],
    )


# ---- P1.4 conv output shape ------------------------------------------------------------------

# The question as printed; its options are read from the lines after it (exam_source.options_after).
P14_STEM = ("Consider a convolutional layer with a 3×5 filter with a stride of 1 in the first dimension, a stride of 3 "
            "in the second dimension, and no padding. If the input feature map has size 128×128 , what will be the "
            "dimensions of the output feature map?")
P14_SOLUTION = "Columns: (128 - 5)/3 + 1 = 42."


def _conv_item_text(item: ConvSizeItem) -> str:
    """'a 3x5 conv, stride (1, 3), no padding, on 128x128'."""
    padding = "no padding" if item.padding == (0, 0) else f"padding {pair_text(item.padding)}"
    return (f"a {item.kernel[0]}x{item.kernel[1]} conv, stride {pair_text(item.stride)}, {padding}, on "
            f"{item.input_size[0]}x{item.input_size[1]}")


def _formula(n: int, f: int, s: int, p: int) -> str:
    """'(128-3)/1+1 = 126', 'floor((128-5)/3)+1 = 42': floor written wherever the stride is over 1."""
    inner = f"{n}{f'+{2 * p}' if p else ''}-{f}"
    return (f"({inner})/{s}+1" if s == 1 else f"floor(({inner})/{s})+1") + f" = {conv_output_size(n, f, s, p)}"


@question("P1.4")
def p1_4(spec: ExamSpec | None = None) -> Answer:
    spec = spec or ExamSpec.version_a()
    item = spec.part1.conv_size
    stated = item == ExamSpec.version_a().part1.conv_size  # the exam text prints this item
    conv = nn.Conv2d(1, 1, kernel_size=item.kernel, stride=item.stride, padding=item.padding)
    with torch.no_grad():
        out = conv(torch.zeros(1, 1, *item.input_size))
    h, w = out.shape[-2:]
    spec_options = [f"{r} × {c}" for r, c in item.options]
    read = exam_source.options_after(P14_STEM) if stated else None  # [(option as printed, marked?)]
    options = [o for o, _ in read] if read else spec_options
    shapes = [exam_source.size_pair(o) for o in options]  # None where an option is not "R × C"
    holds = [s == (h, w) for s in shapes]
    key = None if stated else [tuple(o) == item.output_size() for o in item.options]
    if stated and not read:  # the question is not in the text as printed: its options cannot be read
        ch = choices.Choice(None, "not read: the question is not in the exam text", [], "unread")
    else:
        marked = [i for i, (_, m) in enumerate(read) if m] if read else None
        ch = choices.decide(options, holds, asks_for_true=True, key=key, marked=marked)
    rows, cols = (_formula(*a) for a in zip(item.input_size, item.kernel, item.stride, item.padding, strict=True))
    explanation = ch.explanation(options)
    if options or ch.verdict == "unread":
        exam_answer, verdict = ch.exam_answer(options), ch.verdict
    else:  # an item that asks for the size itself: its spec's arithmetic states it
        exam_answer = "{} × {}".format(*item.output_size())
        verdict = "agrees" if (h, w) == item.output_size() else "disagrees"
    if verdict == "disagrees":
        offered = "" if not options or ch.computed else ", which no option offers"
        explanation = f"nn.Conv2d gives {h} × {w}{offered}. {explanation or 'Stated: ' + exam_answer + '.'}"
    notes = []
    if read and options != spec_options:
        notes.append(f"The exam text offers {', '.join(options)} where Version A as printed (dlexam.spec) offers "
                     f"{', '.join(spec_options)}.")
    return Answer(
        id="P1.4",
        question=f"Output of {_conv_item_text(item)}",
        exam_answer=exam_answer,
        computed=(f"nn.Conv2d(kernel_size={item.kernel}, stride={item.stride}"
                  + ("" if item.padding == (0, 0) else f", padding={item.padding}")
                  + f") on {item.input_size[0]}x{item.input_size[1]} gives {h} × {w}"),
        verdict=verdict,
        explanation=explanation,
        evidence={**ch.evidence(), "output_shape": list(out.shape),
                  "options": [{"option": i + 1, "text": o, "shape": None if s is None else list(s), "holds": holds[i]}
                              for i, (o, s) in enumerate(zip(options, shapes, strict=True))],
                  "options_source": "read from the exam text" if read else "the spec (dlexam.spec)",
                  "formula": f"floor((N - F) / S) + 1: rows {rows}, columns {cols}"},
        notes=notes,
        exam_quotes=[P14_STEM, P14_SOLUTION] if stated else [],
    )
