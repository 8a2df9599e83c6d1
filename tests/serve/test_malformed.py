"""A few hundred malformed requests: each gets a 4xx with a JSON error naming the field (never a 500), and
afterwards the server still answers correctly.

The requests: bad tokens and sequences, NaN, infinities and huge numbers, wrong JSON types, broken
JSON, truncated and fake images, oversized bodies, unknown paths and methods, raw garbage on the
socket, and a few hundred random mutations of valid bodies (seeded).
"""

from __future__ import annotations

import io
import json
import random
import socket
from urllib.parse import quote, urlencode

import pytest

EXAMPLE = "D A A <START> A D <STOP>"

BAD_SEQUENCES = ["X", "<start>", "A B Q", "", "   ", "A" * 3000, "A " * 65, "Ä", "\x00", "A\tB\nZ", "<START> <ST",
                 "%00", "A,B", "<STOP> <STOP> <UNK>", "💥", "A" * 2001]
BAD_TEMPERATURES = ["-1", "nan", "NaN", "inf", "-inf", "1e400", "abc", "sqrt2", "0x10", "1" * 100, "--1", " ",
                    "Infinity", "1e-400x"]
BAD_HEADS = ["0", "3", "-1", "1.5", "x", "9" * 30, "", "true", "01x"]


def geoff_gets() -> list[tuple[str, str]]:
    out = [(f"/api/geoff?{urlencode({'seq': s})}", "seq") for s in BAD_SEQUENCES if s.strip() != ""]
    out += [("/api/geoff?seq=", "seq"), ("/api/geoff?seq=%20%20", "seq")]
    out += [(f"/api/geoff?{urlencode({'temperature': t})}", "temperature") for t in BAD_TEMPERATURES]
    out += [(f"/api/geoff?{urlencode({'T': t})}", "T") for t in BAD_TEMPERATURES[:5]]
    out += [(f"/api/geoff?{urlencode({'heads': h})}", "heads") for h in BAD_HEADS]
    out += [("/api/geoff?gradients=maybe", "gradients"), ("/api/geoff?grad=2", "grad"),
            ("/api/geoff?convention=bogus", "convention"), ("/api/geoff?gradient_of=W_X", "gradient_of"),
            ("/api/geoff?gradient_of=", "gradient_of"), ("/api/geoff?exact=2", "exact"),
            ("/api/geoff?loss=yes%21", "loss"),
            ("/api/geoff?seq=A+B&loss=1&gradients=1", "seq"), ("/api/geoff?seq=A+%3CSTART%3E&loss=1", "seq"),
            ("/api/geoff?weights=1", "weights")]
    return out


def geoff_bodies() -> list[tuple[object, str | None]]:
    """(body, the field the error must name); bytes are sent as they are."""
    w = [[0, 3], [1, 2], [2, 1], [3, 0]]
    # entries as JSON text: 1e400 parses as infinity, a 401-digit integer overflows a float, 2e6 is past the cap
    # (a number as text is one, "1" or "1/3": /geoff's fraction cells; text that is none is refused, "1/0", "a/b")
    bad_w = {"1e400": "weights.W_V", "-1e400": "weights.W_V", '"1/0"': "weights.W_V", '"a/b"': "weights.W_V",
             '"1e-400"': "weights.W_V", '"1/1e400"': "weights.W_V", '"2e6"': "weights.W_V", "null": "weights.W_V",
             "true": "weights.W_V", "[1]": "weights.W_V", "1" + "0" * 400: "weights.W_V", "2e6": "weights.W_V",
             "NaN": "body"}
    out: list[tuple[object, str | None]] = [
        (b"", "body"), (b"{", "body"), (b"not json", "body"), (b"[1, 2]", "body"), (b'"text"', "body"),
        (b"null", "body"), (b'{"heads": NaN}', "body"), (b'{"temperature": Infinity}', "body"),
        (b'{"temperature": -Infinity}', "body"), (b"\xff\xfe{}", "body"), (b"[" * 100_000, "body"),
        (b'{"heads": ' + b"9" * 5000 + b"}", "body"), (b'{"a": 1,}', "body"),
        ({"sequence": 7}, "sequence"), ({"sequence": ["A", 1]}, "sequence"), ({"sequence": {"A": 1}}, "sequence"),
        ({"sequence": "A " * 70}, "sequence"), ({"sequence": "Q"}, "sequence"),
        ({"temperature": [0]}, "temperature"), ({"temperature": True}, "temperature"),
        ({"temperature": -2}, "temperature"),
        (b'{"temperature": 1e999}', "temperature"), ({"temperature": {"T": 1}}, "temperature"),
        ({"heads": True}, "heads"), ({"heads": 2.0}, "heads"), ({"heads": [2]}, "heads"), ({"heads": None}, "heads"),
        ({"gradients": "perhaps"}, "gradients"), ({"gradients": 7}, "gradients"), ({"convention": 1}, "convention"),
        ({"weights": [1, 2]}, "weights"), ({"weights": "W_Q"}, "weights"), ({"weights": {"W_X": w}}, "weights"),
        ({"weights": {"W_Q": w[:3]}}, "weights.W_Q"), ({"weights": {"W_Q": [r + [0] for r in w]}}, "weights.W_Q"),
        ({"weights": {"E": w}}, "weights.E"), ({"weights": {"W_O": "0,1;1,0"}}, "weights.W_O"),
        ({"weights": {"W_Q": [[1, 2], [3, 4], [5, 6], 7]}}, "weights.W_Q"),
        ({"gradient_of": ["W_X"]}, "gradient_of"), ({"gradient_of": []}, "gradient_of"),
        ({"gradient_of": 5}, "gradient_of"),
    ]
    for text, field in bad_w.items():
        body = '{"weights": {"W_V": [[' + text + ', 3], [1, 2], [2, 1], [3, 0]]}}'
        out.append((body.encode(), field))
    return out


def step_bodies() -> list[tuple[object, str | None]]:
    return [({"lr": v}, "lr") for v in (0, -1, 1e9, "NaN", "abc", None, True, [0.1], 101)] + [
        ({"matrices": ["X"]}, "matrices"), ({"matrices": []}, "matrices"), ({"matrices": "W_Q,W_Z"}, "matrices"),
        ({"matrices": [1]}, "matrices"), ({"sequence": "A B C"}, "seq"), ({"sequence": "A <START>"}, "seq"),
        (b"{]", "body")]


def sort_gets() -> list[tuple[str, str]]:
    out = [(f"/api/sort?{urlencode({'vocab': v, 'seq': 'A'})}", "vocab")
           for v in ("Z-A", "0", "5000", "A-", "AA-D", "a-Z", "", "-", "A-D-F", "101", "x" * 40)]
    out += [(f"/api/sort?{urlencode({'seq': s})}", "seq")
            for s in ("A B E", "a", "A" + " A" * 64, "x" * 2001, "<START>")]
    out += [("/api/sort?model=bogus", "model"), ("/api/sort?model=trained&vocab=A-Z", "vocab"),
            ("/api/sort?model=trained&seq=E+F", "seq"), ("/api/sort?temperature=-1", "temperature"),
            ("/api/sort?temperature=nan", "temperature"), ("/api/sort?vocab=10&seq=10", "seq")]
    return out


def image_bodies() -> list[tuple[bytes, str, int | None]]:
    """(bytes, content type, expected status or None for any 4xx)."""
    from PIL import Image

    def encoded(fmt: str, mode="RGB", size=(40, 60)) -> bytes:
        buf = io.BytesIO()
        Image.new(mode, size, 128).save(buf, format=fmt)
        return buf.getvalue()

    png, jpg, gif = encoded("PNG"), encoded("JPEG"), encoded("GIF", "L")
    rng = random.Random(0)
    out = [(b"", "image/png", 400), (b"\x00" * 100, "image/png", 400), (png[:40], "image/png", 400),
           (png[:len(png) // 2], "image/png", 400), (jpg[:200], "image/jpeg", 400), (gif[:20], "image/gif", 400),
           (png[:33] + b"garbage" * 10, "image/png", 400), (encoded("TIFF"), "image/png", 400),
           (encoded("PPM"), "application/octet-stream", 400),
           (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png", 400),
           (b"PK\x03\x04" + b"\0" * 50, "image/png", 400), (png, "text/plain", 415), (png, "", 415),
           (png, "application/json", 415), (png, "multipart/form-data; boundary=x", 415)]
    for _ in range(12):  # bytes flipped in the middle of a valid PNG (its CRCs then fail)
        b = bytearray(png)
        for _ in range(5):
            b[rng.randrange(8, len(b))] = rng.randrange(256)
        out.append((bytes(b), "image/png", None))
    return out


def mutations(n: int, seed: int = 0) -> list[dict]:
    """Valid /api/geoff bodies with one field replaced by a value of a random wrong (or right) type."""
    rng = random.Random(seed)
    values = [None, True, False, 0, -1, 1, 2, 3, 0.5, -0.0, 1e6, 1e7, 1e308, "", "0", "sqrt", "A", "x" * 300,
              [], [1], ["A"], {}, {"a": 1}, [[1, 2]], 10**20, "<START>", EXAMPLE, ["W_Q"], "teacher_forcing"]
    fields = ["sequence", "temperature", "heads", "gradients", "convention", "weights", "gradient_of", "loss"]
    base = {"sequence": EXAMPLE, "temperature": 0, "heads": 1, "gradients": True}
    return [{**base, rng.choice(fields): rng.choice(values)} for _ in range(n)]


def assert_refused(status: int, body, field: str | None, what: str) -> None:
    assert 400 <= status < 500, f"{what}: status {status} {body}"
    assert isinstance(body, dict) and body.get("error"), f"{what}: {body!r:.200}"
    if field is not None:
        assert body.get("field") == field, f"{what}: field {body.get('field')!r}, expected {field!r}: {body['error']}"


def raw(server, data: bytes) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_a_few_hundred_malformed_requests_then_the_server_still_answers(server):
    counts = {"refused": 0, "accepted": 0}
    for path, field in geoff_gets() + sort_gets():
        status, _, body = server.get(path)
        assert_refused(status, body, field, path)
        counts["refused"] += 1
    for body, field in geoff_bodies():
        status, _, d = server.post("/api/geoff", body)
        assert_refused(status, d, field, repr(body)[:80])
        counts["refused"] += 1
    for body, field in step_bodies():
        status, _, d = server.post("/api/geoff/step", body)
        assert_refused(status, d, field, repr(body)[:80])
        counts["refused"] += 1
    for data, kind, expected in image_bodies():
        status, _, d = server.post("/api/svhn/predict", data, headers={"Content-Type": kind} if kind else {})
        if expected is None and status == 200:  # a flipped byte the decoder tolerates: still an answer
            counts["accepted"] += 1
            continue
        assert_refused(status, d, "image", f"{kind} {data[:16]!r}")
        assert expected is None or status == expected, (status, d)
        counts["refused"] += 1
    for body in mutations(200):
        status, _, d = server.post("/api/geoff", body)
        assert status == 200 or (400 <= status < 500 and d.get("error")), (body, status, d)
        counts["refused" if status != 200 else "accepted"] += 1
    for method, path in [("DELETE", "/api/geoff"), ("PUT", "/api/sort"), ("GET", "/api/svhn/predict"),
                         ("GET", "/api/nope"), ("GET", "/api/geoff/step"), ("PATCH", "/"), ("GET", "/nope")]:
        status, _, d = server.request(method, path)
        assert status in (404, 405) and d["error"], (method, path, status)
        counts["refused"] += 1
    status, _, _ = server.get("/api/geoff?seq=" + quote("A " * 20_000))
    assert status in (400, 413, 414, 431)
    for garbage in (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", b"GET /api/geoff HTTP/1.1\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 100, b"POST /api/geoff HTTP/1.1\r\n"
                    b"Host: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{\"seq"):
        reply = raw(server, garbage)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:100]
    assert counts["refused"] >= 250, counts
    # ... and the server is still there, still right
    status, _, d = server.get("/api/geoff?" + urlencode({"seq": EXAMPLE, "exact": 1}))
    assert status == 200 and d["exact"]["attention"][6] == ["1/7"] * 7
    assert d["exact"]["loss"]["exam"]["value"] == "4.2114"
    status, _, d = server.get("/api/sort?seq=D+A+A+C")
    assert status == 200 and d["output"] == ["A", "C", "D"]
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (32, 32), 200).save(buf, format="PNG")
    status, _, d = server.post("/api/svhn/predict", buf.getvalue(), headers={"Content-Type": "image/png"})
    assert status == 200 and len(d["probabilities"]) == 10


@pytest.mark.parametrize("body", [{"sequence": EXAMPLE, "heads": "2"}, {"sequence": ["A", "<START>", "A"]},
                                  {"temperature": "0.25"}, {"gradient_of": "E,W_V"}])
def test_lenient_but_typed_forms_are_accepted(server, body):
    """Text where a number or a list is expected is read as the query string would be."""
    status, _, d = server.post("/api/geoff", body)
    assert status == 200, d
    assert json.dumps(d)


def test_malformed_explanations_variants_and_practice_are_refused_naming_their_field(server):
    """The endpoints of issue 20 items 1 and 2: every malformed /api/geoff body is refused by /api/geoff/explain with
    the same field; a bad cell, variant, seed or answer names its own; then the server still answers."""
    for body, field in geoff_bodies():
        if isinstance(body, dict):
            body = {**body, "cell": "P[0,0]"}
        status, _, d = server.post("/api/geoff/explain", body)
        assert_refused(status, d, field, repr(body)[:80])
    cells = [5, None, ["P[0,0]"], "", "P[0,0" + "]" * 300, "P[0,0]]", "P[-1,0]", "P[0,99999999]", "X[0,d9]",
             "loss[0]", "P[h0,0,0]", "dE[Q,0]", "Z[0,::]", "\x00", "P[0,0];DROP"]
    for cell in cells:
        status, _, d = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "cell": cell})
        assert_refused(status, d, "cell", repr(cell))
    from dlexam.variants import make_variant

    five = next(n for n in range(50) if len(make_variant(n).spec.transformer.vocab) != 6)  # E is not 6x4
    for src, field in [({"variant": -1}, "variant"), ({"variant": "abc"}, "variant"), ({"variant": 2**64}, "variant"),
                       ({"variant": True}, "variant"), ({"variant": 1.5}, "variant"),
                       ({"variant": 1, "difficulty": "hard"}, "difficulty"), ({"difficulty": "harder"}, "difficulty"),
                       ({"variant": 1, "sequence": "A Q"}, "sequence"),
                       ({"variant": five, "weights": {"E": [[0] * 4] * 6}}, "weights.E"), ({"variant": 1, "heads": 3},
                                                                                         "heads")]:
        status, _, d = server.post("/api/geoff", src)
        assert_refused(status, d, field, repr(src))
    for body, field in [({"seed": "1e3", "answers": {}}, "seed"), ({"seed": 2**64, "answers": {}}, "seed"),
                        ({"seed": None, "answers": {}}, "seed"), ({"seed": 1, "difficulty": 2, "answers": {}},
                                                                  "difficulty"),
                        ({"seed": 1, "answers": {}}, "answers"), ({"seed": 1, "answers": None}, "answers"),
                        ({"seed": 1, "answers": {f"x{i}": 1 for i in range(300)}}, "answers"),
                        ({"seed": 1, "answers": {"Pr9.9.x": 1}}, "answers"), (b"[]", "body")]:
        status, _, d = server.post("/api/practice/check", body)
        assert_refused(status, d, field, repr(body)[:80])
    # a malformed answer is graded (0 for it, what is wrong with it in its feedback), not refused
    for answers, aid, says in [({"Pr2.2.P": [["1"] * 99]}, "Pr2.2.P", None),
                               ({"Pr2.2.P": [[{"x": 1}]]}, "Pr2.2.P", 'expected a number, got {"x": 1}'),
                               ({"P1.1.choice": 9}, "P1.1.choice", "option 9 is not one of 1-4"),
                               ({"Pr1.3.in_features": "1e999999"}, "Pr1.3.in_features", "'1e999999'... is no answer"),
                               ({"Pr2.2.P": [[[[[[["1"]]]]]]]}, "Pr2.2.P", 'expected a number, got [[[[["1"]]]]]'),
                               ({"P1.4.choice": "\x00"}, "P1.4.choice", "not a number: '\\x00'")]:
        status, _, d = server.post("/api/practice/check", {"seed": 1, "answers": answers})
        assert status == 200, (answers, d)
        (f,) = [f for f in d["fields"] if f["id"] == aid]
        assert f["points"] < f["max_points"] and not f["correct"], answers
        assert says is None or f["wrong"][0]["invalid"].startswith(says), f["wrong"][0]
    status, _, d = server.post("/api/geoff/explain", {"sequence": EXAMPLE, "cell": "P[3,0]"})
    assert status == 200 and d["exact"] == "1/4"


def test_extreme_but_valid_queries_are_answered_never_a_500(server):
    """The edges of what the API accepts (T = 1e-300 and 1e300, every weight at +-1e6): answered with finite numbers,
    or where float64 cannot hold them (a gradient of 1/T times scores of 1e12) a 400 that says so. Before,
    /api/geoff/explain answered 500 at T = 1e-300 (a ZeroDivisionError; with W_O at 1e6 a math domain error in the
    loss), and /api/geoff's gradients were null (NaN), which the page could not draw."""
    big = [[1e6 * (1 if (i + j) % 3 else -1) for j in range(4)] for i in range(6)]
    weights = [{}, {"W_O": [[1e6] * 4] * 2},
               {"E": big, "W_Q": [r[:2] for r in big[:4]], "W_V": [r[2:] for r in big[:4]]}]
    overflows = []
    for temperature in (1e-300, 1e300):
        for w in weights:
            query = {"sequence": EXAMPLE, "temperature": temperature, "weights": w}
            for path, body in [("/api/geoff", {**query, "gradients": True})] + [
                    ("/api/geoff/explain", {**query, "cell": cell})
                    for cell in ("P[3,0]", "P[4,:]", "Z[4,1]", "loss[5]", "loss", "dW_Q[0,0]", "dE[0,0]")]:
                status, _, d = server.post(path, body)
                if status == 400 and "overflows float64" in d["error"]:
                    # about the weights with the temperature, not the sequence: no one field (the page said "sequence:")
                    assert d["field"] is None, d
                    overflows.append((temperature, len(w), body.get("cell")))
                    continue
                assert status == 200, (body, d)
                values = d["value"] if path.endswith("explain") else d["gradients"]["W_Q"]
                assert "null" not in json.dumps(values), (body, d)
    # only the gradients of the 1e6 weights at T = 1e-300 overflow
    assert overflows == [(1e-300, 3, None), (1e-300, 3, "dW_Q[0,0]"), (1e-300, 3, "dE[0,0]")], overflows
    # a gradient step on them is refused in the same words, naming no field either
    status, _, d = server.post("/api/geoff/step", {"sequence": EXAMPLE, "temperature": 1e-300, "weights": weights[2]})
    assert status == 400 and "overflows float64" in d["error"] and d["field"] is None, d


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",  # no request line
    b"POST /api/geoff HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}",  # a length that is no number
    b"POST /api/geoff HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /api/geoff HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"GET /api/sort?seq=A B HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",  # a space in the URL
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\n\r\n",  # a space in a header's name
], ids=["garbage", "length", "two-lengths", "chunk-size", "space-in-url", "header-name"])
def test_a_request_that_is_not_http_gets_the_apps_json_error(server, request_bytes):
    """Requests httptools cannot parse were answered by uvicorn itself, in plain text ("Invalid HTTP request
    received.", text/plain), where every other refusal of the app is JSON {"error", "field"}. They now get the
    app's JSON 400 (dlexam.serve.connections.GuardedHttp.send_400_response), and the connection is closed."""
    head, _, body = raw(server, request_bytes).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request", lines
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/json" and headers["connection"] == "close", headers
    d = json.loads(body)
    assert "not valid HTTP/1.1" in d["error"] and d["field"] is None, d
