"""One inference path: predict, evaluate, summary, explain and serve load SVHN models through one loader, read a
checkpoint once, and never compile or load the fused training kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.svhn.data.images import read_image
from dlexam.svhn.data.official import preprocess
from dlexam.svhn.inference import load_model
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.svhn.shipped import shipped_path


def _digit_folder(root: Path) -> list[Path]:
    """A tiny ImageFolder: two 40x28 RGB images per digit (any content will do for the loading checks)."""
    rng = np.random.default_rng(0)
    files = []
    for d in range(10):
        (root / str(d)).mkdir(parents=True)
        for i in range(2):
            files.append(root / str(d) / f"{i}.png")
            Image.fromarray(rng.integers(0, 256, (40, 28, 3), dtype=np.uint8)).save(files[-1])
    return files


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs /proc/self/maps (Linux)")
def test_inference_commands_never_build_or_load_the_training_kernels(tmp_path):
    files = _digit_folder(tmp_path / "digits")
    cache = tmp_path / "cache"
    cache.mkdir()
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        from dlexam.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            codes = [main(["svhn", "predict", {str(files[0])!r}, "--json"]),
                     main(["svhn", "evaluate", "--data", {str(tmp_path / "digits")!r}, "--json"]),
                     main(["svhn", "summary", "--json"]),
                     main(["svhn", "explain", {str(files[0])!r}, "--layer", "logits", "--at", "3", "--json"])]
        from dlexam.serve.state import ServeSettings
        from dlexam.serve.state import load_state
        state = load_state(ServeSettings())
        maps = open("/proc/self/maps").read()
        import dlexam.svhn.kernels.library as library
        print(json.dumps({{"codes": codes, "fused_in_maps": "fused-" in maps, "lib": bool(library._libs),
                          "cnn": type(state.cnn).__name__}}))
    """)
    env = {**os.environ, "DLEXAM_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r == {"codes": [0, 0, 0, 0], "fused_in_maps": False, "lib": False, "cnn": "ExamCNN"}
    assert list(cache.iterdir()) == []  # nothing compiled into the (empty) kernel cache


def test_predict_reads_the_shipped_checkpoint_once(tmp_path, monkeypatch, capsys):
    files = _digit_folder(tmp_path / "digits")[:3]
    reads = []
    real_load = checkpoint.load
    monkeypatch.setattr(checkpoint, "load", lambda path, **kw: reads.append(Path(path)) or real_load(path, **kw))
    assert main(["svhn", "predict", *map(str, files), "--json"]) == 0
    assert reads == [shipped_path()]
    preds = json.loads(capsys.readouterr().out)
    model = ExamCNN(CNNConfig(), fused=False)  # oracle: the shipped weights in a model built here
    model.load_state_dict(torch.load(shipped_path(), weights_only=True)["state_dict"])
    with torch.no_grad():
        want = torch.softmax(model.eval()(preprocess(torch.stack([read_image(f) for f in files]))), 1)
    assert [p["digit"] for p in preds] == want.argmax(1).tolist()
    assert np.allclose([p["probabilities"] for p in preds], want.numpy(), atol=1e-6)


def test_the_one_loader_rebuilds_any_svhn_checkpoint(tmp_path):
    cfg = CNNConfig(pool="max", head="conv1x1-gap")
    torch.manual_seed(0)
    original = ExamCNN(cfg, fused=False)
    checkpoint.save(tmp_path / "model.pt", kind=KIND, config=cfg.to_dict(), state_dict=original.state_dict())
    model, payload = load_model(tmp_path)  # a run directory stands for its checkpoint
    assert not model.training and not model.fused and payload["kind"] == KIND
    x = torch.randn(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), original.eval()(x))
    shipped, payload = load_model(None)
    assert payload["kind"] == KIND and sum(p.numel() for p in shipped.parameters()) == 3722


def test_the_checkpoint_kind_is_defined_once():
    import ast

    root = Path(__file__).resolve().parents[2] / "src" / "dlexam"
    spelled = [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.py"))
               for node in ast.walk(ast.parse(p.read_text()))
               if isinstance(node, ast.Constant) and node.value == "svhn-cnn"]
    assert spelled == ["svhn/model.py"]


def _narrowed_by_hand(x: np.ndarray, cut: int) -> np.ndarray:
    """The oracle of TTA's second view: cut `cut` columns at each side, then stretch each row back with linear
    interpolation at the pixel centres (PyTorch's bilinear, align_corners=False), written with np.interp."""
    width = x.shape[-1]
    kept = x[..., cut:width - cut]
    scale = kept.shape[-1] / width
    src = np.clip((np.arange(width) + 0.5) * scale - 0.5, 0, kept.shape[-1] - 1)
    return np.apply_along_axis(lambda row: np.interp(src, np.arange(kept.shape[-1]), row), -1, kept)


def test_tta_is_the_mean_of_two_readings(tmp_path, capsys):
    files = _digit_folder(tmp_path / "digits")
    model, _ = load_model(None)
    x = preprocess(torch.stack([read_image(p) for p in files]))  # (N, 1, 32, 32)
    narrowed = torch.from_numpy(_narrowed_by_hand(x.double().numpy(), 3)).float()
    with torch.no_grad():
        want = (torch.softmax(model(x), 1) + torch.softmax(model(narrowed), 1)) / 2
    assert main(["svhn", "predict", "--tta", "--json", *map(str, files)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert [g["digit"] for g in got] == want.argmax(1).tolist()
    np.testing.assert_allclose([g["probabilities"] for g in got], want.numpy(), atol=2e-5)
    labels = torch.tensor([int(p.parent.name) for p in files])
    assert main(["svhn", "evaluate", "--tta", "--json", "--data", str(tmp_path / "digits")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tta"] is True and r["n"] == len(files)
    assert r["accuracy"] == pytest.approx(float((want.argmax(1) == labels).double().mean()))
    assert r["loss"] == pytest.approx(float(-want[torch.arange(len(files)), labels].log().mean()), rel=1e-4)


def test_a_digit_without_images_has_no_accuracy(tmp_path, capsys):
    """An image folder without a 3 (your own digits rarely hold all ten) read "3:0.000": every 3 misread,
    where there was none to read."""
    import json
    import shutil

    files = _digit_folder(tmp_path / "digits")
    shutil.rmtree(tmp_path / "digits" / "3")
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "digits"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    per_digit = {d: sum(1 for f in files if f.parent.name == str(d) and f.exists()) for d in range(10)}  # the oracle
    assert [d for d in range(10) if r["per_class"][d] is None] == [d for d, n in per_digit.items() if n == 0] == [3]
    for d, row in enumerate(r["confusion"]):
        if per_digit[d]:
            assert r["per_class"][d] == row[d] / per_digit[d]
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "digits")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("per-class accuracy:"))
    assert "  3:-  " in line and line.count(":") == 11, line


def test_a_default_confusion_png_that_cannot_be_written_does_not_stop_the_evaluation(tmp_path, capsys):
    """`svhn evaluate --checkpoint F` writes its PNG beside F unasked; a user's file of that name there refused the
    whole evaluation. Now the PNG is skipped with a note, the user's file untouched; a --png the user names
    is still refused."""
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    checkpoint.save(run / "model.pt", kind=KIND, config=CNNConfig().to_dict(),
                    state_dict=ExamCNN(fused=False).state_dict())
    _digit_folder(tmp_path / "digits")
    theirs = run / "confusion_digits.png"  # the default: confusion_<the folder's name>.png beside the checkpoint
    theirs.write_bytes(b"the user's own picture")
    argv = ["svhn", "evaluate", "--checkpoint", str(run / "model.pt"), "--data", str(tmp_path / "digits")]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    r = json.loads(captured.out)
    assert r["n"] == 20 and r["confusion_png"] is None and "not written by dlexam" in r["confusion_png_skipped"]
    assert "dlexam: note: no confusion PNG:" in captured.err and "--png FILE" in captured.err
    assert theirs.read_bytes() == b"the user's own picture"
    assert main([*argv, "--png", str(theirs)]) == 2
    assert "not written by dlexam" in capsys.readouterr().err
    assert theirs.read_bytes() == b"the user's own picture"


def _run_folder(run: Path) -> None:
    run.mkdir()
    torch.manual_seed(0)
    checkpoint.save(run / "model.pt", kind=KIND, config=CNNConfig().to_dict(),
                    state_dict=ExamCNN(fused=False).state_dict())


def test_the_default_confusion_png_of_an_image_folder_is_named_after_the_folder(tmp_path, capsys):
    """`evaluate --checkpoint RUN --data FOLDER` wrote RUN/confusion_test.png whatever the folder (the split's
    default, though `split` says the folder's name): a second folder replaced the first one's PNG, and the file
    named `test` held chars74k-digits. Now it is confusion_<the folder's name>.png, as `split` says."""
    run = tmp_path / "run"
    _run_folder(run)
    _digit_folder(tmp_path / "alpha")
    _digit_folder(tmp_path / "beta")
    for name in ("alpha", "beta"):
        assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", str(tmp_path / name), "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["split"] == name and r["confusion_png"] == str(run / f"confusion_{name}.png")
    assert sorted(p.name for p in run.glob("*.png")) == ["confusion_alpha.png", "confusion_beta.png"]


def test_a_tta_evaluation_keeps_its_own_default_png_and_says_so_in_its_title(tmp_path, capsys, monkeypatch):
    """`evaluate --tta` wrote the same RUN/confusion_<folder>.png as the plain evaluation, replacing it, under the
    same title ("alpha: accuracy 0.1000"): two figures of two readings could not be told apart. Now the TTA one is
    confusion_<folder>_tta.png, and each title says how many images it counts and whether TTA read them (and, since
    2026-12-07, that it is a confusion matrix: "confusion matrix, alpha: accuracy ...")."""
    from dlexam.svhn import plots

    titles = []
    drawn = plots.confusion_figure
    monkeypatch.setattr(plots, "confusion_figure", lambda c, title: titles.append(title) or drawn(c, title))
    run = tmp_path / "run"
    _run_folder(run)
    _digit_folder(tmp_path / "alpha")
    for extra, png in (([], "confusion_alpha.png"), (["--tta"], "confusion_alpha_tta.png")):
        assert main(["svhn", "evaluate", "--checkpoint", str(run), "--data", str(tmp_path / "alpha"), "--json",
                     *extra]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["confusion_png"] == str(run / png)
        assert titles[-1] == f"confusion matrix, alpha: accuracy {r['accuracy']:.4f} on 20 images" + (
            ", test-time augmentation" if extra else "")  # until 2026-12-07 it did not say what it drew
    assert sorted(p.name for p in run.glob("*.png")) == ["confusion_alpha.png", "confusion_alpha_tta.png"]


def test_evaluate_json_gives_every_path_as_typed(tmp_path, capsys, monkeypatch):
    """`checkpoint` was relative as typed (run/model.pt) but `confusion_png` absolute. Both are now as typed,
    relative to the working folder, the default PNG's too (beside the checkpoint as typed), and the text says so."""
    monkeypatch.chdir(tmp_path)
    _run_folder(Path("run"))
    _digit_folder(Path("digits"))
    for extra, png in (([], "run/confusion_digits.png"), (["--png", "figs/c.png"], "figs/c.png")):
        assert main(["svhn", "evaluate", "--checkpoint", "run", "--data", "digits", "--json", *extra]) == 0
        r = json.loads(capsys.readouterr().out)
        assert (r["checkpoint"], r["confusion_png"]) == ("run/model.pt", png) and Path(png).is_file()
        assert main(["svhn", "evaluate", "--checkpoint", "run", "--data", "digits", *extra]) == 0
        assert f"confusion PNG: {png}" in capsys.readouterr().out.splitlines()


def test_the_shipped_model_named_by_its_path_writes_nothing_into_the_package(tmp_path, capsys):
    """`evaluate --json` names the shipped model by its path (`checkpoint`); given back as --checkpoint, that path
    made evaluate write confusion_test.png and its file record into the installed package. Now the shipped file, by
    whatever path, writes no default PNG, as no --checkpoint does."""
    _digit_folder(tmp_path / "digits")
    package = shipped_path().parent
    before = set(os.listdir(package))
    try:
        rc = main(["svhn", "evaluate", "--checkpoint", str(shipped_path()), "--data", str(tmp_path / "digits"),
                   "--json"])
        r = json.loads(capsys.readouterr().out)
        new = set(os.listdir(package)) - before
    finally:
        for name in set(os.listdir(package)) - before:  # what the old code wrote there
            os.remove(package / name)
    assert rc == 0 and r["n"] == 20 and r["confusion_png"] is None and new == set()


def test_predict_says_a_blank_image_is_blank(tmp_path, capsys):
    """A one-colour image is all zeros after per-image standardisation: its 'digit' is the network's bias, the same
    for every blank image. predict still gives it, and says so: a note in the text, `blank` in --json."""
    blank = [tmp_path / "dot.png", tmp_path / "grey.png"]
    Image.new("L", (1, 1), 0).save(blank[0])
    Image.new("RGB", (40, 30), (90, 160, 20)).save(blank[1])
    inked = tmp_path / "inked.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8)).save(inked)
    files = [*blank, inked]
    assert main(["svhn", "predict", "--json", *map(str, files)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["blank"] for r in rows] == [True, True, False]
    assert rows[0]["digit"] == rows[1]["digit"]  # the bias's answer, whatever the colour
    assert main(["svhn", "predict", *map(str, files)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ["[blank" in line for line in lines] == [True, True, False]
    said = lines[0][lines[0].index("[") + 1 : lines[0].rindex("]")]  # --json carries the text's words, as evaluate's
    assert [r["blank_note"] for r in rows] == [said, said, None]
    assert all(line.split(": ")[1][0].isdigit() for line in lines)  # the digit is still given


def _predict_note(tmp_path, capsys) -> str:
    """The words `svhn predict` puts beside a blank image (the one note the other commands must share)."""
    dot = tmp_path / "dot.png"
    Image.new("L", (1, 1), 0).save(dot)
    assert main(["svhn", "predict", str(dot)]) == 0
    line = capsys.readouterr().out.strip()
    return line[line.index("[") + 1 : line.rindex("]")]


def test_evaluate_counts_the_blank_images_in_the_same_words_and_the_same_accuracy(tmp_path, capsys):
    """evaluate said nothing of blank images (one colour: their digit is the network's bias), where predict did.
    It now gives their count and predict's words, in the text and --json; the accuracy still counts them as read."""
    files = _digit_folder(tmp_path / "digits")
    for f, colour in ((files[0], (0, 0, 0)), (files[7], (90, 160, 20))):  # the oracle: these two, by construction
        Image.new("RGB", (40, 28), colour).save(f)
    model, _ = load_model(None)
    with torch.inference_mode():
        digits = model(preprocess(torch.stack([read_image(f) for f in files]))).argmax(1)
    labels = torch.tensor([int(p.parent.name) for p in files])
    assert main(["svhn", "evaluate", "--json", "--data", str(tmp_path / "digits")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["accuracy"] == pytest.approx(float((digits == labels).double().mean()))
    assert r["blank"] == 2
    words = _predict_note(tmp_path, capsys).removeprefix("blank: ")
    assert r["blank_note"] == f"blank (2 of {len(files)} images): {words}"
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "digits")]) == 0
    assert r["blank_note"] in capsys.readouterr().out
    for f in files[:8]:  # none blank now
        Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32), dtype=np.uint8)).save(f)
    assert main(["svhn", "evaluate", "--json", "--data", str(tmp_path / "digits")]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["blank"] == 0 and r["blank_note"] is None
    assert main(["svhn", "evaluate", "--data", str(tmp_path / "digits")]) == 0
    assert "blank" not in capsys.readouterr().out


def test_explain_says_a_blank_image_is_blank_in_predicts_words(tmp_path, capsys):
    """explain of a one-colour image showed its arithmetic with no word that the image holds no digit."""
    note = _predict_note(tmp_path, capsys)
    grey = tmp_path / "grey.png"
    Image.new("RGB", (40, 30), (90, 160, 20)).save(grey)
    inked = tmp_path / "inked.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32), dtype=np.uint8)).save(inked)
    for layer, at in (("conv1", "0,12,9"), ("pool1", "0,1,1"), ("logits", "3")):
        assert main(["svhn", "explain", str(grey), "--layer", layer, "--at", at, "--json"]) == 0
        e = json.loads(capsys.readouterr().out)
        assert (e["blank"], e["blank_note"]) == (True, note)
        assert main(["svhn", "explain", str(grey), "--layer", layer, "--at", at]) == 0
        assert f"[{note}]" in capsys.readouterr().out.splitlines()
        assert main(["svhn", "explain", str(inked), "--layer", layer, "--at", at, "--json"]) == 0
        e = json.loads(capsys.readouterr().out)
        assert (e["blank"], e["blank_note"]) == (False, None)
        assert main(["svhn", "explain", str(inked), "--layer", layer, "--at", at]) == 0
        assert "blank" not in capsys.readouterr().out



@pytest.mark.parametrize("argv, needle", [
    (["svhn", "predict", "{tmp}/gone.png"], "image not found"),
    (["svhn", "predict", "{tmp}/digit.png", "{tmp}/gone.png"], "image not found"),
    (["svhn", "explain", "{tmp}/gone.png", "--layer", "conv1", "--at", "0,0,0"], "image not found"),
    (["svhn", "evaluate", "--data", "{tmp}/nothing"], "is not an image folder"),
])
def test_a_refusal_is_the_only_line_said_and_the_model_note_comes_with_results(tmp_path, capsys, argv, needle):
    """The note of which model was read ("dlexam: using the shipped exam CNN ...") used to come first, then the
    error: two lines for one mistyped name. It now comes once the work is done, before the results."""
    Image.fromarray(np.full((32, 32), 200, np.uint8)).save(tmp_path / "digit.png")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    # a missing image: "dlexam svhn predict: error: argument images: image not found: ...", as the parser reads it
    assert err.startswith(("dlexam: error: ", f"dlexam {argv[0]} {argv[1]}: error: ")) and needle in err, err
    assert main(["svhn", "predict", str(tmp_path / "digit.png")]) == 0
    assert capsys.readouterr().err.startswith("dlexam: using the shipped exam CNN (shipped.pt")


def _provenance_words(prov: dict) -> list[str]:
    """The oracle: what a line naming this provenance must say, from the file's own values (read by torch.load)."""
    return [f"torch {prov['torch']}", prov["cpu_capability"], prov["machine"], f"Python {prov['python']}",
            f"dlexam {prov['dlexam']}", f"{prov['threads']} thread"]


def test_evaluate_says_what_the_checkpoint_was_trained_with(quick_run, synth_dir, tmp_path, capsys):
    """`sort evaluate` printed a checkpoint's provenance (`trained with:`, `made by:`); `svhn evaluate` said nothing
    of it, in text or JSON."""
    raw = torch.load(quick_run / "best.pt", map_location="cpu", weights_only=True)
    prov, train = raw["provenance"], raw["extra"]["settings"]["train"]
    assert main(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir),
                 "--png", str(tmp_path / "cm.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    line = next(x for x in out if x.startswith("trained with: "))
    assert all(w in line for w in _provenance_words(prov)), line
    assert f"training: seed {train['seed']}, {raw['extra']['epoch']} epochs" in out
    assert not any(x.startswith(("made by:", "fine-tuned from:")) for x in out)  # a run records no command
    assert main(["svhn", "evaluate", "--checkpoint", str(quick_run), "--data", str(synth_dir), "--json",
                 "--png", str(tmp_path / "cm.png")]) == 0
    training = json.loads(capsys.readouterr().out)["training"]
    assert training == {"provenance": prov, "command": None, "seed": train["seed"], "epochs": raw["extra"]["epoch"],
                        "init": None}


def test_evaluate_of_the_shipped_model_says_the_command_that_made_it(synth_dir, capsys):
    raw = torch.load(shipped_path(), map_location="cpu", weights_only=True)
    assert main(["svhn", "evaluate", "--data", str(synth_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "made by: dlexam svhn train --recipe shipped --seed 0 --threads 1 --out OUT" in out
    line = next(x for x in out if x.startswith("trained with: "))
    assert all(w in line for w in _provenance_words(raw["provenance"])), line


def test_a_training_record_of_the_wrong_types_is_shown_as_unknown_never_used():
    """What a checkpoint says of its training is read from the file and shown to people: a value of the wrong type
    is None (unknown), and the lines evaluate prints from it say so rather than fail."""
    from dlexam.commands.svhn_inference import training_lines
    from dlexam.svhn.inference import training_record

    junk = {"provenance": [1], "extra": {"epoch": True, "settings": {
        "train": {"seed": "7"}, "command": 3, "init": "start.pt", "init_sha256": 5, "init_from": "junk"}}}
    record = training_record(junk)
    assert record == {"provenance": None, "command": None, "seed": None, "epochs": None,
                      "init": {"name": "start.pt", "sha256": None, "from": None}}
    assert training_lines(record) == [
        "trained with: not recorded (a checkpoint from before provenance was saved)",
        "fine-tuned from: start.pt",
        "  its own training: not recorded (a run fine-tuned before 2026-12-07)"]


def test_what_a_checkpoint_says_made_it_stays_one_line_each():
    """`trained with:` and `made by:` come from the file: a newline or an escape in them printed lines (or terminal
    controls) of the file's own making. Written as Python escapes them, in `sort evaluate`'s words too."""
    from dlexam.commands.svhn_inference import training_lines

    prov = {"torch": "2.0", "threads": 1, "cpu_capability": "AVX2", "machine": "x86_64", "cpu": "EPYC\nmade by: me",
            "python": "3.11", "dlexam": "0.1"}
    record = {"provenance": prov, "command": "dlexam svhn train\n--recipe x \x1b[2J", "seed": None, "epochs": None,
              "init": None}
    assert training_lines(record) == [
        "trained with: torch 2.0, 1 thread, CPU AVX2 (x86_64, EPYC\\nmade by: me), Python 3.11, dlexam 0.1",
        "made by: dlexam svhn train\\n--recipe x \\x1b[2J"]


def test_a_fine_tuned_models_start_stays_one_line_too():
    """`fine-tuned from:` and `itself fine-tuned from:` name files the checkpoint records: a newline there printed a
    line of the file's own making (left alone by the fix above, 2026-12-07)."""
    from dlexam.commands.svhn_inference import training_lines

    parent = {"provenance": None, "command": None, "seed": None, "epochs": None, "init": "a.pt\nmade by: me"}
    record = {"provenance": None, "command": None, "seed": None, "epochs": None,
              "init": {"name": "b.pt\x1b[2J\nmade by: me", "sha256": None, "from": parent}}
    lines = training_lines(record)
    assert "fine-tuned from: b.pt\\x1b[2J\\nmade by: me" in lines
    assert "  itself fine-tuned from: a.pt\\nmade by: me" in lines
    assert not any(line.startswith("made by") for line in lines)
