"""Decoded pixels as SVHN's 32x32 grey crop: luma, bit depth, orientation and Format 2's square.

:func:`dlexam.svhn.data.images.read_image` opens a file and hands its decoded pixels here. Grayscale is ITU-R 601-2
luma (Pillow's ``convert("L")``), as :func:`dlexam.svhn.data.official.rgb_to_gray` computes for .mat files; 16-bit,
32-bit and float images are scaled by their bit depth's full scale, not clipped (:func:`to_gray`); 16-bit colour,
which Pillow reads by each value's high byte alone, is decoded at full depth (:class:`DeepColour`). Colours become
grey a strip of rows at a time (:data:`STRIP_PIXELS`), so no full-size copy is made beside the decoded image.

SVHN's Format 2 crops were made from each digit's bounding box, "extended in the appropriate
dimension to become square windows, so that resizing them to 32-by-32 pixels does not introduce
aspect ratio distortions". :func:`svhn_crop` does the same with a photo standing for the digit's
box: the shorter side is extended to a square, centred, by repeating the edge pixels (the photo
has no context beyond its border), and the square is resized to 32x32 with Pillow's antialiased
bicubic filter. A square of 2 * :data:`REDUCED_SIDE` pixels a side or more is box-averaged down by an integer
factor first (:func:`padded_block_means`, as Pillow's ``reduce`` would average the padded square) without the
square being made, so any aspect ratio (1 x 1,000,000 too) costs what its pixels cost. A 32x32 image is left as
it is. A phone photo's EXIF orientation is applied by :func:`oriented`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dlexam.svhn.data import SIZE

REDUCED_SIDE = 256  # a large image is decoded, or its square averaged, to a side of 256 .. 511 pixels
STRIP_PIXELS = 1 << 20  # colours become grey about a megapixel at a time
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # Pillow's integer modes past 8 bits, and float
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2: convert("L") weighs R, G, B so (in 16-bit fixed point, 19595/65536 ...)
DEEP_COLOUR = ("RGB", "RGBA", "RGBX")  # Pillow's rawmodes of 16-bit colour (;16B, ;16L, ;16N): each value's high byte
GREY_ALPHA_16 = "LA;16B"  # a 16-bit grey and alpha PNG's rawmode (into Pillow's RGBA): its high bytes too
LOW_GREY = {"L;2": 2, "L;4": 4}  # a 2- or 4-bit grey PNG's rawmode: Pillow decodes its values scaled to 0..255
_OTHER_BYTE = {"B": "L", "L": "B", "N": "B" if sys.byteorder == "little" else "L"}  # ;16B's low byte is ;16L's high


def to_gray(img, top: float | None = None, srgb: Callable | None = None) -> np.ndarray:
    """A Pillow image of any mode -> uint8 (H, W) luma. 16-bit, 32-bit and float images are scaled, not clipped
    (by `top`, default :func:`_scale_top` of their maximum); an 8-bit image's colours are converted by `srgb` first
    where it is given (:func:`dlexam.svhn.data.colour.srgb_transform`: its ICC profile, or CIELab, to sRGB);
    transparent pixels read as white paper (alpha, a palette's transparent entries, and a PNG's colour key: the
    pixels of a grey or RGB value its tRNS names; a 16-bit grey key's pixels do not count in the scale)."""
    if img.mode in WIDE_MODES:
        a = np.asarray(img, dtype=np.float64)
        key = _wide_key(img)
        paper = None if key is None else a == key  # a 16-bit grey PNG's colour key: white, whatever its value
        if top is None:
            top = _scale_top(img.mode, float((a if paper is None else a[~paper]).max(initial=0.0)))
        gray = np.clip(np.round(a / max(top, 1e-12) * 255.0), 0, 255).astype(np.uint8)
        if paper is not None:
            gray[paper] = 255
        return gray
    if srgb is not None:
        img = srgb(img)  # RGB, or RGBA where it has transparency
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:  # alpha, or a tRNS (P, L, RGB, 1 keys)
        from PIL import Image

        rgba = img.convert("RGBA")
        if rgba.getchannel("A").getextrema() == (255, 255):
            img = rgba  # opaque (a canvas, most screenshots): compositing would change nothing and takes 0.4 ms
        else:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)  # transparent pixels read as white paper
    if img.mode == "L":  # already luma: L -> RGB -> L gives every grey level back unchanged
        return np.asarray(img, dtype=np.uint8)
    return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8)


def _wide_key(img) -> int | None:
    """The grey value a 16-bit grey PNG's tRNS colour key names (Pillow's mode I;16, ``info["transparency"]``, the
    key's full 16 bits), or None."""
    key = img.info.get("transparency")
    return key if img.mode in WIDE_MODES and img.mode != "F" and isinstance(key, int) else None


def _shown_max(img) -> float:
    """The largest value of a 16-bit, 32-bit or float image's pixels that show (a colour key's are paper: left out),
    STRIP_PIXELS at a time."""
    if (key := _wide_key(img)) is None:
        return float(img.getextrema()[1])
    w, h = img.size
    rows, most = max(1, STRIP_PIXELS // w), 0.0
    for y in range(0, h, rows):
        a = np.asarray(img.crop((0, y, w, min(h, y + rows))))
        most = max(most, float(a[a != key].max(initial=0)))
    return most


def _scale_top(mode: str, most: float) -> float:
    """The value an integer or float image's white is. An integer image: the smallest of 8, 10, 12 and 16 bits'
    full scale (255, 1023, 4095, 65535) that holds its largest value `most`, as cameras save 10- or 12-bit values
    unscaled in 16-bit files (divided by 65535, a 10-bit image kept 4 grey levels), and past 16 bits (a 32-bit TIFF,
    Pillow's mode I) its own maximum. A float image: its own maximum where it passes 1."""
    if mode == "F":
        return max(1.0, most)  # float: [0, 1] or [0, max]
    return next((top for top in (255.0, 1023.0, 4095.0, 65535.0) if most <= top), most)


@dataclass(frozen=True)
class DeepColour:
    """A 16-bit colour image, decoded whole: Pillow reads 16-bit colour (PNG's RGB and RGBA, TIFF's) by each value's
    high byte alone, so a 12-bit camera image saved unscaled read as values 0..15. `high` is Pillow's own decode
    and `low` the same file decoded with its rawmode's byte order reversed, which gives each value's low byte (the
    same rows, filters, interlacing and compression, all Pillow's). A 16-bit grey and alpha PNG is decoded once,
    each pixel's four bytes as stored (`low` None: L high, L low, A high, A low, as Pillow's RGBA). A 16-bit RGB
    PNG's tRNS colour `key` makes its pixels fully transparent (alpha 0) and the others opaque."""

    high: object  # PIL.Image.Image, RGB or RGBA
    low: object | None
    key: tuple[int, int, int] | None = None  # a 16-bit RGB PNG's tRNS colour key: its pixels are paper (alpha 0)

    def values(self, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """The pixels in `box`: (uint16 (h, w, 3) colour or (h, w, 1) grey, uint16 (h, w) alpha or None)."""
        high = np.asarray(self.high.crop(box)).astype(np.uint16)
        if self.low is None:
            return (high[..., :1] << 8) | high[..., 1:2], (high[..., 2] << 8) | high[..., 3]
        v = (high << 8) | np.asarray(self.low.crop(box))
        if self.key is not None:  # RGB: the key's pixels fully transparent, the others opaque
            return v, np.where((v == self.key).all(axis=-1), 0, 65535).astype(np.uint16)
        return v[..., :3], (v[..., 3] if v.shape[2] == 4 else None)

    def top(self) -> float:
        """:func:`_scale_top` of the maximum of the colour values of the pixels that show (alpha > 0: a fully
        transparent pixel is white paper whatever its colour; alpha's 65535 is opaque, whatever the depth). Each full
        scale is 2**k - 1 with k >= 8, so a value is within it exactly when the largest value of its high byte is:
        the high bytes' maximum decides. Without alpha, or with no alpha high byte 0, Pillow's extrema of the high
        bytes; else their histogram masked by alpha > 0 (either byte), STRIP_PIXELS at a time, as :meth:`gray`."""
        from PIL import ImageChops

        if self.key is not None:  # the colours of the pixels that are not the key's, STRIP_PIXELS at a time
            w, h = self.high.size
            rows, most = max(1, STRIP_PIXELS // w), 0
            for y in range(0, h, rows):
                colour, alpha = self.values((0, y, w, min(h, y + rows)))
                most = max(most, int(colour[alpha > 0].max(initial=0)))
            return _scale_top("I;16", float(most))
        grey = self.low is None  # bands: L high, L low, A high, A low
        extrema = self.high.getextrema()
        colours, alpha = (1, 2) if grey else (3, 3)
        most = max(hi for _, hi in extrema[:colours])
        if len(extrema) == 4 and extrema[alpha][0] == 0 and most > 0:  # perhaps fully transparent pixels: look
            w, h = self.high.size
            rows, most = max(1, STRIP_PIXELS // w), 0
            for y in range(0, h, rows):
                box = (0, y, w, min(h, y + rows))
                high = self.high.crop(box)
                low_alpha = (high if grey else self.low.crop(box)).getchannel(3)
                hist = high.histogram(ImageChops.lighter(high.getchannel(alpha), low_alpha))  # alpha > 0 counts
                for b in range(colours):
                    most = max([most] + [i for i, n in enumerate(hist[256 * b : 256 * (b + 1)]) if n])
        return _scale_top("I;16", most * 256 + 255.0)

    def gray(self) -> np.ndarray:
        """uint8 (H, W): ITU-R 601-2 luma of the 16-bit values (grey as it is), transparency composited on white,
        divided by :meth:`top` and rounded; STRIP_PIXELS at a time."""
        w, h = self.high.size
        rows, top = max(1, STRIP_PIXELS // w), self.top()
        out = np.empty((h, w), np.uint8)
        for y in range(0, h, rows):
            colour, alpha = self.values((0, y, w, min(h, y + rows)))
            v = colour.astype(np.float64)
            luma = v[..., 0] if v.shape[2] == 1 else LUMA[0] * v[..., 0] + LUMA[1] * v[..., 1] + LUMA[2] * v[..., 2]
            if alpha is not None:
                a = alpha / 65535.0
                luma = luma * a + top * (1.0 - a)  # over white paper
            out[y : y + rows] = np.clip(np.round(luma / top * 255.0), 0, 255).astype(np.uint8)
        return out


def _rawmode(tile) -> str:
    return tile[3] if isinstance(tile[3], str) else tile[3][0]  # PNG's args are the rawmode; TIFF's start with it


def _with_rawmode(tile, rawmode: str):
    args = rawmode if isinstance(tile[3], str) else (rawmode, *tile[3][1:])
    return tile._replace(args=args) if hasattr(tile, "_replace") else (*tile[:3], args)  # Pillow < 11: a tuple


def deep_rawmode(img) -> str | None:
    """The rawmode Pillow decodes `img` (opened, not yet decoded) with where it is 16-bit colour read by each value's
    high byte (``RGB;16B``, ``RGBA;16L``, ``LA;16B``, ...); None for any other image (premultiplied alpha and CMYK
    too: read as Pillow reads them)."""
    modes = {_rawmode(t) for t in img.tile}
    if img.mode not in ("RGB", "RGBA") or len(modes) != 1:
        return None
    (rawmode,) = modes
    base, _, depth = rawmode.partition(";")
    return rawmode if rawmode == GREY_ALPHA_16 or (base in DEEP_COLOUR and depth in ("16B", "16L", "16N")) else None


def decode_deep(img, rawmode: str, reopen: Callable[[], object]) -> DeepColour:
    """`img` (opened, not yet decoded; :func:`deep_rawmode` `rawmode`) decoded at 16 bits a value; `reopen()` opens
    the same file again, for the low bytes. Two decodes, each the size of Pillow's own (4 bytes a pixel)."""
    if rawmode == GREY_ALPHA_16:  # 4 bytes a pixel, as Pillow's RGBA: decoded as they are, the filters alike
        img.tile = [_with_rawmode(t, "RGBA") for t in img.tile]
        img.load()
        return DeepColour(img, None)
    low = reopen()
    low.seek(0)
    low.tile = [_with_rawmode(t, f"{rawmode[:-1]}{_OTHER_BYTE[rawmode[-1]]}") for t in low.tile]
    img.load()
    low.load()
    key = img.info.get("transparency")  # a 16-bit RGB PNG's colour key, as its tRNS holds it: 16 bits a value
    rgb_key = isinstance(key, tuple) and len(key) == 3 and rawmode.startswith("RGB;")
    return DeepColour(img, low, key if rgb_key else None)


def scale_grey_key(img) -> None:
    """A 2- or 4-bit grey PNG's tRNS colour key (`img` opened, not yet decoded) set to the grey level Pillow decodes
    its pixels as (a 2-bit value v as 85 v, a 4-bit one as 17 v); Pillow keeps the key as stored, so only a key of
    0 matched. The key's bits past the image's depth are masked off first, as the PNG specification (11.3.2.1)
    tells decoders to."""
    key = img.info.get("transparency")
    modes = {_rawmode(t) for t in img.tile}
    if img.format != "PNG" or img.mode != "L" or not isinstance(key, int) or len(modes) != 1:
        return
    if (depth := LOW_GREY.get(next(iter(modes)))) is not None:
        top = (1 << depth) - 1
        img.info["transparency"] = (key & top) * (255 // top)


def to_gray_in_strips(img, srgb: Callable | None = None) -> np.ndarray:
    """:func:`to_gray` of a decoded image, STRIP_PIXELS at a time: the same grey levels, without the full-size
    copies a conversion makes (sRGB, RGBA, a white background, RGB)."""
    w, h = img.size
    rows = max(1, STRIP_PIXELS // w)
    if rows >= h:
        return to_gray(img, srgb=srgb)
    # the whole image's maximum decides its scale, not each strip's
    top = _scale_top(img.mode, _shown_max(img)) if img.mode in WIDE_MODES else None
    out = np.empty((h, w), np.uint8)
    for y in range(0, h, rows):
        out[y : y + rows] = to_gray(img.crop((0, y, w, min(h, y + rows))), top, srgb)  # crop keeps palette and info
    return out


def oriented(gray: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as the photo is shown: EXIF orientation 1-8 applied (as PIL.ImageOps.exif_transpose does)."""
    turn = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.T,
            6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).T, 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turn[orientation](gray)) if orientation in turn else gray


def _block_sums(a: np.ndarray, axis: int, f: int, before: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Along `axis`, `a` extended to length `side` by `before` copies of its first slice and the rest copies of
    its last, summed in blocks of `f`: (the sums, int64, that axis now ceil(side / f) long; each block's length).
    STRIP_PIXELS of `a` at a time: an int64 copy of all of it would be 8 bytes a pixel."""
    b = a if axis == 1 else a.T  # (other, n): blocks along the rows
    n = b.shape[1]
    starts = np.arange(0, side, f)
    ends = np.minimum(starts + f, side)
    lo, hi = np.clip(starts - before, 0, n), np.clip(ends - before, 0, n)  # each block's own columns
    n_first = np.clip(np.minimum(ends, before) - starts, 0, None)  # copies of the first column in each block
    n_last = np.clip(ends - np.maximum(starts, before + n), 0, None)  # copies of the last
    inside = hi > lo  # the blocks with columns of their own; the last of them ends at n, as reduceat sums
    sums = np.zeros((b.shape[0], len(starts)), np.int64)
    step = max(1, STRIP_PIXELS // n)
    for i in range(0, b.shape[0], step):
        sums[i : i + step, inside] = np.add.reduceat(b[i : i + step], lo[inside], axis=1, dtype=np.int64)
    sums += n_first * b[:, :1].astype(np.int64) + n_last * b[:, -1:].astype(np.int64)
    return (sums if axis == 1 else sums.T), ends - starts


def padded_block_means(gray: np.ndarray, f: int) -> np.ndarray:
    """uint8 (H, W) -> the square svhn_crop pads it to (side max(H, W), edge pixels repeated), averaged in f x f
    blocks (rounded half up; a last, partial block averages what it has, as Pillow's ``reduce`` does), without the
    square being made: uint8 (ceil(side / f), ceil(side / f))."""
    h, w = gray.shape
    side = max(h, w)
    long, short = (1, 0) if w >= h else (0, 1)  # the long axis has no padding: averaged first, it shrinks most
    sums, n_long = _block_sums(gray, long, f, 0, side)
    sums, n_short = _block_sums(sums, short, f, (side - gray.shape[short]) // 2, side)
    count = (n_short[:, None] * n_long[None, :]) if short == 0 else (n_long[:, None] * n_short[None, :])
    return ((2 * sums + count) // (2 * count)).astype(np.uint8)


def svhn_crop(gray: np.ndarray, size: int = SIZE) -> np.ndarray:
    """uint8 (H, W) -> uint8 (size, size): extend the shorter side to a square (edge pixels), resize.

    A square of 2 * REDUCED_SIDE pixels a side or more is box-averaged first (:func:`padded_block_means`, to
    256 .. 511 pixels a side), so the crop costs what the image's pixels cost, whatever its aspect ratio."""
    from PIL import Image

    h, w = gray.shape
    side = max(h, w)
    if side // REDUCED_SIDE >= 2:
        gray = padded_block_means(gray, side // REDUCED_SIDE)
    elif h != w:
        top, left = (side - h) // 2, (side - w) // 2
        pad = ((top, side - h - top), (left, side - w - left))
        gray = np.pad(gray, pad, mode="edge")  # (H, W) -> (side, side)
    if gray.shape[0] == size:
        return gray.copy()
    resized = Image.fromarray(gray).resize((size, size), Image.BICUBIC, reducing_gap=None)
    return np.array(resized, dtype=np.uint8)
