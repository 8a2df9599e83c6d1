"""`dlexam variant` prints readable text to a terminal (no Markdown escapes), while the .md files it writes stay
Markdown with its escapes (audit of 2026-12-07: the terminal showed `w \\<- w - eta (h\\_2 - y) ...`)."""

from __future__ import annotations

from dlexam.cli import main

# Variant 3's P1.6 answer and P1.1's limit, typed by hand as a reader should see them.
RNN_STEP = "w <- w - eta (h_2 - y) g'(z_2) h_1"
LIMIT = "T -> 0+"


def test_the_terminal_solution_has_no_markdown_escapes(capsys):
    assert main(["variant", "--seed", "3", "--solution"]) == 0
    out = capsys.readouterr().out
    assert RNN_STEP in out and LIMIT in out
    assert "\\" not in out


def test_the_written_solution_stays_escaped_markdown(capsys, tmp_path):
    assert main(["variant", "--seed", "3", "--out", str(tmp_path / "v"), "--format", "markdown"]) == 0
    md = (tmp_path / "v" / "solution.md").read_text(encoding="utf-8")
    assert r"w \<- w - eta (h\_2 - y) g'(z\_2) h\_1" in md and r"T -\> 0+" in md
