"""A clone without ../shared works: what needs the exam text or the shared data checks for it before any
work and says in one line what is missing and where it looked (exit 2); the report can build the rest
and say what it left out; an --exam file that is not a text is one line too."""

from __future__ import annotations

import pytest

from dlexam.answers import exam_source

from .helpers import assert_refused, run_cli


@pytest.fixture
def no_shared(tmp_path, monkeypatch):
    empty = tmp_path / "empty-shared"
    empty.mkdir()
    monkeypatch.setenv("DLEXAM_SHARED", str(empty))
    monkeypatch.delenv("DLEXAM_EXAM", raising=False)
    exam_source.exam_text.cache_clear()
    yield empty
    exam_source.exam_text.cache_clear()


def test_report_refuses_before_any_work_when_shared_data_is_missing(tmp_path, no_shared):
    """The issue's case: `report --quick` with DLEXAM_SHARED pointing nowhere worked 25 s, then wrote a
    partial page with two FAILED sections and exit 1."""
    out = tmp_path / "report"
    p = run_cli("report", "--quick", "--out", str(out), env={"DLEXAM_SHARED": str(no_shared)})
    assert_refused(p, "the answer key needs the exam text", "activations", "skip-connections",
                   "mnist-t10k", str(no_shared), "--skip-missing")
    assert "FAILED" not in p.stderr.decode() and not out.exists()  # nothing built, nothing written
    # and no section began: assert_refused found the refusal as stderr's only line (no timing: tests assert none)


def test_answers_refuse_in_one_line_without_the_exam_text(no_shared):
    p = run_cli("answers", env={"DLEXAM_SHARED": str(no_shared)})
    assert_refused(p, "exam", str(no_shared))


@pytest.mark.parametrize("content", [bytes(range(256)) * 40, b"\x89PNG\r\n\x1a\n" + b"\x00" * 500])
@pytest.mark.parametrize("command", [["answers"], ["answers", "--question", "Pr2.3"], ["report", "--quick"]])
def test_an_exam_file_that_is_not_text_is_one_line(tmp_path, command, content):
    """The issue's case: `answers --exam` on a binary file exited 1 with a UnicodeDecodeError traceback."""
    binary = tmp_path / "exam.bin"
    binary.write_bytes(content)
    argv = [*command, "--exam", str(binary)] + (["--out", str(tmp_path / "r")] if "report" in command else [])
    assert_refused(run_cli(*argv), "exam.bin", "not the exam text")
    assert not (tmp_path / "r").exists()


def test_the_report_without_shared_data_keeps_what_needs_none(no_shared):
    from dlexam.experiments.registry import MODULES, SHARED_INPUTS
    from dlexam.report import ReportSettings, default_sections
    from dlexam.report.build import missing_inputs, without_missing

    settings, sections, missing = without_missing(ReportSettings(quick=True), default_sections())
    assert [s.id for s in sections] == [s.id for s in default_sections() if s.id != "answer-key"]
    assert settings.experiments == tuple(n for n in MODULES if n not in SHARED_INPUTS)
    assert set(missing) == {"answer-key", *(f"experiment {n}" for n in SHARED_INPUTS)}
    assert all(str(no_shared) in why for why in missing.values())  # each says where it looked
    assert missing_inputs(settings, sections) == {}


def test_the_experiments_that_read_shared_data_are_the_ones_declared():
    """SHARED_INPUTS is what the report checks before any work: every experiment whose module reads the
    shared MNIST digits must be in it, and nothing else."""
    import importlib
    import inspect

    from dlexam.experiments.registry import MODULES, SHARED_INPUTS

    reads = {name for name, module in MODULES.items()
             if "load_digits" in inspect.getsource(importlib.import_module(module))
             or "load_mnist" in inspect.getsource(importlib.import_module(module))}
    assert reads == set(SHARED_INPUTS)


def test_the_report_with_skip_missing_says_what_it_left_out(tmp_path, no_shared, monkeypatch, capsys):
    """--skip-missing builds the rest (here: a stand-in for the build, so the test stays fast) and says
    in one line each what it skipped and why."""
    from dlexam.cli import main
    from dlexam.report import build

    built = {}

    def fake_build(out, settings, sections, progress=None):
        built.update(settings=settings, sections=[s.id for s in sections])
        raise SystemExit(0)

    monkeypatch.setattr(build, "build_report", fake_build)
    monkeypatch.setattr("dlexam.report.build_report", fake_build)
    with pytest.raises(SystemExit):
        main(["report", "--quick", "--skip-missing", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("dlexam: skipped: ") for line in err)
    assert "answer-key" not in built["sections"] and "activations" not in built["settings"].experiments
