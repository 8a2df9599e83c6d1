"""`--temperature sqrt` means sqrt(d_head) of the model decoding, as everywhere else.

Regression: `dlexam sort` once resolved 'sqrt' with d_k = 1, i.e. T = 1 whatever the model."""

from __future__ import annotations

import json
import math

from dlexam.cli import main
from dlexam.sorting.trained import load_model


def test_sort_evaluate_sqrt_is_the_models_sqrt_d_head(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["sort", "train", "--vocab", "A-C", "--max-len", "3", "--d-model", "9", "--quick", "--out", str(run),
                 "--json"]) == 0
    capsys.readouterr()
    model, _, _ = load_model(run)
    d_head = model.cfg.d_head
    assert d_head == 9
    assert main(["sort", "evaluate", "--checkpoint", str(run), "--lengths", "1-2", "--samples", "3",
                 "--temperature", "sqrt", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["results"][0]["temperature"] == math.sqrt(d_head)


def test_sort_query_accepts_sqrt(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["sort", "train", "--vocab", "A-C", "--max-len", "3", "--quick", "--out", str(run), "--json"]) == 0
    capsys.readouterr()
    assert main(["sort", "--checkpoint", str(run), "--temperature", "sqrt", "C A"]) == 0
    assert capsys.readouterr().out.count("\n") == 1
