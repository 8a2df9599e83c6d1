"""Synthetic house numbers that transfer to photos: SynDigits-style scenes, rendered in batches.

:mod:`dlexam.svhn.synthetic.digits` draws a digit and its neighbours on a coloured gradient. A network trained
on that alone reads 70% of real photographed digits. This renderer grows from it (the same glyph
bank, placement by ``grid_sample`` and blur matrices) and adds what photos of house numbers have,
in the spirit of SynDigits (Ganin & Lempitsky, 2015):

* **glyphs**: ~100 typefaces (:mod:`dlexam.svhn.synthetic.fonts`), each also drawn bolder, and optionally
  real handwritten digits (MNIST's first 8,000) used as glyphs of their own;
* **geometry**: digit heights from SVHN-like (half the crop) to filling it and cut at the edges,
  aspect changes, rotation, shear, perspective; neighbouring digits cut at both sides;
* **surfaces**: a plate with visible edges and an optional border, on a textured background;
  drop shadows (3-D digits) and outlines; clutter lines;
* **light and camera**: shading, cast shadows and highlights, both polarities, Gaussian blur, low
  resolution, sensor noise, JPEG artefacts.

Everything is drawn as scene coordinates -> glyph coordinates for a whole batch at once; JPEG
compression runs once per quality bin on a strip of images (about 4,000 scenes a second on one
core here). :class:`SceneConfig` switches each ingredient, which is how
docs/svhn.md's ablation was measured. Two configurations make the shipped recipe's scenes: the
default (wide geometry: small to cropped digits, stretched up to 2.5 times, as resized photos of
single characters are) and :data:`SVHN_FRAMED` (as SVHN's Format 2 crops frame a house number).
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from dlexam.svhn.data import SIZE
from dlexam.svhn.synthetic.digits import GLYPH_H, GLYPH_W, _blur_matrices


@dataclass(frozen=True)
class SceneConfig:
    """What the scenes contain and how they are framed; each field is one lever of docs/svhn.md's ablation."""

    package_fonts: bool = True  # the PyPI font packages besides matplotlib's 12 typefaces
    bold: bool = True  # each typeface also drawn with a 4-px stroke at 96 px (a heavier weight)
    mnist: float = 0.25  # share of images whose digits are real handwritten MNIST digits (first 8,000)
    min_height: float = 14.0  # digit ink height in output pixels, uniform in [min_height, max_height]
    max_height: float = 34.0  # above 32 the digit is cut at the top and bottom, as in tight crops
    min_aspect: float = 0.8  # horizontal stretch log-uniform in [min_aspect, max_aspect]
    max_aspect: float = 2.5  # beyond 1.25: crops resized to squares without keeping the aspect (Chars74K)
    perspective: float = 0.25  # strength of the random homography (0: affine only)
    neighbours: float = 0.7  # probability of a digit at each side
    min_gap: float = -1.0  # glyph px between neighbours, uniform in [min_gap, max_gap] (negative: touching)
    max_gap: float = 6.0
    shift: float = 1.5  # the digit's centre moves up to this many output px on each axis
    plates: bool = True  # plates with edges and borders, textured backgrounds, clutter lines
    effects: bool = True  # drop shadows (3-D digits) and outlines
    lighting: bool = True  # shading gradients, cast shadows, highlights
    camera: bool = True  # low resolution, heavier blur, sensor noise, JPEG artefacts
    min_contrast: float = 0.12  # digit luma differs from what is under it by uniform [min, max] at least
    max_contrast: float = 0.5
    blur: float = 1.3  # camera blur sigma 0.2 + blur * u^2 output px (without camera: 0.3 + 1.3 u)
    noise: float = 0.05  # camera sensor noise sd 0.003 + noise * u^2 (luma 0..1)
    low_res: float = 0.2  # share of images brought down to 13..25 px and back
    jpeg: float = 0.3  # share of images JPEG-compressed at quality 15..90
    # Levers added after the shipped recipe (issue 21's second round); 0 leaves the scenes, and the random
    # stream that draws them, exactly as before.
    elastic: float = 0.0  # glyph px: a smooth random warp of each scene's glyphs (new letterforms), 0: none
    stroke: float = 0.0  # output px, at most 1: strokes thickened or thinned by uniform [-stroke, stroke]
    svhn_neighbours: bool = False  # typeface neighbours' digits drawn as often as in SVHN (1 most, 9 least)
    # Issue 21's seventh round: a share of scenes whose wall and plate carry the detail of photographed surfaces
    # (render_scenes' `surfaces`: brick, gravel, grass, ...); 0 leaves the scenes and their random stream as before.
    textures: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SceneConfig:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


# How often each digit 0-9 occurs in SVHN's train split: its published class counts (Netzer et al. 2011;
# label 10 is the digit 0), numbers rather than images. House numbers hold far more 1s than 9s.
SVHN_DIGIT_COUNTS = (4948, 13861, 10585, 8497, 7458, 6882, 5727, 5595, 5045, 4659)

# SVHN's Format 2 framing (issue 21): each crop is a digit's bounding box extended to a square, so the digit
# fills most of the height (here 22..34 px of 32), keeps its own aspect, and its neighbours stand at both
# sides nearly always (0.9 each), close (gaps up to 4 glyph px) and cut by the crop's edges; the digit is
# centred within a pixel. The camera of street photos: low contrast (from 0.06 luma), heavy blur (sigma
# up to 2.4 px), little sensor noise, and more low-resolution crops (30%).
SVHN_FRAMED = SceneConfig(min_height=22, max_height=34, max_aspect=1.25, neighbours=0.9, max_gap=4, shift=1.0,
                          min_contrast=0.06, max_contrast=0.4, blur=2.2, noise=0.02, low_res=0.3)


class GlyphSet:
    """All glyphs as ink masks (G, GLYPH_H, GLYPH_W), their widths and digits, grouped in families.

    A family is one typeface (10 glyphs, digit d at start + d) or the MNIST digits (one glyph each).
    A scene draws all its digits from one family, as a house number is written in one typeface.
    """

    def __init__(self, cfg: SceneConfig, mnist_images: np.ndarray | None = None, mnist_labels=None):
        from dlexam.svhn.synthetic.digits import glyph_bank
        from dlexam.svhn.synthetic.fonts import scene_fonts

        fonts = scene_fonts(packages=cfg.package_fonts)
        banks = [glyph_bank(fonts)] + ([glyph_bank(fonts, 4)] if cfg.bold else [])
        ink = torch.cat([b[0] for b in banks]).reshape(-1, GLYPH_H, GLYPH_W)  # (F', 10, H, W) -> (10 F', H, W)
        widths = torch.cat([b[1] for b in banks]).reshape(-1)
        digits = torch.arange(10).repeat(ink.shape[0] // 10)
        n_font_families = ink.shape[0] // 10
        starts, sizes = [10 * i for i in range(n_font_families)], [10] * n_font_families
        if mnist_images is not None and len(mnist_images):
            m_ink, m_w = mnist_glyphs(mnist_images)
            starts.append(ink.shape[0])
            sizes.append(m_ink.shape[0])
            ink, widths = torch.cat([ink, m_ink]), torch.cat([widths, m_w])
            digits = torch.cat([digits, torch.as_tensor(np.asarray(mnist_labels), dtype=torch.int64)])
        self.ink, self.widths, self.digits = ink, widths, digits
        self.starts, self.sizes = torch.tensor(starts), torch.tensor(sizes)
        self.n_fonts = n_font_families
        self.has_mnist = len(starts) > n_font_families


def mnist_glyphs(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits (N, 28, 28) -> glyphs (N, GLYPH_H, GLYPH_W) scaled to GLYPH_H ink height, and widths."""
    x = torch.tensor(np.asarray(images), dtype=torch.float32) / 255.0  # (N, 28, 28)
    out = torch.zeros(x.shape[0], GLYPH_H, GLYPH_W)
    widths = torch.zeros(x.shape[0])
    rows, cols = (x > 0.1).any(2), (x > 0.1).any(1)  # (N, 28) each
    for i in range(x.shape[0]):
        r, c = rows[i].nonzero().flatten(), cols[i].nonzero().flatten()
        if len(r) == 0:
            continue
        crop = x[i, r[0] : r[-1] + 1, c[0] : c[-1] + 1]
        w = int(min(GLYPH_W, max(1, round(crop.shape[1] * GLYPH_H / crop.shape[0]))))
        glyph = F.interpolate(crop[None, None], size=(GLYPH_H, w), mode="bilinear", align_corners=False)[0, 0]
        left = (GLYPH_W - w) // 2
        out[i, :, left : left + w] = glyph.clamp(0, 1)
        widths[i] = w
    return out, widths


def _sample(glyphs: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Glyphs (n, H, W) sampled at grid (n, S, S, 2) in normalised glyph coordinates -> (n, S, S)."""
    out = F.grid_sample(glyphs.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.squeeze(1)  # (n, 1, S, S) -> (n, S, S)


def _dilate(mask: torch.Tensor) -> torch.Tensor:
    """3x3 maximum filter of (n, S, S) (zeros beyond the border); max_pool2d is far slower at stride 1."""
    p = F.pad(mask, (1, 1, 1, 1))  # (n, S + 2, S + 2)
    rows = torch.maximum(torch.maximum(p[:, :-2], p[:, 1:-1]), p[:, 2:])  # (n, S, S + 2)
    return torch.maximum(torch.maximum(rows[:, :, :-2], rows[:, :, 1:-1]), rows[:, :, 2:])


def _svhn_neighbour(pick: torch.Tensor, start: torch.Tensor, count: torch.Tensor, g: torch.Generator):
    """Glyph indices (n,) of neighbours whose digits follow SVHN_DIGIT_COUNTS, in typeface families (10 glyphs,
    digit d at start + d); `pick` (a uniform choice) is kept in the MNIST family, whose glyphs are unordered."""
    digit = torch.multinomial(torch.tensor(SVHN_DIGIT_COUNTS, dtype=torch.float64), len(pick), replacement=True,
                              generator=g)
    return torch.where(count == 10, start + digit, pick)


def _restroke(mask: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Thicken (weight > 0) or thin (weight < 0) the ink of (n, S, S) by |weight| <= 1 output pixel (n,):
    a blend towards the 3x3 dilation or erosion of the mask."""
    thick, thin = _dilate(mask), 1 - _dilate(1 - mask)  # erosion: the dilation of the background
    target = torch.where(weight[:, None, None] > 0, thick, thin)
    return mask + weight.abs()[:, None, None] * (target - mask)


def _smooth_noise(n: int, size: int, cells: int, g: torch.Generator) -> torch.Tensor:
    """Low-frequency noise in [-1, 1]: a (cells x cells) random field upsampled bicubically -> (n, size, size)."""
    field = torch.rand(n, 1, cells, cells, generator=g) * 2 - 1
    return F.interpolate(field, size=(size, size), mode="bicubic", align_corners=False).squeeze(1)


def _surface_crops(surfaces: torch.Tensor, n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """n square crops (n, size, size) of the photos `surfaces` (P, T, T): each of a random photo, at a zoom of
    1/4 .. 2 photo px an output px (log-uniform; at most what a photo holds turned), turned by any angle, wherever
    the turned crop fits in its photo."""
    photos, tile = surfaces.shape[0], surfaces.shape[-1]
    which = torch.randint(photos, (n,), generator=g)
    zoom = torch.exp(math.log(0.25) + math.log(8) * torch.rand(n, generator=g)).clamp(max=tile / size / math.sqrt(2))
    angle = torch.rand(n, generator=g) * 2 * math.pi
    reach = (zoom * size / 2 * math.sqrt(2))[:, None]  # photo px from the crop's centre to its corners
    centre = reach + (tile - 2 * reach) * torch.rand(n, 2, generator=g)  # photo px
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) - size / 2
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    v = lambda t: t[:, None, None]  # noqa: E731
    cos, sin = v(torch.cos(angle) * zoom), v(torch.sin(angle) * zoom)
    px, py = v(centre[:, 0]) + xx * cos - yy * sin, v(centre[:, 1]) + xx * sin + yy * cos  # (n, S, S) photo px
    grid = torch.stack([(v(which.float()) * tile + px) * (2 / (photos * tile)) - 1, py * (2 / tile) - 1], -1)
    atlas = surfaces.transpose(0, 1).reshape(1, 1, tile, photos * tile)  # the photos side by side
    out = F.grid_sample(atlas, grid.reshape(1, n * size, size, 2), mode="bilinear", align_corners=False)
    return out.reshape(n, size, size)


def _surface_detail(surfaces: torch.Tensor, n: int, size: int, g: torch.Generator, lo: float, hi: float):
    """Zero-mean detail of photographed surfaces (n, size, size), each crop's scaled by uniform [lo, hi]."""
    if n == 0:
        return torch.zeros(0, size, size)
    crops = _surface_crops(surfaces, n, size, g)
    gain = lo + (hi - lo) * torch.rand(n, generator=g)
    return (crops - crops.mean((1, 2), keepdim=True)) * gain[:, None, None]


def _contrasting(under: torch.Tensor, n: int, g: torch.Generator, lo: float = 0.12, hi: float = 0.5) -> torch.Tensor:
    """A luma per image (n, 1) that differs from `under`'s by at least lo .. hi (uniform), either polarity."""
    fg = torch.rand(n, 1, generator=g)
    need = lo + (hi - lo) * torch.rand(n, 1, generator=g)
    diff = fg - under
    sign = torch.where(diff.abs() < 1e-3, torch.where(under < 0.5, 1.0, -1.0), diff.sign())
    fg = torch.where(diff.abs() < need, under + sign * need, fg)  # pushed away on the side it lies
    flipped = torch.where(under < 0.5, under + need, under - need)  # past 0 or 1: the other polarity
    return torch.where((fg < 0) | (fg > 1), flipped, fg).clamp(0, 1)


def _over(img: torch.Tensor, alpha: torch.Tensor, luma: torch.Tensor) -> torch.Tensor:
    """Paint `luma` (n, 1) over `img` (n, S, S) with coverage `alpha` (n, S, S), in place."""
    return img.mul_(1 - alpha).add_(alpha * luma[:, :, None])


def render_scenes(
    n: int, seed: int, glyphs: GlyphSet, cfg: SceneConfig = SceneConfig(), size: int = SIZE,
    surfaces: torch.Tensor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render `n` house-number crops -> (uint8 grey (n, size, size), digits int64 (n,)).

    `surfaces` (P, T, T), luma in [0, 1]: square photographs of surfaces, which `cfg.textures` needs.

    Drawn in luma, which is all the exam's network sees (ITU-R 601-2 luma of SVHN's RGB). Optional
    ingredients are computed only for the images that get them (`some`).

    Longer than the project's usual 80 lines, on purpose: every stage (glyphs, geometry, surfaces,
    effects, lighting, camera) draws from one random stream in a fixed order, so the shipped model's
    training set (and with it its weights) is a function of the seed alone. Split into functions, the
    stages would have to pass that stream and a dozen per-image arrays along; the comments mark them.
    """
    if cfg.textures > 0 and cfg.plates and surfaces is None:
        raise ValueError("SceneConfig.textures needs photographs: render_scenes(..., surfaces=...)")
    g = torch.Generator().manual_seed(int(seed))
    U = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    col = lambda k: U(k, 1)  # noqa: E731 - luma of k surface colours, uniform in [0, 1]
    some = lambda p: (U(n) < p).nonzero().flatten()  # noqa: E731 - the images that get an ingredient

    # Glyphs: a family per image (a typeface, or MNIST with probability cfg.mnist), then the three digits.
    fam = torch.randint(0, glyphs.n_fonts, (n,), generator=g)
    if glyphs.has_mnist and cfg.mnist > 0:
        fam = torch.where(U(n) < cfg.mnist, torch.full((n,), len(glyphs.starts) - 1), fam)
    start, count = glyphs.starts[fam], glyphs.sizes[fam]
    pick = lambda: start + (U(n) * count).long().clamp(max=count - 1)  # noqa: E731
    centre, left, right = pick(), pick(), pick()
    digits = glyphs.digits[centre]
    if cfg.svhn_neighbours:
        left, right = _svhn_neighbour(left, start, count, g), _svhn_neighbour(right, start, count, g)

    # Geometry, in output pixels with the crop's centre at 0 (as synth.render), plus a homography.
    s = size / SIZE  # the config's figures are pixels of a SIZE-px crop
    half = size / 2.0
    height = (cfg.min_height + (cfg.max_height - cfg.min_height) * U(n)) * s
    lo = math.log(cfg.min_aspect)
    aspect = torch.exp(lo + (math.log(cfg.max_aspect) - lo) * U(n))
    scale = height / GLYPH_H
    angle = (U(n) - 0.5) * math.radians(20)
    shear = (U(n) - 0.5) * 0.5
    shift = (U(n, 2) - 0.5) * 2 * cfg.shift * s
    gap = cfg.min_gap + (cfg.max_gap - cfg.min_gap) * U(n)  # glyph px between neighbours (negative: touching)
    p = (U(n, 2) - 0.5) * 2 * cfg.perspective / half  # the homography u -> u / (1 + p . u)
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) - half
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")  # (S, S) output pixel centres
    v = lambda t: t[:, None, None]  # noqa: E731 - (n,) -> (n, 1, 1), to broadcast over pixels
    denom = 1 + xx * v(p[:, 0]) + yy * v(p[:, 1])  # (n, S, S)
    sx, sy = xx / denom - v(shift[:, 0]), yy / denom - v(shift[:, 1])  # scene px
    # scene px -> glyph px: undo rotation, then shear, then scale (x also by the aspect)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rx, ry = sx * v(cos) + sy * v(sin), sy * v(cos) - sx * v(sin)
    gx, gy = (rx - ry * v(shear)) / v(scale * aspect), ry / v(scale)  # (n, S, S) glyph px
    if cfg.elastic > 0:  # bend the letterforms: a displacement field smooth over a third of the crop
        gx = gx + _smooth_noise(n, size, 3, g) * cfg.elastic
        gy = gy + _smooth_noise(n, size, 3, g) * cfg.elastic
    w_c, w_l, w_r = glyphs.widths[centre], glyphs.widths[left], glyphs.widths[right]
    grid = torch.empty(n, size, size, 2)  # normalised glyph coordinates for grid_sample
    grid[..., 0], grid[..., 1] = gx * (2.0 / GLYPH_W), gy * (2.0 / GLYPH_H)
    mask = _sample(glyphs.ink[centre], grid)  # (n, S, S)
    has_l, has_r = U(n) < cfg.neighbours, U(n) < cfg.neighbours
    off_l, off_r = -(w_c + w_l) / 2 - gap, (w_c + w_r) / 2 + gap  # neighbour centres, glyph px
    grid[..., 0].sub_(v(off_l * (2.0 / GLYPH_W)))
    mask = torch.maximum(mask, _sample(glyphs.ink[left], grid) * v(has_l))
    grid[..., 0].sub_(v((off_r - off_l) * (2.0 / GLYPH_W)))
    mask = torch.maximum(mask, _sample(glyphs.ink[right], grid) * v(has_r))
    if cfg.stroke > 0:
        mask = _restroke(mask, (U(n) * 2 - 1) * min(cfg.stroke, 1.0))

    # Surfaces: background (textured), a plate around the digits (edges, border), clutter.
    bg = col(n)
    img = bg[:, :, None].expand(n, size, size).clone()  # (n, S, S)
    under = bg
    if cfg.plates:
        img.mul_(1 + _smooth_noise(n, size, int(U(1) * 6) + 3, g) * v(0.25 * U(n)))
        k = some(0.3)  # grain: fine texture (stucco, wood, metal)
        img[k] *= 1 + (torch.rand(len(k), size, size, generator=g) - 0.5) * 0.1
        face = None
        if cfg.textures > 0:  # photographed surfaces: the wall's detail now, the plate's (if any) below
            k = some(cfg.textures)
            img[k] += _surface_detail(surfaces, len(k), size, g, 0.3, 1.2)
            face = torch.zeros(n, size, size)
            face[k] = _surface_detail(surfaces, len(k), size, g, 0.0, 0.6)
        k = some(0.6)  # a plate: its box in glyph px covers the digits' rows and the neighbours, margins 2..32
        kx, ky = gx[k], gy[k]
        top, bottom = GLYPH_H / 2 + 2 + 30 * U(len(k)), GLYPH_H / 2 + 2 + 30 * U(len(k))
        lft = torch.where(has_l[k], -off_l[k] + w_l[k] / 2, w_c[k] / 2) + 2 + 30 * U(len(k))
        rgt = torch.where(has_r[k], off_r[k] + w_r[k] / 2, w_c[k] / 2) + 2 + 30 * U(len(k))
        dist = torch.minimum(torch.minimum(ky + v(top), v(bottom) - ky), torch.minimum(kx + v(lft), v(rgt) - kx))
        plate_col = col(len(k))
        patch = _over(img[k], torch.sigmoid(dist), plate_col)  # dist: inside the box, glyph px
        if face is not None:
            patch += torch.sigmoid(dist) * face[k]
        b = (U(len(k)) < 0.5).nonzero().flatten()  # a border ring 2..7 glyph px wide on half the plates
        ring = torch.sigmoid(dist[b]) - torch.sigmoid(dist[b] - v(2 + 5 * U(len(b))))
        patch[b] = _over(patch[b], ring, col(len(b)))
        img[k] = patch
        under = under.clone()
        under[k] = plate_col
        k = some(0.3)  # clutter: a straight line (an edge of a wall, a wire, a frame)
        theta, c = U(len(k)) * math.pi, (U(len(k)) - 0.5) * size
        d_line = (xx * v(torch.cos(theta)) + yy * v(torch.sin(theta)) - v(c)).abs()
        img[k] = _over(img[k], torch.sigmoid(v((0.5 + 2 * U(len(k))) * s) - d_line), col(len(k)))

    fg = _contrasting(under, n, g, cfg.min_contrast, cfg.max_contrast)
    if cfg.effects:
        k = some(0.3)  # drop shadow / extruded 3-D digits: the mask moved 1..3 px, darker or another colour
        d = (1 + 2 * U(len(k), 2)) * torch.where(U(len(k), 2) < 0.5, -1.0, 1.0) * s / half  # (k, 2)
        moved = torch.empty(len(k), size, size, 2)
        moved[..., 0], moved[..., 1] = xx / half - v(d[:, 0]), yy / half - v(d[:, 1])
        shadow = F.grid_sample(mask[k, None], moved, mode="bilinear", padding_mode="zeros", align_corners=False)
        shadow_col = torch.where(U(len(k), 1) < 0.6, under[k] * 0.3, col(len(k)))
        img[k] = _over(img[k], shadow[:, 0], shadow_col)
        k = some(0.15)  # outline: the digit dilated by a pixel, in a third colour
        img[k] = _over(img[k], _dilate(mask[k]), col(len(k)))
    img = _over(img, mask, fg)

    gdir = U(n, 2) - 0.5
    gradient = (xx * v(gdir[:, 0]) + yy * v(gdir[:, 1])) / half
    if cfg.lighting:
        img.mul_(1 + gradient * v(0.6 * U(n)))
        k = some(0.35)  # a cast shadow's soft edge
        theta, c = U(len(k)) * 2 * math.pi, (U(len(k)) - 0.5) * size
        edge = (xx * v(torch.cos(theta)) + yy * v(torch.sin(theta)) - v(c)) / v(0.5 + 3 * U(len(k)))
        img[k] *= 1 - torch.sigmoid(edge) * v(0.6 * U(len(k)))
        k = some(0.15)  # a highlight (glare on a glossy plate)
        c_xy = (U(len(k), 2) - 0.5) * size
        r2 = (xx - v(c_xy[:, 0])) ** 2 + (yy - v(c_xy[:, 1])) ** 2
        img[k] += torch.exp(-r2 / v(2 * (3 + 8 * U(len(k))) ** 2)) * v(0.6 * U(len(k)))
    else:  # synth.render's own gradient
        img.mul_(1 + gradient * v(0.5 * U(n)))

    # Camera: blur, low resolution, noise, JPEG.
    sigma = (0.2 + cfg.blur * U(n) ** 2) * s if cfg.camera else (0.3 + 1.3 * U(n)) * s
    B = _blur_matrices(sigma, size, radius=max(3, math.ceil(3 * (0.2 + cfg.blur) * s)))  # (n, S, S)
    img = B @ img @ B.transpose(-1, -2)  # (n, S, S)
    noise = 0.003 + cfg.noise * U(n) ** 2 if cfg.camera else 0.01 + 0.09 * U(n)
    if cfg.camera:
        k = some(cfg.low_res)  # low resolution: down to 13..25 px and back up
        if len(k):
            r = int(size * (0.4 + 0.4 * float(U(1))))
            small = F.interpolate(img[k, None], size=(r, r), mode="area")
            img[k] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    img.add_(torch.randn(n, size, size, generator=g) * v(noise))
    out = img.clamp_(0, 1).mul_(255).round_().to(torch.uint8).numpy()  # (n, S, S)
    if cfg.camera:
        k = some(cfg.jpeg)
        quality = (15 + 75 * U(len(k))).long()
        _jpeg_in_place(out, k.numpy(), quality.numpy())
    return out, digits.numpy()


def _jpeg_in_place(images: np.ndarray, idx: np.ndarray, quality: np.ndarray, bins: int = 8) -> None:
    """JPEG-compress images[idx] (uint8 (n, S, S), S a multiple of 8) at about the given qualities.

    A greyscale JPEG codes independent 8x8 blocks, so a row of images side by side compresses each
    exactly as alone: one encode per quality bin instead of one per image.
    """
    from PIL import Image

    if len(idx) == 0:
        return
    edges = np.linspace(quality.min(), quality.max() + 1, bins + 1)
    which = np.digitize(quality, edges[1:-1])
    for b in range(bins):
        sel = idx[which == b]
        if len(sel) == 0:
            continue
        q = int(round((edges[b] + edges[b + 1]) / 2))
        strip = np.concatenate(list(images[sel]), axis=1)  # (k, S, S) -> (S, k S)
        buf = io.BytesIO()
        Image.fromarray(strip).save(buf, format="JPEG", quality=q)
        buf.seek(0)
        with Image.open(buf) as im:
            back = np.asarray(im.convert("L"), dtype=np.uint8)
        images[sel] = back.reshape(back.shape[0], len(sel), back.shape[0]).transpose(1, 0, 2)  # (S, k, S) -> (k, S, S)
