"""The flags of `dlexam sort` and of its actions, `sort train` and `sort evaluate`: their names, types and help.

Which sorter a command uses (--vocab, --checkpoint, --trained, --temperature), `sort train`'s run and model flags
(and :data:`CONFIG_FLAGS`, the TrainConfig field each sets), `sort evaluate`'s lengths, samples and inputs. Each
type reads its value as argparse reads the flag, before torch loads. :mod:`dlexam.commands.sort` parses with them
and runs the command.
"""

from __future__ import annotations

from dlexam import bounds
from dlexam.commands import options
from dlexam.commands.options import given, library_type, ranged, sqrt_or_number, temperature, whole_number

ACTIONS = ("train", "evaluate")  # the actions `dlexam sort` takes as its first word
QUERY_OPTIONS = ("vocab", "checkpoint", "trained", "temperature")  # what `dlexam sort`'s own parser reads
# flag -> TrainConfig field, for the flags that set the run's config (all default to None: not given)
CONFIG_FLAGS = {
    "vocab": "vocab", "max_len": "max_len", "d_model": "d_model", "heads": "n_heads", "layers": "n_layers",
    "ff": "d_ff", "residual": "residual", "layernorm": "layernorm", "positional": "positional",
    "steps": "steps", "batch_size": "batch_size", "lr": "lr", "label_smoothing": "label_smoothing",
    "temperature_start": "temperature_start", "temperature_end": "temperature_end", "seed": "seed",
    "data_seed": "data_seed", "checkpoint_every": "checkpoint_every", "hard_fraction": "hard_fraction",
    "hard_temperature": "hard_temperature",
}


VOCAB_HELP = "the symbols: a letter range, A-D (default), C-F, A-Z, a-z, ..., or a number N for the symbols 0 .. N-1"
MODEL_VOCAB_HELP = (f"{VOCAB_HELP}; the compiled solver is built for it; a trained model (--checkpoint, --trained) "
                    "reads its own symbols, and --vocab naming others is refused")


def _model_options(p) -> None:
    p.add_argument("--vocab", default=None, type=vocab_text, help=MODEL_VOCAB_HELP)
    p.add_argument(
        "--checkpoint",
        default=None,
        type=options.existing("checkpoint"),
        help="a trained model (file or run directory); default: the compiled exact solver",
    )
    p.add_argument("--trained", action="store_true", default=None,
                   help="the trained A-D sorter shipped with dlexam (instead of the compiled solver)")


def vocab_text(text: str) -> str:
    """--vocab as typed, refused as it is read (before torch loads) where it names no vocabulary: the library's one
    reader of it, :meth:`dlexam.sorting.vocab.Vocabulary.from_spec` (no torch), says why."""
    from dlexam.sorting.vocab import Vocabulary

    return library_type(lambda t: Vocabulary.from_spec(given(t)) and t, "vocab")(text)


def query_options(p) -> None:
    _model_options(p)
    p.add_argument(
        "--temperature",
        default=None,
        type=temperature,
        help=f"attention temperature for decoding a trained model: {ranged(bounds.QUERY_TEMPERATURES)} (0 = argmax, "
        "'sqrt' = sqrt(d_head); default: the model's own; the compiled solver takes only 0)",
    )


def _threads_range() -> str:
    """--threads' range as its help states it (4 per CPU this process may run on: dlexam.limits.thread_span)."""
    from dlexam import limits

    return ranged(limits.thread_span(), limits.threads_note())


def train_options(p) -> None:
    p.add_argument("--vocab", default=None, type=vocab_text,
                   help=f"{VOCAB_HELP}; --resume: the run's own, and another is refused")
    p.add_argument("--max-len", type=whole_number(bounds.TRAIN_LEN), default=None,
                   help=f"train on input lengths 0 .. L, {ranged(bounds.TRAIN_LEN)} (required for a new run)")
    p.add_argument("--out", required=True, type=options.out_folder_text,
                   help="run directory; the checkpoint is RUN/last.pt")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from RUN/last.pt with its own settings (exactly: the same "
                   "weights as a run never stopped)")
    p.add_argument("--recipe", choices=("shipped",), default=None,
                   help="shipped: the settings of the A-D sorter shipped with dlexam (`sort --trained`); "
                   "RUN/last.pt then has its weights, bit for bit on the same torch build and CPU")
    p.add_argument("--quick", action="store_true", help="a few steps only (a smoke test in seconds)")
    p.add_argument("--steps", type=whole_number(bounds.STEPS), default=None,
                   help=f"optimizer steps, {ranged(bounds.STEPS)} (default 6000; --quick 40)")
    p.add_argument("--batch-size", type=whole_number(bounds.BATCH), default=None,
                   help=f"sequences per step, {ranged(bounds.BATCH)} (default 128)")
    p.add_argument("--lr", type=options.number_in(bounds.SORT_LR), default=None,
                   help=f"peak AdamW learning rate, {ranged(bounds.SORT_LR)} (default 0.01)")
    p.add_argument(
        "--temperature-start",
        default=None,
        type=sqrt_or_number(bounds.SCHEDULE_TEMPERATURES),
        help="attention temperature at the first step, annealed geometrically to --temperature-end: "
        f"{ranged(bounds.SCHEDULE_TEMPERATURES)} ('sqrt' = sqrt(d_head); default 4 sqrt(d_head))",
    )
    p.add_argument(
        "--temperature-end",
        default=None,
        type=sqrt_or_number(bounds.SCHEDULE_TEMPERATURES),
        help=f"attention temperature at the last step, kept for decoding: {ranged(bounds.SCHEDULE_TEMPERATURES)} "
        "('sqrt' = sqrt(d_head); default 0.1)",
    )
    p.add_argument("--label-smoothing", type=options.number_in(bounds.LABEL_SMOOTHING), default=None,
                   help=f"cross-entropy label smoothing, {ranged(bounds.LABEL_SMOOTHING)} (default 0)")
    p.add_argument("--hard-fraction", type=options.number_in(bounds.HARD_FRACTION), default=None,
                   help="the last fraction of the steps that also train argmax attention (T = 0) itself, "
                   f"straight-through, {ranged(bounds.HARD_FRACTION)} (default 1/3; 0: none, the recipe before "
                   "2026-12-07)")
    p.add_argument("--hard-temperature", type=options.number_in(bounds.TRAIN_TEMPERATURE), default=None,
                   help=f"the temperature of that phase's backward pass, {ranged(bounds.TRAIN_TEMPERATURE)} (default "
                   "20: hot, so that keys scored far below the right one still get a gradient)")
    p.add_argument("--d-model", type=whole_number(bounds.WIDTH), default=None,
                   help=f"embedding width, {ranged(bounds.WIDTH)} (default: symbols + 2)")
    p.add_argument("--layers", type=whole_number(bounds.LAYERS), default=None,
                   help=f"transformer layers, {ranged(bounds.LAYERS)} (default 1)")
    p.add_argument("--heads", type=whole_number(bounds.HEADS), default=None,
                   help=f"attention heads, {ranged(bounds.HEADS)}, at most --d-model (default 1)")
    p.add_argument("--ff", type=whole_number(bounds.FEED_FORWARD), default=None,
                   help=f"feed-forward hidden width, {ranged(bounds.FEED_FORWARD)} (default 0 = none)")
    p.add_argument("--residual", action="store_true", default=None,
                   help="residual connections around attention and feed-forward (default: none, as in the exam)")
    p.add_argument("--layernorm", action="store_true", default=None,
                   help="pre-LayerNorm before attention, feed-forward and the unembedding (default: none)")
    p.add_argument("--positional", choices=("none", "sinusoidal", "learned"), default=None,
                   help="positional encodings (default none, as in the exam)")
    p.add_argument("--seed", type=whole_number(bounds.SORT_SEED), default=None,
                   help=f"model initialisation seed, {ranged(bounds.SORT_SEED)} (default 0)")
    p.add_argument("--data-seed", type=whole_number(bounds.SORT_SEED), default=None,
                   help=f"training data generator seed, {ranged(bounds.SORT_SEED)} (default 1)")
    p.add_argument("--checkpoint-every", type=whole_number(bounds.CHECKPOINT_EVERY), default=None,
                   help=f"steps between periodic checkpoints, {ranged(bounds.CHECKPOINT_EVERY)} (default 500; --quick "
                   "20; 0 = only the final one)")
    p.add_argument("--force", action="store_true",
                   help="replace RUN/last.pt even if it holds a run or dlexam did not write it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--threads", type=options.threads(), default=None,
                   help=f"torch CPU threads, {_threads_range()} (default 1: the models are tiny; --resume: the "
                   "run's own, and another is refused)")


def evaluate_options(p) -> None:
    _model_options(p)
    p.add_argument("--lengths", default="1-32", type=given,
                   help="input lengths, e.g. 1-32 or 1-8,16 (default 1-32; each 1-4096, samples x the sum of "
                   "the lengths at most 20,000,000 tokens)")
    p.add_argument("--samples", type=whole_number(bounds.SAMPLES), default=1000,
                   help=f"held-out sequences per length, {ranged(bounds.SAMPLES)} (default 1000)")
    p.add_argument("--inputs", default="uniform", choices=("uniform", "few", "sorted", "reversed"),
                   help="which inputs: uniform random symbols (default), or a hard case: few (at most 3 distinct "
                   "symbols, each repeated), sorted, reversed (descending)")
    p.add_argument("--seed", type=whole_number(bounds.SEED), default=12345,
                   help=f"seed of the evaluation sequences, {ranged(bounds.SEED)} (default 12345)")
    p.add_argument(
        "--temperature",
        default=None,
        type=temperature,
        help=f"decode only at this temperature: {ranged(bounds.QUERY_TEMPERATURES)} (0 = argmax, 'sqrt' = "
        "sqrt(d_head); default: the model's own and 0; the compiled solver takes only 0)",
    )
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.add_argument("--threads", type=options.threads(), default=1,
                   help=f"torch CPU threads, {_threads_range()} (default 1)")
