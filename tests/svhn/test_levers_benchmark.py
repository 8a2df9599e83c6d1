"""benchmarks/svhn_levers.py: its train-time levers do what they say, and the script runs end to end."""

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "svhn_levers.py"
spec = importlib.util.spec_from_file_location("svhn_levers", SCRIPT)
levers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(levers)



@pytest.fixture(scope="module")
def checks():
    """The check sets, loaded once for the module's in-process runs as the script's main loads them once for all
    its runs (each run only reads them)."""
    return levers.load_checks()

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


def by_hand_ce(logits, y, smoothing=0.0):
    """Per-image cross-entropy with label smoothing, from log-softmax: (1 - e) * -log p_y + e * mean_k -log p_k."""
    logp = torch.log_softmax(logits.double(), 1)
    return -(1 - smoothing) * logp.gather(1, y[:, None])[:, 0] - smoothing * logp.mean(1)


def test_smoothed_loss_against_the_formula():
    g = gen()
    logits, y = torch.randn(9, 10, generator=g), torch.randint(10, (9,), generator=g)
    lever = levers.WithLever(lambda x, g: x, "smooth")
    torch.testing.assert_close(lever.loss(logits, y).double(), by_hand_ce(logits, y, 0.1).sum(), rtol=1e-6, atol=0)
    plain = levers.WithLever(lambda x, g: x, "erase")
    torch.testing.assert_close(plain.loss(logits, y), torch.nn.functional.cross_entropy(logits, y, reduction="sum"))


def test_mixup_blends_images_and_losses_with_the_same_partners_and_weights():
    x = batch(8)
    lever = levers.WithLever(lambda x, g: x, "mixup")
    torch.manual_seed(3)
    out = lever(x, gen())
    partner, weight = lever.pending["partner"], lever.pending["weight"]
    assert sorted(partner.tolist()) == list(range(8)) and bool((weight >= 0.5).all() and (weight <= 1).all())
    torch.testing.assert_close(out, weight[:, None, None, None] * x + (1 - weight[:, None, None, None]) * x[partner])
    logits, y = torch.randn(8, 10, generator=gen(4)), torch.arange(8)
    want = (weight.double() * by_hand_ce(logits, y) + (1 - weight.double()) * by_hand_ce(logits, y[partner])).sum()
    torch.testing.assert_close(lever.loss(logits, y).double(), want, rtol=1e-6, atol=0)
    assert lever.pending == {}  # one step's partners are used once


def test_a_framing_lever_changes_the_framed_part_only():
    from dlexam.svhn.synthetic.scenes import SVHN_FRAMED
    from dlexam.svhn.training.recipes import RECIPES

    shipped = RECIPES["shipped"]
    assert levers.lever_recipe("erase", "shipped") is shipped
    changed = levers.lever_recipe("condensed", "shipped")
    assert shipped.parts[0].scenes == SVHN_FRAMED  # the recipe itself is untouched
    framed = changed.parts[0].scenes
    assert (framed.neighbours, framed.min_aspect, framed.max_aspect, framed.min_height) == (0.8, 0.6, 0.9, 20)
    assert (framed.blur, framed.min_contrast, framed.mnist) == (SVHN_FRAMED.blur, SVHN_FRAMED.min_contrast,
                                                                SVHN_FRAMED.mnist)
    assert changed.parts[0].share == shipped.parts[0].share and changed.parts[1:] == shipped.parts[1:]
    assert (changed.images, changed.epochs, changed.batch_size) == (shipped.images, shipped.epochs, shipped.batch_size)
    quick = levers.lever_recipe("few", "quick").parts[0].scenes
    assert quick.neighbours == 0.3 and quick.mnist == RECIPES["quick"].parts[0].scenes.mnist == 0.0


def test_a_loss_lever_puts_the_library_back(checks):
    plain = levers.step.cross_entropy_sum
    row = levers.run("smooth", "quick", 0, checks=checks)
    assert levers.step.cross_entropy_sum is plain
    assert row["lever"] == "smooth" and row["seed"] == 0


def test_the_script_runs_end_to_end(tmp_path):
    from dlexam.svhn.synthetic.digits import TRAIN_FONTS, font_dir

    extra = tmp_path / "fonts"
    extra.mkdir()
    (extra / "one.ttf").write_bytes((font_dir() / TRAIN_FONTS[0]).read_bytes())
    (extra / "notes.txt").write_text("not a font")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--recipe", "quick", "--seeds", "0", "--levers",
                           "baseline", "erase", "mixup", "--extra-fonts", str(extra)], capture_output=True,
                          text=True, check=False, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["levers"]) == {"baseline", "erase", "mixup"} and out["extra_fonts"] == 1
    assert out["levers"]["baseline"]["worst_minus_baseline"]["synth_heldout"] == 0.0
    run = out["levers"]["erase"]["runs"][0]
    assert run["seed"] == 0 and 0.0 <= run["synth_heldout"] <= 1.0


def test_extra_fonts_without_fonts_is_an_error_with_status_2(tmp_path, monkeypatch, capsys):
    """The script's main() in this process (refused before any work, as the views_of test below runs it)."""
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--extra-fonts", str(tmp_path), "--levers", "baseline"])

    def work(*_):  # the script's first work: a refusal that went missing fails here, not after a benchmark's minutes
        raise AssertionError("not refused before the work began")

    monkeypatch.setattr(levers, "load_checks", work)
    threads = torch.get_num_threads()  # main() sets one thread before it reads --extra-fonts
    try:
        with pytest.raises(SystemExit) as ended:
            levers.main()
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr()
    assert ended.value.code == 2 and out == ""
    want = f"svhn_levers.py: error: --extra-fonts: no .ttf or .otf files in {tmp_path}"
    assert err.strip().splitlines()[-1] == want  # after argparse's usage lines


def test_supersampling_at_one_point_is_the_renderers_own_sampling():
    from dlexam.svhn.synthetic import scenes

    g = gen()
    glyphs, grid = torch.rand(3, 40, 32, generator=g), torch.rand(3, 32, 32, 2, generator=g) * 2 - 1
    torch.testing.assert_close(levers.supersampled(glyphs, grid, points=1), scenes._sample(glyphs, grid))


def test_supersampling_a_fourfold_reduction_is_the_mean_of_each_block():
    """A grid that maps 8 x 8 output pixels onto a 32 x 32 glyph: 4 x 4 points per pixel land on the centres of
    the 16 glyph pixels it covers, so the box filter is avg_pool2d; a single bilinear point is not."""
    glyphs = torch.rand(2, 32, 32, generator=gen())
    centres = (torch.arange(8) + 0.5) / 8 * 2 - 1  # normalised output pixel centres
    yy, xx = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack([xx, yy], -1).expand(2, 8, 8, 2)
    want = torch.nn.functional.avg_pool2d(glyphs[:, None], 4)[:, 0]
    torch.testing.assert_close(levers.supersampled(glyphs, grid, points=4), want, atol=1e-6, rtol=0)
    assert not torch.allclose(levers.supersampled(glyphs, grid, points=1), want, atol=1e-3)


def test_antialiased_scenes_puts_the_renderer_back():
    from dlexam.svhn.synthetic import scenes

    plain = scenes._sample
    with levers.antialiased_scenes():
        assert scenes._sample is levers.supersampled
    assert scenes._sample is plain


def test_cut_input_cuts_at_training_and_at_the_checks(checks):
    from dlexam.svhn.inference import TTA_CUT, side_cut

    x = batch()
    lever = levers.WithLever(lambda x, g: x, "cut-input")
    torch.testing.assert_close(lever(x, gen()), side_cut(x, TTA_CUT))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10))
    torch.testing.assert_close(levers.SideCut(model)(x), model(side_cut(x, TTA_CUT)))
    row = levers.run("cut-input", "quick", 0, checks=checks)
    assert row["lever"] == "cut-input" and 0.0 <= row["synth_heldout"] <= 1.0


def _scrambled(model, g):
    """Every parameter and batch-norm statistic drawn at random, so that the fold has something to fold."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for norm in model.norms:
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.running_mean.copy_(torch.randn(norm.num_features, generator=g))
                norm.running_var.copy_(torch.rand(norm.num_features, generator=g) + 0.5)
    return model.eval()


def test_composed_convs_are_one_conv2d():
    """Two valid convs with nothing between, against nn.Conv2d applied twice."""
    g = gen(3)
    first, second = torch.nn.Conv2d(2, 5, 3), torch.nn.Conv2d(5, 4, 2)
    for p in (*first.parameters(), *second.parameters()):
        torch.nn.init.normal_(p, generator=g)
    x = torch.randn(3, 2, 9, 9, generator=g)
    weight, bias = levers.composed(first, second)
    assert weight.shape == (4, 2, 4, 4)
    torch.testing.assert_close(torch.nn.functional.conv2d(x, weight, bias), second(first(x)), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("lever", ["batchnorm", "reparam"])
def test_a_reparameterised_network_folds_into_the_exams(lever):
    """The folded ExamCNN gives the trained network's logits (in evaluation: batch norm at its running statistics),
    and it has exactly the exam's parameters."""
    from dlexam.svhn.model import CNNConfig, ExamCNN

    model = _scrambled(levers.Reparameterised(*levers.REPARAM_LEVERS[lever]), gen(4))
    assert sum(p.numel() for p in model.parameters()) > 3722
    x = batch(8)
    folded = model.fold()
    assert type(folded) is ExamCNN and folded.state_dict().keys() == ExamCNN(CNNConfig()).state_dict().keys()
    assert sum(p.numel() for p in folded.parameters()) == 3722
    torch.testing.assert_close(folded(x), model(x), atol=2e-4, rtol=1e-4)


def test_a_reparameterised_lever_runs_and_ships_the_exams_network(checks):
    row = levers.run("reparam", "quick", 0, checks=checks)
    assert row["lever"] == "reparam" and 0.0 <= row["synth_heldout"] <= 1.0


def test_coloured_keeps_each_luma_as_pillow_reads_it():
    luma = torch.rand(500, 1, generator=gen(3))
    rgb = levers.coloured(luma, gen(4))
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    from PIL import Image

    pixels = (rgb * 255).round().to(torch.uint8).numpy()[:, None, :]  # (500, 1, 3)
    grey = np.asarray(Image.fromarray(pixels, "RGB").convert("L"), dtype=np.float64)[:, 0]  # oracle: Pillow
    assert np.abs(grey - luma[:, 0].numpy() * 255).max() <= 1.0
    spread = (rgb.amax(1) - rgb.amin(1)).numpy()  # 0 for a grey
    assert spread.max() > 0.5 and np.median(spread) > 0.05  # hues, from greys to saturated colours


def test_contrast_in_colour_sometimes_leaves_little_in_luma():
    from dlexam.svhn.synthetic import scenes

    under = torch.rand(20_000, 1, generator=gen(5))
    fg = levers.contrasting_in_colour(under, 20_000, gen(6), 0.12, 0.5)
    assert fg.shape == (20_000, 1) and float(fg.min()) >= 0 and float(fg.max()) <= 1
    assert torch.equal(fg, levers.contrasting_in_colour(under, 20_000, gen(6), 0.12, 0.5))
    low = float(((fg - under).abs() < 0.06).float().mean())  # hue contrast without luma contrast
    luma_rule = scenes._contrasting(under, 20_000, gen(6), 0.12, 0.5)
    assert 0.02 < low < 0.2 and float((luma_rule - under).abs().min()) >= 0.12 - 1e-6


def test_surface_photos_are_read_in_luma_as_squares(tmp_path):
    from PIL import Image

    for i, name in enumerate(levers.SURFACE_PHOTOS):
        Image.new("RGB", (30 + i, 20), (200, 40 * i % 256, 10)).save(tmp_path / name)
    photos = levers.surface_photos(tmp_path, tile=16)
    assert photos.shape == (len(levers.SURFACE_PHOTOS), 16, 16)
    want = [Image.new("RGB", (1, 1), (200, 40 * i % 256, 10)).convert("L").getpixel((0, 0)) / 255
            for i in range(len(levers.SURFACE_PHOTOS))]  # oracle: Pillow's luma of each flat colour
    assert torch.allclose(photos.mean((1, 2)), torch.tensor(want), atol=1e-6, rtol=0)


def test_the_surface_levers_reach_the_renderer_and_put_it_back():
    import dataclasses

    from dlexam.svhn.synthetic import scenes

    render, contrast = scenes.render_scenes, scenes._contrasting
    recipe = dataclasses.replace(levers.lever_recipe("textures", "quick"), images=40)
    assert [p.scenes.textures if p.scenes else None for p in recipe.parts] == [0.5, 0.5, None]
    with levers.surface_lever("textures", torch.rand(2, 64, 64, generator=gen())):
        x, y = levers.training_set(recipe, 0)  # without the photos, textures raise ValueError (test_scenes)
    assert x.shape == (40, 32, 32) and scenes.render_scenes is render
    with levers.surface_lever("colour", None):
        assert scenes._contrasting is levers.contrasting_in_colour
    assert scenes._contrasting is contrast and levers.lever_recipe("colour", "quick") is levers.RECIPES["quick"]



def test_quantile_clipping_against_numpy():
    """Each image clamped to its 2% and 98% quantiles (numpy's linear interpolation) and standardised (ddof 1)."""
    x = batch(4) * torch.tensor([1.0, 3.0, 0.5, 2.0])[:, None, None, None]
    got = levers.quantile_clipped(x, 0.02, 0.98)
    for a, b in zip(x.numpy(), got.numpy(), strict=True):
        lo, hi = np.quantile(a, [0.02, 0.98])
        c = np.clip(a, lo, hi)
        np.testing.assert_allclose(b, (c - c.mean()) / (c.std(ddof=1) + 1e-5), atol=1e-4)
    assert (got.amax((1, 2, 3)) < x.amax((1, 2, 3)) / x.std((1, 2, 3))).all()  # the brightest specks were cut
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(32 * 32, 10))
    torch.testing.assert_close(levers.Normalised(model, "clip2")(x), model(got))


def test_iqr_and_centre_normalisations_against_numpy():
    x = batch(3)
    x[:, :, :, :4] += 5.0  # a bright strip at the left: a neighbour
    iqr, centre = levers.iqr_clipped(x, 1.5), levers.centre_standardised(x)
    for a, b, c in zip(x.numpy(), iqr.numpy(), centre.numpy(), strict=True):
        q1, med, q3 = np.quantile(a, [0.25, 0.5, 0.75])
        r = np.clip((a - med) / (q3 - q1 + 1e-5), -1.5, 1.5)
        np.testing.assert_allclose(b, (r - r.mean()) / (r.std(ddof=1) + 1e-5), atol=1e-4)
        m = a[..., 8:24]
        r = np.clip((a - m.mean()) / (m.std(ddof=1) + 1e-5), -3, 3)
        np.testing.assert_allclose(c, (r - r.mean()) / (r.std(ddof=1) + 1e-5), atol=1e-4)


@pytest.mark.needs_shared("data", "chars74k-digits")
def test_views_of_reads_kept_networks_through_every_view(tmp_path, checks):
    from dlexam.svhn.model import CNNConfig, ExamCNN

    torch.save(ExamCNN(CNNConfig()).state_dict(), tmp_path / "baseline-s0.pt")
    x, y = checks["chars74k"]
    few = {name: "not in this test" for name in checks} | {"chars74k": (x[::10], y[::10])}  # 60 photos
    rows = levers.views_of(tmp_path, few)
    assert [(r["model"], r["view"]) for r in rows] == [(m, v) for m in ("shipped", "baseline-s0")
                                                      for v in levers.VIEWS]
    assert rows[0]["chars74k"] > 0.8 and rows[0]["svhn_dev"] is None  # the shipped model, plain
    (tmp_path / "notes.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="notes.pt is not an exam network's state_dict"):
        levers.views_of(tmp_path, few)


def test_the_late_phase_draws_its_last_epochs_from_the_first_part_only():
    plain = levers.loop.epoch_order
    with levers.late_phase(15, part=7, late=3):
        early = levers.loop.epoch_order(20, 0, 11)
        late = levers.loop.epoch_order(20, 0, 12)
    assert levers.loop.epoch_order is plain
    torch.testing.assert_close(early, plain(20, 0, 11))  # the epochs before: the loop's own order
    assert len(late) == 20 and late.max() < 7
    counts = np.bincount(late.numpy(), minlength=7)  # 20 of 7 images: each twice or three times
    assert counts.min() == 2 and counts.max() == 3 and sorted(late[:7].tolist()) == list(range(7))


def test_a_late_half_phase_draws_half_from_the_first_part_and_half_as_usual():
    order = levers.late_order(1000, 0, 13, part=300, share=0.5)
    assert sorted(order.tolist()) != list(range(1000)) and order.max() < 1000
    counts = np.bincount(order.numpy(), minlength=1000)
    # 500 from the first 300 (every one of them at least once) and 500 of a shuffle of all 1,000 (each at most
    # once, 70% of them past the first part: 350 expected, standard deviation about 7)
    assert counts[:300].min() >= 1 and counts[300:].max() == 1 and 320 < counts[300:].sum() < 380


def sam_oracle(model, x, y, rho=0.05):
    """SAM's gradients by autograd on a copy of `model`: g at w, e = rho g / |g|, the gradient of the mean
    cross-entropy at w + e -> (g, that gradient), each a list over the parameters."""
    import copy

    import torch.nn.functional as F

    oracle = copy.deepcopy(model)
    g = torch.autograd.grad(F.cross_entropy(oracle(x), y), list(oracle.parameters()))
    norm = torch.sqrt(sum((t**2).sum() for t in g))
    with torch.no_grad():
        for p, t in zip(oracle.parameters(), g, strict=True):
            p.add_(rho * t / norm)
    return g, torch.autograd.grad(F.cross_entropy(oracle(x), y), list(oracle.parameters()))


def test_sam_hands_the_optimizer_the_gradient_at_the_perturbed_weights():
    """Against autograd on a copy (sam_oracle); the weights come back to w bit for bit."""
    import torch.nn.functional as F

    from dlexam.svhn.model import CNNConfig, ExamCNN

    torch.manual_seed(0)
    model = ExamCNN(CNNConfig()).train()
    x, y = batch(8), torch.arange(8) % 10
    g, expected = sam_oracle(model, x, y)
    before = [p.detach().clone() for p in model.parameters()]
    plain = levers.loop.autograd_backward
    optimizer = levers.step.make_optimizer(model, levers.TrainConfig())
    with levers.sharpness_aware(model, rho=0.05):
        assert model.fused_step(x, y, 1 / 8) is None  # the hook sends the step through autograd
        loss, right = levers.loop.autograd_backward(optimizer, model(x), y, 1 / 8)
    assert levers.loop.autograd_backward is plain and not model._forward_pre_hooks
    for p, w, want in zip(model.parameters(), before, expected, strict=True):
        assert torch.equal(p, w)
        torch.testing.assert_close(p.grad, want, atol=1e-6, rtol=1e-4)
    with torch.no_grad():
        assert abs(loss - float(F.cross_entropy(model(x), y))) < 1e-5
    assert not all(torch.allclose(p.grad, t, atol=1e-6, rtol=1e-4) for p, t in zip(model.parameters(), g, strict=True))


@pytest.mark.parametrize("lever", ["sam", "late"])
def test_the_eighth_rounds_training_levers_run_and_put_the_loop_back(lever, checks):
    backward, order = levers.loop.autograd_backward, levers.loop.epoch_order
    row = levers.run(lever, "quick", 0, checks=checks)
    assert levers.loop.autograd_backward is backward and levers.loop.epoch_order is order
    assert row["lever"] == lever and 0.0 <= row["synth_heldout"] <= 1.0


def test_a_combination_applies_each_of_its_parts(monkeypatch):
    """condensed+late-half+sam in one run, seen where fit is called (training_set and fit replaced by spies: nothing
    is rendered or trained): the framed part drawn as `condensed` is typed here, the last epoch's order drawn as
    late-half's counts say (half from the framed part's 900 images, half from all 3,000: 65% framed, each framed
    image at least once), and the step's gradient SAM's, against autograd on a copy (sam_oracle)."""
    from dlexam.svhn.data.realdata import CHECKS
    from dlexam.svhn.training.recipes import RECIPES

    quick, seen = RECIPES["quick"], {}

    def spy_set(recipe, seed):
        seen["recipe"] = recipe
        return torch.zeros(3000, 32, 32, dtype=torch.uint8), torch.arange(3000) % 10

    def spy_fit(model, x, y, cfg, augment):
        order = levers.loop.epoch_order(3000, 0, cfg.epochs - 1)  # the last epoch (quick has one)
        framed = order < 900  # the recipe's first part: 30% of 3,000
        seen["framed"], seen["all_framed_drawn"] = float(framed.float().mean()), len(set(order[framed].tolist()))
        xb, yb = batch(8), torch.arange(8) % 10
        _, expected = sam_oracle(model, xb, yb)
        seen["fused"] = model.fused_step(xb, yb, 1 / 8)
        levers.loop.autograd_backward(levers.step.make_optimizer(model, cfg), model(xb), yb, 1 / 8)
        seen["sam"] = all(torch.allclose(p.grad, want, atol=1e-6, rtol=1e-4)
                          for p, want in zip(model.parameters(), expected, strict=True))
        return {"model": model}

    monkeypatch.setattr(levers, "training_set", spy_set)
    monkeypatch.setattr(levers, "fit", spy_fit)
    backward, order = levers.loop.autograd_backward, levers.loop.epoch_order
    row = levers.run("condensed+late-half+sam", "quick", 0, checks={name: "not in this test" for name in CHECKS})
    framed = seen["recipe"].parts[0].scenes
    assert (framed.min_height, framed.max_height, framed.neighbours, framed.min_gap, framed.max_gap,
            framed.min_aspect, framed.max_aspect) == (20, 30, 0.8, 0, 6, 0.6, 0.9)
    assert framed.mnist == quick.parts[0].scenes.mnist and seen["recipe"].parts[1:] == quick.parts[1:]
    assert 0.6 < seen["framed"] < 0.7 and seen["all_framed_drawn"] == 900
    assert seen["fused"] is None and seen["sam"]
    assert levers.loop.autograd_backward is backward and levers.loop.epoch_order is order
    assert row["lever"] == "condensed+late-half+sam" and row["svhn_dev"] is None


def test_a_combinations_augmentations_apply_in_turn_and_clashes_are_refused():
    import argparse

    x = batch(64)
    g = gen()
    want = levers.erase(levers.gamma(x, g), g)
    torch.testing.assert_close(levers.WithLever(lambda x, g: x, "erase+gamma")(x, gen()), want)
    assert levers.lever_parts("late-half") == ("late-half",)
    for bad, why in [("condensed+few", "condensed and few change the same thing"),
                     ("sam+mixup", "sam and mixup change the same thing"), ("late+late-half", "late and late-half"),
                     ("baseline+sam", "baseline is no change"), ("erase+erase", "given twice"),
                     ("erase+blur", "unknown lever 'blur'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            levers.lever_parts(bad)


def test_split_keeps_both_framings_of_the_framed_part():
    """The tenth round's `split`: the shipped framed part (30%) as two halves of 15%, the first as SVHN_FRAMED is,
    the second with `condensed`'s changes; the other parts as shipped. The fields are typed here from
    scenes.SVHN_FRAMED and the third round's `condensed` (docs/svhn.md)."""
    import argparse

    from dlexam.svhn.synthetic.scenes import SceneConfig
    from dlexam.svhn.training.recipes import RECIPES

    shipped, split = RECIPES["shipped"], levers.lever_recipe("split", "shipped")
    assert [p.share for p in split.parts] == [0.15, 0.15, 0.3, 0.4] and split.counts() == [18000, 18000, 36000, 48000]
    assert split.parts[2:] == shipped.parts[1:]  # the wide scenes and the plain renderer, as shipped
    assert split.parts[2].scenes == SceneConfig() and split.parts[3].scenes is None
    kept, condensed = split.parts[0].scenes, split.parts[1].scenes
    fields = ("min_height", "max_height", "min_aspect", "max_aspect", "neighbours", "min_gap", "max_gap", "shift",
              "min_contrast", "max_contrast", "blur", "noise", "low_res", "mnist", "package_fonts")
    assert [getattr(kept, f) for f in fields] == [22, 34, 0.8, 1.25, 0.9, -1.0, 4, 1.0, 0.06, 0.4, 2.2, 0.02, 0.3,
                                                  0.25, True]
    assert [getattr(condensed, f) for f in fields] == [20, 30, 0.6, 0.9, 0.8, 0, 6, 1.0, 0.06, 0.4, 2.2, 0.02, 0.3,
                                                       0.25, True]
    assert {f.name for f in dataclasses.fields(SceneConfig) if getattr(kept, f.name) != getattr(condensed, f.name)} \
        == {"min_height", "max_height", "min_aspect", "max_aspect", "neighbours", "min_gap", "max_gap"}
    quick = levers.lever_recipe("split", "quick")  # the quick recipe's halves keep its own framed part (no MNIST)
    assert quick.counts() == [450, 450, 900, 1200] and quick.parts[0].scenes.mnist == quick.parts[1].scenes.mnist == 0
    textured = levers.lever_recipe("split+textures", "quick")  # textures reach both halves, in either order
    assert [p.scenes.textures if p.scenes else None for p in textured.parts] == [0.5, 0.5, 0.5, None]
    assert levers.lever_recipe("textures+split", "quick") == textured
    for bad in ("split+condensed", "few+split"):
        with pytest.raises(argparse.ArgumentTypeError, match="change the same thing"):
            levers.lever_parts(bad)


@pytest.mark.parametrize("late, framed_share", [("late", 1.0), ("late-half", 0.65)])
def test_a_late_phase_with_split_draws_from_both_framed_halves(monkeypatch, late, framed_share):
    """split with a late lever, seen where fit is called (spies: nothing rendered or trained): the quick recipe's
    last epoch (its only one) draws from its first 900 images, both halves of the framed part (450 each), every one
    of them at least once; late-half takes half its 3,000 draws from them and half from all (65% framed)."""
    from dlexam.svhn.data.realdata import CHECKS

    seen = {}

    def spy_fit(model, x, y, cfg, augment):
        seen["order"] = levers.loop.epoch_order(3000, 0, cfg.epochs - 1)
        return {"model": model}

    monkeypatch.setattr(levers, "training_set", lambda recipe, seed: (torch.zeros(3000, 32, 32, dtype=torch.uint8),
                                                                        torch.arange(3000) % 10))
    monkeypatch.setattr(levers, "fit", spy_fit)
    levers.run(f"split+{late}", "quick", 0, checks={name: "not in this test" for name in CHECKS})
    order = seen["order"]
    counts = np.bincount(order.numpy(), minlength=3000)
    assert len(order) == 3000 and counts[:900].min() >= 1  # both halves, each image at least once
    assert abs(float((order < 900).float().mean()) - framed_share) < 0.05
    if late == "late":
        assert counts[900:].max() == 0 and set(counts[:900].tolist()) == {3, 4}  # 3,000 draws of 900: 3 or 4 each


@pytest.mark.needs_shared("data", "chars74k-digits")
def test_views_of_prints_one_json_object_last(tmp_path, checks, monkeypatch, capsys):
    """`--views-of DIR` printed one JSON line per model and view on stdout and no object after them: the last line
    was one row, not the run's result. Now the rows go to stderr, as the training runs' do, and the last line of
    stdout is the one object holding them all (the shipped model alone here: DIR holds no network)."""
    x, y = checks["chars74k"]
    few = {name: "not in this test" for name in checks} | {"chars74k": (x[::20], y[::20])}  # 30 photos
    monkeypatch.setattr(levers, "load_checks", lambda: few)
    monkeypatch.setattr(sys, "argv", ["svhn_levers.py", "--views-of", str(tmp_path)])
    levers.main()
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    result = json.loads(out[-1])
    assert [(r["model"], r["view"]) for r in result["rows"]] == [("shipped", v) for v in levers.VIEWS]
