"""`dlexam svhn train --init shipped|CHECKPOINT`: fine-tuning through the ordinary run path (issue 21, item 3)."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from PIL import Image

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.svhn.data.official import load_split
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.shipped import shipped_path
from dlexam.svhn.training import runs as runs_mod


def _one_line_error(capsys, rc: int, needle: str) -> str:
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory, synth_dir):
    """A tiny ImageFolder: 100 synthetic digits as PNG files DIR/<digit>/<i>.png."""
    images, labels = load_split(synth_dir, "train")
    root = tmp_path_factory.mktemp("own-digits")
    for i in range(100):
        (root / str(int(labels[i]))).mkdir(exist_ok=True)
        Image.fromarray(images[i].numpy()).save(root / str(int(labels[i])) / f"{i}.png")
    return root


@pytest.fixture
def start_weights(monkeypatch):
    """The weights the run's model holds when training starts (fit's first call), captured from the real path."""
    seen = []
    real = runs_mod.fit

    def capturing(model, *args, **kw):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real(model, *args, **kw)

    monkeypatch.setattr(runs_mod, "fit", capturing)
    return seen


def _file_state(path) -> dict:
    """The oracle: the checkpoint file's tensors as torch reads them, not through dlexam's loader."""
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_fine_tune_shipped_on_an_image_folder(digit_folder, tmp_path, capsys, start_weights, monkeypatch):
    from dlexam.svhn import plots

    drawn = []  # curves.png's validation accuracy, as drawn: [(epoch, accuracy), ...]
    real_figure = plots.learning_curves_figure

    def drawing(*args, **kw):
        fig = real_figure(*args, **kw)
        line = next(ln for ln in fig.axes[1].get_lines() if ln.get_label() == "validation")
        drawn.append(list(zip(line.get_xdata(), line.get_ydata(), strict=True)))
        return fig

    monkeypatch.setattr(plots, "learning_curves_figure", drawing)
    out = tmp_path / "ft"
    rc = main(["svhn", "train", "--init", "shipped", "--data", str(digit_folder), "--out", str(out), "--threads", "1",
               "--quiet", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0
    # fine-tuning's defaults, as `svhn train --help` states them: 5 epochs, batch 128, lr 0.01 (sgd)
    assert (r["epochs"], r["train"]["batch_size"], r["train"]["lr"], r["train"]["optimizer"]) == (5, 128, 0.01, "sgd")
    assert [row["epoch"] for row in r["history"]] == [1, 2, 3, 4, 5]
    assert r["init"]["name"] == "shipped"
    assert r["init"]["sha256"] == hashlib.sha256(shipped_path().read_bytes()).hexdigest()
    assert 0.0 <= r["init"]["val_accuracy"] <= 1.0
    # curves.png starts where fine-tuning started: epoch 0 is the validation accuracy before it (it was not drawn)
    # (in percent, as curves.png draws accuracy since 2026-12-07)
    want = [(0, 100 * r["init"]["val_accuracy"])] + [(h["epoch"], 100 * h["val_accuracy"]) for h in r["history"]]
    assert [x for x, _ in drawn[-1]] == [x for x, _ in want]
    assert [y for _, y in drawn[-1]] == pytest.approx([y for _, y in want])
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["init"] == "shipped" and settings["model"] == CNNConfig().to_dict()
    # epoch 0 is the shipped model, weight for weight
    shipped = _file_state(shipped_path())
    assert len(start_weights) == 1 and start_weights[0].keys() == shipped.keys()
    for k, v in shipped.items():
        assert torch.equal(start_weights[0][k], v), k
    # and training moved it
    after = _file_state(out / "last.pt")
    assert any(not torch.equal(after[k], v) for k, v in shipped.items())


def test_fine_tune_a_checkpoint_on_mat_files_and_resume_by_name(quick_run, synth_dir, tmp_path, capsys,
                                                                 start_weights, monkeypatch):
    out = tmp_path / "ft"
    common = ["--data", str(synth_dir), "--out", str(out), "--quick", "--threads", "1", "--quiet"]
    monkeypatch.chdir(quick_run.parent)  # --init typed relative: --json names it so (it gave the absolute path)
    assert main(["svhn", "train", "--init", quick_run.name, "--epochs", "1", "--lr", "0.02", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["init"]["name"] == f"{quick_run.name}/best.pt"
    best = quick_run / "best.pt"  # a run directory stands for its best checkpoint
    for k, v in _file_state(best).items():
        assert torch.equal(start_weights[0][k], v), k
    settings = checkpoint.load(out / "last.pt")["extra"]["settings"]
    assert settings["init"] == str(best.resolve()) and settings["train"]["lr"] == 0.02
    # what it was fine-tuned from keeps its own training record (its provenance was forgotten until 2026-12-07)
    parent = torch.load(best, map_location="cpu", weights_only=True)
    assert settings["init_from"] == {"provenance": parent["provenance"], "command": None,
                                     "seed": parent["extra"]["settings"]["train"]["seed"],
                                     "epochs": parent["extra"]["epoch"], "init": None}
    capsys.readouterr()
    assert main(["svhn", "evaluate", "--checkpoint", str(out), "--data", str(synth_dir), "--png",
                 str(tmp_path / "cm.png")]) == 0
    shown = capsys.readouterr().out.splitlines()
    at = shown.index(f"fine-tuned from: {best.resolve()} (SHA-256 {hashlib.sha256(best.read_bytes()).hexdigest()})")
    assert shown[at + 1].startswith("  which was trained with: torch " + parent["provenance"]["torch"]), shown
    assert shown[at + 2] == f"  training: seed {parent['extra']['settings']['train']['seed']}, " \
        f"{parent['extra']['epoch']} epochs"
    capsys.readouterr()
    # resume refuses another start by name, and accepts its own
    rc = main(["svhn", "train", "--resume", "--init", "shipped", "--epochs", "2", *common])
    _one_line_error(capsys, rc, f"init '{best.resolve()}', not 'shipped'")
    assert main(["svhn", "train", "--resume", "--init", str(best), "--epochs", "2", *common]) == 0
    assert checkpoint.load(out / "last.pt")["extra"]["epoch"] == 2
    assert checkpoint.load(out / "last.pt")["extra"]["settings"]["init_from"] == settings["init_from"]  # kept
    assert len(start_weights) == 2  # the resumed run trained on from last.pt, not from the init again
    for k, v in _file_state(best).items():
        assert not torch.equal(start_weights[1][k], v) or v.numel() == 0, k


def test_a_run_from_scratch_cannot_be_resumed_as_fine_tuning(quick_run, synth_dir, capsys):
    rc = main(["svhn", "train", "--resume", "--init", "shipped", "--out", str(quick_run), "--quiet"])
    _one_line_error(capsys, rc, "was trained with no --init, not --init 'shipped'")


def test_bad_init_is_one_line_exit_2(digit_folder, tmp_path, capsys):
    def train(init, *extra):
        return main(["svhn", "train", "--init", str(init), "--data", str(digit_folder), "--out",
                     str(tmp_path / f"r{len(list(tmp_path.iterdir()))}"), "--quiet", *extra])

    _one_line_error(capsys, train(tmp_path / "missing.pt"), "checkpoint not found")
    other_kind = tmp_path / "sorter.pt"
    checkpoint.save(other_kind, kind="sort-transformer", config={}, state_dict={"w": torch.zeros(2)})
    _one_line_error(capsys, train(other_kind), "expected 'svhn-cnn'")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint" * 8)
    _one_line_error(capsys, train(junk), "not a readable dlexam checkpoint")
    gap = tmp_path / "gap.pt"  # a well-formed exam CNN checkpoint of another network (Problem 1.4's GAP head)
    cfg = CNNConfig(head="conv1x1-gap")
    checkpoint.save(gap, kind="svhn-cnn", config=cfg.to_dict(), state_dict=ExamCNN(cfg, fused=False).state_dict())
    _one_line_error(capsys, train(gap), "keeps the exam architecture")
    _one_line_error(capsys, train("shipped", "--activation", "tanh"), "--activation does not apply")
    rc = main(["svhn", "train", "--recipe", "quick", "--init", "shipped", "--out", str(tmp_path / "rr")])
    _one_line_error(capsys, rc, "--init does not apply")
    written = {f.name for d in tmp_path.iterdir() if d.is_dir() for f in d.iterdir()}
    assert written <= {".dlexam.lock"}, written  # no checkpoint, no metrics: each refused before training


def test_training_images_of_a_few_digits_are_said_in_the_log(tmp_path, synth_dir):
    """Fine-tuning the shipped model on a folder of sevens only ended "val accuracy 1.0000, best 1.0000", with
    nothing said of the nine digits it was never shown (the fine-tuned model then read 88% of a test split the
    shipped one read 96% of, after one epoch)."""
    from dlexam.svhn.training.runs import train_run
    from dlexam.svhn.training.settings import SVHNRun

    images, labels = load_split(synth_dir, "train")
    root = tmp_path / "sevens"
    (root / "7").mkdir(parents=True)
    for i in (labels == 7).nonzero().flatten()[:20].tolist():
        Image.fromarray(images[i].numpy()).save(root / "7" / f"{i}.png")
    lines = []
    train_run(SVHNRun(out=tmp_path / "run", data=root, init="shipped", epochs=1, threads=1),
              progress=lambda event: lines.append(event.message) if event.message else None)
    notes = [line for line in lines if "no 0, 1, 2, 3, 4, 5, 6, 8, 9" in line]
    assert len(notes) == 1 and "forget" in notes[0], lines
    # the count names the digits held, beside the list of those missing: "hold no 0, ..., 9 (1 of the 10 digits)"
    # read as nine missing digits counted as one (a folder of 0-3: "hold no 4, ..., 9 (4 of the 10 digits)")
    assert "(they hold 1 of the 10 digits: 7)" in notes[0], notes
    lines.clear()  # all ten digits: no note
    train_run(SVHNRun(out=tmp_path / "all", data=synth_dir, quick=True, epochs=1, threads=1),
              progress=lambda event: lines.append(event.message) if event.message else None)
    assert not [line for line in lines if "note:" in line], lines


def test_without_validation_images_best_pt_is_the_last_epoch(tmp_path, capsys):
    """Five images hold out none for validation (10% of 5 rounds to 0; --val-fraction 0 likewise): best.pt stayed at
    epoch 1 whatever the epochs trained after it (a run dir, which stands for best.pt, then evaluated the first epoch's
    weights), and the run said "val accuracy nan, best 0.0000" of a validation never made."""
    rng = torch.Generator().manual_seed(0)
    root = tmp_path / "five"
    for digit in range(5):
        (root / str(digit)).mkdir(parents=True)
        pixels = torch.randint(0, 256, (40, 30), dtype=torch.uint8, generator=rng).numpy()
        Image.fromarray(pixels).save(root / str(digit) / "a.png")
    for name, extra in (("ft", ["--init", "shipped"]), ("scratch", ["--val-fraction", "0"])):
        out = tmp_path / name
        rc = main(["svhn", "train", *extra, "--data", str(root), "--out", str(out), "--epochs", "2", "--threads", "1",
                   "--batch-size", "2", "--json"])
        captured = capsys.readouterr()
        assert rc == 0, captured.err
        assert json.loads(captured.out)["best_val_accuracy"] is None
        assert "no image is held out for validation" in captured.err
        best, last = (torch.load(out / n, map_location="cpu", weights_only=True) for n in ("best.pt", "last.pt"))
        assert best["extra"]["epoch"] == last["extra"]["epoch"] == 2
        assert all(torch.equal(best["state_dict"][k], v) for k, v in last["state_dict"].items())
    (out / "best.pt").unlink()  # a run killed between last.pt and best.pt: resume writes best.pt from last.pt
    assert main(["svhn", "train", "--resume", "--out", str(out), "--quiet"]) == 0
    assert "no validation images (best.pt is the last epoch)" in capsys.readouterr().out
    best = torch.load(out / "best.pt", map_location="cpu", weights_only=True)
    assert best["extra"]["epoch"] == 2 and all(torch.equal(best["state_dict"][k], v)
                                               for k, v in last["state_dict"].items())
