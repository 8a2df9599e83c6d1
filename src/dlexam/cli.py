"""The `dlexam` command line: parse, call a library function, print.

Each command group lives in :mod:`dlexam.commands` and registers its own sub-parser. Errors a
user can cause are :class:`dlexam.errors.UserError`: one line on stderr, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import unicodedata
from typing import NoReturn

from dlexam.commands.options import TypedNumber, path_text
from dlexam.errors import STOP_SIGNALS, EveryRank, NamedSettings, Terminated, UserError, stopped

COMMAND_MODULES = ("geoff", "sort", "svhn", "answers", "experiment", "report", "demo", "serve", "variant", "grade")


LONG_WORD = 160  # a word (no spaces) of an error line longer than this is a value echoed whole: it is shortened
SHOWN_CHARS = 60  # to its first 60 characters, "..." and its length

# repr's escape of a byte that is not UTF-8 (\udc80 .. \udcff, see below), not one whose backslash is escaped itself
_REPR_SURROGATE = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")
_LONG_WORD = re.compile(rf"\S{{{LONG_WORD + 1},}}")
_FLAG_RANGE = re.compile(r"^argument (--[a-z][a-z0-9-]*): must be")  # argparse's words for a flag's refused value


def one_line(text: str) -> str:
    """An error message as one readable line (every error line the command line prints is rendered here):

    - a user's value echoed in it (`--host $'a\\nb'`) may hold line breaks or other control characters, shown
      escaped (\\n) instead of breaking the line or driving the terminal;
    - a byte that is not UTF-8 (`$'\\xff'`, which Python reads as the lone surrogate U+DCFF) is shown once, as \\xff,
      whether the message holds the character itself or its repr (\\udcff);
    - a word longer than LONG_WORD characters (a 10,000-character value echoed whole) is cut to its first
      SHOWN_CHARS characters, "..." and its length in characters.
    """
    text = _REPR_SURROGATE.sub(lambda m: m[1] + "\\x" + m[2], text)
    text = "".join(_shown_char(c) for c in text)
    return _LONG_WORD.sub(_shortened, text)


def _shortened(word: re.Match) -> str:
    core = word[0].rstrip(":;,.")  # the message's own punctuation after the value stays
    return f"{core[:SHOWN_CHARS]}... ({len(core):,} characters){word[0][len(core):]}"


def _shown_char(c: str) -> str:
    if "\udc80" <= c <= "\udcff":  # a byte that is not UTF-8, as Python decodes the command line (surrogateescape)
        return f"\\x{ord(c) - 0xDC00:02x}"
    return repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cs") else c


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit status 2.

    `fields` maps the library's name of a setting to the dest of the flag that sets it, where the two differ by
    more than "-" for "_" (`svhn synth`: n_train -> train); :func:`flag_message` names that flag in a library error.
    A value that starts like a negative number (`--at -1,0,0`, `--lr -inf`) is read as a value, never as an option
    (as Python 3.13's argparse does for digits): argparse <= 3.12 took only -1 and -1.5 for numbers, and no flag of
    dlexam looks like one.
    """

    def __init__(self, *args, fields: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields = dict(fields or {})
        # argparse's own attribute (3.13's pattern), and -inf, -nan, -Infinity: a number flag's value (`--lr -inf`)
        self._negative_number_matcher = re.compile(r"-(?:\.?\d|inf|nan)", re.IGNORECASE)
        self.set_defaults(_parser=self)  # the innermost parser that read the arguments: what flag_message asks

    def error(self, message: str):  # noqa: D102 - argparse API
        """One line, exit status 2. A flag's value refused as it is read (options.whole_number, number_in) names the
        flag as the library's refusals do: "--epochs must be a whole number in [1, 100000], got 0" (argparse's
        words: "argument --epochs: must be ...")."""
        message = _FLAG_RANGE.sub(r"\1 must be", message, count=1)
        rank = _torchrun_rank(self._defaults.get("distributed", False))  # every rank read the same flags: rank 0 says
        _say_once(rank, rank not in (None, 0), f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)")
        self.exit(2)

    def parse_args(self, args=None, namespace=None):  # noqa: D102 - argparse API
        """As argparse's, but an unknown argument is refused by the innermost command that read the others (`dlexam
        geoff: error: unrecognized arguments: --bogus (see dlexam geoff --help)`), whose help lists the options it
        takes; argparse's top-level parser said `dlexam: error: ... (see dlexam --help)`, a list of commands."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            getattr(namespace, "_parser", self).error(f"unrecognized arguments: {' '.join(extras)}")
        if getattr(self, "command_required", False) and getattr(namespace, "command", None) is None:
            self.error("the following arguments are required: COMMAND")  # argparse's words, after the unknown ones
        return namespace

    def parse_known_args(self, args=None, namespace=None):  # noqa: D102 - argparse API
        """As argparse's, but a number flag's value (options.TypedNumber) becomes a plain float, its text as typed
        kept in the namespace's `_typed` (dest -> text) for :func:`flag_message`."""
        namespace, extras = super().parse_known_args(args, namespace)
        typed = dict(getattr(namespace, "_typed", None) or {})
        for dest, value in list(vars(namespace).items()):
            if isinstance(value, TypedNumber):
                typed[dest] = value.text
                setattr(namespace, dest, float(value))
        namespace._typed = typed
        return namespace, extras


def flag_of(parser: argparse.ArgumentParser | None, name: str) -> tuple[str, str] | None:
    """(flag, dest) of the option of `parser` that sets the library's setting `name`, or None."""
    if parser is None:
        return None
    dest = getattr(parser, "fields", {}).get(name, name)
    for action in parser._actions:
        if (action.dest == dest and action.option_strings) or name in action.option_strings:  # or the flag itself
            return max(action.option_strings, key=len), action.dest
    return None


def flag_message(exc: UserError, args: argparse.Namespace) -> str:
    """The message of `exc` in the command line's words: a setting the library names by its field, whose value a
    flag gave, is named by that flag ("--val-fraction must be ...", not "val_fraction must be ..."). A value the
    flag did not give (a setting read from a checkpoint, say) keeps the library's name. A number flag's value is
    quoted as it was typed ("--lr must be ..., got 0", not "got 0.0": options.float_number)."""
    if not isinstance(exc, NamedSettings):
        return str(exc)
    parser, names, shown = getattr(args, "_parser", None), {}, {}
    typed = getattr(args, "_typed", None) or {}
    for name, value in exc.settings():
        if (found := flag_of(parser, name)) is not None:
            given = getattr(args, found[1], None)
            if given is value or (given is not None and given == value) or _both_nan(given, value):
                names[name] = found[0]
                if found[1] in typed:
                    shown[name] = typed[found[1]]
    return exc.named(names, shown)


def _both_nan(a: object, b: object) -> bool:
    """nan == nan is False: a flag's NaN is still the value the library refuses."""
    return isinstance(a, float) and isinstance(b, float) and a != a and b != b


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dlexam", description=__doc__.splitlines()[0])
    parser.add_argument("--shared", metavar="DIR", default=None, type=path_text,
                        help="the shared data folder (exam/, data/mnist-t10k, ...): sets DLEXAM_SHARED; "
                        "default: $DLEXAM_SHARED, else ../shared next to the checkout")
    # required, but checked by Parser.parse_args after the unknown arguments: `dlexam --bogus` names --bogus
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.command_required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"dlexam.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dlexam.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def quiet_openmp_workers() -> None:
    """Let OpenMP's idle worker threads sleep instead of spin-waiting (OMP_WAIT_POLICY=PASSIVE).

    On a small shared machine a spinning worker that has lost its core holds up every parallel
    region: two-thread training beside one busy process ran 10-25x slower (issue 13).
    benchmarks/thread_contention.py measures it. OpenMP reads the variable once, when torch loads
    it, so this runs before any command imports torch; a value the user set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _torchrun_rank(distributed: bool) -> int | None:
    """This process's rank in a torchrun run of more than one process, for a command that trains distributed (svhn
    train: `distributed` in its defaults); None for any other command, and where the environment is not torchrun's
    (no rank 0 is there to say anything)."""
    if not distributed:
        return None
    from dlexam.cpu import torchrun_world

    try:
        rank, world = torchrun_world()
    except UserError:
        return None
    return rank if world > 1 else None


def _another_rank_says_it(args: argparse.Namespace, exc: BaseException) -> bool:
    """Under torchrun, whether another rank prints why this command stops (`exc`: a refusal, a stop, a write error),
    so that a run says it in one line, not one per rank. Only for a command that trains distributed (`distributed`
    in its defaults: svhn train); any other command says it on every rank, whatever RANK its environment holds.

    - A refusal the ranks agreed on (:class:`dlexam.errors.EveryRank`): its `speaker` says it (rank 0, or rank 1
      where rank 0 shows a defect's traceback).
    - A flag's value the parser refuses, as it reads it, is said by rank 0 alone (:meth:`Parser.error`).
    - Before the ranks have joined their process group, rank 0 says every refusal and stop: the checks before it are
      the same on every rank (the same flags, the same data), and a rank stopped alone is ended by torchrun, which
      then stops the others.
    - After joining, the first rank of the run to say anything says it (counted in the group's store,
      :func:`dlexam.svhn.training.distributed.first_to_say`): a rank that refuses alone (a loss that is not finite on
      its share), is interrupted or finds a peer gone; the others, stopped by it, say nothing more (until 2026-12-07
      each said its own: `dlexam: interrupted` from every rank, or a refusal beside "another process of the run is
      gone").
    Every rank still exits with its own status (2 for a refusal)."""
    rank = _torchrun_rank(getattr(args, "distributed", False))
    if rank is None:
        return False
    if isinstance(exc, EveryRank) and rank != exc.speaker:
        return True
    dist = sys.modules.get("torch.distributed")  # imported by the command if it trains; never imported here
    if not (dist is not None and dist.is_available() and dist.is_initialized()):
        return not isinstance(exc, EveryRank) and rank != 0
    from dlexam.svhn.training.distributed import first_to_say

    return not first_to_say()


def _say(args: argparse.Namespace, exc: BaseException, line: str) -> None:
    """Print `line`, why the command stops (`exc`), on standard error, unless another rank of a torchrun run says it
    (:func:`_another_rank_says_it`). Under torchrun the rank that says it marks it said, and a rank that leaves it to
    another waits for that mark before it exits: torchrun ends every rank once one has exited, so a silent rank that
    exited first could end the speaker before its line was out (until 2026-12-08). A silent rank that sees no mark
    within 20 s says it itself."""
    _say_once(_torchrun_rank(getattr(args, "distributed", False)), _another_rank_says_it(args, exc), line)


def _say_once(rank: int | None, silent: bool, line: str) -> None:
    """:func:`_say` for this process's torchrun `rank` (None: not a rank of a run), where another rank says `line`
    (`silent`) or this one does."""
    if silent:
        from dlexam.svhn.training.distributed import wait_for_the_speaker

        if wait_for_the_speaker():
            return
    print(line, file=sys.stderr, flush=True)
    if rank is not None:
        from dlexam.svhn.training.distributed import have_said_it

        have_said_it()


def _stop_signals_as_interrupt():
    """While a command runs, SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, so that it ends as on
    Ctrl-C: a report's experiment folders and every run folder's lock are closed, not left behind. Only where SIGTERM
    has its default action (`serve` sets its own while it runs). Each SIGTERM and SIGINT is also recorded
    (errors.STOP_SIGNALS), so that a stop whose exception was lost still ends the command as a stop (main); SIGINT
    keeps Python's own handler's action. Returns what puts the handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    put_back = []

    def terminated(signum, frame):
        STOP_SIGNALS.append(signum)
        raise Terminated

    def interrupted(signum, frame):
        STOP_SIGNALS.append(signum)
        raise KeyboardInterrupt

    for signum, handler, own in ((signal.SIGTERM, terminated, signal.SIG_DFL),
                                 (signal.SIGINT, interrupted, signal.default_int_handler)):
        if signal.getsignal(signum) is own:
            signal.signal(signum, handler)
            put_back.append((signum, own))

    def restore() -> None:
        for signum, own in put_back:
            signal.signal(signum, own)

    return restore


def main(argv: list[str] | None = None) -> int:
    quiet_openmp_workers()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors and --help: argparse has printed them
        return int(exc.code or 0)
    if args.shared is not None:  # the environment carries it to worker processes too
        os.environ["DLEXAM_SHARED"] = str(args.shared)
    if getattr(args, "exam", None) is not None:
        os.environ["DLEXAM_EXAM"] = str(args.exam)
    STOP_SIGNALS.clear()
    restore = _stop_signals_as_interrupt()
    try:
        code = int(args.handler(args) or 0)
        if (stop := stopped()) is not None:  # a stop whose exception was lost (errors.stopped) is still a stop
            raise stop
        return code
    except UserError as exc:
        _say(args, exc, f"dlexam: error: {one_line(flag_message(exc, args))}")
        return 2
    except Terminated as exc:
        _say(args, exc, "dlexam: terminated")
        return 143
    except KeyboardInterrupt as exc:
        _say(args, exc, "dlexam: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a full disk or a refused permission a writer did not name itself: still one line
        from dlexam.files import write_error

        err = write_error(exc.filename or "a file", exc)
        if err is None:
            raise
        _say(args, err, f"dlexam: error: {one_line(str(err))}")
        return 2
    finally:
        restore()


def run() -> NoReturn:
    """The process's entry (`dlexam`, `python -m dlexam`, `torchrun -m dlexam`): :func:`main`'s status is the exit
    status.

    A process that joined a torchrun process group (:func:`dlexam.svhn.training.distributed.joined_a_group`) ends with
    `os._exit` once its output is flushed, without Python's shutdown. Gloo's worker threads live until the process
    ends (a rank that refuses leaves its group as it is, and once DDP's wrapper has held the group even
    `destroy_process_group` does not end them), and a worker that frees a collective's tensor takes the GIL to do
    it; one that asks for the GIL while Python shuts down is ended inside a C++ destructor: `terminate called
    without an active exception` and SIGABRT after the rank's own last word. Measured 2026-12-07 on the busy 2-core
    machine, ranks refusing other digits (`svhn train` under torchrun, two loops side by side): 13 aborts in 80
    runs before, none in 80 after. Everything dlexam writes is closed before :func:`main` returns, and no command
    of dlexam relies on an atexit handler."""
    try:
        code = main()
    except Exception:
        if not _joined_a_group():
            raise
        import traceback

        traceback.print_exc()
        code = 1
    if _joined_a_group():
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more to say
                pass
        os._exit(code)
    raise SystemExit(code)


def _joined_a_group() -> bool:
    """Whether this process joined a torchrun process group; False without importing torch where no command did."""
    distributed = sys.modules.get("dlexam.svhn.training.distributed")
    return distributed is not None and distributed.joined_a_group()


if __name__ == "__main__":
    run()
