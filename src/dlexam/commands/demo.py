"""`dlexam demo`: the main job. A tour of every system the project builds, in a few minutes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the tour: Geoff's matrices, sorting, the CNN, the answer key, the report")
    p.add_argument("--out", default="runs/demo", help="folder for the demo's files (default: runs/demo)")
    p.set_defaults(handler=handle)


def banner(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)


def section_done(s) -> None:
    print(f"  {s.title}: {'ok' if s.ok else s.error} ({s.seconds:.0f} s)", flush=True)


def handle(args: argparse.Namespace) -> int:
    from dlexam import geoff
    from dlexam.answers import answer_key
    from dlexam.commands.answers import render_table
    from dlexam.commands.geoff import render
    from dlexam.report import ReportSettings, build_report
    from dlexam.sorting.demo import run_demo as sort_demo
    from dlexam.svhn.demo import run_demo as svhn_demo

    out = Path(args.out)
    t0 = time.perf_counter()
    banner("Problem 2: Geoff's transformer with the exam's weights, on the exam's example")
    print(render(geoff.analyse(geoff.GeoffQuery())))
    banner("Problem 2, beyond the exam: transformers that really deduplicate and sort")
    sort_demo()
    banner("Problem 1: the exam's CNN for SVHN digits")
    svhn_demo(out / "svhn")
    banner("The whole exam: 20 questions answered by computation and checked against the exam's solutions")
    print(render_table(answer_key()))
    banner("One HTML report of everything (quick mode)")
    report = build_report(out / "report", ReportSettings(quick=True), progress=section_done)
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; files under {out}")
    print(f"report: {report.path.resolve()}")
    return 0 if report.ok else 1
