"""benchmarks/svhn_levers.py: its train-time levers do what they say, and the script runs end to end."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "svhn_levers.py"
spec = importlib.util.spec_from_file_location("svhn_levers", SCRIPT)
levers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(levers)


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return levers.standardised(torch.rand(n, 1, 32, 32, generator=g))


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_xzoom_of_one_is_the_image():
    x = batch()
    torch.testing.assert_close(levers.xzoom(x, gen(), most=1.0), x, atol=1e-5, rtol=0)


def test_xzoom_stretches_rows_only():
    x = batch()[:, :, :1].expand(-1, -1, 32, -1).contiguous()  # every row the same
    y = levers.xzoom(x, gen())
    torch.testing.assert_close(y, y[:, :, :1].expand_as(y))  # still: nothing moved vertically
    assert not torch.allclose(y, x, atol=1e-3)


def test_randconv_with_a_one_by_one_filter_keeps_the_standardised_image_up_to_sign():
    x = batch()
    y = levers.randconv(x, gen(), p=1.0, sizes=(1,))
    for a, b in zip(x, y, strict=True):  # a blend near 1/2 with a negative filter leaves little: eps shows
        assert torch.allclose(b, a, atol=1e-2) or torch.allclose(b, -a, atol=1e-2)


def test_randconv_matches_conv2d_and_leaves_the_rest():
    x = batch(8)
    y = levers.randconv(x, gen(), p=0.5, sizes=(3,))
    g = gen()  # replay the draws
    torch.randint(1, (1,), generator=g)
    w = torch.randn(8, 1, 3, 3, generator=g) / 3
    blend = torch.rand(8, 1, 1, 1, generator=g)
    use = torch.rand(8, generator=g) < 0.5
    assert 0 < int(use.sum()) < 8
    for i in range(8):
        if not use[i]:
            assert torch.equal(y[i], x[i])
            continue
        conv = torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="replicate", bias=False)
        conv.weight.data = w[i:i + 1]
        want = levers.standardised(blend[i] * x[i:i + 1] + (1 - blend[i]) * levers.standardised(conv(x[i:i + 1])))
        torch.testing.assert_close(y[i:i + 1], want.detach(), atol=1e-4, rtol=0)


def test_gamma_is_monotone_per_image_and_standardised():
    x = batch()
    y = levers.gamma(x, gen())
    for a, b in zip(x.flatten(1), y.flatten(1), strict=True):
        order = torch.argsort(a)
        assert bool((b[order].diff() >= -1e-5).all())
    torch.testing.assert_close(y.mean((1, 2, 3)), torch.zeros(6), atol=1e-5, rtol=0)


def test_erase_only_touches_edge_strips():
    x = batch(64)
    y = levers.erase(x, gen(), p=0.3)
    assert torch.equal(y[..., 8:24], x[..., 8:24])
    changed = (y != x).flatten(1).any(1)
    assert 5 < int(changed.sum()) < 40
    assert torch.equal(x, batch(64))  # the input is not written


def test_the_script_runs_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--recipe", "quick", "--seeds", "0", "--levers",
                           "baseline", "erase", "wd1e-3"], capture_output=True, text=True, check=False,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["levers"]) == {"baseline", "erase", "wd1e-3"}
    assert out["levers"]["baseline"]["worst_minus_baseline"]["synth_heldout"] == 0.0
    run = out["levers"]["erase"]["runs"][0]
    assert run["seed"] == 0 and 0.0 <= run["synth_heldout"] <= 1.0
