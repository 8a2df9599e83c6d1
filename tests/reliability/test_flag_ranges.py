"""Every numeric flag has a documented range, checked before any work (docs/reliability.md lists them):
threads are 1 to 4 per CPU everywhere (a million threads crashed torch with SIGSEGV), and seeds stay
within what torch's generators take (2**64 gave an "Overflow when unpacking long long" traceback)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from dlexam import limits
from dlexam.cli import main

from .helpers import refused_here

SORT_TRAIN = ["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--quiet", "--json"]
HUGE_SEED = str(2**64)


def _commands(tmp_path, synth_dir):
    out = str(tmp_path / "out")
    return {
        "sort train": [*SORT_TRAIN, "--out", out],
        "sort evaluate": ["sort", "evaluate", "--lengths", "1-3", "--samples", "3"],
        "svhn train": ["svhn", "train", "--data", str(synth_dir), "--out", out, "--quick", "--quiet"],
        "svhn train --recipe": ["svhn", "train", "--recipe", "quick", "--out", out, "--quiet"],
    }


@pytest.mark.parametrize("threads", ["1000000", "0", "-3", str(limits.max_threads() + 1)])
@pytest.mark.parametrize("command", ["sort train", "sort evaluate", "svhn train", "svhn train --recipe"])
def test_threads_are_one_to_four_per_cpu(tmp_path, synth_dir, capsys, command, threads):
    argv = _commands(tmp_path, synth_dir)[command]
    refused_here([*argv, "--threads", threads], capsys, "threads", f"[1, {limits.max_threads()}]")
    assert not (tmp_path / "out" / "last.pt").exists()


@pytest.mark.parametrize("flag, command", [
    ("--seed", "sort train"), ("--data-seed", "sort train"), ("--seed", "sort evaluate"), ("--seed", "svhn train"),
    ("--split-seed", "svhn train"), ("--seed", "svhn train --recipe"), ("--seed", "svhn synth"),
])
@pytest.mark.parametrize("seed", [HUGE_SEED, "-1"])
def test_seeds_stay_within_what_torch_takes(tmp_path, synth_dir, capsys, flag, command, seed):
    commands = _commands(tmp_path, synth_dir)
    commands["svhn synth"] = ["svhn", "synth", "--out", str(tmp_path / "out"), "--train", "10", "--test", "10"]
    err = refused_here([*commands[command], flag, seed], capsys, f"{flag} must be")  # the flag, not split_seed
    assert "Overflow" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.mat"))


def test_the_largest_documented_seed_works(tmp_path, capsys):
    """The top of the range is accepted and gives a different draw from seed 0 (it is used, not clipped)."""
    import json

    top = str(limits.MAX_SEED)
    assert main(["sort", "evaluate", "--lengths", "3", "--samples", "5", "--seed", top, "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["sort", "evaluate", "--lengths", "3", "--samples", "5", "--seed", "0", "--json"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["n"] == b["n"] == 5
    assert main(["svhn", "synth", "--out", str(tmp_path / "s"), "--train", "8", "--test", "8", "--seed", top]) == 0


def test_limits_threads_counts_the_cpus_this_process_may_use():
    import os

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert limits.cpu_count() == n and limits.max_threads() == 4 * n


HEAVY = ("torch", "numpy", "PIL")
# One refusal of each kind the parser makes as it reads the flags (a whole number, a number, a seed, threads, a
# temperature, a vocabulary, an output folder that cannot be one, a file to read that is not there) and of the flags
# that go together, for every command that loads torch: each is refused in one line, and none loads torch.
LIGHT_REFUSALS = [
    ["svhn", "train", "--out", "OUT", "--epochs", "0"],
    ["svhn", "train", "--out", "OUT", "--lr", "nan"],
    ["svhn", "train", "--out", "OUT", "--threads", "0"],
    ["svhn", "train", "--out", "FILE"],
    ["svhn", "train", "--recipe", "quick", "--out", "OUT", "--epochs", "3"],
    ["svhn", "synth", "--out", "OUT", "--seed", "-1"],
    ["svhn", "synth", "--out", "OUT", "--images", "5"],
    ["svhn", "mnist", "--out", "OUT", "--train", "0"],
    ["svhn", "summary", "--linear-in", "0"],
    ["svhn", "predict", "MISSING"],
    ["svhn", "explain", "MISSING", "--layer", "conv1", "--at", "0,0,0"],
    ["svhn", "evaluate", "--data", "OUT", "--checkpoint", "MISSING"],
    ["sort", "--vocab", "Z-A", "A"],
    ["sort", "--checkpoint", "MISSING", "A"],
    ["sort", "train", "--out", "OUT", "--max-len", "0"],
    ["sort", "train", "--out", "OUT", "--max-len", "3", "--temperature-end", "nan"],
    ["geoff", "--temperature", "-1"],
    ["geoff", "--lr", "0.5"],
    ["report", "--out", "FILE"],
    ["variant", "--seed", "1", "--out", "FILE"],
    ["grade", "--variant", "1", "MISSING"],
]


def test_a_bad_flag_value_is_refused_before_torch_loads(tmp_path):
    """Each refusal above came after torch's import (about a second each, 2026-12-07; benchmarks/refusal_speed.py
    times one) though no check needs it. All in one fresh interpreter, which says whether torch, numpy or Pillow
    loaded."""
    (tmp_path / "FILE").write_text("a file, not a folder")
    argvs = [[str(tmp_path / w) if w in ("OUT", "FILE", "MISSING") else w for w in argv] for argv in LIGHT_REFUSALS]
    code = ("import sys\nfrom dlexam.cli import main\n"
            f"codes = [main(argv) for argv in {argvs!r}]\n"
            f"print(*codes, *[m for m in {HEAVY!r} if m in sys.modules])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["2"] * len(argvs), (p.stdout, p.stderr[-3000:])
    lines = p.stderr.splitlines()
    assert len(lines) == len(argvs) and all(re.match(r"dlexam( [a-z ]+)?: error: ", line) for line in lines), lines
    assert not (tmp_path / "OUT").exists()
