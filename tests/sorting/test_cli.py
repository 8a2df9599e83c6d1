"""`dlexam sort` end to end: answers, stdin, bad input, checkpoints, train --quick, evaluate --json."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
import torch

from dlexam import checkpoint
from dlexam.cli import main


def run(argv, capsys, monkeypatch=None, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def test_exam_example(capsys):
    assert run(["sort", "D A A"], capsys) == (0, "A D\n", "")
    assert run(["sort", "D", "A", "A"], capsys)[1] == "A D\n"


@pytest.mark.parametrize(("argv", "hint"), [
    (["sort", "DAA"], "; separate tokens with spaces: D A A"),
    (["sort", "--vocab", "A-Z", "ZAM", "A"], "; separate tokens with spaces: Z A M A"),
    (["sort", "--trained", "C", "AB"], "; separate tokens with spaces: C A B"),
    (["sort", "DAX"], ""),  # X is no symbol: nothing to suggest
    (["sort", "--vocab", "100", "427"], ""),  # 42 7? 4 27? 427 past the vocabulary: numbers are not guessed at
])
def test_symbols_run_together_are_refused_saying_how_to_write_them(argv, hint, capsys):
    """As `dlexam geoff` and the web page's /sort say it (dlexam.words.spaced); `sort "DAA"` said only "unknown
    token 'DAA'" (2026-12-07)."""
    rc, out, err = run(argv, capsys)
    token = next(w for w in argv[1:] if w not in ("--vocab", "A-Z", "100", "--trained", "C", "A") and len(w) > 1)
    assert (rc, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"dlexam: error: unknown token {token!r}") and err.endswith(hint + "\n")
    assert ("separate" in err) == bool(hint)


@pytest.mark.parametrize(("argv", "hint"), [
    (["sort", "D A A <START> A D <STOP>"], "type the input alone, D A A"),
    (["sort", "D,A,A"], "separate tokens with spaces: D A A"),
    (["sort", "d a a"], "symbols are case-sensitive: D A A"),  # was only "unknown token 'd'"
    (["sort", "--vocab", "A-Z", "z A m"], "symbols are case-sensitive: Z A M"),
])
def test_a_training_example_or_commas_are_refused_saying_what_to_type(argv, hint, capsys):
    """/geoff's training example given to the sorter, or its input written as a list: said what to type, as /sort
    says it (2026-12-07: only "unknown token '<START>'", "unknown token 'D,A,A'")."""
    rc, out, err = run(argv, capsys)
    assert (rc, out) == (2, "") and err.count("\n") == 1 and err.endswith(f"{hint}\n"), err


@pytest.mark.parametrize(
    "argv,want",
    [
        (["sort", "--vocab", "A-Z", "Z A M A"], "A M Z\n"),
        (["sort", "--vocab", "100", "99 0 42 0 7"], "0 7 42 99\n"),
        (["sort", "3 1 1", "--vocab", "4"], "1 3\n"),  # options after the sequence
        (["sort", "--vocab", "4", "3 3 3"], "3\n"),
    ],
)
def test_vocabularies(argv, want, capsys):
    assert run(argv, capsys)[:2] == (0, want)


def test_stdin_one_answer_per_line(capsys, monkeypatch):
    rc, out, err = run(["sort"], capsys, monkeypatch, "D A A\nC B\n\nB B B\n")
    assert (rc, out, err) == (0, "A D\nB C\n\nB\n", "")


def test_empty_stdin_gives_empty_output(capsys, monkeypatch):
    assert run(["sort"], capsys, monkeypatch, "") == (0, "", "")


def test_bad_token_names_token_and_line(capsys, monkeypatch):
    rc, out, err = run(["sort", "A E"], capsys)
    assert rc == 2 and out == "" and "unknown token 'E'" in err and err.count("\n") == 1
    rc, out, err = run(["sort"], capsys, monkeypatch, "A B\nB x\n")
    assert rc == 2 and out == "A B\n" and "line 2" in err and "'x'" in err  # line 1's answer comes first


@pytest.mark.parametrize(
    "argv",
    [
        ["sort", "--vocab", "Z-A", "A"],
        ["sort", "--vocab", "0", "1"],
        ["sort", "--checkpoint", "/nonexistent/run", "A"],
        ["sort", "evaluate", "--lengths", "5-1"],
    ],
)
def test_user_errors_exit_2(argv, capsys):
    rc, out, err = run(argv, capsys)
    # "dlexam sort: error: ...": a bad --vocab or a missing --checkpoint is refused as the parser reads it
    assert rc == 2 and err.startswith(("dlexam: error:", "dlexam sort: error:")) and err.count("\n") == 1


def test_bad_checkpoint_files(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint\n")
    other = tmp_path / "other.pt"
    checkpoint.save(other, kind="svhn-cnn", config={}, state_dict={"w": torch.zeros(1)})
    for path in (junk, other):
        rc, out, err = run(["sort", "--checkpoint", str(path), "A"], capsys)
        assert rc == 2 and out == "" and err.count("\n") == 1, err


def test_console_entry_point_exit_code_without_traceback():
    bad = subprocess.run([sys.executable, "-m", "dlexam", "sort", "A Q"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == "dlexam: error: unknown token 'Q': vocabulary A-D is A B C D"


def test_train_quick_then_sort_and_evaluate_with_the_run_dir(tmp_path, capsys):
    run_dir = tmp_path / "run"
    rc, out, err = run(
        ["sort", "train", "--vocab", "A-C", "--max-len", "4", "--out", str(run_dir), "--quick", "--json"],
        capsys,
    )
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["steps"] == 40 and summary["checkpoint"].endswith("last.pt")
    assert (run_dir / "last.pt").is_file()
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    # refuses to overwrite, unless --force
    rc, out, err = run(
        ["sort", "train", "--vocab", "A-C", "--max-len", "4", "--out", str(run_dir), "--quick"], capsys
    )
    assert rc == 2 and "already holds a training run" in err
    # the run directory answers queries; a longer input than trained gets a warning
    rc, out, err = run(["sort", "--checkpoint", str(run_dir), "C A B A B C A"], capsys)
    assert rc == 0 and len(out.splitlines()) == 1 and "warning" in err and "trained on" in err
    rc, out, err = run(["sort", "--checkpoint", str(run_dir), "--vocab", "A-D", "A"], capsys)
    assert rc == 2 and "trained on vocabulary A-C" in err
    rc, out, err = run(
        ["sort", "evaluate", "--checkpoint", str(run_dir), "--lengths", "1-6", "--samples", "20", "--json"],
        capsys,
    )
    assert rc == 0, err
    report = json.loads(out)
    assert [r["temperature"] for r in report["results"]][1] == 0.0
    assert set(report["results"][0]["per_length"]) <= {str(n) for n in range(1, 7)}
    assert 0.0 <= report["results"][0]["overall"] <= 1.0 and report["trained_max_len"] == 4
    # provenance: what the checkpoint was trained with (train sets one thread by default)
    assert report["trained_with"]["torch"] == str(torch.__version__) and report["trained_with"]["threads"] == 1
    rc, out, err = run(["sort", "evaluate", "--checkpoint", str(run_dir), "--lengths", "2", "--samples", "5"], capsys)
    assert rc == 0 and out.startswith(f"trained with: torch {torch.__version__}, 1 thread, CPU ")
    # what the file says stays one line each, as `svhn evaluate` prints it (dlexam.commands.provenance.made_lines):
    # a command holding a newline printed a line of the file's own making
    payload = torch.load(run_dir / "last.pt", weights_only=True)
    payload["extra"]["command"] = "dlexam sort train\nfinished: yes \x1b[2J"
    torch.save(payload, run_dir / "last.pt")
    rc, out, err = run(["sort", "evaluate", "--checkpoint", str(run_dir), "--lengths", "2", "--samples", "5"], capsys)
    assert rc == 0 and out.splitlines()[1] == "made by: dlexam sort train\\nfinished: yes \\x1b[2J", out
    # a checkpoint written before provenance was recorded still evaluates, and says so
    payload = torch.load(run_dir / "last.pt", weights_only=True)
    del payload["provenance"]
    torch.save(payload, run_dir / "last.pt")
    rc, out, err = run(["sort", "evaluate", "--checkpoint", str(run_dir), "--lengths", "2", "--samples", "5"], capsys)
    assert rc == 0 and out.splitlines()[0].startswith("trained with: not recorded")
    rc, out, err = run(["sort", "--checkpoint", str(run_dir), "B A"], capsys)
    assert rc == 0 and len(out.splitlines()) == 1


def test_evaluate_compiled_table(capsys):
    rc, out, err = run(
        ["sort", "evaluate", "--vocab", "A-Z", "--lengths", "1-3,40", "--samples", "30"], capsys
    )
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["all"]]
    # 120 inputs, of which 40's are not counted distinct (26^40 sequences exist): "-"
    assert rc == 0 and rows == [["all", "120", "-", "1.0000"]]


def test_evaluate_names_lengths_without_heldout_sequences(capsys):
    rc, out, err = run(["sort", "evaluate", "--lengths", "1-3", "--samples", "5", "--json"], capsys)
    report = json.loads(out)
    assert rc == 0 and report["lengths_without_heldout_sequences"] == [1]  # only 4 sequences of length 1
    assert set(report["results"][0]["per_length"]) == {"2", "3"}


def test_one_symbol_has_no_longer_lengths_to_offer_but_names_lengths_that_hold_one_out(capsys):
    """A vocabulary of one symbol has one sequence of each length, so "choose longer lengths" could not help. The
    lengths the message names do measure something (the oracle: evaluating them); a larger vocabulary keeps the
    longer-lengths advice."""
    import re

    rc, out, err = run(["sort", "evaluate", "--vocab", "1", "--lengths", "4096", "--samples", "5"], capsys)
    assert rc == 2 and "longer lengths" not in err and "one sequence of each length" in err
    named = re.search(r"such as ([0-9, ]+)$", err.strip()).group(1)
    rc, out, err = run(["sort", "evaluate", "--vocab", "1", "--lengths", named.replace(" ", ""), "--samples", "5",
                        "--json"], capsys)
    assert rc == 0, err
    assert set(json.loads(out)["results"][0]["per_length"]) == set(named.replace(" ", "").split(","))
    rc, out, err = run(["sort", "evaluate", "--vocab", "2", "--lengths", "1", "--samples", "5"], capsys)
    assert rc == 2 and err.strip().endswith("choose longer lengths")


@pytest.mark.parametrize("argv", [["sort", "--vocab", "", "A"], ["sort", "evaluate", "--vocab", "", "--lengths", "2"]])
def test_an_empty_vocabulary_is_refused_not_taken_for_a_to_d(argv, capsys):
    rc, out, err = run(argv, capsys)  # before: `--vocab ""` answered with vocabulary A-D
    assert (rc, out) == (2, "") and err.count("\n") == 1 and "argument --vocab: an empty value" in err


def test_options_before_the_action_are_used_not_dropped(tmp_path, capsys):
    """Before, `dlexam sort --vocab A-Z evaluate` evaluated the A-D solver, `--trained evaluate` the compiled
    one, and `--vocab A-Z train` trained on A-D, all in silence."""
    rc, out, err = run(["sort", "--vocab", "A-Z", "evaluate", "--lengths", "30", "--samples", "3", "--json"], capsys)
    assert rc == 0 and json.loads(out)["model"] == "compiled solver, vocabulary A-Z"
    rc, out, err = run(["sort", "--trained", "--temperature", "0", "evaluate", "--lengths", "3", "--samples", "3",
                        "--json"], capsys)
    report = json.loads(out)
    assert rc == 0 and "shipped" in report["model"] and [r["temperature"] for r in report["results"]] == [0.0]
    rc, out, err = run(["sort", "--vocab", "A-Z", "evaluate", "--vocab", "5", "--lengths", "3", "--samples", "3",
                        "--json"], capsys)  # given after the action too: that one wins, as after a sequence
    assert rc == 0 and json.loads(out)["model"] == "compiled solver, vocabulary 5"
    rc, out, err = run(["sort", "--vocab", "A-C", "train", "--max-len", "3", "--quick", "--quiet", "--json",
                        "--out", str(tmp_path / "run")], capsys)
    assert rc == 0 and json.loads(out)["model"]["extra"]["vocab"] == "A-C"
    for flag in (["--trained"], ["--checkpoint", str(tmp_path / "run")], ["--temperature", "0"]):
        rc, out, err = run(["sort", *flag, "train", "--max-len", "3", "--quick", "--out", str(tmp_path / "x")],
                           capsys)
        assert (rc, out) == (2, "") and err == f"dlexam: error: {flag[0]} does not apply to `dlexam sort train`\n"
    assert not (tmp_path / "x").exists()


def test_an_empty_out_is_refused_not_taken_for_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # before: `sort train --out ''` trained into the current folder
    rc, out, err = run(["sort", "train", "--out", "", "--max-len", "3", "--quick"], capsys)
    assert (rc, out) == (2, "") and err.count("\n") == 1 and "argument --out: an empty path" in err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_checkpoint_is_refused_not_taken_for_the_current_folder(tmp_path, capsys, monkeypatch):
    assert run(["sort", "train", "--out", str(tmp_path), "--max-len", "3", "--quick", "--quiet"], capsys)[0] == 0
    monkeypatch.chdir(tmp_path)  # before: `--checkpoint ''` answered with ./last.pt
    for argv in (["sort", "--checkpoint", "", "A"], ["sort", "evaluate", "--checkpoint", "", "--lengths", "2"]):
        rc, out, err = run(argv, capsys)
        assert (rc, out) == (2, "") and err.count("\n") == 1 and "argument --checkpoint: an empty path" in err


def test_resume_of_a_finished_quick_run_reports_what_the_run_reported(tmp_path, capsys):
    """`--resume` of a finished run trains nothing and decodes the same held-out inputs its run did: a --quick run's
    report (50 inputs of each length) is not replaced by one on 300 (other figures for the same weights)."""
    run_dir = str(tmp_path / "run")
    rc, out, err = run(["sort", "train", "--vocab", "A-C", "--max-len", "4", "--out", run_dir, "--quick", "--json"],
                       capsys)
    assert rc == 0, err
    first = json.loads(out.strip().splitlines()[-1])
    rc, out, err = run(["sort", "train", "--out", run_dir, "--resume", "--json"], capsys)
    assert rc == 0, err
    again = json.loads(out.strip().splitlines()[-1])
    assert again["resumed_from"] == again["steps"] == first["steps"]
    assert again["exact_match"] == first["exact_match"]
    # without --max-len and without --resume, the folder's run is named, not a missing flag
    rc, out, err = run(["sort", "train", "--out", run_dir], capsys)
    assert rc == 2 and "already holds a training run" in err and "--resume" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,token", [
    (["sort", "--", "--trained", "A"], "--trained"),  # before: answered with the shipped sorter, exit 0
    (["sort", "--", "--help"], "--help"),  # before: printed the help, exit 0
    (["sort", "--", "-A"], "-A"),  # before: "unrecognized arguments: -A"
    (["sort", "D", "--", "--vocab", "A-Z", "Z"], "--vocab"),  # not only at the start
])
def test_after_a_double_dash_every_word_is_a_symbol(argv, token, capsys):
    """`--` ends the options, as everywhere: what follows is the sequence, never a flag. Python's
    parse_intermixed_args dropped a leading `--` and read the flags after it (CPython 3.11)."""
    rc, out, err = run(argv, capsys)
    assert (rc, out) == (2, "") and err == f"dlexam: error: unknown token {token!r}: vocabulary A-D is A B C D\n"


def test_a_double_dash_keeps_options_before_it_and_symbols_after_it(capsys):
    assert run(["sort", "--vocab", "10", "--", "3", "1", "3"], capsys)[:2] == (0, "1 3\n")
    assert run(["sort", "--", "D", "A", "A"], capsys)[:2] == (0, "A D\n")
    assert run(["sort", "--", "train"], capsys)[0] == 2  # a symbol here, not the action


def test_a_numbered_vocabulary_spelled_with_leading_zeros_is_the_same_vocabulary(tmp_path, capsys):
    """`--vocab 04` and `--vocab 4` are the symbols 0 1 2 3 both; a checkpoint trained with one is read with the
    other (before: `... was trained on vocabulary 04, not 4`, exit 2). Another vocabulary is still refused."""
    out = tmp_path / "run"
    assert run(["sort", "train", "--vocab", "04", "--max-len", "2", "--steps", "2", "--quiet", "--out", str(out)],
               capsys)[0] == 0
    for argv in (["sort", "--checkpoint", str(out), "--vocab", "4", "3 1"],
                 ["sort", "evaluate", "--checkpoint", str(out), "--vocab", "4", "--lengths", "2", "--samples", "2"]):
        rc, _, err = run(argv, capsys)
        assert rc == 0 and "error" not in err, err
    rc, _, err = run(["sort", "--checkpoint", str(out), "--vocab", "5", "3 1"], capsys)
    assert rc == 2 and "trained on vocabulary 04, not 5" in err


def test_train_hard_phase_flags_reach_the_run(tmp_path, capsys):
    """--hard-fraction / --hard-temperature set the straight-through final phase: 0 is the recipe before it, which
    the library's own TrainConfig(hard_fraction=0) trains to the same weights; the default phase changes them."""
    from dlexam.sorting.train import TrainConfig, train

    def weights(out, *flags):
        assert main(["sort", "train", "--max-len", "4", "--quick", "--quiet", "--out", str(out), *flags]) == 0
        payload = checkpoint.load(out / "last.pt")
        return payload["state_dict"], payload["extra"]["train_config"]

    off, off_cfg = weights(tmp_path / "off", "--hard-fraction", "0")
    on, on_cfg = weights(tmp_path / "on", "--hard-temperature", "5")
    assert off_cfg["hard_fraction"] == 0 and on_cfg["hard_fraction"] == pytest.approx(1 / 3)
    assert on_cfg["hard_temperature"] == 5
    library = train(TrainConfig.from_dict(off_cfg)).model.state_dict()
    assert all(torch.equal(off[k], library[k]) for k in library)
    assert not all(torch.equal(off[k], on[k]) for k in on)


@pytest.mark.parametrize("typed", ["1e-9", "0.30000000000000004", "2.5e+21"])
def test_a_refused_temperature_is_quoted_as_typed(capsys, typed):
    """The compiled solver's refusal quoted Python's repr (1e-09), not the number typed (1e-9), as /sort's now does."""
    rc = main(["sort", "D A A", "--temperature", typed])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"temperature {typed} does not apply to the compiled solver" in err


@pytest.mark.parametrize("sequence", ["DAA", "d a a", "D A A <START> A D <STOP>"])
def test_a_refused_temperature_carries_no_advice_on_the_sequence(sequence, capsys):
    """The advice on how to write a sequence follows an unknown token, not a refused --temperature: `sort
    --temperature sqrt DAA` said "... decode a trained sorter to choose T; separate tokens with spaces: D A A"
    (2026-12-07 sortaudit), advice for an error it did not report. /sort checks the temperature first too."""
    rc, out, err = run(["sort", "--temperature", "sqrt", sequence], capsys)
    assert (rc, out) == (2, "") and err.count("\n") == 1
    assert err.rstrip().endswith("decode a trained sorter to choose T"), err


@pytest.mark.parametrize("lengths", ["1_0", "\u0663", "+2", "2-+3", "\uff12"])
def test_lengths_are_ascii_digits(lengths, capsys):
    """`--lengths 1_0` measured length 10 and `--lengths ٣` (an Arabic-Indic 3) length 3: int() reads both, where
    every other whole number a user types is ASCII digits (dlexam.limits.digits; 2026-12-07 sortaudit)."""
    rc, out, err = run(["sort", "evaluate", "--lengths", lengths, "--samples", "2"], capsys)
    assert (rc, out) == (2, "") and err.count("\n") == 1 and "bad lengths" in err, err


def test_lengths_without_heldout_sequences_are_named_in_the_plural(capsys):
    """"(no held-out sequences exist at length 1, 2, 3, ...": several lengths are "lengths" (2026-12-07 sortaudit)."""
    rc, out, err = run(["sort", "evaluate", "--vocab", "1", "--lengths", "8-9", "--samples", "2"], capsys)
    assert rc == 0 and "(no held-out sequences exist at length 8: " in out  # one: the singular, as before
    rc, out, err = run(["sort", "evaluate", "--vocab", "1", "--lengths", "7-9", "--samples", "2"], capsys)
    assert rc == 0 and "(no held-out sequences exist at lengths 7, 8: " in out, out


def test_the_warnings_on_answers_given_before_a_bad_line_are_not_lost(capsys, monkeypatch):
    """Line 1 is longer than the shipped sorter's 8 symbols and is answered; line 2 is refused. The warning that line
    1's answer needs checking was dropped with the error (2026-12-07 sortaudit): now the answers, their warnings,
    then the error line, last."""
    rc, out, err = run(["sort", "--trained"], capsys, monkeypatch, stdin="A B A B A B A B A B C\nE\n")
    assert (rc, out) == (2, "A B C\n")
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("dlexam: warning: 1 input longer than the 8 symbols"), err
    assert lines[1] == "dlexam: error: line 2: unknown token 'E': vocabulary A-D is A B C D"
