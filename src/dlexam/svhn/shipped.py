"""The exam CNN that ships with dlexam: Problem 1's network (Version A's layer table), trained to read real digits.

``shipped.pt`` beside this file is an ordinary dlexam checkpoint (kind ``svhn-cnn``, loaded with
``weights_only``), made by ``dlexam svhn train --recipe shipped --seed SEED --out R`` (the file is
R/model.pt). `svhn predict` and `svhn evaluate` use it when no --checkpoint is given, and the
demo uses it through :func:`shipped_model`. Its ``extra`` holds the recipe, the seed, the
training history and the real-data checks measured when it was made.
"""

from __future__ import annotations

from pathlib import Path

FILE = "shipped.pt"


def shipped_path() -> Path:
    """The shipped checkpoint's path inside the installed package."""
    return Path(__file__).resolve().parent / FILE


def shipped_model():
    """-> (ExamCNN in eval mode, the checkpoint payload): the default model for real digits."""
    from dlexam.svhn.model import load_checkpoint

    return load_checkpoint(shipped_path())


def describe() -> str:
    """One line saying which model is used and how to rebuild it (the CLI prints it on stderr)."""
    from dlexam import checkpoint

    payload = checkpoint.load(shipped_path(), kind="svhn-cnn")
    settings = (payload.get("extra") or {}).get("settings") or {}
    how = settings.get("command", "dlexam svhn train --recipe shipped --out OUT")
    n = sum(t.numel() for t in payload["state_dict"].values())  # every tensor of this model is a trained weight
    return f"using the shipped exam CNN ({shipped_path().name}, {n:,} parameters; rebuilt by `{how}`)"
