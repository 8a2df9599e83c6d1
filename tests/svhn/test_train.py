"""train / evaluate / predict end to end, exact resume, and every bad-input path (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.svhn.data.official import load_split, preprocess
from dlexam.svhn.kernels import fused
from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.training import loop as train_mod
from dlexam.svhn.training.config import TrainConfig
from dlexam.svhn.training.loop import evaluate, fit
from dlexam.svhn.training.step import epoch_order, learning_rate


def _cli(args, capsys=None):
    rc = main(args)
    out = capsys.readouterr() if capsys else None
    return rc, out


def test_quick_run_writes_everything(quick_run):
    for name in ("last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png"):
        assert (quick_run / name).is_file(), name
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["history"]] == [1, 2]
    assert metrics["settings"]["engine"] == fused.status()  # "fused" where a C++ compiler is present
    assert (quick_run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    payload = checkpoint.load(quick_run, kind="svhn-cnn")  # the run dir stands for best.pt
    model = ExamCNN(CNNConfig.from_dict(payload["config"]))  # rebuilt from the file alone
    checkpoint.load_weights(model, payload)
    assert payload["extra"]["epoch"] in (1, 2)


def test_evaluate_and_predict(quick_run, synth_dir, tmp_path, capsys):
    rc, out = _cli(
        [
            "svhn",
            "evaluate",
            "--checkpoint",
            str(quick_run),
            "--data",
            str(synth_dir),
            "--json",
            "--png",
            str(tmp_path / "cm.png"),
        ],
        capsys,
    )
    assert rc == 0
    r = json.loads(out.out)
    cm = np.array(r["confusion"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert r["accuracy"] == pytest.approx(np.trace(cm) / 300)
    assert (tmp_path / "cm.png").is_file()
    # oracle: the model's own argmax, computed here without evaluate()
    model, _ = __import__("dlexam.svhn.inference", fromlist=["load_model"]).load_model(quick_run)
    images, labels = load_split(synth_dir, "test")
    with torch.no_grad():
        pred = model(preprocess(images)).argmax(1)
    assert r["accuracy"] == pytest.approx((pred == labels).double().mean().item())
    rc, out = _cli(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir)], capsys)
    assert rc == 0 and "per-class accuracy" in out.out and "confusion" in out.out

    png, jpg = tmp_path / "a.png", tmp_path / "b.jpg"
    rgb = np.random.default_rng(0).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(png)
    Image.fromarray(rgb).save(jpg)
    rc, out = _cli(
        ["svhn", "predict", "--checkpoint", str(quick_run / "last.pt"), str(png), str(jpg), "--json"], capsys
    )
    assert rc == 0
    preds = json.loads(out.out)
    assert len(preds) == 2
    for p in preds:
        assert 0 <= p["digit"] <= 9 and sum(p["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert p["digit"] == int(np.argmax(p["probabilities"]))


def test_bad_inputs_exit_2_and_overwrite_nothing(quick_run, synth_dir, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in quick_run.iterdir() if p.is_file()}
    # train into an existing run without --resume
    rc, out = _cli(["svhn", "train", "--data", str(synth_dir), "--out", str(quick_run), "--quick", "--quiet"], capsys)
    assert rc == 2 and "already holds a training run" in out.err and len(out.err.strip().splitlines()) == 1
    # a non-image given to predict
    txt = tmp_path / "notes.png"
    txt.write_text("not an image")
    rc, out = _cli(["svhn", "predict", "--checkpoint", str(quick_run), str(txt)], capsys)
    assert rc == 2 and "not a readable image" in out.err
    rc, out = _cli(["svhn", "predict", "--checkpoint", str(quick_run), str(tmp_path / "missing.png")], capsys)
    assert rc == 2 and "not found" in out.err
    # a file that is not a checkpoint at all
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 10)
    rc, out = _cli(["svhn", "evaluate", "--checkpoint", str(junk), "--data", str(synth_dir)], capsys)
    assert rc == 2 and "not a readable dlexam checkpoint" in out.err
    # a checkpoint of another model family
    other = tmp_path / "other.pt"
    checkpoint.save(other, kind="sort-transformer", config={}, state_dict={"w": torch.zeros(2)})
    rc, out = _cli(["svhn", "predict", "--checkpoint", str(other), str(txt)], capsys)  # an image that is there
    assert rc == 2 and "expected 'svhn-cnn'" in out.err
    # an svhn checkpoint whose weights are of another architecture than its config says
    lie = tmp_path / "lie.pt"
    sd = ExamCNN(CNNConfig(head="conv1x1-gap")).state_dict()
    checkpoint.save(lie, kind="svhn-cnn", config=CNNConfig().to_dict(), state_dict=sd)
    rc, out = _cli(["svhn", "evaluate", "--checkpoint", str(lie), "--data", str(synth_dir)], capsys)
    assert rc == 2 and "do not fit the model's architecture" in out.err
    # a missing and a corrupt .mat
    rc, out = _cli(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(tmp_path)], capsys)
    assert rc == 2 and "SVHN file not found" in out.err
    (tmp_path / "test_32x32.mat").write_bytes(b"corrupt")
    rc, out = _cli(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(tmp_path)], capsys)
    assert rc == 2 and "not a readable SVHN .mat" in out.err
    rc, out = _cli(["svhn", "train", "--data", str(tmp_path), "--out", str(tmp_path / "r"), "--quick"], capsys)
    assert rc == 2 and "SVHN file not found" in out.err
    rc, out = _cli(["svhn", "train", "--out", str(tmp_path / "r2"), "--resume"], capsys)
    assert rc == 2 and "no last.pt" in out.err
    after = {p.name: p.read_bytes() for p in quick_run.iterdir() if p.is_file() and p.name in before}
    assert after == before


def test_resume_after_kill_mid_epoch_equals_uninterrupted_run(synth_dir, tmp_path, monkeypatch):
    common = [
        "--data",
        str(synth_dir),
        "--quick",
        "--quiet",
        "--threads",
        "1",
        "--epochs",
        "2",
        "--seed",
        "3",
    ]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["svhn", "train", "--out", str(straight), *common]) == 0

    real = train_mod.train_one_epoch

    def killed_mid_epoch(model, optimizer, images, labels, *, epoch, **kw):
        if epoch == 1:  # run half of the second epoch for real (weights and optimizer change), then die
            real(
                model,
                optimizer,
                images[: len(images) // 2],
                labels[: len(labels) // 2],
                epoch=epoch,
                **kw | {"stats": None},
            )
            raise KeyboardInterrupt
        return real(model, optimizer, images, labels, epoch=epoch, **kw)

    monkeypatch.setattr(train_mod, "train_one_epoch", killed_mid_epoch)
    assert main(["svhn", "train", "--out", str(killed), *common]) == 130
    assert checkpoint.load(killed / "last.pt")["extra"]["epoch"] == 1
    monkeypatch.setattr(train_mod, "train_one_epoch", real)
    assert main(["svhn", "train", "--out", str(killed), "--resume", "--quiet"]) == 0

    a, b = checkpoint.load(straight / "last.pt"), checkpoint.load(killed / "last.pt")
    assert a["extra"]["epoch"] == b["extra"]["epoch"] == 2
    for k in a["state_dict"]:
        torch.testing.assert_close(a["state_dict"][k], b["state_dict"][k], rtol=0, atol=1e-6)
    ha, hb = a["extra"]["history"], b["extra"]["history"]
    assert [r["val_accuracy"] for r in ha] == [r["val_accuracy"] for r in hb]


def test_resuming_a_finished_run_trains_nothing_and_rewrites_nothing(quick_run, synth_dir, tmp_path, capsys):
    """`svhn train --resume` on a finished run wrote metrics.csv, metrics.json and curves.png again though nothing was
    trained (with --data, metrics.json then named the new folder as the data the run was trained on). Now every file
    is left as it is, byte for byte and inode for inode, and one line says the run is complete, exit 0, as `sort
    train --resume` on a finished run. Only what a kill right after the last epoch's last.pt left undone is written,
    as the finished run wrote it. The lock file too is left as it is (until 2026-12-07 every command that locked the
    folder wrote its own "process N" into it)."""
    import shutil

    run, moved = tmp_path / "run", tmp_path / "moved"
    shutil.copytree(quick_run, run)
    shutil.copytree(synth_dir, moved)

    def files():
        return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in run.iterdir()}

    before = files()
    rc, out = _cli(["svhn", "train", "--out", str(run), "--resume", "--data", str(moved)], capsys)
    assert rc == 0 and out.err == "" and files() == before
    assert len(out.out.splitlines()) == 1 and "the run is already complete (all 2 epochs done)" in out.out, out.out
    (run / "metrics.json").unlink()  # killed after the last epoch's last.pt
    (run / "curves.png").unlink()
    rc, out = _cli(["svhn", "train", "--out", str(run), "--resume", "--quiet", "--json"], capsys)
    assert rc == 0 and json.loads(out.out)["already_complete"] is True
    assert json.loads(out.out)["completed"] == ["metrics.json", "curves.png"]
    assert {n: b for n, (_, _, b) in files().items()} == {n: b for n, (_, _, b) in before.items()}


def test_epoch_order_and_schedule_are_pure_functions():
    assert torch.equal(epoch_order(100, 1, 4), epoch_order(100, 1, 4))
    assert not torch.equal(epoch_order(100, 1, 4), epoch_order(100, 1, 5))
    assert sorted(epoch_order(100, 1, 4).tolist()) == list(range(100))
    cfg = TrainConfig(lr=0.2)
    assert learning_rate(cfg, 0, 10) == pytest.approx(0.2)
    assert learning_rate(cfg, 5, 10) == pytest.approx(0.1)
    assert learning_rate(cfg, 10, 10) == pytest.approx(0.0)


def test_fit_learns_synthetic_digits(synth_dir):
    images, labels = load_split(synth_dir, "train")
    test_x, test_y = load_split(synth_dir, "test")
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=6, batch_size=64, lr=0.1, threads=1)
    result = fit(ExamCNN(), images, labels, test_x, test_y, cfg=cfg)
    hist = result["history"]
    assert len(hist) == 6 and hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert evaluate(result["model"], test_x, test_y)["accuracy"] > 0.3  # chance is 0.1


def test_time_budget_stops_training(synth_dir):
    images, labels = load_split(synth_dir, "train")
    torch.manual_seed(0)
    result = fit(ExamCNN(), images, labels, cfg=TrainConfig(threads=1), time_budget=0.3)
    assert result["history"] and result["stopped_by_time_budget"]


def test_demo_runs(tmp_path, capsys):
    from dlexam.commands.demo import print_svhn_demo
    from dlexam.svhn.demo import run_demo

    d = run_demo(tmp_path)
    assert sum(r["params"] for r in d.rows) == 3722 and len(d.predictions) == 5
    print_svhn_demo(d)
    out = capsys.readouterr().out
    assert "3,722" in out and "test accuracy" in out and "predict on 5 held-out PNGs" in out
    assert (d.run / "best.pt").is_file() and d.run.parent == tmp_path / "svhn-runs"


def test_the_demos_pngs_are_written_as_every_file_is(tmp_path):
    """docs/architecture.md: every file a command writes goes through files.OutputDir (atomic, in the folder's
    file record); the demo's five PNGs were saved by Pillow straight onto their names, unrecorded."""
    from dlexam.files import OutputDir
    from dlexam.svhn.demo import run_demo

    d = run_demo(tmp_path)
    out = OutputDir(d.run)
    names = [name for name, _, _, _ in d.predictions]
    assert names == [f"digit{i}.png" for i in range(5)] and all(out.owns(name) for name in names)


def test_train_json_and_variants(synth_dir, tmp_path, capsys):
    rc = main(
        [
            "svhn",
            "train",
            "--data",
            str(synth_dir),
            "--out",
            str(tmp_path / "r"),
            "--quick",
            "--quiet",
            "--threads",
            "1",
            "--epochs",
            "1",
            "--head",
            "conv1x1-gap",
            "--pool",
            "max",
            "--json",
        ]
    )
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["model"]["head"] == "conv1x1-gap" and len(r["history"]) == 1 and "val_accuracy" in r["final"]
    payload = checkpoint.load(tmp_path / "r", kind="svhn-cnn")
    assert payload["config"]["head"] == "conv1x1-gap" and "conv3.weight" in payload["state_dict"]
    engine = json.loads((tmp_path / "r" / "metrics.json").read_text())["settings"]["engine"]
    assert engine.startswith("eager")  # max pooling: PyTorch's layers, and the run says so


def test_quick_takes_epochs_as_given(synth_dir, tmp_path, capsys):
    """--quick keeps its few images, but --epochs is the user's: an audit's `--quick --epochs 4` trained 2."""
    rc = main(["svhn", "train", "--data", str(synth_dir), "--out", str(tmp_path / "r"), "--quick", "--quiet",
               "--threads", "1", "--epochs", "3", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert [h["epoch"] for h in r["history"]] == [1, 2, 3]
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["settings"]["train"]["epochs"] == 3


@pytest.mark.parametrize("epochs", [1, 2, 7])
def test_learning_curves_count_epochs_in_whole_numbers(epochs):
    """A one-epoch run (a fine-tune, `--recipe quick`) drew its epoch axis from 0.945 to 1.050 in steps of 0.015:
    matplotlib's integer locator gives way when fewer than two whole numbers fit. Every tick is now a whole epoch,
    and every epoch trained lies within the axis."""
    from dlexam.svhn.plots import learning_curves_figure

    history = [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.5}
               for e in range(1, epochs + 1)]
    fig = learning_curves_figure(history)
    try:
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
            assert lo < 1 and hi > epochs and 1 in ticks
    finally:
        __import__("matplotlib.pyplot").pyplot.close(fig)


def test_a_resume_that_changes_the_total_of_epochs_records_the_change(quick_run, tmp_path, capsys):
    """`--resume --epochs N` redraws the learning rate's cosine over N epochs from where the run is. Until 2026-12-07
    the run recorded only the new total: a fine-tune of 3 epochs resumed to 6 had the `settings` of a 6-epoch run,
    byte for byte, yet weights up to 0.0051 from that run's (its lr fell to 0 at epoch 3 and rose again to 0.0025).
    The change is now in the settings (metrics.json and the checkpoints) and said when it is made."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(quick_run, run)  # 2 epochs
    rc, out = _cli(["svhn", "train", "--out", str(run), "--resume", "--epochs", "3"], capsys)
    assert rc == 0
    assert "the total of epochs changes from 2 to 3 after epoch 2" in out.err + out.out
    change = [{"after_epoch": 2, "epochs": 2, "now": 3}]
    settings = json.loads((run / "metrics.json").read_text())["settings"]
    assert settings["train"]["epochs"] == 3 and settings["schedule_changes"] == change
    assert torch.load(run / "last.pt", weights_only=True)["extra"]["settings"]["schedule_changes"] == change
    rc, out = _cli(["svhn", "train", "--out", str(run), "--resume", "--quiet"], capsys)  # complete: nothing changes
    assert rc == 0 and json.loads((run / "metrics.json").read_text())["settings"]["schedule_changes"] == change


def test_the_learning_curves_say_what_they_show_and_keep_their_legend_off_the_data():
    """curves.png was titled "loss" and "accuracy" with nothing saying what was trained, drew accuracy from 0 to 1
    where the experiments and the report draw percent, and put a legend inside each panel at its upper right, where a
    good run's accuracy ends. Now: a title, percent, one legend under both panels covering no point or line, and the
    two lines apart by marker as well as colour."""
    import matplotlib.pyplot as plt

    from dlexam.svhn.plots import learning_curves_figure

    from ..experiments.helpers import colour_alone, legend_overlaps

    history = [{"epoch": e, "train_loss": 2.3 / e, "train_accuracy": min(1.0, 0.25 * e), "val_loss": 2.2 / e,
                "val_accuracy": min(1.0, 0.3 * e)} for e in range(1, 6)]
    fig = learning_curves_figure(history)
    try:
        assert "per epoch" in fig.get_suptitle()
        loss, acc = fig.axes
        assert "%" in acc.get_ylabel() and "cross-entropy" in loss.get_ylabel()
        drawn = {line.get_label(): list(line.get_ydata()) for line in acc.get_lines()}
        assert drawn == {"train": [100 * h["train_accuracy"] for h in history],
                         "validation": [100 * h["val_accuracy"] for h in history]}
        assert all(a.get_legend() is None for a in fig.axes) and len(fig.legends) == 1
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["train", "validation"]
        assert colour_alone(fig) == [] and legend_overlaps(fig) == []
    finally:
        plt.close(fig)


def test_a_one_epoch_run_writes_each_value_beside_its_point():
    """`--recipe quick` trains one epoch: each panel was one dot on an empty grid, its value read off the axis."""
    import matplotlib.pyplot as plt

    from dlexam.svhn.plots import learning_curves_figure

    fig = learning_curves_figure([{"epoch": 1, "train_loss": 2.2991, "train_accuracy": 0.1138}])
    try:
        assert [[t.get_text() for t in a.texts] for a in fig.axes] == [["2.299"], ["11.4%"]]
    finally:
        plt.close(fig)


def test_a_perfect_or_zero_accuracy_is_drawn_whole_on_the_learning_curves():
    """A small validation set (a fine-tune's 59 images) often reads 1.0: the accuracy axis ended at exactly 1, so
    that epoch's marker was cut in half by the panel's top edge (and a 0 by its bottom). Every marker, its whole
    radius, now lies inside its panel."""
    import matplotlib.pyplot as plt

    from dlexam.svhn.plots import learning_curves_figure

    history = [{"epoch": 1, "train_loss": 0.226, "train_accuracy": 0.0, "val_loss": 0.0383, "val_accuracy": 0.9831},
               {"epoch": 2, "train_loss": 0.164, "train_accuracy": 0.9494, "val_loss": 0.0380, "val_accuracy": 1.0}]
    fig = learning_curves_figure(history, init_val_accuracy=0.9831)
    try:
        fig.canvas.draw()
        for ax in fig.axes:
            for line in ax.get_lines():
                radius = line.get_markersize() / 72 * fig.dpi / 2  # points -> pixels
                for y in ax.transData.transform(line.get_xydata())[:, 1]:
                    assert ax.bbox.y0 + radius <= y <= ax.bbox.y1 - radius, (ax.get_title(), y, ax.bbox)
    finally:
        plt.close(fig)
