"""A `dlexam serve` in a subprocess, and a small HTTP client for the tests (the standard library only).

:class:`Server` starts the real command (``python -m dlexam serve --port 0 ...``), reads the
``serving on http://127.0.0.1:PORT/`` line, and stops it with SIGINT as a user's Ctrl-C would,
keeping its exit status and stderr for the tests to check.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

STARTUP_S = 120  # torch's import and the models' load on a busy 2-core machine


def untimed(body: bytes) -> bytes:
    """The answer key's bytes (/api/answers) with every measured time (each answer's `seconds`, P1.7's median seconds,
    P2.1's seconds per update) written as 0: the one part of two computations of the key that may differ."""
    return re.sub(rb'("(?:seconds|seconds_per_update|[a-z_]+_s)": ?)-?[0-9][0-9.eE+-]*', rb"\g<1>0", body)


class Server:
    def __init__(self, *args: str, env: dict | None = None):
        self.args = [sys.executable, "-m", "dlexam", "serve", "--port", "0", *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.url = self._read_url()
        m = re.match(r"http://(.+):(\d+)/$", self.url)
        self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
        self.returncode: int | None = None
        self.stderr = ""

    def _read_url(self) -> str:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("serving on "):
                    return line.split("serving on ", 1)[1].strip()
            if self.proc.poll() is not None:
                err = self.proc.stderr.read()[-2000:]
                raise RuntimeError(f"dlexam serve exited with {self.proc.returncode}: {err}")
        self.proc.kill()
        raise RuntimeError("dlexam serve printed no 'serving on' line")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.returncode is None:
            self.proc.send_signal(sig)
            try:
                _, self.stderr = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                _, self.stderr = self.proc.communicate()
            self.returncode = self.proc.returncode
        return self.returncode

    def request(self, method: str, path: str, body=None, headers: dict | None = None,
                timeout: float = 120, raw: bool = False) -> tuple[int, dict, object]:
        """(status, headers, JSON body or raw bytes; the bytes always with `raw`). A dict body is sent as JSON."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        headers = dict(headers or {})
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        if not raw and hdrs.get("content-type", "").startswith("application/json"):
            return resp.status, hdrs, json.loads(data)
        return resp.status, hdrs, data

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body=None, **kw):
        return self.request("POST", path, body, **kw)


def train_tiny_sorter(out: Path) -> Path:
    """A sort-transformer checkpoint trained for a moment on A-D: a real checkpoint to load and decode with."""
    import torch

    from dlexam.cpu import torch_threads
    from dlexam.sorting.train import TrainConfig, train

    torch.manual_seed(0)
    with torch_threads(1):  # one thread: on a busy machine a second one makes these tiny steps ~40x slower
        train(TrainConfig(vocab="A-D", max_len=6, steps=60, batch_size=64, warmup=10, checkpoint_every=60), out)
    return out
