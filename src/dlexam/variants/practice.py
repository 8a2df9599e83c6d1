"""A variant as a practice sheet (the web page /practice): the questions to answer, the worked solution to show, and
a check of typed answers.

:func:`sheet` lays a variant out as data: its parts, each with the setting its questions share, and each question
with its prompt, its answer fields (kind, points, the labels of a matrix's rows and columns, a choice's options)
and its worked solution, every text block as :mod:`dlexam.variants.model` holds it. :func:`check` grades typed
answers with :func:`dlexam.variants.grade.grade` (the grader of `dlexam grade`) and adds, to each wrong cell or
number of Problem 2, the explanation of its right value by :mod:`dlexam.geoff.explain` (the arithmetic the /geoff
page shows when that number is clicked); the other answers carry the grader's one-line reason.
"""

from __future__ import annotations

from dlexam.variants.documents import PARTS, title
from dlexam.variants.grade import grade
from dlexam.variants.model import Block, Field, Items, Options, Question, Table, Text, Variant
from dlexam.variants.problem2 import geoff_cell


def block_json(b: Block) -> dict:
    if isinstance(b, Text):
        return {"kind": "text", "text": b.text}
    if isinstance(b, Table):
        return {"kind": "table", "caption": b.caption, "header": list(b.header), "rows": [list(r) for r in b.rows],
                "row_labels": list(b.row_labels)}
    if isinstance(b, Options):
        return {"kind": "options", "label": b.label, "options": list(b.options)}
    assert isinstance(b, Items)
    return {"kind": "items", "items": list(b.items)}


def field_json(q: Question, f: Field) -> dict:
    out = {"id": q.answer_id(f), "name": f.name, "kind": f.kind, "label": f.label,
           "points": float(f.points * q.points)}
    if f.kind == "matrix":
        out |= {"rows": len(f.answer), "cols": len(f.answer[0]), "row_labels": list(f.row_labels),
                "col_labels": list(f.col_labels)}
    if f.kind == "choice":
        out["options"] = list(f.options)
    if f.kind == "number" and not f.exact:
        out["tolerance"] = f.tolerance
    return out


def sheet(v: Variant) -> dict:
    """The variant for the practice page: parts (each with its shared setting once), questions, fields, solutions."""
    parts = []
    for prefix, name in PARTS:
        qs = [q for q in v.questions if q.id.startswith(prefix)]
        parts.append({"name": name, "context": [block_json(b) for b in (qs[0].context if qs else ())],
                      "questions": [{"id": q.id, "title": q.title, "points": q.points,
                                     "prompt": [block_json(b) for b in q.prompt],
                                     "fields": [field_json(q, f) for f in q.fields],
                                     "solution": [block_json(b) for b in q.solution]} for q in qs]})
    graded = sum(float(f.points * q.points) for q in v.questions for f in q.fields if f.kind != "essay")
    return {"seed": v.seed, "difficulty": v.difficulty, "title": title(v, False), "parts": parts,
            "max_score": graded, "points": sum(q.points for q in v.questions)}


def check(v: Variant, answers: dict) -> dict:
    """`answers` (answer id -> answer, as a submission) graded by :func:`grade`, as its JSON, with the explanation
    of the right value of each wrong Problem 2 cell or loss (``wrong[k]["explanation"]``: geoff.explain's JSON)."""
    g = grade(v, {"seed": v.seed, "difficulty": v.difficulty, **answers}).to_json()
    explainers: dict[int, object] = {}
    t = v.spec.transformer
    for f in g["fields"]:
        for w in f["wrong"]:
            cell = geoff_cell(t, f["id"], tuple(w["at"]) if "at" in w else None)
            if cell is None:
                continue
            name, heads = cell
            if heads not in explainers:
                explainers[heads] = _explainer(v, heads)
            w["explanation"] = explainers[heads].explain(name).to_json()
    return g


def _explainer(v: Variant, heads: int):
    """The explanations of the variant's transformer on its example at T = 0 (the setting of Problem 2)."""
    from dlexam.geoff import GeoffQuery, GeoffWeights
    from dlexam.geoff.explain import Explainer

    t = v.spec.transformer
    return Explainer(GeoffQuery(" ".join(t.example), 0.0, heads=heads, weights=GeoffWeights.from_spec(t)))
