"""A variant's questions are in dlexam's own words: no run of 8 words (numbers and one-letter symbols aside) of
the exam's text appears in a variant's exam or solution."""

from __future__ import annotations

import re

import pytest

from dlexam import shared
from dlexam.variants import documents, make_variant

N = 8


def grams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z]{2,}", text.lower())  # words, not numbers or one-letter symbols
    return {tuple(words[i:i + N]) for i in range(len(words) - N + 1)}


def test_no_sentence_of_the_exam():
    try:
        exam = shared.exam_path().read_text()
    except Exception as exc:  # noqa: BLE001 - the exam text is in ../shared, which a clone alone lacks
        pytest.skip(f"the exam text is not here: {exc}")
    theirs = grams(exam)
    for seed in (1, 2, 3):
        v = make_variant(seed)
        ours = grams(documents.markdown(v)) | grams(documents.markdown(v, solution=True))
        shared_runs = sorted(" ".join(g) for g in ours & theirs)
        assert not shared_runs, shared_runs[:5]
