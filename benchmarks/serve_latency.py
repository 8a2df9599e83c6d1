"""Benchmark: `dlexam serve` under 20 concurrent clients; p99 latency < 50 ms, and no memory growth.

Starts the real server (``python -m dlexam serve --port 0``, the shipped CNN), then for DURATION_S
(or ``--seconds``) each runs 20 keep-alive clients (asyncio, one connection each, a new request as soon as the last
answer arrives) against:

- ``GET /api/geoff`` warm: 40 different queries (sequences, temperatures, heads, gradients) cycled,
  so after the first pass the server's LRU cache answers (the page re-asks a query whenever a
  control returns to a value);
- ``GET /api/geoff`` cold: every request a new query (a random sequence and a random temperature),
  so every answer is computed by dlexam.geoff.analyse: the uncached path;
- ``POST /api/svhn/predict``: 400 different drawn digits, cycled, as the page sends them (8-bit grayscale
  PNG); predictions are not cached. For the record only, not a target: the same as RGBA PNGs (the canvas's own
  format, which the page sent before and still sends in a browser without CompressionStream).

Under a slow-connection attack (issue 22): the uncached Geoff and the predict phases again while another process
holds 200 sockets that send one header byte a second and 110 that send nothing, each reopened on the next second
when the server closes it (as slowloris does). Before the connection deadlines and the per-client cap, every
other request got a 503 for as long as they were open.

Baselines in the same run: one client at a time (the service time, no queueing), and what the
command line costs per request (a `dlexam geoff --json` / `dlexam svhn predict --json` process).
Memory: the RSS of the server and its worker processes together, after a warm-up (2 s of both kinds of
request, 8 clients, so that every worker has run both), after each phase, and at the end.

The server runs with its default ``--workers`` (2 on a machine of two cores or more) unless ``--workers N`` says
otherwise; a second server with ``--workers 0`` (every answer computed in the server process itself) is
measured the same way as the baseline (``--no-inline`` skips it). The clients use uvloop's event loop where
installed (it is a dependency of dlexam serve): they share the machine's cores with the server.
Prints one JSON object as its last line. ``--seconds S`` shortens the phases (10 s each by default),
``--no-cli`` skips the command-line baseline (six processes of several seconds each), ``--no-attack`` the phases
under attack.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import random
import select
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from dlexam.commands.options import number_in  # 1e-400 refused as typed, never read as 0
from dlexam.limits import Span

SLOW_SOCKETS = 200  # send one byte of a request's headers a second
IDLE_SOCKETS = 110  # send nothing
CLIENTS = 20
DURATION_S = 10.0
# --seconds: a phase of 1e-6 s had no request (an IndexError traceback after the server started); nan none either,
# inf no end. Half a phase (the warm cache's second half) is still long enough for every client's first request.
PHASE_SECONDS = Span(1, 3600)
TARGET_P99_MS = 50.0
TOKENS = ("A", "B", "C", "D")
ROOT = Path(__file__).resolve().parents[1]


SERVE_ARGS: list[str] = []  # more flags for every server started (--serve-args)


class ServerRefused(Exception):
    """`dlexam serve` exited before it served (a flag it refuses, say): its error line."""


def start_server(workers: int | None) -> tuple[subprocess.Popen, str, int]:
    more = ([] if workers is None else ["--workers", str(workers)]) + SERVE_ARGS
    proc = subprocess.Popen([sys.executable, "-m", "dlexam", "serve", "--port", "0", *more], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("serving on "):
        err = proc.stderr.read()
        if proc.wait() == 2 and "Traceback" not in err:  # a refusal (exit 2, one line): said as the benchmark's own
            raise ServerRefused(f"dlexam serve {shlex.join(more)}: {err.strip()}")
        raise RuntimeError(f"no 'serving on' line: {line!r} {err[-2000:]}")
    port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
    return proc, "127.0.0.1", port


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (the server's worker processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def count_workers(pid: int) -> int:
    """The server's worker processes (spawned by multiprocessing; its resource tracker is not one)."""
    n = 0
    for p in process_tree(pid)[1:]:
        try:
            n += b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            pass
    return n


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its worker processes together."""
    total = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the server and its workers have used: their share of the work, whatever the
    machine's load."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def random_sequence(rng: random.Random) -> str:
    head = [rng.choice(TOKENS) for _ in range(rng.randint(1, 6))]
    tail = [rng.choice(TOKENS) for _ in range(rng.randint(1, 4))]
    return " ".join(head + ["<START>"] + tail + ["<STOP>"])


def geoff_path(seq: str, temperature, heads: int = 1, gradients: bool = False) -> str:
    q = {"seq": seq, "temperature": temperature, "heads": heads}
    if gradients:
        q["gradients"] = 1
    return "/api/geoff?" + urlencode(q)


def warm_paths(n: int = 40) -> list[str]:
    rng = random.Random(1)
    return [geoff_path(random_sequence(rng), rng.choice(["0", "sqrt", "0.5", "2"]), rng.choice([1, 2]),
                       rng.random() < 0.25) for _ in range(n)]


def cold_paths(n: int) -> list[str]:
    rng = random.Random(2)
    return [geoff_path(random_sequence(rng), f"{rng.uniform(0.05, 5):.9f}", rng.choice([1, 2])) for _ in range(n)]


def digit_pngs(n: int = 400, rgba: bool = False) -> list[bytes]:
    """Strokes as a user draws them on the page's 224x224 pad, each different, sent as the page sends a drawing:
    an 8-bit grayscale PNG (static/cnn.js, grayPng). `rgba` sends the canvas's own RGBA PNG instead, as the page
    did before (and still does in a browser without CompressionStream)."""
    from PIL import Image, ImageDraw

    rng = random.Random(3)
    out = []
    for _ in range(n):
        img = Image.new("L", (224, 224), 255)
        pts = [(rng.randint(30, 194), rng.randint(30, 194)) for _ in range(rng.randint(2, 5))]
        ImageDraw.Draw(img).line(pts, fill=rng.randint(0, 60), width=rng.randint(10, 24))
        if rgba:
            img = img.convert("RGBA")
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


async def one_request(reader, writer, host: str, port: int, method: str, path: str, body: bytes | None) -> int:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    if body is not None:
        head += f"Content-Type: image/png\r\nContent-Length: {len(body)}\r\n"
    writer.write(head.encode() + b"\r\n" + (body or b""))
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def client(host, port, requests, deadline, latencies, errors, stride, offset):
    """One keep-alive client; a connection the server closes is an error, and the client connects again."""
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            method, path, body = requests[i % len(requests)]
            i += stride
            t0 = time.perf_counter()
            try:
                status = await one_request(reader, writer, host, port, method, path, body)
            except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
                errors.append("closed")
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


def loop_factory():
    """uvloop's event loop for the clients where it is installed (dlexam serve's own): the load generator runs on
    the same cores as the server, and the less CPU it takes per request, the less it slows the server down."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def load(host, port, requests, clients: int, seconds: float, pid: int | None = None) -> dict:
    """`clients` keep-alive clients for `seconds`; with `pid`, also the server's CPU milliseconds per request."""
    cpu0 = cpu_s(pid) if pid else 0.0
    latencies: list[float] = []
    errors: list[int] = []

    async def run():
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*[client(host, port, requests, deadline, latencies, errors, clients, k)
                               for k in range(clients)])

    t0 = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(run())
    wall = time.perf_counter() - t0
    ms = sorted(1000 * x for x in latencies)
    pick = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 2)  # noqa: E731
    out = {"requests": len(ms), "errors": len(errors), "rps": round(len(ms) / wall, 1), "p50_ms": pick(0.50),
           "p90_ms": pick(0.90), "p99_ms": pick(0.99), "max_ms": round(ms[-1], 2)}
    if pid:
        out["server_cpu_ms_per_request"] = round(1000 * (cpu_s(pid) - cpu0) / len(ms), 3)
    return out


def attack(host: str, port: int, stop, report) -> None:
    """Slowloris in a process of its own: SLOW_SOCKETS sockets that send the next byte of a request's headers each
    second and IDLE_SOCKETS that send nothing; once a second, any the server has closed is opened again. Puts
    {opened, closed_by_server, answered_408} on `report` when `stop` is set."""
    head = f"GET /api/geoff HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: slow\r\n".encode() + b"X-a: b\r\n" * 1000
    stats = {"opened": 0, "closed_by_server": 0, "answered_408": 0}
    socks: list[list] = []  # [socket, bytes sent, slow?]

    def connect(slow: bool) -> list:
        s = socket.create_connection((host, port))
        s.setblocking(False)
        stats["opened"] += 1
        return [s, 0, slow]

    def closed(s: socket.socket) -> bool:
        try:
            if not select.select([s], [], [], 0)[0]:
                return False
            data = s.recv(65536)
            stats["answered_408"] += data.startswith(b"HTTP/1.1 408 ")
            return True  # an answer (a 408) comes only before the server closes; an empty read is the close
        except OSError:
            return True

    socks = [connect(True) for _ in range(SLOW_SOCKETS)] + [connect(False) for _ in range(IDLE_SOCKETS)]
    while not stop.wait(1.0):
        for k, entry in enumerate(socks):
            s, sent, slow = entry
            if not closed(s):
                if not slow:
                    continue
                try:
                    s.send(head[sent : sent + 1])
                    entry[1] += 1
                    continue
                except OSError:
                    pass
            stats["closed_by_server"] += 1
            s.close()
            socks[k] = connect(slow)
    for s, _, _ in socks:
        s.close()
    report.put(stats)


def under_attack(host: str, port: int, pid: int, phases: dict[str, list], seconds: float) -> tuple[dict, dict]:
    """Each of `phases` (name -> requests) with CLIENTS clients while attack() runs: (results, attack stats)."""
    ctx = multiprocessing.get_context("spawn")
    stop, report = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=attack, args=(host, port, stop, report), daemon=True)
    proc.start()
    time.sleep(2.0)  # every attacking socket open, the first bytes sent
    try:
        out = {name: load(host, port, requests, CLIENTS, seconds, pid) for name, requests in phases.items()}
    finally:
        stop.set()
        stats = report.get(timeout=60)
        proc.join(30)
    return out, stats


def cli_seconds(args: list[str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dlexam", *args], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def cli_baseline(png_bytes: bytes) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "seven.png"
        png.write_bytes(png_bytes)
        shipped = ROOT / "src" / "dlexam" / "svhn" / "shipped.pt"
        return {"geoff_json_s": cli_seconds(["geoff", "--json", "D A A <START> A D <STOP>", "--temperature", "0.7"]),
                "svhn_predict_json_s": cli_seconds(["svhn", "predict", "--checkpoint", str(shipped), str(png),
                                                    "--json"])}


def measure(workers: int | None, seconds: float, pngs: list[bytes], pngs_rgba: list[bytes],
            attacked: bool = True) -> tuple[dict, dict]:
    """Every phase against one server started with `--workers` (None: its default): (phases, RSS in MB)."""
    proc, host, port = start_server(workers)
    try:
        warm = [("GET", p, None) for p in warm_paths()]
        predict = [("POST", "/api/svhn/predict", b) for b in pngs]
        started_mb = rss_mb(proc.pid)
        # Warm-up: both kinds of request, concurrently, so that every worker process has run both (lazy imports
        # and first allocations) before the memory baseline is taken.
        load(host, port, [x for pair in zip(warm, predict[:40], strict=True) for x in pair], 8, 2.0)
        rss = {"workers": count_workers(proc.pid), "started": round(started_mb, 1),
               "after_warmup": round(rss_mb(proc.pid), 1)}
        phases = {}
        phases["geoff_serial_cold"] = load(host, port, [("GET", p, None) for p in cold_paths(2000)], 1, 3.0, proc.pid)
        phases["svhn_serial"] = load(host, port, predict, 1, 3.0, proc.pid)
        phases["geoff_warm_cache"] = load(host, port, warm, CLIENTS, seconds, proc.pid)
        rss["after_geoff_warm"] = round(rss_mb(proc.pid), 1)
        cold = [("GET", p, None) for p in cold_paths(20000)[2000:]]  # none of these was asked before
        phases["geoff_cold_cache"] = load(host, port, cold, CLIENTS, seconds, proc.pid)
        rss["after_geoff_cold"] = round(rss_mb(proc.pid), 1)
        phases["svhn_predict"] = load(host, port, predict, CLIENTS, seconds, proc.pid)
        rss["after_svhn"] = round(rss_mb(proc.pid), 1)
        # Not a target, for the record: the canvas's own RGBA PNG (what the page sent before it sent grayscale)
        phases["svhn_predict_rgba"] = load(host, port, [("POST", "/api/svhn/predict", b) for b in pngs_rgba],
                                           CLIENTS, seconds / 2, proc.pid)
        phases["geoff_warm_cache_again"] = load(host, port, warm, CLIENTS, seconds / 2, proc.pid)
        if attacked:
            cold_again = [("GET", p, None) for p in cold_paths(40000)[20000:]]
            hit, phases["attack"] = under_attack(host, port, proc.pid, {"geoff_cold_cache_under_attack": cold_again,
                                                                        "svhn_predict_under_attack": predict}, seconds)
            phases.update(hit)
        rss["end"] = round(rss_mb(proc.pid), 1)
    finally:
        proc.terminate()  # SIGTERM: uvicorn shuts down gracefully and the server closes its workers
        proc.wait(timeout=30)
    return phases, rss


def print_phases(title: str, phases: dict, rss: dict) -> None:
    print(title)
    for name, r in phases.items():
        if name == "attack":
            print(f"  attack: {r}")
            continue
        print(f"  {name:24} {r['requests']:6} req  {r['rps']:7} req/s  p50 {r['p50_ms']:8} ms  p99 {r['p99_ms']:8} ms"
              f"  server CPU {r['server_cpu_ms_per_request']:6} ms/req  errors {r['errors']}")
    print(f"  server RSS, workers included (MB): {rss}")


def summary(phases: dict, rss: dict) -> dict:
    attacked = {}
    if "attack" in phases:
        cold, svhn = phases["geoff_cold_cache_under_attack"], phases["svhn_predict_under_attack"]
        attacked = {
            "under_attack": {"geoff_cold_p50_ms": cold["p50_ms"], "geoff_cold_p99_ms": cold["p99_ms"],
                             "svhn_p50_ms": svhn["p50_ms"], "svhn_p99_ms": svhn["p99_ms"],
                             "errors": cold["errors"] + svhn["errors"], "attack": phases["attack"],
                             "p99_vs_no_attack": {
                                 "geoff_cold": round(cold["p99_ms"] / phases["geoff_cold_cache"]["p99_ms"], 2),
                                 "svhn": round(svhn["p99_ms"] / phases["svhn_predict"]["p99_ms"], 2)}},
            "answered_under_attack": cold["errors"] + svhn["errors"] == 0,
        }
    return {
        "workers": rss["workers"],
        "geoff_cached_p50_ms": phases["geoff_warm_cache"]["p50_ms"],
        "geoff_cached_p99_ms": phases["geoff_warm_cache"]["p99_ms"],
        "geoff_cold_p50_ms": phases["geoff_cold_cache"]["p50_ms"],
        "geoff_cold_p99_ms": phases["geoff_cold_cache"]["p99_ms"],
        "svhn_p50_ms": phases["svhn_predict"]["p50_ms"], "svhn_p99_ms": phases["svhn_predict"]["p99_ms"],
        "svhn_rgba_p50_ms": phases["svhn_predict_rgba"]["p50_ms"],
        "svhn_rgba_p99_ms": phases["svhn_predict_rgba"]["p99_ms"],
        "geoff_cached_meets_target": phases["geoff_warm_cache"]["p99_ms"] < TARGET_P99_MS,
        "geoff_cold_meets_target": phases["geoff_cold_cache"]["p99_ms"] < TARGET_P99_MS,
        "svhn_meets_target": phases["svhn_predict"]["p99_ms"] < TARGET_P99_MS,
        "errors": sum(r["errors"] for name, r in phases.items() if name != "attack"),
        "rss_mb": rss, "rss_growth_after_warmup_mb": round(rss["end"] - rss["after_warmup"], 1),
        "serial_service_ms": {"geoff_cold_p50": phases["geoff_serial_cold"]["p50_ms"],
                              "svhn_p50": phases["svhn_serial"]["p50_ms"]},
        "server_cpu_ms_per_request": {name: r["server_cpu_ms_per_request"] for name, r in phases.items()
                                      if name != "attack"},
        **attacked,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=number_in(PHASE_SECONDS), default=DURATION_S,
                        help=f"length of each concurrent phase, {PHASE_SECONDS.words()} (default {DURATION_S:g})")
    parser.add_argument("--workers", type=int, default=None,
                        help="the server's --workers (default: its own default, 2)")
    parser.add_argument("--no-inline", action="store_true",
                        help="skip the baseline server computing in its own process (--workers 0)")
    parser.add_argument("--no-cli", action="store_true", help="skip the command-line baseline")
    parser.add_argument("--no-attack", action="store_true", help="skip the phases under a slow-connection attack")
    parser.add_argument("--serve-args", default="", metavar="'FLAGS'",
                        help="more flags for `dlexam serve`, e.g. '--connections-per-client 512'")
    args = parser.parse_args()
    if args.workers is not None:
        from dlexam.errors import UserError
        from dlexam.serve.workers import check_workers

        try:
            check_workers(args.workers)  # the server's own bound, before any work
        except UserError as exc:
            parser.error(str(exc))
    try:
        SERVE_ARGS.extend(shlex.split(args.serve_args))
    except ValueError as exc:  # an unclosed quote
        parser.error(f"--serve-args: {exc}")
    load_before = os.getloadavg()
    pngs, pngs_rgba = digit_pngs(), digit_pngs(rgba=True)
    attacked = not args.no_attack
    try:
        phases, rss = measure(args.workers, args.seconds, pngs, pngs_rgba, attacked)
        inline = None if args.no_inline or args.workers == 0 else measure(0, args.seconds, pngs, pngs_rgba, attacked)
    except ServerRefused as exc:  # --serve-args the server refuses: its line, exit 2
        parser.error(str(exc))
    cli = None if args.no_cli else cli_baseline(pngs[0])
    print_phases(f"dlexam serve ({rss['workers']} worker processes)", phases, rss)
    if inline is not None:
        print_phases("baseline: dlexam serve --workers 0 (answers computed in the server process)", *inline)
    print(f"CLI process per request (baseline): {cli}")

    def speedup(cli_key: str, phase: str) -> float | None:
        return None if cli is None else round(1000 * cli[cli_key] / phases[phase]["p50_ms"], 1)

    main_summary = summary(phases, rss)
    print(json.dumps({
        "benchmark": "serve_latency", "clients": CLIENTS, "seconds_per_phase": args.seconds,
        "target_p99_ms": TARGET_P99_MS, "serve_args": SERVE_ARGS, **main_summary,
        "all_targets_met": all(main_summary[k] for k in ("geoff_cached_meets_target", "geoff_cold_meets_target",
                                                          "svhn_meets_target", "answered_under_attack")
                               if k in main_summary),
        "baseline_workers_0": None if inline is None else summary(*inline),
        "baseline_cli_process_s": cli,
        "speedup_vs_cli_geoff_cold_p50": speedup("geoff_json_s", "geoff_cold_cache"),
        "speedup_vs_cli_svhn_p50": speedup("svhn_predict_json_s", "svhn_predict"),
        "phases": phases, "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
