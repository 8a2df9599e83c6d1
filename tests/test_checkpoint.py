"""The one checkpoint format and atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dlexam import checkpoint
from dlexam.cpu import cpu_name
from dlexam.errors import UserError
from dlexam.files import atomic_open, atomic_write_text


def test_round_trip_and_run_directory(tmp_path):
    model = torch.nn.Linear(3, 2)
    checkpoint.save(tmp_path / "run" / "best.pt", kind="toy", config={"n": 3}, state_dict=model.state_dict(),
                    extra={"epoch": 4})
    payload = checkpoint.load(tmp_path / "run", kind="toy")  # a run directory stands for its best checkpoint
    assert payload["config"] == {"n": 3} and payload["extra"]["epoch"] == 4
    other = torch.nn.Linear(3, 2)
    checkpoint.load_weights(other, payload)
    assert torch.equal(other.weight, model.weight)


def test_rejects_foreign_truncated_and_wrong_kind(tmp_path):
    path = tmp_path / "best.pt"
    checkpoint.save(path, kind="toy", config={}, state_dict=torch.nn.Linear(2, 2).state_dict())
    with pytest.raises(UserError, match="expected 'other'"):
        checkpoint.load(path, kind="other")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="not a readable"):
        checkpoint.load(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UserError, match="not a readable"):
        checkpoint.load(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(UserError, match="not a dlexam checkpoint"):
        checkpoint.load(foreign)
    with pytest.raises(UserError, match="not found"):
        checkpoint.load(tmp_path / "missing.pt")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(UserError, match="without a checkpoint"):
        checkpoint.load(tmp_path / "empty_run")


def test_a_run_folder_whose_best_checkpoint_is_of_another_kind_names_its_other_checkpoints(tmp_path):
    """A folder an older dlexam left mixed (an SVHN run's best.pt beside a sorter's last.pt, written by `sort train
    --force`): the refusal of best.pt says which other checkpoint the folder holds, to be named instead."""
    checkpoint.save(tmp_path / "best.pt", kind="svhn-cnn", config={}, state_dict={})
    checkpoint.save(tmp_path / "last.pt", kind="sort-transformer", config={}, state_dict={})
    with pytest.raises(UserError) as err:
        checkpoint.load(tmp_path, kind="sort-transformer")
    assert str(err.value) == (f"{tmp_path}/best.pt holds a 'svhn-cnn' model, expected 'sort-transformer' ({tmp_path} "
                              f"also holds last.pt: name the file, {tmp_path}/last.pt)")
    with pytest.raises(UserError) as err:  # a file named by itself: no folder to look into
        checkpoint.load(tmp_path / "best.pt", kind="sort-transformer")
    assert str(err.value) == f"{tmp_path}/best.pt holds a 'svhn-cnn' model, expected 'sort-transformer'"


def test_a_run_folder_of_one_kind_names_no_other_checkpoint_of_that_same_wrong_kind(tmp_path):
    """An SVHN run folder (best.pt and last.pt, both the CNN) given to `dlexam sort --checkpoint`: its last.pt is no
    sorter either, so the refusal does not advise naming it (before 2026-12-07 it said "name the file, RUN/last.pt",
    which was refused again in the same words)."""
    for name in ("best.pt", "last.pt"):
        checkpoint.save(tmp_path / name, kind="svhn-cnn", config={}, state_dict={})
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")  # unreadable: never offered either
    with pytest.raises(UserError) as err:
        checkpoint.load(tmp_path, kind="sort-transformer")
    assert str(err.value) == f"{tmp_path}/best.pt holds a 'svhn-cnn' model, expected 'sort-transformer'"


def test_a_zip_that_torch_save_did_not_write_is_named_so(tmp_path):
    """Any zip archive passed the format check, and torch's own words came back: "[enforce fail at
    inline_container.cc:180] . file in archive is not in a subdirectory: hello.txt"."""
    import zipfile

    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(UserError) as e:
        checkpoint.load(other)
    assert str(e.value) == (f"{other} is not a readable dlexam checkpoint (a zip archive, but not one torch.save "
                            "writes: no ARCHIVE/data.pkl in it)")
    torch.save({"a": torch.zeros(1)}, tmp_path / "torch.pt")  # what torch.save writes passes this check
    with pytest.raises(UserError, match=r"torch\.pt is not a dlexam checkpoint$"):  # read, then found not ours
        checkpoint.load(tmp_path / "torch.pt")


def test_architecture_mismatch_is_a_user_error(tmp_path):
    checkpoint.save(tmp_path / "a.pt", kind="toy", config={}, state_dict=torch.nn.Linear(3, 2).state_dict())
    with pytest.raises(UserError, match="architecture"):
        checkpoint.load_weights(torch.nn.Linear(4, 2), checkpoint.load(tmp_path / "a.pt"))


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "good")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as f:
        f.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "good"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "page.html", "<p>hi</p>")
    finally:
        os.umask(mask)
    assert (tmp_path / "page.html").stat().st_mode & 0o777 == 0o644


def test_checkpoints_record_what_wrote_them(tmp_path):
    import platform

    import dlexam

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        checkpoint.save(tmp_path / "a.pt", kind="toy", config={}, state_dict=torch.nn.Linear(2, 2).state_dict())
    finally:
        torch.set_num_threads(before)
    got = checkpoint.load(tmp_path / "a.pt")["provenance"]
    assert got["torch"] == torch.__version__ and got["threads"] == 1
    assert got["python"] == platform.python_version() and got["dlexam"] == dlexam.__version__
    assert got["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert got["cpu"] == cpu_name()
    line = checkpoint.format_provenance(got)
    assert f"torch {torch.__version__}, 1 thread," in line and got["cpu_capability"] in line


def test_checkpoints_without_provenance_still_load(tmp_path):
    old = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION, "kind": "toy", "config": {},
           "state_dict": torch.nn.Linear(2, 2).state_dict(), "extra": {}}  # as written before provenance
    torch.save(old, tmp_path / "old.pt")
    payload = checkpoint.load(tmp_path / "old.pt", kind="toy")
    assert "provenance" not in payload
    assert "not recorded" in checkpoint.format_provenance(payload.get("provenance"))


def test_the_cpu_is_named_as_proc_cpuinfo_names_it():
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        pytest.skip("no /proc/cpuinfo here")
    first = path.read_text().split("\n\n")[0]
    fields = dict((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in first.splitlines()))
    name = cpu_name()
    if "model name" in fields:
        assert name.startswith(fields["model name"] + " (") and fields.get("vendor_id", "") in name
        assert f"family {fields['cpu family']}" in name and name.endswith(f"model {fields['model']})")


def test_a_dangling_link_is_named_as_a_link_to_a_missing_file(tmp_path, capsys):
    """An audit ran `dlexam sort --checkpoint d.pt A` with d.pt a link to a removed file and read only "checkpoint
    not found: d.pt", though d.pt is there: the message says it is a link and names its missing target."""
    from dlexam.cli import main

    link = tmp_path / "d.pt"
    link.symlink_to(tmp_path / "gone.pt")
    with pytest.raises(UserError, match=r"d\.pt is a link to .*gone\.pt, which does not exist"):
        checkpoint.resolve(link)
    assert main(["sort", "--checkpoint", str(link), "A"]) == 2
    assert "gone.pt, which does not exist" in capsys.readouterr().err
    assert main(["svhn", "evaluate", "--checkpoint", str(link), "--data", str(tmp_path)]) == 2
    assert "gone.pt, which does not exist" in capsys.readouterr().err
    data = tmp_path / "data"
    data.symlink_to(tmp_path / "gone-data")
    assert main(["svhn", "evaluate", "--data", str(data)]) == 2
    assert "gone-data, which does not exist" in capsys.readouterr().err
    folder = tmp_path / "svhn"
    folder.mkdir()
    (folder / "test_32x32.mat").symlink_to(tmp_path / "gone.mat")
    assert main(["svhn", "evaluate", "--data", str(folder)]) == 2
    assert "gone.mat, which does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("version, needle", [
    (2, "was written by a newer dlexam (checkpoint version 2; this one reads version 1)"),
    (0, "has checkpoint version 0, which no dlexam wrote (this one reads version 1)"),
    (True, "has checkpoint version True, which no dlexam wrote"),  # True == 1 in Python: it loaded until 2026-12-07
    (1.0, "has checkpoint version 1.0, which no dlexam wrote"),
    ("1", "has checkpoint version '1', which no dlexam wrote"),
])
def test_a_checkpoint_of_another_format_version_is_named_so(tmp_path, version, needle):
    import io

    buf = io.BytesIO()
    torch.save({"format": "dlexam-checkpoint", "version": version, "kind": "toy", "config": {},
                "state_dict": torch.nn.Linear(2, 2).state_dict(), "extra": {}}, buf)
    (tmp_path / "v.pt").write_bytes(buf.getvalue())
    with pytest.raises(UserError) as e:
        checkpoint.load(tmp_path / "v.pt")
    assert needle in str(e.value)
