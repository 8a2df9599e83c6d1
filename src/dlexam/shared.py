"""Where the project's shared, read-only data live: the exam text, MNIST, Chars74K.

One lookup for every module (the answer key, the MNIST reader, the experiments, the tests):

1. an explicit setting: ``DLEXAM_SHARED`` names the shared folder (the CLI's global ``--shared DIR``
   sets it), and ``DLEXAM_EXAM`` names the exam text itself (``dlexam answers --exam FILE``);
2. otherwise ``../shared`` next to the source checkout this package runs from (an editable install,
   as ``make`` makes it).

A non-editable install has no checkout, so it needs the setting. Where nothing is found the caller
gets :class:`SharedDataMissing`, a one-line error saying what was looked for and where: never a
silent substitute.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlexam.errors import UserError, missing, unusable_path

ENV_SHARED = "DLEXAM_SHARED"
ENV_EXAM = "DLEXAM_EXAM"
EXAM_FILE = "deep-learning-final-exam-2025-01-22-version-A.txt"


class SharedDataMissing(UserError):
    """A shared file or folder the computation needs is not where the lookup says it should be."""


def checkout_root() -> Path | None:
    """The source checkout this module runs from (src layout), or None in an installed copy."""
    root = Path(__file__).resolve().parents[2]  # src/dlexam/shared.py -> the checkout
    if (root / "pyproject.toml").is_file() and (root / "src" / "dlexam").is_dir():
        return root
    return None


def shared_dir() -> Path | None:
    """The shared folder: $DLEXAM_SHARED, else ../shared next to the checkout; None if neither is set up."""
    if os.environ.get(ENV_SHARED):
        return Path(_usable(os.environ[ENV_SHARED], f"${ENV_SHARED} or --shared"))
    root = checkout_root()
    if root is not None and (root.parent / "shared").is_dir():
        return root.parent / "shared"
    return None


def _usable(text: str, given_by: str) -> str:
    """A path from the environment, refused in one line where the file system cannot even look at it (a name too
    long: a traceback from `DLEXAM_EXAM=<300 characters> dlexam answers` until 2026-12-07)."""
    problem = unusable_path(text)
    if problem is not None:
        raise SharedDataMissing(f"{problem} (given by {given_by})")
    return text


def _where() -> str:
    if os.environ.get(ENV_SHARED):
        return f"{ENV_SHARED}={os.environ[ENV_SHARED]}"
    root = checkout_root()
    if root is None:
        return f"this dlexam is not run from a checkout; set {ENV_SHARED} (or --shared DIR)"
    return f"looked in {missing(root.parent / 'shared')}; set {ENV_SHARED} (or --shared DIR) to another folder"


def shared_path(*parts: str) -> Path:
    """A path inside the shared folder, which must exist: raises SharedDataMissing otherwise."""
    root = shared_dir()
    path = None if root is None else root.joinpath(*parts)
    if path is None:
        raise SharedDataMissing(f"shared data {'/'.join(parts)} not found ({_where()})")
    if not path.exists():  # a dangling link, for the folder or the data, named as one
        raise SharedDataMissing(f"shared data {'/'.join(parts)} not found: {missing(path)} ({_where()})")
    return path


def exam_path() -> Path:
    """The exam text: $DLEXAM_EXAM, else exam/<EXAM_FILE> in the shared folder."""
    if os.environ.get(ENV_EXAM):
        path = Path(_usable(os.environ[ENV_EXAM], f"--exam or ${ENV_EXAM}"))
        if not path.is_file():
            what = (f"not found: {missing(path)}" if not path.exists()
                    else f"not a regular file (a folder, a device or a pipe): {path}")
            # the path as the user gave it (`--exam FILE` sets the variable): not "DLEXAM_EXAM=FILE" alone
            raise SharedDataMissing(f"exam text {what} (given by --exam or ${ENV_EXAM})")
        return path
    return shared_path("exam", EXAM_FILE)


MAX_EXAM_BYTES = 5_000_000  # the exam text is about 60 kB; anything this large is another file


def exam_text(path: Path | None = None) -> str:
    """The exam text itself (`path`, else :func:`exam_path`), checked: a readable UTF-8 text file of at most
    5 MB. SharedDataMissing (one line, naming the file) where it is absent or is not a text (a binary file
    given as --exam). Whether the text is the exam is :func:`dlexam.answers.exam_source.check_exam`'s job."""
    path = exam_path() if path is None else path
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_EXAM_BYTES + 1)
    except OSError as exc:
        raise SharedDataMissing(f"exam text {path} cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_EXAM_BYTES:
        raise SharedDataMissing(f"{path} is not the exam text (larger than {MAX_EXAM_BYTES:,} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise SharedDataMissing(f"{path} is not the exam text (not a UTF-8 text file)")
    return text


def how_to_get() -> str:
    """One sentence: where dlexam looked for the shared folder, and how to point it at one."""
    here = shared_dir()
    looked = f"{ENV_SHARED}={os.environ[ENV_SHARED]}" if os.environ.get(ENV_SHARED) else \
        (str(here) if here is not None else "../shared next to the checkout (absent)")
    return (f"looked in {looked}; point {ENV_SHARED} or --shared DIR at the project's shared folder (exam/, "
            "data/mnist-t10k, data/chars74k-digits), or put it next to the checkout as ../shared")


def find(*parts: str) -> Path | None:
    """Like :func:`shared_path`, but None where it is missing (for tests that skip, and optional views)."""
    try:
        return shared_path(*parts)
    except SharedDataMissing:
        return None
