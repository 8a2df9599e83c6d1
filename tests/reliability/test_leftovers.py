"""A confusion matrix is written only under a PNG's name; a command that fails leaves no folder it made.

An audit found both: `svhn evaluate --png data/train_32x32.mat` replaced `svhn synth`'s training set with a
PNG (it was recorded as dlexam's, so it could be replaced by dlexam), and a `svhn train` refused for bad
input left its --out folder behind, holding only the lock file.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dlexam.cli import main
from dlexam.files import LOCK

from .helpers import refused_here


@pytest.mark.parametrize("name", ["train_32x32.mat", "key.json", "matrix.PNG.txt", "noext"])
def test_png_must_be_named_png(tmp_path, capsys, name):
    """Whatever the file is, and whoever wrote it: a name that is not a PNG's is refused before any work."""
    target = tmp_path / name
    target.write_bytes(b"precious")
    line = refused_here(["svhn", "evaluate", "--data", str(tmp_path), "--png", str(target), "--force"], capsys,
                        "give a file name ending in .png")
    assert line == (f"dlexam: error: png {target}: the confusion matrix is a PNG image; "
                    "give a file name ending in .png")
    assert target.read_bytes() == b"precious"


def test_the_audits_case_a_training_set_dlexam_wrote_is_not_replaced_by_a_figure(tmp_path, synth_dir, capsys):
    mat = synth_dir / "train_32x32.mat"
    before = mat.read_bytes()
    refused_here(["svhn", "evaluate", "--data", str(synth_dir), "--png", str(mat)], capsys, "ending in .png")
    assert mat.read_bytes() == before
    assert main(["svhn", "train", "--data", str(synth_dir), "--out", str(tmp_path / "after"), "--quick",
                 "--quiet", "--threads", "1", "--epochs", "1"]) == 0  # still a training set


@pytest.mark.parametrize("argv", [
    ["svhn", "train", "--data", "{missing}", "--quick"],  # no data
    ["svhn", "train", "--quick"],  # --data not given
    ["svhn", "train", "--data", "{missing}", "--init", "{missing}/model.pt", "--quick"],  # a bad --init
])
def test_a_refused_training_run_leaves_no_folder_behind(tmp_path, capsys, argv):
    out = tmp_path / "new" / "deeper" / "run"
    argv = [a.format(missing=tmp_path / "absent") for a in argv]
    assert main([*argv, "--out", str(out)]) == 2
    assert "dlexam: error:" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # the folder and the two made above it are gone


def test_a_refused_run_keeps_a_folder_it_did_not_make_and_everything_in_it(tmp_path, capsys):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    for out in (empty, full):
        assert main(["svhn", "train", "--data", str(tmp_path / "absent"), "--out", str(out), "--quick"]) == 2
    capsys.readouterr()
    # as they were: not even the lock file the command made there (it left one until 2026-12-06)
    assert empty.is_dir() and list(empty.iterdir()) == []
    assert [p.name for p in full.iterdir()] == ["notes.txt"] and (full / "notes.txt").read_text() == "mine"


def test_a_lock_file_that_was_there_stays(tmp_path, capsys):
    """Only a lock file the command made goes: one left by an earlier dlexam (killed, say) is not its to remove."""
    (tmp_path / LOCK).write_text("process 1")
    assert main(["svhn", "train", "--data", str(tmp_path / "absent"), "--out", str(tmp_path), "--quick"]) == 2
    capsys.readouterr()
    assert [p.name for p in tmp_path.iterdir()] == [LOCK]


def test_a_lock_file_removed_by_its_holder_before_it_let_go_is_not_the_lock(tmp_path, monkeypatch):
    """A holder removes the lock file it made, then lets go. Whoever opened that file before the removal gets
    the flock of a file no name leads to: two processes would each hold 'the' lock. The taker must find its
    file still named .dlexam.lock, or open the name afresh."""
    import fcntl

    from dlexam.files import lock as lock_module

    real_flock, calls = fcntl.flock, []

    def holder_removes_it_first(fd, op):
        if not calls:
            (tmp_path / LOCK).unlink()  # the holder's close: the file goes, then its lock
        calls.append(fd)
        return real_flock(fd, op)

    monkeypatch.setattr(lock_module.fcntl, "flock", holder_removes_it_first)
    fd, created = lock_module.take_lock(tmp_path)
    try:
        assert len(calls) == 2 and created
        named = (tmp_path / LOCK).stat()
        held = os.fstat(fd)
        assert (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino) and held.st_nlink == 1
    finally:
        os.close(fd)


def test_a_folder_made_for_a_png_goes_again_when_the_evaluation_fails(tmp_path, capsys):
    png = tmp_path / "figs" / "c.png"
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "absent"), "--png", str(png)]) == 2
    capsys.readouterr()
    assert not (tmp_path / "figs").exists()


def test_a_successful_run_keeps_the_folder_it_made(tmp_path, synth_dir):
    png = tmp_path / "figs" / "c.png"
    assert main(["svhn", "evaluate", "--data", str(synth_dir), "--png", str(png)]) == 0
    assert png.is_file() and np.frombuffer(png.read_bytes()[:8], np.uint8).tolist()[1:4] == list(b"PNG")


def test_the_lock_file_is_made_once_and_then_only_locked(tmp_path):
    """Every command that locked a folder rewrote its .dlexam.lock ("process N", truncated and written again), even
    one that wrote nothing else there (a finished run resumed), and wrote "process N" into an empty file of that name
    that the user had made. Now the file is made once, empty, as a new file, and after that only locked: never
    written, truncated or replaced, whoever made it. A second taker still hears which process holds it (the kernel's
    lock table names it)."""
    from dlexam.errors import UserError
    from dlexam.files import take_lock

    def held(path):
        st = path.stat()
        return st.st_ino, st.st_mtime_ns, st.st_size, path.read_bytes()

    mine = tmp_path / "mine"
    mine.mkdir()
    fd, created = take_lock(mine)
    os.close(fd)
    assert created and (mine / LOCK).read_bytes() == b""
    before = held(mine / LOCK)
    fd, created = take_lock(mine)
    assert not created and held(mine / LOCK) == before
    try:
        with pytest.raises(UserError) as second:  # another open file: flock refuses it as it would another process
            take_lock(mine)
        assert str(second.value) == f"out {mine} is in use by process {os.getpid()}; wait for it or choose another " \
                                    "folder"
    finally:
        os.close(fd)
    assert held(mine / LOCK) == before

    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / LOCK).write_bytes(b"")  # the user's own empty file of that name
    before = held(theirs / LOCK)
    fd, created = take_lock(theirs)
    os.close(fd)
    assert not created and held(theirs / LOCK) == before
