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


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_shared(*parts): skip, saying why, where the shared data PARTS "
                            "(e.g. 'data', 'mnist-t10k') are absent (dlexam.shared: DLEXAM_SHARED or ../shared)")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_shared"):
        skip_without_shared(*mark.args)


def skip_without_shared(*parts: str) -> Path:
    """The shared path PARTS, or a skip that says what is missing and where dlexam looked."""
    from dlexam import shared

    found = shared.find(*parts)
    if found is None:
        pytest.skip(f"needs the shared data {'/'.join(parts)}: {shared.how_to_get()}")
    return found


@pytest.fixture(scope="session")
def need_shared():
    """need_shared('data', 'mnist-t10k') -> the path, or the test skips saying what is missing."""
    return skip_without_shared
