"""docs/variants.md's example is what `dlexam variant --seed 1` prints now (exam and solution)."""

from __future__ import annotations

from pathlib import Path

from dlexam.variants import documents, make_variant

DOC = Path(__file__).resolve().parents[2] / "docs" / "variants.md"
MARK = "<!-- seed 1: generated -->\n"


def example() -> str:
    v = make_variant(1)
    text = documents.markdown(v) + "\n" + documents.markdown(v, solution=True)
    return "".join("##" + line if line.startswith("#") else line for line in text.splitlines(keepends=True))


def test_the_seed_1_example_is_current():
    doc = DOC.read_text()
    assert MARK in doc
    assert doc.split(MARK, 1)[1] == example(), "regenerate: python tests/variants/test_docs.py"


if __name__ == "__main__":  # rewrite the example in place
    head = DOC.read_text().split(MARK, 1)[0]
    DOC.write_text(head + MARK + example())
