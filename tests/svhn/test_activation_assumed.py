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


def test_a_chosen_activation_is_said_to_be_chosen_not_assumed(capsys):
    """An audit read "none (assumed: the exam's Figure 2 is missing)" and "none(sum ...)" after --activation none:
    only the table's ReLU is assumed; another activation was chosen, and "none" means no activation at all."""
    from dlexam.cli import main
    from dlexam.spec.cnn import activation_label

    assert activation_label("relu") == ASSUMED
    assert activation_label("tanh") == "tanh (chosen instead of the assumed ReLU)"
    assert activation_label("none") == "none (no activation, chosen instead of the assumed ReLU)"
    assert main(["svhn", "summary", "--activation", "none"]) == 0
    out = capsys.readouterr().out
    assert "Conv-1 + none (no activation, chosen instead of the assumed ReLU)" in out and "assumed:" not in out


def test_a_conv_pixel_without_an_activation_reads_as_a_plain_sum():
    import torch

    from dlexam.commands.svhn_inference import explanation_lines
    from dlexam.svhn.explain import explain
    from dlexam.svhn.model import CNNConfig, ExamCNN

    model = ExamCNN(CNNConfig(activation="none")).eval()
    e = explain(model, torch.full((32, 32), 200, dtype=torch.uint8), "conv1", (0, 12, 9)).to_json()
    text = "\n".join(explanation_lines(e))
    assert "none(" not in text and "none ->" not in text and "assumed:" not in text
    assert ("conv1[0,12,9] = sum of patch x kernel + bias, with none (no activation, chosen instead of the assumed "
            "ReLU);") in text
