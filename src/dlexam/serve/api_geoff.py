"""The JSON API of Geoff's transformer (Problem 2): /api/geoff, /api/geoff/step, /api/geoff/explain,
/api/geoff/defaults: each endpoint, the job that computes its answer, and the answers' cache.

``GET /api/geoff`` answers with exactly what ``dlexam geoff --json`` prints for the same query (both
call :func:`dlexam.geoff.analyse` and write :func:`dlexam.plain.dumps` of ``report.to_json()``);
``POST /api/geoff`` does the same with edited weights. ``?exact=1`` adds one key, ``"exact"``: the
same tree with every number written by :func:`dlexam.exact.format_exact` (``1/7``, ``9/7``), which
is what the page displays. ``POST /api/geoff/step`` is :func:`dlexam.geoff.gradient_step`.

Answers are cached (LRU, :data:`CACHE_SIZE` queries, :class:`AnswerCache`): an answer is a deterministic
function of the request, and the page asks the same query again each time a control comes back to a value.
The cache is keyed by the request's own bytes (the query string, and the body of a POST), so a repeated
query is answered on the event loop without parsing, a worker thread or any computation.

A request's fields are read into the library's values (:mod:`dlexam.serve.geoff_params`) inside its job, wherever
:func:`dlexam.serve.endpoint.answer` runs it (a worker, the event loop, or a thread).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from dlexam.errors import UserError
from dlexam.serve import params as p
from dlexam.serve.endpoint import MAX_JSON_BODY, answer, body_fields, json_response, query_fields, to_json
from dlexam.serve.geoff_params import GEOFF_FIELDS, STEP_FIELDS, geoff_query, model_of, step_settings
from dlexam.serve.guard import read_body
from dlexam.serve.params import BadRequest, has_variant, variant_of

CACHE_SIZE = 256
MAX_CACHED_BODY = 4096  # bytes: a POST body longer than this (not one the page sends) is answered uncached

# what softmax and backpropagation give: a non-zero number there is that number, never the exact 0 (dlexam.exact);
# at T > 0 also what softmax's weights mix (Z = P V, then R and the logits)
NOT_NOISE = frozenset({"attention", "loss", "gradients", "gradient_comparison", "gradient_at_temperature",
                       "temperature"})  # T = 1e-300 is no 0 (the exact view wrote "0", argmax's T, until 2026-12-07)
MIXED = frozenset({"Z", "R", "logits"})


def exact_tree(x: Any, keep_nonzero: bool = False, softmax: bool = False) -> Any:
    """`x` with every number written as :func:`dlexam.exact.format_exact` writes it (under a key of NOT_NOISE, and of
    MIXED in a run at T > 0, with ``keep_nonzero``: P = 9.4e-14 at T = 0.3 was written "0", and the gradient of W_Q at
    T = 0.2 "0" in every entry)."""
    from dlexam.exact import attention_rows, format_exact

    if isinstance(x, dict):
        t = x.get("temperature")
        run = "Z" in x and isinstance(t, int | float) and t > 0  # a run at T > 0 (the page's, or its one-head model)
        rows = run and "attention" in x and "scores" in x  # P at T > 0: written row by row (exact.attention_rows)
        return {k: attention_rows(v, x["scores"]) if rows and k == "attention" else
                exact_tree(v, keep_nonzero or k in NOT_NOISE or ((softmax or run) and k in MIXED), softmax or run)
                for k, v in x.items()}
    if isinstance(x, list):
        return [exact_tree(v, keep_nonzero, softmax) for v in x]
    if isinstance(x, int | float) and not isinstance(x, bool):
        return format_exact(x, keep_nonzero=keep_nonzero)
    return x


class AnswerCache:
    """The last CACHE_SIZE answers, keyed by the request's bytes. Used only on the event loop's thread, so it needs
    no lock. Raw bytes, not the parsed query, are the key: 0.0 and -0.0 are equal as floats but a weight of -0.0
    can print as -0.0, and only the bytes tell them apart."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._answers: OrderedDict[tuple, bytes] = OrderedDict()

    def get(self, key: tuple) -> bytes | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: tuple, answer: bytes) -> None:
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)


GEOFF_ANSWERS = AnswerCache()


async def cached_geoff(request: Request, key: tuple | None, src: Mapping, exact_flag: Any) -> Response:
    """The cached answer for `key`, else compute it from the fields `src` (:func:`answer`) and remember it."""
    out = GEOFF_ANSWERS.get(key) if key is not None else None
    if out is None:
        out = await answer(request, geoff_answer, dict(src), exact_flag,  # parsed where it is computed
                           small=not has_variant(src))
        if key is not None:
            GEOFF_ANSWERS.put(key, out)
    return json_response(out)


def geoff_answer(state, src: dict, exact_flag: Any) -> bytes:
    """The answer to the query in the fields `src` as JSON bytes: analyse(query).to_json(), with the exact strings
    if asked (BadRequest naming the field when a field is wrong)."""
    from dlexam import geoff
    from dlexam.plain import plain

    query, exact = geoff_query(src), p.flag("exact", exact_flag)
    with p.field("seq"):  # what analyse refuses is about the sequence (a loss needs a <START> ...)
        try:
            out = geoff.analyse(query).to_json()
        except UserError as no_loss:
            if not query.gradients:
                raise
            # gradients asked for (/geoff's box stays ticked) of a sequence that has no loss: its matrices are still
            # an answer, and `no_gradients` says why the gradients are not (a sequence the model refuses is refused)
            out = geoff.analyse(dataclasses.replace(query, gradients=False)).to_json()
            if out.get("loss") is not None:  # it has a loss: the refusal was of something else
                raise
            out["no_gradients"] = str(no_loss)
    if exact:
        out = {**out, "exact": exact_tree(plain(out))}
    return to_json(out)


async def get_geoff(request: Request) -> Response:
    key = ("GET", request.scope["query_string"])
    out = GEOFF_ANSWERS.get(key)
    if out is not None:  # the common case on the page: no parsing at all
        return json_response(out)
    src = request.query_params
    query_fields(request, *GEOFF_FIELDS, "exact")
    return await cached_geoff(request, key, src, src.get("exact", False))


async def post_geoff(request: Request) -> Response:
    raw = await read_body(request, MAX_JSON_BODY)
    key = ("POST", request.scope["query_string"], raw) if len(raw) <= MAX_CACHED_BODY else None
    out = GEOFF_ANSWERS.get(key) if key is not None else None
    if out is not None:
        return json_response(out)
    query_fields(request, "exact")
    body = p.json_body(raw)
    if "exact" in body:
        raise BadRequest("exact", "exact goes in the query string: POST /api/geoff?exact=1")
    body_fields(request, body, *GEOFF_FIELDS)
    return await cached_geoff(request, key, body, request.query_params.get("exact", False))



def step_answer(state, body: dict) -> bytes:
    from dlexam import geoff

    query = geoff_query(body)
    step = step_settings(body, query)
    with p.field("seq"):
        return to_json(geoff.gradient_step(query, step.lr, step.matrices).to_json())


async def post_geoff_step(request: Request) -> Response:
    """One SGD step on the body's weights: {"lr", "matrices", and the /api/geoff fields} (parsed where it is
    computed: a variant's model is drawn there)."""
    query_fields(request)
    body = p.json_body(await read_body(request, MAX_JSON_BODY))
    body_fields(request, body, *GEOFF_FIELDS, *STEP_FIELDS)
    return json_response(await answer(request, step_answer, body, small=not has_variant(body)))


def explain_answer(state, src: dict) -> bytes:
    """:func:`dlexam.geoff.explain.explain` of the cell ``cell`` of the query in `src` (a gradient step's result: of
    the step with the fields ``lr`` and ``matrices``, as POST /api/geoff/step takes them, on the query's weights)."""
    from dlexam.geoff.explain import Explainer

    query = geoff_query(src)
    step = step_settings(src, query)
    cell = src.get("cell")
    if not isinstance(cell, str) or not cell.strip():
        raise BadRequest("cell", "cell must name a number such as P[3,0] (geoff --explain's spelling, docs/serve.md)")
    cell = p.text("cell", cell, max_chars=200)
    with p.field("seq"):
        explainer = Explainer(query, step)
    with p.field("cell"):
        return to_json(explainer.explain(cell).to_json())


async def geoff_explain(request: Request) -> Response:
    """Where one number comes from: {the /api/geoff fields, "cell": "P[3,0]"} as a JSON body (POST) or a query
    string (GET)."""
    if request.method == "POST":
        query_fields(request)
        src = p.json_body(await read_body(request, MAX_JSON_BODY))
        body_fields(request, src, *GEOFF_FIELDS, *STEP_FIELDS, "cell")
    else:
        query_fields(request, *GEOFF_FIELDS, *STEP_FIELDS, "cell")
        src = dict(request.query_params)
    return json_response(await answer(request, explain_answer, src, small=not has_variant(src)))


def defaults_answer(state, src: dict) -> bytes:
    """What the page needs before its first query: the vocabulary, the example, the weights, their shapes, the
    names of their rows and columns (``labels``), and every matrix's axes (``matrix_axes``: name -> [row axis, column
    axis], dlexam.spec.transformer.MATRIX_AXES) with each axis's labels (``axes``; Version A's, or a variant's with
    ``variant``)."""
    from dlexam import geoff
    from dlexam.bounds import QUERY_TEMPERATURES
    from dlexam.geoff.weights import EMPTY_CELL, MAX_WEIGHT, axis_labels, matrix_labels
    from dlexam.spec.transformer import MATRIX_AXES

    w, example = model_of(src)
    return to_json({
        "vocab": list(w.vocab), "example": example, "max_tokens": geoff.MAX_TOKENS,
        "weights": w.to_json(), "shapes": {k: list(v) for k, v in w.shapes.items()},
        "labels": {k: [list(r), list(c)] for k, (r, c) in matrix_labels(w).items()},
        "axes": {k: list(v) for k, v in axis_labels(w).items()}, "matrix_axes": {k: list(v) for k, v in
                                                                                 MATRIX_AXES.items()},
        "heads": w.heads, "d_head": w.d_head,
        "variant": variant_of(src).seed if has_variant(src) else None,
        "difficulty": variant_of(src).difficulty if has_variant(src) else None,
        "conventions": list(geoff.CONVENTIONS), "parameters": list(geoff.PARAMETERS),
        # the library's one naming of each loss convention, which the page shows (dlexam geoff prints the same)
        "convention_words": {c: {"short": geoff.CONVENTION_SHORT[c], "rule": geoff.CONVENTION_RULES[c],
                                 "name": geoff.CONVENTION_NAMES[c]} for c in geoff.CONVENTIONS},
        "steppable": list(geoff.STEPPABLE), "explanation": geoff.GRADIENT_EXPLANATION, "max_weight": MAX_WEIGHT,
        "temperatures": QUERY_TEMPERATURES.words(),  # what T takes, in `dlexam geoff --temperature`'s words
        "empty_cell": EMPTY_CELL,  # after a weight cell's name (geoff.weights.cell_words), as the server says it
    })


async def get_geoff_defaults(request: Request) -> Response:
    query_fields(request, "variant", "difficulty")
    src = dict(request.query_params)
    return json_response(await answer(request, defaults_answer, src, small=not has_variant(src)))
