"""A SIGKILL at any instant costs a run nothing: whatever a killed `sort train` or `svhn train` leaves
behind, `--resume` accepts it, and the run ends with the same files, bit for bit, as one never stopped.

Twelve kills of each trainer land at random instants (seeded, so a failure can be replayed), one in
each twelfth of the time a whole run takes, in a shuffled order: every phase of the run (start, data,
each epoch, each checkpoint, the last files) is hit, which twenty uniform draws did not promise (about
two of the twelve twelfths went without a kill on average). More land exactly around the commit
of a checkpoint: before and after the rename of last.pt, and before and after the update of the file
record (.dlexam-files.json) that goes with it. The oracle is the same command run once without
interruption.
"""

from __future__ import annotations

import json
import random
import shutil
import time

import pytest
import torch

from dlexam import checkpoint
from dlexam.files import MANIFEST

from . import killing

KILLS = 12  # one per twelfth of the run: _kill_instants
SORT_NEW = ["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--steps", "16", "--batch-size", "16",
            "--checkpoint-every", "1", "--quiet", "--json", "--threads", "1"]
SORT_RESUME = ["sort", "train", "--resume", "--quiet", "--json", "--threads", "1"]
SVHN_NEW = ["svhn", "train", "--epochs", "4", "--batch-size", "128", "--quiet", "--threads", "1"]
SVHN_RESUME = ["svhn", "train", "--resume", "--quiet"]
TIMING = ("seconds", "images_per_s")  # the only fields of a history row that depend on the clock


def _sort_finished(run) -> bool:
    last = run / "last.pt"
    return last.is_file() and checkpoint.load(last)["extra"]["finished"] is True


def _svhn_finished(run) -> bool:
    return (run / "curves.png").is_file()  # written after the last epoch's last.pt


def _kill_instants(rng, seconds) -> list[float]:
    """KILLS delays, one drawn at random in each of KILLS equal slices of [0, 1.05 * seconds] (the time a whole
    run takes to write its files), in a random order: stratified, so that no phase of the run goes unkilled."""
    width = 1.05 * seconds / KILLS
    instants = [(i + rng.random()) * width for i in range(KILLS)]
    rng.shuffle(instants)
    return instants


def _kill_until_finished(run, new, resume, finished, instants, rng):
    """Start the run in `run` and kill it after each delay of `instants` in turn (taken from the front of the list)
    until it finishes; the number of kills. A delay the run outlived (it finished first: the whole run was timed on
    a busier machine than this one) is drawn again within the time this run took, so that every delay kills one
    run and the kills stay KILLS: until 2026-12-07 such a delay stayed first and every later run finished before
    it, one after another (146 and 276 s measured on a busy machine for a test of 25 s, and no end at all if no
    later run came slower)."""
    kills = 0
    while not finished(run):
        args = [*resume, "--out", str(run)] if (run / "last.pt").exists() else [*new, "--out", str(run)]
        delay = instants[0] if instants else None
        start = time.monotonic()
        code = killing.run(args, kill_after=delay)
        if code == -9:
            kills += 1
            instants.pop(0)
        else:
            assert code == 0, f"dlexam {' '.join(args)} exited {code} after {kills} kills (seed in the test)"
            if delay is not None:
                instants[0] = rng.random() * (time.monotonic() - start)
    return kills


def _no_timing(history):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in history]


def _same_sort_run(run, whole):
    got, want = checkpoint.load(run / "last.pt"), checkpoint.load(whole / "last.pt")
    assert got["extra"]["step"] == want["extra"]["step"] and got["extra"]["loss"] == want["extra"]["loss"]
    assert got["state_dict"].keys() == want["state_dict"].keys()
    assert all(torch.equal(got["state_dict"][k], want["state_dict"][k]) for k in want["state_dict"])


def _same_svhn_run(run, whole):
    for name in ("last.pt", "best.pt"):
        got, want = checkpoint.load(run / name), checkpoint.load(whole / name)
        assert got["extra"]["epoch"] == want["extra"]["epoch"], name
        assert all(torch.equal(got["state_dict"][k], want["state_dict"][k]) for k in want["state_dict"]), name
        assert _no_timing(got["extra"]["history"]) == _no_timing(want["extra"]["history"]), name
        opt_got, opt_want = got["extra"]["optimizer"]["state"], want["extra"]["optimizer"]["state"]
        assert all(torch.equal(opt_got[i]["momentum_buffer"], opt_want[i]["momentum_buffer"]) for i in opt_want)
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (run, whole)]
    assert _no_timing(metrics[0]["history"]) == _no_timing(metrics[1]["history"])
    assert (run / "curves.png").read_bytes() == (whole / "curves.png").read_bytes()  # drawn without timings


def _whole(once_per_run, name, argv, last):
    """The oracle: the command run once, uninterrupted, and the seconds it takes to write its files. Made once per
    test run (once_per_run, read only): under pytest-xdist this module's tests are dealt to both workers, and each
    had run it for itself."""

    def make(folder):
        folder.mkdir()
        seconds = killing.window([*argv, "--out", str(folder / "run")], folder / "run" / last)
        (folder / "seconds").write_text(repr(seconds))

    folder = once_per_run(f"dlexam-kills-{name}-whole", make)
    return folder / "run", float((folder / "seconds").read_text())


@pytest.fixture(scope="module")
def sort_whole(once_per_run):
    return _whole(once_per_run, "sort", SORT_NEW, "last.pt")


@pytest.fixture(scope="module")
def svhn_whole(once_per_run, synth_dir):  # every worker's synth_dir holds the same images (`svhn synth --seed 1`)
    return _whole(once_per_run, "svhn", [*SVHN_NEW, "--data", str(synth_dir)], "curves.png")


def _kill_12_times(tmp_path, whole, seconds, new, resume, finished, same) -> None:
    """Runs killed at random instants (_kill_instants) and resumed until they finish, KILLS kills in all; each
    finished run is compared with the uninterrupted one."""
    rng = random.Random(22)
    instants, kills, n = _kill_instants(rng, seconds), 0, 0
    while kills < KILLS:
        run = tmp_path / f"r{n}"
        kills += _kill_until_finished(run, new, resume, finished, instants, rng)
        same(run, whole)
        n += 1


def test_sort_train_killed_12_times_at_random_ends_bit_identical(tmp_path, sort_whole):
    _kill_12_times(tmp_path, *sort_whole, SORT_NEW, SORT_RESUME, _sort_finished, _same_sort_run)


def test_svhn_train_killed_12_times_at_random_ends_bit_identical(tmp_path, svhn_whole, synth_dir):
    _kill_12_times(tmp_path, *svhn_whole, [*SVHN_NEW, "--data", str(synth_dir)], SVHN_RESUME, _svhn_finished,
                   _same_svhn_run)


# (when, the file renamed, which rename of it): around the 3rd checkpoint's commit. Each commit renames
# the record twice (the old and new contents accepted, then the new only) around the rename of last.pt.
COMMIT_POINTS = [("before", MANIFEST, 5), ("after", MANIFEST, 5), ("before", "last.pt", 3),
                 ("after", "last.pt", 3), ("before", MANIFEST, 6)]


@pytest.mark.parametrize("when, name, nth", COMMIT_POINTS)
def test_a_kill_inside_a_checkpoint_commit_leaves_a_run_that_resumes(tmp_path, sort_whole, when, name, nth):
    whole, _ = sort_whole
    run = tmp_path / "r"
    assert killing.run([*SORT_NEW, "--out", str(run)], kill_at=(when, name, nth)) == -9
    assert killing.run([*SORT_RESUME, "--out", str(run)]) == 0  # accepted, whatever the instant
    _same_sort_run(run, whole)
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]  # the killed writer's temporaries


def test_the_issues_kill_between_rename_and_record_in_svhn_train(tmp_path, svhn_whole, synth_dir):
    whole, _ = svhn_whole
    run = tmp_path / "r"
    code = killing.run([*SVHN_NEW, "--data", str(synth_dir), "--out", str(run)], kill_at=("after", "last.pt", 2))
    assert code == -9
    assert killing.run([*SVHN_RESUME, "--out", str(run)]) == 0
    _same_svhn_run(run, whole)


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path, sort_whole):
    whole, _ = sort_whole
    run = tmp_path / "r"
    assert killing.run([*SORT_NEW, "--out", str(run)], kill_at=("before", "last.pt", 1)) == -9
    assert not (run / "last.pt").exists()
    assert killing.run([*SORT_NEW, "--out", str(run)]) == 0  # nothing of a run there: a new run is accepted
    _same_sort_run(run, whole)
    shutil.rmtree(run)
