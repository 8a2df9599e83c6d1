"""`dlexam answers` end to end: the table, one question in full, JSON, and a bad id."""

from __future__ import annotations

import json

import pytest

from dlexam.answers import QUESTION_IDS
from dlexam.cli import main

EXPECTED_IDS = ([f"P1.{i}" for i in range(1, 9)] + ["P2.1", "P2.2", "P2.3"] + [f"Pr1.{i}" for i in range(1, 5)]
                + [f"Pr2.{i}" for i in range(1, 6)])


@pytest.fixture(scope="module")
def key_json(exam_text):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["answers", "--json"]) == 0
    return json.loads(buf.getvalue())


def test_json_lists_all_twenty_questions(key_json):
    assert list(QUESTION_IDS) == EXPECTED_IDS
    assert [a["id"] for a in key_json] == EXPECTED_IDS
    for a in key_json:
        assert {"id", "question", "exam_answer", "computed", "verdict", "evidence"} <= set(a)
        assert a["verdict"] in ("agrees", "partly agrees", "disagrees", "conceptual")
        assert a["evidence"] and a["computed"] and a["exam_answer"]
        assert a["exam_quotes_found"] is True
        if a["verdict"] in ("partly agrees", "disagrees"):
            assert a["explanation"]
        if a["verdict"] == "conceptual":
            assert a["experiment"] or a["explanation"]
    assert {a["id"] for a in key_json if a["verdict"] == "disagrees"} == {"Pr2.4"}
    assert {a["id"] for a in key_json if a["verdict"] == "partly agrees"} == {"Pr2.5"}


def test_every_quote_is_in_the_exam(key_json, exam_text):
    for a in key_json:
        for q in a["exam_quotes"]:
            assert q in exam_text, (a["id"], q)


def test_table_and_one_question(capsys, exam_text):
    from dlexam.commands.answers import render_table

    table = render_table([{"id": "P1.4", "verdict": "agrees", "exam_answer": "126 \\times 42", "computed": "x"}], 100)
    assert "P1.4" in table and "126 × 42" in table
    assert main(["answers", "--question", "pr2.4"]) == 0
    out = capsys.readouterr().out
    assert "Pr2.4" in out and "disagrees" in out and "Evidence:" in out


def test_one_question_as_json(capsys, exam_text):
    assert main(["answers", "-q", "Pr1.2", "--json"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert a["id"] == "Pr1.2" and a["evidence"]["torch_layers"]["Conv-2"] == 2064


def test_unknown_question_is_one_line_and_exit_2(capsys):
    assert main(["answers", "--question", "P9.9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dlexam: error: unknown question") and err.count("\n") == 1


def test_missing_exam_text_is_a_user_error(capsys, monkeypatch, tmp_path):
    from dlexam.answers import exam_source

    monkeypatch.setenv("DLEXAM_EXAM", str(tmp_path / "no-such-exam.txt"))
    exam_source.exam_text.cache_clear()
    try:
        assert main(["answers", "-q", "P1.4"]) == 2
        err = capsys.readouterr().err
        assert "exam text not found" in err and "no-such-exam.txt" in err and err.count("\n") == 1
    finally:
        monkeypatch.undo()
        exam_source.exam_text.cache_clear()


def test_every_question_renders_in_full_and_in_the_table(key_json):
    from dlexam.commands.answers import render_question, render_table

    table = render_table(key_json, width=120)
    for a in key_json:
        assert a["id"] in table
        text = render_question(a)
        assert text.startswith(f"{a['id']}: ") and f"Verdict:      {a['verdict']}" in text
    assert "1 partly agree, 1 disagree" in table and "Pr2.4 disagrees:" in table
    assert "  Pr2.5 partly agrees: Agrees in part." in table


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_an_exam_that_is_not_a_regular_file_is_named_so(capsys, monkeypatch, tmp_path, kind):
    """--exam /dev/null or a folder was reported as "not found"; it is there, it is not a file."""
    from dlexam.answers import exam_source

    path = tmp_path if kind == "folder" else "/dev/null"
    monkeypatch.setenv("DLEXAM_EXAM", str(path))
    exam_source.exam_text.cache_clear()
    try:
        assert main(["answers", "-q", "P1.4"]) == 2
        err = capsys.readouterr().err
        assert "not a regular file" in err and str(path) in err and err.count("\n") == 1
    finally:
        monkeypatch.undo()
        exam_source.exam_text.cache_clear()
