"""`dlexam serve --workers N`: answers computed in worker processes are the server's own answers, byte for
byte; a killed worker is replaced and the server keeps answering; a hung one is killed at its job's budget;
stopping the server stops its workers; a bad --workers is one line and exit status 2."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .client import Server, untimed

EXAMPLE = "D A A <START> A D <STOP>"


def workers_of(pid: int) -> list[int]:
    """The server's worker processes (multiprocessing's spawned children running dlexam's worker)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(stat.parent.name))
    return sorted(out)


def alive(pid: int) -> bool:
    """Not yet wholly exited: running, or a zombie whose other threads are still exiting (Linux keeps a killed
    process's main thread a zombie until its last thread is gone; only then are its files, the worker's pipe
    among them, closed, and only then can its parent reap it), and not reaped (the server reaps a dead worker as
    soon as it looks at it)."""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            return True
        return len(os.listdir(f"/proc/{pid}/task")) > 1
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_until_dead(pid: int, timeout: float = 30) -> None:
    """Until `pid` has wholly exited (a zombie its parent has not reaped yet counts, once its last thread is gone)."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive"
        time.sleep(0.05)


def drawn_png(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (224, 224), (255, 255, 255, 0))
    ImageDraw.Draw(img).line([(60 + seed, 40), (150, 60 + seed), (90, 190)], fill=(0, 0, 0, 255), width=18)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


QUERIES = [
    "/api/geoff?" + urlencode({"seq": EXAMPLE, "T": t, "heads": h, "gradients": g, "exact": e})
    for t, h, g, e in [("0", 1, 0, 0), ("sqrt", 2, 1, 1), ("0.7", 2, 0, 0), ("0.05", 1, 1, 0)]
] + ["/api/geoff?seq=D+X", "/api/geoff?seq=A+B&heads=3", "/api/geoff?seq=A+<START>&gradients=1"]


def answers(server: Server) -> list[tuple[int, bytes]]:
    out = []
    for q in QUERIES:
        status, _, body = server.request("GET", q, raw=True)
        out.append((status, body))
    for seed in range(3):
        status, _, body = server.request("POST", "/api/svhn/predict", drawn_png(seed),
                                         headers={"Content-Type": "image/png"}, raw=True)
        out.append((status, body))
    status, _, body = server.request("POST", "/api/geoff/step", {"sequence": EXAMPLE, "temperature": 0, "lr": 0.5},
                                     raw=True)
    out.append((status, body))
    status, _, body = server.request("POST", "/api/svhn/predict", b"\x89PNG\r\n\x1a\n broken",
                                     headers={"Content-Type": "image/png"}, raw=True)
    out.append((status, body))
    for path in SORTS + ["/api/svhn/model"]:  # computed in the server's threads before, now by a worker
        status, _, body = server.request("GET", path, raw=True)
        out.append((status, body))
    return out


SORTS = ["/api/sort?" + urlencode(q) for q in (
    {"vocab": "100", "seq": " ".join(str(i) for i in range(63, -1, -1))}, {"seq": "D A A C"},
    {"vocab": "1", "seq": "1"})]


def test_workers_answer_exactly_what_the_server_computes_itself(server):
    assert len(workers_of(server.proc.pid)) >= 1  # the shared test server runs with its default workers
    inline = Server("--workers", "0")
    try:
        assert workers_of(inline.proc.pid) == []
        got, want = answers(server), answers(inline)
        keys = [s.request("GET", "/api/answers", raw=True) for s in (server, inline)]  # a worker's job since 12-06
    finally:
        inline.stop()
    assert [s for s, _ in want] == [200, 200, 200, 200, 400, 400, 400, 200, 200, 200, 200, 400, 200, 200, 400, 200]
    assert got == want  # status and bytes, errors included
    (status, _, key), (want_status, _, want_key) = keys  # 200, or 503 for both without the exam text
    assert status == want_status and untimed(key) == untimed(want_key)  # the measured times aside


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_a_killed_worker_is_replaced_and_stopping_stops_the_workers():
    """An idle worker killed: every request answered, never a 5xx (once the next one got a 500: the dead worker
    stayed in the queue of idle ones and was handed the job), by the server itself while no worker is alive,
    then by the new worker."""
    s = Server("--workers", "1")
    try:
        (first,) = workers_of(s.proc.pid)
        status, _, before = s.get("/api/geoff?seq=B+A+<START>+A+B&T=0.3")
        assert status == 200
        os.kill(first, signal.SIGKILL)
        wait_until_dead(first)
        deadline = time.monotonic() + 120
        while True:
            status, _, d = s.get("/api/geoff?seq=B+A+<START>+A+B&T=0.3&heads=1")
            assert status == 200 and d == before, (status, d)
            now = workers_of(s.proc.pid)
            if now and now != [first] and alive(now[0]):
                break
            assert time.monotonic() < deadline, "no new worker within 120 s"
            time.sleep(0.2)
        (second,) = now
        for seed in range(4):  # the new worker computes
            status, _, d = s.post("/api/svhn/predict", drawn_png(seed), headers={"Content-Type": "image/png"})
            assert status == 200 and 0 <= d["digit"] <= 9
    finally:
        rc = s.stop(signal.SIGINT)
    assert rc in (0, 130) and "Traceback" not in s.stderr, s.stderr
    assert "stopped; starting another" in s.stderr
    deadline = time.monotonic() + 10
    while alive(second) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(second)


@pytest.mark.parametrize("n", ["-1", "17", "two"])
def test_bad_workers_is_one_line_and_status_2(n):
    p = subprocess.run([sys.executable, "-m", "dlexam", "serve", "--port", "0", "--workers", n], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == "" and p.stderr.count("\n") == 1 and "--workers" in p.stderr


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_a_hung_worker_is_killed_at_its_job_budget_and_replaced():
    """SIGSTOP: the worker takes the job and never answers. After --job-timeout the request gets a 503 that says
    so, the worker is killed, and the next requests are answered (once: that request waited forever)."""
    s = Server("--workers", "1", "--job-timeout", "1")
    try:
        (first,) = workers_of(s.proc.pid)
        os.kill(first, signal.SIGSTOP)
        status, _, d = s.get("/api/geoff?seq=C+A+<START>+A+C&T=2", timeout=60)  # without a budget: forever
        assert status == 503 and "budget of 1.0 s" in d["error"], d
        wait_until_dead(first)  # SIGKILL ends a stopped process
        status, _, d = s.get("/api/geoff?seq=C+A+<START>+A+C&T=2")
        assert status == 200 and d["tokens"][0] == "C"
    finally:
        rc = s.stop(signal.SIGINT)
    assert rc in (0, 130) and "Traceback" not in s.stderr, s.stderr
    assert "took more than its job's budget of 1.0 s; killing it" in s.stderr


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_stopping_while_a_replacement_worker_loads_does_not_wait_for_it():
    """Ctrl-C while a lost worker's replacement is still loading (here: stopped, so it never gets ready) ends the
    server and the replacement. Before, the server waited for the replacement's start, up to its 300 s budget."""
    s = Server("--workers", "1")
    second = None
    try:
        (first,) = workers_of(s.proc.pid)
        os.kill(first, signal.SIGKILL)
        wait_until_dead(first)
        status, _, _ = s.get("/api/geoff?seq=B+A+<START>+A+B&T=0.3")  # the server sees the loss, starts another
        assert status == 200
        deadline = time.monotonic() + 60
        while not (now := [p for p in workers_of(s.proc.pid) if p != first]):
            assert time.monotonic() < deadline, "no replacement started within 60 s"
            time.sleep(0.02)
        (second,) = now
        os.kill(second, signal.SIGSTOP)  # loading, and never ready
        s.proc.send_signal(signal.SIGINT)
        try:
            ended = s.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ended = None
        second_alive = alive(second)
    finally:
        if second is not None and alive(second):  # a stopped child holds the server's stderr open: never left behind
            os.kill(second, signal.SIGKILL)
        s.stop(signal.SIGKILL)
    assert ended in (0, 130), f"the server did not end within 60 s of Ctrl-C ({ended}): {s.stderr}"
    assert "Traceback" not in s.stderr and not second_alive, s.stderr
