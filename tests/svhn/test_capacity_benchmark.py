"""benchmarks/svhn_capacity.py: its reference networks, views and distillation loss are what they say, and the
script runs end to end."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dlexam.svhn.model import CNNConfig, ExamCNN
from dlexam.svhn.training import step

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "svhn_capacity.py"
spec = importlib.util.spec_from_file_location("svhn_capacity", SCRIPT)
capacity = importlib.util.module_from_spec(spec)
spec.loader.exec_module(capacity)


def images(n=3, seed=0):
    return torch.randn(n, 1, 32, 32, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind, widths", [("small", (16, 32, 64)), ("mid", (32, 64, 128))])
def test_reference_cnn_parameters_and_shapes(kind, widths):
    a, b, c = widths
    # conv weights (no bias: batch norm follows), batch norm's scale and shift, the head on a 4x4 map
    want = 1 * a * 25 + 2 * a + a * b * 9 + 2 * b + b * c * 9 + 2 * c + c * 16 * 10 + 10
    net = capacity.reference_cnn(kind)
    assert sum(p.numel() for p in net.parameters()) == want
    assert net.eval()(images()).shape == (3, 10)


def test_side_cut_samples_the_kept_columns_linearly():
    x = images(2)
    c, w = 3, 32
    got = capacity.side_cut(x, c)
    # bilinear, align_corners=False: output column j reads source position (j + 0.5) * (w - 2c) / w - 0.5
    pos = np.clip((np.arange(w) + 0.5) * (w - 2 * c) / w - 0.5, 0, w - 2 * c - 1) + c
    src = x.numpy()
    want = np.stack([np.interp(pos, np.arange(w), row) for row in src.reshape(-1, w)]).reshape(src.shape)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_side_mask_zeroes_the_sides_only():
    x = images()
    got = capacity.side_mask(x, 3)
    assert (got[..., :3] == 0).all() and (got[..., -3:] == 0).all()
    assert torch.equal(got[..., 3:-3], x[..., 3:-3])


def test_squash_keeps_a_vertically_constant_image_and_pads_with_edge_rows():
    x = images()[:, :, :1].expand(-1, -1, 32, -1).contiguous()  # every row the same
    torch.testing.assert_close(capacity.squash(x, 2), x)
    y = images()
    got = capacity.squash(y, 2)
    for r in (0, 1):
        torch.testing.assert_close(got[:, :, r], got[:, :, 2])
        torch.testing.assert_close(got[:, :, 31 - r], got[:, :, 29])


def test_distillation_loss_is_the_formula_and_everything_is_put_back():
    torch.manual_seed(0)
    student, teacher = ExamCNN(CNNConfig(), fused=False), capacity.reference_cnn("small").eval()
    x, y = images(4), torch.tensor([1, 2, 3, 4])
    plain = step.cross_entropy_sum
    with capacity.distilled_from(student, teacher):
        student.train()
        logits = student(x)
        got = step.cross_entropy_sum(logits, y)
    assert step.cross_entropy_sum is plain and not student._forward_pre_hooks
    a, t = capacity.KD_ALPHA, capacity.KD_T
    p_t = torch.softmax(teacher(x) / t, 1)
    log_p_s = torch.log_softmax(logits / t, 1)
    kl = (p_t * (p_t.log() - log_p_s)).sum()
    ce = -torch.log_softmax(logits, 1)[torch.arange(4), y].sum()
    torch.testing.assert_close(got, (1 - a) * ce + a * t * t * kl, rtol=1e-5, atol=1e-5)


def test_quick_run_end_to_end(tmp_path):
    command = [sys.executable, str(SCRIPT), "--recipe", "quick", "--seeds", "0", "--models", "exam", "small", "kd"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["models"]) == {"exam", "small", "kd"}
    assert out["models"]["exam"]["worst_minus_baseline"]["synth_heldout"] == 0.0
    runs = {k: v["runs"][0] for k, v in out["models"].items()}
    assert runs["exam"]["parameters"] == runs["kd"]["parameters"] == 3722 and runs["small"]["parameters"] == 33914
    assert 0.0 <= runs["kd"]["synth_heldout"] <= 1.0


def refused(monkeypatch, capsys, *args: str) -> str:
    """The script's main() on these arguments, in this process (refused before any work: argparse's exit status 2,
    nothing on stdout): the last line of stderr."""
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *args])  # argparse names the program from argv[0], as run

    def work(*_):  # the script's first work: a refusal that went missing fails here, not after a benchmark's minutes
        raise AssertionError("not refused before the work began")

    monkeypatch.setattr(capacity, "load_checks", work)
    with pytest.raises(SystemExit) as ended:
        capacity.main()
    out, err = capsys.readouterr()
    assert ended.value.code == 2 and out == "", (ended.value.code, out, err)
    return err.strip().splitlines()[-1]


def test_kd_without_a_teacher_is_an_error_with_status_2(monkeypatch, capsys):
    line = refused(monkeypatch, capsys, "--models", "kd", "small")
    assert line.startswith("svhn_capacity.py: error: kd distils from a small")


def test_a_teacher_that_is_not_a_state_dict_is_an_error_with_status_2(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "t.pt"
    bad.write_text("not a checkpoint")
    line = refused(monkeypatch, capsys, "--models", "kd", "--teacher", str(bad))
    assert line.startswith(f"svhn_capacity.py: error: --teacher: {bad} is not")
