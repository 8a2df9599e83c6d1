"""`dlexam svhn train --recipe`: a whole rebuild from nothing, into a run directory, refusing to overwrite."""

from __future__ import annotations

import json

import torch

from dlexam import checkpoint
from dlexam.cli import main
from dlexam.svhn.inference import load_model
from dlexam.svhn.training.recipes import RECIPES, Recipe, training_set


def test_recipe_round_trips_through_plain_values():
    for recipe in RECIPES.values():
        assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe


def test_training_set_is_a_function_of_recipe_and_seed():
    quick = RECIPES["quick"]
    x1, y1 = training_set(quick, seed=1)
    x2, y2 = training_set(quick, seed=1)
    x3, _ = training_set(quick, seed=2)
    assert x1.shape == (quick.images, 32, 32) and x1.dtype == torch.uint8 and y1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)


def test_train_recipe_quick_writes_a_run_and_refuses_to_overwrite_it(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["svhn", "train", "--recipe", "quick", "--out", str(out), "--threads", "1", "--quiet", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["recipe"] == "quick" and len(r["history"]) == RECIPES["quick"].epochs
    assert set(r["checks"]) == {"svhn_dev", "chars74k", "mnist2000", "synth_heldout"}
    for name in ("model.pt", "metrics.json", "metrics.csv", "curves.png"):
        assert (out / name).is_file(), name
    payload = checkpoint.load(out, kind="svhn-cnn")  # the run dir stands for its model.pt
    assert payload["extra"]["settings"]["recipe"]["name"] == "quick" and "optimizer" not in payload["extra"]
    model, _ = load_model(out)
    assert sum(p.numel() for p in model.parameters()) == 3722
    before = (out / "model.pt").read_bytes()
    rc = main(["svhn", "train", "--recipe", "quick", "--out", str(out), "--threads", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "already holds a training run" in err and err.count("\n") == 1
    assert (out / "model.pt").read_bytes() == before


def test_the_synthetic_check_is_the_test_split_svhn_synth_writes(synth_dir):
    from dlexam.svhn.data.official import load_split, rgb_to_gray
    from dlexam.svhn.synthetic.digits import held_out_split

    rgb, digits = held_out_split(300, seed=1)  # conftest's synth_dir: n_test=300, seed=1
    x, y = load_split(synth_dir, "test")
    assert torch.equal(torch.from_numpy(rgb_to_gray(rgb)), x) and torch.equal(torch.from_numpy(digits), y)
