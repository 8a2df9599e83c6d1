"""`dlexam serve`: the interactive explorer in the browser (pages and a JSON API, docs/serve.md).

Parse, load what the command line names, bind, print the URL, serve. Heavy imports (torch, the web
stack) happen in :func:`handle`, so `dlexam serve --help` stays light.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dlexam import bounds
from dlexam.commands import options
from dlexam.commands.options import ranged


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="an interactive explorer of the exam in the browser (local web app)",
        description="Start a local web app: Geoff's transformer (/geoff), the sorters (/sort), the exam's CNN "
        "(/cnn) and the answer key (/answers), with a JSON API under /api/ (docs/serve.md). It answers only "
        "requests addressed to localhost.",
    )
    p.add_argument("--host", default="127.0.0.1", type=options.given,
                   help="address to bind (default 127.0.0.1; anything else exposes the app beyond this machine)")
    p.add_argument("--port", type=int, default=8000,
                   help=f"port, {ranged(bounds.PORT)} (default 8000; 0 = any free port)")
    p.add_argument("--sort-checkpoint", type=options.existing("checkpoint", Path), metavar="RUN", default=None,
                   help="a trained sorter (checkpoint or run folder) shown beside the compiled solver on /sort "
                   "(default: the A-D sorter shipped with dlexam)")
    p.add_argument("--svhn-checkpoint", type=options.existing("checkpoint", Path), metavar="RUN", default=None,
                   help="the CNN for /cnn (checkpoint or run folder; default: the shipped model)")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="processes that compute the answers (Geoff's matrices, gradient steps, predictions) beside "
                   f"the server, each holding the models (~240 MB), {ranged(bounds.WORKERS)}; default: 2 (none on a "
                   "single core); 0 computes in the server process itself")
    from dlexam.serve.state import ServeLimits  # light: the dataclass and its bounds

    d, b = ServeLimits(), ServeLimits.BOUNDS
    g = p.add_argument_group("limits", "deadlines and caps that keep slow, idle or hostile clients from holding the "
                             "server (docs/serve.md)")
    g.add_argument("--header-timeout", type=options.float_number, metavar="S", default=d.header_timeout_s,
                   help=f"seconds a request's headers may take from its first byte, {ranged(b['header_timeout_s'])}; "
                   f"then 408 (default {d.header_timeout_s:g})")
    g.add_argument("--idle-timeout", type=options.float_number, metavar="S", default=d.idle_timeout_s,
                   help=f"seconds a connection may wait without a request before it is closed, "
                   f"{ranged(b['idle_timeout_s'])} (default {d.idle_timeout_s:g})")
    g.add_argument("--connections-per-client", type=int, metavar="N", default=d.connections_per_client,
                   help=f"connections one address may hold, {ranged(b['connections_per_client'])}, at most "
                   "--max-connections; a new one closes its longest-waiting idle one (default "
                   f"{d.connections_per_client})")
    g.add_argument("--max-connections", type=int, metavar="N", default=d.max_connections,
                   help=f"connections all clients together may hold, {ranged(b['max_connections'])} (default "
                   f"{d.max_connections})")
    g.add_argument("--job-timeout", type=options.float_number, metavar="S", default=d.job_timeout_s,
                   help="seconds a worker may take for one answer, plus an uploaded image's own budget from its "
                   f"size, {ranged(b['job_timeout_s'])}; then the worker is replaced and the request gets 503 (default "
                   f"{d.job_timeout_s:g})")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from dlexam.serve import server
    from dlexam.serve.workers import WorkerPool, check_workers, default_workers, freeze_heap

    workers = check_workers(default_workers() if args.workers is None else args.workers)
    from dlexam.serve.app import create_app
    from dlexam.serve.state import ServeLimits, ServeSettings, load_state

    limits = ServeLimits(header_timeout_s=args.header_timeout, idle_timeout_s=args.idle_timeout,
                         max_connections=args.max_connections, connections_per_client=args.connections_per_client,
                         job_timeout_s=args.job_timeout)  # checked here, before anything is loaded
    server.ensure_descriptors(limits)
    settings = ServeSettings(host=args.host, port=args.port, sort_checkpoint=args.sort_checkpoint,
                             svhn_checkpoint=args.svhn_checkpoint, limits=limits)
    sock = server.bind(args.host, args.port)  # first: a port in use fails before any model is loaded
    pool = WorkerPool(settings, workers) if workers else None
    try:
        if pool is not None:
            pool.launch()  # the workers load their models while the server loads its own
        state = load_state(settings)  # a bad checkpoint is said here (and the workers are closed)
        if pool is not None:
            pool.wait_ready()  # every worker is ready before the URL is printed
            state.pool = pool
        port = sock.getsockname()[1]
        extra = () if server.is_loopback(args.host) or args.host in ("0.0.0.0", "::") else (args.host,)
        app = create_app(state, port=port, extra_hosts=extra)
        if not server.is_loopback(args.host):
            print(f"dlexam serve: warning: binding {args.host} makes the app reachable from other machines; it "
                  "still answers only requests addressed to localhost" + (f" or {args.host}" if extra else ""),
                  file=sys.stderr)
        freeze_heap()  # the server's own long-lived objects, too
        print(f"serving on {server.url(args.host, sock)}", flush=True)
        server.serve(app, sock, limits)
    finally:
        sock.close()
        if pool is not None:
            pool.close()
    return 0
