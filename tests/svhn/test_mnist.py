"""Real digits: the shared MNIST test set, read from IDX, checked by MD5, learned by the pipeline."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest

from dlexam.errors import UserError
from dlexam.svhn.data.mnist import FILES, load_mnist, read_idx


def test_read_idx_on_hand_made_bytes():
    raw = bytes([0, 0, 8, 3]) + struct.pack(">iii", 2, 2, 3) + bytes(range(12))
    arr = read_idx(raw)
    assert arr.shape == (2, 2, 3) and arr[1, 1, 2] == 11
    with pytest.raises(UserError):
        read_idx(bytes([0, 0, 8, 1]) + struct.pack(">i", 5) + bytes(3))


def _mnist_dir():
    from dlexam.shared import find, how_to_get

    d = find("data", "mnist-t10k")
    if d is None or not all((d / name).is_file() for name, _ in FILES.values()):
        pytest.skip(f"needs the shared MNIST t10k files: {how_to_get()}")
    return d


def test_md5s_are_the_readmes():
    d = _mnist_dir()
    readme = (d / "README.md").read_text()
    table = dict(re.findall(r"\|\s*(t10k-\S+\.gz)\s*\|\s*([0-9a-f]{32})\s*\|", readme))
    assert {name: md5 for name, md5 in FILES.values()} == table


def test_bad_md5_is_refused(tmp_path):
    d = _mnist_dir()
    for name, _ in FILES.values():
        (tmp_path / name).write_bytes((d / name).read_bytes())
    (tmp_path / FILES["labels"][0]).write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">i", 1) + b"\x01"))
    with pytest.raises(UserError, match="MD5"):
        load_mnist(tmp_path)


def test_pipeline_learns_real_digits(tmp_path, capsys):
    """Train on the first 8,000 MNIST digits, test on the last 2,000, through .mat files."""
    from dlexam.cli import main
    from dlexam.svhn.data.official import load_split

    images, labels = load_mnist(_mnist_dir())
    assert images.shape == (10000, 28, 28) and np.bincount(labels).min() > 800
    assert main(["svhn", "mnist", "--out", str(tmp_path / "data"), "--train", "8000"]) == 0
    # counts as every other line of dlexam writes them ("wrote 8000 train" before 2026-12-07)
    assert capsys.readouterr().out == f"wrote MNIST: 8,000 train and 2,000 test digits to {tmp_path / 'data'}\n"
    x, y = load_split(tmp_path / "data", "test")
    assert x.shape == (2000, 32, 32) and np.array_equal(x[:, 2:30, 2:30].numpy(), images[8000:])
    assert np.array_equal(y.numpy(), labels[8000:])
    run = tmp_path / "run"
    assert (
        main(
            [
                "svhn",
                "train",
                "--data",
                str(tmp_path / "data"),
                "--out",
                str(run),
                "--epochs",
                "3",
                "--batch-size",
                "128",
                "--quiet",
                "--threads",
                "1",
                "--val-fraction",
                "0.05",
            ]
        )
        == 0
    )
    from dlexam.svhn.inference import evaluate_checkpoint

    r = evaluate_checkpoint(run, tmp_path / "data", "test")
    assert r.n == 2000 and r.accuracy > 0.9


def test_a_dangling_link_for_the_mnist_folder_is_named_as_such(tmp_path, monkeypatch):
    """`MNIST file not found: mnist/t10k-images-idx3-ubyte.gz` said nothing of the link `ls` shows as mnist."""
    link = tmp_path / "mnist"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(UserError, match=f"not found: .*{link} is a link to {tmp_path / 'gone'}, which does not exist"):
        load_mnist(link)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "shared" / "data" / "mnist-t10k").symlink_to("../../gone")
    monkeypatch.setenv("DLEXAM_SHARED", str(tmp_path / "shared"))
    with pytest.raises(UserError, match=r"mnist-t10k is a link to \.\./\.\./gone, which does not exist"):
        load_mnist()
