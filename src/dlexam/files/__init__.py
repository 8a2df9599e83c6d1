"""Writing files safely: atomically, never over or through anything dlexam did not write, one writer per folder.

- :mod:`dlexam.files.atomic`: one file written atomically (a temporary sibling renamed into place), a link,
  folder or special file refused, a full disk or refused permission as one line (:class:`WriteError`).
- :mod:`dlexam.files.lock`: a folder's lock while a command uses it (``.dlexam.lock``), and the brief lock
  that guards its file record.
- :mod:`dlexam.files.folder`: :class:`OutputDir`, the folder a command writes into: checked before any
  work, every file recorded with its SHA-256 in ``.dlexam-files.json``, a file dlexam did not write never
  replaced (unless forced), a run's own files never replaced by another command.
- :mod:`dlexam.files.partial`: a file dlexam appends to across runs (a partial download), recorded by its inode and
  the SHA-256 of its first bytes before it has its name, so that a run killed by SIGKILL leaves a file the next
  run knows as its own (:func:`open_partial`).

Everything is importable from here (``from dlexam.files import OutputDir, atomic_open``).
"""

from __future__ import annotations

from dlexam.files.atomic import (
    WRITE_ERRORS,
    LinkRefused,
    WriteError,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    open_folder_unlinked,
    open_unlinked,
    refuse_unsafe_target,
    sha256_of,
    write_error,
)
from dlexam.files.folder import MANIFEST, OutputDir, check_dir_path, check_writable_dir
from dlexam.files.lock import LOCK, folder_locked, take_lock
from dlexam.files.partial import PartialFile, drop_partial, open_partial

__all__ = [
    "LOCK", "MANIFEST", "WRITE_ERRORS", "LinkRefused", "OutputDir", "PartialFile", "WriteError", "atomic_open",
    "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_dir_path", "check_writable_dir", "drop_partial",
    "folder_locked", "open_folder_unlinked", "open_partial", "open_unlinked", "refuse_unsafe_target", "sha256_of",
    "take_lock", "write_error",
]
