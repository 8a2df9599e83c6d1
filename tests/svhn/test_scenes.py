"""The house-number scenes: labels match the drawn digit, fonts, determinism, JPEG in strips, augmentation."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from dlexam.svhn.synthetic.digits import TEST_FONTS
from dlexam.svhn.synthetic.fonts import package_fonts, scene_fonts
from dlexam.svhn.synthetic.scenes import (
    GlyphSet,
    SceneConfig,
    _jpeg_in_place,
    _restroke,
    _surface_crops,
    _svhn_neighbour,
    mnist_glyphs,
    render_scenes,
)
from dlexam.svhn.training.augment import Augment, AugmentConfig

CLEAN = SceneConfig(
    package_fonts=False,
    bold=False,
    mnist=0.0,
    min_height=22,
    max_height=26,
    max_aspect=1.0,
    perspective=0.0,
    neighbours=0.0,
    plates=False,
    effects=False,
    lighting=False,
    camera=False,
)


def _pillow_digit(font_path: str, d: int) -> np.ndarray:
    """Oracle: the digit drawn by Pillow alone, tight box scaled to 24 px high, centred in 32x32."""
    font = ImageFont.truetype(font_path, 96)
    img = Image.new("L", (200, 200), 0)
    ImageDraw.Draw(img).text((30, 10), str(d), fill=255, font=font)
    crop = img.crop(img.getbbox())
    w = max(1, min(32, round(crop.width * 24 / crop.height)))
    out = Image.new("L", (32, 32), 0)
    out.paste(crop.resize((w, 24), Image.BILINEAR), ((32 - w) // 2, 4))
    return np.asarray(out, np.float64)


def _template_hit_rate(gray: np.ndarray, digits: np.ndarray) -> float:
    """Share of scenes whose best-correlated Pillow template (any matplotlib training font) is their label."""
    fonts = scene_fonts(packages=False)
    # which font drew image i is not returned; compare with every font's ten digits and take the best
    templates = np.stack([[_pillow_digit(f, d) for d in range(10)] for f in fonts])  # (F, 10, 32, 32)
    t = templates - templates.mean(axis=(2, 3), keepdims=True)
    t /= np.linalg.norm(t, axis=(2, 3), keepdims=True)
    hits = 0
    for img, label in zip(gray.astype(np.float64), digits, strict=True):
        x = img - img.mean()
        score = np.abs((t * (x / (np.linalg.norm(x) + 1e-9))).sum(axis=(2, 3)))  # (F, 10), either polarity
        hits += int(score.max(axis=0).argmax() == label)
    return hits / len(digits)


def test_each_clean_scene_looks_most_like_the_digit_it_is_labelled():
    gray, digits = render_scenes(300, seed=3, glyphs=GlyphSet(CLEAN), cfg=CLEAN)
    # rotation, shear and blur remain (measured 0.90); a wrong label gives ~0.1
    assert _template_hit_rate(gray, digits) > 0.8


def test_elastic_warp_bends_the_glyphs_more_as_it_grows_and_is_a_function_of_the_seed():
    glyphs = GlyphSet(CLEAN)
    plain, digits = render_scenes(300, seed=3, glyphs=glyphs, cfg=CLEAN)
    rates = []
    for amount in (2.0, 8.0):
        cfg = dataclasses.replace(CLEAN, elastic=amount)
        a, da = render_scenes(300, seed=3, glyphs=glyphs, cfg=cfg)
        b, _ = render_scenes(300, seed=3, glyphs=glyphs, cfg=cfg)
        assert np.array_equal(a, b) and np.array_equal(da, digits)  # same seed: same scenes; labels drawn first
        assert np.abs(a.astype(int) - plain).mean() > 1  # the glyphs moved
        rates.append(_template_hit_rate(a, da))
    # a mild warp keeps the digit legible (measured 0.88, 0.90 unwarped); a warp of a fifth of the glyph's
    # height breaks many letterforms (measured 0.49), so the template match drops
    assert rates[0] > 0.75 and rates[1] < rates[0] - 0.1


def test_restroke_is_a_blend_towards_dilation_or_erosion():
    mask = torch.rand(4, 32, 32) * (torch.rand(4, 32, 32) > 0.5)
    dilated = F.max_pool2d(mask[:, None], 3, stride=1, padding=1)[:, 0]  # oracle: max over 3x3, in bounds
    eroded = -F.max_pool2d(-mask[:, None], 3, stride=1, padding=1)[:, 0]  # min over 3x3, in bounds
    out = _restroke(mask, torch.tensor([1.0, -1.0, 0.5, 0.0]))
    assert torch.allclose(out[0], dilated[0]) and torch.allclose(out[1], eroded[1])
    assert torch.allclose(out[2], (mask[2] + dilated[2]) / 2) and torch.equal(out[3], mask[3])


def test_stroke_changes_the_ink_and_keeps_labels_and_determinism():
    glyphs = GlyphSet(CLEAN)
    plain, digits = render_scenes(200, seed=4, glyphs=glyphs, cfg=CLEAN)
    cfg = dataclasses.replace(CLEAN, stroke=1.0)
    a, da = render_scenes(200, seed=4, glyphs=glyphs, cfg=cfg)
    b, _ = render_scenes(200, seed=4, glyphs=glyphs, cfg=cfg)
    assert np.array_equal(a, b) and np.array_equal(da, digits) and not np.array_equal(a, plain)
    assert _template_hit_rate(a, da) > 0.75  # still legible (measured 0.88)


def test_rendering_is_a_function_of_the_seed_and_labels_are_balanced():
    cfg = SceneConfig(package_fonts=False)
    glyphs = GlyphSet(cfg)
    a, da = render_scenes(2000, seed=7, glyphs=glyphs, cfg=cfg)
    b, db = render_scenes(2000, seed=7, glyphs=glyphs, cfg=cfg)
    c, _ = render_scenes(2000, seed=8, glyphs=glyphs, cfg=cfg)
    assert a.shape == (2000, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(da, db) and not np.array_equal(a, c)
    counts = np.bincount(da, minlength=10)
    assert counts.min() > 140 and counts.max() < 260  # 200 expected per digit


def test_held_out_fonts_are_never_training_fonts():
    names = {p.rsplit("/", 1)[-1] for p in scene_fonts()}
    assert not names & set(TEST_FONTS)
    assert len(scene_fonts()) > len(scene_fonts(packages=False))


@pytest.mark.skipif(not package_fonts(), reason="no font packages installed")
def test_every_package_font_has_ten_distinct_digits():
    from dlexam.svhn.synthetic.digits import glyph_bank

    ink, widths = glyph_bank(package_fonts())
    flat = ink.reshape(ink.shape[0], 10, -1)
    assert (widths > 0).all()
    # no font draws two digits alike (a missing-glyph box would repeat)
    diffs = torch.cdist(flat, flat, p=1) / flat.shape[-1]  # (F, 10, 10) mean absolute differences
    off_diagonal = diffs + torch.eye(10) * 1e9
    assert off_diagonal.min() > 0.01


def test_mnist_digits_become_glyphs_of_full_height():
    x = np.zeros((2, 28, 28), np.uint8)
    x[0, 4:24, 10:18] = 255  # a 20x8 bar
    x[1, 10:12, 3:25] = 200  # a 2x22 dash: wider than tall, capped at the glyph width
    ink, widths = mnist_glyphs(x)
    assert ink.shape == (2, 40, 32)
    assert widths[0] == 16 and ink[0, :, 8:24].mean() > 0.9 and ink[0, :, :7].max() == 0
    assert widths[1] == 32


def test_jpeg_strips_equal_one_image_at_a_time():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 32, 32), dtype=np.uint8)
    idx = np.arange(12)
    quality = np.full(12, 40)
    strip = images.copy()
    _jpeg_in_place(strip, idx, quality)
    for i in range(12):  # oracle: Pillow on each image alone
        buf = io.BytesIO()
        Image.fromarray(images[i]).save(buf, format="JPEG", quality=40)
        alone = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
        assert np.array_equal(strip[i], alone)


def test_augment_identity_and_exact_polarity_flip():
    x = torch.randn(16, 1, 32, 32)
    g = torch.Generator().manual_seed(0)
    none = AugmentConfig(shift=0, scale=0, rotate=0, shear=0, invert=0, noise=0)
    assert torch.allclose(Augment(none)(x, g), x, atol=1e-5)
    flip = AugmentConfig(shift=0, scale=0, rotate=0, shear=0, invert=1, noise=0)
    assert torch.allclose(Augment(flip)(x, g), -x, atol=1e-5)
    moved = Augment(AugmentConfig())(x, torch.Generator().manual_seed(1))
    again = Augment(AugmentConfig())(x, torch.Generator().manual_seed(1))
    assert moved.shape == x.shape and torch.equal(moved, again)


def test_svhn_neighbours_follow_svhns_published_digit_counts_in_typefaces_only():
    n = 200_000
    start = torch.where(torch.arange(n) % 2 == 0, 30, 1960)  # typeface family at glyph 30; MNIST from 1960
    count = torch.where(torch.arange(n) % 2 == 0, 10, 8000)
    uniform = torch.full((n,), 4242)
    got = _svhn_neighbour(uniform, start, count, torch.Generator().manual_seed(0))
    assert torch.equal(got[1::2], uniform[1::2])  # MNIST neighbours: the uniform pick, untouched
    share = torch.bincount(got[::2] - 30, minlength=10).double() / (n // 2)
    # oracle: SVHN's train class counts as printed in the dataset's documentation (label 10 = digit 0)
    svhn = torch.tensor([4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659], dtype=torch.float64)
    assert torch.allclose(share, svhn / 73257, atol=0.005)


def test_svhn_neighbours_keep_labels_and_change_the_scenes():
    cfg = dataclasses.replace(CLEAN, neighbours=1.0)
    glyphs = GlyphSet(cfg)
    plain, digits = render_scenes(300, seed=5, glyphs=glyphs, cfg=cfg)
    like = dataclasses.replace(cfg, svhn_neighbours=True)
    a, da = render_scenes(300, seed=5, glyphs=glyphs, cfg=like)
    b, _ = render_scenes(300, seed=5, glyphs=glyphs, cfg=like)
    assert np.array_equal(a, b) and np.array_equal(da, digits) and not np.array_equal(a, plain)


def test_surface_crops_stay_inside_one_photo():
    # three flat photos: a crop that reached past its own photo (the next one, or the padding) would mix values
    surfaces = torch.tensor([0.2, 0.5, 0.8])[:, None, None].expand(3, 64, 64).contiguous()
    crops = _surface_crops(surfaces, 500, 32, torch.Generator().manual_seed(0))
    flat = crops.amax((1, 2)) - crops.amin((1, 2))
    assert float(flat.max()) < 1e-5
    assert set(crops[:, 0, 0].mul(10).round().int().tolist()) == {2, 5, 8}


def test_surface_crops_zoom_a_quarter_to_two_photo_pixels_an_output_pixel():
    # a photo that is a plane of slope 1/256 a photo px: each crop is a plane whose slope, an output px, is the zoom
    ramp = (torch.arange(256, dtype=torch.float32)[None, :] + torch.arange(256)[:, None]) / 512
    crops = _surface_crops(ramp[None], 400, 32, torch.Generator().manual_seed(1))
    gx, gy = crops[:, :, 1:] - crops[:, :, :-1], crops[:, 1:] - crops[:, :-1]
    zoom = torch.hypot(gx.mean((1, 2)), gy.mean((1, 2))) * 512 / 2 ** 0.5  # the plane's gradient is sqrt 2 / 512
    assert float(zoom.min()) > 0.25 - 1e-3 and float(zoom.max()) < 2 + 1e-3
    assert float(zoom.min()) < 0.3 and float(zoom.max()) > 1.7  # the whole range is drawn


def test_textures_need_photos_keep_labels_and_change_the_scenes():
    cfg = dataclasses.replace(CLEAN, plates=True)
    glyphs = GlyphSet(cfg)
    with pytest.raises(ValueError, match="surfaces"):
        render_scenes(4, seed=5, glyphs=glyphs, cfg=dataclasses.replace(cfg, textures=0.5))
    surfaces = torch.rand(2, 64, 64, generator=torch.Generator().manual_seed(2))
    plain, digits = render_scenes(200, seed=5, glyphs=glyphs, cfg=cfg, surfaces=surfaces)  # unused at textures 0
    assert np.array_equal(plain, render_scenes(200, seed=5, glyphs=glyphs, cfg=cfg)[0])
    textured = dataclasses.replace(cfg, textures=0.5)
    a, da = render_scenes(200, seed=5, glyphs=glyphs, cfg=textured, surfaces=surfaces)
    b, _ = render_scenes(200, seed=5, glyphs=glyphs, cfg=textured, surfaces=surfaces)
    assert np.array_equal(a, b) and np.array_equal(da, digits) and not np.array_equal(a, plain)
