"""The JSON API of /practice: a fresh exam variant to answer, and the check of typed answers.

- ``GET /api/practice?seed=N&difficulty=standard|harder``: :func:`dlexam.variants.practice.sheet` of
  ``make_variant(N, difficulty)`` (the variant of ``dlexam variant --seed N``): its parts, questions, answer fields
  and worked solution;
- ``POST /api/practice/check`` ``{"seed", "difficulty", "answers": {answer id: answer}}``:
  :func:`dlexam.variants.practice.check`, the grade of ``dlexam grade`` with the explanation of each wrong
  Problem 2 cell's right value. Nothing is kept on the server: the page keeps its progress in the browser.

Drawing a variant takes ~0.1-0.5 s the first time in a process (then it is cached), so these jobs never run on
the event loop (:func:`dlexam.serve.endpoint.answer` with ``small=False``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from dlexam.serve import params as p
from dlexam.serve.endpoint import MAX_JSON_BODY, answer, body_fields, json_response, query_fields, to_json
from dlexam.serve.guard import read_body
from dlexam.serve.params import BadRequest, variant_of

MAX_ANSWERS = 200  # answer ids in one check (a variant has about 25)


def sheet_answer(state, src: dict) -> bytes:
    from dlexam.variants.practice import sheet

    return to_json(sheet(variant_of(src, "seed")))


async def get_practice(request: Request) -> Response:
    query_fields(request, "seed", "difficulty")
    src = dict(request.query_params)
    if "seed" not in src:
        raise BadRequest("seed", "seed is missing: /api/practice?seed=N (a whole number >= 0)")
    return json_response(await answer(request, sheet_answer, src, small=False))


def check_answer(state, body: dict) -> bytes:
    from dlexam.variants.practice import check

    v = variant_of(body, "seed")
    answers = body.get("answers")
    if not isinstance(answers, dict) or len(answers) > MAX_ANSWERS:
        raise BadRequest("answers", "answers must be an object {answer id: answer}, such as {\"Pr2.2.P\": [[\"1\", "
                                    "\"0\"], ...], \"P1.4.choice\": 2}")
    with p.field("answers"):  # the grader names the answer id and what is wrong with it
        return to_json(check(v, answers))


async def post_practice_check(request: Request) -> Response:
    query_fields(request)
    body = p.json_body(await read_body(request, MAX_JSON_BODY))
    body_fields(request, body, "seed", "difficulty", "answers")
    return json_response(await answer(request, check_answer, body, small=False))
