"""The PrairieLearn export's assessment splits each question's points between the automatic grader and a person.

Oracles: the exam's points as printed (typed in below from the exam text, "2. (8 points)" ...), times the weights
of each question's essay fields summed here; for Version A by hand: Pr2.1 (5 points) is 2 for the choice and 3
for the essay, Pr1.1 (5 points) 3 for the receptive field and 2 for the essay on pooling. The keys are checked by
hand against PrairieLearn's documentation (docs/assessment/configuration.md, its slot table and the rules under
"Question points for Exam assessments"; docs/manualGrading/index.md): its JSON schemas are AGPL-licensed, so they
are not vendored here (the export was validated against them once, see docs/variants.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from fractions import Fraction

import pytest

from dlexam.spec import ExamSpec
from dlexam.variants import exports, make_variant, part1
from dlexam.variants.build import gradients_of, questions_of
from dlexam.variants.draw import Draw
from dlexam.variants.exports.prairielearn import platform_points
from dlexam.variants.model import Field, Question, Text, Variant

from .test_exports import course, without_torch

# the exam's points, as printed next to each question number (the ones a variant asks)
PRINTED = {"P1.1": 4, "P1.4": 4, "P1.6": 4, "Pr1.1": 5, "Pr1.2": 5, "Pr1.3": 10, "Pr1.4": 5,
           "Pr2.1": 5, "Pr2.2": 8, "Pr2.3": 5, "Pr2.4": 4, "Pr2.5": 3}
# PrairieLearn's questions: each Problem's questions as one (they share one draw, as on paper), Pr2.5 and each Part 1
# question alone
SLOTS = {"P1-1": ("P1.1",), "P1-4": ("P1.4",), "P1-6": ("P1.6",), "Pr1": ("Pr1.1", "Pr1.2", "Pr1.3", "Pr1.4"),
         "Pr2": ("Pr2.1", "Pr2.2", "Pr2.3", "Pr2.4"), "Pr2-5": ("Pr2.5",)}
SLOT_KEYS = {"id", "autoPoints", "manualPoints"}  # what the export writes; "points" may not stand beside them, and
#                                                   an Exam allows neither maxPoints nor maxAutoPoints
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def version_a() -> Variant:
    """Version A as a variant: its spec, the options in the exam's own order, Pr2.5's gradients from autograd."""
    a = ExamSpec.version_a()
    orders = {"P1.1": tuple(range(len(part1.p11_claims(a)))), "P1.6": tuple(range(len(part1.p16_claims(a))))}
    d = Draw(a, orders=orders)
    d = replace(d, gradients=gradients_of(d))
    return Variant(seed=0, difficulty="standard", spec=a, questions=tuple(questions_of(d)), draw=d)


VARIANTS = {"Version A": version_a, "seed 0": lambda: make_variant(0), "seed 1": lambda: make_variant(1),
            "seed 7": lambda: make_variant(7), "seed 23": lambda: make_variant(23),
            "harder seed 3": lambda: make_variant(3, "harder")}


def exported(v: Variant) -> tuple[dict, dict[str, dict]]:
    """The export's infoAssessment.json and each question folder's info.json, parsed."""
    files = exports.prairielearn(v)
    (path,) = [k for k in files if k.endswith("infoAssessment.json")]
    assert path == f"courseInstances/dlexam/assessments/dlexam-{v.difficulty}/infoAssessment.json"
    infos = {k.split("/")[1]: json.loads(data) for k, data in files.items()
             if k.startswith("questions/") and k.endswith("/info.json")}
    assert "courseInstances/dlexam/infoCourseInstance.json" in files
    return json.loads(files[path]), infos


def exact(x) -> Fraction:
    """A JSON number as the decimal it is written as."""
    assert isinstance(x, int | float) and not isinstance(x, bool) and x >= 0
    return Fraction(str(x))


@pytest.mark.parametrize("name", VARIANTS)
def test_every_question_splits_its_printed_points_by_its_essays_weight(name):
    v = VARIANTS[name]()
    info, infos = exported(v)
    assert set(info) >= {"uuid", "type", "title", "set", "number"} and UUID.fullmatch(info["uuid"])
    assert info["type"] == "Exam" and info["set"] == "Exam" and info["shuffleQuestions"] is False
    slots = [s for zone in info["zones"] for s in zone["questions"]]
    assert [s["id"] for s in slots] == [f"dlexam-{v.difficulty}-{k}" for k in SLOTS]
    assert set(infos) == {s["id"] for s in slots}  # every slot names an exported question folder, and back
    for key, slot in zip(SLOTS, slots, strict=True):
        assert set(slot) <= SLOT_KEYS and ("autoPoints" in slot or "manualPoints" in slot), slot
        auto, manual = exact(slot.get("autoPoints", 0)), exact(slot.get("manualPoints", 0))
        essays = sum(PRINTED[q.id] * f.points for q in v.questions if q.id in SLOTS[key] for f in q.fields
                     if f.kind == "essay")
        assert manual == essays, (name, key, slot)
        assert auto + manual == sum(PRINTED[qid] for qid in SLOTS[key]), (name, key, slot)
        # a question with automatic points is graded by server.py ("Manual" would hide its Save & Grade)
        assert infos[slot["id"]]["gradingMethod"] == ("Manual" if auto == 0 else "Internal")


def test_version_a_by_hand():
    """Problem 2's question (Pr2.1-Pr2.4: 5 + 8 + 5 + 4 = 22 points): Pr2.1's essay 'why' is 3 of them, the rest
    automatic; Problem 1's (5 + 5 + 10 + 5 = 25): Pr1.1's essay on pooling 2; every other question is graded
    automatically in full."""
    info, _ = exported(version_a())
    slots = {s["id"].split("-", 2)[2]: s for zone in info["zones"] for s in zone["questions"]}
    assert slots["Pr2"] == {"id": "dlexam-standard-Pr2", "autoPoints": 19, "manualPoints": 3}
    assert slots["Pr1"] == {"id": "dlexam-standard-Pr1", "autoPoints": 23, "manualPoints": 2}
    rest = {k: s for k, s in slots.items() if k not in ("Pr2", "Pr1")}
    assert rest == {k: {"id": s["id"], "autoPoints": PRINTED[k.replace("-", ".")]} for k, s in rest.items()}
    assert sum(exact(s.get("autoPoints", 0)) + exact(s.get("manualPoints", 0)) for s in slots.values()) == 62


def question(points: int, essay: Fraction) -> Question:
    fields = [Field("a", "choice", 1, 1 - essay, options=("x", "y"))] if essay < 1 else []
    fields += [Field("b", "essay", "model answer", essay)] if essay else []
    return Question("Q", "t", points, (Text("?"),), tuple(fields), ())


def test_splits_that_are_not_whole_points():
    """PrairieLearn's points are numbers >= 0, so halves stay exact; a third is rounded to 2 decimals on the manual
    side and the automatic side takes the rest, so the two still add up to the points as written."""
    assert platform_points(*question(5, Fraction(1, 2)).points_split()) == {"autoPoints": 2.5, "manualPoints": 2.5}
    assert platform_points(*question(5, Fraction(1, 3)).points_split()) == {"autoPoints": 3.33, "manualPoints": 1.67}
    assert platform_points(*question(5, Fraction(2, 3)).points_split()) == {"autoPoints": 1.67, "manualPoints": 3.33}
    assert platform_points(*question(4, Fraction(1)).points_split()) == {"manualPoints": 4}
    assert platform_points(*question(4, Fraction(0)).points_split()) == {"autoPoints": 4}
    for essay in (Fraction(1, 3), Fraction(2, 7), Fraction(5, 9)):
        split = platform_points(*question(7, essay).points_split())
        assert exact(split["autoPoints"]) + exact(split["manualPoints"]) == 7


PL_SHARES = r'''
import json, random, sys
sys.path[:0] = ["serverFilesCourse", "questions/dlexam-standard-" + sys.argv[1]]
import server
if len(sys.argv) > 2:
    server.MANUAL_SHARE = server.Fraction(sys.argv[2])  # an assessment that splits the points otherwise
out = []
for seed in range(3):
    random.seed(seed)
    data = {"params": {}, "correct_answers": {}, "submitted_answers": {}, "raw_submitted_answers": {},
            "partial_scores": {}}
    try:
        server.generate(data)
    except RuntimeError as exc:
        out.append(str(exc))
        continue
    qs = server.questions(data["params"]["seed"])
    essays = sum((q.points * f.points for q in qs for f in q.fields if f.kind == "essay"), server.Fraction(0))
    out.append(str(essays / sum(q.points for q in qs)))
print(json.dumps({"out": out, "torch": "torch" in sys.modules}))
'''


def test_prairielearn_deals_only_variants_split_as_the_assessment(tmp_path):
    """Each question folder's generate() (no torch) deals variants whose essays carry the share of the points that
    infoAssessment.json gives manualPoints, and refuses, in one line, to deal any other."""
    files = course(tmp_path)
    info = json.loads(files["courseInstances/dlexam/assessments/dlexam-standard/infoAssessment.json"])
    slots = {s["id"]: s for zone in info["zones"] for s in zone["questions"]}
    for key in ("Pr2", "Pr1", "P1-4"):
        slot = slots[f"dlexam-standard-{key}"]
        share = exact(slot.get("manualPoints", 0)) / sum(PRINTED[qid] for qid in SLOTS[key])
        assert without_torch(PL_SHARES, tmp_path, key)["out"] == [str(share)] * 3
    refused = without_torch(PL_SHARES, tmp_path, "Pr2", "1/2")["out"]
    assert refused == ["Pr2: no variant in 100 draws gives a person 1/2 of its points, as the assessment does, "
                       "with the answer fields of question.html: export the questions again"] * 3
