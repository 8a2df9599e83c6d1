"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DLEXAM_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def exam_text() -> str:
    path = SHARED / "exam" / "deep-learning-final-exam-2025-01-22-version-A.txt"
    if not path.exists():
        pytest.skip(f"exam text not found at {path}")
    return path.read_text()
