"""The command line's error lines say what the user typed: the flag, not the library's field (`--val-fraction`,
not `val_fraction`); a long value shortened, a byte that is not UTF-8 shown once as \\xff, a host that does not
resolve said plainly; and the arguments argparse refused though they were meant (`--at -1,0,0`, `sort D --trained
A`) are read."""

from __future__ import annotations

import socket

import pytest

from dlexam.cli import main

from .helpers import refused_here

# (argv, the flag the error must name, the library's name for it, which it must not show)
FLAG_NAMED = [
    (["svhn", "train", "--data", "DATA", "--out", "OUT", "--val-fraction", "2"], "--val-fraction", "val_fraction"),
    (["svhn", "train", "--data", "DATA", "--out", "OUT", "--val-fraction", "nan"], "--val-fraction", "val_fraction"),
    (["svhn", "train", "--data", "DATA", "--out", "OUT", "--batch-size", "0"], "--batch-size", "batch_size"),
    (["svhn", "train", "--data", "DATA", "--out", "OUT", "--split-seed", "-1"], "--split-seed", "split_seed"),
    (["svhn", "summary", "--linear-in", "0"], "--linear-in", "linear_in"),
    (["svhn", "summary", "--linear-in", "1000001"], "--linear-in", "linear_in"),
    (["svhn", "synth", "--out", "OUT", "--train", "0", "--test", "5"], "--train", "n_train"),
    (["svhn", "synth", "--out", "OUT", "--train", "5", "--test", "0"], "--test", "n_test"),
    (["sort", "train", "--max-len", "0", "--out", "OUT"], "--max-len", "max_len"),
    (["sort", "train", "--max-len", "3", "--heads", "0", "--out", "OUT"], "--heads", "n_heads"),
    (["sort", "train", "--max-len", "3", "--layers", "0", "--out", "OUT"], "--layers", "n_layers"),
    (["sort", "train", "--max-len", "3", "--ff", "-1", "--out", "OUT"], "--ff", "d_ff"),
    (["sort", "train", "--max-len", "3", "--d-model", "0", "--out", "OUT"], "--d-model", "d_model"),
    (["sort", "train", "--max-len", "3", "--label-smoothing", "1", "--out", "OUT"], "--label-smoothing",
     "label_smoothing"),
    (["sort", "train", "--max-len", "3", "--temperature-start", "0", "--out", "OUT"], "--temperature-start",
     "temperature_start"),
    (["sort", "train", "--max-len", "3", "--checkpoint-every", "-1", "--out", "OUT"], "--checkpoint-every",
     "checkpoint_every"),
    (["sort", "train", "--max-len", "3", "--data-seed", "-1", "--out", "OUT"], "--data-seed", "data_seed"),
    (["sort", "evaluate", "--samples", "0"], "--samples", None),
    (["geoff", "--explain", "change[W_V]", "--lr", "nan"], "--lr", None),
]


@pytest.mark.parametrize("argv, flag, field", FLAG_NAMED, ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_an_error_names_the_flag_the_user_typed_not_the_librarys_field(argv, flag, field, tmp_path, capsys):
    """Before: `val_fraction must be a finite number in [0, 1), got 2.0`, `n_heads must be ...` for --heads."""
    argv = [str(tmp_path / w) if w in ("DATA", "OUT") else w for w in argv]
    line = refused_here(argv, capsys, f"{flag} must be")
    if field is not None:
        assert field not in line, line


def test_a_validation_share_that_leaves_nothing_to_train_on_names_the_flag(synth_dir, tmp_path, capsys):
    """`--val-fraction 0.9995` on 600 images holds out round(599.7) = 600 of them: the refusal said `val_fraction
    0.9995 holds out all 600 images`, the library's field, not the flag the user typed."""
    line = refused_here(["svhn", "train", "--data", str(synth_dir), "--out", str(tmp_path / "r"), "--quick",
                         "--val-fraction", "0.9995"], capsys, "--val-fraction 0.9995 holds out all 600 images")
    assert "val_fraction" not in line, line
    assert not (tmp_path / "r").exists()


def test_the_library_still_names_its_fields(tmp_path):
    """Library callers get the field's name (and CNNConfig's error is still a ValueError)."""
    from dlexam.errors import UserError
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.training.settings import SVHNRun

    with pytest.raises(UserError, match=r"^val_fraction must be a number in \[0, 1\), got 2"):
        SVHNRun(out=tmp_path, val_fraction=2.0)
    with pytest.raises(ValueError, match="^linear_in must be a whole number"):
        CNNConfig(linear_in=0)


def test_a_value_the_flag_did_not_give_keeps_the_librarys_name():
    """A setting read from elsewhere (a checkpoint) under a flag's name is not blamed on the flag."""
    import argparse

    from dlexam.cli import Parser, flag_message
    from dlexam.errors import BadValue

    p = Parser(prog="t")
    p.add_argument("--epochs", type=int, default=None)
    exc = BadValue("epochs", 0, "must be a whole number from 1 to 100, got 0")
    assert flag_message(exc, p.parse_args(["--epochs", "0"])) == "--epochs must be a whole number from 1 to 100, got 0"
    assert flag_message(exc, p.parse_args(["--epochs", "5"])) == str(exc)
    assert str(exc) == "epochs must be a whole number from 1 to 100, got 0"
    assert flag_message(exc, argparse.Namespace()) == str(exc)


@pytest.mark.parametrize("argv", [
    ["sort", "--vocab", "x" * 10_000, "A"],
    ["answers", "--question", "x" * 10_000],
    ["svhn", "train", "--data", "D", "--out", "O", "--epochs", "9" * 10_000],  # argparse's own message
])
def test_a_huge_value_is_shortened_in_the_error_line(argv, capsys):
    """Before: the 10,000 characters were echoed whole, in one line of over 10,000 characters."""
    line = refused_here(argv, capsys, "...", "characters")
    assert len(line) < 400 and ("x" * 50 in line or "9" * 50 in line), line  # its start is shown
    assert "x" * 61 not in line and "9" * 61 not in line


def test_a_long_path_is_shown_whole_and_the_messages_punctuation_stays():
    from dlexam.cli import one_line

    path = "/home/someone/projects/dlexam/runs/" + "svhn-2026-12-01-a-long-descriptive-name/" * 2 + "last.pt"
    assert 100 < len(path) <= 160
    assert one_line(f"checkpoint not found: {path}") == f"checkpoint not found: {path}"
    long = f"bad vocabulary '{'y' * 200}': use A-D"
    assert one_line(long) == f"bad vocabulary '{'y' * 59}... (202 characters): use A-D"


@pytest.mark.parametrize("argv, shown", [
    (["sort", "\udcff"], "unknown token '\\xff'"),  # was '\\\\xff', escaped twice
    (["sort", "--vocab", "A\udcff", "A"], "bad vocabulary 'A\\xff'"),  # was 'A\\udcff'
    (["answers", "--question", "\udcfe"], "unknown question '\\xfe'"),
    (["svhn", "train", "--data", "D", "--out", "O", "--epochs", "\udcff"], "invalid int value: '\\xff'"),
])
def test_a_byte_that_is_not_utf8_is_shown_once_as_a_hex_escape(argv, shown, capsys):
    """`dlexam sort $'\\xff'`: Python reads the byte as the surrogate U+DCFF; the line shows \\xff, once."""
    line = refused_here(argv, capsys, shown)
    assert "\\\\x" not in line and "udc" not in line, line


def test_a_sort_line_on_stdin_with_a_byte_that_is_not_utf8(capsys, monkeypatch):
    import io
    import sys

    class Stdin(io.TextIOWrapper):
        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(b"A B\nA \xff\n")))
    line = refused_here(["sort"], capsys, "line 2: unknown token '\\xff'")
    assert "\\\\x" not in line


def test_a_host_that_does_not_resolve_is_said_plainly(capsys, monkeypatch):
    """Before: `cannot bind --host nonexistent.invalid: [Errno -2] Name or service not known`."""
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    line = refused_here(["serve", "--port", "0", "--workers", "0", "--host", "nonexistent.invalid"], capsys,
                        "--host nonexistent.invalid", "could not be resolved")
    assert "Errno" not in line and "[" not in line, line


@pytest.mark.parametrize("argv, needle", [
    # --at's own check reads it (before: "argument --at: expected one argument")
    (["svhn", "explain", "IMAGE", "--layer", "conv1", "--at", "-1,0,0"], "--at must be whole numbers from 0"),
    (["svhn", "explain", "IMAGE", "--layer", "logits", "--at", "-1"], "--at must be whole numbers from 0"),
    # a negative number in exponent form is a value too (before: "argument --lr: expected one argument")
    (["sort", "train", "--max-len", "3", "--out", "OUT", "--lr", "-1e-3"],
     "--lr must be a number in (0, 10], got -1e-3"),
])
def test_a_value_that_looks_like_a_negative_number_is_read_as_the_options_value(argv, needle, tmp_path, capsys):
    (tmp_path / "IMAGE").write_bytes(b"")  # there (a missing image is refused first, as the parser reads it)
    argv = [str(tmp_path / w) if w in ("IMAGE", "OUT") else w for w in argv]
    line = refused_here(argv, capsys, needle)
    assert "expected one argument" not in line


def test_a_flag_that_is_no_flag_is_still_refused(tmp_path, capsys):
    """Reading -1,0,0 as a value does not make an unknown option a value."""
    (tmp_path / "x.png").write_bytes(b"")
    refused_here(["svhn", "explain", str(tmp_path / "x.png"), "--layer", "conv1", "--at", "--bogus"], capsys, "--at")


@pytest.mark.parametrize("argv, command", [
    (["geoff", "--bogus"], "dlexam geoff"),
    (["answers", "--bogus"], "dlexam answers"),
    (["svhn", "summary", "--bogus"], "dlexam svhn summary"),
    (["experiment", "pooling", "--bogus"], "dlexam experiment"),
    (["sort", "--json", "A"], "dlexam sort"),  # `sort`'s query has no --json
    (["sort", "train", "--out", "OUT", "--bogus"], "dlexam sort train"),  # its own parser: so it was already
])
def test_an_unknown_option_is_refused_by_the_command_whose_help_lists_the_options(argv, command, capsys):
    """Until 2026-12-07 `dlexam geoff --bogus` said `dlexam: error: unrecognized arguments: --bogus (see dlexam
    --help)`: the top-level help, which lists the commands, not geoff's options."""
    line = refused_here(argv, capsys)
    assert line == f"{command}: error: unrecognized arguments: {argv[-2 if argv[-1] == 'A' else -1]} " \
        f"(see {command} --help)"


@pytest.mark.parametrize("argv, line", [
    (["--bogus"], "dlexam: error: unrecognized arguments: --bogus (see dlexam --help)"),  # was: COMMAND required
    ([], "dlexam: error: the following arguments are required: COMMAND (see dlexam --help)"),
    (["--shared", "DIR"], "dlexam: error: the following arguments are required: COMMAND (see dlexam --help)"),
])
def test_without_a_command_an_unknown_option_is_named_first(argv, line, capsys):
    assert refused_here(argv, capsys) == line


@pytest.mark.parametrize("argv, out", [
    (["sort", "D", "--trained", "A"], "A D\n"),  # before: "unrecognized arguments: A"
    (["sort", "D", "--vocab", "A-Z", "Z", "A"], "A D Z\n"),
    (["sort", "3", "--vocab", "4", "1", "1"], "1 3\n"),
    (["sort", "--vocab", "A-Z", "Z", "A", "--temperature", "0", "M"], "A M Z\n"),
])
def test_sort_takes_options_between_the_symbols(argv, out, capsys):
    assert main(argv) == 0
    assert capsys.readouterr().out == out


def test_sort_with_standard_output_closed_answers_to_nowhere(capsys, monkeypatch):
    """`dlexam sort "D A" >&-`: Python's sys.stdout is None; was AttributeError's traceback and exit status 1
    (print() writes nowhere then, as every other command does)."""
    import sys

    monkeypatch.setattr(sys, "stdout", None)
    assert main(["sort", "D A"]) == 0
    assert capsys.readouterr().err == ""


def test_an_exam_file_that_is_no_file_is_named_as_the_user_gave_it(capsys, monkeypatch, tmp_path):
    """`answers --exam /dev/zero` said `DLEXAM_EXAM=/dev/zero`, a variable the user never set."""
    monkeypatch.setenv("DLEXAM_EXAM", str(tmp_path))  # main() sets it from --exam: restored after the test
    line = refused_here(["answers", "--exam", str(tmp_path), "--question", "P1.1"], capsys,
                        f"{tmp_path} (given by --exam")
    assert "DLEXAM_EXAM=" not in line


def test_synth_scenes_takes_the_seeds_the_recipe_takes(tmp_path, capsys):
    """`svhn synth --scenes` writes what `svhn train --recipe R --seed S` trains on, and took seeds up to 2**63 - 1
    where the recipe (and its help) stop at 4,294,967,295: images for a seed no training run accepts."""
    big = str(2**32)
    train = refused_here(["svhn", "train", "--recipe", "quick", "--seed", big, "--out", str(tmp_path / "r")], capsys)
    synth = refused_here(["svhn", "synth", "--scenes", "--recipe", "quick", "--images", "10", "--seed", big,
                          "--out", str(tmp_path / "s")], capsys)
    said = f"error: --seed must be a whole number in [0, 4294967295], got {big} (see dlexam svhn"  # as read
    assert said in synth and said in train
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--lr", "nan"), ("--threads", "0"), ("--out", "FILE")])
def test_under_torchrun_a_flag_refused_as_it_is_read_is_said_once_by_rank_0(tmp_path, capsys, monkeypatch, flag,
                                                                            value):
    """A value the parser refuses (before torch loads) is the same on every rank: rank 0 says it, the others only
    exit with status 2, as for the command's own refusals before the ranks join."""
    (tmp_path / "FILE").write_text("a file")
    argv = ["svhn", "train", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
            flag, str(tmp_path / value) if value == "FILE" else value]
    for name, setting in (("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500"), ("RANK", "0")):
        monkeypatch.setenv(name, setting)  # as torchrun sets them
    refused_here(argv, capsys, flag)
    monkeypatch.setenv("RANK", "1")
    assert main(argv) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("WORLD_SIZE", "1")  # one process: it says it, whatever RANK says
    refused_here(argv, capsys, flag)


def test_under_torchrun_a_refusal_before_the_ranks_join_is_said_once_by_rank_0(tmp_path, capsys, monkeypatch):
    """Every rank runs the same checks on the same flags before joining: rank 0 says the refusal, the others
    only exit with status 2. One after the ranks have joined may be a rank's own: every rank says it, unless the
    ranks agreed on it (EveryRank: a rank's run folder, resume state or data, gathered on every rank), which rank
    0 says for all."""
    import torch.distributed

    import dlexam.svhn.training.runs as svhn_runs
    from dlexam.errors import EveryRank

    argv = ["svhn", "train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"), "--quick",
            "--init", "shipped", "--pool", "max"]  # refused by the flags alone, before the ranks join
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # as torchrun sets them
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("RANK", "0")
    refused_here(argv, capsys, "--init fine-tunes the exam architecture as it is: --pool")
    monkeypatch.setenv("RANK", "1")
    assert main(argv) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    refused_here(argv, capsys, "--init fine-tunes the exam architecture as it is: --pool")

    def agreed(run, progress=None):
        raise EveryRank("distributed training, rank 1: resume: no run to resume at OUT")

    monkeypatch.setattr(svhn_runs, "train_run", agreed)
    argv = ["svhn", "train", "--out", str(tmp_path / "run"), "--resume"]
    assert main(argv) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    refused_here(argv, capsys, "distributed training, rank 1: resume: no run to resume at OUT")


@pytest.mark.parametrize("env, needle", [
    ({"WORLD_SIZE": "2"}, "but RANK, MASTER_ADDR, MASTER_PORT are not set; start distributed training with torchrun"),
    ({"WORLD_SIZE": "2", "RANK": "0"}, "but MASTER_ADDR, MASTER_PORT are not set"),
    ({"WORLD_SIZE": "2", "RANK": "1"}, "but MASTER_ADDR, MASTER_PORT are not set"),  # no rank 0 will say it
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' in the environment is not a whole number"),
    ({"WORLD_SIZE": "2", "RANK": "r1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "RANK='r1' in the environment is not a whole number"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "RANK=2 in the environment is not one of the 2 ranks 0 to 1"),
])
def test_a_distributed_environment_torchrun_would_not_make_is_one_line_before_any_work(tmp_path, capsys, monkeypatch,
                                                                                      env, needle):
    """WORLD_SIZE set by hand (or left from another job) without the rest of torchrun's variables was torch's
    traceback from its env:// rendezvous ("environment variable RANK expected, but not set"), after the data were
    read and the run folder made; a RANK that is not a number was a ValueError from int()."""
    from dlexam.svhn.synthetic.digits import write_synthetic

    write_synthetic(tmp_path / "data", n_train=40, n_test=10, seed=1)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    refused_here(["svhn", "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--quick"],
                 capsys, needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("value, needle", [
    ("x", "LOCAL_RANK='x' in the environment is not a whole number"),
    ("-1", "LOCAL_RANK='-1' in the environment is not a whole number"),
    ("", "LOCAL_RANK='' in the environment is not a whole number"),
    ("2", "LOCAL_RANK=2 in the environment is not one of the 2 GPUs 0 to 1 that this machine has"),
])
def test_a_local_rank_torchrun_would_not_set_is_one_line(monkeypatch, value, needle):
    """On a GPU each rank takes the device LOCAL_RANK names: svhn/training/distributed.py read it with a bare int()
    (a ValueError's traceback for LOCAL_RANK=x) and handed any number to torch.cuda.set_device (CUDA's "invalid
    device ordinal"). torchrun's environment has one reader, dlexam.cpu, which refuses it as a UserError: the
    command line's one line and status 2. Called here without CUDA, as setup_distributed calls it with
    torch.cuda.device_count()."""
    from dlexam.cpu import torchrun_local_rank
    from dlexam.errors import UserError

    monkeypatch.setenv("LOCAL_RANK", value)
    with pytest.raises(UserError) as refused:
        torchrun_local_rank(devices=2)
    assert needle in str(refused.value) and "\n" not in str(refused.value)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert torchrun_local_rank(devices=2) == 1
    monkeypatch.delenv("LOCAL_RANK")
    assert torchrun_local_rank(devices=2) == 0  # as before: the first GPU where torchrun did not say


def test_a_rank_without_a_world_size_trains_alone_and_writes_its_run(tmp_path, capsys, monkeypatch):
    """RANK=1 without WORLD_SIZE (a scheduler's array of single-process jobs) trained in one process and said
    "RUN: 1 epoch, val accuracy ...", but wrote nothing: the run folder was left to a rank 0 that was not there."""
    from dlexam.svhn.synthetic.digits import write_synthetic

    write_synthetic(tmp_path / "data", n_train=40, n_test=10, seed=1)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("RANK", "1")
    assert main(["svhn", "train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--quick",
                 "--epochs", "1", "--quiet"]) == 0
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "metrics.json").is_file()


def test_a_rank_in_the_environment_silences_no_other_command(tmp_path, capsys, monkeypatch):
    """RANK and WORLD_SIZE may be set for a whole job (a scheduler's array of single-process commands): only a
    command that trains under torchrun leaves a refusal to rank 0; every other one says its own."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    refused_here(["svhn", "evaluate", "--data", str(tmp_path / "none")], capsys, "SVHN file not found")
    refused_here(["grade", "--variant", "1", str(tmp_path / "absent.csv")], capsys)


@pytest.mark.parametrize("argv, line", [
    (["sort", "--vocab", "1", "1"], "dlexam: error: unknown token '1': vocabulary 1 has one symbol, 0"),  # was "is 0"
    (["sort", "--vocab", "3", "0 3"], "dlexam: error: unknown token '3': vocabulary 3 has 3 symbols, 0 1 2"),
    (["sort", "--vocab", "A-A", "B"], "dlexam: error: unknown token 'B': vocabulary A-A is A"),
    (["sort", "--vocab", "0", "0"], "dlexam sort: error: argument --vocab: bad vocabulary '0': the number of symbols "
     "must be 1 .. 2000 (see dlexam sort --help)"),  # as the parser reads it, before torch loads
])
def test_a_numbered_vocabulary_is_named_in_words(argv, line, capsys):
    assert refused_here(argv, capsys) == line


def test_every_option_and_argument_of_every_command_says_what_it_is_in_its_help():
    """A census of the parsers: no option or argument is listed in `--help` with no words beside it (until
    2026-12-07 `--json` of svhn summary, synth, train, evaluate, predict and explain and predict's `images` were bare
    names: which JSON, and whether a folder is taken, was left to docs/svhn.md)."""
    import argparse

    from dlexam.cli import build_parser
    from dlexam.commands import sort_options

    def actions(parser, prefix):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    yield from actions(sub, f"{prefix} {name}".strip())
            elif not isinstance(a, argparse._HelpAction):
                yield prefix, a

    found = list(actions(build_parser(), ""))
    for name, add in (("sort train", sort_options.train_options), ("sort evaluate", sort_options.evaluate_options)):
        sub = type(build_parser())(prog=f"dlexam {name}")
        add(sub)
        found += [(name, a) for a in sub._actions if not isinstance(a, argparse._HelpAction)]
    assert len({c for c, _ in found}) > 15  # the census reached the subcommands
    assert [(c, a.option_strings or a.dest) for c, a in found if not (a.help or "").strip()] == []


def test_sort_vocab_help_says_what_the_option_takes_and_does():
    """`sort --help` listed --vocab as "A-D (default), A-Z, or N" though any letter range (C-F, a-z) is a vocabulary;
    `sort evaluate --help` called it the compiled solver's, though with --checkpoint or --trained it is checked
    against the model's own (another is refused, as below). Each --vocab help names a range other than A-D and A-Z,
    and the query's and evaluate's say what it does with a trained model."""
    import argparse

    from dlexam.cli import build_parser
    from dlexam.commands import sort_options

    def vocab_help(add) -> str:
        p = argparse.ArgumentParser()
        add(p)
        return " ".join(next(a.help for a in p._actions if "--vocab" in a.option_strings).split())

    helps = {name: vocab_help(add) for name, add in (("sort", sort_options.query_options),
                                                     ("sort train", sort_options.train_options),
                                                     ("sort evaluate", sort_options.evaluate_options))}
    for name, text in helps.items():
        assert "C-F" in text and "a-z" in text and "0 .. N-1" in text, (name, text)
    for name in ("sort", "sort evaluate"):
        assert "--checkpoint" in helps[name] and "--trained" in helps[name] and "refused" in helps[name], helps[name]
    assert "the compiled solver (default" not in helps["sort evaluate"]
    sort_help = build_parser()._subparsers._group_actions[0].choices["sort"].format_help()
    assert "C-F" in " ".join(sort_help.split())  # what `dlexam sort --help` prints
    assert main(["sort", "--vocab", "C-F", "F C D"]) == 0
