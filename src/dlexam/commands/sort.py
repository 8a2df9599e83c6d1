"""`dlexam sort`: deduplicate and sort with a transformer (Problem 2, solved).

dlexam sort "D A A"                       # -> A D (compiled exact solver)
dlexam sort --vocab 100 "42 7 7 99"       # -> 7 42 99
printf 'D A A\\nC B\\n' | dlexam sort       # one answer per line
dlexam sort --checkpoint runs/sort-v4 "D A A"
dlexam sort train --vocab A-D --max-len 8 --out runs/sort-v4 [--quick]
dlexam sort evaluate --checkpoint runs/sort-v4 --lengths 1-32 --json
"""

from __future__ import annotations

import argparse
import sys

from dlexam.plain import dumps

ACTIONS = ("train", "evaluate")


def register(sub) -> None:
    p = sub.add_parser(
        "sort",
        help="deduplicate and sort a sequence with a transformer; also `sort train`, `sort evaluate`",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _query_options(p)
    p.add_argument(
        "words",
        nargs=argparse.REMAINDER,
        metavar="SEQUENCE | train ... | evaluate ...",
        help="symbols separated by spaces (none: read standard input, one sequence per line)",
    )
    p.set_defaults(handler=lambda args: _dispatch(args, type(p)))


def _query_options(p) -> None:
    p.add_argument("--vocab", default=None, help="A-D (default), A-Z, or N for the symbols 0 .. N-1")
    p.add_argument(
        "--checkpoint",
        default=None,
        help="a trained model (file or run directory); default: the compiled exact solver",
    )
    p.add_argument(
        "--temperature",
        default=None,
        help="attention temperature for decoding a trained model (0 = argmax; default: the model's)",
    )


def _set_threads(n: int) -> None:
    """Tiny models: one intra-op thread is fastest, and on a shared machine it avoids oversubscription."""
    from dlexam.errors import UserError

    if n < 1:
        raise UserError(f"--threads must be >= 1, got {n}")
    import torch

    torch.set_num_threads(n)


def _dispatch(args, parser_class) -> int:
    words = list(args.words)
    if words and words[0] in ACTIONS:
        action = words.pop(0)
        p = parser_class(prog=f"dlexam sort {action}")
        (_train_options if action == "train" else _evaluate_options)(p)
        sub_args = p.parse_args(words)
        return _train(sub_args) if action == "train" else _evaluate(sub_args)
    # Options may also follow the sequence: parse the rest again, keeping what came first.
    p = parser_class(prog="dlexam sort")
    _query_options(p)
    p.add_argument("sequence", nargs="*")
    defaults = {k: getattr(args, k) for k in ("vocab", "checkpoint", "temperature")}
    p.set_defaults(**defaults)
    q = p.parse_args(words)
    return _query(q)


def _temperature(text):
    """--temperature: a number or 'sqrt', kept symbolic: the model resolves 'sqrt' with its own d_head."""
    if text is None:
        return None
    from dlexam.attention import parse_temperature

    return parse_temperature(text)


def _query(q) -> int:
    from dlexam.sorting.sorter import StreamNotes, answer_stream, load_sorter

    _set_threads(1)
    sorter = load_sorter(q.vocab, q.checkpoint)
    t = _temperature(q.temperature)
    notes = StreamNotes(sorter.max_len)
    if q.sequence:
        texts, numbered = [" ".join(q.sequence)], False
    else:  # one sequence per line, answered as read: memory stays flat however long the input
        texts, numbered = (line.rstrip("\r\n") for line in sys.stdin), True
    for line in answer_stream(sorter, texts, numbered=numbered, temperature=t, notes=notes):
        sys.stdout.write(line + "\n")
    for w in notes.warnings():
        print(f"dlexam: warning: {w}", file=sys.stderr)
    return 0


# ---- train --------------------------------------------------------------------------------------
def _train_options(p) -> None:
    p.add_argument("--vocab", default="A-D", help="A-D (default), A-Z, or N")
    p.add_argument("--max-len", type=int, required=True, help="train on input lengths 0 .. L")
    p.add_argument("--out", required=True, help="run directory; the checkpoint is RUN/last.pt")
    p.add_argument("--quick", action="store_true", help="a few steps only (a smoke test in seconds)")
    p.add_argument("--steps", type=int, default=None, help="optimizer steps (default 6000; --quick 40)")
    p.add_argument("--batch-size", type=int, default=None, help="sequences per step (default 128)")
    p.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate (default 0.01)")
    p.add_argument(
        "--temperature-start",
        default=None,
        help="attention temperature at the first step, annealed geometrically to --temperature-end "
        "(a number or 'sqrt' = sqrt(d_head); default 4 sqrt(d_head))",
    )
    p.add_argument(
        "--temperature-end",
        default=None,
        help="attention temperature at the last step, kept for decoding (default 0.1; 'sqrt' = sqrt(d_head))",
    )
    p.add_argument("--label-smoothing", type=float, default=0.0, help="cross-entropy label smoothing (default 0)")
    p.add_argument("--d-model", type=int, default=None, help="embedding width (default: symbols + 2)")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--ff", type=int, default=0, help="feed-forward hidden width (0 = none)")
    p.add_argument("--residual", action="store_true")
    p.add_argument("--layernorm", action="store_true")
    p.add_argument("--positional", choices=("none", "sinusoidal", "learned"), default="none")
    p.add_argument("--seed", type=int, default=0, help="model initialisation seed")
    p.add_argument("--data-seed", type=int, default=1, help="training data generator seed")
    p.add_argument("--force", action="store_true", help="replace RUN/last.pt if it exists")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (default 1: the models are tiny)"
    )


def _train(a) -> int:
    from dlexam.errors import UserError
    from dlexam.sorting.train import TrainConfig, accuracy_summary, train

    _set_threads(a.threads)
    for name in ("steps", "batch_size", "layers", "heads", "d_model"):
        value = getattr(a, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    tc = TrainConfig(
        vocab=a.vocab,
        max_len=a.max_len,
        d_model=a.d_model,
        n_heads=a.heads,
        n_layers=a.layers,
        d_ff=a.ff,
        residual=a.residual,
        layernorm=a.layernorm,
        positional=a.positional,
        seed=a.seed,
        data_seed=a.data_seed,
        label_smoothing=a.label_smoothing,
    )
    for name in ("temperature_start", "temperature_end"):
        value = getattr(a, name)
        if value is not None:
            setattr(tc, name, value if value == "sqrt" else _temperature(value))
    if a.quick:
        tc.steps, tc.batch_size, tc.warmup, tc.checkpoint_every = 40, 64, 5, 20
    tc.steps = a.steps or tc.steps
    tc.batch_size = a.batch_size or tc.batch_size
    tc.lr = a.lr or tc.lr
    if (tc.d_model or 0) % tc.n_heads:
        raise UserError(f"--d-model {tc.d_model} is not divisible by --heads {tc.n_heads}")
    model, summary = train(tc, a.out, progress=not a.json, force=a.force)
    from dlexam.sorting.vocab import Vocabulary

    acc = accuracy_summary(model, Vocabulary.from_spec(tc.vocab), tc.max_len, per_length=50 if a.quick else 300)
    summary["exact_match"] = acc
    summary["exact_match_trained_lengths"] = acc["trained"]["softmax"]
    summary["exact_match_trained_lengths_T0"] = acc["trained"]["T0"]
    if a.json:
        print(dumps(summary))
    else:
        print(
            f"trained {summary['parameters']} parameters for {summary['steps']} steps in "
            f"{summary['train_seconds']:.1f} s, final loss {summary['final_loss']:.2e}"
        )
        for block in acc.values():
            print(
                f"exact match on held-out lengths {block['lengths']}: {block['softmax']:.4f} "
                f"(softmax, T={model.temperature():.3g}), {block['T0']:.4f} (temperature 0)"
            )
        print(f"checkpoint: {summary['checkpoint']}")
    return 0


# ---- evaluate -----------------------------------------------------------------------------------
def _evaluate_options(p) -> None:
    p.add_argument(
        "--checkpoint", default=None, help="trained model (file or run dir); default: compiled solver"
    )
    p.add_argument("--vocab", default=None, help="vocabulary of the compiled solver (default A-D)")
    p.add_argument("--lengths", default="1-32", help="input lengths, e.g. 1-32 or 1-8,16 (default 1-32)")
    p.add_argument("--samples", type=int, default=1000, help="held-out sequences per length (default 1000)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the evaluation sequences")
    p.add_argument(
        "--temperature",
        default=None,
        help="decode only at this temperature (default: the model's own and 0 = argmax)",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def _evaluate(a) -> int:
    from dlexam.checkpoint import format_provenance
    from dlexam.errors import UserError
    from dlexam.sorting.sorter import load_sorter
    from dlexam.sorting.train import evaluate, heldout_inputs, parse_lengths, training_record

    _set_threads(a.threads)
    if a.samples < 1:
        raise UserError(f"--samples must be >= 1, got {a.samples}")
    sorter = load_sorter(a.vocab, a.checkpoint)
    lengths = parse_lengths(a.lengths)
    if max(lengths) > 100_000:
        raise UserError(f"bad --lengths {a.lengths!r}: at most 100000")
    inputs = heldout_inputs(sorter.vocab, lengths, a.samples, a.seed)
    temps = [_temperature(a.temperature)] if a.temperature is not None else [None, 0.0]
    if sorter.max_len is None:  # the compiled solver is argmax already
        temps = temps[:1]
    results = [evaluate(sorter.model, sorter.vocab, lengths, inputs=inputs, temperature=t) for t in temps]
    trained_with = training_record(a.checkpoint)["provenance"] if a.checkpoint is not None else None
    report = {
        "model": sorter.name,
        "trained_max_len": sorter.max_len,
        "trained_with": trained_with,
        "lengths": a.lengths,
        "samples_per_length": a.samples,
        "n": len(inputs),
        "lengths_without_heldout_sequences": sorted(set(lengths) - set(results[0]["per_length"])),
        "results": [
            {
                "temperature": r["temperature"],
                "overall": r["overall"],
                "per_length": {str(k): v for k, v in r["per_length"].items()},
            }
            for r in results
        ],
    }
    if a.json:
        print(dumps(report))
        return 0
    if a.checkpoint is not None:
        print(f"trained with: {format_provenance(trained_with)}")
    print(f"{sorter.name}: {len(inputs)} held-out sequences, exact match")
    print("length  " + "  ".join(f"T={r['temperature']:<8.4g}" for r in results))
    for n in results[0]["per_length"]:
        print(f"{n:>6}  " + "  ".join(f"{r['per_length'][n]:<10.4f}" for r in results))
    print("   all  " + "  ".join(f"{r['overall']:<10.4f}" for r in results))
    if report["lengths_without_heldout_sequences"]:
        missing = ", ".join(map(str, report["lengths_without_heldout_sequences"]))
        print(f"(no held-out sequences exist at length {missing}: too few sequences to hold any out)")
    return 0


def format_steps(a, *, layer_head: int = 0) -> str:
    """A plain-text rendering: one line per decoding step with its attention weights over the prefix."""
    width = max(len(t) for t in a.tokens)
    lines = ["step  query" + " " * max(0, width - 5) + "  attention over the prefix -> output"]
    for i, st in enumerate(a.steps, 1):
        w = st.weights[layer_head]
        cells = " ".join(f"{tok}:{x:.2f}" for tok, x in zip(a.tokens, w, strict=False) if x >= 0.005)
        lines.append(f"{i:>4}  {st.query:<{width}}  {cells} -> {st.produced}")
    return "\n".join(lines)
