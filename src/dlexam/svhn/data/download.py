"""Downloading SVHN's official Format 2 files: resumed where a transfer stops, checked before use.

`dlexam svhn download` fetches ``{split}_32x32.mat`` from :data:`BASE_URL` into a folder the run-folder service
owns (:class:`dlexam.files.OutputDir`). A transfer that stops short is resumed with an HTTP Range request from the
partial file; a server offering another size than the official one (:data:`SIZE`) is refused before anything is
written; a file of unknown size never grows past :data:`MAX_BYTES`; each finished file's MD5 must be the official
one (:data:`MD5`) before it takes its name. A full disk, a redirect, a reset or a timeout is one line naming the
file. Reading the files: :mod:`dlexam.svhn.data.official`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dlexam.errors import UserError
from dlexam.files import (
    OutputDir,
    PartialFile,
    drop_partial,
    open_partial,
    write_error,
)
from dlexam.progress import Progress, ProgressFn, report
from dlexam.svhn.data import SPLITS
from dlexam.svhn.data.official import filename

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
# Official MD5 sums of the SPLITS, as torchvision's SVHN dataset lists them.
MD5 = {
    "train": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test": "eb5a983be6a315427106f1b164d9cef3",
    "extra": "a93ce644f1a588dc4d68dda5feec44a7",
}
# The official files' exact sizes in bytes (the Content-Length ufldl.stanford.edu sends, as public SVHN
# loaders check it): a download ends at this size, a transfer that stops short is resumed, a server
# offering another size is refused before anything is written.
SIZE = {"train": 182_040_794, "test": 64_275_384, "extra": 1_329_278_602}
# For files of unknown size (another md5 given): a download longer than this is refused (an endless or
# wrong response must not fill the disk).
MAX_BYTES = {"train": 230_000_000, "test": 82_000_000, "extra": 1_700_000_000}


def _copy_bounded(resp, part: PartialFile, total: int | None, limit: int, url: str,
                  progress: ProgressFn | None) -> None:
    """Append the response to `part`, never past `limit` bytes; remove `part` when the disk is full."""
    task = part.name[:-5]
    try:
        while True:
            try:
                block = resp.read(1 << 16)
            except (OSError, http.client.HTTPException) as exc:  # a reset, a timeout, a cut chunked body
                raise UserError(f"download of {url} interrupted ({exc}); run the command again to resume") from None
            if not block:
                break
            if part.size + len(block) > limit:
                raise _TooLong()
            part.write(block)
            report(progress, Progress(task, part.size, total, "B"))
    except _TooLong:
        part.discard()
        raise UserError(f"download of {url} ran past {limit:,} bytes, more than the file can be; "
                        "the partial file was removed") from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise write_error(part.path, exc) or exc from None
        with contextlib.suppress(OSError, UserError):  # the file goes first, freeing its space for the record
            part.discard()
        raise UserError(f"download of {url}: the disk is full; the partial file was removed") from None
    report(progress, Progress(task, part.size, total, "B", finished=True))


class _TooLong(Exception):
    pass


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download(
    root: str | os.PathLike,
    splits=("train", "test"),
    *,
    base_url: str = BASE_URL,
    md5: dict | None = None,
    max_bytes: dict | None = None,
    size: dict | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> list[Path]:
    """Download official SVHN files into `root`, resuming partial downloads with HTTP Range.

    Bytes go to `{name}.part`; only when the whole file's MD5 matches the official sum is it
    renamed onto `{name}`, so an interrupted or corrupt download never passes as a good file. A
    file already present with the right MD5 is kept; one with another MD5 is replaced only if dlexam
    wrote it (or with `force`). A transfer that ends before the file's size (the official `SIZE`, or
    `size` where `md5` is given) keeps its `.part` for the next run to resume; a server offering
    another size is refused before anything is written; a response longer than the file can be
    (the size, else `max_bytes`) is cut off and removed, and so is a partial file when the disk is full.
    The `.part` is dlexam's by its entry in the folder's record, made before its first byte (so a run killed by
    SIGKILL leaves one the next run resumes; another program's `.part` is refused, or with `force` replaced):
    :mod:`dlexam.files.partial`. A partial reply is appended only where its Content-Range starts at the byte
    asked for (see :func:`_reply_range`); a 416 to a `.part` short of the size restarts it from byte 0 once. A file
    already right leaves nothing to fetch, and dlexam's own `.part` of an earlier run beside it goes.
    """
    size = size if size is not None else ({} if md5 else SIZE)
    md5 = md5 or MD5
    max_bytes = max_bytes or MAX_BYTES
    splits = list(dict.fromkeys(splits))  # a split named twice is fetched once
    for split in splits:
        if split not in SPLITS or split not in md5:
            raise UserError(f"unknown SVHN split {split!r} (choose from {', '.join(SPLITS)})")
    with OutputDir(root, force=force, what="root", lock=True) as out:  # one writer of the .part files at a time
        return _download_into(out, splits, md5, max_bytes, size, base_url, progress, timeout)


def _download_into(out: OutputDir, splits, md5: dict, max_bytes: dict, size: dict, base_url: str, progress,
                   timeout) -> list[Path]:
    done = []
    for split in splits:
        target = out.file(filename(split))
        if target.is_file() and md5sum(target) == md5[split]:
            drop_partial(out, filename(split) + ".part")  # dlexam's own .part of an earlier run, if one is there
            done.append(target)
            continue
        out.claim(filename(split))
        part = open_partial(out, filename(split) + ".part")  # absent, or the one dlexam's record describes
        try:
            _fetch_resuming(base_url.rstrip("/") + "/" + filename(split), part, progress, timeout,
                            max_bytes.get(split, MAX_BYTES.get(split, 2_000_000_000)), size.get(split))
        except BaseException:  # an interrupted download (an error, Ctrl-C): its record moves on to all it holds
            with contextlib.suppress(Exception):
                part.checkpoint()
            part.close()
            raise
        path = part.finish()
        if path is None:  # the server sent an empty reply, and no size said that more was due
            raise UserError(f"download of {filename(split)}: the server sent no bytes; nothing was written")
        got = md5sum(path)
        if got != md5[split]:
            part.discard()
            raise UserError(
                f"{filename(split)}: MD5 {got} does not match the official {md5[split]}; "
                "the download was removed, run the command again"
            )
        out.commit(filename(split), path)  # checked again, renamed and recorded as one step
        part.forget()
        done.append(target)
    return done


_LENGTH = re.compile(r"[0-9]{1,18}")
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)")


def _length(text: str | None) -> int | None:
    """A Content-Length as a number; None where it is absent or not plain ASCII digits (http.client then reads
    to the end of the connection, as it does without one)."""
    return int(text.strip()) if text is not None and _LENGTH.fullmatch(text.strip()) else None


class _Misplaced(Exception):
    """A partial reply (206) whose bytes cannot be placed in the file; the message says why."""


def _reply_range(resp, have: int) -> tuple[int, int | None]:
    """Where the reply's bytes start in the file, and the file's whole size as far as the reply says.

    A 200 reply is the file from byte 0 (a server that ignores Range). A 206 reply must name its bytes in a
    Content-Range that agrees with its Content-Length and starts where dlexam asked (`have`), or at 0 (the file
    from its start again, taken as a 200); otherwise :class:`_Misplaced`: its bytes would land in the wrong place."""
    length = _length(resp.headers.get("Content-Length"))
    if resp.status != 206:
        return 0, length
    header = (resp.headers.get("Content-Range") or "").strip()
    m = _CONTENT_RANGE.fullmatch(header)
    if m is None:
        raise _Misplaced(f"without a valid Content-Range ({header[:80] or 'none'})")
    first, last = int(m[1]), int(m[2])
    whole = None if m[3] == "*" else int(m[3])
    if last < first or (whole is not None and last >= whole) or (length is not None and length != last - first + 1):
        raise _Misplaced(f"whose Content-Range ({header[:80]}) does not fit its Content-Length "
                         f"({length if length is not None else 'none'})")
    if first not in (have, 0):
        raise _Misplaced(f"with the bytes from {first:,} on (Content-Range: {header[:80]}), asked for those from "
                         f"{have:,} on")
    return first, whole if whole is not None else last + 1


def _request(url: str, have: int, timeout: float):
    """The server's reply to a GET of `url` from byte `have` on (a Range request where `have` > 0); None where a
    416 says there is nothing after `have`."""
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and have:  # nothing left to fetch: the part is complete
            return None
        if 300 <= exc.code < 400:  # a redirect urllib would not follow: a loop, or to another kind of address
            raise UserError(f"download of {url} failed: HTTP {exc.code}, a redirect that was not followed "
                            f"({(str(exc.reason).splitlines() or [''])[0][:120]})") from None
        raise UserError(f"download of {url} failed: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.gaierror):  # "[Errno -2] Name or service not known" said what, not why
            host = urllib.parse.urlsplit(url).hostname
            raise UserError(f"download of {url} failed: the name {host} could not be looked up (no network, or no "
                            f"name server: {reason.strerror})") from None
        raise UserError(f"download of {url} failed: {reason}") from None
    except http.client.HTTPException as exc:  # not an HTTP answer (a bad status line, a header too long)
        raise UserError(f"download of {url} failed: not an HTTP answer ({type(exc).__name__})") from None


def _fetch_resuming(url: str, part: PartialFile, progress: ProgressFn | None, timeout: float, limit: int,
                    expected: int | None = None) -> None:
    """Fetch `url` onto the end of `part` (from :func:`open_partial`); `expected`: the file's exact size in bytes,
    where known. A reply to a Range request whose bytes cannot be placed (a 206 from another byte than asked) is
    dropped, and the file fetched afresh from byte 0 once; a second such reply is refused. So is a 416 (nothing after
    the byte asked for) to a `part` short of `expected`; a 416 to a `part` of that size (or of unknown size) leaves
    it for the caller's MD5 check. A reply that is a web page (Content-Type text/html) is refused before any of it is
    written: kept as a `.part`, its bytes would have been the start that a later resume appends the file to."""
    limit = expected if expected is not None else limit
    if part.size > limit:  # not a partial download of this file
        part.discard()
    ask = part.size
    while True:
        resp = _request(url, ask, timeout)
        if resp is None:  # a 416: nothing after byte `ask`
            if expected is None or part.size == expected:  # whole as far as dlexam knows: the MD5 decides
                return
            part.discard()  # short of the known size: not a prefix of the file the server has now
            ask = 0  # the file afresh, once (a 416 to a request without Range is refused)
            continue
        with resp:
            if resp.headers.get_content_type() == "text/html":  # a portal's or a moved site's page, not the file
                raise UserError(f"download of {url}: the server answered with a web page (text/html), not the file; "
                                "nothing was written (is the address right, or is a login page in the way?)")
            try:
                start, total = _reply_range(resp, ask)
            except _Misplaced as exc:
                if ask:  # start again from byte 0: a fresh request, without Range
                    ask = 0
                    continue
                raise UserError(f"download of {url}: the server sent a partial reply (206) {exc}; nothing was "
                                "written") from None
            if expected is not None and total is not None and total != expected:
                raise UserError(f"download of {url}: the server offers {total:,} bytes, but the file has "
                                f"{expected:,}; nothing was written")
            if total is not None and total > limit:
                raise UserError(f"download of {url}: the server offers {total:,} bytes, more than the file can be "
                                f"({limit:,}); nothing was written")
            if start != part.size:  # the file from its start again (a server that ignores Range): so does dlexam
                part.discard()
            _copy_bounded(resp, part, total, limit, url, progress)
        whole = total if total is not None else expected  # without a Content-Length: the known size
        if whole is not None and part.size < whole:
            raise UserError(
                f"download of {url} interrupted at {part.size:,} of {whole:,} bytes; run the command again to resume"
            )
        return
