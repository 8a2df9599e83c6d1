"""SIGTERM (`kill`, `timeout`, a service manager) ends a command as Ctrl-C does: one line, its own exit status (143,
128 + SIGTERM), its folders closed and what it committed kept. Before, SIGTERM's default action ended the process
where it stood: a report left empty experiments/NAME folders and locks behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dlexam import checkpoint
from dlexam.cli import main


def test_sigterm_ends_a_training_run_as_ctrl_c_does_and_it_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "dlexam", "sort", "train", "--vocab", "A-C", "--max-len", "4",
                          "--steps", "1000000", "--checkpoint-every", "5", "--out", str(out), "--quiet"],
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "last.pt").exists():  # its first commit point: the run is training
            assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()[-2000:]
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert (p.returncode, err) == (143, "dlexam: terminated\n")
    assert sorted(f for f in os.listdir(out) if not f.startswith(".")) == ["last.pt"]  # no temporary file left
    assert checkpoint.load(out / "last.pt")["extra"]["finished"] is False
    # the lock is free and the run's state is read on resume: refused only for a setting that differs from its own
    assert main(["sort", "train", "--out", str(out), "--resume", "--steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--steps" in err and "lock" not in err and "damaged" not in err, err
