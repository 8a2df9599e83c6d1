"""What an upload may cost `dlexam serve` is decided from its header (issue 22, item 6): a PNG of a hundred bytes
that claims 45,000 x 1 pixels (once 10 s and +1.9 GB; its 100,000 x 1 sibling a 500) costs what its pixels cost,
in the server itself (--workers 0) and in a worker process alike; a header over the cap costs no decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..reliability.bigpng import png
from .client import Server
from .test_workers import workers_of

TINY_BOMBS = {"45,000x1": (45_000, 1), "100,000x1": (100_000, 1), "1x100,000": (1, 100_000),
              "1,000,000x1": (1_000_000, 1)}


def peak_mb(pid: int) -> float:
    """The most resident memory process `pid` has had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@pytest.fixture(scope="module")
def inline():
    s = Server("--workers", "0")
    yield s
    rc = s.stop()
    assert rc in (0, 130) and "Traceback" not in s.stderr, s.stderr


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads VmHWM from /proc")
@pytest.mark.parametrize("which", ["inline", "workers"])
def test_tiny_files_of_huge_width_cost_what_their_pixels_cost(request, inline, which):
    s = inline if which == "inline" else request.getfixturevalue("server")
    procs = [s.proc.pid, *workers_of(s.proc.pid)]
    s.post("/api/svhn/predict", png(64, 64), headers={"Content-Type": "image/png"})  # every process warmed up
    s.post("/api/svhn/predict", png(64, 64), headers={"Content-Type": "image/png"})
    before = {pid: peak_mb(pid) for pid in procs}
    for name, (w, h) in TINY_BOMBS.items():
        data = png(w, h)
        assert len(data) < 2000, (name, len(data))
        status, _, d = s.post("/api/svhn/predict", data, headers={"Content-Type": "image/png"})
        assert status == 200 and 0 <= d["digit"] <= 9, (name, status, d)
        # a constant grey image is its edge repeated: the input the model gets is that grey, everywhere
        assert d["image"] == [[128] * 32] * 32, name
    growth = {pid: peak_mb(pid) - before[pid] for pid in procs}
    assert all(g < 100 for g in growth.values()), growth
