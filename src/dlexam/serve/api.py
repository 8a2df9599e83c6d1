"""The JSON API of Geoff's transformer (Problem 2): /api/geoff, /api/geoff/step, /api/geoff/defaults.

``GET /api/geoff`` answers with exactly what ``dlexam geoff --json`` prints for the same query (both
call :func:`dlexam.geoff.analyse` and write :func:`dlexam.plain.dumps` of ``report.to_json()``);
``POST /api/geoff`` does the same with edited weights. ``?exact=1`` adds one key, ``"exact"``: the
same tree with every number written by :func:`dlexam.exact.format_exact` (``1/7``, ``9/7``), which
is what the page displays. ``POST /api/geoff/step`` is :func:`dlexam.geoff.gradient_step`.

Answers are cached (LRU, :data:`CACHE_SIZE` queries, :class:`AnswerCache`): an answer is a deterministic
function of the request, and the page asks the same query again each time a control comes back to a value.
The cache is keyed by the request's own bytes (the query string, and the body of a POST), so a repeated
query is answered on the event loop without parsing, a worker thread or any computation.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from dlexam.serve import params as p
from dlexam.serve.guard import read_body
from dlexam.serve.params import BadRequest

CACHE_SIZE = 256
MAX_CACHED_BODY = 4096  # bytes: a POST body longer than this (not one the page sends) is answered uncached
MAX_JSON_BODY = 64 * 1024  # bytes: a query with every matrix edited is about 1 kB
COMPUTE = anyio.CapacityLimiter(2)  # at most two computations at once (two cores); the event loop stays free


async def compute(fn, *args):
    """Run a CPU-bound library call in the worker threads, off the event loop."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=COMPUTE)


async def answer(request: Request, job, *args, small: bool = True, budget_s: float = 0.0) -> bytes:
    """The bytes of ``job(state, *args)``, a module-level function of this package returning JSON bytes.

    With worker processes (``--workers N``, :mod:`dlexam.serve.workers`) the next idle worker computes it, within
    ``--job-timeout`` plus `budget_s` seconds (the job's own budget, from its size).
    Without, a `small` job (a few ms: Geoff's transformer on at most 64 tokens, one drawn digit) runs on the
    event loop itself: handing it to a thread costs more than the work (the thread hop and two threads
    contending for the interpreter lock took the server's CPU per uncached request from 2.8 ms to 4.7 ms,
    docs/serve.md); a large one (a photo of megapixels) runs in a thread.
    """
    state = request.app.state.dlexam
    if state.pool is not None:
        return await state.pool.run(state, job, *args, budget_s=budget_s)
    if small:
        return job(state, *args)
    return await compute(job, state, *args)


def to_json(x: Any, **kwargs) -> bytes:
    """Strict JSON bytes, as :func:`dlexam.plain.dumps` writes them (the CLI's --json)."""
    from dlexam.plain import dumps

    return dumps(x, **kwargs).encode()


def json_response(body: bytes | str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


def pick(src: Mapping, *names: str, default: Any = None) -> tuple[str, Any]:
    """The first of `names` present in `src` (a query string may say T for temperature): (name, value)."""
    for name in names:
        if name in src:
            return name, src[name]
    return names[0], default


def matrix(name: str, value: Any, shape: tuple[int, int]) -> list[list[float]]:
    """A JSON matrix of the given shape, every entry a finite number (the library checks its size)."""
    ok = isinstance(value, list) and len(value) == shape[0] and all(
        isinstance(r, list) and len(r) == shape[1] for r in value)
    if not ok:
        raise BadRequest(f"weights.{name}", f"{name} must be a {shape[0]}x{shape[1]} list of rows of numbers")
    out = []
    for i, row in enumerate(value):
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BadRequest(f"weights.{name}", f"{name} row {i + 1}, column {j + 1}: type a number (got "
                                                    f"{'an empty cell' if v is None else repr(v)[:40]})")
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if not math.isfinite(f):
                raise BadRequest(f"weights.{name}", f"{name} entries must be finite numbers within +-1e6")
        out.append([float(v) for v in row])
    return out


def weights(value: Any):
    """Edited matrices (any subset of E, W_Q, W_K, W_V, W_O, multi_W_O); the others are the exam's."""
    from dlexam.geoff import EXAM_WEIGHTS, GeoffWeights

    if value is None:
        return EXAM_WEIGHTS
    if not isinstance(value, dict):
        raise BadRequest("weights", "weights must be an object {name: matrix}")
    shapes = EXAM_WEIGHTS.shapes
    unknown = sorted(set(value) - set(shapes))
    if unknown:
        raise BadRequest("weights", f"unknown matrix {unknown[0]!r:.40}; edit {', '.join(GeoffWeights.MATRICES)}")
    edited = {name: matrix(name, m, shapes[name]) for name, m in value.items()}
    for name, m in edited.items():
        with p.field(f"weights.{name}"):
            EXAM_WEIGHTS.replace(**{name: m})  # the library's own check (shape, finite, within +-1e6)
    return EXAM_WEIGHTS.replace(**edited)


def geoff_query(src: Mapping):
    """A GeoffQuery from query-string fields or a JSON body."""
    from dlexam import geoff

    name, seq = pick(src, "seq", "sequence", default=geoff.EXAM_EXAMPLE)
    seq = p.text(name, seq)
    with p.tokens(name, seq, geoff.VOCAB):
        geoff.parse_sequence(seq)
    t_name, t = pick(src, "temperature", "T", default="0")
    g_name, g = pick(src, "gradients", "grad", default=False)
    return geoff.GeoffQuery(
        sequence=seq, temperature=p.temperature(t_name, t),
        heads=p.whole("heads", src.get("heads", 1), (1, geoff.EXAM_WEIGHTS.heads)),
        loss=True if p.flag("loss", src.get("loss", False)) else None,
        gradients=p.flag(g_name, g),
        convention=p.choice("convention", src.get("convention", "teacher_forcing"), geoff.CONVENTIONS),
        weights=weights(src.get("weights")),
        gradient_of=p.names("gradient_of", src.get("gradient_of", list(geoff.PARAMETERS)),
                            (*geoff.STEPPABLE, "multi_W_O")),
    )


def exact_tree(x: Any) -> Any:
    """`x` with every number written as :func:`dlexam.exact.format_exact` writes it."""
    from dlexam.exact import format_exact

    if isinstance(x, dict):
        return {k: exact_tree(v) for k, v in x.items()}
    if isinstance(x, list):
        return [exact_tree(v) for v in x]
    if isinstance(x, int | float) and not isinstance(x, bool):
        return format_exact(x)
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
        out = await answer(request, geoff_answer, dict(src), exact_flag)  # parsed where it is computed
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
        report = geoff.analyse(query)
    out = report.to_json()
    if exact:
        out = {**out, "exact": exact_tree(plain(out))}
        if query.gradients and query.temperature not in (0, "sqrt"):  # the page's own T, beside Problem 2.5's two
            out["gradient_at_temperature"] = gradients_here(report.result)
    return to_json(out)


def gradients_here(result) -> dict:
    """Problem 2.5's table row for the query's own temperature: each matrix's gradient norm and whether it vanishes
    (as :func:`dlexam.geoff.compare_gradients` reports them at T = 0 and T = sqrt(d_k))."""
    from dlexam import geoff

    vanishes = geoff.vanishing_gradients(result)
    names = [k for k in result.gradients if k != "E"]  # W_Q, W_K, W_V and the output matrix (W_O or multi_W_O)
    return {"norms": {k: float(result.gradients[k].norm()) for k in names}, "vanishes": {k: vanishes[k] for k in names}}


async def get_geoff(request: Request) -> Response:
    key = ("GET", request.scope["query_string"])
    out = GEOFF_ANSWERS.get(key)
    if out is not None:  # the common case on the page: no parsing at all
        return json_response(out)
    src = request.query_params
    return await cached_geoff(request, key, src, src.get("exact", False))


async def post_geoff(request: Request) -> Response:
    raw = await read_body(request, MAX_JSON_BODY)
    key = ("POST", request.scope["query_string"], raw) if len(raw) <= MAX_CACHED_BODY else None
    out = GEOFF_ANSWERS.get(key) if key is not None else None
    if out is not None:
        return json_response(out)
    return await cached_geoff(request, key, p.json_body(raw), request.query_params.get("exact", False))


def step_answer(state, query, lr: float, matrices: tuple[str, ...]) -> bytes:
    from dlexam import geoff

    with p.field("seq"):
        return to_json(geoff.gradient_step(query, lr, matrices).to_json())


async def post_geoff_step(request: Request) -> Response:
    """One SGD step on the body's weights: {"lr", "matrices", and the /api/geoff fields}."""
    from dlexam import geoff

    body = p.json_body(await read_body(request, MAX_JSON_BODY))
    query = geoff_query(body)
    lr = p.number("lr", body.get("lr", 0.1), 0, 100)
    matrices = p.names("matrices", body.get("matrices", list(geoff.PARAMETERS)), (*geoff.STEPPABLE, "multi_W_O"))
    return json_response(await answer(request, step_answer, query, lr, matrices))


async def get_geoff_defaults(request: Request) -> Response:
    """What the page needs before its first query: the vocabulary, the exam's example and weights."""
    from dlexam import geoff
    from dlexam.plain import dumps

    return json_response(dumps({
        "vocab": list(geoff.VOCAB), "example": geoff.EXAM_EXAMPLE, "max_tokens": geoff.MAX_TOKENS,
        "weights": geoff.EXAM_WEIGHTS.to_json(), "shapes": {k: list(v) for k, v in geoff.EXAM_WEIGHTS.shapes.items()},
        "heads": geoff.EXAM_WEIGHTS.heads,
        "conventions": list(geoff.CONVENTIONS), "parameters": list(geoff.PARAMETERS),
        "steppable": list(geoff.STEPPABLE), "explanation": geoff.GRADIENT_EXPLANATION,
    }))
