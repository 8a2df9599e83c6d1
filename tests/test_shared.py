"""One lookup for the shared data (dlexam.shared): explicit setting, then ../shared beside the checkout,
else a clear error. In an installed copy (no checkout) nothing is guessed and nothing is substituted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlexam import shared

SRC = Path(__file__).resolve().parents[1] / "src" / "dlexam"


def test_the_checkout_finds_shared_beside_it(monkeypatch):
    monkeypatch.delenv(shared.ENV_SHARED, raising=False)
    root = shared.checkout_root()
    assert root is not None and (root / "pyproject.toml").is_file()
    if not (root.parent / "shared").is_dir():
        pytest.skip(f"no shared folder beside the checkout at {root.parent / 'shared'}")
    assert shared.shared_dir() == root.parent / "shared"


def test_an_explicit_setting_wins_and_a_missing_file_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(shared.ENV_SHARED, str(tmp_path))
    (tmp_path / "data").mkdir()
    assert shared.shared_path("data") == tmp_path / "data"
    named = rf"data/mnist-t10k not found: {tmp_path}/data/mnist-t10k \(DLEXAM_SHARED="  # the full path since 2026-12-07
    with pytest.raises(shared.SharedDataMissing, match=named):
        shared.shared_path("data", "mnist-t10k")
    assert shared.find("data", "mnist-t10k") is None


def test_exam_env_names_the_exam_text(tmp_path, monkeypatch):
    exam = tmp_path / "exam.txt"
    exam.write_text("x")
    monkeypatch.setenv(shared.ENV_EXAM, str(exam))
    assert shared.exam_path() == exam
    monkeypatch.setenv(shared.ENV_EXAM, str(tmp_path / "missing.txt"))
    with pytest.raises(shared.SharedDataMissing):
        shared.exam_path()


@pytest.mark.parametrize("variable", [shared.ENV_EXAM, shared.ENV_SHARED])
def test_a_name_too_long_in_the_environment_is_one_line(tmp_path, monkeypatch, capsys, variable):
    """`DLEXAM_EXAM=<a 300-character name> dlexam answers` was an OSError traceback (Path.exists raises
    ENAMETOOLONG; a flag's path was already refused as it was read)."""
    from dlexam.cli import main

    monkeypatch.setenv(variable, str(tmp_path / ("a" * 300)))
    assert main(["answers", "--question", "P1.4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a name too long for the file system" in err and variable in err, err


def _installed_copy(tmp_path: Path) -> Path:
    """dlexam copied into a site-packages-like folder: a non-editable install, no checkout around it."""
    site = tmp_path / "site-packages"
    shutil.copytree(SRC, site / "dlexam", ignore=shutil.ignore_patterns("__pycache__"))
    return site


def _run_installed(site: Path, code: str, **env) -> subprocess.CompletedProcess:
    base = {k: v for k, v in __import__("os").environ.items() if k not in (shared.ENV_SHARED, shared.ENV_EXAM)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**base, "PYTHONPATH": str(site), **env}, cwd=site)


def test_an_installed_copy_refuses_instead_of_substituting_synthetic_digits(tmp_path):
    """Regression: the activations and skip-connections experiments once trained on synthetic
    prototypes, silently, when an installed dlexam looked for MNIST inside its own venv."""
    site = _installed_copy(tmp_path)
    code = ("import dlexam, dlexam.shared as s\n"
            f"assert dlexam.__file__.startswith({str(site)!r}), dlexam.__file__\n"
            "assert s.checkout_root() is None and s.shared_dir() is None\n"
            "from dlexam.experiments.digits import load_digits\n"
            "try:\n"
            "    load_digits(10, 10)\n"
            "except s.SharedDataMissing as e:\n"
            "    print('refused:', e)\n"
            "else:\n"
            "    raise SystemExit('trained on something other than MNIST')\n")
    p = _run_installed(site, code)
    assert p.returncode == 0, p.stderr[-1500:]
    assert "refused: shared data data/mnist-t10k not found" in p.stdout and "DLEXAM_SHARED" in p.stdout


def test_an_installed_copy_reads_mnist_through_the_setting(tmp_path, shared_dir):
    if not (shared_dir / "data" / "mnist-t10k").is_dir():
        pytest.skip(f"MNIST not found under {shared_dir}")
    site = _installed_copy(tmp_path)
    code = ("from dlexam.experiments.digits import load_digits\n"
            "data, note = load_digits(10, 10)\n"
            "assert 'MNIST' in note and data['x_train'].shape == (10, 1, 28, 28), note\n")
    p = _run_installed(site, code, DLEXAM_SHARED=str(shared_dir))
    assert p.returncode == 0, p.stderr[-1500:]


def test_a_dangling_link_for_the_shared_folder_or_its_data_is_named_as_such(tmp_path, monkeypatch):
    """`not found` alone sent users looking for a folder that `ls` shows: the link is there, its target is gone."""
    link = tmp_path / "shared"
    link.symlink_to(tmp_path / "gone")
    monkeypatch.setenv(shared.ENV_SHARED, str(link))
    with pytest.raises(shared.SharedDataMissing) as e:
        shared.shared_path("data", "mnist-t10k")
    assert f"{link} is a link to {tmp_path / 'gone'}, which does not exist" in str(e.value)
    real = tmp_path / "real"
    (real / "data").mkdir(parents=True)
    (real / "data" / "mnist-t10k").symlink_to("../nowhere")
    monkeypatch.setenv(shared.ENV_SHARED, str(real))
    with pytest.raises(shared.SharedDataMissing) as e:
        shared.shared_path("data", "mnist-t10k")
    assert "mnist-t10k is a link to ../nowhere, which does not exist" in str(e.value)
    assert "data/mnist-t10k not found" in str(e.value)
    exam = tmp_path / "exam.txt"
    exam.symlink_to("moved.txt")
    monkeypatch.setenv(shared.ENV_EXAM, str(exam))
    with pytest.raises(shared.SharedDataMissing, match=r"exam.txt is a link to moved.txt, which does not exist"):
        shared.exam_path()
