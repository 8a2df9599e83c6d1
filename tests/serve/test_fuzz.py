"""What browsers and curious users send, found by fuzzing every endpoint in-process (2026-12-06): each of these was
answered wrongly before, and is now a 4xx naming its field (or the right answer).

- A JSON body nested a few hundred levels deep (well within the 64 KiB cap; json reads up to ~1,000) was a 500 with
  worker processes, the default: the server's pickle of the job for the worker ran out of recursion
  (``RecursionError: maximum recursion depth exceeded while pickling an object``); with ``--workers 0`` the same body
  was graded. No request of the pages nests more than 5 levels.
- A field given twice, in the query string (``?T=0.5&T=2``) or as a JSON object's key twice (``{"temperature": 0.5,
  "temperature": 2}``), was answered at the last value without a word, as the two spellings of one field (``seq`` and
  ``sequence``) had been before they were refused.
"""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlexam.serve import params as p

EXAMPLE = "D A A <START> A D <STOP>"


def nested(depth: int) -> str:
    return "[" * depth + '"1"' + "]" * depth


@pytest.mark.parametrize("depth", [17, 40, 300, 600, 950])
def test_a_body_nested_deeper_than_any_request_is_refused_naming_its_field(depth):
    """In-process: the body is refused where it is read, so no deep object reaches a worker's pickle."""
    for raw, field in [('{"seed": 1, "answers": {"Pr2.2.P": X}}', "answers"), ('{"weights": {"W_V": X}}',
                                                                                "weights.W_V"),
                       ('{"gradient_of": X}', "gradient_of"), ('{"heads": X}', "heads")]:
        with pytest.raises(p.BadRequest) as e:
            p.json_body(raw.replace("X", nested(depth)).encode())
        # nested as deep as json itself cannot read on this stack: "the body is not JSON" (as before), else the field
        named = "body" if "not JSON" in e.value.message else field
        assert e.value.status == 400 and e.value.field == named, (depth, raw, e.value.field, e.value.message)
        assert "nested" in e.value.message or "recursion" in e.value.message


def test_every_body_json_body_accepts_pickles_for_a_worker():
    """The oracle of the crash itself: whatever json_body accepts, pickle (the pipe to a worker) takes with most of the
    stack already in use (the server's handlers), as it is in the server."""
    import sys

    accepted = []
    for depth in range(1, 1000, 3):
        try:
            accepted.append(p.json_body(f'{{"answers": {{"x": {nested(depth)}}}}}'.encode()))
        except p.BadRequest:
            pass
    assert accepted

    def deep_call(n: int):
        return deep_call(n - 1) if n else [pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL) for b in accepted]

    deep_call(sys.getrecursionlimit() - 200)


def test_the_pages_deepest_body_is_still_read():
    """A practice check's matrix (body, answers, an id, rows, a cell: 4 levels) and a malformed answer a few levels
    deeper (graded as invalid, tests/serve/test_malformed.py) are read as before."""
    body = p.json_body(b'{"seed": 1, "answers": {"Pr2.2.P": [["1", "0"], ["1/2", ""]], "x": [[[[[[["1"]]]]]]]}}')
    assert body["answers"]["Pr2.2.P"][1] == ["1/2", ""]


@pytest.mark.parametrize(("raw", "field"), [
    (b'{"temperature": 0.5, "temperature": 2}', "temperature"),
    (b'{"sequence": "D A", "heads": 1, "sequence": "A B"}', "sequence"),
    (b'{"weights": {"W_V": [[0, 3], [1, 2], [2, 1], [3, 0]], "W_V": [[9, 9], [9, 9], [9, 9], [9, 9]]}}',
     "weights.W_V"),
    (b'{"seed": 1, "answers": {"P1.1.choice": 1, "P1.1.choice": 2}}', "answers"),
])
def test_a_json_key_given_twice_is_refused_naming_it(raw, field):
    with pytest.raises(p.BadRequest) as e:
        p.json_body(raw)
    assert e.value.status == 400 and e.value.field == field, (e.value.field, e.value.message)
    assert "twice" in e.value.message and "\n" not in e.value.message


# ---- through the real server (worker processes, the default) ------------------------------------------------------

def test_a_deep_body_is_a_400_with_worker_processes(server):
    """Before: 500 (RecursionError pickling the job) on every JSON endpoint that hands its body to a worker."""
    for path, raw, field in [("/api/practice/check", '{"seed": 1, "answers": {"Pr2.2.P": X}}', "answers"),
                             ("/api/geoff", '{"weights": {"W_V": X}}', "weights.W_V"),
                             ("/api/geoff/step", '{"variant": 1, "matrices": X}', "matrices"),
                             ("/api/geoff/explain", '{"variant": 1, "cell": X}', "cell")]:
        status, _, d = server.post(path, raw.replace("X", nested(600)).encode(),
                                   headers={"Content-Type": "application/json"})
        assert status == 400 and d["field"] == field, (path, status, d)
    status, _, d = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "cell": "P[3,0]"})
    assert status == 200 and d["exact"] == "1/4"


@pytest.mark.parametrize(("path", "field"), [
    ("/api/geoff?T=0.5&T=2", "T"), ("/api/geoff?seq=D+A+A&seq=A+B", "seq"),
    ("/api/geoff/explain?cell=P%5B3,0%5D&cell=P%5B4,0%5D", "cell"), ("/api/practice?seed=1&seed=2", "seed"),
    ("/api/sort?seq=A+B&vocab=A-D&vocab=A-Z", "vocab"), ("/api/svhn/model/explain?number=total&number=conv1.output",
                                                         "number"),
    ("/api/geoff/defaults?variant=1&variant=2", "variant"),
])
def test_a_query_field_given_twice_is_refused_naming_it(server, path, field):
    """Before: answered at the last value (T = 2, seed 2, vocabulary A-Z) without a word."""
    status, _, d = server.get(path)
    assert status == 400 and d["field"] == field and "twice" in d["error"], (path, status, d)


def test_a_body_field_given_twice_is_refused_by_the_server(server):
    status, _, d = server.post("/api/geoff", b'{"temperature": 0.5, "temperature": 2}',
                               headers={"Content-Type": "application/json"})
    assert status == 400 and d["field"] == "temperature", d


# ---- a property: no JSON body is a 5xx --------------------------------------------------------------------------

POSTS = {"/api/geoff": ("sequence", "temperature", "heads", "loss", "gradients", "convention", "weights", "gradient_of",
                        "variant", "difficulty"),
         "/api/geoff/step": ("sequence", "temperature", "heads", "weights", "lr", "matrices"),
         "/api/geoff/explain": ("sequence", "temperature", "heads", "weights", "lr", "matrices", "cell"),
         "/api/svhn/explain": ("image", "layer", "at"),
         "/api/practice/check": ("seed", "difficulty", "answers")}
SCALARS = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12) | st.sampled_from(["0", "sqrt", "1e-300", EXAMPLE, "P[3,0]", "W_V", "conv1", "1/7"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.text(max_size=6) | st.sampled_from(["W_V", "E", "Pr2.2.P", "P1.1.choice"]), inner, max_size=4), max_leaves=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(path=st.sampled_from(sorted(POSTS)), data=st.data())
def test_no_json_body_is_answered_with_a_5xx(server, path, data):
    """Any JSON value as the body, or an object of the endpoint's own fields with any JSON values: a 200 or a 4xx
    with an error, through the real server and its worker processes."""
    body = data.draw(JSON | st.fixed_dictionaries({}, optional=dict.fromkeys(POSTS[path], JSON)))
    status, _, d = server.post(path, json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    assert status == 200 or (400 <= status < 500 and isinstance(d, dict) and d.get("error")), (path, body, status, d)


# ---- a request line or headers without end ----------------------------------------------------------------------

def send_head(server, start: bytes, total: int, chunk: int = 16 * 1024, wait: float = 0.05) -> tuple[int, bytes]:
    """Send `start` and then up to `total` bytes of "A" in `chunk`s without ever ending the line, waiting up to `wait`
    s after each for an answer, then read it: (the bytes sent, the answer; b"" if the connection was reset)."""
    import select
    import socket

    sent = 0
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(start)
        try:
            while sent < total and not select.select([s], [], [], wait)[0]:
                s.sendall(b"A" * chunk)
                sent += chunk
        except (BrokenPipeError, ConnectionResetError):
            return sent, b""
        try:
            return sent, s.recv(4096)
        except ConnectionResetError:
            return sent, b""


@pytest.mark.parametrize("start", [b"GET /api/geoff?seq=", b"GET /api/geoff HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "],
                         ids=["url", "header"])
def test_a_request_line_or_header_without_end_is_refused_as_it_arrives(server, start):
    """Before: uvicorn (and httptools, for a header) added every byte to the URL or the header being read
    (``self.url += url``: quadratic, and unbounded until the 10 s header deadline): one connection sending 80 MB in
    those 10 s took the server's memory up by 150 MB and held every other request 2-4 s; 32 such connections, the cap
    per client, gigabytes. Now it is refused with a 431 once it is over 64 KiB."""
    sent, answer = send_head(server, start, 512 * 1024)  # one read at a time: the answer is read before any reset
    assert answer.startswith(b"HTTP/1.1 431") and b"65,536 bytes" in answer, (sent, answer[:200])
    sent, answer = send_head(server, start, 64 * 1024 * 1024, 64 * 1024, 0)  # as fast as it may: cut off long before
    assert sent < 4 * 1024 * 1024 and (answer == b"" or answer.startswith(b"HTTP/1.1 431")), (sent, answer[:200])
    status, _, d = server.get("/api/geoff?seq=D+A+A")
    assert status == 200, d


def test_a_long_but_bounded_url_is_still_answered(server):
    """A URL of 40 kB (the pages' longest, /geoff with every matrix edited, is a few kB) is read and answered: here a
    400 for the sequence's length, as before."""
    status, _, d = server.get("/api/geoff?seq=" + "A+" * 20_000)
    assert status == 400 and d["field"] == "seq", d
