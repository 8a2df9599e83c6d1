"""The locks of a folder dlexam writes into (:class:`dlexam.files.folder.OutputDir`).

- :func:`take_lock`: the folder's exclusive lock while a command uses it (``.dlexam.lock``, ``fcntl.flock``):
  a second writer gets a one-line error naming the process that holds it (from the kernel's lock table,
  ``/proc/locks``). The lock file is made once, empty, as a new file (``O_CREAT | O_EXCL``, never through a
  link), and after that only opened read-only and locked: never written, truncated or replaced, by whatever
  command takes it (until 2026-12-07 each taker wrote "process N" into it). A lock file that is a link, has
  other names (hard links) or holds anything but nothing or an earlier dlexam's "process N" is refused,
  untouched. The kernel drops the lock when its process dies, so a killed run leaves no stale lock behind.
  A holder may remove the lock file before it lets go (a folder left with nothing of dlexam's in it):
  whoever locks must then find the name still naming the file it locked, or open it afresh.
- :func:`folder_locked`: a brief lock on the folder itself, held while its file record is updated.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from dlexam.errors import UserError
from dlexam.files.atomic import write_error

LOCK = ".dlexam.lock"
_LOCK_TEXT = re.compile(rb"(process [0-9]{1,12})?")  # empty, or what dlexam wrote there before 2026-12-07


def take_lock(folder: Path, what: str = "out") -> tuple[int, bool]:
    """Hold `folder`/.dlexam.lock exclusively (flock); (its descriptor, whether this call created the file).
    One line if another holds it.

    The file is opened read-only without following a link and created only as a new, empty regular file here;
    nothing is ever written to it. One that is a link, has other names or holds anything but nothing or
    "process N" is refused, untouched."""
    for _ in range(8):  # another holder removed the file between our open and our lock: open it afresh
        taken = _take_lock(folder, what)
        if taken is not None:
            return taken
    raise UserError(f"{what} {folder} is in use by other processes; wait for them or choose another folder")


def _take_lock(folder: Path, what: str) -> tuple[int, bool] | None:
    lock = folder / LOCK
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd, created = os.open(lock, flags | os.O_CREAT | os.O_EXCL, 0o644), True
        except FileExistsError:
            fd, created = os.open(lock, flags), False
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{lock} is a symbolic link; dlexam never writes through one (remove it)") from None
        if exc.errno == errno.ENOENT:
            return None  # removed by its holder between the two opens
        raise write_error(lock, exc) or UserError(f"cannot open {lock}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            why = "it has other names (hard links)" if stat.S_ISREG(st.st_mode) else "not a regular file"
            raise UserError(f"{lock} is not dlexam's lock file ({why}); not touching it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(st)
            raise UserError(f"{what} {folder} is in use by {holder}; wait for it or choose another folder") from None
        try:
            now = os.stat(lock, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)  # its holder removed it before letting go: the lock is the file the name names now
            return None
        text = os.pread(fd, 64, 0)
        if _LOCK_TEXT.fullmatch(text) is None:
            raise UserError(f"{lock} exists and was not written by dlexam; not touching it (remove it)")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd, created


def _holder(st: os.stat_result) -> str:
    """Who holds the flock of the file `st` describes, as the kernel's lock table says: "process N", or "another
    process" where the table is not there (not Linux) or names no process this one can see."""
    where = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as table:
            for line in table:  # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2175031 0 EOF"; a waiter's has "->"
                f = line.split()
                if len(f) >= 6 and f[1] == "FLOCK" and f[5] == where and f[4].isdigit() and int(f[4]) > 0:
                    return f"process {int(f[4])}"
    except OSError:
        pass
    return "another process"


@contextlib.contextmanager
def folder_locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive flock on the folder itself (briefly: one update of its file record)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock
