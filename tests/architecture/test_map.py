"""docs/architecture.md is the map: every module under src/dlexam is on it.

A module counts as named when the map gives its path (`sorting/vocab.py`, or `experiments/training.` before one
of its names), its dotted name (`sorting.vocab`), or its file name in a line or bullet that also names its folder
(`- **Sorters** (`sorting/`): `compiled.py` ...`). Two folders are mapped as a pattern, not file by file: the
command modules (`commands/NAME.py`, one per command group) and the report's sections (`report/sections/`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "dlexam"
MAP = ROOT / "docs" / "architecture.md"
BY_PATTERN = ("commands/", "report/sections/")


def _chunks(text: str) -> list[str]:
    """The map cut into paragraphs, bullets and table rows: the places where a file name meets its folder."""
    return [c for c in re.split(r"\n\s*\n|\n(?=- )|\n(?=\|)", text) if c.strip()]  # a bullet keeps its sub-bullets


def named(relative: str, text: str, chunks: list[str]) -> bool:
    stem = relative[: -len(".py")]
    edge = r"(?<![\w./])"  # not the tail of a longer name or path: exact.py is not geoff/exact.py
    if re.search(rf"{edge}{re.escape(relative)}(?!\w)", text) or re.search(rf"{edge}{re.escape(stem)}\.[a-z_]", text):
        return True  # its path, or its path before one of its names: experiments/training.train_steps
    if "/" in stem and re.search(rf"{edge}{re.escape(stem.replace('/', '.'))}\b", text):
        return True  # a dotted name: svhn.inference (for a top-level module, the word alone says nothing)
    folder, _, name = relative.rpartition("/")
    word = re.compile(rf"{edge}{re.escape(name)}(?!\w)")
    inner = folder.rpartition("/")[2]  # svhn/data/mnist.py: "`data/`: `official.py`, `mnist.py`" in svhn's bullet
    return any(word.search(c) and (not folder or f"{inner}/" in c) for c in chunks)


def test_every_module_is_on_the_map():
    text = MAP.read_text(encoding="utf-8")
    chunks = _chunks(text)
    modules = [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py"]
    assert len(modules) > 100
    missing = [m for m in modules if not m.startswith(BY_PATTERN) and not named(m, text, chunks)]
    assert missing == [], f"modules docs/architecture.md does not name: {missing}"


def test_the_check_finds_a_module_left_out():
    text = ("- **Sorters** (`sorting/`): `compiled.py` sets exact weights\n"
            "- **The CNN** (`svhn/`):\n  - `data/`: `official.py`\n\n"
            "`geoff/exact.py`; `svhn.inference.load_model`; `experiments/training.train_steps`")
    chunks = _chunks(text)
    for module in ("sorting/compiled.py", "svhn/data/official.py", "geoff/exact.py", "svhn/inference.py",
                   "experiments/training.py"):
        assert named(module, text, chunks), module
    for module in ("sorting/vocab.py", "geoff/compiled.py", "geoff/exact_more.py", "exact.py"):
        assert not named(module, text, chunks), module
    assert not named("plain.py", "`explain.py`, plain digits", _chunks("`explain.py`, plain digits"))
