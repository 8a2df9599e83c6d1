"""Where the project's shared data live: $DLEXAM_SHARED, else the folder `shared` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """The shared folder (it holds data/mnist-t10k, data/chars74k-digits ...); it may not exist."""
    env = os.environ.get("DLEXAM_SHARED")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[2]  # src/dlexam/shared.py -> the repository root
    return checkout.parent / "shared"
