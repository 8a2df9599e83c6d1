"""`dlexam sort`: deduplicate and sort with a transformer (Problem 2, solved).

dlexam sort "D A A"                       # -> A D (compiled exact solver)
dlexam sort --vocab 100 "42 7 7 99"       # -> 7 42 99
printf 'D A A\\nC B\\n' | dlexam sort       # one answer per line
dlexam sort --trained "C A D B A C"       # the trained A-D sorter shipped with dlexam
dlexam sort --checkpoint runs/sort-v4 "D A A"
dlexam sort train --vocab A-D --max-len 8 --out runs/sort-v4 [--quick]
dlexam sort train --out runs/sort-v4 --resume  # continue an interrupted run, exactly
dlexam sort evaluate --checkpoint runs/sort-v4 --lengths 1-32 --json
"""

from __future__ import annotations

import argparse
import os
import sys

from dlexam.commands.sort_options import (
    ACTIONS,
    CONFIG_FLAGS,
    QUERY_OPTIONS,
    evaluate_options,
    query_options,
    train_options,
)
from dlexam.plain import dumps, printable

# The flags of `dlexam sort` and of its actions are dlexam.commands.sort_options; this module parses the action,
# runs it and prints.

REPORT, REPORT_QUICK = 300, 50  # held-out inputs of each length that `sort train`'s report decodes


def register(sub) -> None:
    p = sub.add_parser(
        "sort",
        help="deduplicate and sort a sequence with a transformer; also `sort train`, `sort evaluate`",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    query_options(p)
    p.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="SEQUENCE | train ... | evaluate ...",
        help="symbols separated by spaces (none: read standard input, one sequence per line)",
    )
    p.set_defaults(handler=lambda args: _dispatch(args, type(p)))


def _set_threads(n: int) -> None:
    """Tiny models: one intra-op thread is fastest, and on a shared machine it avoids oversubscription."""
    from dlexam import limits

    limits.threads("threads", n)  # 1 to 4 per CPU: a million threads crash torch
    import torch

    torch.set_num_threads(n)


def _dispatch(args, parser_class) -> int:
    from dlexam.errors import UserError

    words = list(args.words)
    before = {k: getattr(args, k) for k in QUERY_OPTIONS if getattr(args, k) is not None}  # options given first
    if words and words[0] in ACTIONS:
        action = words.pop(0)
        # a TrainConfig field's error names its flag (n_heads -> --heads: dlexam.cli.flag_message)
        p = parser_class(prog=f"dlexam sort {action}", fields={field: flag for flag, field in CONFIG_FLAGS.items()})
        (train_options if action == "train" else evaluate_options)(p)
        try:
            sub_args = p.parse_args(words)
        except SystemExit as exc:  # a usage error (printed) or --help
            return int(exc.code or 0)
        # `dlexam sort --vocab A-Z train ...`: an option before the action counts as if it followed it (one
        # given after wins); one the action does not take is refused, never dropped in silence.
        for name, value in before.items():
            if not hasattr(sub_args, name):
                raise UserError(f"--{name} does not apply to `dlexam sort {action}`")
            if getattr(sub_args, name) is None:
                setattr(sub_args, name, value)
        vars(args).update(vars(sub_args))  # what the command ran with: an error names its flag from these
        return _train(sub_args) if action == "train" else _evaluate(sub_args)
    # Options may also follow the sequence, or stand between its symbols (`sort D --trained A`): parse the rest
    # again, intermixed, keeping what came first.
    p = parser_class(prog="dlexam sort")
    query_options(p)
    p.add_argument("sequence", nargs="*")
    p.set_defaults(**{k: getattr(args, k) for k in QUERY_OPTIONS})
    # `--` ends the options: every word after it is a symbol. parse_intermixed_args drops a leading `--` and
    # reads the flags after it (`sort -- --trained A` used the shipped sorter), so split there first.
    after: list[str] = []
    if "--" in words:
        words, after = words[: words.index("--")], words[words.index("--") + 1 :]
    try:
        q = p.parse_intermixed_args(words)
    except SystemExit as exc:
        return int(exc.code or 0)
    q.sequence = [*q.sequence, *after]
    vars(args).update(vars(q))
    return _query(q)


def _load(a):
    """The sorter the options name: --checkpoint, --trained (the shipped one), else the compiled solver."""
    from dlexam.errors import UserError
    from dlexam.sorting.sorter import load_sorter

    if a.trained and a.checkpoint is not None:
        raise UserError("give --trained (the shipped sorter) or --checkpoint, not both")
    if a.trained:
        from dlexam.sorting.shipped import load_shipped

        return load_shipped(a.vocab)
    return load_sorter(a.vocab, a.checkpoint)


def _query(q) -> int:
    from dlexam.errors import UserError
    from dlexam.sorting.sorter import StreamNotes, answer_stream
    from dlexam.sorting.vocab import START_TEXT
    from dlexam.words import sequence_advice

    _set_threads(1)
    sorter = _load(q)
    # refused here, before the stream, so that a refused --temperature gets no advice on how to write the sequence
    q.temperature = sorter.decoding_temperature(q.temperature)
    notes = StreamNotes(sorter.max_len)
    if q.sequence:
        source, numbered, chunk_lines = [" ".join(q.sequence)], False, 1
    elif sys.stdin is None:  # standard input closed: no lines
        source, numbered, chunk_lines = [], True, None
    else:  # one sequence per line, read a block at a time: memory stays flat however long the input or a line
        source, numbered = getattr(sys.stdin, "buffer", sys.stdin), True
        chunk_lines = 1 if sys.stdin.isatty() else None  # typed by hand: answer each line as it comes
    options = {"chunk_lines": chunk_lines} if chunk_lines else {}
    out = sys.stdout if sys.stdout is not None else open(os.devnull, "w")  # closed (`>&-`): nowhere, as print() does
    answered = 0
    try:
        for line in answer_stream(sorter, source, numbered=numbered, temperature=q.temperature, notes=notes,
                                  warn=lambda w: print(f"dlexam: warning: {w}", file=sys.stderr, flush=True),
                                  **options):
            out.write(line + "\n")
            answered += 1
    except UserError as exc:
        out.flush()  # the answers to the lines before the bad one, their warnings, then the error line
        if answered:  # before 2026-12-07 (sortaudit) an error dropped the warnings on those answers
            _warn_after(sorter, notes)
        hint = sequence_advice(" ".join(q.sequence), sorter.vocab.symbols, start=START_TEXT) if q.sequence else None
        if hint:
            raise UserError(f"{exc}; {hint}") from None
        raise
    _warn_after(sorter, notes)
    return 0


def _warn_after(sorter, notes) -> None:
    """The warnings on the answers given: an unfinished checkpoint's, then what the stream noticed."""
    for w in ([_unfinished(sorter)] if not sorter.finished else []) + notes.warnings():
        print(f"dlexam: warning: {w}", file=sys.stderr)


# ---- train ----------------------------------------------------------------------------------------
QUICK = {"steps": 40, "batch_size": 64, "warmup": 5, "checkpoint_every": 20}


def _given(a) -> dict:
    """The TrainConfig fields the flags set (--recipe first, then --quick, then each flag given)."""
    given = {}
    if a.recipe == "shipped":
        from dlexam.sorting.shipped import RECIPE

        given.update(RECIPE)
    if a.quick:
        given.update(QUICK)
    for flag, name in CONFIG_FLAGS.items():
        value = getattr(a, flag)
        if value is not None:
            given[name] = value
    return given


def _train_config(a):
    """The run's TrainConfig: the flags over the defaults, or with --resume the run's own (flags given
    must agree with it: train() refuses a resume whose settings differ)."""
    from dataclasses import replace
    from pathlib import Path

    from dlexam import runs
    from dlexam.errors import UserError
    from dlexam.sorting.train import TrainConfig, check_resumable
    from dlexam.sorting.trained import training_record

    given = _given(a)
    path = Path(a.out) / runs.LAST
    if a.resume:
        if not path.is_file():
            check_resumable(a.out)  # names a run of another kind there, else the missing last.pt
            raise UserError(f"resume: {a.out} holds no {runs.LAST} to resume from")
        record = training_record(path)
        try:
            saved = TrainConfig.from_dict(record["train_config"])
        except (TypeError, UserError) as exc:
            raise UserError(f"{path}: its resume state is damaged ({exc})") from None
        return replace(saved, **given)
    if "max_len" not in given:
        if path.is_file():
            raise UserError(f"{a.out} already holds a training run: --resume continues it (its own settings), "
                            "--force starts a new one there, with --max-len")
        raise UserError("--max-len is required for a new run (--resume takes the run's own, --recipe its own)")
    return TrainConfig(**given)


def _set_train_threads(a) -> None:
    """--threads, else 1; with --resume, else the run's own (dlexam.runs.run_threads: its last.pt's provenance), even
    beyond what --threads takes on this machine (a run made on a larger one resumes here at its count): train()
    refuses another, as `svhn train --resume` does."""
    if a.threads is not None or not a.resume:
        return _set_threads(1 if a.threads is None else a.threads)
    from pathlib import Path

    import torch

    from dlexam import runs
    from dlexam.sorting.trained import training_record

    path = Path(a.out) / runs.LAST
    saved = runs.run_threads(training_record(path), where=path) if path.is_file() else None
    torch.set_num_threads(1 if saved is None else saved)


def _command(a) -> str:
    """The command that makes this run's settings (what the checkpoint records): the flags given, the
    run folder as OUT."""
    import shlex

    words = ["dlexam", "sort", "train"] + (["--recipe", a.recipe] if a.recipe else []) + (["--quick"] if a.quick
                                                                                          else [])
    for flag in CONFIG_FLAGS:
        value = getattr(a, flag)
        if value is True:
            words.append("--" + flag.replace("_", "-"))
        elif value is not None:
            words += ["--" + flag.replace("_", "-"), str(value)]
    return shlex.join(words + ["--out", "OUT"])


def _train(a) -> int:
    from dlexam.commands.progress import printer
    from dlexam.sorting.evaluate import train_report
    from dlexam.sorting.train import train

    _set_train_threads(a)
    tc = _train_config(a)
    # a resumed run keeps the note it was started with, and reports on as many held-out inputs as it would have
    note = {} if a.resume else {"command": _command(a), "report_per_length": REPORT_QUICK if a.quick else REPORT}
    result = train(tc, a.out, progress=printer(a.quiet or a.json), force=a.force, resume=a.resume, note=note)
    per_length = result.note.get("report_per_length")
    summary = train_report(result, per_length=per_length if per_length in (REPORT, REPORT_QUICK) else REPORT)
    if a.json:
        print(dumps(summary))
        return 0
    resumed = (" (already finished: nothing trained now)" if summary["resumed_from"] == summary["steps"]
               else f" (resumed at step {summary['resumed_from']})" if summary["resumed_from"] else "")
    loss = "unknown" if summary["final_loss"] is None else f"{summary['final_loss']:.2e}"
    print(
        f"trained {summary['parameters']} parameters for {summary['steps']} steps{resumed} in "
        f"{summary['train_seconds']:.1f} s, final loss {loss}"
    )
    for block in summary["exact_match"].values():
        if block["n"] == 0:  # before: "0.0000", an exact match over no input at all
            print(f"exact match on held-out lengths {block['lengths']}: not measured (no held-out sequences exist "
                  "at these lengths: too few sequences to hold any out)")
            continue
        print(
            f"exact match on held-out lengths {block['lengths']}: {block['softmax']:.4f} "
            f"(softmax, T={summary['temperature']:.3g}), {block['T0']:.4f} (temperature 0)"
        )
    print(f"checkpoint: {printable(str(summary['checkpoint']))}")
    return 0


# ---- evaluate -------------------------------------------------------------------------------------
def _unfinished(sorter) -> str | None:
    """The warning for a checkpoint of a training run that has not ended."""
    note = sorter.unfinished_note()
    return None if note is None else note + "; `dlexam sort train --resume --out RUN` finishes it"


def _evaluate(a) -> int:
    from dlexam.sorting.sizes import check_size, parse_lengths

    check_size(parse_lengths(a.lengths), a.samples, a.lengths)  # before loading anything, torch included
    from dlexam.commands.provenance import made_lines
    from dlexam.commands.tables import format_table
    from dlexam.sorting.evaluate import evaluation_report
    from dlexam.sorting.sorter import StreamNotes

    _set_threads(a.threads)
    sorter = _load(a)
    if (note := _unfinished(sorter)) is not None:
        print(f"dlexam: warning: {note}", file=sys.stderr)
    notes = StreamNotes.for_model(sorter)
    report = evaluation_report(sorter, a.lengths, samples=a.samples, seed=a.seed, temperature=a.temperature,
                               inputs=a.inputs, notes=notes)
    for w in notes.warnings():  # `sort`'s own warning where the inputs went past a table of learned positions
        print(f"dlexam: warning: {w}", file=sys.stderr)
    if a.json:
        print(dumps(report))
        return 0
    if not sorter.compiled:
        print("\n".join(made_lines(report["trained_with"], report["made_by"])))
        state = "finished" if report["finished"] else "NOT finished (resume it)"
        print(f"training: step {report['step']} of {report['steps']}, {state}")
    results = report["results"]
    kind = "" if a.inputs == "uniform" else f"{a.inputs} "
    drawn, distinct = report["inputs_per_length"], report["distinct_per_length"]
    differ = "" if None in distinct.values() else f" ({sum(distinct.values())} distinct)"
    print(f"{printable(str(sorter.name))}: {report['n']} held-out {kind}inputs drawn at random{differ}, exact match")
    header = ["length", "inputs", "distinct"] + [f"T={r['temperature']:.4g}" for r in results]
    rows = [[n, drawn[n], "-" if distinct[n] is None else distinct[n]] + [f"{r['per_length'][n]:.4f}" for r in results]
            for n in results[0]["per_length"]]
    rows.append(["all", report["n"], differ[2:-10] or "-"] + [f"{r['overall']:.4f}" for r in results])
    print(format_table(rows, header))
    if report["lengths_without_heldout_sequences"]:
        missing = ", ".join(map(str, report["lengths_without_heldout_sequences"]))
        plural = "s" if len(report["lengths_without_heldout_sequences"]) > 1 else ""
        print(f"(no held-out sequences exist at length{plural} {missing}: too few sequences to hold any out)")
    if any(v is not None and v < drawn[n] for n, v in distinct.items()):
        print("(distinct: the inputs of a length that differ; a short length has few held-out sequences, drawn "
              "again and again; '-': not counted, more than 65,536 sequences of that length exist)")
    return 0
