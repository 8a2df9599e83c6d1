"""Bounded memory for any input: long and many inputs to `dlexam sort` under a hard address-space
limit, and inputs whose work is inherently quadratic refused above their documented caps."""

from __future__ import annotations

import random

from .helpers import assert_refused, run_cli

LIMIT_MB = 1500  # address space: torch alone maps ~650 MB of it


def test_one_very_long_line_is_sorted_within_the_limit():
    rng = random.Random(0)
    line = " ".join(rng.choice("ABCD") for _ in range(300_000))
    p = run_cli("sort", stdin=line + "\n", mem_mb=LIMIT_MB, timeout=300)
    assert p.returncode == 0, p.stderr.decode()[-1500:]
    assert p.stdout.decode().split() == sorted(set(line.split()))


def test_many_long_lines_over_a_to_z_within_the_limit():
    rng = random.Random(1)
    letters = [chr(65 + i) for i in range(26)]
    lines = [[rng.choice(letters) for _ in range(rng.randint(1, 1000))] for _ in range(300)]
    p = run_cli("sort", "--vocab", "A-Z", stdin="".join(" ".join(x) + "\n" for x in lines), mem_mb=LIMIT_MB)
    assert p.returncode == 0, p.stderr.decode()[-1500:]
    got = p.stdout.decode().split("\n")
    assert all(g.split() == sorted(set(x)) for x, g in zip(lines, got, strict=False)) and len(got) == 301


def test_geoff_caps_its_quadratic_output():
    assert_refused(run_cli("geoff", " ".join(["A"] * 10_000), mem_mb=LIMIT_MB), "at most 64")


def test_summary_with_an_absurd_linear_layer_is_refused():
    assert_refused(run_cli("svhn", "summary", "--linear-in", "100000000", mem_mb=LIMIT_MB), "--linear-in")
