"""`dlexam serve` as a user runs it: bad command lines are one line and exit status 2; Ctrl-C stops it
cleanly; binding beyond the loopback warns and still answers only requests addressed to this machine."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from .client import Server


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlexam", "serve", *args], capture_output=True, text=True, timeout=180)


def test_a_missing_sort_checkpoint_is_one_line_and_status_2(tmp_path):
    p = serve("--port", "0", "--sort-checkpoint", str(tmp_path / "nope"))
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "checkpoint not found" in p.stderr and "Traceback" not in p.stderr


def test_a_file_that_is_no_checkpoint(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    p = serve("--port", "0", "--svhn-checkpoint", str(bad))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "not a readable dlexam checkpoint" in p.stderr


def test_a_port_in_use_is_one_line_and_status_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        p = serve("--port", str(taken.getsockname()[1]))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "in use" in p.stderr, p.stderr
    assert "choose another --port" in p.stderr


def test_a_host_that_is_not_this_machines_names_the_host_not_the_port():
    """192.0.2.1 (TEST-NET-1, RFC 5737) is assigned to no machine: binding it fails with EADDRNOTAVAIL."""
    p = serve("--host", "192.0.2.1", "--port", "0")
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert p.stderr == ("dlexam: error: cannot listen on 192.0.2.1:0: 192.0.2.1 is not an address of this machine "
                        "(choose another --host, e.g. 127.0.0.1)\n")


def test_bad_port_and_host():
    p = serve("--port", "70000")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    p = serve("--port", "0", "--host", "no-such-host.invalid")
    assert p.returncode == 2 and p.stderr.count("\n") == 1


def test_ctrl_c_stops_it_cleanly_and_other_hosts_warn():
    s = Server("--host", "0.0.0.0", "--workers", "1")  # a pool, as by default; one worker starts in half the time
    try:
        status, _, d = s.get("/api/sort?seq=B+A")
        assert status == 200 and d["output"] == ["A", "B"]
        status, _, _ = s.get("/api/sort?seq=B+A", headers={"Host": f"192.0.2.7:{s.port}"})
        assert status == 421  # reachable from elsewhere, but a request addressed elsewhere is refused
    finally:
        rc = s.stop(signal.SIGINT)
    assert rc in (0, 130)
    assert "Traceback" not in s.stderr
    assert "warning: binding 0.0.0.0" in s.stderr
