"""Writing files safely: atomically, never over or through anything dlexam did not write, one writer per folder.

- :mod:`dlexam.files.atomic`: one file written atomically (a temporary sibling renamed into place), a link,
  folder or special file refused, a full disk or refused permission as one line (:class:`WriteError`).
- :mod:`dlexam.files.lock`: a folder's lock while a command uses it (``.dlexam.lock``), and the brief lock
  that guards its file record.
- :mod:`dlexam.files.folder`: :class:`OutputDir`, the folder a command writes into: checked before any
  work, every file recorded with its SHA-256 in ``.dlexam-files.json``, a file dlexam did not write never
  replaced (unless forced), a run's own files never replaced by another command.

Everything is importable from here (``from dlexam.files import OutputDir, atomic_open``).
"""

from __future__ import annotations

from dlexam.files.atomic import (
    WRITE_ERRORS,
    WriteError,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    refuse_unsafe_target,
    sha256_of,
    write_error,
)
from dlexam.files.folder import MANIFEST, OutputDir, check_dir_path, check_writable_dir
from dlexam.files.lock import LOCK, folder_locked, take_lock

__all__ = [
    "LOCK", "MANIFEST", "WRITE_ERRORS", "OutputDir", "WriteError", "atomic_open", "atomic_path", "atomic_write_bytes",
    "atomic_write_text", "check_dir_path", "check_writable_dir", "folder_locked", "refuse_unsafe_target", "sha256_of",
    "take_lock", "write_error",
]
