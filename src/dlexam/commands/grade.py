"""`dlexam grade --variant N SUBMISSION` (or `--key KEY.json`): score a submission against its exam's key, with
feedback."""

from __future__ import annotations

import argparse
import contextlib

from dlexam.commands.options import path_text
from dlexam.commands.variant import add_variant_options, variant_difficulty
from dlexam.plain import dumps


def register(sub) -> None:
    p = sub.add_parser("grade", help="grade a submission (JSON or CSV) against a variant's key",
                       description="Score each answer of a submission against the key of `dlexam variant --seed "
                       "N`: exact fractions for rational answers, the key's tolerance for the others, partial "
                       "credit per matrix cell, and for each wrong cell its right value and why. An answer that "
                       "cannot be read (an option out of range, text that is no number, a matrix of the wrong "
                       "shape) scores 0 with what is wrong with it; the rest is graded as usual.")
    add_variant_options(p, required=False)
    p.add_argument("--key", metavar="KEY.json", type=path_text,
                   help="grade against this key.json of `dlexam variant --out` instead of --variant N: the exam the "
                   "sheets answer, even where this dlexam draws its seed otherwise (wrong answers are shown with the "
                   "right ones and why, as --variant N shows them; a key.json written before 2026-12-06 has no "
                   "reasons)")
    p.add_argument("submission", metavar="SUBMISSION", type=path_text,
                   help="a JSON object {answer id: answer} or a CSV file (id,value per line; a matrix as one line per "
                   "row); - reads standard input")
    p.add_argument("--json", action="store_true", help="print one JSON object (score, max_score, fields, ...)")
    p.set_defaults(handler=handle)


def opened(path: str, what: str):
    """The submission's or the key's file, opened before anything heavy is imported: a file that is not there or
    cannot be read (a folder) is refused at once, not after torch's import."""
    import sys

    from dlexam.errors import UserError

    if path == "-" and what == "submission":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def read(f, path: str, what: str, most: int) -> bytes:
    """At most `most` + 1 bytes of `f` (the reader refuses more), a read error said as one line."""
    from dlexam.errors import UserError

    try:
        return f.read(most + 1)
    except OSError as exc:
        raise UserError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def handle(args: argparse.Namespace) -> int:
    from dlexam.errors import UserError

    if (args.variant is None) == (args.key is None):
        raise UserError("give the exam to grade against: --variant N, or --key KEY.json (one of them)")
    with contextlib.ExitStack() as files:
        key_file = None if args.key is None else files.enter_context(opened(args.key, "key"))
        submission_file = opened(args.submission, "submission")
        if args.submission != "-":  # standard input stays open
            files.enter_context(submission_file)
        from dlexam.variants import make_variant
        from dlexam.variants.saved import MAX_KEY_BYTES, read_key
        from dlexam.variants.submission import MAX_SUBMISSION_BYTES

        difficulty = variant_difficulty(args)  # with --key the key says its difficulty
        if key_file is not None:
            against = read_key(read(key_file, args.key, "key", MAX_KEY_BYTES), args.key)
        else:
            against = make_variant(args.variant, difficulty)
        raw = read(submission_file, args.submission, "submission", MAX_SUBMISSION_BYTES)
    from dlexam.variants.grade import grade
    from dlexam.variants.submission import read_submission

    submission = read_submission(raw, args.submission)
    result = grade(against, submission)
    print(dumps(result.to_json(), indent=2) if args.json else render(result))
    return 0


def render(g) -> str:
    from dlexam.commands.tables import format_table

    def result(f) -> str:
        if f.correct:
            return "ok"
        if f.id in g.missing:
            return "not answered"
        unreadable = sum("invalid" in w for w in f.wrong)
        return f"{len(f.wrong)} wrong" + (f" ({unreadable} unreadable)" if unreadable else "")

    rows = [(f.id, f"{float(f.points):.2f}", f"{float(f.max_points):.2f}", result(f)) for f in g.fields]
    lines = [f"Variant {g.seed} ({g.difficulty}): {float(g.score):.2f} of {float(g.max_score):.2f} points"
             + (f" (+ {float(g.manual_points):.2f} points of essays for a person to grade)" if g.manual_points
                else ""), "",
             format_table(rows, ("ANSWER", "POINTS", "OF", "RESULT"), align="<>><", sep="  ")]
    if g.missing:
        lines.append(f"  not answered: {', '.join(g.missing)}")
    for f in g.fields:
        lines += [f"  {f.id}: note: {note}" for note in f.notes]
        if f.id in g.missing:
            continue
        cells = sum("cell" in w for w in f.wrong)
        if f.mistake and cells:  # a whole-answer mistake is said once, its cells then say only what each adds
            lines.append(f"  {f.id}: {f.mistake} (" + (f"all {cells} wrong cells" if cells == len(f.wrong) else
                                                          f"{cells} of its {len(f.wrong)} wrong cells") + ")")
        for w in f.wrong:
            where = f" {w['where']}" if w["where"] != f.id else ""
            reason = w.get("cell", w["reason"])
            if "option" in w:  # a wrong choice: say which option each reason is about
                reason = "; ".join(f"option {k}: {r}" for k, r in ((w["option"], w["option_why"]),
                                                                   (w["answer"], w["right_why"])) if r)
            lines.append(f"  {f.id}{where}: gave {w['given'] or '(nothing)'}, "
                         f"expected {w['expected']}" + (f" - {reason}" if reason else ""))
    return "\n".join(lines)
