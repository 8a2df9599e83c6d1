"""No writer follows a planted link: for every file or folder dlexam writes (locks, checkpoints,
metrics, figures, caches, reports, downloads), a symbolic link in its place (to a foreign file,
dangling, or to a folder) is refused with one line before any work, the link stays as it was, the
foreign file stays byte-identical, and nothing is created where a dangling link points.

The refusals happen before any work, so the commands run in this process (`dlexam.cli.main`)."""

from __future__ import annotations

import hashlib
import os

import pytest

from dlexam.cli import main

from .helpers import refused_here

KINDS = ("foreign-file", "dangling", "folder")


@pytest.fixture
def outside(tmp_path):
    """Where the planted links point: a foreign file, a foreign folder with a file, a missing name."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious.bin").write_bytes(b"the user's own bytes \x00\x01")
    (d / "folder").mkdir()
    (d / "folder" / "inside.txt").write_text("keep")
    return d


def _plant(link, kind, outside):
    link.parent.mkdir(parents=True, exist_ok=True)
    target = {"foreign-file": outside / "precious.bin", "dangling": outside / "nowhere",
              "folder": outside / "folder"}[kind]
    link.symlink_to(target)
    return target


def _state(outside) -> dict:
    return {str(p.relative_to(outside)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(outside.rglob("*"))}


def _check_untouched(link, target, kind, outside, before):
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link itself is still there, unchanged
    assert _state(outside) == before  # the foreign file and folder are byte-identical; nothing was created
    if kind == "dangling":
        assert not target.exists()


SORT = ["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--quiet", "--json"]


def _commands(tmp_path, synth_dir):
    """name -> (argv writing into RUN, the planted file names that argv must refuse)."""
    run = tmp_path / "run"
    return run, {
        "svhn train": (["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet"],
                       (".dlexam.lock", "last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png",
                        ".dlexam-files.json")),
        "sort train": ([*SORT, "--out", str(run)], (".dlexam.lock", "last.pt", ".dlexam-files.json")),
        "experiment": (["experiment", "separable-logreg", "--quick", "--out", str(run)],
                       (".dlexam.lock", "result.json", "separable_logreg_margin.png")),
        "report": (["report", "--quick", "--out", str(run)], (".dlexam.lock", "index.html")),
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("command", ["svhn train", "sort train", "experiment", "report"])
def test_run_folder_writers_refuse_planted_links(tmp_path, synth_dir, outside, capsys, need_shared, command, kind):
    run, commands = _commands(tmp_path, synth_dir)
    argv, names = commands[command]
    if command == "experiment":
        from dlexam.experiments.separable_logreg import FIGURES

        names = (".dlexam.lock", "result.json", FIGURES[0])
    if command == "report":  # the report checks its shared inputs before its folder's files
        need_shared("exam")
        need_shared("data", "mnist-t10k")
    for name in names:
        link = run / name
        target = _plant(link, kind, outside)
        before = _state(outside)
        refused_here(argv, capsys, name)
        _check_untouched(link, target, kind, outside, before)
        assert not (run / "last.pt").exists() or (run / "last.pt").is_symlink()  # refused before any training
        link.unlink()


@pytest.mark.parametrize("kind", KINDS)
def test_svhn_evaluate_png_refuses_planted_links_and_a_linked_cache_is_passed_by(
        tmp_path, synth_dir, quick_run, outside, capsys, kind, monkeypatch):
    import shutil

    png = tmp_path / "figs" / "confusion.png"
    target = _plant(png, kind, outside)
    before = _state(outside)
    refused_here(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir), "--png", str(png)],
             capsys, "confusion.png")
    _check_untouched(png, target, kind, outside, before)

    data = tmp_path / "data"  # a fresh copy of the .mat files, so no cache exists yet
    data.mkdir()
    shutil.copy(synth_dir / "test_32x32.mat", data)
    # A linked cache (the folder, or the file in it) is never read or written through, nor removed: a read-only
    # evaluate goes on without it, with a one-line note. It was refused ("remove it"), exit 2.
    import json

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))  # the other place of the cache, not ~/.cache
    assert main(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir), "--json"]) == 0
    want = json.loads(capsys.readouterr().out)  # the oracle: the same .mat file, read with no link in the way
    for cache in (data / ".dlexam-cache", data / ".dlexam-cache" / "test_32x32.gray.npz"):
        target = _plant(cache, kind, outside)
        before = _state(outside)
        assert main(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(data), "--json"]) == 0
        out = capsys.readouterr()
        got = json.loads(out.out)
        assert (got["accuracy"], got["confusion"]) == (want["accuracy"], want["confusion"])
        notes = [line for line in out.err.splitlines() if ".dlexam-cache" in line]
        assert len(notes) == 1 and "symbolic link" in notes[0] and "without" in notes[0], out.err
        _check_untouched(cache, target, kind, outside, before)
        cache.unlink()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["test_32x32.mat", "test_32x32.mat.part", ".dlexam-files.json"])
def test_downloads_refuse_planted_links(tmp_path, outside, kind, name):
    from dlexam.errors import UserError
    from dlexam.svhn.data.download import download

    root = tmp_path / "svhn"
    link = root / name
    target = _plant(link, kind, outside)
    before = _state(outside)
    with pytest.raises(UserError, match="symbolic link|not a regular file|folder") as err:
        # nothing listens on port 9: a refusal must come before any network access
        download(root, ["test"], base_url="http://127.0.0.1:9/", md5={"test": "0" * 32}, timeout=2)
    assert "\n" not in str(err.value) and name in str(err.value)
    _check_untouched(link, target, kind, outside, before)


@pytest.mark.parametrize("kind", KINDS)
def test_svhn_synth_and_the_recipe_refuse_planted_links(tmp_path, outside, capsys, kind):
    data = tmp_path / "synth"
    link = data / "train_32x32.mat"
    target = _plant(link, kind, outside)
    before = _state(outside)
    refused_here(["svhn", "synth", "--out", str(data), "--train", "20", "--test", "10"], capsys, "train_32x32.mat")
    _check_untouched(link, target, kind, outside, before)

    run = tmp_path / "recipe"
    for name in (".dlexam.lock", "model.pt", "metrics.json", "curves.png"):
        link = run / name
        target = _plant(link, kind, outside)
        before = _state(outside)
        refused_here(["svhn", "train", "--recipe", "quick", "--out", str(run), "--quiet"], capsys, name)
        _check_untouched(link, target, kind, outside, before)
        link.unlink()


def test_a_hard_linked_or_foreign_lock_file_is_never_truncated(tmp_path, outside, capsys):
    run = tmp_path / "run"
    run.mkdir()
    os.link(outside / "precious.bin", run / ".dlexam.lock")  # another name of the user's file
    before = _state(outside)
    refused_here([*SORT, "--out", str(run)], capsys, ".dlexam.lock", "other names")
    assert _state(outside) == before
    (run / ".dlexam.lock").unlink()
    (run / ".dlexam.lock").write_text("my notes, not a lock")
    refused_here([*SORT, "--out", str(run)], capsys, ".dlexam.lock", "not written by dlexam")
    assert (run / ".dlexam.lock").read_text() == "my notes, not a lock"


def test_a_foreign_file_in_a_folder_without_a_run_is_never_replaced(tmp_path, synth_dir, capsys):
    """The issue's case: a folder with the user's curves.png and no run marker was taken, the figure replaced."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "curves.png").write_bytes(b"the user's own figure")
    line = refused_here(["svhn", "train", "--data", str(synth_dir), "--out", str(run), "--quick", "--quiet"], capsys,
                    "curves.png", "not written by dlexam")
    assert "epoch" not in line and "force" not in line  # svhn train has no --force to offer
    assert (run / "curves.png").read_bytes() == b"the user's own figure" and not (run / "last.pt").exists()


def test_a_runs_checkpoint_is_never_replaced_by_another_command(tmp_path, quick_run, synth_dir, capsys):
    """Recorded as dlexam's is not enough: a figure never replaces a file of the run it sits in, even a PNG
    (the run's curves), even with --force; and a checkpoint is not a PNG's name at all."""
    before = {name: (quick_run / name).read_bytes() for name in ("best.pt", "curves.png")}
    refused_here(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir), "--png",
              str(quick_run / "curves.png"), "--force"], capsys, "curves.png", "belongs to the run")
    refused_here(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir), "--png",
              str(quick_run / "best.pt"), "--force"], capsys, "best.pt", "ending in .png")
    assert {name: (quick_run / name).read_bytes() for name in before} == before


@pytest.mark.parametrize("argv", [["svhn", "synth", "--train", "5", "--test", "5", "--out"],
                                  ["variant", "--seed", "7", "--format", "key", "--out"]], ids=lambda a: a[0])
def test_an_out_folder_under_a_dangling_link_is_named_as_such(tmp_path, outside, capsys, argv):
    """`--out LINK/sub`, LINK pointing at nothing: was "cannot write into out LINK/sub: File exists"."""
    link = tmp_path / "link"
    target = _plant(link, "dangling", outside)
    before = _state(outside)
    refused_here([*argv, str(link / "sub" / "deeper")], capsys, f"{link} is a dangling symbolic link")
    _check_untouched(link, target, "dangling", outside, before)


@pytest.mark.parametrize("kind", ["foreign-file", "dangling"])
def test_demo_refuses_an_out_it_cannot_write_before_the_tour_starts(tmp_path, outside, capsys, kind):
    """`demo --out` a link to a file or to nothing: the tour ran Geoff's and the sorters' sections first, then
    failed on its svhn/svhn-synth subfolder ("File exists" for the dangling link)."""
    from dlexam.cli import main

    link = tmp_path / "demo"
    target = _plant(link, kind, outside)
    before = _state(outside)
    assert main(["demo", "--out", str(link)]) == 2
    out, err = capsys.readouterr()
    said = f"dlexam demo: error: argument --out: {link} "  # as the parser reads --out, before torch loads
    assert out == "" and err.count("\n") == 1 and err.startswith(said), (out[:300], err)
    assert ("dangling symbolic link" if kind == "dangling" else "not a folder") in err
    _check_untouched(link, target, kind, outside, before)


@pytest.mark.parametrize("kind", KINDS)
def test_a_folder_that_may_not_be_a_link_is_refused_as_it_is_opened(tmp_path, outside, kind):
    """atomic_open(folder_link=False) and open_unlinked open the folder with O_NOFOLLOW: no check apart from the
    write or the read that a link could slip in after (the SVHN cache's `.dlexam-cache`)."""
    from dlexam.files import LinkRefused, atomic_open, open_unlinked

    folder = tmp_path / "data" / ".dlexam-cache"
    target = _plant(folder, kind, outside)
    before = _state(outside)
    with pytest.raises(LinkRefused, match=r"\.dlexam-cache is a symbolic link"):
        with atomic_open(folder / "inside.txt", "wb", folder_link=False) as f:
            f.write(b"through the link")
    with pytest.raises(LinkRefused, match=r"\.dlexam-cache is a symbolic link"):
        open_unlinked(folder / "inside.txt")
    _check_untouched(folder, target, kind, outside, before)
    folder.unlink()
    file = folder / "c.npz"  # the folder made, the file written, no temporary left behind
    with atomic_open(file, "wb", folder_link=False) as f:
        f.write(b"ours")
    assert sorted(p.name for p in folder.iterdir()) == ["c.npz"] and open_unlinked(file).read() == b"ours"
    assert file.stat().st_mode & 0o777 == 0o666 & ~_umask()  # as open() makes it
    target = _plant(folder / "d.npz", kind, outside)
    with pytest.raises(LinkRefused, match=r"d\.npz is a symbolic link"):
        with atomic_open(folder / "d.npz", "wb", folder_link=False) as f:
            f.write(b"over the link")
    with pytest.raises(LinkRefused, match=r"d\.npz is a symbolic link"):
        open_unlinked(folder / "d.npz")
    _check_untouched(folder / "d.npz", target, kind, outside, before)
    assert sorted(p.name for p in folder.iterdir()) == ["c.npz", "d.npz"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
