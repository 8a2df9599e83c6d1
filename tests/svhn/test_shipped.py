"""The shipped exam CNN: what it is, that the commands use it by default, and how it reads real digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.svhn.data.official import preprocess
from dlexam.svhn.data.realdata import load_check
from dlexam.svhn.inference import load_model
from dlexam.svhn.model import CNNConfig, count_parameters
from dlexam.svhn.shipped import shipped_path


def _chars74k():
    from dlexam.shared import find, how_to_get

    root = find("data", "chars74k-digits")
    if root is None or not root.is_dir():
        pytest.skip(f"needs the shared Chars74K digits: {how_to_get()}")
    return root


def test_shipped_file_is_problem_1s_cnn_in_the_checkpoint_format():
    path = shipped_path()
    assert path.is_file() and path.stat().st_size < 25_000
    payload = checkpoint.load(path, kind="svhn-cnn")  # weights_only: no code runs
    assert CNNConfig.from_dict(payload["config"]) == CNNConfig()  # ReLU, average pooling, linear head
    model, _ = load_model(None)
    assert count_parameters(model) == 3722 and not model.training
    settings = payload["extra"]["settings"]
    assert settings["recipe"]["name"] == "shipped" and "--recipe shipped" in settings["command"]


def test_shipped_model_reads_real_photographed_digits():
    _chars74k()
    x, y = load_check("chars74k")
    model, _ = load_model(None)
    with torch.no_grad():  # oracle: the network's own argmax, not dlexam's evaluate()
        accuracy = (model(preprocess(x)).argmax(1) == y).double().mean().item()
    assert accuracy >= 0.90


def test_shipped_model_reads_held_back_mnist_digits():
    from dlexam.shared import find, how_to_get
    from dlexam.svhn.data.mnist import FILES

    mnist = find("data", "mnist-t10k")
    if mnist is None or not all((mnist / name).is_file() for name, _ in FILES.values()):
        pytest.skip(f"needs the shared MNIST t10k files: {how_to_get()}")
    x, y = load_check("mnist2000")
    model, _ = load_model(None)
    with torch.no_grad():
        accuracy = (model(preprocess(x)).argmax(1) == y).double().mean().item()
    assert accuracy >= 0.85


def test_predict_and_evaluate_default_to_the_shipped_model(capsys):
    root = _chars74k()
    files = [sorted((root / str(d)).glob("*.png"))[0] for d in range(10)]
    assert main(["svhn", "predict", *map(str, files), "--json"]) == 0
    out = capsys.readouterr()
    assert out.err.count("\n") == 1 and "shipped exam CNN" in out.err
    preds = json.loads(out.out)
    assert [p["image"] for p in preds] == [str(f) for f in files]
    digits = np.array([p["digit"] for p in preds])
    assert (digits == np.arange(10)).sum() >= 8  # the first image of each class, not hand-picked
    assert main(["svhn", "evaluate", "--data", str(root), "--json"]) == 0
    out = capsys.readouterr()
    r = json.loads(out.out)
    assert r["n"] == 593 and r["accuracy"] >= 0.90 and r["source"] == "folder" and r.get("confusion_png") is None
    assert np.trace(np.array(r["confusion"])) == round(r["accuracy"] * 593)
