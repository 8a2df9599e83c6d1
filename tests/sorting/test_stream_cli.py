"""`dlexam sort` on standard input, run as a user runs it (a subprocess): answers before a bad line are
printed, memory does not grow with a line's length, endless and over-long lines are refused in one line.
The oracle of every answer is sorted(set(x))."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from dlexam.cli import main
from dlexam.sorting.decode import max_line_tokens
from dlexam.sorting.trained import load_model

SORT = [sys.executable, "-m", "dlexam", "sort"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run(args: list[str], stdin, timeout: float = 120) -> subprocess.CompletedProcess:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    kwargs = {"input": data} if isinstance(data, bytes) else {"stdin": stdin}
    return subprocess.run(SORT + args, capture_output=True, timeout=timeout, env=ENV, **kwargs)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    err = p.stderr.decode()
    assert p.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err[-2000:]
    assert err.startswith("dlexam"), err
    return err.strip()


def sorted_set(words: list[str], vocab: str = "A-D") -> str:
    return " ".join(sorted(set(words), key=int if vocab.isdigit() else None))


def test_the_answers_to_the_lines_before_a_bad_one_come_first():
    p = run([], "D A A\nC B\n\nB B B\nA E\nA\nB\n")  # line 5 of 7 is bad
    assert p.stdout.decode() == "A D\nB C\n\nB\n"
    assert one_error_line(p) == "dlexam: error: line 5: unknown token 'E': vocabulary A-D is A B C D"


def test_none_lost_at_a_chunk_boundary():
    """Line 20,001 is bad: 20,000 answers come first (chunks of 16,384 lines)."""
    rng = random.Random(1)
    lines = [[rng.choice("ABCD") for _ in range(rng.randint(0, 6))] for _ in range(20_000)]
    p = run([], "".join(" ".join(x) + "\n" for x in lines) + "A Q\nB\n")
    got = p.stdout.decode().split("\n")
    assert len(got) == 20_001 and got[-1] == ""
    assert all(g == sorted_set(x) for g, x in zip(got, lines, strict=False))
    assert "line 20001: unknown token 'Q'" in one_error_line(p)


def test_dev_zero_is_one_error_line_at_once():
    with open("/dev/zero", "rb") as zeros:
        p = run([], zeros, timeout=120)  # a hang guard (an endless read), not a timing: tests assert no timings
    assert p.stdout == b""
    assert one_error_line(p).startswith("dlexam: error: line 1: unknown token '\\x00\\x00")


# The command's own peak RSS: VmHWM of its address space. (The rusage of a child counts, through fork
# and exec, the RSS of the parent that started it: a test process holding torch and the input.)
PEAK = ("import sys; from dlexam.cli import main; rc = main(sys.argv[1:]); sys.stdout.flush(); "
        "print(next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1], file=sys.stderr); "
        "sys.exit(rc)")


def _peak_rss_mb(args: list[str], path: Path) -> tuple[float, str]:
    with open(path, "rb") as f:
        p = subprocess.run([sys.executable, "-c", PEAK, "sort", *args], stdin=f, capture_output=True, env=ENV,
                           timeout=300)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return int(p.stderr.decode().split()[-1]) / 1024, p.stdout.decode()


def test_memory_does_not_grow_with_the_length_of_a_line(tmp_path):
    """A line of 4M symbols costs what one of 100,000 does (the whole command's peak RSS, within 10%); the
    benchmark (benchmarks/sort_stream.py) goes to 30M."""
    rng = random.Random(2)
    peaks = {}
    for n in (100_000, 4_000_000):
        words = rng.choices("ABC", k=n)  # D never occurs
        path = tmp_path / f"line{n}.txt"
        path.write_text(" ".join(words) + "\nD B\n")
        peaks[n], out = _peak_rss_mb([], path)
        assert out == "A B C\nB D\n"
    assert peaks[4_000_000] < 1.1 * peaks[100_000], peaks


def test_a_large_vocabulary_line_by_line():
    rng = random.Random(3)
    lines = [[str(rng.randrange(2000)) for _ in range(rng.randint(0, 300))] for _ in range(40)]
    p = run(["--vocab", "2000"], "".join(" ".join(x) + "\n" for x in lines))
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    assert p.stdout.decode().split("\n")[:-1] == [sorted_set(x, "2000") for x in lines]


def test_a_model_that_needs_the_order_refuses_a_line_beyond_its_cap(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["sort", "train", "--vocab", "A-C", "--max-len", "3", "--positional", "sinusoidal", "--quick",
                 "--out", str(run_dir), "--json"]) == 0
    capsys.readouterr()
    cap = max_line_tokens(load_model(run_dir)[0])
    assert cap is not None and 1000 < cap <= 1_000_000
    p = run(["--checkpoint", str(run_dir)], "A B\n" + "A " * (cap + 1) + "\nC\n")
    assert p.stdout.decode().count("\n") == 1  # line 1's answer (a quick model's: right or not)
    assert f"line 2 holds more than {cap:,} symbols, the most this model reads in one line" in one_error_line(p)


def test_one_temperature_parser_and_an_error_where_the_flag_does_not_apply(capsys):
    """geoff and sort say the same about a bad temperature, in their help's words (0 = argmax, a number above 0 in
    float64's range, or 'sqrt'); sort train's temperatures, which take no 0, say theirs (before 2026-12-07
    `--temperature-end abc` was refused as the query temperatures are, "a finite number >= 0 or 'sqrt'", which the
    help of --temperature-end, "(0, 1000000], or 'sqrt'", contradicts). The compiled solver takes none but 0."""
    errors = []
    for argv in (["geoff", "--temperature", "abc"], ["sort", "--temperature", "abc", "D A A"],
                 ["sort", "evaluate", "--temperature", "abc"], ["sort", "train", "--temperature-end", "abc",
                                                                "--out", "x"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        errors.append(err.split(": ", 3)[-1].split(" (see")[0])
    assert errors[:3] == ["temperature must be 0, a number in (0, inf), or 'sqrt', got 'abc'"] * 3
    assert errors[3] == "--temperature-end must be a number in (0, 1000000], or 'sqrt', got 'abc'"  # the flag first
    for argv in (["sort", "--temperature", "sqrt", "D A A"], ["sort", "D A A", "--temperature", "0.5"],
                 ["sort", "evaluate", "--temperature", "1", "--lengths", "2", "--samples", "3"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "does not apply to the compiled solver" in err
    assert main(["sort", "--temperature", "0", "D A A"]) == 0
    assert capsys.readouterr().out == "A D\n"


@pytest.mark.parametrize("text", ["D A A\r\nC B\r\n", "D A A\rC B\r", "D A A\nC B"])
def test_line_ends(text):
    p = run([], text)
    assert (p.returncode, p.stdout.decode()) == (0, "A D\nB C\n")
