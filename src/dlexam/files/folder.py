"""The folder a command writes into: checked first, one writer at a time, every file dlexam wrote recorded.

- :class:`OutputDir` is a folder a command writes into, checked before any work is done: it must be
  a folder (not a file, not a dangling link) that can be created and written. A folder it made for a
  command that then failed before writing anything is removed again on ``close`` (with the folders
  made above it, while empty), so bad input leaves no empty folder behind. Every file written
  through it is recorded with its SHA-256 in the folder's ``.dlexam-files.json``; a file that is
  there but not recorded (or changed since) was not written by dlexam and is never replaced unless
  the caller says ``force``.
- The record is updated under a lock on the folder (``flock`` on the folder itself), read afresh
  and replaced by one atomic write, so commands writing into one folder at once lose no entry.
  Replacing a file is one commit under that lock: the record first accepts the old and the new
  contents, then the file is renamed into place, then the record keeps the new one. A process
  killed at any instant leaves a file whose contents the record accepts.
- A run folder's files (``run_files``: a trainer's checkpoints and metrics, an experiment's
  results) are marked as the run's in the record: no other command replaces them, even with force
  (``svhn evaluate --png R/curves.png`` is refused).
- A run folder's record also says what made its run (``kind``: the checkpoints' kind, ``run_kind``), so that a
  trainer of another kind is refused there by name (:class:`dlexam.runs.RunFolder`), and which files other
  commands wrote there about the run (``of_run``: ``svhn evaluate``'s confusion PNG beside a run's checkpoint),
  which go with the run when a forced run replaces it.
- Nothing here is ever removed but a file dlexam wrote and nobody has changed since, on request
  (:meth:`OutputDir.remove_own`: a forced run's earlier run, :class:`dlexam.runs.RunFolder`), never
  through a link.
- ``OutputDir(..., lock=True)`` also holds an exclusive lock on the folder while it is in use
  (:func:`dlexam.files.lock.take_lock`): a second writer gets a one-line error.

Each file is written atomically (:mod:`dlexam.files.atomic`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from dlexam.errors import NotReplacing, UserError
from dlexam.files.atomic import WRITE_ERRORS, atomic_open, atomic_write_bytes, refuse_unsafe_target, sha256_of
from dlexam.files.lock import LOCK, folder_locked, take_lock
from dlexam.plain import dumps, loads

MANIFEST = ".dlexam-files.json"


def check_dir_path(path: str | os.PathLike, what: str = "out") -> Path:
    """Check, creating nothing, that `path` is or can become a folder: not a file, not a dangling link,
    not under a file; one clear error otherwise. The empty string names no folder (Path would take it for
    the current one: `--out "$UNSET"` would write there)."""
    if os.fspath(path) == "":
        raise UserError(f"{what} is empty: name a folder (. for the current one)")
    p = Path(path)
    if p.is_symlink() and not p.exists():
        raise UserError(f"{what} {p} is a dangling symbolic link")
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {p} exists and is not a folder")
    for parent in p.parents:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{what} {p}: {parent} is a file, not a folder")
        if parent.is_symlink() and not parent.exists():  # mkdir would say only "File exists"
            raise UserError(f"{what} {p}: {parent} is a dangling symbolic link")
    return p


def _absent_folders(path: Path) -> list[Path]:
    """`path` and those of its parents that do not exist yet, deepest first."""
    absent = []
    for p in (path, *path.parents):
        if p.exists() or p.is_symlink():
            break
        absent.append(p)
    return absent


def check_writable_dir(path: str | os.PathLike, what: str = "out") -> Path:
    """Create `path` if needed and make sure files can be written there; one clear error otherwise."""
    p = check_dir_path(path, what)
    try:
        p.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=p):
            pass
    except OSError as exc:
        raise UserError(f"cannot write into {what} {p}: {WRITE_ERRORS.get(exc.errno, exc.strerror or exc)}") from None
    return p


def _is_partial_entry(v: object) -> bool:
    ints = isinstance(v, dict) and all(type(v.get(k)) is int and v[k] >= 0 for k in ("dev", "ino", "size"))
    return ints and isinstance(v.get("sha256"), str) and re.fullmatch(r"[0-9a-f]{64}", v["sha256"]) is not None


class OutputDir:
    """A folder a command writes into (see the module docstring). Check it before any work."""

    def __init__(self, path: str | os.PathLike, *, force: bool = False, lock: bool = False, what: str = "out",
                 run_files: tuple[str, ...] = (), forceable: bool = True, run_kind: str | None = None,
                 of_run: bool = False):
        self._children: list[OutputDir] = []  # closed first (adopt)
        absent = _absent_folders(Path(path))
        self.path = check_writable_dir(path, what)
        self._created = tuple(p for p in absent if p.is_dir())  # the folders made here, deepest first
        self.force = force
        self.forceable = forceable  # whether the command offers force (--force): its refusals then name it
        self.what = what
        self.run_files = tuple(run_files)
        self.run_kind = run_kind  # what makes the run whose files are run_files (recorded as the record's "kind")
        self.of_run = of_run  # every file written here describes the run the folder holds (the record's "of_run")
        self._lock_fd: int | None = None
        self._lock_created = False  # whether taking the lock made the lock file (else it was there)
        self._record_made = False  # whether this OutputDir wrote the file record where there was none
        if lock:
            self._lock_fd, self._lock_created = take_lock(self.path, what)
        try:
            refuse_unsafe_target(self.path / MANIFEST)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the lock (also released when the process ends). If this OutputDir made the folder and
        nothing was written there (the command failed first), the folder goes again: the lock file,
        then each folder made for it while it is empty. In a folder that was there, a lock file this
        OutputDir made goes again if nothing of dlexam's is there (no file record): a refused command
        leaves a user's folder as it was; so does a file record this OutputDir made that holds no entry now (a
        partial download's, removed again). Nothing else is ever removed. The folders it
        adopted (:meth:`adopt`) are closed first, newest first, so an unused tree goes as a whole."""
        while self._children:
            self._children.pop().close()
        if self._record_made:
            with contextlib.suppress(OSError, UserError):
                self._drop_empty_record()
        try:
            unused = bool(self._created) and {e.name for e in os.scandir(self.path)} <= {LOCK}
        except OSError:  # the folder is gone already
            unused = False
        # the lock file this OutputDir made goes where nothing of dlexam's is (a folder it made and left unused too)
        if self._lock_fd is not None and self._lock_created and not os.path.lexists(self.path / MANIFEST):
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK)  # while still held: no other writer takes it in between
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if unused:
            for folder in self._created:
                try:
                    os.rmdir(folder)  # only if empty
                except OSError:
                    break
            self._created = ()

    def adopt(self, child: OutputDir) -> OutputDir:
        """Close `child` (a folder this command opened inside this one) when this one closes."""
        self._children.append(child)
        return child

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- what dlexam wrote here ------------------------------------------------------------------
    # The record: {"files": {name: SHA-256, or [old, new] while a replacement is committed},
    #              "run": [the names a run folder's trainer wrote: no other command replaces them],
    #              "kind": what made that run (a checkpoint kind: "svhn-cnn", "sort-transformer"; absent before
    #                      2026-12-07 and where no trainer says),
    #              "of_run": [the names other commands wrote here about that run: they go with it],
    #              "partial": {name: {"dev", "ino", "size", "sha256"}: a file dlexam appends to across runs,
    #                          known by its inode and the SHA-256 of its first `size` bytes (files/partial.py)}}

    def _read_json(self) -> dict:
        """The record as it is on disk; {} where there is none, or it is damaged or not a regular file."""
        try:
            fd = os.open(self.path / MANIFEST, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UserError(f"{self.path / MANIFEST} cannot be read ({exc.strerror or exc}); not using it") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = loads(f.read(64 << 20))  # a damaged record (nested too deeply, say) is no record
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError, TypeError):
            return {}
        finally:
            os.close(fd)

    def _drop_empty_record(self) -> None:
        """Remove the file record if it holds no entry (as :meth:`_write_record` writes an empty one), under the
        folder's lock; a record of any other shape, a link or a special file is left alone."""
        with folder_locked(self.path):
            _unlink_checked(self.path / MANIFEST, lambda f: loads(f.read(1 << 16)) == {"files": {}})

    def _read_record(self) -> tuple[dict[str, list[str]], set[str]]:
        data = self._read_json()
        try:
            files = {str(k): [str(x) for x in (v if isinstance(v, list) else [v])]
                     for k, v in data.get("files", {}).items()}
            return files, {str(n) for n in data.get("run", [])}
        except (ValueError, AttributeError, TypeError):
            return {}, set()

    def _read_partial(self) -> dict[str, dict[str, int | str]]:
        """The record's partial files (:mod:`dlexam.files.partial`): name -> {dev, ino, size, sha256}; an entry
        of any other shape is dropped."""
        entries = self._read_json().get("partial")
        if not isinstance(entries, dict):
            return {}
        return {str(k): v for k, v in entries.items() if _is_partial_entry(v)}

    def _manifest(self) -> dict[str, list[str]]:
        """name -> the SHA-256 sums its contents may have (two while a replacement is being committed)."""
        return self._read_record()[0]

    def run_record(self) -> tuple[str | None, set[str]]:
        """(what made the run here, as the record says: None where it says nothing; the files other commands wrote
        here about that run)."""
        data = self._read_json()
        kind = data.get("kind") if isinstance(data.get("kind"), str) else None
        of_run = data.get("of_run")
        return kind, {n for n in of_run if isinstance(n, str)} if isinstance(of_run, list) else set()

    def _write_record(self, files: dict[str, list[str]], run: set[str],
                      partial: dict[str, dict[str, int | str]] | None = None, *, wrote: tuple[str, ...] = ()) -> None:
        """Replace the record (call it under the folder's lock); `partial` None keeps the partial files' entries.
        `wrote`: the names this OutputDir has just written (a run file names the run's kind, and with `of_run` a
        file beside a run is recorded as the run's)."""
        record: dict = {"files": {k: v[0] if len(v) == 1 else v for k, v in sorted(files.items())}}
        kind, of_run = self.run_record()
        if self.run_kind is not None and set(wrote) & set(self.run_files):
            kind = self.run_kind
        if self.of_run and run:
            of_run |= set(wrote)
        of_run = (of_run & set(files)) - run
        if run:
            record["run"] = sorted(run)
            if kind is not None:
                record["kind"] = kind
        if of_run:
            record["of_run"] = sorted(of_run)
        partial = self._read_partial() if partial is None else partial
        if partial:
            record["partial"] = dict(sorted(partial.items()))
        if not os.path.lexists(self.path / MANIFEST):
            self._record_made = True
        atomic_write_bytes(self.path / MANIFEST, (dumps(record, indent=1) + "\n").encode())

    def partial_entry(self, name: str) -> dict[str, int | str] | None:
        """What the record says of the partial file `name` (:mod:`dlexam.files.partial`), or None."""
        return self._read_partial().get(name)

    def record_partial(self, name: str, entry: dict[str, int | str] | None) -> None:
        """Record `entry` ({dev, ino, size, sha256}) for the partial file `name`, or with None forget it, as
        one atomic write of the record under the folder's lock. A whole-contents entry an earlier dlexam
        kept for `name` goes: the partial entry is then the one record of that file."""
        with folder_locked(self.path):
            files, run = self._read_record()
            partial = self._read_partial()
            files.pop(name, None)
            if entry is None:
                partial.pop(name, None)
            else:
                partial[name] = dict(entry)
            self._write_record(files, run, partial)

    def recorded_sums(self, name: str) -> list[str]:
        """The SHA-256 sums the record accepts for `name` (none if it was not written by dlexam)."""
        return list(self._manifest().get(name, []))

    def owns(self, name: str) -> bool:
        """Whether `name` here is a file dlexam wrote and nobody has changed since."""
        target = self.path / name
        recorded = self._manifest().get(name)
        return bool(recorded) and target.is_file() and not target.is_symlink() and sha256_of(target) in recorded

    def claim(self, *names: str) -> None:
        """Refuse, before any work, to replace a file here that dlexam did not write (unless force), a
        link, a folder, or a file of a training run here (by any other writer than that run's)."""
        record = self._read_record()
        for name in names:
            target = self.path / name
            refuse_unsafe_target(target)
            if name in record[1] and name not in self.run_files and target.exists():
                raise UserError(f"{target} belongs to the run in {self.path}; not replacing it (choose another name)")
            if target.exists() and not self.force and not self.owns(name):
                head = f"{target} exists and was not written by dlexam; not replacing it ("
                raise NotReplacing(head, ["force"], ")") if self.forceable else UserError(
                    head + "move it, or choose another folder)")

    def remove_own(self, name: str) -> bool:
        """Remove `name` where it is a file dlexam wrote here and nobody has changed since, and its entry in the
        record, under the folder's lock; whether it was removed. The file is checked as opened without following a
        link (a regular file, contents the record accepts) and removed only if that is still the file at its name:
        a link (never followed), a folder, a special file, a file changed since or not recorded stays as it is."""
        with folder_locked(self.path):
            files, run = self._read_record()
            if not files.get(name) or not _unlink_checked(self.path / name,
                                                          lambda f: _sha256_of_file(f) in files[name]):
                return False
            files.pop(name)
            self._write_record(files, run - {name})
        return True

    def file(self, name: str) -> Path:
        """The path of `name` in this folder."""
        return self.path / name

    def record(self, *names: str) -> None:
        """Note that dlexam has just written these files (atomically) here."""
        with folder_locked(self.path):
            files, run = self._read_record()
            for name in names:
                files[name] = [sha256_of(self.path / name)]
            self._write_record(files, run | (set(names) & set(self.run_files)), wrote=names)

    def _claim_locked(self, name: str) -> None:
        """claim(name) under the folder's lock, so that no other writer's commit falls between reading the
        record and hashing the file (which made a file that writer had just replaced look foreign)."""
        with folder_locked(self.path):
            self.claim(name)

    def _commit(self, name: str, digest: Callable[[Path], str]) -> Callable[[Path, Path], None]:
        """The commit of a new `name` (a temporary file): under the folder's lock, check again that the
        file there may be replaced, record the new contents beside the old, rename, record the new only."""

        def commit(tmp: Path, target: Path) -> None:
            new = digest(tmp)
            with folder_locked(self.path):
                self.claim(name)
                files, run = self._read_record()
                now = sha256_of(target) if target.is_file() else None  # the contents the rename replaces
                ours = now is not None and now != new and now in files.get(name, [])
                files[name] = [now, new] if ours else [new]
                run |= {name} & set(self.run_files)
                self._write_record(files, run, wrote=(name,))  # a kill from here on leaves old or new: both recorded
                os.replace(tmp, target)
                files[name] = [new]
                self._write_record(files, run, wrote=(name,))

        return commit

    def commit(self, name: str, tmp: str | os.PathLike) -> Path:
        """Rename the finished file `tmp` (in this folder) onto `name` and record it, as one commit."""
        self._commit(name, sha256_of)(Path(tmp), self.path / name)
        return self.path / name

    @contextlib.contextmanager
    def open(self, name: str, mode: str = "wb") -> Iterator[IO]:
        """Write `name` atomically (after checking it may be replaced) and record it, as one commit."""
        self._claim_locked(name)
        with atomic_open(self.path / name, mode, commit=self._commit(name, sha256_of)) as f:
            yield f

    def write_bytes(self, name: str, data: bytes) -> Path:
        self._claim_locked(name)
        digest = hashlib.sha256(data).hexdigest()
        with atomic_open(self.path / name, "wb", commit=self._commit(name, lambda _tmp: digest)) as f:
            f.write(data)
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def sweep_temporaries(self, *names: str) -> list[str]:
        """Remove the temporary files that a killed writer of `names` left here (call it holding the
        folder's lock: no writer of these names is running). Only regular files whose names are
        exactly those :func:`atomic_path` makes are removed; returns their names."""
        patterns = [re.compile(rf"\.{re.escape(n)}\.[a-z0-9_]{{8}}\.tmp") for n in (*names, MANIFEST)]
        removed = []
        for entry in os.scandir(self.path):
            if any(p.fullmatch(entry.name) for p in patterns) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
        return removed


def _sha256_of_file(f) -> str:
    h = hashlib.sha256()
    while block := f.read(1 << 20):
        h.update(block)
    return h.hexdigest()


def _unlink_checked(target: Path, accept) -> bool:
    """Unlink `target` where it is a regular file, opened without following a link, whose contents `accept` (given
    the open file) accepts, and still the file at its name when it is unlinked; whether it was. The folder's lock is
    the caller's. A link (never followed), a folder, a special file, a file `accept` refuses or one replaced meanwhile
    stays as it is; so does everything where an OSError or a ValueError (an unreadable record) stops the check."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # gone, a link, unreadable
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False
        with os.fdopen(fd, "rb", closefd=False) as f:
            if not accept(f):
                return False
        now = os.lstat(target)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            return False
        os.unlink(target)  # first: a kill before the record changes leaves an entry of a file gone (harmless)
        return True
    except (OSError, ValueError):
        return False
    finally:
        os.close(fd)
