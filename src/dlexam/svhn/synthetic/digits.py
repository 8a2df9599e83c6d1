"""SVHN-like synthetic digits, written as official Format 2 .mat files.

There is no network here, so tests and demos make their own data. Each image is a centred digit
with its neighbours cut off at the sides, as in SVHN's 32x32 crops: a font drawn from the TrueType
fonts matplotlib ships (DejaVu, STIX, Computer Modern; no system fonts), random foreground and
background colours with a gradient, and random scale, rotation, shear, blur and noise.

The held-out test split is drawn from fonts the train split never uses (TEST_FONTS), so its
accuracy measures generalisation to new typefaces, not memorisation of glyphs.

Rendering is vectorised: each (font, digit) glyph is drawn once with Pillow, then all images are
placed at once with ``affine_grid``/``grid_sample``; 20,000 images take a few seconds.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlexam import limits
from dlexam.bounds import IMAGES
from dlexam.errors import UserError
from dlexam.files import OutputDir, atomic_open
from dlexam.svhn.data import SIZE

TRAIN_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
)
TEST_FONTS = ("DejaVuSerif-Italic.ttf", "STIXGeneralBol.ttf", "cmss10.ttf", "DejaVuSansMono-BoldOblique.ttf")

GLYPH_H, GLYPH_W = 40, 32  # glyph box in pixels; digits are scaled to GLYPH_H ink height


def font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_path(name: str) -> Path:
    """A font file: an absolute path as it is, a bare name in matplotlib's font folder."""
    p = Path(name)
    return p if p.is_absolute() else font_dir() / name


@lru_cache(maxsize=16)
def glyph_bank(fonts: tuple[str, ...], stroke: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Render digits 0-9 in each font -> (ink (F, 10, GLYPH_H, GLYPH_W) in [0, 1], width (F, 10) px).

    `stroke` > 0 draws each digit with an outline of that many pixels (at 96 px) in the ink's own
    colour: a bolder weight of the same typeface.
    """
    from PIL import Image, ImageDraw, ImageFont

    ink = np.zeros((len(fonts), 10, GLYPH_H, GLYPH_W), np.float32)
    widths = np.zeros((len(fonts), 10), np.float32)
    for i, name in enumerate(fonts):
        font = ImageFont.truetype(str(font_path(name)), 96)
        for d in range(10):
            img = Image.new("L", (200, 200), 0)
            ImageDraw.Draw(img).text((30, 10), str(d), fill=255, font=font, stroke_width=stroke, stroke_fill=255)
            box = img.getbbox()
            if box is None:
                raise RuntimeError(f"font {name} has no glyph for {d}")
            crop = img.crop(box)
            w = max(1, round(crop.width * GLYPH_H / crop.height))
            w = min(w, GLYPH_W)
            glyph = np.asarray(crop.resize((w, GLYPH_H), Image.LANCZOS), np.float32) / 255.0
            left = (GLYPH_W - w) // 2
            ink[i, d, :, left : left + w] = glyph
            widths[i, d] = w
    return torch.from_numpy(ink), torch.from_numpy(widths)


def _place(ink: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    x = ink.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1)  # (N, 1, 32, 32) -> (N, 32, 32)


def _blur_matrices(sigma: torch.Tensor, size: int = SIZE, radius: int = 3) -> torch.Tensor:
    """Per-image Gaussian blur as (N, size, size) matrices (edges replicated): B @ img @ B^T."""
    k = torch.arange(-radius, radius + 1, dtype=torch.float32)
    w = torch.exp(-(k[None] ** 2) / (2 * sigma[:, None] ** 2))
    w = w / w.sum(1, keepdim=True)  # (N, 2r+1)
    idx = (torch.arange(size)[:, None] + k[None].long()).clamp(0, size - 1)  # (size, 2r+1)
    B = torch.zeros(sigma.shape[0], size, size)
    B.scatter_add_(
        2, idx.expand(sigma.shape[0], size, -1).contiguous(), w[:, None, :].expand(-1, size, -1).contiguous()
    )
    return B


def render(n: int, seed: int, fonts: tuple[str, ...] = TRAIN_FONTS) -> tuple[np.ndarray, np.ndarray]:
    """Render `n` SVHN-like RGB digits -> (uint8 (n, 32, 32, 3), digits int64 (n,) in 0..9)."""
    g = torch.Generator().manual_seed(int(seed))
    bank, widths = glyph_bank(tuple(fonts))
    U = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    digits = torch.randint(0, 10, (n,), generator=g)
    font = torch.randint(0, len(fonts), (n,), generator=g)
    left = torch.randint(0, 10, (n,), generator=g)
    right = torch.randint(0, 10, (n,), generator=g)
    has_left, has_right = U(n) < 0.75, U(n) < 0.75

    # Geometry, in output pixels (centre of the 32x32 crop is 0): ink height, rotation, shear, shift.
    height = 15 + 12 * U(n)  # digit height 15..27 px
    scale = height / GLYPH_H  # output px per glyph px
    aspect = 0.8 + 0.45 * U(n)  # horizontal stretch
    angle = (U(n) - 0.5) * math.radians(24)
    shear = (U(n) - 0.5) * 0.4
    shift = (U(n, 2) - 0.5) * torch.tensor([4.0, 4.0])
    gap = 1 + 5 * U(n)  # glyph px between neighbours

    cos, sin = torch.cos(angle), torch.sin(angle)
    # u (output px) -> g (glyph px): g = S^-1 Sh^-1 R^-1 (u - t), then normalise both frames.
    rinv = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # (n, 2, 2)
    shinv = torch.zeros(n, 2, 2)
    shinv[:, 0, 0], shinv[:, 0, 1], shinv[:, 1, 1] = 1, -shear, 1
    sinv = torch.zeros(n, 2, 2)
    sinv[:, 0, 0], sinv[:, 1, 1] = 1 / (scale * aspect), 1 / scale
    M = sinv @ shinv @ rinv  # (n, 2, 2), output px -> glyph px
    to_out = torch.diag(torch.tensor([SIZE / 2, SIZE / 2]))  # normalised output -> output px
    to_glyph = torch.diag(torch.tensor([2.0 / GLYPH_W, 2.0 / GLYPH_H]))  # glyph px -> normalised
    A = to_glyph @ M @ to_out  # (n, 2, 2)
    b = -(to_glyph @ M @ shift.unsqueeze(-1)).squeeze(-1)  # (n, 2)

    # One sampling grid for the centre digit; a neighbour's grid is the same shifted in x.
    theta = torch.cat([A, b.unsqueeze(-1)], -1)  # (n, 2, 2) and (n, 2, 1) -> (n, 2, 3)
    grid = F.affine_grid(theta, [n, 1, SIZE, SIZE], align_corners=False)  # (n, 32, 32, 2)
    w_c, w_l, w_r = widths[font, digits], widths[font, left], widths[font, right]

    def shifted(offset_px: torch.Tensor) -> torch.Tensor:  # the grid of a glyph offset_px to the right
        out = grid.clone()
        out[..., 0] -= (offset_px * 2.0 / GLYPH_W)[:, None, None]
        return out

    mask = _place(bank[font, digits], grid)
    mask = torch.maximum(mask, _place(bank[font, left], shifted(-(w_c + w_l) / 2 - gap)) * has_left[:, None, None])
    mask = torch.maximum(mask, _place(bank[font, right], shifted((w_c + w_r) / 2 + gap)) * has_right[:, None, None])

    # Colours: background with a linear gradient, foreground far enough from it in luma.
    luma = torch.tensor([0.299, 0.587, 0.114])
    bg = U(n, 3)
    fg = U(n, 3)
    contrast = (fg @ luma) - (bg @ luma)
    need = 0.10 + 0.30 * U(n)
    push = torch.where(contrast.abs() < need, torch.sign(contrast + 1e-6) * need - contrast, torch.zeros(n))
    fg = (fg + push[:, None]).clamp(0, 1)
    fg = torch.where(((fg @ luma) - (bg @ luma)).abs()[:, None] < 0.1, 1 - bg, fg)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE), indexing="ij")
    gdir = U(n, 2) - 0.5
    gradient = (gdir[:, 0, None, None] * xx + gdir[:, 1, None, None] * yy) * 0.5 * U(n)[:, None, None]
    img = bg[:, :, None, None] * (1 + gradient[:, None]) * (1 - mask[:, None]) + fg[:, :, None, None] * mask[:, None]

    # Blur: a per-image Gaussian (sigma 0.3..1.6 px), as blur matrices on rows and columns.
    B = _blur_matrices(0.3 + 1.3 * U(n))[:, None]  # (n, 1, 32, 32)
    img = B @ img @ B.transpose(-1, -2)  # (n, 3, 32, 32)
    img = img + torch.randn(n, 3, SIZE, SIZE, generator=g) * (0.01 + 0.09 * U(n))[:, None, None, None]
    out = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)  # (n, 32, 32, 3)
    return out.contiguous().numpy(), digits.numpy()


def write_mat(path: str | os.PathLike, rgb: np.ndarray, digits: np.ndarray) -> None:
    """Write (N, 32, 32, 3) uint8 images and digits 0..9 as an official Format 2 .mat file."""
    with atomic_open(path, "wb") as f:
        save_mat(f, rgb, digits)


def save_mat(f, rgb: np.ndarray, digits: np.ndarray) -> None:
    """(N, 32, 32, 3) uint8 images and digits 0..9 into the open file `f`, as an official Format 2 .mat."""
    import scipy.io

    X = np.ascontiguousarray(np.moveaxis(rgb, 0, 3))  # (N, 32, 32, 3) -> (32, 32, 3, N)
    y = np.where(digits == 0, 10, digits).astype(np.uint8).reshape(-1, 1)  # (N, 1), 10 means 0
    scipy.io.savemat(f, {"X": X, "y": y})


def _render_chunked(n: int, seed: int, fonts: tuple[str, ...], chunk: int = 4096):
    parts = [render(min(chunk, n - i), seed * 7919 + i // chunk, fonts) for i in range(0, n, chunk)]
    if not parts:
        return np.zeros((0, SIZE, SIZE, 3), np.uint8), np.zeros((0,), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def held_out_split(n_test: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The test split `write_synthetic(..., n_test, seed)` writes (TEST_FONTS), in memory: RGB and digits."""
    return _render_chunked(int(n_test), 2 * int(seed) + 1, TEST_FONTS)


def write_splits(out_dir: str | os.PathLike, splits: dict, *, force: bool = False) -> Path:
    """Write {split: (rgb, digits)} as official .mat files into `out_dir`, never over a file dlexam did not
    write (unless `force`): the folder is checked before the images are made, so call it with generators.
    The folder is locked meanwhile: a second writer is refused, so no folder holds one writer's train split
    beside another's test split."""
    from dlexam.svhn.data.image_folder import is_image_folder

    with OutputDir(out_dir, force=force, lock=True) as out:
        if is_image_folder(out.path):  # the reverse of an image folder written beside train_32x32.mat (export.py)
            raise UserError(f"{out.path} is an image folder ({out.path}/0/ ... {out.path}/9/): .mat files written into "
                            f"it would be read instead of its images (`svhn train --data {out.path}` takes "
                            "train_32x32.mat first); choose another folder")
        out.claim(*(f"{name}_32x32.mat" for name in splits))
        for name, make in splits.items():
            with out.open(f"{name}_32x32.mat") as f:  # the file and its record: one commit
                save_mat(f, *make())
    return out.path


def write_synthetic(out_dir: str | os.PathLike, n_train: int = 20000, n_test: int = 4000, seed: int = 0, *,
                    force: bool = False) -> dict:
    """Write train_32x32.mat (TRAIN_FONTS) and test_32x32.mat (held-out TEST_FONTS) into `out_dir`."""
    IMAGES.check("n_train", n_train)
    IMAGES.check("n_test", n_test)
    limits.seed("seed", seed)
    out = write_splits(out_dir, {
        "train": lambda: _render_chunked(int(n_train), 2 * int(seed), TRAIN_FONTS),
        "test": lambda: held_out_split(n_test, seed),
    }, force=force)
    return {
        "out": str(out),
        "train": int(n_train),
        "test": int(n_test),
        "seed": int(seed),
        "train_fonts": list(TRAIN_FONTS),
        "test_fonts": list(TEST_FONTS),
    }
