"""What keeps `dlexam serve` local and safe: one ASGI middleware and the request-body reader.

- **Host check** (against DNS rebinding): a request is answered only when its Host header names
  this machine's loopback (``localhost``, ``127.0.0.1``, ``[::1]``, or the address the server was
  told to bind) with the server's port. A page on another site that rebinds its name to 127.0.0.1
  sends its own name as Host and gets a 421. A request without a Host header, with two, or with one
  that is not ``host[:port]`` as RFC 3986 spells them (``localhost:²``) gets a 400 (RFC 9112, 3.2).
- **No cross-origin writes**: a POST that carries an Origin must come from one of those hosts. No
  CORS headers are ever sent, so other sites' scripts cannot read any answer either.
- **Headers**: a Content-Security-Policy that lets pages load only the app's own scripts, styles
  and images and connect only to the app (nothing leaves the machine), nosniff, no framing, no
  referrer.
- **Size caps and a deadline**: :func:`read_body` refuses a body over its limit (413) from the Content-Length,
  or while streaming when there is none, without reading the rest, and one that arrives slower than
  :data:`MIN_BODY_RATE` after a grace of the header timeout (408); headers over :data:`MAX_HEADER_BYTES` in all
  get a 431 (uvicorn's httptools parser, unlike h11, sets no limit of its own).

Every refusal is JSON ``{"error": ..., "field": ...}`` with a 4xx status.
"""

from __future__ import annotations

import ipaddress
import re

import anyio

from dlexam import limits
from dlexam.plain import dumps
from dlexam.serve.params import BadRequest

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
MAX_HEADER_BYTES = 16 * 1024  # a browser's request carries 1-2 kB
MIN_BODY_RATE = 64 * 1024  # bytes a second: an 8 MiB photo may take 128 s beyond the grace, a drawing a moment
# RFC 3986 host: an IP literal in brackets, or a reg-name (unreserved, %-escapes, sub-delims); port: ASCII digits
HOST_RE = re.compile(r"(?:\[([0-9A-Za-z:.%_~-]+)\]|((?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*))(?::([0-9]*))?")
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
    """'localhost:8000' -> ('localhost', 8000); '[::1]:80' -> ('::1', 80); 'localhost:' -> ('localhost', None);
    None when the value is not RFC 3986's ``host [":" port]`` (never an exception, whatever the characters)."""
    m = HOST_RE.fullmatch(value)
    if m is None:
        return None
    literal, name, port = m.groups()
    if literal is not None:
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return None
        name = literal
    if port and (len(port) > 5 or int(port) > 65535):
        return None
    return name.lower(), (int(port) if port else None)


class LocalOnly:
    """ASGI middleware: the Host check, the Origin check for writes, and the security headers."""

    def __init__(self, app, *, port: int, extra_hosts: tuple[str, ...] = ()):
        self.app = app
        self.port = port  # the port the server listens on (set by the server once it is bound)
        self.names = {*LOOPBACK_NAMES, *(h.strip("[]").lower() for h in extra_hosts)}

    def allowed(self, host: str) -> bool:
        """Does `host` (a Host header's value, or an Origin's authority) name this server?"""
        parts = split_host(host)
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
        hosts = [v for k, v in scope["headers"] if k.lower() == b"host"]
        if len(hosts) != 1:
            return await refuse(send, 400, "the request has no Host header" if not hosts else
                                f"the request has {len(hosts)} Host headers; one is allowed", "Host")
        if split_host(headers["host"]) is None:
            return await refuse(send, 400, f"the Host header {headers['host']!r:.60} is not host[:port]", "Host")
        if not self.allowed(headers["host"]):
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
    body = dumps({"error": message, "field": field}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})


async def read_body(request, limit: int, field: str = "body") -> bytes:
    """The request body, at most `limit` bytes: a larger one is a 413 before (or while) it is read, and one that
    has not arrived within the header timeout plus its length at MIN_BODY_RATE is a 408."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not limits.digits(declared):
            raise BadRequest(field, "Content-Length is not a number")
        if int(declared) > limit:
            raise BadRequest(field, f"the body is {int(declared):,} bytes; at most {limit:,} are accepted", 413)
    grace = request.app.state.dlexam.settings.limits.header_timeout_s
    deadline = grace + (int(declared) if declared is not None else limit) / MIN_BODY_RATE
    chunks, size = [], 0
    with anyio.move_on_after(deadline) as scope:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(field, f"the body is over {limit:,} bytes; at most {limit:,} are accepted", 413)
            chunks.append(chunk)
    if scope.cancelled_caught:
        raise BadRequest(field, f"the body did not arrive within {deadline:.1f} s ({size:,} bytes came)", 408)
    return b"".join(chunks)
