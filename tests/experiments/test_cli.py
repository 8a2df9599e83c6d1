"""The `dlexam experiment` command: usage errors are one line and exit 2; --json prints the result."""

from __future__ import annotations

import json

import pytest

from dlexam.cli import main
from dlexam.errors import UserError
from dlexam.experiments import EXPERIMENTS, MODULES, ExperimentRun, run_experiment


def test_registry_lists_the_six_experiments():
    assert set(EXPERIMENTS) == {
        "separable-logreg",
        "activations",
        "skip-connections",
        "attention-temperature",
        "batch-size",
        "pooling",
    }
    assert list(EXPERIMENTS.keys()) == list(MODULES)
    # a real mapping: .get and .items see every entry (a lazy dict subclass once answered None here)
    assert EXPERIMENTS.get("pooling") is EXPERIMENTS["pooling"] and callable(EXPERIMENTS.get("pooling"))
    assert [name for name, _ in EXPERIMENTS.items()] == list(MODULES)


def test_unknown_experiment_is_a_usage_error(capsys):
    assert main(["experiment", "no-such-thing", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice" in err and len(err.strip().splitlines()) == 1


def test_out_that_is_a_file_is_a_user_error(tmp_path, capsys):
    f = tmp_path / "occupied"
    f.write_text("keep me")
    assert main(["experiment", "separable-logreg", "--quick", "--out", str(f)]) == 2
    err = capsys.readouterr().err
    said = err.startswith("dlexam experiment: error: argument --out: ")  # as the parser reads --out, before torch
    assert said and "not a folder" in err and len(err.strip().splitlines()) == 1, err
    assert f.read_text() == "keep me"


def test_run_experiment_rejects_unknown_names(tmp_path):
    with pytest.raises(UserError):
        run_experiment(ExperimentRun("nope", tmp_path))


def test_load_result_reads_what_a_run_wrote(tmp_path):
    from dlexam.experiments import load_result

    assert load_result("pooling", tmp_path) is None
    written = {"name": "pooling", "claim": "c", "claim_source": "s", "verdict": "supported", "finding": "f",
               "table": [], "figures": [], "numbers": {}, "config": {}, "quick": True, "seconds": 1.0,
               "json": str(tmp_path / "result.json"), "data": "d", "something_else": 3}
    (tmp_path / "result.json").write_text(json.dumps(written))
    got = load_result("pooling", tmp_path)
    assert got.verdict == "supported" and got.extra == {"something_else": 3} and got.to_json() == written
    (tmp_path / "result.json").write_text('{"name": "pooling"}')  # not a whole result
    with pytest.raises(UserError):
        load_result("pooling", tmp_path)
    (tmp_path / "result.json").write_text("{truncated")
    with pytest.raises(UserError):
        load_result("pooling", tmp_path)


def test_unwritable_out_is_a_user_error(tmp_path):
    import os

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(UserError, match="not writable"):
            run_experiment(ExperimentRun("separable-logreg", ro, quick=True))
    finally:
        ro.chmod(0o700)
