"""What keeps `dlexam serve` local: the Host check (DNS rebinding), no CORS and no cross-origin writes,
security headers, size caps before decoding, no file reached through a URL, loopback by default."""

from __future__ import annotations

import http.client
import struct
import zlib

import pytest

EXAMPLE_Q = "/api/geoff?seq=D+A+A+%3CSTART%3E+A+D+%3CSTOP%3E"


def test_binds_loopback_by_default(server):
    assert server.host == "127.0.0.1"


@pytest.mark.parametrize("host, ok", [
    ("localhost:{port}", True), ("127.0.0.1:{port}", True), ("[::1]:{port}", True), ("LOCALHOST:{port}", True),
    ("evil.example:{port}", False), ("localhost.evil.example:{port}", False), ("127.0.0.1.nip.io:{port}", False),
    ("localhost:1", False), ("localhost", False), ("127.0.0.1:{port}@evil", False), ("[::1", False), ("", False),
    ("0.0.0.0:{port}", False), ("192.168.1.1:{port}", False),
])
def test_host_header_must_name_this_machine(server, host, ok):
    status, _, body = server.get(EXAMPLE_Q, headers={"Host": host.format(port=server.port)})
    if ok:
        assert status == 200
    else:
        assert status == 421 and body["field"] == "Host", body


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


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a few bytes of image data (a decompression bomb's shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 3_000), (1, 50_000_000)])
def test_pixel_bombs_are_refused_from_the_header(server, size):
    status, _, d = server.post("/api/svhn/predict", png_header_only(*size), headers={"Content-Type": "image/png"})
    assert status == 400 and d["field"] == "image", d
    assert "pixels" in d["error"] or "decompression" in d["error"].lower() or "not a readable" in d["error"]


def test_an_image_over_the_byte_cap(server):
    status, _, d = server.post("/api/svhn/predict", b"\x89PNG" + b"\0" * (9 * 1024 * 1024),
                               headers={"Content-Type": "image/png"})
    assert status == 413 and d["field"] == "image"
