"""The SVHN loader on real-format .mat files, the cache, grayscale, downloads, synthetic data."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from dlexam.errors import UserError
from dlexam.files import OutputDir
from dlexam.svhn.data import download as download_module
from dlexam.svhn.data import official as data
from dlexam.svhn.data.download import download
from dlexam.svhn.data.official import load_split, preprocess, rgb_to_gray
from dlexam.svhn.synthetic.digits import TEST_FONTS, TRAIN_FONTS, render, write_synthetic


def test_gray_is_pillows_luma():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    pil = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(rgb_to_gray(rgb), pil)
    # ITU-R 601-2 weights, within rounding
    ref = rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(rgb_to_gray(rgb).astype(float) - ref).max() <= 0.51


def _write_official(path: Path, rgb: np.ndarray, y: np.ndarray) -> None:
    """(N, 32, 32, 3) -> an official-layout file: X (32, 32, 3, N) uint8, y (N, 1) double."""
    scipy.io.savemat(path, {"X": np.transpose(rgb, (1, 2, 3, 0)), "y": y.reshape(-1, 1).astype(np.float64)})


def test_loader_reads_official_layout(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    _write_official(tmp_path / "test_32x32.mat", rgb, np.array([10, 1, 2, 9, 10]))
    images, labels = load_split(tmp_path, "test")
    assert images.dtype == torch.uint8 and images.shape == (5, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 2, 9, 0]  # 10 means digit 0
    for i in range(5):  # image i, pixel (row, col), against Pillow on that very image
        assert np.array_equal(images[i].numpy(), np.asarray(Image.fromarray(rgb[i]).convert("L")))


def test_cache_is_used_and_refreshed(tmp_path, monkeypatch):
    rgb = np.random.default_rng(2).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    _write_official(tmp_path / "train_32x32.mat", rgb, np.arange(1, 8))
    first = load_split(tmp_path, "train")
    assert (tmp_path / ".dlexam-cache" / "train_32x32.gray.npz").is_file()

    def boom(path):
        raise AssertionError("the .mat file was decoded again")

    monkeypatch.setattr(data, "_read_mat", boom)
    second = load_split(tmp_path, "train")
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    monkeypatch.undo()
    _write_official(tmp_path / "train_32x32.mat", rgb[:3], np.arange(1, 4))  # changed file: re-read
    assert load_split(tmp_path, "train")[0].shape[0] == 3


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else "dir" for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("planted", ["a cache of this file", "another file"])
@pytest.mark.parametrize("linked", [".dlexam-cache", ".dlexam-cache/test_32x32.gray.npz"])
def test_a_link_swapped_in_after_the_check_is_not_read_or_written_through(tmp_path, monkeypatch, linked, planted):
    """The cache place was checked for a link (_link_in), then read and written by path: a link put there between
    the check and the write was followed (the temporary file made in the linked folder, renamed there). The race is
    simulated by a check that always passes; the link must still never be read or written through, nor removed.
    Oracle: Pillow's grey levels of the images written, and the outside folder's files, byte for byte."""
    rgb = np.random.default_rng(3).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    (root := tmp_path / "svhn").mkdir()
    _write_official(root / "test_32x32.mat", rgb, np.array([1, 2, 3, 4]))
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    with open(outside / "folder" / "test_32x32.gray.npz", "wb") as f:
        if planted == "another file":  # not a cache: the load decodes the .mat file and writes its cache
            f.write(b"precious")
        else:  # a cache of this very file, with other images: read through the link, it was believed
            np.savez(f, stamp=data._stamp(root / "test_32x32.mat"), images=np.zeros((4, 32, 32), dtype=np.uint8),
                     labels=np.arange(4, dtype=np.int64))
    link = root / linked
    link.parent.mkdir(exist_ok=True)
    target = outside / "folder" if linked == ".dlexam-cache" else outside / "folder" / "test_32x32.gray.npz"
    link.symlink_to(target)
    before = _tree(outside)
    monkeypatch.setattr(data, "_link_in", lambda cache: None)  # the check passes: a link came after it
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    images, labels = load_split(root, "test")
    want = np.stack([np.asarray(Image.fromarray(x).convert("L")) for x in rgb])
    assert np.array_equal(images.numpy(), want) and labels.tolist() == [1, 2, 3, 4]  # not the planted cache
    assert link.is_symlink() and link.readlink() == target  # the link itself unchanged
    assert _tree(outside) == before  # nothing written, replaced or added through it
    cached = list((tmp_path / "home-cache").rglob("*.gray.npz"))  # the cache went to the other place
    assert len(cached) == 1 and np.array_equal(np.load(cached[0])["images"], want)


def test_bad_mat_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_split(tmp_path, "train")
    (tmp_path / "train_32x32.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    with pytest.raises(UserError, match="not a readable SVHN"):
        load_split(tmp_path, "train")
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((28, 28, 3, 2), np.uint8), "y": np.ones((2, 1))})
    with pytest.raises(UserError, match="32, 32, 3, N"):
        load_split(tmp_path, "test")
    good = tmp_path / "good"
    good.mkdir()
    _write_official(good / "train_32x32.mat", np.zeros((2, 32, 32, 3), np.uint8), np.array([1, 11]))
    with pytest.raises(UserError, match="1..10"):
        load_split(good, "train")


@pytest.mark.parametrize("y, held", [([10, 0, 3, 0], "0 (2 labels out of range; SVHN writes digit 0 as 10)"),
                                     ([1.5, 2, 3, 4], "1.5 (1 label out of range)"),
                                     ([np.nan, 2, 11, 4], "11, nan (2 labels out of range)")])
def test_labels_out_of_range_are_named(tmp_path, y, held):
    """y with the digit 0 written as 0 (torchvision's SVHN labels, saved back to .mat), a fraction or NaN was
    refused as "labels must be integers 1..10" without saying what the file holds. Oracle: the values typed."""
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8),
                                                   "y": np.array(y, np.float64).reshape(-1, 1)})
    with pytest.raises(UserError, match=r"labels must be integers 1\.\.10 \(10 means digit 0\); y holds "
                                        + re.escape(held) + "$"):
        load_split(tmp_path, "test", cache=False)


def test_a_folder_of_another_split_says_which_it_holds(tmp_path):
    """`svhn synth --scenes` writes train_32x32.mat alone; `svhn evaluate --data` on it (split test) was told to
    "run `dlexam svhn download` or `dlexam svhn synth`", just run. Oracle: the one file written."""
    from dlexam.svhn.data.official import load_labelled

    _write_official(tmp_path / "train_32x32.mat", np.zeros((2, 32, 32, 3), np.uint8), np.array([1, 2]))
    with pytest.raises(UserError, match=r"^SVHN file not found: \S+/test_32x32\.mat \(\S+ holds train_32x32\.mat, "
                                        r"the train split\), and \S+ is not an image folder"):
        load_labelled(tmp_path, "test")


def test_a_class_folder_given_for_its_image_folder_names_the_folder_to_give(tmp_path):
    """`svhn evaluate --data chars74k-digits/3` (a class folder, its images inside) was told only that it is not an
    image folder; it is one class of one, whose name is now given."""
    from PIL import Image

    from dlexam.svhn.data.official import load_labelled

    for digit in "37":
        (tmp_path / "digits" / digit).mkdir(parents=True)
        Image.new("L", (32, 32), 255).save(tmp_path / "digits" / digit / "a.png")
    given = tmp_path / "digits" / "3"
    with pytest.raises(UserError) as refused:
        load_labelled(given, "test")
    assert str(refused.value).endswith(f"; it is class folder 3 of the image folder {tmp_path / 'digits'}: give that "
                                       "folder")
    (tmp_path / "other" / "3").mkdir(parents=True)  # a folder named 3 that holds no image: no such advice
    (tmp_path / "other" / "3" / "notes.txt").write_text("no image")
    with pytest.raises(UserError) as refused:
        load_labelled(tmp_path / "other" / "3", "test")
    assert "class folder" not in str(refused.value)


def test_preprocess_standardises_each_image():
    x = torch.randint(0, 256, (4, 32, 32), dtype=torch.uint8)
    p = preprocess(x)
    assert p.shape == (4, 1, 32, 32)
    f = x.double()
    want = (f - f.mean((1, 2), keepdim=True)) / (f.std((1, 2), keepdim=True) + 1)
    torch.testing.assert_close(p[:, 0].double(), want, atol=1e-5, rtol=1e-5)


def test_synthetic_files_are_official_format(synth_dir):
    mat = scipy.io.loadmat(synth_dir / "train_32x32.mat")
    assert mat["X"].dtype == np.uint8 and mat["X"].shape == (32, 32, 3, 1200)
    y = mat["y"]
    assert y.shape == (1200, 1) and set(np.unique(y)) == set(range(1, 11))  # 10, never 0
    images, labels = load_split(synth_dir, "test")
    assert images.shape == (300, 32, 32) and sorted(set(labels.tolist())) == list(range(10))
    assert images.float().std() > 20  # not blank


def test_synthetic_is_seeded_and_test_fonts_are_held_out(tmp_path):
    a, da = render(16, seed=5)
    b, db = render(16, seed=5)
    c, _ = render(16, seed=6)
    assert np.array_equal(a, b) and np.array_equal(da, db) and not np.array_equal(a, c)
    assert not set(TRAIN_FONTS) & set(TEST_FONTS)
    info = write_synthetic(tmp_path, 10, 10, seed=0)
    assert info["test_fonts"] == list(TEST_FONTS)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload with HTTP Range support; the first response is cut off half-way."""

    payload = b""
    cut_first = True
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.payload[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        self.end_headers()
        if type(self).cut_first:
            type(self).cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    payload = np.random.default_rng(3).bytes(300_000)
    handler = type("H", (_RangeHandler,), {"payload": payload, "cut_first": True, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", payload, handler
    httpd.shutdown()
    httpd.server_close()


def test_download_resumes_and_checks_md5(tmp_path, server):
    url, payload, handler = server
    md5 = {"test": hashlib.md5(payload).hexdigest()}
    with pytest.raises(UserError, match="interrupted"):
        download(tmp_path, ["test"], base_url=url, md5=md5, progress=None)
    assert not (tmp_path / "test_32x32.mat").exists()  # nothing passes as good
    part = tmp_path / "test_32x32.mat.part"
    assert 0 < part.stat().st_size < len(payload)
    download(tmp_path, ["test"], base_url=url, md5=md5, progress=None)
    assert (tmp_path / "test_32x32.mat").read_bytes() == payload
    assert handler.requests[-1] == f"bytes={len(payload) // 2}-"  # resumed, not restarted
    assert not part.exists()


def test_a_partial_file_dlexam_did_not_write_is_left_alone(tmp_path, server):
    """A `.part` another program left (a browser's unfinished download of the same name) is neither appended to
    nor removed; force starts the download afresh in its place."""
    url, payload, handler = server
    handler.cut_first = False
    md5 = {"test": hashlib.md5(payload).hexdigest()}
    part = tmp_path / "test_32x32.mat.part"
    part.write_bytes(b"someone else's bytes")
    with pytest.raises(UserError, match="was not written by dlexam; not appending to it or removing it"):
        download(tmp_path, ["test"], base_url=url, md5=md5, progress=None)
    assert part.read_bytes() == b"someone else's bytes" and handler.requests == []
    download(tmp_path, ["test"], base_url=url, md5=md5, progress=None, force=True)
    assert (tmp_path / "test_32x32.mat").read_bytes() == payload and not part.exists()


def test_download_with_wrong_md5_leaves_no_file(tmp_path, server):
    url, payload, handler = server
    handler.cut_first = False
    with pytest.raises(UserError, match="does not match"):
        download(tmp_path, ["test"], base_url=url, md5={"test": "0" * 32}, progress=None)
    assert not (tmp_path / "test_32x32.mat").exists()
    assert not (tmp_path / "test_32x32.mat.part").exists()


def test_official_md5s_are_torchvisions():
    assert download_module.MD5 == {
        "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
        "test": "eb5a983be6a315427106f1b164d9cef3",
        "extra": "a93ce644f1a588dc4d68dda5feec44a7",
    }


def test_synth_command(tmp_path, capsys):
    import json

    from dlexam.cli import main

    assert (
        main(["svhn", "synth", "--out", str(tmp_path), "--train", "30", "--test", "20", "--seed", "2", "--json"]) == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["train"] == 30 and info["test"] == 20
    images, labels = load_split(tmp_path, "train")
    assert images.shape == (30, 32, 32) and labels.shape == (30,)
    assert main(["svhn", "synth", "--out", str(tmp_path), "--train", "0"]) == 2
    capsys.readouterr()
    assert main(["svhn", "synth", "--out", str(tmp_path), "--train", "1000", "--test", "1"]) == 0
    # counts as `synth --scenes` and every other line write them ("wrote 1000 train" before 2026-12-07)
    assert capsys.readouterr().out == f"wrote 1,000 train and 1 test image to {tmp_path}\n"


class _EndlessHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with bytes that never end (no Content-Length), or with a huge
    Content-Length when `claim` is set."""

    claim: int | None = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        if self.claim is not None:
            self.send_header("Content-Length", str(self.claim))
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\0" * 65536)
        except OSError:  # the client hung up
            pass


@pytest.fixture
def endless():
    servers = []

    def start(claim=None):
        handler = type("E", (_EndlessHandler,), {"claim": claim})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


def test_an_endless_download_is_cut_at_the_files_size_and_removed(tmp_path, endless):
    url = endless()
    with pytest.raises(UserError, match="ran past 1,000,000 bytes"):
        download(tmp_path, ["test"], base_url=url, md5={"test": "0" * 32}, max_bytes={"test": 1_000_000})
    assert list(tmp_path.glob("*.mat*")) == []


def test_a_download_longer_than_the_file_can_be_is_refused_before_writing(tmp_path, endless):
    url = endless(claim=5_000_000)
    with pytest.raises(UserError, match="offers 5,000,000 bytes"):
        download(tmp_path, ["test"], base_url=url, md5={"test": "0" * 32}, max_bytes={"test": 1_000_000})
    assert list(tmp_path.glob("*.mat*")) == []


def test_a_full_disk_removes_the_partial_download(tmp_path, endless, monkeypatch):
    import errno
    import os

    url = endless()
    written = []
    real_write = os.write

    def full_disk(fd, data):  # the partial download is written by descriptor (no link followed)
        if ".part" in os.readlink(f"/proc/self/fd/{fd}"):
            if sum(written) > 200_000:
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr("os.write", full_disk)
    with pytest.raises(UserError, match="disk is full"):
        download(tmp_path, ["test"], base_url=url, md5={"test": "0" * 32}, max_bytes={"test": 10_000_000})
    monkeypatch.undo()
    assert sum(written) > 200_000 and list(tmp_path.glob("*.mat*")) == []


class _OddHandler(_RangeHandler):
    """Serves one payload with HTTP Range support, except for the first request, which gets `first`:
    "chunked-cut" (a chunked body cut half-way), "no-length-cut" (no Content-Length, cut half-way),
    "garbage" (not an HTTP answer) or "html" (a short page with status 200 instead of the file)."""

    first: str | None = None

    def do_GET(self):
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        first, type(self).first = type(self).first, None
        if first == "garbage":
            self.wfile.write(b"garbage\r\n\r\n")
            return
        if first == "html":
            page = b"<html>moved</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.payload[start:]
        if first == "chunked-cut":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = body[: len(body) // 2]
            for i in range(0, len(half), 8192):
                self.wfile.write(b"%x\r\n" % len(half[i : i + 8192]) + half[i : i + 8192] + b"\r\n")
            self.close_connection = True
            return
        self.send_response(206 if rng else 200)
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        if first == "no-length-cut":
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def odd_server():
    payload = np.random.default_rng(4).bytes(300_000)
    handler = type("O", (_OddHandler,), {"payload": payload, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", payload, handler
    httpd.shutdown()
    httpd.server_close()


def test_a_cut_chunked_download_is_one_line_and_resumes(tmp_path, odd_server):
    """A chunked body that stops (http.client's IncompleteRead, not an OSError) was a traceback."""
    url, payload, handler = odd_server
    handler.first = "chunked-cut"
    md5 = {"test": hashlib.md5(payload).hexdigest()}
    with pytest.raises(UserError, match="interrupted.*run the command again to resume"):
        download(tmp_path, ["test"], base_url=url, md5=md5)
    assert not (tmp_path / "test_32x32.mat").exists()
    have = (tmp_path / "test_32x32.mat.part").stat().st_size
    assert 0 < have < len(payload)
    download(tmp_path, ["test"], base_url=url, md5=md5)
    assert (tmp_path / "test_32x32.mat").read_bytes() == payload
    assert handler.requests[-1] == f"bytes={have}-"


def test_a_server_that_does_not_answer_http_is_one_line(tmp_path, odd_server):
    url, payload, handler = odd_server
    handler.first = "garbage"
    with pytest.raises(UserError, match="failed: not an HTTP answer"):
        download(tmp_path, ["test"], base_url=url, md5={"test": hashlib.md5(payload).hexdigest()})
    assert list(tmp_path.glob("*.mat*")) == []


def test_a_download_cut_without_a_length_is_kept_and_resumed(tmp_path, odd_server):
    """Without a Content-Length a cut transfer was taken for the whole file: its MD5 failed and the partial
    download was deleted ("does not match the official ..."). With the file's size known it is resumed."""
    url, payload, handler = odd_server
    handler.first = "no-length-cut"
    md5, size = {"test": hashlib.md5(payload).hexdigest()}, {"test": len(payload)}
    with pytest.raises(UserError, match=f"interrupted at {len(payload) // 2:,} of {len(payload):,} bytes"):
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert not (tmp_path / "test_32x32.mat").exists()
    assert (tmp_path / "test_32x32.mat.part").read_bytes() == payload[: len(payload) // 2]
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert (tmp_path / "test_32x32.mat").read_bytes() == payload
    assert handler.requests == [None, f"bytes={len(payload) // 2}-"]


def test_the_official_sizes_are_used_by_default(tmp_path, odd_server):
    """The real files' sizes (public SVHN loaders check the same numbers), and download() knows them: a
    transfer that stops short of the official size, without a Content-Length, is a resumable interruption."""
    assert download_module.SIZE == {"train": 182_040_794, "test": 64_275_384, "extra": 1_329_278_602}
    url, payload, handler = odd_server
    handler.first = "no-length-cut"
    with pytest.raises(UserError, match="of 64,275,384 bytes; run the command again to resume"):
        download(tmp_path, ["test"], base_url=url)
    assert (tmp_path / "test_32x32.mat.part").stat().st_size == len(payload) // 2
    assert not (tmp_path / "test_32x32.mat").exists()


def test_a_response_of_another_size_is_refused_and_the_partial_file_kept(tmp_path, odd_server):
    """A short page served with status 200 (a portal, a moved file) is not the file: refused before writing,
    and a partial download already there is left as it was."""
    url, payload, handler = odd_server
    part = tmp_path / "test_32x32.mat.part"
    part.write_bytes(payload[:1000])
    OutputDir(tmp_path).record(part.name)  # as an earlier, interrupted dlexam download left it
    handler.first = "html"
    with pytest.raises(UserError, match=f"offers 18 bytes, but the file has {len(payload):,}; nothing was written"):
        download(tmp_path, ["test"], base_url=url, md5={"test": hashlib.md5(payload).hexdigest()},
                 size={"test": len(payload)})
    assert part.read_bytes() == payload[:1000]
    assert not (tmp_path / "test_32x32.mat").exists()


def test_a_matlab_v73_file_is_named_as_such(tmp_path):
    """A MATLAB v7.3 (HDF5) file (e.g. X and y saved again with -v7.3) is refused in one line that says so."""
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    header = header.ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"  # version 0x0200, little-endian
    (tmp_path / "test_32x32.mat").write_bytes(header.ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n" + bytes(200))
    with pytest.raises(UserError, match=r"MATLAB v7\.3 \(HDF5\) file; SVHN's Format 2 files are MATLAB v5"):
        load_split(tmp_path, "test")


@pytest.mark.parametrize("y_shape, y_dtype, compressed", [((-1, 1), np.float64, True), ((-1,), np.uint8, False)])
def test_official_layout_variants_read_as_pillow_sees_them(tmp_path, y_shape, y_dtype, compressed):
    """Compressed like the real files, y (N, 1) or (N,) (savemat stores (1, N)), double or uint8: image i is
    X[:, :, :, i] (rows, columns, RGB) through Pillow's convert("L"), label 10 is the digit 0."""
    rng = np.random.default_rng(6)
    X = rng.integers(0, 256, (32, 32, 3, 9), dtype=np.uint8)
    X[:3] = 255  # three white rows: a transposed read would show white columns instead
    y = np.array([10, 1, 2, 3, 4, 5, 6, 7, 10])
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": X, "y": y.reshape(y_shape).astype(y_dtype)},
                     do_compression=compressed)
    images, labels = load_split(tmp_path, "test", cache=False)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0]
    for i in range(9):
        pillow = np.asarray(Image.fromarray(np.ascontiguousarray(X[..., i])).convert("L"))
        assert np.array_equal(images[i].numpy(), pillow)


def _gray_by_scipy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The oracle: scipy reads X whole, image i is X[:, :, :, i], made gray by the luma tested against Pillow."""
    mat = scipy.io.loadmat(path)
    return data.gray_of_mat_images(mat["X"]), np.asarray(mat["y"]).reshape(-1)


@pytest.mark.parametrize("compressed", [True, False])
def test_the_block_reader_reads_what_scipy_reads(tmp_path, compressed):
    """The plain layout is read a block of images at a time (matfile.read_gray), other variables skipped; the
    images and labels are scipy's, whatever the block size."""
    from dlexam.svhn.data import matfile

    rng = np.random.default_rng(9)
    X = rng.integers(0, 256, (32, 32, 3, 50), dtype=np.uint8)
    path = tmp_path / "train_32x32.mat"
    scipy.io.savemat(path, {"a": np.arange(7.0), "X": X, "note": "text", "y": rng.integers(1, 11, (50, 1)),
                            "z": np.ones((3, 3), np.complex128)}, do_compression=compressed)
    want_gray, want_y = _gray_by_scipy(path)
    for chunk in (1, 7, 50, 1024):
        gray, y = matfile.read_gray(path, data.rgb_to_gray, chunk=chunk)
        assert np.array_equal(gray, want_gray) and np.array_equal(y, want_y)
    images, labels = load_split(tmp_path, "train", cache=False)
    assert np.array_equal(images.numpy(), want_gray) and labels.tolist() == (want_y % 10).tolist()


def test_other_layouts_and_damaged_files_go_to_scipy_which_names_the_problem(tmp_path, monkeypatch):
    from dlexam.svhn.data import matfile

    path = tmp_path / "test_32x32.mat"
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 4)), "y": np.ones((4, 1))})  # X as double
    with pytest.raises(matfile.Unsupported):
        matfile.read_gray(path, data.rgb_to_gray)
    with pytest.raises(UserError, match=r"X must be uint8 of shape \(32, 32, 3, N\), got double"):
        load_split(tmp_path, "test", cache=False)
    scipy.io.savemat(path, {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.array([[1, 2, 3, 11]])})
    with pytest.raises(UserError, match="1..10"):
        load_split(tmp_path, "test", cache=False)
    rng = np.random.default_rng(10)
    scipy.io.savemat(path, {"X": rng.integers(0, 256, (32, 32, 3, 400), dtype=np.uint8), "y": np.ones((400, 1))},
                     do_compression=True)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # cut short inside X's compressed data
    with pytest.raises(matfile.Unsupported):
        matfile.read_gray(path, data.rgb_to_gray)
    with pytest.raises(UserError, match="cut short"):
        load_split(tmp_path, "test", cache=False)
    path.write_bytes(whole[:-40] + bytes(40))  # damaged: y's compressed data zeroed
    with pytest.raises((matfile.Unsupported, zlib.error)):
        matfile.read_gray(path, data.rgb_to_gray)
    with pytest.raises(UserError, match="not a readable SVHN .mat file|cut short"):
        load_split(tmp_path, "test", cache=False)


def test_decoding_holds_the_gray_images_and_a_block_not_the_whole_of_x(tmp_path):
    """scipy.io.loadmat reads X whole: decoding took X + gray + a block (the extra split: ~2.1 GiB). Read a block
    at a time it takes the gray images and a block (numpy's allocations, as tracemalloc counts them)."""
    import tracemalloc

    n = 30_000
    X = np.zeros((32, 32, 3, n), np.uint8)  # mostly zeros: quick to compress
    X[0, :, :, ::97] = 200
    path = tmp_path / "extra_32x32.mat"
    scipy.io.savemat(path, {"X": X, "y": np.ones((n, 1))}, do_compression=True)
    del X
    tracemalloc.start()
    try:
        images, _ = data._read_mat(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert images.shape == (n, 32, 32) and images[97, 0, 0] > 0
    assert peak < 0.75 * n * 3072, f"{peak / 2**20:.0f} MiB for X of {n * 3072 / 2**20:.0f} MiB"


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("reader", ["blocks", "scipy"])
def test_a_file_of_one_image_as_matlab_saves_it_is_one_image(tmp_path, monkeypatch, compressed, reader):
    """MATLAB drops a trailing singleton dimension: one image's X is (32, 32, 3), its y 1x1."""
    rgb = np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "test_32x32.mat", {"X": rgb, "y": np.array([[10.0]])}, do_compression=compressed)
    assert scipy.io.whosmat(tmp_path / "test_32x32.mat")[0][1] == (32, 32, 3)  # as MATLAB stores it
    if reader == "blocks":  # read by the block reader itself, not handed on to scipy
        gray, y = data.matfile.read_gray(tmp_path / "test_32x32.mat", rgb_to_gray)
        assert gray.shape == (1, 32, 32) and y.tolist() == [10.0]
    else:  # the general way, as for a layout the block reader does not take
        monkeypatch.setattr(data.matfile, "read_gray", lambda *a, **k: (_ for _ in ()).throw(data.matfile.Unsupported))
    images, labels = load_split(tmp_path, "test", cache=False)
    assert images.shape == (1, 32, 32) and labels.tolist() == [0]
    assert np.array_equal(images[0].numpy(), np.asarray(Image.fromarray(rgb).convert("L")))


def test_svhn_crop_size_is_the_exam_networks_input():
    """SVHN's Format 2 side (dlexam.svhn.data.SIZE, read by the .mat reader, the renderers and the photo
    crops) is the input the exam's Problem 1 table gives its network, and what the renderers draw."""
    from dlexam.spec import ExamSpec
    from dlexam.svhn.data import SIZE
    from dlexam.svhn.synthetic.digits import render

    assert ExamSpec.version_a().cnn.input_size == (SIZE, SIZE)
    assert render(3, seed=0)[0].shape == (3, 32, 32, 3)  # SVHN's published crop size, typed in here
