"""A file dlexam appends to across runs (a partial download), known as dlexam's own even after a hard kill.

A finished file is recorded by its contents (:meth:`OutputDir.record`), but a partial one changes with every
block, and a process killed by SIGKILL records nothing on its way out. So the folder's record
(:meth:`OutputDir.record_partial`) says which file it is and what it is known to begin with::

    {"dev": D, "ino": I,          the file's identity (fstat of the descriptor dlexam writes through)
     "size": k, "sha256": S}      S: the SHA-256 of its first k bytes, k > 0 (a checkpoint)

and that entry is written before the file has its name:

1. the first block goes into a new temporary file beside it (``.NAME.XXXXXXXX.tmp``, created exclusively,
   never through a link) and is made durable (fsync);
2. the record gets the entry: that file's device and inode, k = the block's length, its SHA-256;
3. the file gets its name by a hard link (``os.link`` fails where the name exists: nothing is replaced), and the
   temporary name goes.

A kill before 3 leaves no NAME (only a temporary file, which the next run sweeps away); from 3 on, NAME is a file
the record describes. Later blocks are appended through the same descriptor; every :data:`CHECKPOINT` bytes, and
when a transfer stops on an error or Ctrl-C, the file is fsynced and the entry moved on to its new size. The entry
never claims more than the file holds: it moves on only after an fsync, and a restart removes the file (and its
entry) and begins again at step 1 rather than truncating it under a recorded checkpoint.

The next run (:func:`open_partial`) opens NAME without following a link and takes it as its own only if it is a
regular file, holds at least k bytes whose first k have the recorded SHA-256, and is the recorded file (same
device and inode) or holds exactly those k bytes (the contents dlexam recorded, which is how
:meth:`OutputDir.owns` knows a finished file: a folder copied elsewhere after a clean stop). The bytes after the
k'th are then the killed run's last writes, made through dlexam's own descriptor to that inode. Anything else is
another program's file of that name: refused untouched, unless ``force`` (then it is removed and the transfer
starts afresh). The inode alone would not do: a file made after dlexam's was removed may get its inode number,
but not also its first k > 0 bytes (short of being the same download, whose end the caller's checksum checks).

Where the file system has no hard links (FAT, exFAT, some network shares), step 3 becomes: create NAME
exclusively, write the first block, fsync, record. A kill inside that instant leaves a NAME the next run refuses
as foreign (remove it, or force): it never takes a file that is not its own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from dlexam.errors import UserError
from dlexam.files.atomic import _umask, refuse_unsafe_target, write_error
from dlexam.files.folder import OutputDir

CHECKPOINT = 32 << 20  # bytes appended between two entries in the record (each: an fsync and a record write)
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


class PartialFile:
    """dlexam's partial file `name` in `out` (see the module docstring): `size` bytes so far, appended to by
    :meth:`write`. Use it holding the folder's lock (``OutputDir(..., lock=True)``); get one from
    :func:`open_partial`."""

    def __init__(self, out: OutputDir, name: str) -> None:
        self.out, self.name, self.path = out, name, out.file(name)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None
        self._sha = hashlib.sha256()
        self.size = 0
        self._recorded = 0  # the size the record's entry vouches for

    @property
    def exists(self) -> bool:
        return self._fd is not None

    def write(self, block: bytes) -> None:
        """Append `block` (the first one creates the file, recorded before it has its name)."""
        if not block:
            return
        if self._fd is None:
            self._create(block)
            return
        self._append(block)
        if self.size - self._recorded >= CHECKPOINT:
            self.checkpoint()

    def _append(self, block: bytes) -> None:
        view = memoryview(block)
        while view:
            n = os.write(self._fd, view)  # a short write (a file size limit, say) is continued, or raises
            self._sha.update(view[:n])
            self.size += n
            view = view[n:]

    def _record(self) -> None:
        dev, ino = self._ident
        self.out.record_partial(self.name, {"dev": dev, "ino": ino, "size": self.size, "sha256": self._sha.hexdigest()})
        self._recorded = self.size

    def checkpoint(self) -> None:
        """Make the bytes so far durable and move the record's entry on to them."""
        if self._fd is not None and self.size != self._recorded:
            os.fsync(self._fd)
            self._record()

    def _create(self, block: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.out.path)
        self._fd = fd
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the permissions open() would give
            self._append(block)
            os.fsync(fd)
            st = os.fstat(fd)
            self._ident = (st.st_dev, st.st_ino)
            self._record()  # before the file has its name
            try:
                os.link(tmp, self.path, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                self._create_in_place(block)
        except BaseException as exc:
            self._reset()
            with contextlib.suppress(OSError, UserError):
                self.out.record_partial(self.name, None)
            if isinstance(exc, FileExistsError):
                raise UserError(f"{self.path} appeared while dlexam was starting it; not touching it") from None
            raise
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def _create_in_place(self, block: bytes) -> None:
        """Step 3 without hard links: NAME created exclusively, its first block written, then recorded."""
        os.close(self._fd)
        self._fd, self.size, self._sha = None, 0, hashlib.sha256()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        self._append(block)
        os.fsync(self._fd)
        st = os.fstat(self._fd)
        self._ident = (st.st_dev, st.st_ino)
        self._record()

    def _reset(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._ident, self._sha, self.size, self._recorded = None, None, hashlib.sha256(), 0, 0

    def discard(self) -> None:
        """Remove the file (only if NAME is still the file written here) and its entry; the next write starts
        afresh."""
        ident, had = self._ident, self._fd is not None
        self._reset()
        if ident is not None:
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(self.path)
                if (st.st_dev, st.st_ino) == ident:
                    os.unlink(self.path)
        if had or self.out.partial_entry(self.name) is not None:
            self.out.record_partial(self.name, None)

    def finish(self) -> Path | None:
        """Make the file durable and close it: its path, for the caller to check and rename (None: no byte came).
        The record's entry stays until the caller forgets it (:meth:`forget`), once the file has moved on."""
        if self._fd is None:
            return None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != self._ident:
            raise UserError(f"{self.path} was moved or replaced while dlexam wrote it; not using what is there now")
        return self.path

    def forget(self) -> None:
        """Drop the record's entry (the file has been renamed into place)."""
        self.out.record_partial(self.name, None)

    def close(self) -> None:
        """Close the descriptor, changing nothing."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _hash_through(fd: int, size: int, at: int | None, chunk: int = 1 << 20) -> tuple[hashlib._Hash, str | None]:
    """The running SHA-256 of the first `size` bytes of `fd`, and the hex digest after its first `at` bytes."""
    sha, off, digest_at = hashlib.sha256(), 0, None
    while off < size:
        if off == at:
            digest_at = sha.hexdigest()
        want = min(chunk, size - off, (at - off) if at is not None and off < at else chunk)
        block = os.pread(fd, want, off)
        if not block:
            break
        sha.update(block)
        off += len(block)
    if off == at:
        digest_at = sha.hexdigest()
    return sha, digest_at


def _identify(out: OutputDir, name: str, fd: int, st: os.stat_result):
    """What the record says of the file open as `fd` (`st`: its fstat) under `name`: (entry, k, the SHA-256 of all
    its bytes, whether it is the recorded inode, whether it is the recorded file (`known`), whether an earlier
    dlexam recorded it by its whole contents (`legacy`))."""
    entry = out.partial_entry(name)
    k = int(entry["size"]) if entry is not None else None
    sha, at_k = _hash_through(fd, st.st_size, k)
    same = entry is not None and (entry["dev"], entry["ino"]) == (st.st_dev, st.st_ino)
    known = (entry is not None and k > 0 and st.st_size >= k and at_k == entry["sha256"]
             and (same or st.st_size == k))
    # an earlier dlexam recorded an interrupted download by its whole contents
    legacy = not known and sha.hexdigest() in out.recorded_sums(name)
    return entry, k, sha, same, known, legacy


def drop_partial(out: OutputDir, name: str) -> bool:
    """Remove the partial file `name` and its entry where it is dlexam's own as :func:`open_partial` would take it
    (no longer needed: the finished file is there); whether it was removed. Anything else there (another program's
    file, a link, a folder) is left untouched, also with ``out.force``; an entry whose file is gone goes. Call it
    holding the folder's lock."""
    path = out.file(name)
    out.sweep_temporaries(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        if out.partial_entry(name) is not None:
            out.record_partial(name, None)
        return False
    except OSError:  # a link (ELOOP), or unreadable: not touched
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        entry, _, _, _, known, legacy = _identify(out, name, fd, st)
        if not (known or legacy):
            return False
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):  # replaced meanwhile: not the file checked
            return False
        os.unlink(path)
    finally:
        os.close(fd)
    out.record_partial(name, None)
    return True


def open_partial(out: OutputDir, name: str) -> PartialFile:
    """dlexam's partial file `name` in `out`, to append to: absent (created on the first write), or the one the
    record describes (see the module docstring). A link, a folder or a special file there is refused untouched;
    another program's file of that name is refused, or with ``out.force`` removed so the transfer starts afresh.
    Call it holding the folder's lock: a killed run's temporary first block is swept away here."""
    part = PartialFile(out, name)
    out.sweep_temporaries(name)
    refuse_unsafe_target(part.path)
    try:
        fd = os.open(part.path, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return part
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(f"{part.path} is a symbolic link; dlexam never writes through one (not touching it)"
                            ) from None
        raise write_error(part.path, exc) or UserError(f"cannot use {part.path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{part.path} is not a regular file; not touching it")
        entry, k, sha, same, known, legacy = _identify(out, name, fd, st)
    except BaseException:
        os.close(fd)
        raise
    if not (known or legacy) or st.st_size == 0:
        os.close(fd)
        if not (known or legacy) and not out.force:
            raise UserError(f"{part.path} exists and was not written by dlexam; not appending to it or removing it "
                            "(remove it, or force starts this download afresh)")
        os.unlink(part.path)  # with force, or dlexam's own empty file
        if entry is not None or legacy:
            out.record_partial(name, None)
        return part
    part._fd, part._ident, part._sha, part.size = fd, (st.st_dev, st.st_ino), sha, st.st_size
    if known and same:
        part._recorded = k
    else:  # the entry is made for this file as it is now (its inode, all its bytes)
        part._recorded = -1
        try:
            part.checkpoint()
        except BaseException:
            part.close()
            raise
    return part
