"""`dlexam sort train` and `sort evaluate` with hostile settings and folders: absurd numbers refused
up front naming the parameter, nothing it did not write replaced, one writer per run folder, an exact
`--resume`, an unfinished checkpoint said so, and evaluation sizes capped before anything is drawn."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.files import OutputDir
from dlexam.sorting import train as train_module
from dlexam.sorting.train import TrainConfig, train

from .helpers import assert_refused, refused_here, run_cli, snapshot

QUICK = ["--vocab", "A-C", "--max-len", "3", "--quick", "--quiet", "--json"]


@pytest.mark.parametrize("flag, value, needle", [
    ("--lr", "nan", "--lr must be"), ("--lr", "inf", "--lr must be"), ("--lr", "1e10", "--lr must be"),
    ("--lr", "0", "--lr must be"), ("--steps", "0", "--steps must be"), ("--batch-size", "0", "--batch-size must be"),
    ("--max-len", "100000", "--max-len must be"), ("--label-smoothing", "1", "--label-smoothing must be"),
    ("--checkpoint-every", "-1", "--checkpoint-every must be"), ("--temperature-end", "nan", "temperature"),
    ("--threads", "0", "--threads must be"),
    # more heads than A-C's 5 dimensions: was "d_head must be a whole number from 1 to 4,096, got 0", a flag not given;
    # then "n_heads 7 is more than d_model 5", the library's names; now the flags'
    ("--heads", "7", "--heads 7 is more than --d-model 5"),
])
def test_sort_train_refuses_absurd_settings_before_any_work(tmp_path, capsys, flag, value, needle):
    argv = ["sort", "train", *QUICK, "--out", str(tmp_path / "r"), flag, value]
    if (flag, value) == ("--lr", "nan"):  # one case as a whole process: exit status 2 and one line, no traceback
        assert_refused(run_cli(*argv, timeout=60), needle)
    else:  # the others in this process: the same main(), without a second of torch's import each
        refused_here(argv, capsys, needle)
    assert not (tmp_path / "r").exists()


def test_sort_train_refuses_a_step_whose_attention_would_not_fit_in_memory(tmp_path, capsys):
    """`--batch-size 65536 --max-len 512`, each within its bounds, is 65,536 sequences of up to 3 + 512 + 2 = 517
    positions (x <START> y <STOP> over A-C): one step's attention holds 65,536 x 517^2 = 17.5e9 scores (over 500 GB
    at some 30 bytes each in training). It went on to a MemoryError traceback (found 2026-12-07); now it is one
    line naming both flags, before any work."""
    assert 65_536 * (512 + 3 + 2) ** 2 == 17_517_051_904
    argv = ["sort", "train", *QUICK, "--out", str(tmp_path / "r"), "--batch-size", "65536", "--max-len", "512"]
    refused_here(argv, capsys, "--batch-size 65536 and --max-len 512")
    assert not (tmp_path / "r").exists()
    TrainConfig(vocab="2000", max_len=512, batch_size=128).validate()  # the default batch at the longest lengths


def test_sort_train_never_replaces_a_last_pt_it_did_not_write_unless_forced(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "last.pt").write_bytes(b"the user's own file")
    before = snapshot(run)
    refused_here(["sort", "train", *QUICK, "--out", str(run)], capsys, "not written by dlexam")  # the same main()
    assert snapshot(run) == before
    assert main(["sort", "train", *QUICK, "--out", str(run), "--force"]) == 0, capsys.readouterr().err[-2000:]
    assert checkpoint.load(run)["extra"]["finished"] is True


def test_sort_train_refuses_a_run_folder_in_use(tmp_path):
    run = tmp_path / "r"
    with OutputDir(run, lock=True):
        p = run_cli("sort", "train", *QUICK, "--out", str(run), timeout=60)
    assert_refused(p, "in use by process")
    assert not (run / "last.pt").exists()


def test_sort_train_checks_its_out_folder_before_training(tmp_path, capsys):
    shadow = tmp_path / "file"
    shadow.write_text("x")
    # both in this process: the same main() as `python -m dlexam` (whole processes: the two tests above)
    refused_here(["sort", "train", *QUICK, "--out", str(shadow)], capsys, "not a folder")
    refused_here(["sort", "train", *QUICK, "--out", str(shadow / "run")], capsys, "is a file")
    assert shadow.read_text() == "x"


def test_cli_resume_finishes_an_interrupted_run_exactly(tmp_path, capsys):
    tc = dict(vocab="A-C", max_len=3, steps=40, batch_size=64, warmup=5, checkpoint_every=20)
    whole = train(TrainConfig(**tc), tmp_path / "whole")
    run = tmp_path / "r"

    def stop(step, model, loss):
        if step == 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(**tc), run, callback=stop)
    # the unfinished checkpoint answers, with a warning; evaluate says so
    assert main(["sort", "--checkpoint", str(run), "C A B"]) == 0
    err = capsys.readouterr().err
    assert "unfinished training run (step 20 of 40)" in err and "--resume" in err
    assert main(["sort", "evaluate", "--checkpoint", str(run), "--lengths", "1-3", "--samples", "5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["finished"], report["step"], report["steps"]) == (False, 20, 40)
    # a setting that differs from the run's is refused, naming it; then the run's own settings resume it
    assert main(["sort", "train", "--out", str(run), "--resume", "--lr", "0.5"]) == 2
    assert "lr 0.01, not 0.5" in capsys.readouterr().err
    assert main(["sort", "train", "--out", str(run), "--resume", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_from"] == 20 and summary["finished"] is True
    got, want = checkpoint.load(run)["state_dict"], whole.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    # a finished run has nothing to resume: a note, exit 0 (as `svhn train --resume`), its files untouched
    before = snapshot(run)
    assert main(["sort", "train", "--out", str(run), "--resume"]) == 0
    out, err = capsys.readouterr()
    assert "all 40 steps are already done" in err and "already finished: nothing trained now" in out
    assert snapshot(run) == before


def test_cli_resume_refuses_a_tampered_optimizer_state(tmp_path, capsys):
    run = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(vocab="A-C", max_len=3, steps=40, batch_size=16, warmup=5, checkpoint_every=10), run,
              callback=lambda step, m, loss: (_ for _ in ()).throw(KeyboardInterrupt) if step == 15 else None)
    payload = checkpoint.load(run)
    payload["extra"]["resume"]["optimizer"]["state"][1]["exp_avg"] = torch.zeros(2, 2)
    checkpoint.save(run / "last.pt", kind=payload["kind"], config=payload["config"],
                    state_dict=payload["state_dict"], extra=payload["extra"])
    before = snapshot(run)
    # in this process (the same main() as `python -m dlexam`; `sort train` runs as a whole process in the tests above)
    refused_here(["sort", "train", "--out", str(run), "--resume", "--force"], capsys, "resume state is damaged",
                 "exp_avg")
    assert snapshot(run) == before


def test_sort_train_stops_at_a_non_finite_loss_in_one_line(tmp_path, capsys, monkeypatch):
    real = train_module.loss_on_batch
    calls = []

    def poisoned(*args, **kw):
        calls.append(1)
        return real(*args, **kw) * (float("inf") if len(calls) >= 25 else 1.0)

    monkeypatch.setattr(train_module, "loss_on_batch", poisoned)
    run = tmp_path / "r"
    assert main(["sort", "train", *QUICK, "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "loss became inf at step 25" in err and "keeps step 20" in err
    assert checkpoint.load(run)["extra"]["step"] == 20


@pytest.mark.parametrize("lengths, samples, needle", [
    ("100000", "1", "1 .. 4096"), ("1-99999999999999", "1", "1 .. 4096"), ("0-3", "1", "1 .. 4096"),
    ("1-4096", "1000", "at most 20,000,000"), ("4000", "5001", "at most 20,000,000"),
    ("1-3", "0", "samples"), ("1-3", "10000000", "samples"),
])
def test_sort_evaluate_sizes_are_capped_before_anything_is_drawn(lengths, samples, needle):
    p = run_cli("sort", "evaluate", "--lengths", lengths, "--samples", samples, mem_mb=1500, timeout=60)
    line = assert_refused(p, needle)  # under 1.5 GB of address space: refused before anything is drawn
    assert "lengths" in line or "samples" in line


def test_sort_evaluate_refuses_its_sizes_before_torch_loads():
    """Checking --lengths and --samples needs no torch: a refusal came after torch's import (1.5 CPU-seconds, most of
    each refusal above). Both checks, a length and a size, in a fresh interpreter that says whether torch loaded."""
    code = ("import sys\nfrom dlexam.cli import main\n"
            "codes = [main(['sort', 'evaluate', '--lengths', '0-3']), "
            "main(['sort', 'evaluate', '--lengths', '4000', '--samples', '5001'])]\n"
            "print(*codes, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.split() == ["2", "2", "False"], p.stderr[-2000:]
    assert "1 .. 4096" in p.stderr and "at most 20,000,000" in p.stderr
