"""`dlexam answers --variant N`: a variant's key, each answer confirmed by the computations that check Version A.

For each question of the variant the key states the answer (exact, from :mod:`dlexam.variants`), the
evidence is computed now by the same machinery as Version A's key (the project's float64 transformer
:func:`dlexam.geoff.run_geoff` and its comparisons, nn.Conv2d and the pooling layers, torch.softmax and
argmax attention's tie rule, autograd), and the verdict says whether they agree. The answers are the
registry's :class:`Answer` objects, so the table, ``--question`` and ``--json`` show them as they show A's.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import torch

from dlexam import geoff
from dlexam.answers.registry import Answer, difference
from dlexam.cpu import torch_threads
from dlexam.errors import UserError
from dlexam.geoff.positions import bag_determines_next_token
from dlexam.variants.documents import answer_name, answer_text
from dlexam.variants.evidence import geoff_evidence, option_evidence, shape_evidence
from dlexam.variants.model import Question, Variant
from dlexam.variants.problem1 import receptive_field
from dlexam.variants.problem2 import SAME_OPTIONS, WISE_OPTIONS
from dlexam.variants.problem2_gradients import SOFTMAX_OPTIONS, claimed_zero
from dlexam.words import counted

TOL = 1e-12


def _max_diff(exact, floats) -> float:
    return max(abs(float(e) - f) for er, fr in zip(exact, floats, strict=True) for e, f in zip(er, fr, strict=True))


def _stated(q: Question) -> str:
    return "; ".join(f"{answer_name(q, f)} = {answer_text(f)}" for f in q.fields if f.kind != "essay")


def _answer(q: Question, computed: str, agree: bool, evidence: dict, why: str = "", kind: str = "") -> Answer:
    essays = [f for f in q.fields if f.kind == "essay"]
    return Answer(id=q.id, question=q.title, exam_answer=_stated(q) or "(essay)", computed=computed,
                  verdict="agrees" if agree else "disagrees",
                  explanation="" if agree else (why or "the computation does not confirm the key"),
                  evidence=evidence, notes=[f"{f.name}: an essay, for a person to grade; model answer: {f.answer}"
                                            for f in essays])


def _choices(v: Variant, q: Question, rows: list[dict]) -> Answer:
    order = v.draw.orders.get(q.id, tuple(range(len(rows))))  # P1.4's options are in the spec's order
    shown = [rows[i] for i in order]
    f = q.fields[0]
    want = f.answer
    asks_true = shown[want - 1]["expected"]  # the key's option is the odd one out: true, or false for P1.1
    picked = [i + 1 for i, r in enumerate(shown) if r["computed"] == asks_true]
    return _answer(q, f"options computed {'true' if asks_true else 'false'}: {picked} ("
                   + "; ".join(f"{i + 1}: {r['how']}" for i, r in enumerate(shown) if r["computed"] == asks_true)
                   + ")", picked == [want],
                   {"options": [{"option": i + 1, **r} for i, r in enumerate(shown)], "computed_answer": picked,
                    "key_answer": want})


def _receptive_field_by_autograd(spec) -> int:
    """The input window one unit of the last feature map sees, measured: the non-zero gradient of a central
    unit with respect to a larger input, through the layer table's convolutions (weights 1) and pools."""
    from torch import nn

    from dlexam.spec import Conv

    cnn = spec.cnn
    size = 4 * cnn.input_size[0]
    x = torch.zeros(1, cnn.input_channels, size, size, dtype=torch.float64, requires_grad=True)
    h = x + 1.0  # positive everywhere, so max pooling passes gradient through one path per window
    for layer in cnn.layers[:-1]:
        if isinstance(layer, Conv):
            m = nn.Conv2d(h.shape[1], layer.out_channels, layer.kernel, layer.stride, layer.padding,
                          dtype=torch.float64)
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        else:
            m = nn.AvgPool2d(layer.kernel, layer.stride, layer.padding)  # average: every input of a window counts
        h = m(h)
    c = h.shape[-1] // 2
    h[0, 0, c, c].backward()
    cols = (x.grad[0].abs().sum(0).sum(0) > 0).nonzero()
    return int(cols.max() - cols.min() + 1)


def variant_answers(v: Variant, ids: list[str] | None = None) -> list[Answer]:
    """Every question of variant `v` (or those in `ids`), its key confirmed by computation now."""
    wanted = [q.id for q in v.questions] if ids is None else ids
    unknown = [i for i in wanted if i not in {q.id for q in v.questions}]
    if unknown:
        raise UserError(f"variant {v.seed} has no question {unknown[0]}: its questions are "
                        + ", ".join(q.id for q in v.questions))
    with torch_threads(1):
        g = geoff_evidence(v.spec)
        options = option_evidence(v.draw)
        shapes = shape_evidence(v.spec)
        out = []
        for q in v.questions:
            if q.id in wanted:
                t0 = time.perf_counter()
                a = _one(v, q, g, options, shapes)
                a.seconds = round(time.perf_counter() - t0, 4)
                out.append(a)
    return out


@dataclass(frozen=True)
class Verification:
    """A variant's key checked by computation as it is written: the questions whose key the computation confirms
    and those it does not (a defect of dlexam's, never of the user's input)."""
    seed: int
    confirmed: tuple[str, ...]
    unconfirmed: tuple[str, ...]

    @property
    def questions(self) -> int:
        return len(self.confirmed) + len(self.unconfirmed)

    def to_dict(self) -> dict:
        return {"questions": self.questions, "confirmed": len(self.confirmed), "unconfirmed": list(self.unconfirmed)}


def verify_variant(v: Variant) -> Verification:
    """Every question of `v` confirmed by computation (:func:`variant_answers`), as `dlexam variant` does before it
    prints a key or a worked solution or writes them (tens of milliseconds once torch is loaded)."""
    answers = variant_answers(v)
    return Verification(seed=v.seed, confirmed=tuple(a.id for a in answers if a.verdict == "agrees"),
                        unconfirmed=tuple(a.id for a in answers if a.verdict != "agrees"))


def _one(v: Variant, q: Question, g: dict, options: dict, shapes: list[dict]) -> Answer:
    spec, t = v.spec, v.spec.transformer
    fields = {f.name: f for f in q.fields}
    if q.id in options:
        return _choices(v, q, options[q.id])
    if q.id == "Pr1.1":
        rf = _receptive_field_by_autograd(spec)
        return _answer(q, f"autograd: one unit of the last map sees a {rf}x{rf} input window",
                       rf == fields["rf"].answer == receptive_field(spec.cnn),
                       {"receptive_field_by_autograd": rf, "by_the_formula": receptive_field(spec.cnn)})
    if q.id in ("Pr1.2", "Pr1.3"):
        ok_params = all(r["torch_params"] == fields[r["layer"]].answer for r in shapes) if q.id == "Pr1.2" else True
        ok_shapes = q.id == "Pr1.2" or all(list(map(int, row)) == r["torch_shape"] for row, r in zip(
            fields["shapes"].answer, shapes, strict=True))
        flat = shapes[-1]["torch_shape"]
        ok_flat = q.id == "Pr1.2" or flat[0] * flat[1] * flat[2] == fields["in_features"].answer
        what = ("parameters " + ", ".join(f"{r['layer']} {r['torch_params']}" for r in shapes) if q.id == "Pr1.2"
                else "shapes " + ", ".join(f"{r['layer']} {r['torch_shape']}" for r in shapes)
                + f"; flattened {flat[0] * flat[1] * flat[2]}")
        return _answer(q, f"PyTorch's layers: {what}", ok_params and ok_shapes and ok_flat, {"layers": shapes})
    if q.id == "Pr1.4":
        c, h, w = shapes[-1]["torch_shape"]
        head = torch.nn.Conv2d(c, spec.cnn.num_classes, (h, w), device="meta")
        out_shape = list(head(torch.zeros(1, c, h, w, device="meta")).shape[1:])
        params = sum(p.numel() for p in head.parameters())
        agree = (out_shape == [spec.cnn.num_classes, 1, 1] and params == fields["params"].answer
                 and h == fields["kernel"].answer)
        return _answer(q, f"nn.Conv2d({c}, {spec.cnn.num_classes}, {h}x{w}) gives {out_shape} with {params} "
                       "parameters", agree, {"output_shape": out_shape, "params": params})
    return _problem2(q, t, g, fields, v.draw.remedy)


def _picked(f) -> str:
    """The text of a choice's keyed option (the options' order is the variant's own)."""
    return f.options[f.answer - 1]


def _problem2(q: Question, t, g: dict, fields: dict, remedy: str) -> Answer:
    one, multi = g["runs"][1], g["runs"][t.heads]
    if q.id == "Pr2.1":
        weights = geoff.GeoffWeights.from_spec(t)
        n = len(t.example_input)
        rest = list(t.example[n:])
        orders = sorted(set(itertools.permutations(t.example_input)))
        logits = [geoff.run_geoff(list(o) + rest, weights=weights).logits[n:] for o in orders]
        spread = max(float((x - logits[0]).abs().max()) for x in logits)
        bag = bag_determines_next_token(t.task, t.symbols, max_len=4, start=t.start, stop=t.stop)
        targets = {t.goal.target(o) for o in orders}
        # the model cannot see the order (spread 0), so it is a sound choice exactly when the task needs none
        wise = bag["conflicts"] == 0
        keyed_yes = _picked(fields["wise"]) == WISE_OPTIONS[0]
        agree = spread < TOL and keyed_yes == wise and (len(targets) == 1 or not wise)
        return _answer(q, f"run_geoff on all {len(orders)} orders of the input: logits from {t.start} on differ by "
                       f"{difference(spread)}; the orders have {counted(len(targets), 'distinct target')}; (bag, last "
                       f"token) fixes the next token with {counted(bag['conflicts'], 'conflict')}", agree,
                       {"orders": len(orders), "max_logit_difference": spread, "distinct_targets": len(targets),
                        "bag_sufficiency": bag})
    if q.id == "Pr2.2":
        dP = _max_diff(fields["P"].answer, one["P"])
        dS = _max_diff(fields["S"].answer, one["S"])  # the key's S itself (exact_run's S vs the model's is a check)
        return _answer(q, f"run_geoff(T=0): P and Q K^T equal the key's exact fractions (max difference "
                       f"{difference(max(dP, dS))})", max(dP, dS) < TOL,
                       {"max_difference_P": dP, "max_difference_S": dS, "computed_P": one["P"], "computed_S": one["S"]})
    if q.id == "Pr2.3":
        start = t.example.index(t.start)
        d = _max_diff(fields["logits"].answer, one["logits"][start:len(t.example) - 1])
        loss = one["model_loss"]
        agree = d < TOL and abs(loss - fields["loss"].answer) <= fields["loss"].tolerance
        return _answer(q, f"run_geoff: teacher-forcing loss {loss:.4f} (key {fields['loss'].answer:.4f}); logit rows "
                       f"max difference {difference(d)}", agree, {"loss": loss, "logits_max_difference": d})
    if q.id == "Pr2.4":
        d = _max_diff(fields["R"].answer, multi["R"])
        same = _max_diff(fields["R"].answer, one["R"]) < TOL
        loss = multi["model_loss"]
        agree = d < TOL and _picked(fields["same"]) == SAME_OPTIONS[0 if same else 1] and abs(
            loss - fields["loss"].answer) <= fields["loss"].tolerance
        return _answer(q, f"run_geoff with {t.heads} heads: R max difference {difference(d)}; R "
                       f"{'equals' if same else 'differs from'} the one-head R; loss {loss:.4f}", agree,
                       {"R_max_difference": d, "same_R": same, "loss": loss})
    zero = g["zero_at_T0"]
    options = fields["zero"].options
    picked = [i + 1 for i, o in enumerate(options) if claimed_zero(o) == set(zero)]  # either wording of (a)
    # (b)'s remedy: softmax at sqrt(d_head) (its own autograd run), or a larger learning rate (argmax's gradient)
    left = g["zero_at_sqrt"] if remedy == "softmax" else zero
    agree = picked == [fields["zero"].answer] and _picked(fields["softmax"]) == SOFTMAX_OPTIONS[1 if left else 0]
    return _answer(q, f"autograd: zero gradients at T = 0: {', '.join(zero) or 'none'}; at T = sqrt(d_head): "
                   f"{', '.join(g['zero_at_sqrt']) or 'none'}; (b) asks about {remedy}", agree,
                   {"gradient_norms": g["gradient_norms"], "zero_at_T0": zero, "zero_at_sqrt": g["zero_at_sqrt"],
                    "remedy": remedy})
