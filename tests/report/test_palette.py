"""Figures are saved as indexed-colour PNGs (figures.palette_png): exact where a figure has at most 256
colours, within a small error where it has more, and a fraction of matplotlib's RGBA bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dlexam import figures


def png_of(array: np.ndarray, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(int)


@pytest.mark.parametrize("colours", [1, 2, 200, 256])
def test_at_most_256_colours_keep_every_pixel(colours):
    rng = np.random.default_rng(colours)
    palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    image = palette[rng.permutation(np.arange(64 * 48) % colours).reshape(48, 64)]  # (48, 64, 3), every colour used
    out = figures.palette_png(png_of(image, "RGBA"))
    with Image.open(io.BytesIO(out)) as im:
        assert im.mode == "P"
    assert np.array_equal(pixels(out), image)


def test_more_colours_move_little_and_flat_areas_stay():
    """A smooth gradient of 4,096 colours beside a flat white half: 256 colours remain, white stays white, and
    the gradient's pixels move by a few levels at most."""
    ramp = np.stack(np.meshgrid(np.arange(64) * 4, np.arange(64) * 4), -1)  # (64, 64, 2): 4,096 (r, g) pairs
    image = np.concatenate([np.dstack([ramp, np.full((64, 64), 128)]), np.full((64, 64, 3), 255)], 1)
    image = image.astype(np.uint8)  # (64, 128, 3)
    out = pixels(figures.palette_png(png_of(image)))
    assert len(np.unique(out.reshape(-1, 3), axis=0)) <= figures.PALETTE
    assert (out[:, 64:] == 255).all()
    assert np.abs(out - image).max() <= 16 and np.abs(out - image).mean() < 4


def test_a_transparent_figure_is_left_as_it_is():
    image = np.zeros((8, 8, 4), dtype=np.uint8)
    image[..., 3] = 128
    png = png_of(image, "RGBA")
    assert figures.palette_png(png) == png


def matplotlib_png(colour_map: bool) -> tuple[bytes, bytes]:
    """(what matplotlib writes: RGBA, what figures.to_png writes) for a plot of five curves, over a colour map of
    2,500 colours filling the axes if `colour_map`."""
    fig, axes = figures.new_figure()
    x = np.linspace(0, 6, 400)
    for k in range(5):
        axes[0][0].plot(x, np.sin(x + k), label=f"phase {k}")
    if colour_map:
        axes[0][0].imshow(np.outer(np.linspace(0, 1, 50), np.linspace(0, 1, 50)), extent=(0, 6, -1, 1),
                          aspect="auto")
    axes[0][0].legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=figures.DPI)
    return buf.getvalue(), figures.to_png(fig)


def test_a_plot_of_lines_shrinks_and_looks_the_same():
    rgba, saved = matplotlib_png(colour_map=False)
    assert Image.open(io.BytesIO(saved)).mode == "P"
    assert len(saved) < 0.6 * len(rgba)
    # to_png crops to the drawing (bbox_inches="tight"): compare the same figure through palette_png instead
    moved = np.abs(pixels(figures.palette_png(rgba)) - pixels(rgba)).max(axis=-1)
    assert moved.mean() < 0.5 and (moved > figures.PALETTE_TOLERANCE).mean() <= figures.PALETTE_SPECKS


def test_a_colour_map_that_would_band_keeps_its_colours():
    """2,500 colours over the whole axes: 256 would band visibly (median cut moves 2% of its pixels by more than
    16 levels, up to 76), so the figure is saved in full colour, every pixel as matplotlib drew it."""
    rgba, saved = matplotlib_png(colour_map=True)
    assert Image.open(io.BytesIO(saved)).mode == "RGB"
    assert np.array_equal(pixels(figures.palette_png(rgba)), pixels(rgba))
