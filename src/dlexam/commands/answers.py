"""`dlexam answers`: the exam's answer key, every question checked by computation."""

from __future__ import annotations

import argparse
import shlex
import shutil
import textwrap
import time

from dlexam.commands.options import given, path_text
from dlexam.commands.variant import add_variant_options, variant_difficulty
from dlexam.errors import UserError
from dlexam.mathtext import exam_plain
from dlexam.plain import dumps

VERDICT_MARK = {"agrees": "agrees", "partly agrees": "PARTLY", "disagrees": "DISAGREES", "conceptual": "conceptual",
                "unread": "UNREAD"}


def register(sub) -> None:
    p = sub.add_parser("answers", help="the exam's answer key: each question's stated answer, evidence and verdict",
                       description="Every question of the exam answered by computation now, with the exam's "
                                   "stated answer and a verdict: agrees, partly agrees, disagrees or conceptual "
                                   "(unread where the exam text given does not hold what a question reads).")
    p.add_argument("--question", "-q", metavar="ID", type=given,
                   help="show one question in full with all its evidence (P1.1-P1.8, P2.1-P2.3, Pr1.1-Pr1.4, "
                        "Pr2.1-Pr2.5)")
    p.add_argument("--json", action="store_true", help="print JSON: a list of objects (one object with --question)")
    p.add_argument("--exam", metavar="FILE", default=None, type=path_text,
                   help="the exam text (default: exam/ in the shared folder; sets DLEXAM_EXAM)")
    add_variant_options(p, required=False)
    p.set_defaults(handler=handle)


def _clean(text: str) -> str:
    return " ".join(str(text).replace("\\times", "×").split())


def _cut(text: str, width: int) -> str:
    text = _clean(text)
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def render_table(key: list[dict], width: int | None = None, max_lines: int = 4,
                 more: str = "dlexam answers --question ID") -> str:
    """The key as a terminal table: id, verdict, the exam's answer and what was computed.

    Cells wrap to at most `max_lines` lines (the rest is cut with "…"); `more`, the command that shows one answer
    in full (the same key's), is named under the table.
    """
    from dlexam.commands.tables import format_table

    width = width or shutil.get_terminal_size((140, 24)).columns
    rest = max(40, width - 5 - 11 - 4)
    w_exam = rest * 2 // 5
    w_comp = rest - w_exam
    rows = [(a["id"], VERDICT_MARK[a["verdict"]], "\n".join(_wrap(exam_plain(a["exam_answer"]), w_exam, max_lines)),
             "\n".join(_wrap(a["computed"], w_comp, max_lines))) for a in key]
    lines = [format_table(rows, ("ID", "VERDICT", "EXAM ANSWER", "COMPUTED"), align="<<<<", sep=" ")]
    counts = {v: sum(a["verdict"] == v for a in key) for v in VERDICT_MARK}
    lines.append("")
    unread = f", {counts['unread']} unread (not in the exam text given)" if counts["unread"] else ""
    partly = f"{counts['partly agrees']} partly agree, " if counts["partly agrees"] else ""
    lines.append(f"{len(key)} questions: {counts['agrees']} agree, {partly}{counts['disagrees']} disagree, "
                 f"{counts['conceptual']} conceptual{unread}. `{more}` shows one in full.")
    for a in key:
        if a["verdict"] in ("partly agrees", "disagrees", "unread"):
            lines.append(f"  {a['id']} {a['verdict']}: {a['explanation']}")
    return "\n".join(lines)


def _wrap(text: str, width: int, max_lines: int) -> list[str]:
    wrapped = textwrap.wrap(_clean(text), width) or [""]
    if len(wrapped) > max_lines:
        wrapped = wrapped[:max_lines]
        wrapped[-1] = _cut(wrapped[-1] + " …", width)
    return wrapped


def _render_value(value, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if isinstance(v, dict | list) and not _is_flat(v):
                out.append(f"{pad}{k}:")
                out += _render_value(v, indent + 1)
            else:
                out.append(f"{pad}{k}: {_scalar(v)}")
        return out
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict | list) and not _is_flat(v):
                sub = _render_value(v, indent + 1)
                out.append(f"{pad}- {sub[0].strip()}")
                out += sub[1:]
            else:
                out.append(f"{pad}- {_scalar(v)}")
        return out
    return [f"{pad}{_scalar(value)}"]


def _is_flat(v) -> bool:
    if isinstance(v, dict):
        return False
    def plain(x) -> bool:
        return not isinstance(x, dict | list)

    return all(plain(x) or (isinstance(x, list) and all(plain(y) for y in x)) for x in v) and len(str(v)) < 160


def _scalar(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    return str(v)


def render_question(a: dict) -> str:
    """One question in full: the exam's answer, what was computed, the verdict, evidence and notes."""
    lines = [f"{a['id']}: {a['question']}", "",
             f"Verdict:      {a['verdict']}",
             f"Exam answer:  {exam_plain(a['exam_answer'])}",
             f"Computed:     {a['computed']}"]
    if a.get("explanation"):
        lines.append(f"Explanation:  {a['explanation']}")
    if a.get("experiment"):
        lines.append(f"Experiment:   dlexam experiment {a['experiment']}")
    lines += ["", "Evidence:"] + _render_value(a["evidence"], 1)
    if a.get("notes"):
        lines += ["", "The text as given:"] + [f"  - {n}" for n in a["notes"]]
    if a["exam_quotes"]:  # a variant quotes no exam text
        missing = a.get("exam_quotes_missing") or []
        lines += ["", "Exam quotes (" + ("all found in the exam text" if a["exam_quotes_found"] else
                                         f"{len(missing)} NOT FOUND in the exam text, marked !") + "):"]
        lines += [f"  {'!' if q in missing else '>'} {q}" for q in a["exam_quotes"]]
    lines.append(f"\n({a['seconds']:.2f} s)")
    return "\n".join(lines)


def handle(args: argparse.Namespace) -> int:
    from dlexam.answers import answer, answer_key

    variant_difficulty(args)  # --difficulty alone: refused
    if args.variant is not None and args.exam is not None:  # it would change nothing: read, or even found, never
        raise UserError("--exam goes with the exam's own key, not --variant N (a variant's key reads no exam text)")
    if args.variant is not None:
        return handle_variant(args)
    if args.question:
        a = answer(args.question).to_dict()
        print(dumps(a, indent=2, ensure_ascii=False) if args.json else render_question(a))
        return 0
    t0 = time.perf_counter()
    key = [a.to_dict() for a in answer_key()]
    if args.json:
        print(dumps(key, indent=2, ensure_ascii=False))
    else:
        print(render_table(key, more=_one_in_full(args)))
        print(f"(computed in {time.perf_counter() - t0:.1f} s)")
    return 0


def handle_variant(args: argparse.Namespace) -> int:
    """A variant's key, each answer confirmed by computation (the exam text is not needed)."""
    from dlexam.answers.registry import normalise_id
    from dlexam.answers.variant import variant_answers
    from dlexam.variants import make_variant

    v = make_variant(args.variant, variant_difficulty(args))
    ids = [normalise_id(args.question)] if args.question else None
    key = [a.to_dict() for a in variant_answers(v, ids)]
    if args.question:
        print(dumps(key[0], indent=2, ensure_ascii=False) if args.json else render_question(key[0]))
    else:
        print(dumps(key, indent=2, ensure_ascii=False) if args.json else render_table(key, more=_one_in_full(args)))
    return 0


def _one_in_full(args: argparse.Namespace) -> str:
    """The command that shows one answer of the same key in full: the same exam text, variant and difficulty."""
    words = ["dlexam answers"]
    if getattr(args, "exam", None):
        words.append(f"--exam {shlex.quote(str(args.exam))}")
    if getattr(args, "variant", None) is not None:
        words.append(f"--variant {args.variant}")
        if getattr(args, "difficulty", None) not in (None, "standard"):
            words.append(f"--difficulty {args.difficulty}")
    return " ".join([*words, "--question ID"])
