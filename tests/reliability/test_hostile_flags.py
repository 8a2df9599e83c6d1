"""What a fuzz of every flag of the command line found (docs/reliability.md): an empty value was read as
"not given" (a silent default, `--shared ""` or `--vocab ""`) or as the current folder (`--out ""`
wrote there), and `svhn synth`/`mnist`/`download` wrote a folder that another writer was writing."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from dlexam.cli import main
from dlexam.files import OutputDir

from .helpers import refused_here

EMPTY_PATHS = [
    ["--shared", "", "answers", "--question", "P1.1"],
    ["svhn", "synth", "--out", "", "--train", "5", "--test", "5"],
    ["svhn", "mnist", "--out", ""],
    ["svhn", "download", "--root", "", "--split", "extra"],
    ["svhn", "train", "--data", "DATA", "--out", "", "--quick"],
    ["svhn", "train", "--data", "", "--out", "OUT", "--quick"],
    ["svhn", "train", "--data", "DATA", "--out", "OUT", "--init", ""],
    ["svhn", "evaluate", "--data", "", "--split", "test"],
    ["svhn", "evaluate", "--data", "DATA", "--checkpoint", ""],
    ["svhn", "evaluate", "--data", "DATA", "--png", ""],
    ["svhn", "predict", ""],
    ["svhn", "predict", "--checkpoint", "", "IMAGE"],
    ["svhn", "explain", "", "--layer", "conv1", "--at", "0,1,1"],
    ["answers", "--exam", ""],
    ["experiment", "attention-temperature", "--quick", "--out", ""],
    ["report", "--quick", "--out", ""],
    ["report", "--quick", "--out", "OUT", "--exam", ""],
    ["demo", "--out", ""],
    ["variant", "--seed", "1", "--out", ""],
    ["grade", "--variant", "1", ""],
    ["sort", "--checkpoint", "", "D A"],
    ["sort", "train", "--max-len", "3", "--quick", "--out", ""],
    ["sort", "evaluate", "--checkpoint", ""],
    ["serve", "--port", "0", "--svhn-checkpoint", ""],
]
EMPTY_VALUES = [
    ["sort", "--vocab", "", "D A"],
    ["sort", "train", "--vocab", "", "--max-len", "3", "--quick", "--out", "OUT"],
    ["sort", "evaluate", "--vocab", "", "--lengths", "1-2", "--samples", "3"],
    ["sort", "evaluate", "--lengths", "", "--samples", "3"],
    ["answers", "--question", ""],
    ["serve", "--port", "0", "--host", ""],
]


@pytest.mark.parametrize("argv", EMPTY_PATHS + EMPTY_VALUES, ids=" ".join)
def test_an_empty_value_is_refused_never_read_as_a_default_or_the_current_folder(argv, tmp_path, monkeypatch,
                                                                               capsys):
    """Before: `svhn synth --out ""` wrote into the current folder, `--shared ""` and `--vocab ""` fell back
    to the defaults, `answers -q ""` printed every answer."""
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    argv = [str(tmp_path / w) if w in ("DATA", "OUT", "IMAGE") else w for w in argv]
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dlexam"), (code, err)
    assert "argument" in lines[0] and "empty" in lines[0], lines[0]
    assert os.listdir(here) == []  # nothing was written where "" would have pointed



@pytest.mark.parametrize("argv", EMPTY_PATHS, ids=" ".join)
def test_a_name_too_long_for_the_file_system_is_refused_in_one_line(argv, tmp_path, capsys):
    """A path whose name is over 255 bytes: the first look at it (os.stat, even to ask whether it is there) raised
    OSError "File name too long", a traceback and exit status 1 from `svhn train --out`, `sort --checkpoint`, `answers
    --exam`, `--shared`, ... (found 2026-12-07). Every path flag's type refuses it as it is read."""
    long = str(tmp_path / ("a" * 300))
    argv = [long if w == "" else str(tmp_path / w) if w in ("DATA", "OUT", "IMAGE") else w for w in argv]
    refused_here(argv, capsys, "a name too long for the file system")

@pytest.mark.parametrize("argv", [
    ["svhn", "synth", "--train", "5", "--test", "5", "--out"],
    # the scenes draw MNIST glyphs: without the shared data they are refused for that, before the lock
    pytest.param(["svhn", "synth", "--scenes", "--images", "20", "--out"],
                 marks=pytest.mark.needs_shared("data", "mnist-t10k")),
    pytest.param(["svhn", "synth", "--scenes", "--images", "20", "--format", "folder", "--out"],
                 marks=pytest.mark.needs_shared("data", "mnist-t10k")),
    ["svhn", "download", "--split", "extra", "--quiet", "--root"],
], ids=lambda a: " ".join(a[:4]))
def test_the_svhn_data_writers_refuse_a_folder_another_writer_holds(argv, tmp_path, capsys):
    """Two `svhn synth --out D` at once both wrote D (one's train split could end beside the other's test
    split); two downloads appended to one .part file. Each now takes the folder's lock, as training does."""
    d = tmp_path / "data"
    with OutputDir(d, lock=True):  # another dlexam writing there
        code = main([*argv, str(d)])
        assert os.listdir(d) == [".dlexam.lock"]  # nothing written beside the holder's lock
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "in use by process" in err[0], (code, err)


def test_a_data_writer_releases_its_lock_and_a_second_run_replaces_its_own_files(tmp_path, capsys):
    d = tmp_path / "data"
    for seed in ("1", "2"):
        assert main(["svhn", "synth", "--out", str(d), "--train", "5", "--test", "5", "--seed", seed]) == 0
    assert {"train_32x32.mat", "test_32x32.mat"} <= set(os.listdir(d))


@pytest.mark.parametrize("argv, shown", [
    (["answers", "a\nb"], "a\\nb"),  # argparse's "unrecognized arguments" echoes the value as it is
    (["serve", "--port", "0", "--workers", "0", "--host", "a\nb\x1b[2J"], "a\\nb\\x1b[2J"),  # the library's error
])
def test_an_error_message_is_one_line_whatever_the_value_holds(argv, shown, capsys):
    """`serve --host $'a\\nb'` was two lines on stderr; a terminal escape in a value reached the terminal."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlexam") and shown in err, err
    assert "\x1b" not in err


def _without_root_file_access() -> None:
    """In the child: even root then obeys file permissions (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave the
    capability bounding set, so the exec'd interpreter starts without them)."""
    import ctypes

    if os.geteuid() == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # PR_CAPBSET_DROP = 24
            if libc.prctl(24, cap, 0, 0, 0) != 0:
                os._exit(77)


@pytest.mark.parametrize("argv", [["svhn", "predict", "--checkpoint", "SECRET", "IMAGE"],
                                  ["sort", "--checkpoint", "SECRET", "D A"], ["svhn", "predict", "SECRET"]],
                         ids=" ".join)
def test_an_unreadable_file_is_named_as_unreadable_not_as_damaged(argv, tmp_path):
    """A checkpoint without read permission was 'not a PyTorch checkpoint file, or truncated', an image 'damaged
    or cut short ([Errno 13] ...)'."""
    import subprocess
    import sys

    from PIL import Image

    secret = tmp_path / "secret.pt"
    secret.write_bytes(b"PK\x03\x04 not for you")
    secret.chmod(0)
    Image.new("L", (32, 32)).save(tmp_path / "digit.png")
    argv = [str(secret) if w == "SECRET" else str(tmp_path / "digit.png") if w == "IMAGE" else w for w in argv]
    p = subprocess.run([sys.executable, "-m", "dlexam", *argv], capture_output=True, text=True, timeout=120,
                       preexec_fn=_without_root_file_access, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if p.returncode == 77:
        pytest.skip("cannot drop root's file access here")
    errors = p.stderr.splitlines()
    assert p.returncode == 2 and errors == [f"dlexam: error: cannot read {secret}: Permission denied"], p.stderr


@pytest.mark.parametrize("argv", [["svhn", "predict", "/dev/null"], ["svhn", "explain", "/dev/null", "--layer",
                                                                       "conv1", "--at", "0,1,1"]], ids=" ".join)
def test_a_device_given_as_an_image_is_not_called_missing(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["dlexam: error: /dev/null is not an image file (a folder or a device)"], err


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_data_given_as_the_mat_file_itself_is_named_a_file(command, synth_dir, tmp_path, capsys):
    """`--data DIR/test_32x32.mat` was "SVHN file not found: DIR/test_32x32.mat/test_32x32.mat"."""
    split = "test" if command == "evaluate" else "train"
    mat = synth_dir / f"{split}_32x32.mat"
    argv = ["svhn", command, "--data", str(mat)] + (["--out", str(tmp_path / "r"), "--quick"] if command == "train"
                                                      else [])
    refused_here(argv, capsys, f"{mat} is a file, not a folder", f"the folder that holds {mat.name}")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, flag, needs", [
    (["geoff", "--difficulty", "harder"], "--difficulty harder", "--variant N"),
    (["svhn", "summary", "--difficulty", "harder"], "--difficulty harder", "--variant N"),
    (["answers", "--difficulty", "harder", "--question", "P1.1"], "--difficulty harder", "--variant N"),
    (["grade", "--difficulty", "harder", "--key", "KEY", "SHEET"], "--difficulty harder", "--variant N"),
    (["variant", "--seed", "1", "--format", "key"], "--format", "--out DIR"),
    (["variant", "--seed", "1", "--force"], "--force", "--out DIR"),
    # the same output with the flag or without it (found by the cli-audit sweep)
    (["variant", "--seed", "1", "--json", "--solution"], "--solution", "the exam printed as text"),
    (["variant", "--seed", "1", "--explain", "--solution"], "--solution", "the exam printed as text"),
    (["variant", "--seed", "1", "--out", "OUT", "--solution"], "--solution", "the exam printed as text"),
    (["variant", "--seed", "1", "--json", "--explain"], "--explain", "the text output"),
    (["answers", "--variant", "1", "--exam", "EXAM", "--question", "Pr2.2"], "--exam", "the exam's own key"),
    (["answers", "--variant", "1", "--exam", "/nonexistent/exam.txt"], "--exam", "the exam's own key"),
    (["geoff", "--convention", "exam"], "--convention exam", "--gradients"),
    (["geoff", "--convention", "teacher_forcing", "--loss"], "--convention teacher_forcing", "--gradients"),
    # svhn evaluate read an image folder whole whatever --split said, and wrote no PNG to --force for the shipped model
    (["svhn", "evaluate", "--data", "FOLDER", "--split", "extra"], "--split", "an SVHN folder of .mat files"),
    (["svhn", "evaluate", "--data", "FOLDER", "--force"], "--force", "a confusion PNG"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else None)
def test_a_flag_that_would_change_nothing_is_refused_not_ignored(argv, flag, needs, tmp_path, capsys, monkeypatch):
    """`geoff --difficulty harder` printed Version A's matrices, `variant --seed 1 --format key` the exam's text, each
    exit status 0, as if the flag had been read (as `geoff --lr 0.5` without --explain is refused). So did `variant
    --solution` beside --json, --explain or --out, `variant --json --explain`, `answers --variant N --exam FILE` (a
    variant's key reads no exam text: a missing FILE too) and `geoff --convention` without the gradients."""
    (tmp_path / "sheet.csv").write_text("P1.1.choice,1\n")
    (tmp_path / "key.json").write_text("{}")
    (tmp_path / "exam.txt").write_text("not the exam\n")
    (tmp_path / "folder" / "3").mkdir(parents=True)
    Image.new("L", (32, 32), 200).save(tmp_path / "folder" / "3" / "a.png")
    files = {"KEY": "key.json", "SHEET": "sheet.csv", "EXAM": "exam.txt", "OUT": "out", "FOLDER": "folder"}
    argv = [str(tmp_path / files[w]) if w in files else w for w in argv]
    if "--exam" in argv:  # main() sets $DLEXAM_EXAM from --exam: restored after the test, as set here
        monkeypatch.setenv("DLEXAM_EXAM", str(tmp_path / "exam.txt"))
    refused_here(argv, capsys, f"{flag} goes with {needs}")
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_folder_named_with_a_newline_is_one_line_of_what_was_written(tmp_path, capsys, monkeypatch):
    """`svhn synth --out $'a\\nb'` printed its 'wrote ... to' line broken in two, as `svhn train`, `evaluate`,
    `experiment`, `report`, `variant` and `sort evaluate` printed the paths they name: now as `ls -b` would (a\\nb),
    one line each, as errors and predictions already were."""
    monkeypatch.chdir(tmp_path)
    assert main(["svhn", "synth", "--out", "a\nb", "--train", "10", "--test", "10"]) == 0
    assert capsys.readouterr().out == "wrote 10 train and 10 test images to a\\nb\n"
    assert (tmp_path / "a\nb" / "train_32x32.mat").is_file()  # the folder itself has the name given
