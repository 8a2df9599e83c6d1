"""Binding the socket and running uvicorn for `dlexam serve`.

The socket is bound here, before the server starts, so a port in use or an address that is not
this machine's is one clear error (:class:`dlexam.errors.UserError`, exit status 2), and port 0
picks a free port whose number is known before the first request. uvicorn then serves on that
socket until SIGINT or SIGTERM, and shuts down gracefully, with every connection under the deadlines and caps
of :mod:`dlexam.serve.connections`.
"""

from __future__ import annotations

import errno
import ipaddress
import resource
import socket

from dlexam.bounds import PORT
from dlexam.errors import UserError
from dlexam.serve.state import ServeLimits

GRACE_S = 5  # after Ctrl-C, requests in flight get this long to finish
FD_RESERVE = 256  # file descriptors beside the connections: workers' pipes, libraries, a burst of accepts


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); UserError when the port is taken or the host is not ours."""
    PORT.check("--port", port)
    name = host.strip("[]")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):  # said plainly: socket's text is "[Errno -2] Name or service not known"
        raise UserError(f"cannot bind --host {host}: the name could not be resolved to an address (give an address "
                        "of this machine, e.g. 127.0.0.1)") from None
    family, kind, proto, _, address = infos[0]
    # proto IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say they are TCP, and
    # with it on, a keep-alive client waits ~40 ms (delayed ACK) for each answer sent in two writes
    sock = socket.socket(family, kind, proto or socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRNOTAVAIL:  # the host, not the port: no interface of this machine has it
            raise UserError(f"cannot listen on {host}:{port}: {host} is not an address of this machine "
                            "(choose another --host, e.g. 127.0.0.1)") from None
        reason = "it is in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise UserError(f"cannot listen on {host}:{port}: {reason} (choose another --port, or 0 for any free one)") \
            from None
    sock.setblocking(False)
    return sock


def ensure_descriptors(limits: ServeLimits) -> None:
    """Let the process open --max-connections sockets and FD_RESERVE more (raising its soft limit up to the hard
    one), or say in one line that it cannot."""
    want = limits.max_connections + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise UserError(f"--max-connections {limits.max_connections} needs {want} file descriptors; this "
                            f"process may open at most {hard} (ulimit -n): use --max-connections "
                            f"{max(1, hard - FD_RESERVE)} or less")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def url(host: str, sock: socket.socket) -> str:
    """The address to open: a wildcard bind (0.0.0.0, ::) is opened through the loopback, which the Host check
    accepts."""
    port = sock.getsockname()[1]
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host)
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(app, sock: socket.socket, limits: ServeLimits) -> None:
    """Run uvicorn on the bound socket until it is told to stop (returns after a graceful shutdown)."""
    import functools

    import uvicorn

    from dlexam.serve.connections import ConnectionTable, GuardedHttp
    # proxy_headers off: no proxy stands in front of a local app, so X-Forwarded-* is never trusted (and not parsed).
    # The protocol is uvicorn's httptools one (0.45 -> 0.15 ms of server CPU per cached answer against h11) with the
    # deadlines and caps of dlexam.serve.connections; uvloop's event loop where installed. The connection caps are
    # the table's (uvicorn's limit_concurrency would refuse newcomers while idle sockets hold every place); the
    # header size cap is the guard's (dlexam.serve.guard.MAX_HEADER_BYTES: httptools sets none of its own).
    http = functools.partial(GuardedHttp, table=ConnectionTable(limits))
    config = uvicorn.Config(app, http=http, log_level="warning", access_log=False, lifespan="off",
                            server_header=False, proxy_headers=False, limit_concurrency=None,
                            timeout_keep_alive=limits.idle_timeout_s, timeout_graceful_shutdown=GRACE_S)
    uvicorn.Server(config).run(sockets=[sock])
