"""`dlexam experiment NAME [--quick] [--out DIR] [--json]`: run one experiment that tests an exam claim."""

from __future__ import annotations

import json
import textwrap

from dlexam.experiments import MODULES, default_out_dir, format_table, run_experiment


def register(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="run an experiment that tests one of the exam's claims (figures + JSON)",
        description="Run an experiment that tests one of the exam's claims in words. Prints a table, "
        "writes PNG figures and result.json into --out (default runs/experiments/NAME).",
    )
    p.add_argument("name", choices=list(MODULES), metavar="NAME", help=f"one of: {', '.join(MODULES)}")
    p.add_argument("--quick", action="store_true", help="small settings that finish in well under a minute")
    p.add_argument("--out", default=None, help="output directory (default runs/experiments/NAME)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    out = args.out if args.out is not None else default_out_dir(args.name)
    result = run_experiment(args.name, out, quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    wrap = lambda s: textwrap.fill(s, width=100, subsequent_indent="  ")
    print(f"experiment {result['name']}{' (quick)' if result['quick'] else ''}: {result['seconds']:.1f} s")
    print(wrap(f'claim ({result["claim_source"]}): "{result["claim"]}"'))
    print()
    print(format_table(result["table"]))
    print()
    print(wrap(f"verdict: {result['verdict']}. {result['finding']}"))
    print()
    for path in result["figures"]:
        print(f"figure: {path}")
    print(f"numbers: {result['json']}")
    return 0
