"""`dlexam variant --seed N`: a new version of the exam with a verified worked solution, and its files."""

from __future__ import annotations

import argparse
import os

from dlexam.bounds import VARIANT_SEED
from dlexam.commands.options import out_folder_text, ranged, whole_number
from dlexam.errors import UserError
from dlexam.plain import dumps, printable
from dlexam.words import counted

FORMATS = ("markdown", "pdf", "key", "prairielearn", "moodle", "qti")
DIFFICULTIES = ("standard", "harder")


seed = whole_number(VARIANT_SEED)  # a variant's seed: --seed N, --variant N
LAST_PDF_SECOND = 253_402_300_799  # 9999-12-31 23:59:59 UTC: a PDF date has four digits of year


def creation_time() -> int:
    """The date of a variant's files (its PDFs, its QTI zip's entries): $SOURCE_DATE_EPOCH (reproducible builds'
    convention, whole seconds since 1970-01-01 UTC, which the typst package does not read itself) where it is set
    and not empty, else Version A's date (documents.FILE_DATE): one variant, the same bytes. A value that is no
    such time is one line."""
    from dlexam.variants.documents import FILE_DATE

    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    if text == "":
        return FILE_DATE
    if not (text.isascii() and text.isdigit()) or int(text) > LAST_PDF_SECOND:
        raise UserError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01 UTC, at most "
                        f"{LAST_PDF_SECOND} (the end of the year 9999), not {text!r}")
    return int(text)


def formats(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"formats are some of {', '.join(FORMATS)}, got {text!r}")
    return names


def add_variant_options(p, required: bool = True) -> None:
    """--variant N and --difficulty, as every command that reads a variant takes them."""
    p.add_argument("--variant", type=seed, metavar="N", required=required,
                   help=f"the variant of seed N (`dlexam variant --seed N`), {ranged(VARIANT_SEED)}")
    p.add_argument("--difficulty", default=None, choices=DIFFICULTIES,
                   help="the variant's difficulty (default standard)")


def variant_difficulty(args: argparse.Namespace) -> str:
    """The --difficulty of --variant N (default standard). Given without --variant it would change nothing, so it
    is refused rather than silently ignored."""
    if args.difficulty is not None and args.variant is None:
        raise UserError(f"--difficulty {args.difficulty} goes with --variant N (the variant's difficulty)")
    return args.difficulty or "standard"


def register(sub) -> None:
    p = sub.add_parser("variant", help="a new version of the exam, its worked solution, key and exports",
                       description="Draw a new version of the exam (Part 1's computable items, Problem 1, "
                       "Problem 2) from a seed, check that every question is well-posed, and write it with an "
                       "exact worked solution, a key and the files learning platforms import.")
    p.add_argument("--seed", type=seed, required=True, metavar="N", help=f"the variant's seed, {ranged(VARIANT_SEED)}")
    p.add_argument("--difficulty", default="standard", choices=DIFFICULTIES,
                   help="standard (near Version A) or harder (Problem 2.4's second head has its own weights)")
    p.add_argument("--out", metavar="DIR", type=out_folder_text, help="write the documents and exports into DIR")
    p.add_argument("--format", type=formats, default=None, metavar="LIST",
                   help=f"with --out, which files: comma-separated from {', '.join(FORMATS)} (default all)")
    p.add_argument("--force", action="store_true",
                   help="replace files in DIR that dlexam did not write, or another variant's")
    p.add_argument("--explain", action="store_true",
                   help="list the checks and why earlier draws of this seed failed them")
    p.add_argument("--solution", action="store_true", help="print the worked solution instead of the exam")
    p.add_argument("--json", action="store_true", help="print one JSON object: seed, spec, key (and more)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from dlexam.variants import documents, make_variant

    if args.solution and (args.json or args.explain or args.out):  # each prints or writes the same without it
        raise UserError("--solution goes with the exam printed as text (it prints the worked solution instead); "
                        "--json, --explain and --out print or write the same with it or without it")
    if args.explain and args.json:
        raise UserError("--explain goes with the text output (--json prints the same with it or without it)")
    if not args.out:
        if args.format is not None or args.force:  # they would change nothing: the variant is printed, not written
            raise UserError(f"{'--format' if args.format is not None else '--force'} goes with --out DIR (without "
                            "it the variant is printed, not written)")
        v = make_variant(args.seed, args.difficulty)
        if args.json:
            print(dumps({**v.to_json(), "verified": verified(v).to_dict()}, indent=2))
        else:
            if args.solution:
                verified(v)
            print(explain(v) if args.explain else documents.terminal(v, solution=args.solution), end="\n"
                  if args.explain else "")
        return 0
    from dlexam.files import OutputDir

    wanted = args.format or FORMATS
    stamp = creation_time()
    with OutputDir(args.out, force=args.force, lock=True, what="--out") as out:  # checked before any work
        v = make_variant(args.seed, args.difficulty)
        check = verified(v)  # before a file is written
        written = write_files(v, out, wanted, timestamp=stamp)
    if args.json:
        print(dumps({**v.to_json(), "verified": check.to_dict()}, indent=2))
    else:
        if args.explain:
            print(explain(v))
        top = sorted({name.split("/")[0] + ("/" if "/" in name else "") for name in written})
        print(f"wrote {counted(len(written), 'file')} to {printable(str(out.path))}: " + ", ".join(top))
        print(f"verified: the key of all {check.questions} questions confirmed by computation now (float64 "
              f"transformer, autograd, nn.Conv2d; `dlexam answers --variant {v.seed}"
              + ("" if v.difficulty == "standard" else f" --difficulty {v.difficulty}") + "` shows the evidence)")
    return 0


def verified(v):
    """`v`'s key confirmed by computation (:func:`dlexam.answers.variant.verify_variant`) before it is printed or
    written; a key the computation does not confirm is a defect of dlexam's, raised (a traceback to report), never
    printed or written."""
    from dlexam.answers.variant import verify_variant

    check = verify_variant(v)
    if check.unconfirmed:
        raise RuntimeError(f"variant {v.seed} ({v.difficulty}): the computation does not confirm the key of "
                           f"{', '.join(check.unconfirmed)} (`dlexam answers --variant {v.seed}` shows why); nothing "
                           "was written: a defect of dlexam's, please report it")
    return check


def explain(v) -> str:
    lines = [f"Variant {v.seed} ({v.difficulty}): accepted at draw {v.attempts[-1].number} of the seed's stream.", "",
             "Checks every draw must pass:"]
    lines += [f"  {name}: {what}" for name, what in v.checks.items()]
    failed = [a for a in v.attempts if a.failures]
    lines += ["", f"Earlier draws refused: {len(failed)}" + (":" if failed else ".")]
    for a in failed:
        lines.append(f"  draw {a.number}:")
        lines += [f"    - {f}" for f in a.failures]
    return "\n".join(lines)


def _held_key_json(out) -> dict | None:
    """The key.json dlexam wrote into `out` before, parsed; None where there is none (or it cannot be read)."""
    import json

    if out.owns("key.json"):
        try:
            d = json.loads(out.file("key.json").read_text(encoding="utf-8"))
            return d if isinstance(d, dict) else None
        except ValueError:
            pass
    return None


def held_variant(out) -> tuple[int, str] | None:
    """(seed, difficulty) of the variant whose files dlexam wrote into `out` before (read from its key.json or its
    exam.md / solution.md heading), or None."""
    from dlexam.variants.documents import titled_variant

    d = _held_key_json(out)
    if d is not None:
        try:
            return int(d["seed"]), str(d["difficulty"])
        except (ValueError, KeyError, TypeError):
            pass
    for name in ("exam.md", "solution.md"):
        if out.owns(name):
            with open(out.file(name), encoding="utf-8", errors="replace") as f:
                held = titled_variant(f.readline())
            if held is not None:
                return held
    return None


def held_key(out) -> dict | None:
    """The key (a submission: seed, difficulty, answers) in the key.json dlexam wrote into `out` before, or None."""
    key = (_held_key_json(out) or {}).get("key")
    return key if isinstance(key, dict) else None


def _first_difference(held: dict, v) -> str | None:
    """The first answer id whose keyed answer differs between a key written before and variant `v`'s (the
    fingerprint left aside: a key written before fingerprints has none), or None where they agree."""
    import json

    now = json.loads(dumps(v.key()))
    for aid in dict.fromkeys([*now, *held]):
        if aid != "fingerprint" and now.get(aid) != held.get(aid):
            return aid
    return None


def write_files(v, out, wanted: tuple[str, ...], timestamp: int) -> list[str]:
    """Every file of the formats `wanted`, claimed before any is written (none replaces a foreign file); the PDFs
    and the QTI zip dated `timestamp` (:func:`creation_time`)."""
    from dlexam.variants import documents, exports

    files: dict[str, bytes] = {}
    if "markdown" in wanted:
        files["exam.md"] = documents.markdown(v).encode()
        files["solution.md"] = documents.markdown(v, solution=True).encode()
    if "pdf" in wanted:
        files["exam.pdf"] = documents.pdf(v, timestamp=timestamp)
        files["solution.pdf"] = documents.pdf(v, solution=True, timestamp=timestamp)
    if "key" in wanted:
        files["key.json"] = (dumps(v.to_json(), indent=2) + "\n").encode()
    if "prairielearn" in wanted:
        files |= {f"prairielearn/{name}": data for name, data in exports.prairielearn(v).items()}
    if "moodle" in wanted:
        files["moodle.xml"] = exports.moodle_xml(v)
    if "qti" in wanted:
        files["qti.zip"] = exports.qti_zip(v, timestamp)
    for name in files:
        parent = out.path
        for part in name.split("/")[:-1]:
            parent = parent / part
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                raise UserError(f"{parent} is {'a link' if parent.is_symlink() else 'a file'}; not writing into it")
    out.claim(*files)
    held = held_variant(out)
    if held is not None and held != (v.seed, v.difficulty) and not out.force:
        raise UserError(f"--out {out.path} holds variant {held[0]} ({held[1]})'s files; writing variant {v.seed} "
                        f"({v.difficulty}) there would mix two versions (choose another folder, or --force)")
    key = held_key(out)
    if held == (v.seed, v.difficulty) and key is not None and not out.force:
        if (aid := _first_difference(key, v)) is not None:
            raise UserError(f"--out {out.path} holds variant {v.seed} ({v.difficulty}) as another dlexam drew it "
                            f"(its key differs at {aid}); this dlexam's variant {v.seed} there would mix two versions "
                            "of one seed (choose another folder, or --force)")
    for name, data in files.items():
        out.file(name).parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(name, data)
    return sorted(files)
