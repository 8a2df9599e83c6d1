"""`dlexam experiment NAME [--quick] [--out DIR] [--json]`: run one experiment that tests an exam claim."""

from __future__ import annotations

import textwrap

from dlexam.commands.options import out_folder_text
from dlexam.commands.tables import format_table
from dlexam.experiments.registry import MODULES
from dlexam.plain import dumps, printable


def register(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="run an experiment that tests one of the exam's claims (figures + JSON)",
        description="Run an experiment that tests one of the exam's claims in words. Prints a table, "
        "writes PNG figures and result.json into --out (default runs/experiments/NAME).",
    )
    p.add_argument("name", choices=list(MODULES), metavar="NAME", help=f"one of: {', '.join(MODULES)}")
    p.add_argument("--quick", action="store_true", help="small settings that finish in well under a minute")
    p.add_argument("--out", default=None, type=out_folder_text, help="output directory (default runs/experiments/NAME)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.add_argument("--force", action="store_true",
                   help="replace result.json and figures in --out even where dlexam did not write them")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from dlexam.experiments import ExperimentRun, run_experiment

    r = run_experiment(ExperimentRun(args.name, args.out, quick=args.quick, force=args.force))
    if args.json:
        print(dumps(r.to_json(), indent=2))
        return 0
    wrap = lambda s: textwrap.fill(s, width=100, subsequent_indent="  ")
    print(f"experiment {r.name}{' (quick)' if r.quick else ''}: {r.seconds:.1f} s")
    print(wrap(f'claim ({r.claim_source}): "{r.claim}"'))
    print()
    print(format_table(r.table))
    print()
    print(wrap(f"verdict: {r.verdict}. {r.finding}"))
    print()
    for path in r.figures:
        print(f"figure: {printable(str(path))}")
    print(f"numbers: {printable(str(r.json))}")
    return 0
