"""The run-folder service: a file record that loses no entry when commands write into one folder at
once, and a resume that keeps the run's settings and refuses, by name, any that differ."""

from __future__ import annotations

import json
import shutil

import pytest

from dlexam import runs
from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.files import MANIFEST, OutputDir
from dlexam.runs import resume_config

from . import killing
from .helpers import refused_here, snapshot


def _record(folder) -> dict:
    return json.loads((folder / MANIFEST).read_text())["files"]


def test_eight_evaluations_writing_into_one_folder_at_once_are_all_recorded(tmp_path, quick_run, synth_dir):
    """The issue's case: 8 concurrent `svhn evaluate --png` into one folder left 5 of 8 entries."""
    out = tmp_path / "figs"
    names = [f"confusion_{i}.png" for i in range(8)]
    argv = lambda name: ["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir),  # noqa: E731
                         "--png", str(out / name)]
    procs = [killing.start(argv(name)) for name in names]
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8
    assert set(_record(out)) == set(names)
    folder = OutputDir(out)
    assert all(folder.owns(name) for name in names)
    procs = [killing.start(argv(name)) for name in names]  # each may replace its own file again
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 8


def _writer(folder: str, me: int, rounds: int) -> None:
    out = OutputDir(folder)
    for r in range(rounds):
        out.write_bytes(f"mine-{me}-{r}.txt", f"{me} {r}".encode())
        out.write_bytes("shared.txt", f"written by {me} in round {r}".encode())  # everyone replaces this one


def test_the_record_stays_complete_and_true_under_concurrent_writers(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # nothing heavy is running in this process's threads here
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), me, 10)) for me in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    record = _record(tmp_path)
    assert set(record) == {f"mine-{me}-{r}.txt" for me in range(8) for r in range(10)} | {"shared.txt"}
    folder = OutputDir(tmp_path)
    assert all(folder.owns(name) for name in record)  # every entry names the bytes that are there


@pytest.mark.parametrize("flags, named", [
    (["--lr", "0.5", "--batch-size", "7", "--optimizer", "adam"], ["--lr 0.1, not 0.5", "--batch-size 256, not 7",
                                                                  "--optimizer 'sgd', not 'adam'"]),
    (["--seed", "3"], ["--seed 0, not 3"]),
    (["--threads", "2"], ["--threads 1, not 2"]),
    (["--activation", "tanh", "--pool", "max"], ["--activation 'relu', not 'tanh'", "--pool 'avg', not 'max'"]),
    # by the flags given, not the library's names (val_fraction, split_seed)
    (["--val-fraction", "0.2", "--split-seed", "5"], ["--val-fraction 0.1, not 0.2", "--split-seed 0, not 5"]),
])
def test_svhn_train_resume_refuses_differing_settings_by_name(tmp_path, quick_run, capsys, flags, named):
    """The issue's case: `--resume --lr 0.5 --batch-size 7 --optimizer adam` trained on with the saved
    settings and exited 0; --seed, --threads and the model options were ignored too."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    before = (run / "last.pt").read_bytes()
    assert main(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlexam: error: resume:")
    for text in named:
        assert text in err
    assert (run / "last.pt").read_bytes() == before


def test_svhn_train_resume_keeps_its_settings_and_may_extend_the_schedule(tmp_path, quick_run, capsys):
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    # the same settings given again are not a difference; --epochs may change
    assert main(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet", "--json",
                 "--batch-size", "256", "--lr", "0.1", "--threads", "1", "--activation", "relu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["epochs"] == 3 and len(result["history"]) == 3
    assert result["train"]["batch_size"] == 256 and result["train"]["optimizer"] == "sgd"


def test_svhn_train_resume_goes_on_at_the_runs_own_thread_count(tmp_path, quick_run, capsys):
    """One rule for both trainers (dlexam.runs.run_threads, as `sort train --resume` held it: tests/sorting/
    test_train_runs.py): a run resumes at the thread count it was trained at, its last.pt's provenance, --threads
    given or not, and another count given is refused by name. `svhn train --resume` compared --threads as typed: a
    run started without the flag resumed at this process's default (2 threads for a run trained at 1), and
    `--threads 1`, its own count, was refused ("no --threads, not --threads 1")."""
    import torch

    from dlexam import checkpoint, runs

    run, before = tmp_path / "run", torch.get_num_threads()
    shutil.copytree(quick_run, run)
    argv = ["svhn", "train", "--out", str(run), "--quiet", "--resume"]
    try:
        torch.set_num_threads(1)  # the run as one started without --threads would be, trained at 1 thread
        payload = checkpoint.load(run / runs.LAST)
        payload["extra"]["settings"]["train"]["threads"] = None
        with runs.RunFolder(run, writes=runs.TRAINER_FILES, markers=runs.TRAINER_MARKERS, resume=True) as folder:
            folder.save_checkpoint(runs.LAST, kind=payload["kind"], config=payload["config"],
                                   state_dict=payload["state_dict"], extra=payload["extra"])
        torch.set_num_threads(2)  # this process's default is now another count than the run's
        refused_here([*argv, "--epochs", "3", "--threads", "2"], capsys,
                     "resume: ", "was trained with --threads 1, not 2 (resume continues a run with its own settings")
        assert main([*argv, "--epochs", "3"]) == 0, capsys.readouterr().err  # the run's own count, not 2
        assert checkpoint.load(run / runs.LAST)["provenance"]["threads"] == 1
        assert json.loads((run / "metrics.json").read_text())["settings"]["train"]["threads"] is None  # as started
        assert main([*argv, "--epochs", "3", "--threads", "1"]) == 0, capsys.readouterr().err  # its own: no difference
    finally:
        torch.set_num_threads(before)


def test_resume_config_names_every_difference():
    saved = {"lr": 0.1, "batch_size": 256, "optimizer": "sgd", "threads": None, "epochs": 10, "quick": False}
    assert resume_config(saved, {"lr": 0.1, "epochs": 20}, where="R/last.pt", may_change=("epochs",)) == \
        {**saved, "epochs": 20}
    assert resume_config(saved, {"batch_size": 256.0}, where="R")["batch_size"] == 256.0  # equal numbers agree
    with pytest.raises(UserError) as err:
        resume_config(saved, {"lr": 0.5, "threads": 2, "quick": True, "width": 3}, where="R/last.pt")
    text = str(err.value)
    assert text.startswith("resume: R/last.pt was trained with lr 0.1, not 0.5; no threads, not threads 2; "
                           "quick False, not True; width (not recorded in the run), not 3")
    with pytest.raises(UserError, match="quick False, not 1"):  # a flag is not a number
        resume_config(saved, {"quick": 1}, where="R")


def test_an_experiment_run_by_path_releases_its_folder_lock(tmp_path, monkeypatch):
    """EXPERIMENTS[name](path) used to keep its folder locked until the process ended: a second call in
    the same process was turned away. Now the lock goes when the run ends, however it ends."""
    from dlexam.experiments import EXPERIMENTS
    from dlexam.experiments import separable_logreg as module

    calls = []

    def stand_in(out, quick):  # the experiment's work is not what is tested here
        calls.append(out.path)
        if len(calls) == 2:
            raise RuntimeError("an experiment that fails")
        return {"name": "separable-logreg"}

    monkeypatch.setattr(module, "run", stand_in)
    EXPERIMENTS["separable-logreg"](tmp_path / "e", quick=True)
    with pytest.raises(RuntimeError):
        EXPERIMENTS["separable-logreg"](tmp_path / "e", quick=True)  # taken again: the first let it go
    EXPERIMENTS["separable-logreg"](tmp_path / "e", quick=True)  # and the failed one let it go too
    OutputDir(tmp_path / "e", lock=True).close()
    assert len(calls) == 3


def test_a_commit_between_reading_the_record_and_hashing_the_file_is_not_a_foreign_file(tmp_path, monkeypatch):
    """The check before a write read the record, then hashed the file: another writer's commit in between made
    a file dlexam had written look foreign (the concurrent-writers test above failed so, now and then, under
    load). Here that commit is started at exactly that instant, from another thread."""
    import threading

    from dlexam.files import folder

    OutputDir(tmp_path).write_bytes("shared.txt", b"first")
    hash_file = folder.sha256_of
    other = threading.Thread(target=lambda: OutputDir(tmp_path).write_bytes("shared.txt", b"second"))

    def hash_after_another_commit(path):
        if path.name == "shared.txt" and not other.is_alive() and other.ident is None:
            other.start()
            other.join(0.5)  # held up by the folder's lock while this check runs; without it, done by now
        return hash_file(path)

    monkeypatch.setattr(folder, "sha256_of", hash_after_another_commit)
    OutputDir(tmp_path).write_bytes("shared.txt", b"third")  # no "was not written by dlexam"
    other.join(10)
    assert not other.is_alive()
    assert OutputDir(tmp_path).owns("shared.txt")


def test_a_refusal_names_only_what_the_command_offers(tmp_path, quick_run, synth_dir, capsys):
    """`svhn train` and `svhn train --recipe` have no --force, and a recipe run no --resume: their refusals said
    "or force replaces it" (and "resume it")."""
    from .helpers import refused_here

    def offers(*command: str) -> set[str]:  # the oracle: the flags the command's own --help lists
        assert main([*command, "--help"]) == 0
        text = capsys.readouterr().out
        return {flag for flag in ("--force", "--resume") if flag in text}

    assert offers("svhn", "train") == {"--resume"}
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)  # a run of dlexam's, recorded as such
    for argv in (["svhn", "train", "--data", str(synth_dir), "--quick"], ["svhn", "train", "--recipe", "quick"]):
        line = refused_here([*argv, "--out", str(run), "--quiet"], capsys, "already holds a training run")
        said = {flag for flag, word in (("--force", "force"), ("--resume", "resume")) if word in line}
        assert said == (offers("svhn", "train") if "--data" in argv else set()), line


def test_a_damaged_file_record_is_no_record_not_a_traceback(tmp_path, capsys):
    """A `.dlexam-files.json` nested 100,000 deep: RecursionError escaped the record's reader as a traceback. A
    damaged record names no file as dlexam's (as one that is no JSON at all): the command writes its own files."""
    out = tmp_path / "v"
    out.mkdir()
    (out / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    assert main(["variant", "--seed", "7", "--format", "key", "--out", str(out)]) == 0, capsys.readouterr().err
    assert OutputDir(out).owns("key.json")


def test_svhn_train_resume_refuses_other_data_and_takes_the_same_data_moved(tmp_path, quick_run, synth_dir, capsys):
    """--data on resume says where the run's own data now are: other digits (another synth seed) were
    trained on silently, the run no longer the run it resumed."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    before = snapshot(run)
    other = tmp_path / "other"
    assert main(["svhn", "synth", "--out", str(other), "--train", "600", "--test", "10", "--seed", "2"]) == 0
    capsys.readouterr()
    assert main(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet",
                 "--data", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlexam: error: resume: ") and "other digits" in err, err
    assert snapshot(run) == before
    moved = tmp_path / "moved"  # the same files elsewhere: what --data on resume is for
    shutil.copytree(synth_dir, moved, ignore=shutil.ignore_patterns(".dlexam*"))
    assert main(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet", "--json",
                 "--data", str(moved)]) == 0
    assert len(json.loads(capsys.readouterr().out)["history"]) == 3


def test_svhn_train_resume_refuses_a_schedule_shorter_than_the_epochs_done(tmp_path, quick_run, capsys):
    """`--resume --epochs 1` on a run of 2 epochs exited 0 and rewrote metrics.json with settings of 1 epoch
    beside a history of 2."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    before = snapshot(run)
    assert main(["svhn", "train", "--out", str(run), "--resume", "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained 2 epochs already" in err and "--epochs 1" in err, err
    assert snapshot(run) == before


def test_a_run_that_cannot_be_resumed_is_not_offered_to_resume(tmp_path, quick_run, synth_dir, capsys):
    """A folder holding a run's metrics but no last.pt (a --recipe run's, which writes model.pt): `svhn train`
    refused it with "resume it or choose another folder", and --resume then said there is nothing to resume."""
    from .helpers import refused_here

    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    for name in ("last.pt", "best.pt"):
        (run / name).unlink()
    refused_here(["svhn", "train", "--out", str(run), "--resume", "--quiet"], capsys, "no last.pt to resume from")
    line = refused_here(["svhn", "train", "--data", str(synth_dir), "--quick", "--out", str(run), "--quiet"], capsys,
                        "already holds a training run", "choose another folder")
    assert "resume" not in line, line


def test_svhn_train_resume_says_to_give_data_when_the_runs_data_are_gone(tmp_path, quick_run, capsys):
    """The run's data folder moved away: `--resume` said only "SVHN file not found ... (run `dlexam svhn download`
    or `dlexam svhn synth`)", not that --data says where a run's data now are."""
    from dlexam import checkpoint

    from .helpers import refused_here, rewrite_checkpoint

    run = tmp_path / "run"
    shutil.copytree(quick_run, run)
    payload = checkpoint.load(run / "last.pt")
    payload["extra"]["settings"]["data"] = str(tmp_path / "moved-away")
    rewrite_checkpoint(run / "last.pt", payload)
    before = snapshot(run)
    refused_here(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3", "--quiet"], capsys, "moved-away",
                 "--data")  # an epoch left to train: a finished run resumed needs no data (nothing is trained)
    assert snapshot(run) == before


def _image_folder(root):
    from PIL import Image

    for digit in (3, 7):
        (root / str(digit)).mkdir(parents=True)
        Image.new("L", (32, 32), 40 * digit).save(root / str(digit) / "a.png")
    return root


@pytest.mark.parametrize("inside", ["3", ".", "3/run", "new/run"])
def test_svhn_train_refuses_a_run_folder_inside_an_image_folder(tmp_path, capsys, inside):
    data = _image_folder(tmp_path / "digits")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    refused_here(["svhn", "train", "--data", str(data), "--out", str(data / inside), "--quick"], capsys,
                 "is inside --data", str(data))
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before  # nothing written among the images


def test_svhn_train_refuses_a_run_folder_in_an_image_folder_reached_through_a_link(tmp_path, capsys):
    data = _image_folder(tmp_path / "digits")
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    (tmp_path / "link").symlink_to(data)
    refused_here(["svhn", "train", "--data", str(data), "--out", str(tmp_path / "link" / "run"), "--quick"], capsys,
                 "is inside --data")
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before


def test_a_mat_folder_may_hold_its_run(tmp_path, synth_dir):
    """A .mat folder's training data are train_32x32.mat alone: a run beside it, or in it, changes none of them."""
    from dlexam.cli import main

    data = tmp_path / "svhn"
    shutil.copytree(synth_dir, data)
    mat = (data / "train_32x32.mat").read_bytes()
    assert main(["svhn", "train", "--data", str(data), "--out", str(data / "run"), "--quick", "--quiet",
                 "--epochs", "1", "--threads", "1"]) == 0
    assert (data / "run" / "last.pt").is_file() and (data / "train_32x32.mat").read_bytes() == mat


def test_resume_and_quick_beside_a_recipe_are_refused_each_in_its_own_words(tmp_path, capsys):
    """`svhn train --recipe quick --resume` said "no --resume or --quick (try --recipe quick)", a hint for --quick;
    `--resume` of the folder a recipe made said only that it holds no last.pt."""
    from .helpers import refused_here

    run = str(tmp_path / "r")
    line = refused_here(["svhn", "train", "--recipe", "quick", "--resume", "--out", run], capsys, "no --resume")
    assert "--quick" not in line
    refused_here(["svhn", "train", "--recipe", "shipped", "--quick", "--out", run], capsys, "--recipe quick is")
    assert main(["svhn", "train", "--recipe", "quick", "--out", run, "--quiet"]) == 0
    capsys.readouterr()
    refused_here(["svhn", "train", "--resume", "--out", run], capsys, "holds no last.pt", "(it holds metrics.json")


def test_a_refusal_to_replace_names_the_flag_that_forces_it(tmp_path, synth_dir, capsys):
    """`(force replaces it)` named no flag; a command with --force says "--force" (the oracle: its --help lists it),
    and the library, which has no flags, keeps its own word for the setting."""
    assert main(["svhn", "evaluate", "--help"]) == 0 and "--force" in capsys.readouterr().out
    foreign = tmp_path / "mine.png"
    foreign.write_bytes(b"not dlexam's")
    line = refused_here(["svhn", "evaluate", "--data", str(synth_dir), "--png", str(foreign)], capsys,
                        "not written by dlexam")
    assert "--force replaces it" in line, line
    from dlexam.cli import build_parser, flag_message
    from dlexam.runs import RunFolder

    run = tmp_path / "run"
    with RunFolder(run, writes=("last.pt",), markers=("last.pt",)) as first:
        first.write_bytes("last.pt", b"a run")
    with pytest.raises(UserError) as refused:
        RunFolder(run, writes=("last.pt",), markers=("last.pt",))
    assert str(refused.value).endswith("or force replaces it")  # the library's word: it has no flags
    args = build_parser().parse_args(["report", "--out", str(run)])  # `report` has --force
    assert flag_message(refused.value, args).endswith("or --force replaces it")
    with pytest.raises(UserError, match=r"\(force replaces it\)"):
        OutputDir(tmp_path).claim("mine.png")


SORT_TINY = ["--max-len", "3", "--vocab", "A-C", "--steps", "5", "--quiet", "--threads", "1"]


def test_a_forced_run_over_another_kind_of_run_leaves_none_of_its_files(tmp_path, quick_run, synth_dir, capsys):
    """The issue's case: `sort train --out R --force` over an SVHN run replaced last.pt and left the SVHN run's
    best.pt, metrics and curves; `sort --checkpoint R` then took best.pt and refused it as the wrong kind. Until
    2026-12-07 it also left `svhn evaluate`'s confusion PNG of the SVHN model beside the sorter: a figure of a model
    no longer there. Written beside the run's checkpoint, it is recorded as the run's (of_run) and goes with it."""
    run = tmp_path / "run"
    shutil.copytree(quick_run, run)  # an SVHN run of dlexam's, recorded as such
    (run / "notes.txt").write_text("mine")  # the user's own file: never touched
    for png in run.glob("confusion_*.png"):  # the shared run may hold other tests' evaluations: start from none
        png.unlink()
    assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", str(synth_dir)]) == 0  # its default PNG
    pngs = sorted(p.name for p in run.glob("confusion_*.png"))
    assert len(pngs) == 1
    (run / "mine.png").write_bytes((run / pngs[0]).read_bytes())  # the user's copy of it: theirs, never removed
    assert main(["sort", "train", "--out", str(run), "--force", *SORT_TINY]) == 0
    # the evaluation's PNG described the SVHN run: it went with it; the user's files stay
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".dlexam")) == ["last.pt", "mine.png",
                                                                                         "notes.txt"]
    assert set(_record(run)) == {"last.pt"}
    assert (run / "notes.txt").read_text() == "mine"
    capsys.readouterr()
    assert main(["sort", "--checkpoint", str(run), "C", "A", "B"]) == 0, capsys.readouterr().err
    assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", str(quick_run)]) == 2
    assert "holds a 'sort-transformer' model" in capsys.readouterr().err  # the folder holds the sorter alone


def test_a_trainer_refuses_a_run_of_the_other_kind_whatever_files_it_holds(tmp_path, quick_run, synth_dir, capsys):
    """`sort train --out R` (no --force) over an SVHN run that holds best.pt and no last.pt wrote its last.pt beside
    it, two runs in one folder, exit 0 (and with --resume said only that R holds no last.pt);
    `svhn train --out R` over a sorter's run offered `--resume`, which then
    refused the sorter's last.pt as the wrong kind. Each is one line naming the run there, and nothing changes."""
    svhn, sorter = tmp_path / "svhn", tmp_path / "sorter"
    shutil.copytree(quick_run, svhn)  # an SVHN run of dlexam's, recorded as such
    for name in ("last.pt", *(p.name for p in svhn.glob("confusion_*.png"))):
        (svhn / name).unlink()  # best.pt and the metrics, no last.pt
    before = snapshot(svhn)
    refused_here(["sort", "train", "--out", str(svhn), *SORT_TINY], capsys,
                 "already holds a 'svhn-cnn' run (best.pt, curves.png, metrics.csv, metrics.json), not a "
                 "'sort-transformer' run; choose another folder or --force replaces it")
    # --resume there said only "holds no last.pt to resume from", as of an empty folder
    refused_here(["sort", "train", "--out", str(svhn), "--resume"], capsys,
                 "resume: out " + str(svhn) + " already holds a 'svhn-cnn' run (best.pt, curves.png, metrics.csv, "
                 "metrics.json), not a 'sort-transformer' run; choose another folder")
    assert snapshot(svhn) == before
    assert main(["sort", "train", "--out", str(sorter), *SORT_TINY]) == 0
    before = snapshot(sorter)
    for flags in ([], ["--resume"]):
        line = refused_here(["svhn", "train", "--out", str(sorter), "--data", str(synth_dir), "--quick", "--quiet",
                             *flags], capsys, "already holds a 'sort-transformer' run (last.pt), not a 'svhn-cnn' run")
        assert line.endswith("; choose another folder"), line  # no --resume offered: it is not an SVHN run
    assert snapshot(sorter) == before


def test_a_run_recorded_without_its_kind_is_told_apart_by_its_files(tmp_path):
    """A record from before 2026-12-07 names no kind: a run file this trainer would not write marks another run."""
    from dlexam import runs

    folder = tmp_path / "run"
    _svhn_run_files(folder)
    (folder / runs.LAST).unlink()
    with pytest.raises(UserError, match=r"holds another kind of run \(best.pt, curves.png, metrics.csv, "
                                        r"metrics.json\), not a 'sort-transformer' run"):
        runs.RunFolder(folder, writes=(runs.LAST,), markers=(runs.LAST,), kind="sort-transformer")


def _svhn_run_files(folder) -> None:
    from dlexam import runs

    with runs.RunFolder(folder, writes=runs.TRAINER_FILES, markers=runs.TRAINER_MARKERS) as run:
        for name in runs.TRAINER_FILES:
            run.write_bytes(name, f"the first run's {name}".encode())


def test_a_forced_run_removes_only_the_earlier_runs_own_unchanged_files_and_only_once_it_writes(tmp_path):
    """What a forced run takes away: files the record names as an earlier run's, unchanged since, that it would not
    write itself; and only when it writes its first file (a run refused or stopped before that leaves the earlier
    run whole). A file changed since, a link in a run file's place (and what it points to) stay as they are."""
    from dlexam import runs

    folder, outside = tmp_path / "run", tmp_path / "outside.txt"
    _svhn_run_files(folder)
    outside.write_text("not in the folder")
    (folder / "metrics.csv").write_text("edited by hand")  # no longer dlexam's file
    (folder / "curves.png").unlink()
    (folder / "curves.png").symlink_to(outside)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".dlexam")}
    with runs.RunFolder(folder, writes=(runs.LAST,), markers=(runs.LAST,), force=True):
        pass  # nothing written: nothing removed
    assert {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".dlexam")} == before
    with runs.RunFolder(folder, writes=(runs.LAST,), markers=(runs.LAST,), force=True) as run:
        run.write_bytes(runs.LAST, b"the second run's last.pt")
    left = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".dlexam"))
    assert left == ["curves.png", "last.pt", "metrics.csv"]  # best.pt and metrics.json went
    assert (folder / "metrics.csv").read_text() == "edited by hand"
    assert (folder / "curves.png").is_symlink() and outside.read_text() == "not in the folder"
    assert "last.pt" in _record(folder) and not {"best.pt", "metrics.json"} & set(_record(folder))


def test_without_force_or_with_resume_an_earlier_runs_files_all_stay(tmp_path):
    from dlexam import runs

    folder = tmp_path / "run"
    _svhn_run_files(folder)
    before = snapshot(folder)
    with runs.RunFolder(folder, writes=(runs.LAST,), markers=(runs.LAST,), resume=True) as run:
        run.write_bytes(runs.LAST, b"resumed")
    after = snapshot(folder)
    assert after.pop("last.pt") != before.pop("last.pt") and after == before


@pytest.mark.parametrize("provenance, says", [
    ({"threads": 12}, 12), ({"threads": 1024}, 1024), ({}, None), ({"threads": "2"}, None), ({"threads": True}, None),
    ({"threads": 0}, None), (None, None)])
def test_the_thread_count_a_run_resumes_at_is_its_provenances(provenance, says):
    assert runs.run_threads({"provenance": provenance}, where="R/last.pt") == says


def test_a_thread_count_no_machine_has_is_a_damaged_resume_state_for_both_trainers():
    """One check in dlexam.runs.run_threads for `svhn train` and `sort train` (svhn's resume refused a count past
    1024; sort's quietly ran at 1 thread, then refused the run's own count as another)."""
    with pytest.raises(UserError) as e:
        runs.run_threads({"provenance": {"threads": 5000}}, where="R/last.pt")
    assert str(e.value) == "R/last.pt: its resume state is damaged (it was trained with 5000 threads, more than 1024)"
