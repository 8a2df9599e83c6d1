"""Every connection of `dlexam serve` under a deadline, and a cap on the connections of each client.

A connection is in one of three phases, and each but the busy one has a deadline (:class:`ServeLimits`):

- **idle** (just opened, or its last answer sent): closed if no request starts within ``idle_timeout_s``;
- **headers** (a request's first byte has arrived): its headers must be complete within ``header_timeout_s``
  of that byte, else it gets a 408 and is closed (a client that sends one byte a second, "slowloris", holds a
  connection for that long at most);
- **busy** (headers complete, the app answering): no deadline here; the request's body has its own
  (:func:`dlexam.serve.guard.read_body`) and a computation its job budget (:mod:`dlexam.serve.workers`).

No client may hold more than ``connections_per_client`` connections, nor all clients together more than
``max_connections``. A new connection over either cap closes one of the same client (or, over the total cap,
of anyone) without a request in progress, idle or sending headers: first one that has never had an answer
(what an idle or slow-header attacker holds), the one that has waited longest; only then a keep-alive one that
has, so a browser's open connections survive an attack from its own address. Only when every connection is
busy is the newcomer refused (503). So 200 slow-header sockets or 110 idle ones cost a request no more than
a connection that replaces one of them; before, uvicorn refused every new connection beyond 100 with a 503
for as long as they stayed open.

The phases are kept by :class:`GuardedHttp`, uvicorn's httptools protocol with four hooks (the parser's
``on_message_begin`` and ``on_headers_complete``, the response's ``on_response_complete``, and the
connection's start and end), and uvicorn's answer to a request its parser cannot read, which becomes the app's
JSON 400 (:meth:`GuardedHttp.send_400_response`); one sweep a quarter of a second closes what is past its
deadline, so a request pays for setting a number, not for a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dlexam.plain import dumps
from dlexam.serve.state import ServeLimits

SWEEP_S = 0.25  # how often deadlines are checked: a deadline holds to within this
MAX_HEAD_BYTES = 64 * 1024  # a request's line and headers (a browser's are 1-2 kB, the pages' longest URL a few kB)
IDLE, HEADERS, BUSY = "idle", "headers", "busy"


def raw_answer(status: int, reason: str, message: str) -> bytes:
    """A whole HTTP response with the app's JSON error body, written on a connection that is then closed."""
    body = dumps({"error": message, "field": None}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\ncache-control: no-store\r\n\r\n").encode() + body


class ConnectionTable:
    """The open connections by client address, their caps, and the sweep that enforces their deadlines. Used only
    on the event loop's thread: no lock."""

    def __init__(self, limits: ServeLimits) -> None:
        self.limits = limits
        self.open: set[GuardedHttp] = set()
        self.by_client: dict[str, set[GuardedHttp]] = {}
        self._sweep: asyncio.TimerHandle | None = None

    def admit(self, conn: GuardedHttp) -> None:
        """A new connection: kept within the caps by closing a waiting one where needed (:meth:`_make_room`), or
        refused with a 503 when every other one is busy."""
        peers = self.by_client.setdefault(conn.client_host, set())
        peers.add(conn)
        self.open.add(conn)
        for group, cap, whose in ((peers, self.limits.connections_per_client, "this client's"),
                                  (self.open, self.limits.max_connections, "the server's")):
            if len(group) > cap and not self._make_room(group, conn):
                conn.refuse(f"all {cap} of {whose} connections are busy answering; ask again in a moment")
                return
        if self._sweep is None:
            self._sweep = conn.loop.call_later(SWEEP_S, self.sweep, conn.loop)

    @staticmethod
    def _make_room(group: Iterable[GuardedHttp], newcomer: GuardedHttp) -> bool:
        """Close the connection of `group` that should go first: one without a request in progress, never answered
        before answered, the longest waiting first. False when every one is busy."""
        waiting = [c for c in group if c is not newcomer and c.phase != BUSY]
        if not waiting:
            return False
        min(waiting, key=lambda c: (c.answered > 0, c.waiting_since)).close()
        return True

    def forget(self, conn: GuardedHttp) -> None:
        self.open.discard(conn)
        peers = self.by_client.get(conn.client_host)
        if peers is not None:
            peers.discard(conn)
            if not peers:
                del self.by_client[conn.client_host]

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close what is past its deadline; again in SWEEP_S while any connection is open (a closed one has left
        the table already: :meth:`GuardedHttp.close`)."""
        now = loop.time()
        for conn in [c for c in self.open if c.deadline is not None and now >= c.deadline]:
            conn.expire()
        self._sweep = loop.call_later(SWEEP_S, self.sweep, loop) if self.open else None


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol (httptools' parser) with the phases, deadlines and caps of the module's
    docstring. Made per connection by uvicorn: ``functools.partial(GuardedHttp, table=...)``."""

    def __init__(self, *args, table: ConnectionTable, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        self.limits = table.limits
        self.phase = IDLE
        self.active = 0  # requests whose headers are complete and whose answer is not (more than 1: pipelining)
        self.answered = 0  # requests answered on this connection
        self.deadline: float | None = None
        self.waiting_since = 0.0
        self.client_host = ""
        self.closing = False
        self.in_head = False  # a request's line and headers are arriving (its first byte seen, its headers not done)
        self.head_began = False  # ... and began in the bytes being parsed now
        self.head_bytes = 0  # bytes of the request's line and headers that came after the read it began in

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.client_host = self.client[0] if self.client else ""
        self._wait(self.loop.time())
        self.table.admit(self)

    def connection_lost(self, exc) -> None:
        self.closing = True
        self.table.forget(self)
        super().connection_lost(exc)

    def _wait(self, now: float) -> None:
        self.phase, self.waiting_since, self.deadline = IDLE, now, now + self.limits.idle_timeout_s

    def data_received(self, data: bytes) -> None:
        """Refuse (431) a request whose line and headers go on past MAX_HEAD_BYTES as they arrive: uvicorn adds each
        piece of the URL to the last (``self.url += url``) and httptools each piece of a header value, so one
        connection sending 80 MB of URL within the header deadline took 150 MB and held every other request for
        seconds. The read a request begins in is not counted (bounded by the transport's read size): only reads
        that are wholly its line and headers are."""
        self.head_began = False
        super().data_received(data)
        if self.in_head and not self.head_began and not self.closing:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.transport.write(raw_answer(431, "Request Header Fields Too Large", "the request's line and "
                                                f"headers are over {MAX_HEAD_BYTES:,} bytes"))
                self.close()

    def on_message_begin(self) -> None:  # the parser saw a request's first byte
        self.in_head, self.head_began, self.head_bytes = True, True, 0
        super().on_message_begin()
        if self.active == 0:
            self.phase, self.deadline = HEADERS, self.loop.time() + self.limits.header_timeout_s

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.active += 1
        self.phase, self.deadline = BUSY, None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self.answered += 1
        self.active = max(0, self.active - 1)
        if self.active == 0:
            self._wait(self.loop.time())
        super().on_response_complete()

    def close(self) -> None:
        """Close it, and leave the table at once: it no longer counts against any cap."""
        if not self.closing:
            self.closing = True
            self.table.forget(self)
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request httptools cannot parse (no request line, a Content-Length that is no number, a space in the URL or
        in a header's name, a malformed chunk): the app's JSON 400 instead of uvicorn's plain-text "Invalid HTTP
        request received.", then the connection is closed, as uvicorn closes it. uvicorn still logs its warning."""
        if not self.closing:
            self.transport.write(raw_answer(400, "Bad Request", "the request is not valid HTTP/1.1; nothing was read "
                                            "from it"))
        self.close()

    def refuse(self, message: str) -> None:
        """Over a cap with every other connection busy: a 503 instead of a request."""
        if not self.closing:
            self.transport.write(raw_answer(503, "Service Unavailable", message))
        self.close()

    def expire(self) -> None:
        """Past the deadline of its phase: a 408 to a request whose headers did not arrive in time; an idle
        connection is just closed (as a keep-alive connection always is)."""
        if self.phase == HEADERS and not self.closing:
            self.transport.write(raw_answer(408, "Request Timeout", "the request's headers did not arrive within "
                                            f"{self.limits.header_timeout_s:g} s"))
        self.close()
