"""Running the real command line as a hostile user would, and checking that it failed well."""

from __future__ import annotations

import hashlib
import os
import re
import resource
import subprocess
import sys
from pathlib import Path


def run_cli(*args: str, stdin: bytes | str | None = None, mem_mb: int | None = None, env: dict | None = None,
            cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m dlexam ARGS` in a subprocess, optionally under an address-space limit of `mem_mb`."""

    def limit() -> None:
        if mem_mb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))

    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run([sys.executable, "-m", "dlexam", *args], input=data, capture_output=True,
                          timeout=timeout, preexec_fn=limit, env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                          cwd=cwd)


def assert_refused(p: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit status 2, one error line on stderr and nothing else (not even the note of which model a command used:
    it comes with results only), no traceback; returns the error line."""
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2, f"exit {p.returncode}, stderr: {err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1, err
    assert errors[0].startswith("dlexam"), errors[0]
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (dlexam's bookkeeping files aside) -> SHA-256 of its bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith(".dlexam"):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def rewrite_checkpoint(path: Path, payload: dict) -> None:
    """Save a changed checkpoint in place and record it as dlexam's: what a damaged state looks like to
    the checks below the file record (the record guards ownership, not integrity)."""
    from dlexam import checkpoint
    from dlexam.files import OutputDir

    checkpoint.save(path, kind=payload["kind"], config=payload["config"], state_dict=payload["state_dict"],
                    extra=payload["extra"])
    OutputDir(path.parent).record(path.name)


def refused_here(argv: list[str], capsys, *needles: str) -> str:
    """`dlexam ARGV` run in this process (for refusals that come before any work): exit status 2 and one
    error line, nothing else; returns the line."""
    from dlexam.cli import main

    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    # "dlexam: error: ..." from a command, "dlexam sort train: error: ..." from its argument parser
    assert code == 2 and len(lines) == 1 and re.match(r"dlexam( [a-z ]+)?: error: ", lines[0]), (code, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
