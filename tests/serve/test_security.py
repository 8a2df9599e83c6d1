"""What keeps `dlexam serve` local: the Host check (DNS rebinding), no CORS and no cross-origin writes,
security headers, size caps before decoding, no file reached through a URL, loopback by default."""

from __future__ import annotations

import http.client
import json
import socket

import pytest

from ..reliability.bigpng import header_only

EXAMPLE_Q = "/api/geoff?seq=D+A+A+%3CSTART%3E+A+D+%3CSTOP%3E"


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"


@pytest.mark.parametrize("host, status", [
    ("localhost:{port}", 200), ("127.0.0.1:{port}", 200), ("[::1]:{port}", 200), ("LOCALHOST:{port}", 200),
    ("evil.example:{port}", 421), ("localhost.evil.example:{port}", 421), ("127.0.0.1.nip.io:{port}", 421),
    ("localhost:1", 421), ("localhost", 421), ("", 421), ("0.0.0.0:{port}", 421), ("192.168.1.1:{port}", 421),
    ("localhost:0", 421),
    # not host[:port] as RFC 3986 spells it: 400 (RFC 9112, 3.2), not 421
    ("127.0.0.1:{port}@evil", 400), ("[::1", 400), ("[::1]x", 400), ("[not-ipv6]:{port}", 400),
    ("localhost:99999", 400), ("localhost:{port}:1", 400), ("local host:{port}", 400), ("localhost:+1", 400),
])
def test_host_header_must_name_this_machine(server, host, status):
    got, _, body = server.get(EXAMPLE_Q, headers={"Host": host.format(port=server.port)})
    assert got == status, body
    if status != 200:
        assert body["field"] == "Host", body


def raw_request(server, head: bytes) -> tuple[int, dict]:
    """Send `head` (a request line and headers) as bytes, as no well-behaved client would: (status, JSON body)."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(head + b"\r\n")
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
            if b"\r\n\r\n" in reply and reply.split(b"\r\n\r\n", 1)[1].endswith(b"}"):
                break
    head_part, body = reply.split(b"\r\n\r\n", 1)
    return int(head_part.split()[1]), json.loads(body)


@pytest.mark.parametrize("host_lines", [
    [b"Host: localhost:\xb2"],  # a superscript two in Latin-1, which str.isdigit() calls a digit (once a 500)
    ["Host: localhost:²".encode()],  # the same in UTF-8
    [b"Host: localhost:\xd9\xa3"],  # an Arabic-Indic digit three
    [b"Host: 127.0.0.1:{port}", b"Host: 127.0.0.1:{port}"],  # two Host headers, even equal ones (RFC 9112, 3.2)
    [b"Host: evil.example", b"Host: 127.0.0.1:{port}"],  # ... where the last one would pass the check
    [],  # none at all
])
def test_a_malformed_missing_or_repeated_host_is_a_400_without_a_traceback(server, host_lines):
    lines = [line.replace(b"{port}", str(server.port).encode()) for line in host_lines]
    status, body = raw_request(server, b"\r\n".join([f"GET {EXAMPLE_Q} HTTP/1.1".encode(), *lines]) + b"\r\n")
    assert status == 400 and body["field"] == "Host", body
    # the session's server is stopped at the end and its log checked for tracebacks (conftest.py)
    assert server.get(EXAMPLE_Q)[0] == 200


def test_cross_origin_writes_are_refused_and_nothing_is_shared(server):
    body = {"sequence": "A <START> A"}
    status, hdrs, d = server.post("/api/geoff", body, headers={"Origin": "http://evil.example"})
    assert status == 403 and d["field"] == "Origin"
    status, hdrs, _ = server.post("/api/geoff", body, headers={"Origin": f"http://localhost:{server.port}"})
    assert status == 200
    status, hdrs, _ = server.get(EXAMPLE_Q, headers={"Origin": "http://evil.example"})
    assert status == 200 and not any(h.startswith("access-control-") for h in hdrs)
    status, hdrs, _ = server.request("OPTIONS", "/api/geoff", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert status in (403, 405) and not any(h.startswith("access-control-") for h in hdrs)


@pytest.mark.parametrize("path", ["/", "/geoff", "/static/common.js", EXAMPLE_Q, "/api/nope"])
def test_security_headers(server, path):
    _, hdrs, _ = server.get(path)
    csp = hdrs["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert hdrs["x-content-type-options"] == "nosniff" and hdrs["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/static/../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml",
                                  "/static/..%2f..%2fpyproject.toml", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
                                  "/../../etc/passwd"])
def test_no_file_outside_the_static_folder(server, path):
    status, _, body = server.get(path)
    assert status in (400, 404) and b"root:" not in (body if isinstance(body, bytes) else b"")


def test_oversized_headers_are_refused(server):
    small = {f"X-Pad-{i}": "a" * 100 for i in range(100)}  # 10 kB: a big but possible request
    status, _, d = server.get(EXAMPLE_Q, headers=small)
    assert status == 200 and d["tokens"][0] == "D"
    big = {f"X-Pad-{i}": "a" * 1000 for i in range(20)}  # 20 kB
    status, _, d = server.get(EXAMPLE_Q, headers=big)
    assert status == 431 and d["field"] == "headers"
    assert server.get(EXAMPLE_Q)[0] == 200


def test_a_declared_huge_body_is_refused_before_it_is_read(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    conn.putrequest("POST", "/api/svhn/predict")
    conn.putheader("Content-Type", "image/png")
    conn.putheader("Content-Length", str(10**12))
    conn.endheaders()  # no body sent at all: the answer comes from the header
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def test_a_chunked_body_is_cut_off_at_the_cap(server):
    def chunks():
        for _ in range(200):
            yield b"x" * 65536  # 13 MB in all, no Content-Length

    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    try:
        conn.request("POST", "/api/geoff", body=chunks(), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        status = conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413  # the server answered and closed before we finished sending
    finally:
        conn.close()
    assert status == 413


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 3_000), (1, 50_000_001)])
def test_pixel_bombs_are_refused_from_the_header(server, size):
    status, _, d = server.post("/api/svhn/predict", header_only(*size), headers={"Content-Type": "image/png"})
    assert status == 400 and d["field"] == "image" and "pixels" in d["error"], d


def test_an_image_over_the_byte_cap(server):
    status, _, d = server.post("/api/svhn/predict", b"\x89PNG" + b"\0" * (9 * 1024 * 1024),
                               headers={"Content-Type": "image/png"})
    assert status == 413 and d["field"] == "image"
