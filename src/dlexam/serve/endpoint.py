"""What every JSON endpoint of `dlexam serve` does alike: the fields it takes, its job run, its JSON answer.

An endpoint (:mod:`dlexam.serve.api_geoff`, :mod:`dlexam.serve.api_models`, :mod:`dlexam.serve.api_practice`)
refuses a field it does not take (:func:`query_fields`, :func:`body_fields`), reads a JSON body of at most
:data:`MAX_JSON_BODY` bytes (:func:`dlexam.serve.guard.read_body`), and has its computation, a module-level job
``fn(state, *args) -> bytes``, run by :func:`answer`: on a worker process, on the event loop, or in a thread. The
bytes are strict JSON (:func:`to_json`, the CLI's --json), sent as ``no-store`` (:func:`json_response`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from dlexam.serve import params as p

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


def query_fields(request: Request, *allowed: str) -> None:
    """Refuse a query-string field the endpoint does not take (:func:`params.known`), or one given twice
    (:func:`params.once`)."""
    where = f"{request.method} {request.url.path}'s query string"
    p.known(request.query_params, allowed, where)
    p.once(request.query_params.multi_items(), where)


def body_fields(request: Request, body: Mapping, *allowed: str) -> None:
    """Refuse a JSON body's field the endpoint does not take (:func:`params.known`)."""
    p.known(body, allowed, f"{request.method} {request.url.path}'s body")

