"""A variant as PrairieLearn questions: one folder per question, whose server.py draws new variants itself.

PrairieLearn gives each question of an assessment its own variant seed (there is no seed shared by an assessment's
questions), so each folder's draw is its own. A Problem's questions share one setting on paper (Problem 2's model,
its weights and its training example; Problem 1's network), and Pr2.3 and Pr2.4 build on what Pr2.2 computes: so
each Problem is one PrairieLearn question holding its parts (:func:`groups`), which share one draw, as on paper,
each part headed with its points and each field's element weighted by its points. Pr2.5 stands alone (its seeds are
the verified ones, below), and says so; each Part 1 question is one question.

``questions/dlexam-<difficulty>-<id>/`` (``Pr1``, ``Pr2``, ``Pr2-5``, ``P1-1``) holds ``info.json`` (uuid, type
v3, title, topic), ``question.html`` (pl-matrix-component-input, pl-number-input, pl-multiple-choice,
pl-rich-text-editor for an essay; each element named after its field's answer id, ``Pr2_2_S`` for ``Pr2.2.S``, or
where the fields' names are drawn by its position, ``Pr1_2_layer1`` for Pr1.2's first layer: :data:`BY_POSITION`) and
``server.py``. ``courseInstances/dlexam/assessments/dlexam-<difficulty>/infoAssessment.json`` is the exam made of
them: each question's points split into ``autoPoints`` (the fields server.py grades) and ``manualPoints`` (its
essays, graded by a person), from the fields' points (:func:`dlexam.variants.model.points_split`). Its
``generate()`` draws a variant from PrairieLearn's seed with dlexam's own generator, and ``grade()`` reads and
scores the typed numbers by dlexam's grader's own rule (``variants/typed.py``, copied: exact, or the double nearest
the key written out in full; a loss within its tolerance), where PrairieLearn's own comparison of numbers is by
tolerance. The generator is dlexam's torch-free part (the spec, the draw, the exact solution and the exact checks),
copied into ``serverFilesCourse/dlexam/``: the one implementation, shipped beside the questions. The checks that
need torch (the float64 model, autograd, PyTorch's layers) do not run there. Over 1,000 seeds they refused a draw
that the exact checks had passed only for Pr2.5 (gradients_decide: about 2% of accepted exact draws have a gradient
that vanishes structurally, which only autograd sees), so Pr2.5's folder deals only seeds that dlexam verified with
every check at export time (``SEEDS``, those whose exact-only variant is the fully checked one), with the gradients
autograd gave for each (``GRADIENTS``: Pr2.5's key is computed from them, and the torch-free generator leaves Pr2.5
out without them); the other folders draw any seed, which is why Pr2.5 is not a part of Problem 2's question (it
would deal Problem 2 from those 24 seeds alone).
"""

from __future__ import annotations

import functools
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from html import escape
from pathlib import Path

from dlexam.plain import dumps
from dlexam.variants.documents import PARTS, option_label
from dlexam.variants.model import Question, Variant, points_split, points_weights
from dlexam.variants.typed import KEY_PLACES

PACKAGE = Path(__file__).resolve().parents[2]  # src/dlexam
VENDORED = ("__init__.py", "errors.py", "limits.py", "bounds.py", "spec/__init__.py", "spec/numbers.py", "spec/cnn.py",
            "spec/transformer.py", "spec/part1.py", "spec/exam.py", "geoff/exact.py", "geoff/positions.py",
            "variants/__init__.py", "variants/build.py", "variants/checks.py", "variants/draw.py", "variants/model.py",
            "variants/part1.py", "variants/problem1.py", "variants/problem2.py", "variants/problem2_setting.py",
            "variants/problem2_mistakes.py", "variants/problem2_gradients.py", "variants/documents.py",
            "variants/typed.py")
GEOFF_STUB = '"""dlexam.geoff, as vendored for PrairieLearn: only its torch-free modules (exact.py, positions.py)."""\n'

SERVER = '''"""dlexam's {title}: PrairieLearn's server.py, by `dlexam variant --format prairielearn`.

generate() draws one new variant of the exam from PrairieLearn's seed with dlexam's generator (vendored in
serverFilesCourse/dlexam: the spec, the draw, the exact solution and its exact checks) and keeps this question's
parts, {ids}: all of them about that one draw, as on paper; grade() scores the typed answers against the key as
`dlexam grade` does (dlexam/variants/typed.py, vendored too).
"""

import random
from dataclasses import replace
from fractions import Fraction
from html import escape

from dlexam.variants.build import make_variant, questions_of
from dlexam.variants.documents import html
from dlexam.variants.grade_exact import exact_score
from dlexam.variants.model import points_split, points_weights
from dlexam.variants.typed import key_decimal

GROUP = "{group}"
QUESTIONS = {questions}  # the exam's questions this PrairieLearn question holds, in order
DIFFICULTY = "{difficulty}"
EXPORTED_SEED = {seed}  # the variant this folder was exported from, checked by dlexam with every check
SEEDS = {seeds}  # None: any seed; else the seeds dlexam verified with every check (the torch ones too)
# Pr2.5: seed -> the gradients autograd gave for its weights at export time, which its key is computed from
GRADIENTS = {gradients}
# the share of the points graded by a person, as infoAssessment.json splits them (autoPoints, manualPoints):
# generate() deals only variants whose questions split their points the same way
MANUAL_SHARE = Fraction("{manual_share}")
# question.html's answer fields, (answer id, element name, kind, weight) in its order, as the exported variant has
# them: its elements are named for them, so generate() deals only variants with the same fields (names())
FIELDS = {fields}
# the questions whose fields' names are drawn (Pr1.2's are its layers': AvgPool-1 with average pooling, MaxPool-1 with
# max pooling): their elements are named by position, so any draw fits question.html, its labels from params
BY_POSITION = {by_position}
DRAWS = 100  # seeds tried for one with that split and those fields before generate() gives up


def slot(qid):
    """A question's key in params (Pr2.2 -> Pr2_2: question.html's mustache reads a dot as a path)."""
    return qid.replace(".", "_")


def manual_share(qs):
    auto, manual = points_split(qs)
    return manual / (auto + manual)


def axes(f):
    """What a matrix's rows and columns are ("Rows: 4 <START>, 5 A. Columns: A, B, <START>, <STOP>."), said above its
    grid: pl-matrix-component-input draws the inputs bare, where the paper, Moodle and Canvas head them."""
    return " ".join(f"{{what}}: {{', '.join(labels)}}." for what, labels in (("Rows", f.row_labels),
                                                                           ("Columns", f.col_labels)) if labels)


def names(qs):
    """Each answer field of the draw `qs` -> its element's answers-name in question.html, field by field in order; None
    if the draw's fields are not question.html's (another field, kind or weight; a name other than the exported one
    but in BY_POSITION's questions)."""
    weights = points_weights(qs)
    drawn = [(q, f) for q in qs for f in q.fields]
    if len(drawn) != len(FIELDS):
        return None
    out = {{}}
    for (q, f), (aid, name, kind, weight) in zip(drawn, FIELDS):
        same = aid.startswith(q.id + ".") if q.id in BY_POSITION else aid == q.answer_id(f)
        if not same or (f.kind, weights[q.answer_id(f)]) != (kind, weight):
            return None
        out[q.answer_id(f)] = name
    return out


def questions(seed):
    """This question's parts, as the variant of `seed` has them."""
    v = make_variant(seed, DIFFICULTY, computed=False)
    qs = v.questions if GRADIENTS is None else questions_of(replace(v.draw, gradients=GRADIENTS[seed]))
    return [q for qid in QUESTIONS for q in qs if q.id == qid]


def generate(data):
    for _ in range(DRAWS):
        seed = random.getrandbits(31) if SEEDS is None else random.choice(SEEDS)  # PrairieLearn seeds random
        qs = questions(seed)
        if manual_share(qs) == MANUAL_SHARE and names(qs) is not None:
            break
    else:
        raise RuntimeError(f"{{GROUP}}: no variant in {{DRAWS}} draws gives a person {{MANUAL_SHARE}} of its "
                           "points, as the assessment does, with the answer fields of question.html: export the "
                           "questions again")
    data["params"]["seed"] = seed
    data["params"]["setting"] = html(qs[0].context)  # the problem's setting, once: every part is about it
    data["params"]["prompts"] = {{slot(q.id): html(q.prompt) for q in qs}}
    data["params"]["solution"] = "\\n".join(
        (f"<h4>{{escape(q.id)}} {{escape(q.title)}}</h4>\\n" if len(qs) > 1 else "") + html(q.solution) for q in qs)
    named = names(qs)
    for q in qs:
        for f in q.fields:
            name = named[q.answer_id(f)]
            if q.id in BY_POSITION:  # the label the element shows: the drawn field's name (a layer's)
                data["params"].setdefault("labels", {{}})[name] = f"{{f.name}} ="
            if f.kind == "choice":
                # not params[name]: pl-multiple-choice keeps its own answers there and refuses a name params has
                data["params"].setdefault("choices", {{}})[name] = [{{"text": o, "correct": i + 1 == f.answer}}
                                                                  for i, o in enumerate(f.options)]
            elif f.kind == "matrix":
                data["correct_answers"][name] = [[float(x) for x in r] for r in f.answer]
                data["params"].setdefault("axes", {{}})[name] = axes(f)
            elif f.kind == "number":
                # a loss: the key as written, the centre of the window grade() scores by (typed.window)
                data["correct_answers"][name] = float(f.answer) if f.exact else float(key_decimal(f.answer))


def grade(data):
    qs = questions(data["params"]["seed"])
    exact_score(qs, data, names(qs))
'''

GRADE_EXACT = '''"""Exact grading for the PrairieLearn export: typed numbers read and scored as `dlexam grade` does.

Every typed number is read by dlexam/variants/typed.py (copied from dlexam, the one rule of dlexam's grader):
ASCII digits, a sign, a point, an exponent within +-400, a/b, at most 64 characters. Anything else ("2_16", "٢",
"1e999999999") is wrong, never evaluated, and data["feedback"]["unreadable"] says why, in dlexam's words. A number
read is scored by the same file's scores(), as dlexam's grader scores it: an exact key (a number or a matrix cell)
takes the fraction or the double nearest it written out in full (0.14285714285714285 for 1/7), a loss any number
within its tolerance. A blank input (every element allows one) is nothing typed and scores 0, whatever number the
element parsed it as (its blank-value: 0, which is a key of 0).
"""

from dlexam.variants.model import points_weights
from dlexam.variants.typed import UnreadableAnswer, read_text, scores


def typed(data, name, i=None, j=None, columns=None):
    """What the student typed: the raw text where PrairieLearn keeps it, else the parsed number.

    pl-matrix-component-input names the input of row i, column j (from 0) of a matrix with `columns` columns
    name + str(columns * i + j + 1): its cells counted row by row from 1 ("S1" .. "S49" for 7x7), not by row and
    column ("S12" is row 1, column 5 of a 7x7 matrix, counting from 0)."""
    raw = data.get("raw_submitted_answers", {{}})
    key = name if i is None else f"{{name}}{{columns * i + j + 1}}"
    if key in raw:
        return str(raw[key])  # "" for a blank input (allow-blank): nothing typed, which scores 0
    value = data.get("submitted_answers", {{}}).get(name)
    if value == "":  # pl-number-input's blank with blank-value "": nothing typed
        return None
    if value is not None and i is not None:
        if isinstance(value, dict):  # the parsed matrix, as prairielearn.to_json stores an ndarray
            value = value.get("_value")
        try:
            value = value[i][j]
        except (IndexError, KeyError, TypeError):
            return None
    return None if value is None else repr(value)


def fraction(text, where=None, unreadable=None):
    """The typed text as an exact Fraction by dlexam's rule; None if nothing is typed or it is no number (then, with
    `unreadable`, "where: why" is appended to it)."""
    if text is None or not text.strip():
        return None
    try:
        return read_text(text)
    except UnreadableAnswer as bad:
        if unreadable is not None:
            unreadable.append(f"{{where}}: {{bad}}")
        return None


def exact_score(questions, data, names=None):
    """Score each matrix and number field of `questions` (a Question, or a list of them: one PrairieLearn question's
    parts) with partial credit per matrix cell; PrairieLearn's elements score the rest. `names`: answer id -> the
    element's answers-name (None: the field's name, for one question).

    Each number and matrix cell is scored by typed.scores, dlexam's grader's comparison: an exact key also takes the
    double nearest it written out in full, and a number with a tolerance is scored within it (as pl-number-input's
    relabs comparison with rtol 0 would). Every entry of partial_scores carries the weight
    question.html gives its element (points_weights: the fields' points as whole numbers), so the total is
    PrairieLearn's weighted mean on one scale.
    """
    qs = list(questions) if isinstance(questions, (list, tuple)) else [questions]
    weights = points_weights(qs)
    unreadable = []
    for q, f in ((q, f) for q in qs for f in q.fields):
        aid = q.answer_id(f)
        name = f.name if names is None else names[aid]
        said = f.name if len(qs) == 1 else aid  # a part's field by its answer id, where the question has parts
        if f.kind == "matrix":
            cells = [(i, j) for i in range(len(f.answer)) for j in range(len(f.answer[0]))]
            columns = len(f.answer[0])
            scored = 0
            for i, j in cells:
                where = f"{{said}}, row {{f.row_labels[i] if f.row_labels else i + 1}}, column " + (
                    f.col_labels[j] if f.col_labels else str(j + 1))
                got = fraction(typed(data, name, i, j, columns), where, unreadable)
                scored += scores(got, f.answer[i][j])
            data["partial_scores"][name] = {{"score": scored / len(cells), "weight": weights[aid]}}
        elif f.kind == "number":
            ok = scores(fraction(typed(data, name), said, unreadable), f.answer, f.tolerance)
            data["partial_scores"][name] = {{"score": float(ok), "weight": weights[aid]}}
    if unreadable:
        data.setdefault("feedback", {{}})["unreadable"] = unreadable
    parts = [(p.get("score") or 0.0, p.get("weight", 1)) for p in data["partial_scores"].values()]
    total = sum(w for _, w in parts)
    data["score"] = sum(s * w for s, w in parts) / total if total else 0.0
'''


VERIFIED_SEEDS = 24  # how many fully checked seeds Pr2.5's folder deals


@functools.lru_cache(maxsize=4)
def verified_seeds(difficulty: str, n: int = VERIFIED_SEEDS) -> tuple[int, ...]:
    """Seeds whose variant with only the exact checks is the one every check accepts (the same draw)."""
    from dlexam.variants.build import make_variant

    out, seed = [], 0
    while len(out) < n:
        if len(make_variant(seed, difficulty).attempts) == len(make_variant(seed, difficulty, computed=False).attempts):
            out.append(seed)
        seed += 1
    return tuple(out)


VERIFIED_ONLY = ("Pr2.5",)  # questions dealt from verified seeds alone: each a PrairieLearn question of its own


@dataclass(frozen=True)
class Group:
    """One PrairieLearn question: a Problem's questions together (one draw for all its parts, as on paper), a Part 1
    question alone, or a question of VERIFIED_ONLY alone."""

    key: str  # "Pr2", "Pr1", "P1.1", "Pr2.5"
    questions: tuple[Question, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)

    def title(self) -> str:
        first, last = self.questions[0], self.questions[-1]
        if len(self.questions) == 1:
            return f"{first.id} {first.title}"
        part = next(name for prefix, name in PARTS if first.id.startswith(prefix))
        return f"{part} ({first.id}-{last.id})"


def groups(v: Variant) -> list[Group]:
    """The variant's PrairieLearn questions, in the exam's order: each Problem's questions (but VERIFIED_ONLY's) as
    one, each Part 1 question and each of VERIFIED_ONLY as one."""
    out: list[Group] = []
    for q in v.questions:
        key = q.id if q.id.startswith("P1.") or q.id in VERIFIED_ONLY else q.id.split(".")[0]
        if out and out[-1].key == key:
            out[-1] = Group(key, (*out[-1].questions, q))
        else:
            out.append(Group(key, (q,)))
    return out


def question_uuid(v: Variant, g: Group) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dlexam:prairielearn:{v.difficulty}:{g.key}"))


def question_id(v: Variant, g: Group) -> str:
    """The question's folder under questions/, which is its id (QID) in an assessment."""
    return f"dlexam-{v.difficulty}-{g.key.replace('.', '-')}"


# question id -> the stem its elements are named by with their position, for the questions whose fields' names are
# drawn: Pr1.2's are its layers' (Conv-1, AvgPool-1 ... with average pooling, Conv-1, MaxPool-1 ... with max pooling),
# so its elements are Pr1_2_layer1 ... Pr1_2_layer4 and fit either; the label each shows comes from params
BY_POSITION = {"Pr1.2": "layer"}


def element_name(answer_id: str) -> str:
    """A field's answers-name in question.html: its answer id with letters, digits and _ only (Pr2.2.S: Pr2_2_S;
    pl-matrix-component-input names its cells Pr2_2_S1, Pr2_2_S2, ...)."""
    return re.sub(r"[^A-Za-z0-9]", "_", answer_id)


def element_names(q: Question) -> list[str]:
    """The answers-names of `q`'s fields in order: by answer id, or by position in BY_POSITION's questions
    (Pr1_2_layer1 for Pr1.2's first layer, whatever the layer is called)."""
    if q.id in BY_POSITION:
        return [element_name(f"{q.id}.{BY_POSITION[q.id]}{k}") for k in range(1, len(q.fields) + 1)]
    return [element_name(q.answer_id(f)) for f in q.fields]


POINT_DECIMALS = 2  # a split that is no finite decimal of this many places is rounded to it (none is, today)


def platform_points(auto: Fraction, manual: Fraction) -> dict[str, int | float]:
    """``autoPoints`` and ``manualPoints`` of an assessment slot, a part left out where it is 0 (PrairieLearn takes
    either alone). Whole points are written as integers and others as decimals (its schema's points are numbers
    >= 0); a split with more than POINT_DECIMALS places has its manual part rounded to them and the rest given to
    the automatic part, so the two still add up to the question's points exactly as decimals."""
    total = auto + manual
    if (manual * 10**POINT_DECIMALS).denominator != 1:
        manual = Fraction(round(manual * 10**POINT_DECIMALS), 10**POINT_DECIMALS)
        auto = total - manual

    def number(x: Fraction) -> int | float:
        return int(x) if x.denominator == 1 else float(x)  # a float of at most POINT_DECIMALS places, read back

    out: dict[str, int | float] = {}
    if auto or not manual:
        out["autoPoints"] = number(auto)
    if manual:
        out["manualPoints"] = number(manual)
    return out


def assessment(v: Variant) -> dict:
    """infoAssessment.json: an Exam of the variant's PrairieLearn questions (:func:`groups`) in the exam's order, a
    zone per part, each question's points split between what server.py grades and what a person grades (its
    essays)."""
    zones = []
    for prefix, name in PARTS:
        slots = [{"id": question_id(v, g), **platform_points(*points_split(g.questions))}
                 for g in groups(v) if g.ids[0].startswith(prefix)]
        if slots:
            zones.append({"title": name, "questions": slots})
    return {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dlexam:prairielearn:assessment:{v.difficulty}")),
            "type": "Exam", "title": f"Deep Learning exam, dlexam variants ({v.difficulty})", "set": "Exam",
            "number": v.difficulty, "shuffleQuestions": False, "zones": zones}


COURSE_INSTANCE = "courseInstances/dlexam"


def course_instance() -> dict:
    """infoCourseInstance.json of the course instance the assessment comes in (no access rules: staff only)."""
    return {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "dlexam:prairielearn:course-instance")),
            "longName": "dlexam: Deep Learning exam variants"}


def question_fields(g: Group) -> list[tuple[str, str, str, int]]:
    """The answer fields question.html has elements for, (answer id, element name, kind, weight): server.py's
    FIELDS."""
    weights = points_weights(g.questions)
    out = [(q.answer_id(f), name, f.kind, weights[q.answer_id(f)])
           for q in g.questions for f, name in zip(q.fields, element_names(q), strict=True)]
    if len({name for _, name, _, _ in out}) != len(out):
        raise ValueError(f"{g.key}: two answer fields with one element name")
    return out


HELP_EXAMPLE = Fraction(1, 7)  # the help's example of an exact answer with no finite decimal


def help_text(f) -> str:
    """What question.html says under a number or matrix input about what scores, true to grade_exact.py's rule
    (typed.scores): PrairieLearn's own help for rtol 0 and atol 0 promises an answer "accurate to within relative
    tolerance 0 and absolute tolerance 0", where the double nearest the key written out in full scores too."""
    if f.kind == "number" and not f.exact:
        return (f"Scores if within {f.tolerance:g} of the answer rounded to {KEY_PLACES} decimal places (the answer "
                f"rounded to 4 decimals is).")
    x = HELP_EXAMPLE
    rounded = f"{float(x):.4f}"
    return (f"Exact answers: a fraction ({x.numerator}/{x.denominator}) or a decimal equal to the answer (0.25 for "
            f"1/4); a rounded decimal ({rounded} for {x.numerator}/{x.denominator}) scores nothing. As a program "
            f"prints it, the double nearest the answer written out in full ({float(x)!r} for {x.numerator}/"
            f"{x.denominator}) scores too; an answer of 0 takes 0 alone.")


def shared_setting(g: Group) -> str:
    """What question.html says, above the setting, of the draw its parts share (PrairieLearn gives every question of
    an assessment a variant of its own): "" for a Part 1 question, which has no setting."""
    first = g.questions[0]
    if not first.context:
        return ""
    if len(g.questions) > 1:
        # infoAssessment.json gives autoPoints one number: on an Exam, one graded submission for all the parts;
        # every element allows a blank (question_html), so a blank part scores 0 and holds back none of the others
        return (f"Parts {first.id} to {g.questions[-1].id} below are one question here, as on paper: every part is "
                "about the one setting below, drawn for you, and each is marked with its own points. The parts are "
                "graded together, once: a part you leave blank scores 0, and the others are graded.")
    return (f"{first.id} has a setting of its own here, drawn apart from the other questions of its problem: the "
            "setting below is all it is about, whatever the other questions showed.")


def question_html(g: Group) -> str:
    out = ["<pl-question-panel>"]
    if said := shared_setting(g):
        out.append(f"  <p><b>{escape(said)}</b></p>")
    out += ["  {{{params.setting}}}", "</pl-question-panel>", ""]
    names = {aid: name for aid, name, _, _ in question_fields(g)}
    weights = points_weights(g.questions)  # the same weights grade_exact.py writes into partial_scores
    for q in g.questions:
        if len(g.questions) > 1:  # outside the panels: the submission and answer panels show it too
            out += [f"<h4>{escape(q.id)} {escape(q.title)} ({q.points} points)</h4>", ""]
        out += ["<pl-question-panel>", f"  {{{{{{params.prompts.{q.id.replace('.', '_')}}}}}}}", "</pl-question-panel>",
                ""]
        for f in q.fields:
            name, weight = names[q.answer_id(f)], weights[q.answer_id(f)]
            # a field whose name is drawn (Pr1.2's layers) shows the dealt one, which server.py puts in params
            label = f"{{{{params.labels.{name}}}}}" if q.id in BY_POSITION else f"{f.name} ="
            if f.kind == "matrix":
                # the grid's rows and columns named above it (server.py's axes(): the element draws no headers);
                # rtol and atol 0: the element's own help (it shows one always) named the defaults, 1% and 1e-8
                # allow-blank: a blank cell is no format error (which would hold back the whole submission's
                # grading); the element reads it as its blank-value 0, server.py from its raw text "": it scores 0
                out += [f"<p><small>{{{{params.axes.{name}}}}}</small></p>",
                        f'<pl-matrix-component-input answers-name="{name}" label="{label}" weight="{weight}" '
                        'comparison="relabs" rtol="0" atol="0" allow-fractions="true" allow-blank="true">'
                        '</pl-matrix-component-input>',
                        f"<p><small>{escape(help_text(f))}</small></p>"]
            elif f.kind == "number":
                tol = "0" if f.exact else f"{f.tolerance:g}"
                # show-help-text false: the element's help would say rtol 0 and atol 0; help_text says what scores.
                # allow-blank with blank-value "": a blank stays "" (the default blank-value, 0, is a key of 0)
                out += [f'<pl-number-input answers-name="{name}" label="{label}" weight="{weight}" '
                        f'comparison="relabs" rtol="0" atol="{tol}" allow-fractions="true" show-help-text="false" '
                        'allow-blank="true" blank-value="" '
                        f'placeholder="{"number" if f.exact else "number, 4 decimals"}"></pl-number-input>',
                        f"<p><small>{escape(help_text(f))}</small></p>"]
            elif f.kind == "choice":
                item = option_label(q, f)  # "(a)", "(b)": the prompt asks both items, and each element answers one
                out += [f"<p>{escape(item)}</p>"] * bool(item) + [
                        f'<pl-multiple-choice answers-name="{name}" weight="{weight}" order="fixed" '
                        'allow-blank="true">',  # none chosen: wrong, not a format error
                        f"  {{{{#params.choices.{name}}}}}<pl-answer correct=\"{{{{correct}}}}\">{{{{text}}}}"
                        f"</pl-answer>{{{{/params.choices.{name}}}}}",
                        "</pl-multiple-choice>"]
            else:  # an essay: graded by a person
                out.append(f'<pl-rich-text-editor file-name="{name}.html" allow-blank="true"></pl-rich-text-editor>')
            out.append("")
    if any(f.kind in ("matrix", "number") for q in g.questions for f in q.fields):
        # why a typed number was not read (grade_exact.py)
        out += ["<pl-submission-panel>", "  {{#feedback.unreadable}}<p>{{.}}</p>{{/feedback.unreadable}}",
                "</pl-submission-panel>", ""]
    out += ["<pl-answer-panel>", "  {{{params.solution}}}", "</pl-answer-panel>", ""]
    return "\n".join(out)


def prairielearn(v: Variant) -> dict[str, bytes]:
    """The files of the export, by path relative to the course folder."""
    from dlexam.variants.build import make_variant
    files: dict[str, bytes] = {}
    for name in VENDORED:
        files[f"serverFilesCourse/dlexam/{name}"] = (PACKAGE / name).read_bytes()
    files["serverFilesCourse/dlexam/geoff/__init__.py"] = GEOFF_STUB.encode()
    files["serverFilesCourse/dlexam/variants/grade_exact.py"] = GRADE_EXACT.format().encode()
    files[f"{COURSE_INSTANCE}/infoCourseInstance.json"] = (dumps(course_instance(), indent=2) + "\n").encode()
    files[f"{COURSE_INSTANCE}/assessments/dlexam-{v.difficulty}/infoAssessment.json"] = (
        dumps(assessment(v), indent=2) + "\n").encode()
    for g in groups(v):
        folder = f"questions/{question_id(v, g)}"
        # the assessment's autoPoints/manualPoints decide what is graded how; "Manual" only where nothing is automatic
        # (PrairieLearn then shows no "Save & Grade"; a question with auto points is graded by server.py either way)
        auto, manual = points_split(g.questions)
        info = {"uuid": question_uuid(v, g), "title": g.title(),
                "topic": next((q.topic for q in g.questions if q.topic), "deep learning"),
                "tags": ["dlexam", *g.ids, v.difficulty], "type": "v3",
                "gradingMethod": "Manual" if auto == 0 else "Internal"}
        files[f"{folder}/info.json"] = (dumps(info, indent=2) + "\n").encode()
        files[f"{folder}/question.html"] = question_html(g).encode()
        verified = any(qid in VERIFIED_ONLY for qid in g.ids)
        seeds = list(verified_seeds(v.difficulty)) if verified else None
        gradients = None if seeds is None else {s: make_variant(s, v.difficulty).draw.gradients for s in seeds}
        files[f"{folder}/server.py"] = SERVER.format(title=g.title(), group=g.key,
                                                     ids=", ".join(g.ids), questions=g.ids,
                                                     difficulty=v.difficulty, seed=v.seed, seeds=seeds,
                                                     gradients=gradients, manual_share=manual / (auto + manual),
                                                     fields=question_fields(g),
                                                     by_position=sorted(set(BY_POSITION) & set(g.ids))).encode()
    return files
