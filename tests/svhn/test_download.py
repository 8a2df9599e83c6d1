"""`svhn download` under hostile conditions: a run killed by SIGKILL mid-transfer, servers that lie about the bytes
they send (Content-Range, Content-Length), redirects, a file size limit. Every server is a local HTTP server built
on test_data.py's `_RangeHandler`; the oracle is the MD5 of the payload the server holds."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.files import OutputDir, partial
from dlexam.svhn.data import download as official_download
from dlexam.svhn.data.download import download

from .test_data import _RangeHandler

NAME, PART = "test_32x32.mat", "test_32x32.mat.part"
BLOCK = 1 << 16  # what download() reads from the server at a time


@contextlib.contextmanager
def _serving(handler):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _payload(seed: int, n: int = 300_000) -> tuple[bytes, dict, dict]:
    payload = np.random.default_rng(seed).bytes(n)
    return payload, {"test": hashlib.md5(payload).hexdigest()}, {"test": n}


def _is_payload(path: Path, payload: bytes) -> bool:
    return hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(payload).hexdigest()


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.endswith((".part", ".tmp")))


# ---- a run killed by SIGKILL -----------------------------------------------------------------------------------

class _FirstReplyHandler(_RangeHandler):
    """Its first reply is `first_reply`'s (while `cut_first` is set; the request is recorded); later replies serve
    the file, from the Range asked for."""

    def do_GET(self):
        if not type(self).cut_first:
            return super().do_GET()
        type(self).cut_first = False
        type(self).requests.append(self.headers.get("Range"))
        self.first_reply()

    def first_reply(self) -> None:
        raise NotImplementedError


class _SlowHandler(_FirstReplyHandler):
    """Its first reply sends `pause_at` bytes of the file and then waits (a slow server) until `resume` is set;
    later replies serve the file, from the Range asked for."""

    pause_at = 0
    resume: threading.Event

    def first_reply(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload[: self.pause_at])
        self.wfile.flush()
        self.resume.wait(60)


@pytest.fixture
def slow():
    payload, md5, size = _payload(5, 400_000)
    handler = type("S", (_SlowHandler,), {"payload": payload, "cut_first": True, "requests": [],
                                          "pause_at": 200_000, "resume": threading.Event()})
    with _serving(handler) as url:
        yield url, payload, handler, md5, size
        handler.resume.set()  # before the server waits for its threads


def _download_child(root, url, md5, size):
    download(root, ["test"], base_url=url, md5=md5, size=size)
    os._exit(0)


def _killed_mid_download(root: Path, url: str, md5: dict, size: dict, have: int) -> None:
    """Start download() in a child process and SIGKILL it once its partial file holds `have` bytes."""
    child = multiprocessing.get_context("fork").Process(target=_download_child, args=(root, url, md5, size))
    child.start()
    part, deadline = root / PART, time.monotonic() + 60
    while child.is_alive() and time.monotonic() < deadline:
        if part.is_file() and part.stat().st_size >= have:
            break
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL, child.exitcode
    assert part.stat().st_size == have


def test_a_download_killed_by_sigkill_resumes(tmp_path, slow):
    """The .part of a run killed by SIGKILL was not in the record (it was recorded only as an interrupted run
    unwound), so the next run refused it as another program's ("remove it, or force ...")."""
    url, payload, handler, md5, size = slow
    have = 3 * BLOCK  # the server paused at 200,000 bytes: three whole blocks were written
    _killed_mid_download(tmp_path, url, md5, size, have)
    assert not (tmp_path / NAME).exists()
    handler.resume.set()
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload)
    assert handler.requests == [None, f"bytes={have}-"]  # resumed where the killed run stopped
    assert _leftovers(tmp_path) == []
    assert PART not in json.loads((tmp_path / ".dlexam-files.json").read_text()).get("partial", {})


def test_after_a_kill_only_the_recorded_part_is_taken(tmp_path, slow):
    """The killed run's file is resumed; a file of that name that is not it (another program's, a copy, a link,
    one changed or cut short) is refused untouched, before any request."""
    url, payload, handler, md5, size = slow
    have = 3 * BLOCK
    _killed_mid_download(tmp_path, url, md5, size, have)
    handler.resume.set()
    part, aside = tmp_path / PART, tmp_path / "aside"
    os.rename(part, aside)  # the killed run's file, kept aside (a rename keeps its inode)
    ours = aside.read_bytes()

    def refused(match: str) -> None:
        asked = len(handler.requests)
        with pytest.raises(UserError, match=match) as err:
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
        assert "\n" not in str(err.value) and len(handler.requests) == asked

    part.write_bytes(np.random.default_rng(6).bytes(have))  # another program's file of that name
    refused("was not written by dlexam; not appending to it or removing it")
    assert part.read_bytes() == np.random.default_rng(6).bytes(have)
    part.unlink()
    shutil.copyfile(aside, part)  # a copy: more bytes than the record vouches for, in another file
    refused("was not written by dlexam")
    assert part.read_bytes() == ours
    part.unlink()
    part.symlink_to(aside)
    refused("symbolic link")
    assert part.is_symlink() and aside.read_bytes() == ours
    part.unlink()
    os.rename(aside, part)
    with open(part, "r+b") as f:  # changed in place, within the bytes the record vouches for
        f.seek(100)
        f.write(bytes([ours[100] ^ 1]))
    refused("was not written by dlexam")
    with open(part, "r+b") as f:
        f.seek(100)
        f.write(ours[100:101])
    os.truncate(part, 1000)  # cut short of what the record vouches for
    refused("was not written by dlexam")
    with open(part, "r+b") as f:
        f.write(ours)
    assert part.read_bytes() == ours
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)  # the killed run's file, as it left it
    assert _is_payload(tmp_path / NAME, payload) and handler.requests[-1] == f"bytes={have}-"


def _killing_child(root, url, md5, size, point, when):
    """download() that SIGKILLs itself just `when` ("before"/"after") the first os.link, or the 2nd os.replace onto
    the folder's record (a checkpoint: every block is one here)."""
    partial.CHECKPOINT = BLOCK
    name = {"link": "link", "record": "replace"}[point]
    real, seen = getattr(os, name), [0]

    def killing(src, dst, *args, **kwargs):
        hit = point == "link" or os.path.basename(os.fspath(dst)) == ".dlexam-files.json"
        seen[0] += hit
        hit = hit and seen[0] == (1 if point == "link" else 2)
        if hit and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(src, dst, *args, **kwargs)
        if hit and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    setattr(os, name, killing)
    download(root, ["test"], base_url=url, md5=md5, size=size)
    os._exit(0)


@pytest.mark.parametrize("point", ["link", "record"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_at_any_step_of_starting_or_recording_the_part_leaves_a_download_that_completes(tmp_path, point, when):
    """Killed just before or after the .part gets its name, or just before or after a checkpoint of its record: the
    next run takes what is there as its own (or finds nothing) and ends with the right file, no temporary left."""
    payload, md5, size = _payload(13)
    handler = type("K", (_RangeHandler,), {"payload": payload, "cut_first": False, "requests": []})
    with _serving(handler) as url:
        child = multiprocessing.get_context("fork").Process(target=_killing_child,
                                                            args=(tmp_path, url, md5, size, point, when))
        child.start()
        child.join(120)
        assert child.exitcode == -signal.SIGKILL
        assert (tmp_path / PART).exists() == (point == "record" or when == "after")
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload) and _leftovers(tmp_path) == []


class _RivalHandler(_RangeHandler):
    """Before its reply, another program creates the .part in `root` (after dlexam looked, before it writes)."""

    root: Path

    def do_GET(self):
        (self.root / PART).write_bytes(b"another program's bytes")
        return super().do_GET()


def test_a_part_made_by_another_program_meanwhile_is_not_touched(tmp_path):
    """The .part was opened with O_CREAT | O_TRUNC: one that another program made after dlexam looked was
    truncated and overwritten."""
    payload, md5, size = _payload(14)
    handler = type("V", (_RivalHandler,), {"payload": payload, "cut_first": False, "requests": [], "root": tmp_path})
    with _serving(handler) as url:
        with pytest.raises(UserError, match="appeared while dlexam was starting it; not touching it"):
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert (tmp_path / PART).read_bytes() == b"another program's bytes" and _leftovers(tmp_path) == [PART]
    assert OutputDir(tmp_path).partial_entry(PART) is None


# ---- interrupted cleanly, then resumed -------------------------------------------------------------------------

@pytest.fixture
def cut():
    payload, md5, size = _payload(7)
    handler = type("C", (_RangeHandler,), {"payload": payload, "cut_first": True, "requests": []})
    with _serving(handler) as url:
        yield url, payload, handler, md5, size


def test_without_hard_links_the_part_is_still_recorded_and_resumed(tmp_path, cut, monkeypatch):
    """Where the file system has no hard links (FAT, exFAT) the .part is created in place and recorded."""
    url, payload, handler, md5, size = cut

    def no_links(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.link", no_links)
    with pytest.raises(UserError, match="interrupted"):
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    part = tmp_path / PART
    entry = OutputDir(tmp_path).partial_entry(PART)
    assert entry["ino"] == part.stat().st_ino and entry["size"] == part.stat().st_size == 150_000
    assert _leftovers(tmp_path) == [PART]
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload) and handler.requests[-1] == "bytes=150000-"


def test_a_cleanly_stopped_part_resumes_in_a_copied_folder_and_from_an_older_record(tmp_path, cut):
    """A transfer stopped by an error records all the .part holds: a copy of the folder (other inodes, the same
    bytes) resumes; so does a .part an earlier dlexam recorded by its whole contents."""
    url, payload, handler, md5, size = cut
    a, b = tmp_path / "a", tmp_path / "b"
    with pytest.raises(UserError, match="interrupted"):
        download(a, ["test"], base_url=url, md5=md5, size=size)
    shutil.copytree(a, b)
    download(b, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(b / NAME, payload) and handler.requests[-1] == "bytes=150000-"

    c = tmp_path / "c"
    c.mkdir()
    (c / PART).write_bytes(payload[:1000])
    OutputDir(c).record(PART)  # as dlexam 2a2e215c recorded an interrupted download
    download(c, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(c / NAME, payload) and handler.requests[-1] == "bytes=1000-"


# ---- servers that lie ------------------------------------------------------------------------------------------

class _LyingHandler(_RangeHandler):
    """Serves the file, cutting its first reply half-way; a later Range request is answered as `lie` says:
    "from-zero" (206 with the whole file, bytes 0-), "shifted" (206 from 1,000 bytes before the byte asked for),
    "no-range-header" (206 from the right byte, without Content-Range), "ignore-range" (200 with the whole file),
    "always-shifted" (every request, with or without Range: 206 from byte 1,000)."""

    lie = ""

    def do_GET(self):
        rng = self.headers.get("Range")
        n = len(self.payload)
        if self.lie == "always-shifted" or (rng and not type(self).cut_first):
            type(self).requests.append(rng)
            asked = int(rng.split("=")[1].split("-")[0]) if rng else 0
            start = {"from-zero": 0, "shifted": asked - 1000, "always-shifted": 1000, "ignore-range": 0}.get(
                self.lie, asked)
            self.send_response(200 if self.lie == "ignore-range" else 206)
            self.send_header("Content-Length", str(n - start))
            if self.lie not in ("ignore-range", "no-range-header"):
                self.send_header("Content-Range", f"bytes {start}-{n - 1}/{n}")
            self.end_headers()
            self.wfile.write(self.payload[start:])
            return
        super().do_GET()


def _lying(lie: str, seed: int = 8):
    payload, md5, size = _payload(seed)
    handler = type("L", (_LyingHandler,), {"payload": payload, "cut_first": True, "requests": [], "lie": lie})
    return handler, payload, md5, size


@pytest.mark.parametrize("known_size", [True, False], ids=["size known", "md5 only"])
@pytest.mark.parametrize("lie, asked", [
    ("from-zero", [None, "bytes=150000-"]),  # the reply is the file from its start: taken as such
    ("shifted", [None, "bytes=150000-", None]),  # dropped, fetched afresh without Range
    ("no-range-header", [None, "bytes=150000-", None]),
    ("ignore-range", [None, "bytes=150000-"]),  # a 200: the file from its start
])
def test_a_reply_from_another_byte_than_asked_restarts_from_zero(tmp_path, lie, asked, known_size):
    """A 206 whose Content-Range starts elsewhere than asked was appended as if it started there: with the size
    known it was refused as "offers N bytes" (misleading), with only the MD5 the wrong bytes were appended and
    the whole download removed. Now a reply from byte 0 is taken as the file afresh, and one that cannot be placed
    is dropped and the file fetched afresh (a request without Range); a 200 to a Range request restarts too."""
    handler, payload, md5, size = _lying(lie)
    with _serving(handler) as url:
        with pytest.raises(UserError, match="interrupted"):
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size if known_size else {})
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size if known_size else {})
    assert _is_payload(tmp_path / NAME, payload) and _leftovers(tmp_path) == []
    assert handler.requests == asked


def test_a_server_whose_every_reply_is_misplaced_is_refused_in_one_line(tmp_path):
    handler, payload, md5, size = _lying("always-shifted")
    with _serving(handler) as url:
        for given in (size, {}):
            with pytest.raises(UserError, match=r"partial reply \(206\) with the bytes from 1,000 on .*nothing was "
                               "written") as err:
                download(tmp_path, ["test"], base_url=url, md5=md5, size=given)
            assert "\n" not in str(err.value)
            assert not (tmp_path / NAME).exists() and _leftovers(tmp_path) == []


class _BadLengthHandler(_RangeHandler):
    """Sends the whole file with a Content-Length of `length` (not a number Python's int() takes safely)."""

    length = ""

    def do_GET(self):
        type(self).requests.append(self.headers.get("Range"))
        self.send_response(200)
        self.send_header("Content-Length", self.length)
        self.end_headers()
        self.wfile.write(self.payload)


@pytest.mark.parametrize("length", ["\u00b2", "9" * 5000, "-5", "1e5"], ids=["superscript two", "5000 digits",
                                                                           "negative", "float"])
def test_a_content_length_that_is_not_a_number_is_no_length(tmp_path, length):
    """"²".isdigit() is True and int() refuses it (as it does 5,000 digits): a ValueError traceback."""
    payload, md5, size = _payload(9)
    handler = type("B", (_BadLengthHandler,), {"payload": payload, "requests": [], "length": length})
    with _serving(handler) as url:
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload)


# ---- redirects -------------------------------------------------------------------------------------------------

class _RedirectHandler(_RangeHandler):
    """/test_32x32.mat redirects to `to` (a path here, or another address); /real/... serves the file."""

    to = ""

    def do_GET(self):
        if self.path.startswith("/real/"):
            return super().do_GET()
        self.send_response(302)
        self.send_header("Location", self.to)
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_is_followed_and_the_resume_goes_through_it(tmp_path):
    payload, md5, size = _payload(10)
    handler = type("R", (_RedirectHandler,), {"payload": payload, "cut_first": True, "requests": [],
                                              "to": "/real/test_32x32.mat"})
    with _serving(handler) as url:
        with pytest.raises(UserError, match="interrupted"):
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload) and handler.requests == [None, "bytes=150000-"]


@pytest.mark.parametrize("to", ["file:///etc/passwd", "/test_32x32.mat"], ids=["to a file", "a loop"])
def test_a_redirect_not_followed_says_so(tmp_path, to):
    """Was "failed: HTTP 302", which reads as a server error."""
    payload, md5, size = _payload(11)
    handler = type("R", (_RedirectHandler,), {"payload": payload, "requests": [], "to": to})
    with _serving(handler) as url:
        with pytest.raises(UserError, match="HTTP 302, a redirect that was not followed") as err:
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert "\n" not in str(err.value) and list(tmp_path.glob("*.mat*")) == []


# ---- a file size limit (ulimit -f) -----------------------------------------------------------------------------

def _cli_child(root, url, md5, size, err, limit):  # (what it uses is imported already: nothing to import in a fork)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    sys.stderr = open(err, "w", buffering=1)  # the child's stderr until it exits
    sys.stdout = open(os.devnull, "w")
    official_download.download.__kwdefaults__["base_url"] = url  # the child's copy of the module: the official defaults
    official_download.MD5.update(md5)  # point at the local server
    official_download.SIZE.update(size)
    os._exit(main(["svhn", "download", "--root", str(root), "--split", "test", "--quiet"]))


def test_a_file_size_limit_is_one_line_naming_the_part_which_then_resumes(tmp_path):
    """Python ignores SIGXFSZ, so a write past `ulimit -f` raises EFBIG: it surfaced as the CLI's fallback
    "cannot write a file: ..." without naming the file."""
    payload, md5, size = _payload(12)
    handler = type("F", (_RangeHandler,), {"payload": payload, "cut_first": False, "requests": []})
    err = tmp_path / "stderr.txt"
    root = tmp_path / "svhn"
    with _serving(handler) as url:
        child = multiprocessing.get_context("fork").Process(target=_cli_child,
                                                            args=(root, url, md5, size, err, 100_000))
        child.start()
        child.join(120)
        lines = err.read_text().splitlines()
        assert child.exitcode == 2 and len(lines) == 1, (child.exitcode, lines)
        assert "test_32x32.mat.part" in lines[0] and "larger than this system allows" in lines[0], lines
        assert (root / PART).stat().st_size == 100_000
        download(root, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(root / NAME, payload) and handler.requests[-1] == "bytes=100000-"


class _SwappingHandler(_RangeHandler):
    """Sends the whole file without a Content-Length, waits until the .part in `root` holds it all, then (before
    it closes the connection: the end of the file) moves the .part aside and puts a link to it in its place."""

    root: Path

    def do_GET(self):
        type(self).requests.append(self.headers.get("Range"))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.payload)
        self.wfile.flush()
        part, deadline = self.root / PART, time.monotonic() + 60
        while not (part.is_file() and part.stat().st_size == len(self.payload)) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.rename(self.root / PART, self.root / "aside")
        (self.root / PART).symlink_to(self.root / "aside")


def test_a_part_replaced_by_a_link_during_the_transfer_is_not_renamed_into_place(tmp_path):
    """The finished .part was hashed and renamed by its name: a link put there meanwhile was followed for the
    MD5 and then renamed onto test_32x32.mat (the file became a link, recorded as dlexam's)."""
    payload, md5, size = _payload(15, 5 * BLOCK)  # whole blocks: a read of the last one ends without the close
    handler = type("W", (_SwappingHandler,), {"payload": payload, "requests": [], "root": tmp_path})
    with _serving(handler) as url:
        with pytest.raises(UserError, match="was moved or replaced while dlexam wrote it"):
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert not (tmp_path / NAME).exists() and not (tmp_path / NAME).is_symlink()
    assert (tmp_path / PART).is_symlink() and (tmp_path / "aside").read_bytes() == payload


def test_ctrl_c_records_all_the_part_holds_and_the_next_run_resumes_there(tmp_path, cut):
    url, payload, handler, md5, size = cut
    handler.cut_first = False

    def interrupt(p):
        if p.done >= 2 * BLOCK:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size, progress=interrupt)
    part = tmp_path / PART
    assert OutputDir(tmp_path).partial_entry(PART)["size"] == part.stat().st_size == 2 * BLOCK
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload) and handler.requests[-1] == f"bytes={2 * BLOCK}-"


# ---- a 416, a stale .part, a full disk -------------------------------------------------------------------------

class _RefusingRangeHandler(_RangeHandler):
    """Cuts its first reply half-way; answers every Range request with 416 (Range Not Satisfiable) and a request
    without Range with the whole file."""

    def do_GET(self):
        if self.headers.get("Range") and not type(self).cut_first:
            type(self).requests.append(self.headers.get("Range"))
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(self.payload)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@pytest.mark.parametrize("known_size", [True, False], ids=["size known", "md5 only"])
def test_a_416_to_a_short_part_fetches_the_file_afresh_once(tmp_path, known_size):
    """A 416 was taken as "the .part is complete": a .part short of the known size was checked by MD5, which failed,
    and the download was removed ("run the command again", which did the same). Now a 416 to a .part short of the
    known size drops the .part and fetches the file from byte 0 once; a .part of the full size is checked by MD5."""
    payload, md5, size = _payload(16)
    handler = type("Q", (_RefusingRangeHandler,), {"payload": payload, "cut_first": True, "requests": []})
    given = size if known_size else {}
    with _serving(handler) as url:
        with pytest.raises(UserError, match="interrupted"):
            download(tmp_path, ["test"], base_url=url, md5=md5, size=given)
        assert (tmp_path / PART).stat().st_size == 150_000
        if known_size:
            download(tmp_path, ["test"], base_url=url, md5=md5, size=given)
            assert _is_payload(tmp_path / NAME, payload) and _leftovers(tmp_path) == []
            assert handler.requests == [None, "bytes=150000-", None]
            assert PART not in json.loads((tmp_path / ".dlexam-files.json").read_text()).get("partial", {})
        else:  # no size to tell a short .part from a whole one: the 416 says it is whole, the MD5 decides
            with pytest.raises(UserError, match="does not match the official"):
                download(tmp_path, ["test"], base_url=url, md5=md5, size=given)
        # a whole .part (a run stopped between its last byte and the rename): a 416, then the MD5, then done
        shutil.rmtree(tmp_path)
        tmp_path.mkdir()
        (tmp_path / PART).write_bytes(payload)
        OutputDir(tmp_path).record(PART)  # dlexam's, by its whole contents
        handler.requests.clear()
        download(tmp_path, ["test"], base_url=url, md5=md5, size=given)
        assert _is_payload(tmp_path / NAME, payload) and _leftovers(tmp_path) == []
        assert handler.requests == ["bytes=300000-"]


def test_a_416_to_a_request_from_byte_0_is_one_line(tmp_path):
    payload, md5, size = _payload(17)

    class Always416(_RangeHandler):
        def do_GET(self):
            type(self).requests.append(self.headers.get("Range"))
            self.send_response(416)
            self.send_header("Content-Length", "0")
            self.end_headers()

    handler = type("A", (Always416,), {"payload": payload, "cut_first": False, "requests": []})
    with _serving(handler) as url:
        (tmp_path / PART).write_bytes(payload[:1000])
        OutputDir(tmp_path).record(PART)
        with pytest.raises(UserError, match="HTTP 416") as err:
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert "\n" not in str(err.value) and handler.requests == ["bytes=1000-", None]
    assert not (tmp_path / NAME).exists() and _leftovers(tmp_path) == []


def test_a_stale_part_of_dlexams_goes_when_the_file_is_already_there(tmp_path, cut):
    """The download was skipped (the file there has the right MD5) and dlexam's .part of an earlier, interrupted
    run stayed, with its entry in the record. Now it goes; a .part dlexam did not write, or a link, stays."""
    url, payload, handler, md5, size = cut
    with pytest.raises(UserError, match="interrupted"):
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert OutputDir(tmp_path).partial_entry(PART) is not None
    (tmp_path / NAME).write_bytes(payload)  # the file, put there by hand
    asked = len(handler.requests)
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert len(handler.requests) == asked and _is_payload(tmp_path / NAME, payload)
    assert not (tmp_path / PART).exists() and OutputDir(tmp_path).partial_entry(PART) is None

    (tmp_path / PART).write_bytes(b"a user's file")  # not dlexam's: left alone, also with force
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size, force=True)
    assert (tmp_path / PART).read_bytes() == b"a user's file"
    (tmp_path / PART).unlink()
    (tmp_path / "aside").write_bytes(payload[:1000])
    OutputDir(tmp_path).record("aside")
    (tmp_path / PART).symlink_to(tmp_path / "aside")  # a link: not followed, not removed
    download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert (tmp_path / PART).is_symlink() and (tmp_path / "aside").read_bytes() == payload[:1000]


@pytest.mark.parametrize("made", [True, False], ids=["folder made", "folder there"])
def test_a_full_disk_leaves_no_empty_record(tmp_path, monkeypatch, made):
    """The partial file and its entry went, but an empty .dlexam-files.json stayed (and with it the lock file, and
    the folder the command had made)."""
    import errno

    payload, md5, size = _payload(18)
    handler = type("D", (_RangeHandler,), {"payload": payload, "cut_first": False, "requests": []})
    root = tmp_path / "svhn" if made else tmp_path
    real_write = os.write

    def full_disk(fd, data):
        if ".part" in os.readlink(f"/proc/self/fd/{fd}") and os.fstat(fd).st_size >= 100_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with _serving(handler) as url:
        monkeypatch.setattr("os.write", full_disk)
        with pytest.raises(UserError, match="disk is full"):
            download(root, ["test"], base_url=url, md5=md5, size=size)
        monkeypatch.undo()
    assert not root.exists() if made else list(root.iterdir()) == []


def test_a_host_name_that_cannot_be_looked_up_says_so_in_one_line(tmp_path):
    """Offline, the lookup of the server's name fails first: the error said only "[Errno -2] Name or service not
    known". `.invalid` is a name that never resolves (RFC 2606), so the lookup fails here as it does offline."""
    with pytest.raises(UserError) as err:
        download(tmp_path, ["test"], base_url="http://svhn.invalid/housenumbers/")
    message = str(err.value)
    assert "\n" not in message and message.startswith("download of http://svhn.invalid/housenumbers/test_32x32.mat")
    assert "svhn.invalid could not be looked up (no network, or no name server" in message
    assert not (tmp_path / NAME).exists() and _leftovers(tmp_path) == []


class _PageFirstHandler(_FirstReplyHandler):
    """Its first reply is a web page (status 200, text/html, no Content-Length: the body ends with the connection),
    as a captive portal or a moved site answers; later replies serve the file, from the Range asked for."""

    def first_reply(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"<html><body>Please log in to use this network</body></html>")
        self.close_connection = True


def test_a_web_page_in_place_of_the_file_is_refused_and_never_becomes_the_start_of_the_file(tmp_path):
    """A page without a Content-Length was kept as the `.part` ("interrupted at 60 of N bytes; run the command again
    to resume"), and the next run appended the real file's bytes after it, from byte 60: the whole transfer ended in
    an MD5 mismatch. The page is now refused in one line before any of it is written, and the next run fetches the
    file from byte 0."""
    payload, md5, size = _payload(8)
    handler = type("P", (_PageFirstHandler,), {"payload": payload, "cut_first": True, "requests": []})
    with _serving(handler) as url:
        with pytest.raises(UserError) as err:
            download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
        message = str(err.value)
        assert "\n" not in message and "web page (text/html)" in message
        assert not (tmp_path / NAME).exists() and _leftovers(tmp_path) == []
        download(tmp_path, ["test"], base_url=url, md5=md5, size=size)
    assert _is_payload(tmp_path / NAME, payload)
    assert handler.requests == [None, None]  # the second run asked for the file from its start


def test_a_split_named_twice_is_fetched_and_said_once(tmp_path):
    """`svhn download --split test test` fetched the file twice (the second time only to check it) and printed it
    twice; a split is now one download and one path, in the order first given."""
    payload, md5, size = _payload(5, 50_000)
    handler = type("H", (_RangeHandler,), {"payload": payload, "requests": [], "cut_first": False})
    with _serving(handler) as url:
        got = download(tmp_path, ["test", "test"], base_url=url, md5=md5, size=size)
    assert got == [tmp_path / NAME] and len(handler.requests) == 1 and _is_payload(tmp_path / NAME, payload)
