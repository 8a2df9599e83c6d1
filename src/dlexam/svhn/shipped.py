"""The exam CNN that ships with dlexam: Problem 1's network (Version A's layer table), trained to read real digits.

``shipped.pt`` beside this file is an ordinary dlexam checkpoint (kind ``svhn-cnn``, loaded with
``weights_only``), made by ``dlexam svhn train --recipe shipped --seed SEED --out R`` (the file is
R/model.pt). It is loaded like any other checkpoint, by :func:`dlexam.svhn.inference.load_model`
(``load_model(None)``): `svhn predict` and `svhn evaluate` use it when no --checkpoint is given,
`dlexam serve` without --svhn-checkpoint, and the demo. Its ``extra`` holds the recipe, the seed,
the training history and the real-data checks measured when it was made; its ``provenance`` the
torch version, thread count and CPU capability it was trained with.
"""

from __future__ import annotations

from pathlib import Path

FILE = "shipped.pt"


def shipped_path() -> Path:
    """The shipped checkpoint's path inside the installed package."""
    return Path(__file__).resolve().parent / FILE


def describe_payload(payload: dict) -> str:
    """One line saying which model is used and how to rebuild it, from the shipped checkpoint's payload."""
    settings = (payload.get("extra") or {}).get("settings") or {}
    how = settings.get("command", "dlexam svhn train --recipe shipped --out OUT")
    n = sum(t.numel() for t in payload["state_dict"].values())  # every tensor of this model is a trained weight
    return f"the shipped exam CNN ({FILE}, {n:,} parameters; rebuilt by `{how}`)"
