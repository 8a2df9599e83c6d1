"""Writing one file safely: atomically, never over or through anything that is not a regular file.

:func:`atomic_open` / :func:`atomic_path` write to a temporary file in the same folder, then rename it onto
the target: a reader never sees a half-written file, and an interrupted write never replaces a good one. A
target that is a symbolic link, a folder or a special file is refused before anything is written (a rename
would replace the link; dlexam never writes through one). A full disk or a refused permission is one line
naming the file (:class:`WriteError`), never an ``OSError`` traceback.

The folder a command writes into (what dlexam wrote there, its lock) is :mod:`dlexam.files.folder`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from dlexam.errors import UserError

# errno -> the words of the one-line error (the causes a user's machine, not dlexam, is responsible for)
WRITE_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EFBIG: "the file is larger than this system allows",
}


class WriteError(UserError):
    """A file could not be written for a reason outside dlexam (full disk, permissions): one line."""

    def __init__(self, path: str | os.PathLike, exc: OSError) -> None:
        super().__init__(f"cannot write {path}: {WRITE_ERRORS.get(exc.errno, exc.strerror or str(exc))}")
        self.path, self.errno = str(path), exc.errno


def write_error(path: str | os.PathLike, exc: OSError) -> WriteError | None:
    """`exc` as a :class:`WriteError` naming `path` (or the file the error names), if the user's machine
    caused it (full disk, quota, permissions, read-only); None for anything else."""
    if exc.errno not in WRITE_ERRORS:
        return None
    named = getattr(exc, "filename", None)
    if named is not None and not Path(str(named)).name.endswith(".tmp"):
        path = named  # the error is about another file than the temporary one (a folder, say)
    return WriteError(path, exc)


def refuse_unsafe_target(path: str | os.PathLike) -> None:
    """Refuse (one line, nothing touched) to replace a symbolic link, a folder or a special file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_error(path, exc) or UserError(f"cannot use {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise UserError(f"{path} is a symbolic link; dlexam never writes through one (not replacing it)")
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{path} is a folder; not replacing it")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{path} is not a regular file; not replacing it")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, commit: Callable[[Path, Path], None] | None = None) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a path (a compiler, say); on success the
    file there is renamed onto `path` (by `commit(tmp, path)` where given), on failure removed.

    Refused before anything is written: a `path` that is a link, a folder or a special file. A full
    disk or a refused permission becomes a :class:`WriteError` naming `path`."""
    path = Path(path)
    refuse_unsafe_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc) or exc from None
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        yield Path(tmp)
        if commit is not None:
            commit(Path(tmp), path)
        else:
            refuse_unsafe_target(path)  # again: something may have been put there meanwhile
            os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and (err := write_error(path, exc)) is not None:
            raise err from None
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *,
                commit: Callable[[Path, Path], None] | None = None) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` on success (see atomic_path)."""
    with atomic_path(path, commit=commit) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
