"""What keeps `dlexam serve` local and safe: one ASGI middleware and the request-body reader.

- **Host check** (against DNS rebinding): a request is answered only when its Host header names
  this machine's loopback (``localhost``, ``127.0.0.1``, ``[::1]``, or the address the server was
  told to bind) with the server's port. A page on another site that rebinds its name to 127.0.0.1
  sends its own name as Host and gets a 421.
- **No cross-origin writes**: a POST that carries an Origin must come from one of those hosts. No
  CORS headers are ever sent, so other sites' scripts cannot read any answer either.
- **Headers**: a Content-Security-Policy that lets pages load only the app's own scripts, styles
  and images and connect only to the app (nothing leaves the machine), nosniff, no framing, no
  referrer.
- **Size caps**: :func:`read_body` refuses a body over its limit (413) from the Content-Length, or
  while streaming when there is none, without reading the rest; headers over :data:`MAX_HEADER_BYTES`
  in all get a 431 (uvicorn's httptools parser, unlike h11, sets no limit of its own).

Every refusal is JSON ``{"error": ..., "field": ...}`` with a 4xx status.
"""

from __future__ import annotations

import json

from dlexam.serve.params import BadRequest

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_HEADER_BYTES = 16 * 1024  # a browser's request carries 1-2 kB
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def split_host(value: str) -> tuple[str, int | None] | None:
    """'localhost:8000' -> ('localhost', 8000); '[::1]:80' -> ('::1', 80); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        name, _, port = value.partition(":")
        port = port if ":" in value else None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        return None
    return name, (int(port) if port is not None else None)


class LocalOnly:
    """ASGI middleware: the Host check, the Origin check for writes, and the security headers."""

    def __init__(self, app, *, port: int, extra_hosts: tuple[str, ...] = ()):
        self.app = app
        self.port = port  # the port the server listens on (set by the server once it is bound)
        self.names = {*LOOPBACK_NAMES, *(h.strip("[]").lower() for h in extra_hosts)}

    def allowed(self, host: str | None) -> bool:
        parts = split_host(host) if host else None
        if parts is None:
            return False
        name, port = parts
        return name in self.names and (port == self.port or (port is None and self.port == 80))

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":  # the app has none: refuse before anything else sees it
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            return await refuse(send, 431, f"the request's headers are over {MAX_HEADER_BYTES:,} bytes", "headers")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not self.allowed(headers.get("host")):
            return await refuse(send, 421, "this server answers only requests addressed to localhost "
                                "(127.0.0.1, [::1]) on its own port", "Host")
        origin = headers.get("origin")
        if scope["method"] not in ("GET", "HEAD") and origin is not None:
            where = origin.split("://", 1)[-1]
            if not (origin.startswith("http://") and self.allowed(where)):
                return await refuse(send, 403, "cross-origin requests are refused", "Origin")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def refuse(send, status: int, message: str, field: str | None) -> None:
    body = json.dumps({"error": message, "field": field}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def read_body(request, limit: int, field: str = "body") -> bytes:
    """The request body, at most `limit` bytes: a larger one is a 413 before (or while) it is read."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(field, "Content-Length is not a number")
        if int(declared) > limit:
            raise BadRequest(field, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(field, f"the body is over {limit:,} bytes; at most {limit:,} are accepted", 413)
        chunks.append(chunk)
    return b"".join(chunks)
