"""Targets: `dlexam sort` answers any input in bounded memory.

1. 2,000 lines over A-Z of 1..1,000 tokens: under 5 s and under 1 GB peak RSS (the whole command).
2. One line of 1,000,000 tokens over A-D: sorted correctly, under 1 GB.
3. A million short lines (0..8 tokens over A-D): streamed, peak RSS flat (within 10% of 100,000 lines).

Every case runs the real command (`python -m dlexam sort`) in a subprocess; its peak RSS is the
kernel's own account of that process (os.wait4), and every answer is checked against
sorted(set(x)).

Baseline, in the same run: the full-matrix prefill (the model's forward pass over the whole prompt
batch, which holds (B, H, T, T) scores, as prefill did before) against the blocked prefill (keys and
values kept, queries in blocks) and the multiset prefill (a one-layer model without positions keeps
only each token's count: what `dlexam sort` now uses for such models), on the first 400 of the 2,000
A-Z lines in batches of 200 in input order, each in its own process. The last line is one JSON
object.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = r"""
import sys, time, torch
torch.set_num_threads(1)
from dlexam.sorting.compiled import compile_sorter
from dlexam.sorting.decode import left_padded_prompts
from dlexam.sorting.vocab import Vocabulary
mode, path = sys.argv[1], sys.argv[2]
vocab = Vocabulary.from_spec("A-Z")
model = compile_sorter(26)
lines = [vocab.parse(t) for t in open(path).read().splitlines()]
t0 = time.perf_counter()
with torch.no_grad():
    for i in range(0, len(lines), 200):
        tokens, mask = left_padded_prompts(lines[i : i + 200], vocab)
        if mode == "full":
            logits = model(tokens, mask)[:, -1]  # every (T, T) score matrix at once
        elif mode == "blocked":
            logits, _ = model.prefill(tokens, mask, multiset=False)  # keys and values kept, blocks of queries
        else:
            logits, _ = model.prefill(tokens, mask)  # one layer, no positions: counts of each token
print(time.perf_counter() - t0)
"""


def run(cmd: list[str], stdin: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one process."""
    t0 = time.perf_counter()
    with open(stdin or os.devnull, "rb") as f, tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdin=f, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode()
        err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed: {err[-500:]}")
    return wall, usage.ru_maxrss / 1024, text


def check(inputs: list[list[str]], output: str) -> float:
    got = output.split("\n")[: len(inputs)]
    ok = sum(g.split() == sorted(set(x)) for x, g in zip(inputs, got, strict=True))
    return ok / len(inputs)


def main() -> None:
    rng = random.Random(0)
    letters = [chr(65 + i) for i in range(26)]
    sort = [sys.executable, "-m", "dlexam", "sort"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        az = [[rng.choice(letters) for _ in range(rng.randint(1, 1000))] for _ in range(2000)]
        (tmp / "az.txt").write_text("".join(" ".join(x) + "\n" for x in az))
        runs = [run([*sort, "--vocab", "A-Z"], tmp / "az.txt") for _ in range(3)]
        az_walls = [r[0] for r in runs]
        az_rss = max(r[1] for r in runs)
        az_exact = check(az, runs[0][2])

        long = [rng.choice("ABCD") for _ in range(1_000_000)]
        (tmp / "long.txt").write_text(" ".join(long) + "\n")
        long_wall, long_rss, long_out = run(sort, tmp / "long.txt")
        long_exact = check([long], long_out)

        short = [[rng.choice("ABCD") for _ in range(rng.randint(0, 8))] for _ in range(1_000_000)]
        text = "".join(" ".join(x) + "\n" for x in short)
        (tmp / "short.txt").write_text(text)
        (tmp / "short100k.txt").write_text("".join(" ".join(x) + "\n" for x in short[:100_000]))
        s_wall, s_rss, s_out = run(sort, tmp / "short.txt")
        s_exact = check(short, s_out)
        s100_wall, s100_rss, _ = run(sort, tmp / "short100k.txt")

        (tmp / "az400.txt").write_text("".join(" ".join(x) + "\n" for x in az[:400]))
        base = {}
        for mode in ("full", "blocked", "multiset"):
            wall, rss, out = run([sys.executable, "-c", BASELINE, mode, str(tmp / "az400.txt")])
            base[mode] = {"prefill_s": round(float(out.strip()), 3), "peak_rss_mb": round(rss)}
    az_median = statistics.median(az_walls)
    print(json.dumps({
        "benchmark": "sort_stream",
        "az_2000_lines": {"median_s": round(az_median, 2), "runs_s": [round(w, 2) for w in az_walls],
                          "peak_rss_mb": round(az_rss), "exact_match": az_exact,
                          "target": "< 5 s, < 1024 MB", "met": az_median < 5 and az_rss < 1024 and az_exact == 1},
        "one_line_1e6_tokens": {"s": round(long_wall, 2), "peak_rss_mb": round(long_rss), "exact_match": long_exact,
                                "met": long_rss < 1024 and long_exact == 1},
        "short_lines": {"lines_1e6": {"s": round(s_wall, 2), "peak_rss_mb": round(s_rss)},
                        "lines_1e5": {"s": round(s100_wall, 2), "peak_rss_mb": round(s100_rss)},
                        "rss_ratio_1e6_over_1e5": round(s_rss / s100_rss, 3), "exact_match": s_exact,
                        "met": s_rss < 1.1 * s100_rss and s_exact == 1},
        "baseline_prefill_400_az_lines": {**base,
                                         "memory_ratio_full_over_blocked": round(base["full"]["peak_rss_mb"]
                                                                                 / base["blocked"]["peak_rss_mb"], 2),
                                         "time_ratio_full_over_blocked": round(base["full"]["prefill_s"]
                                                                               / base["blocked"]["prefill_s"], 2),
                                         "time_ratio_blocked_over_multiset": round(
                                             base["blocked"]["prefill_s"] / base["multiset"]["prefill_s"], 2)},
    }))


if __name__ == "__main__":
    main()
