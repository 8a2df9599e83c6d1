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

import dataclasses
import math
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from dlexam.errors import UserError
from dlexam.serve import params as p
from dlexam.serve.guard import read_body
from dlexam.serve.params import BadRequest

CACHE_SIZE = 256
MAX_CACHED_BODY = 4096  # bytes: a POST body longer than this (not one the page sends) is answered uncached
MAX_JSON_BODY = 64 * 1024  # bytes: a query with every matrix edited is about 1 kB
COMPUTE = anyio.CapacityLimiter(2)  # at most two computations at once (two cores); the event loop stays free
# The fields of a Geoff query (geoff_query; a second name is the same field's other spelling), and of a step
GEOFF_FIELDS = ("sequence", "seq", "temperature", "T", "heads", "loss", "gradients", "grad", "convention", "weights",
                "gradient_of", "variant", "difficulty")
STEP_FIELDS = ("lr", "matrices")


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


def query_fields(request: Request, *allowed: str) -> None:
    """Refuse a query-string field the endpoint does not take (:func:`params.known`), or one given twice
    (:func:`params.once`)."""
    where = f"{request.method} {request.url.path}'s query string"
    p.known(request.query_params, allowed, where)
    p.once(request.query_params.multi_items(), where)


def body_fields(request: Request, body: Mapping, *allowed: str) -> None:
    """Refuse a JSON body's field the endpoint does not take (:func:`params.known`)."""
    p.known(body, allowed, f"{request.method} {request.url.path}'s body")


def pick(src: Mapping, *names: str, default: Any = None) -> tuple[str, Any]:
    """The one of `names` present in `src` (a query string may say T for temperature): (name, value); two of them
    (seq and sequence) are refused, not one of them dropped."""
    given = [name for name in names if name in src]
    if len(given) > 1:
        raise BadRequest(given[1], f"{given[0]} and {given[1]} are one field: give one of them")
    return (given[0], src[given[0]]) if given else (names[0], default)


def kind_of(value: Any) -> str:
    """What a JSON value is, in a refusal's words: text, a number, an object, null, true or false, a list."""
    return ("null" if value is None else "text" if isinstance(value, str) else "true or false"
            if isinstance(value, bool) else "a number" if isinstance(value, int | float) else "an object"
            if isinstance(value, dict) else "a list" if isinstance(value, list) else type(value).__name__)


def shape_problem(value: Any, shape: tuple[int, int]) -> str | None:
    """How `value` differs from a list of shape[0] rows of shape[1] entries ("2 rows", "row 4 with 2 entries", "row 4
    as text"), or None where it has that shape."""
    if not isinstance(value, list):
        return kind_of(value)
    if len(value) != shape[0]:
        return f"{len(value)} row{'s' * (len(value) != 1)}"
    for i, r in enumerate(value):
        if not isinstance(r, list):
            return f"row {i + 1} as {kind_of(r)}"
        if len(r) != shape[1]:
            return f"row {i + 1} with {len(r)} entr{'y' if len(r) == 1 else 'ies'}"
    return None


def matrix(name: str, value: Any, shape: tuple[int, int]) -> list[list[float]]:
    """A JSON matrix of the given shape, every entry a finite number (the library checks its size) or a number as
    text (:func:`typed_weight`: "1/3", the double nearest the fraction); a refusal says what the request gave instead
    (a multi_W_O of 2 rows was "must be a 4x4 list of rows of numbers" alone)."""
    problem = shape_problem(value, shape)
    if problem is not None:
        raise BadRequest(f"weights.{name}", f"{name} must be a {shape[0]}x{shape[1]} list of rows of numbers, got "
                                            f"{problem}")
    value = [[typed_weight(name, i, j, v) if isinstance(v, str) else v for j, v in enumerate(row)]
             for i, row in enumerate(value)]
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


def typed_weight(name: str, i: int, j: int, text: str) -> float:
    """A weight typed as text, such as the page's cell "1/3": read by the one reader of typed numbers
    (:func:`dlexam.variants.typed.read_text`: a decimal, or a/b, exactly) and given to the model as the double nearest
    that number (float(Fraction(1, 3)), what torch has for 1/3 in float64). Refused naming the cell: text that is no
    number ("1/0", "1/", "a/b"), a number past the model's cap, or one that is not 0 but which float64 reads as 0."""
    from dlexam.geoff.weights import MAX_WEIGHT
    from dlexam.variants.typed import UnreadableAnswer, read_text

    cell = f"{name} row {i + 1}, column {j + 1}"
    try:
        f = read_text(text)
    except UnreadableAnswer as exc:
        raise BadRequest(f"weights.{name}", f"{cell}: {exc}") from None
    shown = text.strip()
    if abs(f) > MAX_WEIGHT:
        raise BadRequest(f"weights.{name}", f"{cell}: {shown} is too large: a weight lies between -{MAX_WEIGHT:.0e} "
                                            f"and {MAX_WEIGHT:.0e}".replace("e+0", "e"))
    if f != 0 and float(f) == 0:
        raise BadRequest(f"weights.{name}", f"{cell}: {shown} is too small for a float64 number, which reads it as 0")
    return float(f)


def model_of(src: Mapping):
    """The weights and example a request's model has: Version A's, or with ``variant`` (and ``difficulty``) the
    variant's transformer (`dlexam variant --seed N`)."""
    from dlexam import geoff

    if not has_variant(src):
        if "difficulty" in src:
            raise BadRequest("difficulty", "difficulty goes with variant: give the variant's seed too")
        return geoff.EXAM_WEIGHTS, geoff.EXAM_EXAMPLE
    t = variant_of(src).spec.transformer
    return geoff.GeoffWeights.from_spec(t), " ".join(t.example)


def has_variant(src: Mapping) -> bool:
    """Whether a request names a variant: drawing one takes ~0.1-0.5 s the first time, too long for the event loop
    (with --workers 0 it runs in a thread)."""
    return src.get("variant") not in (None, "")


def variant_of(src: Mapping, name: str = "variant"):
    """The variant a request names: its seed in the field `name` (``variant``; /practice's ``seed``) and
    ``difficulty`` (standard unless given)."""
    from dlexam.variants import make_variant
    from dlexam.variants.draw import DIFFICULTIES

    seed = p.seed(name, src.get(name))
    difficulty = p.choice("difficulty", src.get("difficulty", "standard"), tuple(DIFFICULTIES))
    with p.field(name):
        return make_variant(seed, difficulty)


def weights(value: Any, base=None, heads: int | None = None):
    """Edited matrices (any subset of E, W_Q, W_K, W_V, W_O, multi_W_O); the others are `base`'s (Version A's). With
    `heads`, an edit of a matrix that run does not use (multi_W_O with one head: GeoffWeights.unused) is refused,
    naming it: it had been ignored without a word. The matrix as `base` has it is no edit (the page's step sends
    every matrix)."""
    from dlexam.geoff import EXAM_WEIGHTS, GeoffWeights

    base = EXAM_WEIGHTS if base is None else base
    if value is None or value == {}:
        return base
    if not isinstance(value, dict):
        raise BadRequest("weights", "weights must be an object {name: matrix}")
    shapes = base.shapes
    names = (*GeoffWeights.MATRICES, "multi_heads")
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise BadRequest("weights", f"unknown matrix {unknown[0]!r:.40}; edit {', '.join(names)}")
    edited = {name: matrix(name, m, shapes[name]) for name, m in value.items() if name != "multi_heads"}
    if "multi_heads" in value:
        edited["multi_heads"] = head_matrices(value["multi_heads"], base)
    for name, m in edited.items():
        if name != "multi_heads":
            with p.field(f"weights.{name}"):
                base.replace(**{name: m})  # the library's own check (shape, finite, within +-1e6)
        why = None if heads is None else base.unused(name, heads)
        own = base.projections(base.heads) if name == "multi_heads" else getattr(base, name)
        if why is not None and _plain(own) != _plain(m):
            raise BadRequest(f"weights.{name}", f"weights.{name}: {why}: this edit would not be used; edit "
                             f"{'W_Q, W_K, W_V' if name == 'multi_heads' else 'W_O'} instead, or ask for the k heads")
    return base.replace(**edited)


def _plain(m: Any) -> Any:
    """A matrix, or heads' matrices, as nested lists (tuples and lists compare equal)."""
    return [_plain(r) for r in m] if isinstance(m, list | tuple) else m


def head_matrices(value: Any, base) -> tuple[tuple[list[list[float]], ...], ...]:
    """`weights.multi_heads`: the k heads' own W_Q, W_K, W_V, ``[{"W_Q": .., "W_K": .., "W_V": ..}, ...]`` (the
    spelling of GeoffWeights.to_json and of a step's answer), each matrix checked as every other (shape, finite;
    the cap by the library), a refusal naming the head and matrix: ``weights.multi_heads[1].W_K``."""
    k, shape = base.heads, base.shapes["W_Q"]
    if not isinstance(value, list) or len(value) != k:
        got = f"{len(value)} heads" if isinstance(value, list) else type(value).__name__
        raise BadRequest("weights.multi_heads", f"multi_heads must be a list of the model's {k} heads, each "
                                                f"{{W_Q, W_K, W_V}}, got {got}")
    from dlexam.geoff import GeoffWeights

    out = []
    for h, head in enumerate(value):
        where = f"multi_heads[{h}]"
        if not isinstance(head, dict) or set(head) != set(GeoffWeights.HEAD_MATRICES):
            have = sorted(head)[:5] if isinstance(head, dict) else type(head).__name__
            raise BadRequest(f"weights.{where}", f"{where} must be an object with W_Q, W_K and W_V (head {h + 1}'s "
                                                 f"own matrices), got {have}")
        mats = tuple(matrix(f"{where}.{n}", head[n], shape) for n in GeoffWeights.HEAD_MATRICES)
        for n, m in zip(GeoffWeights.HEAD_MATRICES, mats, strict=True):
            try:
                base.replace(**{n: m})  # the library's own check (finite, within +-1e6)
            except UserError as exc:
                raise BadRequest(f"weights.{where}.{n}", f"{where}.{n} (head {h + 1}'s {n}): {exc}") from None
        out.append(mats)
    return tuple(out)


def geoff_query(src: Mapping):
    """A GeoffQuery from query-string fields or a JSON body (a variant's model with ``variant``)."""
    from dlexam import geoff

    base, example = model_of(src)
    name, seq = pick(src, "seq", "sequence", default=example)
    seq = p.text(name, seq)
    with p.tokens(name, seq, base.vocab):
        geoff.parse_sequence(seq, base.vocab)
    t_name, t = pick(src, "temperature", "T", default="0")
    g_name, g = pick(src, "gradients", "grad", default=False)
    temperature = p.temperature(t_name, t)
    heads = p.whole("heads", src.get("heads", 1), (1, base.heads))
    loss = True if p.flag("loss", src.get("loss", False)) else None
    gradients = p.flag(g_name, g)
    convention = p.choice("convention", src.get("convention", "teacher_forcing"), geoff.CONVENTIONS)
    w = weights(src.get("weights"), base, heads)
    return geoff.GeoffQuery(
        sequence=seq, temperature=temperature, heads=heads, loss=loss, gradients=gradients, convention=convention,
        weights=w, gradient_of=p.names("gradient_of", src.get("gradient_of", list(geoff.PARAMETERS)), geoff.STEP_NAMES,
                                       weights=w, heads=heads),
    )


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


def step_settings(src: Mapping, query=None):
    """The gradient step's `lr` (0 < lr <= 100, default 0.1) and `matrices` (default W_Q, W_K, W_V, W_O; with the
    `query` the step is of, refused where they name a matrix its run does not use: multi_W_O with one head)."""
    from dlexam import geoff
    from dlexam.geoff.step import DEFAULT_LR, StepSettings

    lr = p.number("lr", src.get("lr", DEFAULT_LR), 0, 100)
    model = {} if query is None else {"weights": query.weights, "heads": query.heads}
    matrices = p.names("matrices", src.get("matrices", list(geoff.PARAMETERS)), geoff.STEP_NAMES, **model)
    return StepSettings(lr, tuple(matrices))


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
    from dlexam.geoff.weights import MAX_WEIGHT, axis_labels, matrix_labels
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
    })


async def get_geoff_defaults(request: Request) -> Response:
    query_fields(request, "variant", "difficulty")
    src = dict(request.query_params)
    return json_response(await answer(request, defaults_answer, src, small=not has_variant(src)))
