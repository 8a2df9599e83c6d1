"""A full disk or a refused permission is one line and exit status 2, naming the file, never an OSError
traceback; the earlier files stay intact and no temporary file is left behind.

The full disk is real: a tiny tmpfs mounted in a private mount namespace (`unshare --user --map-root-user
--mount`, no root needed where user namespaces are allowed; the tests skip, saying so, where they are
not). A refused permission cannot be made by chmod where the tests run as root, so it is injected:
`tempfile.mkstemp`, which every atomic write uses, raises EACCES (in this process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from .helpers import assert_refused, refused_here


@lru_cache(maxsize=1)
def _can_mount_tmpfs() -> str | None:
    """None where a private tmpfs can be mounted, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt && df /mnt"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot mount a tmpfs: {probe.stderr.decode().strip()[:200]}"


def _in_tmpfs(folder: Path, size: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m dlexam ARGS` with a fresh tmpfs of `size` mounted on `folder` (in its own namespace)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = 'mount -t tmpfs -o size="$1" tmpfs "$2" && shift 2 && exec "$@"'
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", size,
                           str(folder), sys.executable, "-m", "dlexam", *args], capture_output=True,
                          timeout=timeout, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _full_disk_cases(tmp_path, synth_dir, quick_run):
    out = tmp_path / "full"
    return out, {
        "svhn synth": (["svhn", "synth", "--out", str(out), "--train", "3000", "--test", "100"], "1m",
                       "train_32x32.mat"),
        "svhn train": (["svhn", "train", "--data", str(synth_dir), "--out", str(out), "--quick", "--quiet",
                        "--threads", "1"], "48k", ""),  # a checkpoint or the record: whichever the disk fills on
        "sort train": (["sort", "train", "--vocab", "A-Z", "--max-len", "8", "--d-model", "256", "--quick",
                        "--quiet", "--out", str(out)], "128k", ""),
        "experiment": (["experiment", "separable-logreg", "--quick", "--out", str(out)], "32k", ".png"),
        "svhn evaluate --png": (["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir),
                                 "--png", str(out / "confusion.png")], "4k", "confusion.png"),
    }


@pytest.mark.parametrize("command", ["svhn synth", "svhn train", "sort train", "experiment", "svhn evaluate --png"])
def test_a_full_disk_is_one_line_naming_the_file(tmp_path, synth_dir, quick_run, command):
    why = _can_mount_tmpfs()
    if why is not None:
        pytest.skip(why)
    out, cases = _full_disk_cases(tmp_path, synth_dir, quick_run)
    argv, size, name = cases[command]
    p = _in_tmpfs(out, size, *argv)
    line = assert_refused(p, "cannot write", "the disk is full", name)
    assert str(out) in line


@pytest.mark.parametrize("command", ["svhn synth", "sort train", "experiment"])
def test_a_refused_permission_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, command):
    """Run in this process (`refused_here`: the same main() as `python -m dlexam`, exit status 2 and one error line),
    with every mkstemp of the process refused, as a subprocess had refused them: without its seconds of imports."""
    import errno
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", kwargs.get("dir"))

    out = tmp_path / "locked"
    argv = {
        "svhn synth": ["svhn", "synth", "--out", str(out), "--train", "20", "--test", "10"],
        "sort train": ["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--quiet", "--out", str(out)],
        "experiment": ["experiment", "separable-logreg", "--quick", "--out", str(out)],
    }[command]
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    line = refused_here(argv, capsys, "cannot write", "permission denied")
    assert str(out) in line


def test_write_errors_name_the_target_not_the_temporary(tmp_path):
    import errno

    from dlexam.files import WriteError, atomic_open

    target = tmp_path / "x.bin"
    with pytest.raises(WriteError, match=r"cannot write .*x\.bin: the disk is full"):
        with atomic_open(target) as f:
            f.write(b"1")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone, nothing replaced
