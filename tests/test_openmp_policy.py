"""dlexam sets OMP_WAIT_POLICY=PASSIVE before torch loads (issue 13: two-thread collapse under load),
and a value the user set wins."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = r"""
import importlib.abc, os, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("OMP_WAIT_POLICY"))
        return None
sys.meta_path.insert(0, Watch())
from dlexam.cli import main
rc = main(["geoff", "--json"])
print("policy-at-torch-import:", seen[0] if seen else "torch never imported", file=sys.stderr)
"""


def _policy_seen(env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy is not None:
        env["OMP_WAIT_POLICY"] = env_policy
    p = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stderr.strip().splitlines()[-1].split(": ", 1)[1]


def test_passive_is_set_before_torch_loads():
    assert _policy_seen(None) == "PASSIVE"


def test_the_users_policy_wins():
    assert _policy_seen("ACTIVE") == "ACTIVE"
