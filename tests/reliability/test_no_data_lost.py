"""Never destroy what dlexam did not write: every command that writes checks its targets before any
work, refuses (one line, exit 2) to replace a file it did not create unless told --force, and a
second writer of a run folder is turned away while the first holds it."""

from __future__ import annotations

import numpy as np
import pytest

from dlexam.files import OutputDir

from .helpers import assert_refused, refused_here, run_cli, snapshot


def _foreign_mat(folder, name="train_32x32.mat"):
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folder / name, {"X": np.full((32, 32, 3, 3), 7, np.uint8), "y": np.ones((3, 1), np.uint8)})
    return folder / name


MNIST = pytest.mark.needs_shared("data", "mnist-t10k")


@pytest.mark.parametrize("command", [["svhn", "synth", "--train", "20", "--test", "10"],
                                     pytest.param(["svhn", "mnist"], marks=MNIST)])
def test_svhn_writers_never_replace_a_downloaded_file(tmp_path, capsys, command):
    """In this process (the same main(); refused before any work): a whole `svhn synth` process is the next test's."""
    data = tmp_path / "svhn"
    _foreign_mat(data)  # a user's real train split, say
    before = snapshot(data)
    refused_here([*command, "--out", str(data)], capsys, "train_32x32.mat", "not written by dlexam")
    assert snapshot(data) == before


def test_svhn_synth_replaces_its_own_files_and_force_replaces_any(tmp_path, capsys):
    from dlexam.cli import main

    data = tmp_path / "synth"
    args = ["svhn", "synth", "--out", str(data), "--train", "20", "--test", "10"]
    assert run_cli(*args).returncode == 0  # a whole process once; the rest in this one (the same main())
    assert main([*args, "--seed", "3"]) == 0  # its own earlier files: replaced
    (data / "test_32x32.mat").write_bytes(b"the user's bytes")
    refused_here(args, capsys)
    assert (data / "test_32x32.mat").read_bytes() == b"the user's bytes"
    assert main([*args, "--force"]) == 0
    assert (data / "test_32x32.mat").read_bytes() != b"the user's bytes"


def test_an_image_folder_is_never_written_as_a_mix_of_two_draws(tmp_path, capsys):
    """`svhn synth --scenes --format folder` names each image by its index (DIR/d/000123.png): a second, smaller or
    otherwise seeded draw into the same folder replaced some images and left the rest, so `wrote 3 training images`
    left 22 there, all of which `svhn train --data DIR` reads. And an image folder written beside train_32x32.mat is
    never read: `svhn train --data DIR` takes the .mat first. Both are refused before anything is written."""
    from dlexam.cli import main
    from dlexam.svhn.data.official import load_labelled

    data = tmp_path / "scenes"
    args = ["svhn", "synth", "--scenes", "--recipe", "quick", "--format", "folder", "--out", str(data)]
    assert main([*args, "--images", "20"]) == 0
    assert main([*args, "--images", "20"]) == 0  # the same draw again: it replaces its own files
    capsys.readouterr()
    before = snapshot(data)
    assert len(before) == 20
    for other in (["--images", "3"], ["--images", "20", "--seed", "5"], ["--images", "3", "--force"]):
        refused_here([*args, *other], capsys, "already holds", "choose another folder")
        assert snapshot(data) == before
    assert len(load_labelled(data, "train")[1]) == 20  # what `svhn train --data` reads: the first draw, whole

    beside = tmp_path / "beside"
    _foreign_mat(beside)
    refused_here(["svhn", "synth", "--scenes", "--recipe", "quick", "--format", "folder", "--images", "5", "--out",
                  str(beside)], capsys, "train_32x32.mat")
    assert sorted(p.name for p in beside.iterdir() if not p.name.startswith(".dlexam")) == ["train_32x32.mat"]


def test_a_draw_is_not_mixed_with_images_in_a_class_folders_sub_folder(tmp_path, capsys):
    """An image folder's reader takes the images in its class folders' sub-folders too: a draw written beside
    D/3/mine/a.png would train with it, so it is refused as any other image it would not replace."""
    from PIL import Image

    d = tmp_path / "scenes"
    (d / "3" / "mine").mkdir(parents=True)
    Image.new("L", (20, 30), 200).save(d / "3" / "mine" / "a.png")
    before = snapshot(d)
    refused_here(["svhn", "synth", "--scenes", "--recipe", "quick", "--format", "folder", "--images", "3", "--out",
                  str(d)], capsys, "already holds 1 image in its digit folders")
    assert snapshot(d) == before


@pytest.mark.parametrize("extra", [["--train", "3", "--test", "2"], ["--train", "3", "--test", "2", "--force"],
                                   ["--scenes", "--recipe", "quick", "--images", "3", "--format", "mat"]])
def test_no_mat_file_is_written_into_an_image_folder(tmp_path, capsys, extra):
    """The reverse of the image folder refused beside train_32x32.mat: `svhn synth --out MY-DIGITS` wrote
    train_32x32.mat and test_32x32.mat among the user's class folders, and from then on `svhn train --data
    MY-DIGITS` and `evaluate --data MY-DIGITS` read the synthetic digits instead of the user's, saying nothing."""
    from PIL import Image

    from dlexam.svhn.data.official import load_labelled

    mine = tmp_path / "my-digits"
    (mine / "7").mkdir(parents=True)
    Image.new("L", (20, 30), 200).save(mine / "7" / "a.png")
    before = snapshot(mine)
    refused_here(["svhn", "synth", "--out", str(mine), *extra], capsys, "is an image folder", "choose another folder")
    assert snapshot(mine) == before
    assert load_labelled(mine, "train")[2] == "folder"


def test_evaluate_png_never_overwrites_the_checkpoint(tmp_path, quick_run, synth_dir, capsys):
    before = snapshot(quick_run)
    # in this process, the same main() (`svhn evaluate` runs as a whole process in test_untrusted_files.py)
    refused_here(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir),
                  "--png", str(quick_run / "best.pt")], capsys, "best.pt")
    assert snapshot(quick_run) == before


def test_a_second_writer_of_a_run_folder_is_turned_away(tmp_path, synth_dir):
    from dlexam.cli import main

    run = tmp_path / "run"
    with OutputDir(run, lock=True):  # as a first `svhn train` holds it
        p = run_cli("svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet")
        assert_refused(p, "in use by process")
    assert not (run / "last.pt").exists()
    # the lock went with its holder: now the folder is free (in this process: the same main())
    assert main(["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet",
                 "--threads", "1"]) == 0
    assert (run / "last.pt").is_file()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "r"
    code = ("from dlexam.files import OutputDir; import time\n"
            f"d = OutputDir({str(folder)!r}, lock=True); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    with pytest.raises(Exception, match="in use"):
        OutputDir(folder, lock=True)
    holder.kill()
    holder.wait()
    OutputDir(folder, lock=True).close()  # taken at once: the kernel dropped the dead process's lock


def test_experiment_never_replaces_foreign_results(tmp_path, capsys):
    out = tmp_path / "exp"
    out.mkdir()
    (out / "result.json").write_text('{"mine": true}')
    # in this process, the same main() (`experiment` is refused as a whole process in test_disk_errors.py)
    refused_here(["experiment", "separable-logreg", "--quick", "--out", str(out)], capsys, "result.json")
    assert (out / "result.json").read_text() == '{"mine": true}'


def test_the_report_never_replaces_foreign_experiment_files(tmp_path, need_shared, capsys):
    need_shared("exam")  # the report checks its shared inputs first
    need_shared("data", "mnist-t10k")
    report = tmp_path / "report"
    (report / "experiments" / "pooling").mkdir(parents=True)
    (report / "experiments" / "pooling" / "pooling_shift_robustness.png").write_bytes(b"my figure")
    # in this process, the same main() (`report` runs as a whole process in test_without_shared.py)
    refused_here(["report", "--out", str(report), "--quick"], capsys, "pooling_shift_robustness.png")
    assert not (report / "index.html").exists()  # refused before any work


@pytest.mark.parametrize("make", ["file", "dangling", "under-a-file"])
def test_bad_out_folders_are_reported_before_any_training(tmp_path, synth_dir, capsys, make):
    target = tmp_path / "out"
    if make == "file":
        target.write_text("a file")
    elif make == "dangling":
        target.symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / "blocker").write_text("x")
        target = tmp_path / "blocker" / "run"
    argv = ["svhn", "train", "--data", str(synth_dir), "--out", str(target), "--epochs", "50"]
    if make == "file":  # one case as a whole process: exit status 2 and one line, no traceback
        p = run_cli(*argv)
        assert_refused(p)
        assert "epoch" not in p.stderr.decode()  # nothing trained
    else:  # the others in this process (the same main()): its one line on stderr is the error, no epoch line
        assert "epoch" not in refused_here(argv, capsys)


@pytest.mark.parametrize("where", ["svhn/svhn-synth/train_32x32.mat", "report/index.html",
                                   "report/experiments/pooling/result.json"])
def test_the_demo_refuses_a_foreign_file_before_the_tour_starts(tmp_path, capsys, where):
    """`demo --out D` with a file dlexam did not write where the tour would write it. The tour ran first (the report's
    page: 16 s, every section printed and an SVHN net trained) and was then refused, advising `force replaces it`,
    which the demo does not take. Now it is refused before the tour, in the words of a command without --force."""
    from dlexam.cli import main

    foreign = tmp_path / "demo" / where
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"a user's own file")
    before = snapshot(tmp_path), sorted(tmp_path.rglob("*"))
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, (out[-300:], err)
    assert f"{foreign} exists and was not written by dlexam; not replacing it (move it, or choose another " \
           "folder)" in err and "force" not in err, err
    assert (snapshot(tmp_path), sorted(tmp_path.rglob("*"))) == before  # and no folder left behind


def test_the_demo_deletes_nothing_it_did_not_create(tmp_path):
    """The demo used to rmtree DIR/svhn/svhn-run; now each run trains into a new folder, and its data
    folder refuses to replace a .mat it did not write."""
    from dlexam.errors import UserError
    from dlexam.svhn.demo import run_demo

    old_run = tmp_path / "svhn-runs" / "svhn-run"
    old_run.mkdir(parents=True)
    (old_run / "best.pt").write_bytes(b"a user's own model")
    (old_run / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    demo = run_demo(tmp_path)
    assert demo.run.parent == old_run.parent and demo.run != old_run and (demo.run / "best.pt").is_file()
    after = snapshot(tmp_path)
    assert {k: after[k] for k in before} == before

    foreign = tmp_path / "elsewhere"
    _foreign_mat(foreign / "svhn-synth")
    kept = snapshot(foreign)
    with pytest.raises(UserError, match="train_32x32.mat"):
        run_demo(foreign)
    assert snapshot(foreign) == kept
