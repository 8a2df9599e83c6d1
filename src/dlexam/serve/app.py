"""The Starlette application of `dlexam serve`: pages, the JSON API, static files, error answers.

Every page is a static HTML file of this package with its own script (``static/``): no build step,
no file from anywhere else. A page reads its state from its URL and asks the JSON API for numbers.
Any refusal is JSON ``{"error": message, "field": name}`` with a 4xx status; an unexpected failure
is a 500 with the same shape, and the server keeps serving.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dlexam.errors import UserError
from dlexam.serve import api_geoff, api_models, api_practice
from dlexam.serve.guard import LocalOnly
from dlexam.serve.params import BadRequest
from dlexam.serve.state import ServerState

STATIC = Path(__file__).resolve().parent / "static"
PAGES = ("geoff", "sort", "cnn", "answers", "practice")
log = logging.getLogger("dlexam.serve")


def page(name: str):
    async def endpoint(request: Request) -> Response:
        return FileResponse(STATIC / f"{name}.html", headers={"cache-control": "no-cache"})

    return endpoint


def error(status: int, message: str, field: str | None = None) -> Response:
    """The JSON refusal. The connection stays open, so a client still sending a body it was refused (413, 408) reads
    the answer; the rest of that body is discarded as it comes, and the connection closed after the idle timeout
    (dlexam.serve.connections)."""
    from dlexam.plain import dumps

    return Response(dumps({"error": message, "field": field}), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})


async def on_bad_request(request: Request, exc: BadRequest) -> Response:
    return error(exc.status, exc.message, exc.field)


async def on_user_error(request: Request, exc: UserError) -> Response:
    return error(400, str(exc))


async def on_http_error(request: Request, exc: HTTPException) -> Response:
    return error(exc.status_code, str(exc.detail))


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return error(500, f"internal error ({type(exc).__name__}); the server goes on serving")


def routes() -> list:
    return [
        Route("/", page("index")),
        *[Route(f"/{name}", page(name)) for name in PAGES],
        Route("/api/geoff", api_geoff.get_geoff, methods=["GET"]),
        Route("/api/geoff", api_geoff.post_geoff, methods=["POST"]),
        Route("/api/geoff/step", api_geoff.post_geoff_step, methods=["POST"]),
        Route("/api/geoff/defaults", api_geoff.get_geoff_defaults, methods=["GET"]),
        Route("/api/geoff/explain", api_geoff.geoff_explain, methods=["GET", "POST"]),
        Route("/api/sort", api_models.get_sort, methods=["GET"]),
        Route("/api/sort/models", api_models.get_sort_models, methods=["GET"]),
        Route("/api/svhn/predict", api_models.post_svhn_predict, methods=["POST"]),
        Route("/api/svhn/examples", api_models.get_svhn_examples, methods=["GET"]),
        Route("/api/svhn/example", api_models.get_svhn_example, methods=["GET"]),
        Route("/api/svhn/model", api_models.get_svhn_model, methods=["GET"]),
        Route("/api/svhn/model/explain", api_models.get_svhn_model_explain, methods=["GET"]),
        Route("/api/svhn/explain", api_models.post_svhn_explain, methods=["POST"]),
        Route("/api/practice", api_practice.get_practice, methods=["GET"]),
        Route("/api/practice/check", api_practice.post_practice_check, methods=["POST"]),
        Route("/api/answers", api_models.get_answers, methods=["GET"]),
        Route("/api/answers/links", api_models.get_answer_links, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(state: ServerState, *, port: int, extra_hosts: tuple[str, ...] = ()):
    """The ASGI app: the routes behind the Host/Origin guard (answers only to localhost on `port`)."""
    app = Starlette(routes=routes(), exception_handlers={
        BadRequest: on_bad_request, UserError: on_user_error, HTTPException: on_http_error, Exception: on_crash})
    app.state.dlexam = state
    return LocalOnly(app, port=port, extra_hosts=extra_hosts)
