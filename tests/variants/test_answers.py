"""`dlexam answers --variant N`'s verdicts: every answer of a variant agrees with the computations (standard and
harder seeds), and a key with one wrong number is caught (the verdict can fail)."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import pytest

from dlexam.answers.variant import variant_answers
from dlexam.variants import make_variant


@pytest.mark.parametrize("seed, difficulty", [(0, "standard"), (7, "standard"), (3, "harder"), (11, "harder")])
def test_every_answer_agrees(seed, difficulty):
    answers = variant_answers(make_variant(seed, difficulty))
    assert [a.id for a in answers] == [q.id for q in make_variant(seed, difficulty).questions]
    assert all(a.verdict == "agrees" for a in answers), [(a.id, a.computed) for a in answers if a.verdict != "agrees"]


def tampered(v, qid: str, field: str, change):
    questions = []
    for q in v.questions:
        if q.id == qid:
            fields = tuple(dataclasses.replace(f, answer=change(f.answer)) if f.name == field else f for f in q.fields)
            q = dataclasses.replace(q, fields=fields)
        questions.append(q)
    return dataclasses.replace(v, questions=tuple(questions))


@pytest.mark.parametrize("qid, field, change", [
    ("Pr2.2", "P", lambda m: ((m[0][0] + Fraction(1, 2), *m[0][1:]), *m[1:])),
    ("Pr2.2", "S", lambda m: ((m[0][0] + Fraction(1, 2), *m[0][1:]), *m[1:])),  # S was never compared: the
    #                                                                   check read exact_run's S, not the key's
    ("Pr2.4", "R", lambda m: (*m[:-1], (m[-1][0] + 1, *m[-1][1:]))),
    ("Pr2.3", "loss", lambda x: x + 0.01),
    ("Pr1.3", "in_features", lambda x: x + 1),
    ("P1.4", "choice", lambda c: c % 4 + 1),
])
def test_a_wrong_key_disagrees(qid, field, change):
    v = tampered(make_variant(2), qid, field, change)
    (a,) = variant_answers(v, [qid])
    assert a.verdict == "disagrees" and a.explanation


@pytest.mark.parametrize("seed", [0, 3])
def test_pr2_5s_stated_answer_names_its_items_not_version_as_fields(seed):
    # variant 0 asks for the non-zero gradients and about the learning rate, variant 3 for the zero ones and about
    # softmax: Version A's field names ("zero", "softmax") fit only the second, the items' labels fit both
    v = make_variant(seed)
    (q,) = [q for q in v.questions if q.id == "Pr2.5"]
    (a,) = variant_answers(v, ["Pr2.5"])
    items = [f"{label} = {f.answer}: {f.options[f.answer - 1]}"
             for label, f in zip(("(a)", "(b)"), q.fields, strict=True)]
    assert a.exam_answer == "; ".join(items)


def test_pr2_1_speaks_of_the_specs_own_start_and_stop_tokens():
    # a spec names its start and stop tokens (TransformerSpec.start/stop); the key's Pr2.1 check of what a decoder
    # without positions can tell apart must use them, not Version A's "<START>"/"<STOP>" typed again
    v = make_variant(4)  # the reverse task: prefixes a bag cannot tell apart, so the check names some
    t = dataclasses.replace(v.spec.transformer, start="<GO>", stop="<END>")
    renamed = dataclasses.replace(v, spec=dataclasses.replace(v.spec, transformer=t))
    (a,) = variant_answers(renamed, ["Pr2.1"])
    conflict = a.evidence["bag_sufficiency"]["conflict"]
    tokens = {tok for prefix in conflict["prefixes"] for tok in prefix} | set(conflict["next"])
    assert "<GO>" in tokens and not tokens & {"<START>", "<STOP>"}, conflict
    assert "logits from <GO> on" in a.computed and "<START>" not in a.computed


def test_variant_confirms_its_key_before_it_writes_or_prints_it(tmp_path, monkeypatch, capsys):
    """`dlexam variant` checks its key by computation as it writes it (it had only been checked by `answers
    --variant` and the tests): a key the computation does not confirm is never written or printed."""
    from dlexam.cli import main
    from dlexam.commands import variant as command

    assert main(["variant", "--seed", "2", "--out", str(tmp_path / "ok"), "--format", "key"]) == 0
    questions = len(variant_answers(make_variant(2)))
    assert f"verified: the key of all {questions} questions confirmed by computation" in capsys.readouterr().out

    wrong = tampered(make_variant(2), "Pr2.3", "loss", lambda x: x + 0.01)
    monkeypatch.setattr("dlexam.variants.make_variant", lambda seed, difficulty="standard": wrong)
    for argv in (["--out", str(tmp_path / "bad")], ["--json"], ["--solution"]):
        with pytest.raises(RuntimeError, match=r"does not confirm the key of Pr2\.3"):
            main(["variant", "--seed", "2", *argv])
        assert capsys.readouterr().out == ""
    assert [p.name for p in (tmp_path / "bad").glob("*") if not p.name.startswith(".dlexam")] == []
    assert command.verified(make_variant(2)).to_dict() == {"questions": questions, "confirmed": questions,
                                                            "unconfirmed": []}
