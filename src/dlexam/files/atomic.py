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
import secrets
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


class LinkRefused(UserError):
    """A symbolic link where dlexam would read or write a file: refused, never followed."""


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


def refuse_unsafe_target(path: str | os.PathLike, *, dir_fd: int | None = None) -> None:
    """Refuse (one line, nothing touched) to replace a symbolic link, a folder or a special file. With `dir_fd`,
    the file of `path`'s name in that open folder."""
    try:
        st = os.lstat(path if dir_fd is None else Path(path).name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise write_error(path, exc) or UserError(f"cannot use {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(st.st_mode):
        raise LinkRefused(f"{path} is a symbolic link; dlexam never writes through one (not replacing it)")
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
                commit: Callable[[Path, Path], None] | None = None, folder_link: bool = True) -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` on success (see atomic_path).

    `folder_link=False`: `path`'s folder may not be a symbolic link either, and no check is apart from the write:
    the folder is opened without following a link (:func:`open_folder_unlinked`), the temporary file is made in it
    and renamed onto `path` through that descriptor, so a link put in place of the folder after any check of the
    caller's is refused (:class:`LinkRefused`), never written through."""
    if not folder_link:
        if commit is not None:
            raise ValueError("atomic_open: commit goes with a path, folder_link=False writes by descriptor")
        with _atomic_open_in(Path(path), mode) as f:
            yield f
        return
    with atomic_path(path, commit=commit) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def open_folder_unlinked(folder: str | os.PathLike, *, create: bool = False) -> int:
    """A descriptor of `folder`, opened relative to the folder above it with O_NOFOLLOW: where `folder` is a symbolic
    link at that moment, :class:`LinkRefused` (the check and the opening one act: a link swapped in after an earlier
    check is refused as well). The folders above it are followed as any path is. `create`: made first (with the
    folders above) where missing. The caller closes the descriptor."""
    folder = Path(folder)
    above = folder.parent
    if create:
        above.mkdir(parents=True, exist_ok=True)
    up = os.open(above, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(folder.name, 0o777, dir_fd=up)
        try:
            return os.open(folder.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=up)
        except OSError as exc:  # Linux says ENOTDIR for a link opened so, others ELOOP
            if exc.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(folder.name, up):
                raise LinkRefused(f"{folder} is a symbolic link; dlexam never reads or writes through one") from None
            raise
    finally:
        os.close(up)


def open_unlinked(path: str | os.PathLike) -> IO[bytes]:
    """`path` opened for reading where neither it nor its folder is a symbolic link, each checked as it is opened
    (O_NOFOLLOW): :class:`LinkRefused` otherwise, UserError for a file that is not a regular one, OSError where
    either is missing."""
    path = Path(path)
    folder = open_folder_unlinked(path.parent)
    try:
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise LinkRefused(f"{path} is a symbolic link; dlexam never reads through one") from None
            raise
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{path} is not a regular file")
    return os.fdopen(fd, "rb")


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
    except OSError:
        return False


@contextlib.contextmanager
def _atomic_open_in(path: Path, mode: str) -> Iterator[IO]:
    """atomic_open with `folder_link=False`: every step by the folder's descriptor."""
    try:
        folder = open_folder_unlinked(path.parent, create=True)
    except OSError as exc:
        raise write_error(path, exc) or exc from None
    tmp = None
    try:
        refuse_unsafe_target(path, dir_fd=folder)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        while tmp is None:
            name = f".{path.name}.{secrets.token_hex(6)}.tmp"
            with contextlib.suppress(FileExistsError):
                fd = os.open(name, flags, 0o666, dir_fd=folder)  # the umask applies, as for open()
                tmp = name
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        refuse_unsafe_target(path, dir_fd=folder)  # again: something may have been put there meanwhile
        os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)  # a rename never follows a link
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
        if isinstance(exc, OSError) and (err := write_error(path, exc)) is not None:
            raise err from None
        raise
    finally:
        os.close(folder)


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
