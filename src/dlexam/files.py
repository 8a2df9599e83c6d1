"""Writing files safely: atomically, never over a file dlexam did not write, one writer per folder.

- :func:`atomic_open` writes to a temporary file in the same folder, then renames it onto the
  target: a reader never sees a half-written file, and an interrupted write never replaces a good one.
- :class:`OutputDir` is a folder a command writes into, checked before any work is done: it must be
  a folder (not a file, not a dangling link) that can be created and written. Every file written
  through it is recorded with its SHA-256 in the folder's ``.dlexam-files.json``; a file that is
  there but not recorded (or changed since) was not written by dlexam and is never replaced unless
  the caller says ``force``.
- ``OutputDir(..., lock=True)`` also holds an exclusive lock on the folder (``.dlexam.lock``,
  ``fcntl.flock``) while it is in use: a second writer gets a one-line error. The kernel drops the
  lock when its process dies, so a killed run leaves no stale lock behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from dlexam.errors import UserError

MANIFEST = ".dlexam-files.json"
LOCK = ".dlexam.lock"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a path (a compiler, say); on success the
    file there is renamed onto `path`, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path` for writing; rename it onto `path` on success."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
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


def check_writable_dir(path: str | os.PathLike, what: str = "out") -> Path:
    """Create `path` if needed and make sure files can be written there; one clear error otherwise."""
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise UserError(f"{what} {p} is a dangling symbolic link")
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {p} exists and is not a folder")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{what} {p}: {parent} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        raise UserError(f"cannot write into {what} {p}: {exc.strerror or exc}") from None
    return p


class OutputDir:
    """A folder a command writes into (see the module docstring). Check it before any work."""

    def __init__(self, path: str | os.PathLike, *, force: bool = False, lock: bool = False, what: str = "out"):
        self.path = check_writable_dir(path, what)
        self.force = force
        self.what = what
        self._lock_fd: int | None = None
        if lock:
            self._take_lock()

    # ---- the lock -------------------------------------------------------------------------------
    def _take_lock(self) -> None:
        import fcntl

        lock = self.path / LOCK
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.what} {self.path} is in use by {holder}; wait for it or choose another "
                            "folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()}".encode())
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (also released when the process ends)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- what dlexam wrote here ------------------------------------------------------------------
    def _manifest(self) -> dict[str, str]:
        try:
            data = json.loads((self.path / MANIFEST).read_text())
            return {str(k): str(v) for k, v in data.get("files", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def owns(self, name: str) -> bool:
        """Whether `name` here is a file dlexam wrote and nobody has changed since."""
        target = self.path / name
        recorded = self._manifest().get(name)
        return recorded is not None and target.is_file() and sha256_of(target) == recorded

    def claim(self, *names: str) -> None:
        """Refuse, before any work, to replace a file here that dlexam did not write (unless force)."""
        for name in names:
            target = self.path / name
            if target.is_symlink() or target.is_dir():
                raise UserError(f"{target} is {'a link' if target.is_symlink() else 'a folder'}; not replacing it")
            if target.exists() and not self.force and not self.owns(name):
                raise UserError(f"{target} exists and was not written by dlexam; not replacing it "
                                "(force replaces it)")

    def file(self, name: str) -> Path:
        """The path of `name` in this folder."""
        return self.path / name

    def record(self, *names: str) -> None:
        """Note that dlexam has just written these files (atomically) here."""
        manifest = self._manifest()
        for name in names:
            manifest[name] = sha256_of(self.path / name)
        atomic_write_text(self.path / MANIFEST, json.dumps({"files": manifest}, indent=1, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def open(self, name: str, mode: str = "wb") -> Iterator[IO]:
        """Write `name` atomically (after checking it may be replaced), then record it."""
        self.claim(name)
        with atomic_open(self.path / name, mode) as f:
            yield f
        self.record(name)

    def write_bytes(self, name: str, data: bytes) -> Path:
        with self.open(name) as f:
            f.write(data)
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))
