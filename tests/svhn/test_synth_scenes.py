"""`dlexam svhn synth --scenes`: the images a recipe trains on, written as .mat or an ImageFolder and read back."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import scipy.io
from PIL import Image

from dlexam.cli import main
from dlexam.svhn.data.official import load_labelled
from dlexam.svhn.training.recipes import RECIPES, training_set


def test_scenes_as_mat_are_the_quick_recipes_training_set(tmp_path, capsys):
    out = tmp_path / "mat"
    assert main(["svhn", "synth", "--scenes", "--recipe", "quick", "--seed", "3", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    x, y = training_set(RECIPES["quick"], seed=3)  # what `svhn train --recipe quick --seed 3` trains on
    assert info["images"] == len(x) == RECIPES["quick"].images
    raw = scipy.io.loadmat(out / "train_32x32.mat")  # oracle: the file read by scipy, not by dlexam
    assert raw["X"].shape == (32, 32, 3, len(x))
    assert np.array_equal(np.moveaxis(raw["X"][:, :, 0], 2, 0), x.numpy())
    assert np.array_equal(raw["y"].ravel() % 10, y.numpy())
    gray, labels, source = load_labelled(out, "train")  # and through the loader `svhn train --data` uses
    assert source == "mat" and np.array_equal(gray.numpy(), x.numpy()) and np.array_equal(labels, y)


@pytest.mark.needs_shared("data", "mnist-t10k")  # the shipped mix draws MNIST glyphs
def test_scenes_quick_as_an_image_folder(tmp_path, capsys):
    out = tmp_path / "folder"
    assert main(["svhn", "synth", "--scenes", "--quick", "--format", "folder", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    recipe = dataclasses.replace(RECIPES["shipped"], images=info["images"])
    x, y = training_set(recipe, seed=0)
    assert info["images"] == 1000 and sorted(p.name for p in out.iterdir() if p.is_dir()) == [str(d) for d in range(10)]
    files = sorted(out.glob("*/*.png"))
    assert len(files) == len(x)
    for f in files[::37]:  # oracle: Pillow reads each PNG; its name is its index in the training set
        i = int(f.stem)
        assert int(f.parent.name) == int(y[i])
        assert np.array_equal(np.asarray(Image.open(f)), x[i].numpy())
    # a second write into the folder dlexam made is allowed; a foreign file is not replaced
    assert main(["svhn", "synth", "--scenes", "--quick", "--format", "folder", "--out", str(out)]) == 0
    victim = files[0]
    victim.write_bytes(b"not dlexam's")
    assert main(["svhn", "synth", "--scenes", "--quick", "--format", "folder", "--out", str(out)]) == 2
    assert victim.read_bytes() == b"not dlexam's"


def test_scene_options_are_refused_without_scenes_and_plain_options_with_them(tmp_path, capsys):
    assert main(["svhn", "synth", "--out", str(tmp_path / "a"), "--format", "folder"]) == 2
    assert main(["svhn", "synth", "--scenes", "--train", "10", "--out", str(tmp_path / "b")]) == 2
    assert main(["svhn", "synth", "--scenes", "--images", "0", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    lines = err.splitlines()  # the last refused by the parser as it reads --images ("dlexam svhn synth: error: ...")
    assert len(lines) == 3 and all(re.match(r"dlexam( svhn synth)?: error:", line) for line in lines), err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_scenes_quick_with_images_is_refused_in_one_line(tmp_path, capsys):
    """--quick is 1,000 images; with --images 30 it was ignored in silence (30 images written). Both: refused."""
    out = tmp_path / "q"
    assert main(["svhn", "synth", "--scenes", "--quick", "--images", "30", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--quick" in err[0] and "--images" in err[0], err
    assert not out.exists()
