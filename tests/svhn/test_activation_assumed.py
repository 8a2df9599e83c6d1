"""The exam never names Problem 1's activation (its Figure 2 is missing; only the project's spec assumes ReLU):
every view that names it says it is assumed (student audit, 2026-12-07: the report's table read "Conv-1 + relu").
The expected labels are typed by hand."""

from __future__ import annotations

ASSUMED = "ReLU (assumed: the exam's Figure 2 is missing)"


def test_the_layer_table_marks_the_activation_as_assumed():
    from dlexam.svhn.summary import layer_summary

    names = [r["layer"] for r in layer_summary()]
    assert names[:4] == [f"Conv-1 + {ASSUMED}", "AvgPool-1", f"Conv-2 + {ASSUMED}", "AvgPool-2"]


def test_the_svhn_summary_command_marks_it_too(capsys):
    from dlexam.cli import main

    assert main(["svhn", "summary"]) == 0
    out = capsys.readouterr().out
    assert f"Conv-1 + {ASSUMED}" in out and "+ relu" not in out


def test_a_conv_pixels_arithmetic_says_its_activation_is_assumed(tmp_path, capsys):
    from PIL import Image

    from dlexam.cli import main

    path = tmp_path / "digit.png"
    Image.new("L", (32, 32), 200).save(path)
    assert main(["svhn", "explain", str(path), "--layer", "conv1", "--at", "0,12,9"]) == 0
    assert ASSUMED in capsys.readouterr().out
    assert main(["svhn", "explain", str(path), "--layer", "conv1", "--at", "0,12,9", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["activation_label"] == ASSUMED
