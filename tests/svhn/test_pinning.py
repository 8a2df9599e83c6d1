"""The recipe's pinned instruction set: set before torch loads, kept where the user set it, off on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dlexam.svhn.kernels import build
from dlexam.svhn.training import pinning

SCRIPT = """
import json, os
from dlexam.svhn.training.pinning import pin, state
pinned = pin()
print(json.dumps({"pinned": pinned, **state()}))
"""


def _child(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in (*pinning.PINNED, "DLEXAM_PIN_ISA")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env={**clean, **env},
                          timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not pinning.can_pin(), reason="this CPU has no AVX2 and FMA: the pin does not apply")
def test_pin_before_torch_loads_sets_torchs_capability():
    r = _child()
    assert r["pinned"] is True and r["cpu_capability"] == "AVX2"  # torch's own answer, not the variable
    assert {k: r[k] for k in pinning.PINNED} == pinning.PINNED
    off = _child(DLEXAM_PIN_ISA="0")
    assert off["pinned"] is False and off["ATEN_CPU_CAPABILITY"] is None
    mine = _child(ATEN_CPU_CAPABILITY="default")  # a value the user set wins, and the run is then not pinned
    assert mine["cpu_capability"] == "DEFAULT" and mine["pinned"] is False


def test_pin_after_torch_loaded_changes_nothing(monkeypatch):
    import torch  # noqa: F401 - loaded: too late to pin

    for name in pinning.PINNED:
        monkeypatch.delenv(name, raising=False)
    assert pinning.pin() is False
    assert not any(name in os.environ for name in pinning.PINNED)


def test_pinned_kernels_are_built_for_the_named_target(monkeypatch):
    monkeypatch.delenv("DLEXAM_KERNEL_MARCH", raising=False)
    assert build.target_flags() == build.FLAGS and "-march=native" in build.FLAGS
    monkeypatch.setenv("DLEXAM_KERNEL_MARCH", "x86-64-v3")
    flags = build.target_flags()
    assert "-march=x86-64-v3" in flags and "-ffp-contract=off" in flags and "-march=native" not in flags
