"""Worker processes for `dlexam serve` (``--workers N``): the answers that cost CPU, computed beside the server.

One Python process computes one answer at a time: an uncached Geoff answer or a digit's prediction is 1-3 ms
of CPU, so under 20 concurrent clients the 20th waits for 19 others on one core while the other cores idle.
:class:`WorkerPool` keeps N processes (spawned, each with the models the command line names loaded once)
and hands each job to whichever of them is idle, from one queue in the server, so no worker sits idle while
another has a backlog. (uvicorn's own ``--workers`` runs N whole servers on one socket, and the kernel splits
*connections* between them, unevenly: 12/8 and 16/4 of 20 were measured, docs/serve.md.)

A job is a module-level function ``fn(state, *args) -> bytes`` of :mod:`dlexam.serve.api_geoff`,
:mod:`dlexam.serve.api_models` or :mod:`dlexam.serve.api_practice` (the same function the server calls itself
with ``--workers 0``); it travels by reference (pickle names its module and name) with its arguments over a
pipe, and its answer comes back as the JSON bytes the server sends. A :class:`~dlexam.serve.params.BadRequest` or
:class:`~dlexam.errors.UserError` raised in the worker is raised again in the server (the same 4xx
answer); anything else is a 500 whose traceback the worker logs.

Every job has a time budget: ``--job-timeout`` (:class:`~dlexam.serve.state.ServeLimits`), plus what the
caller adds for the job's own size (an uploaded image's, from its header: :mod:`dlexam.serve.api_models`). A
worker past it (hung, stopped, or looping) is killed and replaced, and its request gets a 503; nothing else
waits for it.

A worker that dies (killed, out of memory) fails only the job it had (503); a new one is started in its
place. A worker that died while idle is noticed before it is handed a job (its process is reaped, or its pipe
has closed) and the job goes to another. Neither can be seen while a killed worker's threads are still
exiting (Linux closes its files and lets it be reaped only after its last thread): a job handed to it then
gets the 503 of a worker lost during its job. Until a new one is ready, and whenever none is, jobs run in the
server itself. The workers ignore Ctrl-C (it reaches the whole process group): the server closes their pipes
when it stops, and a worker exits when its pipe closes, also when the server was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from dlexam.bounds import WORKERS
from dlexam.errors import UserError
from dlexam.serve.params import BadRequest

log = logging.getLogger("dlexam.serve")
READY_KILL_S = 5.0  # to reap a worker killed before it was ready
READY_S = 300  # a worker's start (torch's import, the models' load) on a busy machine

# Workers run at a lower priority than the server: the server is the one process every request passes through
# (twice), so when the cores are short it must not wait behind a computation. On the 2-core machine under 20
# clients, nice 0 and nice 10 interleaved three times (6 s phases): p99 of predictions 74/73/107 ms against
# 45/56/61 ms, of uncached Geoff answers 56/67/85 ms against 36/47/46 ms, at about the same p50 (docs/serve.md).
WORKER_NICE = 10
HEADER = struct.Struct("!i")  # multiprocessing.connection's frame: a 4-byte big-endian length, then the bytes


def default_workers() -> int:
    """Two workers where the process may use two cores or more (each holds torch and the models: +150 MB of the
    machine's memory, counted fairly), none on one core (a worker there would only take turns with the server).
    Chosen from measurement (docs/serve.md, "the worker default"): on two cores the p99 target needs them, one
    worker is no faster than none, and only workers give a job an enforceable time budget."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return 2 if cores > 1 else 0


def check_workers(n: int) -> int:
    return WORKERS.check("--workers", n)


class WorkerLost(BadRequest):
    """The worker computing a job died (503): the job is not retried, since it may be what killed it."""

    def __init__(self) -> None:
        super().__init__(None, "the worker process computing this answer stopped; a new one is starting, "
                               "ask again", 503)


class JobTimeout(BadRequest):
    """A job ran past its time budget (503): its worker was killed and is being replaced."""

    def __init__(self, budget_s: float) -> None:
        super().__init__(None, f"computing this answer took longer than its budget of {budget_s:.1f} s; the worker "
                               "process was replaced", 503)


# ---- inside a worker --------------------------------------------------------------------------------

def worker_main(conn, settings) -> None:
    """A worker's life: load the models, say ready, then answer jobs until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle; it closes our pipe
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    try:
        serve_jobs(conn, settings)
    except (EOFError, OSError):
        pass  # the server closed the pipe (it stopped, or was killed): nothing is left to answer


def serve_jobs(conn, settings) -> None:
    from dlexam.serve.state import load_state

    try:
        state = load_state(settings)
        warm_up(state)
    except Exception as exc:  # noqa: BLE001 - reported to the server, which refuses to start
        conn.send_bytes(pickle.dumps(("failed", f"{type(exc).__name__}: {exc}")))
        return
    freeze_heap()
    conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    while True:
        fn, args = pickle.loads(conn.recv_bytes())
        conn.send_bytes(pickle.dumps(run_job(fn, state, args)))


def warm_up(state) -> None:
    """One job of each kind before the worker says it is ready: the first one in a process imports Pillow and the
    job's modules and initialises torch's convolution kernels (up to seconds on a busy machine), which would
    otherwise count against a request's job budget."""
    import io

    from PIL import Image

    from dlexam.serve import api_geoff, api_models

    png = io.BytesIO()
    Image.new("L", (api_models.INPUT_W, api_models.INPUT_H), 255).save(png, format="PNG")
    api_models.predict_answer(state, png.getvalue())
    api_geoff.geoff_answer(state, {}, False)
    api_geoff.explain_answer(state, {"cell": "dW_V[0,0]"})


def freeze_heap() -> None:
    """Move every object alive now (torch, the models: ~170,000 objects) out of the garbage collector's sight: a
    full collection over them takes 50-140 ms, a pause every answer in flight would wait for. What a request
    allocates is still collected as usual."""
    import gc

    gc.collect()
    gc.freeze()


def run_job(fn: Callable, state, args: tuple) -> tuple:
    """fn(state, *args) as a reply: ("ok", bytes), ("bad", field, message, status), ("user", message),
    or ("crash", what) with the traceback logged here."""
    try:
        return ("ok", fn(state, *args))
    except BadRequest as exc:
        return ("bad", exc.field, exc.message, exc.status)
    except UserError as exc:
        return ("user", str(exc))
    except Exception as exc:  # noqa: BLE001 - one job's failure; the worker goes on
        log.error("worker %d: unexpected error in %s:\n%s", os.getpid(), getattr(fn, "__name__", fn),
                  traceback.format_exc())
        return ("crash", type(exc).__name__)


def unpack(reply: tuple) -> bytes:
    """A worker's reply -> the answer's bytes, or the exception the job raised (raised again here)."""
    kind = reply[0]
    if kind == "ok":
        return reply[1]
    if kind == "bad":
        raise BadRequest(reply[1], reply[2], reply[3])
    if kind == "user":
        raise UserError(reply[1])
    raise RuntimeError(f"{reply[1]} in a worker process")


# ---- in the server ----------------------------------------------------------------------------------

class Channel(asyncio.Protocol):
    """The server's end of one worker's pipe on the event loop: writes a job, and when the whole reply has
    arrived hands it to the job's future and the worker back to the pool (also when nobody waits any more:
    a request cancelled because its client left). One job at a time per channel.

    Each job has a deadline, armed when it is sent: past it without a reply, the job's future gets
    :class:`JobTimeout` and the worker is retired (:meth:`WorkerPool.retire`), whether anyone still waits or not."""

    def __init__(self, pool: WorkerPool, worker: Worker) -> None:
        self.pool, self.worker = pool, worker
        worker.channel = self
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.reply: asyncio.Future | None = None
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def send(self, message: bytes, budget_s: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        self.transport.write(HEADER.pack(len(message)) + message)
        self.reply = loop.create_future()
        self.deadline = loop.call_later(budget_s, self.overrun, budget_s)
        return self.reply

    def _settle(self) -> asyncio.Future | None:
        """The job is over (answered, overrun, or the worker gone): its deadline off, its future handed back."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        reply, self.reply = self.reply, None
        return reply if reply is not None and not reply.done() else None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) < HEADER.size:
            return
        (n,) = HEADER.unpack_from(self.buffer)
        if len(self.buffer) < HEADER.size + n:
            return
        frame = bytes(self.buffer[HEADER.size : HEADER.size + n])
        del self.buffer[: HEADER.size + n]
        reply = self._settle()
        self.pool.release(self.worker)
        if reply is not None:
            reply.set_result(frame)

    def overrun(self, budget_s: float) -> None:
        self.deadline = None
        reply = self._settle()
        self.pool.retire(self.worker, f"took more than its job's budget of {budget_s:.1f} s")
        if reply is not None:
            reply.set_exception(JobTimeout(budget_s))

    def connection_lost(self, exc) -> None:
        self.worker.retired = True
        reply = self._settle()
        if reply is not None:
            reply.set_exception(WorkerLost())
        self.pool.lost(self.worker)


@dataclass(eq=False)
class Worker:
    process: multiprocessing.process.BaseProcess
    conn: object  # multiprocessing.connection.Connection, the server's end of the pipe, until attached
    pid: int = 0
    sock: socket.socket | None = None
    channel: Channel | None = None
    retired: bool = False  # dead, or being killed: never handed another job

    def usable(self) -> bool:
        """Alive and not retired: its process not yet reaped as dead (a waitpid, microseconds), so a worker killed
        while idle is noticed before its pipe's end-of-file reaches the event loop."""
        if not self.retired and not self.process.is_alive():
            self.retired = True
        return not self.retired

    async def attach(self, pool: WorkerPool) -> None:
        """Move the server's end of the pipe (a socket pair) onto the event loop."""
        self.sock = socket.socket(fileno=os.dup(self.conn.fileno()))
        self.conn.close()
        await asyncio.get_running_loop().connect_accepted_socket(lambda: Channel(pool, self), self.sock)

    def close(self) -> None:
        """Close the server's end of the pipe, when its event loop has ended (the worker then exits)."""
        if self.sock is not None:
            self.sock.close()
        if not self.conn.closed:
            self.conn.close()


@dataclass(eq=False)
class WorkerPool:
    """N worker processes and one queue of the idle ones; :meth:`run` is awaited on the server's event loop."""

    settings: object  # dlexam.serve.state.ServeSettings: what each worker loads
    size: int
    workers: list[Worker] = field(default_factory=list)
    _idle: asyncio.Queue | None = None
    _closed: bool = False
    _starting: set = field(default_factory=set)  # replacements still loading (lost's background starts)

    def launch(self) -> None:
        """Start every worker process (they load their models in parallel with whatever the server does next)."""
        self.workers = [self._spawn() for _ in range(self.size)]

    def wait_ready(self, timeout: float = READY_S) -> None:
        """Block until every worker has loaded its models; UserError if one cannot."""
        for w in self.workers:
            self._await_ready(w, timeout)

    def _spawn(self) -> Worker:
        ctx = multiprocessing.get_context("spawn")  # not fork: the server holds torch's threads and a socket
        ours, theirs = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=worker_main, args=(theirs, self.settings), daemon=True,
                           name="dlexam-serve-worker")
        proc.start()
        theirs.close()
        return Worker(proc, ours)

    def _await_ready(self, w: Worker, timeout: float) -> None:
        try:
            if not w.conn.poll(timeout):
                raise UserError(f"a worker process did not start within {timeout:.0f} s (use --workers 0 to "
                                "compute in the server itself)")
            reply = pickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError):
            reply = ("failed", f"it exited with status {w.process.exitcode}")
        if reply[0] != "ready":
            raise UserError(f"a worker process could not start: {reply[1]}")
        w.pid = reply[1]

    async def _first_use(self) -> None:
        self._idle = asyncio.Queue()
        for w in list(self.workers):
            await w.attach(self)
            self._idle.put_nowait(w)

    async def run(self, state, fn: Callable, *args, budget_s: float = 0.0) -> bytes:
        """fn(state, *args) in the next idle worker, within --job-timeout plus `budget_s` seconds (else JobTimeout,
        and the worker is replaced); in the server itself (with its `state`) when none is alive."""
        if self._idle is None:  # first use, on the event loop
            await self._first_use()
        job = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        while True:
            if not self.workers:  # every worker died, and none is ready yet (or could be started): compute here
                return fn(state, *args)
            worker = await self._idle.get()
            if worker is None:  # the word that none could be started, to a request that was waiting for one
                if not self.workers:
                    self._idle.put_nowait(None)  # passed on to the next waiter (a stale one is dropped)
                    return fn(state, *args)
                continue
            if worker.usable():
                try:
                    reply = worker.channel.send(job, self.settings.limits.job_timeout_s + budget_s)
                    break
                except (OSError, RuntimeError):  # its pipe closed under us: the worker is gone
                    worker.retired = True
            self.lost(worker)  # died while idle: dropped (and replaced) before it was handed this job
        # The channel gives the worker back to the queue when the reply has arrived, so a request cancelled
        # meanwhile (its client gone) leaves no reply behind in the pipe for the next job.
        return unpack(pickle.loads(await reply))

    def release(self, worker: Worker) -> None:
        """A worker's reply has arrived: it takes the next job (unless it has been retired meanwhile)."""
        if not worker.retired:
            self._idle.put_nowait(worker)

    def retire(self, worker: Worker, why: str) -> None:
        """Kill a worker that overran its job's budget (SIGKILL ends a stopped process too); its pipe then closes
        and :meth:`lost` starts another."""
        worker.retired = True
        log.warning("a worker process (pid %s) %s; killing it", worker.pid, why)
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.process.pid, signal.SIGKILL)

    def lost(self, dead: Worker) -> None:
        """A worker's pipe closed: drop it and, unless the server is stopping, start another in the background;
        it joins the queue once ready."""
        if dead not in self.workers:  # the list changes on the event loop only: no lock
            return
        self.workers.remove(dead)
        if self._closed:
            return
        log.warning("a worker process (pid %s) stopped; starting another", dead.pid)
        loop = asyncio.get_running_loop()

        def start() -> Worker | None:
            dead.process.join(1.0)  # reap it
            w = None
            try:
                w = self._spawn()
                self._starting.add(w)  # close() ends it, and with it this wait, if the server stops meanwhile
                if self._closed:
                    raise UserError("the server is stopping")
                self._await_ready(w, READY_S)
                return w
            except (UserError, OSError) as exc:
                if not self._closed:
                    log.error("could not start a new worker process: %s", exc)
                if w is not None and w.process.is_alive():  # never ready: not left loading (or stopped) behind
                    w.process.kill()
                    w.process.join(READY_KILL_S)
                return None
            finally:
                self._starting.discard(w)

        def start_then_join() -> None:
            w = start()
            try:
                loop.call_soon_threadsafe(lambda: loop.create_task(join(w)))
            except RuntimeError:  # the event loop has ended: the server stopped while this one loaded
                if w is not None:
                    w.close()

        async def join(w: Worker | None) -> None:
            if self._closed:
                if w is not None:
                    w.close()
                return
            if w is None:
                if not self.workers:
                    self._idle.put_nowait(None)  # requests waiting for a worker compute in the server
                return
            await w.attach(self)
            self.workers.append(w)
            self._idle.put_nowait(w)

        # A daemon thread, not the loop's executor: the server's stop (asyncio.run's end) waits for the executor's
        # threads, and would wait for a replacement's whole start; close() ends one still loading.
        threading.Thread(target=start_then_join, name="dlexam-serve-replace", daemon=True).start()

    def close(self, timeout: float = 5.0) -> None:
        """Close every pipe (the workers exit), wait for them, and end any that do not."""
        self._closed = True
        for w in list(self._starting):  # a replacement still loading: nothing to finish, and its start waits on it
            w.process.kill()
        workers, self.workers = list(self.workers), []
        for w in workers:
            w.close()
            if not w.pid:  # still loading (the server failed to start): no need to wait for it
                w.process.terminate()
        for w in workers:
            w.process.join(timeout)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout)
