"""`dlexam report --out DIR [--quick]`: one self-contained HTML page with every result and figure."""

from __future__ import annotations

import sys

from dlexam.commands.options import out_folder_text, path_text
from dlexam.plain import dumps, printable
from dlexam.words import counted


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="build the HTML report (DIR/index.html)",
        description="Build one self-contained HTML page, DIR/index.html, with the answer key, Geoff's "
        "matrices, the sorting transformers' attention, the SVHN CNN and every experiment.",
    )
    p.add_argument("--out", required=True, metavar="DIR", type=out_folder_text,
                   help="folder for index.html (created if missing)")
    p.add_argument("--quick", action="store_true", help="smaller runs: the whole report in a few minutes")
    p.add_argument("--json", action="store_true", help="print the build summary as JSON")
    p.add_argument("--force", action="store_true",
                   help="replace index.html and experiment files in --out even where dlexam did not write them")
    p.add_argument("--skip-missing", action="store_true",
                   help="build the sections whose shared data (exam text, MNIST) are there, and say what was left "
                   "out (default: refuse before any work)")
    p.add_argument("--exam", metavar="FILE", default=None, type=path_text,
                   help="the exam text (default: exam/ in the shared folder; sets DLEXAM_EXAM)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from dlexam.report import ReportSettings, build_report
    from dlexam.report.build import default_sections, without_missing

    def progress(section) -> None:
        if not args.json:
            status = "ok    " if section.ok else "FAILED"
            line = f"{status} {section.seconds:6.1f} s  {section.title}"
            print(line if section.ok else f"{line}: {section.error}", file=sys.stderr, flush=True)

    settings, sections = ReportSettings(quick=args.quick, force=args.force), default_sections()
    if args.skip_missing:
        settings, sections, missing = without_missing(settings, sections)
        for why in missing.values():
            print(f"dlexam: skipped: {why}", file=sys.stderr)
    result = build_report(args.out, settings, sections, progress=progress)
    if args.json:
        print(dumps(result.to_dict(), indent=1))
    else:
        failed = [s for s in result.sections if not s.ok]
        if failed:
            print(f"report written with {counted(len(failed), 'failed section')} in {result.seconds:.1f} s:",
                  file=sys.stderr)
        print(printable(str(result.path.resolve())))
    return 0 if result.ok else 1
