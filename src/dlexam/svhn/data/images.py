"""Photos as SVHN digits: the one way dlexam opens an image file, and the crop of SVHN's Format 2.

Every image dlexam reads (`svhn predict`, `svhn evaluate` and `svhn train` on an image folder, `dlexam serve`'s
uploads) goes through :func:`read_image`. It reads the header first (:func:`image_header`) and refuses, in one
line, an image of more than :data:`MAX_PIXELS` pixels before any pixel is decoded, whatever the file's size (a
125-byte PNG can claim 45,000 x 1 pixels, or 100,000 x 100,000). Then the cost is the pixels' own:

- a JPEG is decoded at 1/2, 1/4 or 1/8 of its size by libjpeg itself (Pillow's ``draft``) while its longer
  side stays at least :data:`REDUCED_SIDE`;
- colours become grey a strip of rows at a time, so the decoded image (at most 4 bytes a pixel) and its grey
  copy (1 byte) are the only full-size arrays: at most 250 MB for 50 megapixels; 16-bit colour is decoded twice
  (:class:`DeepColour`, each value's high and low bytes): 450 MB;
- the square crop of an image whose longer side is 2 * REDUCED_SIDE or more is box-averaged down by an
  integer factor (as Pillow's ``reduce`` would average the padded square) without the square being made, so
  any aspect ratio (1 x 1,000,000 too) costs what its pixels cost.

tests/reliability/test_images.py measures the peak memory of the whole process (within 1 GB) on the worst
cases. Pillow's own warnings (decompression bomb, corrupt EXIF data) are caught, never printed.

SVHN's Format 2 crops were made from each digit's bounding box, "extended in the appropriate
dimension to become square windows, so that resizing them to 32-by-32 pixels does not introduce
aspect ratio distortions". :func:`svhn_crop` does the same with a photo standing for the digit's
box: the shorter side is extended to a square, centred, by repeating the edge pixels (the photo
has no context beyond its border), and the square is resized to 32x32 with Pillow's antialiased
bicubic filter (a square of 512 pixels a side or more box-averaged first). A 32x32 image is left as it is.
Grayscale is ITU-R 601-2 luma (Pillow's ``convert("L")``), as :func:`dlexam.svhn.data.official.rgb_to_gray`
computes for .mat files, of the 16-bit values themselves for 16-bit colour (which Pillow reads by their high bytes
alone); a phone photo's EXIF orientation is applied.

Image folders use torchvision's ImageFolder layout: ``DIR/0/*.png ... DIR/9/*.png``, the folder
name being the digit; any size, any colour mode, PNG, JPEG, BMP, GIF, TIFF, WebP, AVIF or PPM/PGM. A HEIC/HEIF photo
(an iPhone's) is not read: one line names it and asks for PNG or JPEG, in a folder as given alone (:func:`is_heif`).
An AVIF image is read where Pillow has its AVIF decoder (libavif), else named so in one line (:func:`avif_readable`);
never passed over.
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlexam.errors import UserError, missing
from dlexam.svhn.data import SIZE

MAX_PIXELS = 50_000_000  # a 50-megapixel photo at most, read from the header before decoding
REDUCED_SIDE = 256  # a large image is decoded, or its square averaged, to a side of 256 .. 511 pixels
STRIP_PIXELS = 1 << 20  # colours become grey about a megapixel at a time
FILE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM", "AVIF")  # what `svhn predict` and folders read
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "AVIF")  # what `dlexam serve` reads: no TIFF from the network
# Each upload format's media type: what `dlexam serve` takes as a Content-Type and its /cnn page offers to choose, for
# the formats this installation reads (:func:`readable_formats`)
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp", "WEBP": "image/webp",
               "AVIF": "image/avif"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".avif",
                    ".avifs")
HEIF_EXTENSIONS = (".heic", ".heif")  # an iPhone's photos: Pillow reads none without a plugin; named, never passed over
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
AVIF_BRANDS = (b"avif", b"avis")  # an AVIF image's and an AVIF sequence's ftyp box
MACOS_FOLDER = "__MACOSX"  # what a zip file made on a Mac holds beside its files: their AppleDouble metadata
EXIF_ORIENTATION = 0x0112
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")  # Pillow's integer modes past 8 bits, and float
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2: convert("L") weighs R, G, B so (in 16-bit fixed point, 19595/65536 ...)
DEEP_COLOUR = ("RGB", "RGBA", "RGBX")  # Pillow's rawmodes of 16-bit colour (;16B, ;16L, ;16N): each value's high byte
GREY_ALPHA_16 = "LA;16B"  # a 16-bit grey and alpha PNG's rawmode (into Pillow's RGBA): its high bytes too
_OTHER_BYTE = {"B": "L", "L": "B", "N": "B" if sys.byteorder == "little" else "L"}  # ;16B's low byte is ;16L's high
_PILLOW_WARNINGS = threading.Lock()  # warnings.catch_warnings changes process-wide state: one thread at a time


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, before any pixel is decoded."""

    format: str  # Pillow's name: PNG, JPEG, MPO (a camera's JPEG), ...
    mode: str  # Pillow's mode: L, RGB, RGBA, P, I;16, ...
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def draft_scale(self) -> int:
        """The largest of 8, 4, 2, 1 by which libjpeg can decode a JPEG and keep its longer side at least
        REDUCED_SIDE and its shorter one at least 1 pixel; 1 for other formats."""
        if self.format not in ("JPEG", "MPO"):
            return 1
        long, short = max(self.width, self.height), min(self.width, self.height)
        return next(s for s in (8, 4, 2, 1) if s == 1 or (long // s >= REDUCED_SIDE and short >= s))


def to_gray(img, top: float | None = None) -> np.ndarray:
    """A Pillow image of any mode -> uint8 (H, W) luma. 16-bit, 32-bit and float images are scaled, not clipped
    (by `top`, default :func:`_scale_top` of their maximum); transparent pixels read as white paper."""
    if img.mode in WIDE_MODES:
        a = np.asarray(img, dtype=np.float64)
        if top is None:
            top = _scale_top(img.mode, float(a.max(initial=0.0)))
        return np.clip(np.round(a / max(top, 1e-12) * 255.0), 0, 255).astype(np.uint8)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
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
    each pixel's four bytes as stored (`low` None: L high, L low, A high, A low, as Pillow's RGBA)."""

    high: object  # PIL.Image.Image, RGB or RGBA
    low: object | None

    def values(self, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray | None]:
        """The pixels in `box`: (uint16 (h, w, 3) colour or (h, w, 1) grey, uint16 (h, w) alpha or None)."""
        high = np.asarray(self.high.crop(box)).astype(np.uint16)
        if self.low is None:
            return (high[..., :1] << 8) | high[..., 1:2], (high[..., 2] << 8) | high[..., 3]
        v = (high << 8) | np.asarray(self.low.crop(box))
        return v[..., :3], (v[..., 3] if v.shape[2] == 4 else None)

    def top(self) -> float:
        """:func:`_scale_top` of the colour values' maximum (alpha's 65535 is opaque, whatever the depth). Each full
        scale is 2**k - 1 with k >= 8, so a value is within it exactly when the largest value of its high byte is:
        the high bytes' maximum decides."""
        bands = self.high.getextrema()[: 1 if self.low is None else 3]
        return _scale_top("I;16", max(most for _, most in bands) * 256 + 255.0)

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
    return DeepColour(img, low)


def to_gray_in_strips(img) -> np.ndarray:
    """:func:`to_gray` of a decoded image, STRIP_PIXELS at a time: the same grey levels, without the full-size
    copies a conversion makes (RGBA, a white background, RGB)."""
    w, h = img.size
    rows = max(1, STRIP_PIXELS // w)
    if rows >= h:
        return to_gray(img)
    # the whole image's maximum decides its scale, not each strip's
    top = _scale_top(img.mode, float(img.getextrema()[1])) if img.mode in WIDE_MODES else None
    out = np.empty((h, w), np.uint8)
    for y in range(0, h, rows):
        out[y : y + rows] = to_gray(img.crop((0, y, w, min(h, y + rows))), top)  # crop keeps palette and info
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


def _name(source) -> str:
    return "the file" if isinstance(source, bytes | bytearray | memoryview) else str(source)


def _head(source, n: int) -> bytes:
    """The first `n` bytes of `source` (a path, or the file's bytes); b"" where the file cannot be read."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source[:n])
    try:
        with open(source, "rb") as f:
            return f.read(n)
    except (OSError, TypeError):
        return b""


def _bmp_width(source) -> int | None:
    """A BMP's width as its header stores it, a signed 32-bit number (Pillow reads it unsigned: a width of -4 as
    4,294,967,292); None for another file, or a header too short to say."""
    head = _head(source, 26)
    if len(head) < 26 or head[:2] != b"BM" or int.from_bytes(head[14:18], "little") < 40:
        return None  # not a BMP, or an OS/2 one (its 12-byte header stores unsigned 16-bit sizes)
    return int.from_bytes(head[18:22], "little", signed=True)


def _iso_brand(source) -> bytes | None:
    """The major brand of an ISO media file's ``ftyp`` box at the start of `source` (a path, or the file's bytes);
    None for another file."""
    head = _head(source, 12)
    return head[8:12] if head[4:8] == b"ftyp" else None


def is_heif(source) -> bool:
    """Whether `source` (a path, or the file's bytes) starts as a HEIC/HEIF file does: an ISO media file's ``ftyp``
    box naming a HEIF brand. Its name is not asked: a JPEG named .heic is read as the JPEG it is."""
    return _iso_brand(source) in HEIF_BRANDS


def is_avif(source) -> bool:
    """Whether `source` (a path, or the file's bytes) starts as an AVIF file does: an ISO media file's ``ftyp`` box
    naming the AVIF brand (an image, or a sequence)."""
    return _iso_brand(source) in AVIF_BRANDS


def avif_readable() -> bool:
    """Whether this Pillow decodes AVIF: its AvifImagePlugin with libavif built in (Pillow before 11.2 has no AVIF
    plugin at all; a Pillow built without libavif has one that identifies no file)."""
    from PIL import features

    return "avif" in features.modules and bool(features.check_module("avif"))  # an unknown name: a warning


def readable_formats(formats: tuple[str, ...]) -> tuple[str, ...]:
    """`formats` less AVIF where this Pillow cannot decode it (a format Pillow does not know is a KeyError to
    Image.open, not a file it cannot identify). An AVIF file is still named so, in one line, where `formats` holds
    AVIF and this Pillow does not decode it."""
    return formats if "AVIF" not in formats or avif_readable() else tuple(f for f in formats if f != "AVIF")


@contextmanager
def _pillow_errors(what: str, formats: tuple[str, ...], source=None) -> Iterator[None]:
    """Pillow's exceptions as one UserError line naming `what` (read from `source`), in words a user can act on."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except Image.DecompressionBombError:
        if (width := _bmp_width(source)) is not None and width <= 0:  # Pillow took it for billions of pixels
            raise UserError(f"{what} declares an impossible size: a BMP {width} pixels wide") from None
        raise UserError(f"{what} declares more pixels than dlexam reads ({MAX_PIXELS:,} at most)") from None
    except UnidentifiedImageError:
        if is_heif(source):
            raise UserError(f"{what} is a HEIC/HEIF photo (an iPhone's format), which dlexam does not read: convert "
                            "it to PNG or JPEG (on a Mac, Preview's File > Export; an iPhone takes JPEGs with "
                            "Settings > Camera > Formats > Most Compatible)") from None
        if is_avif(source) and "AVIF" in formats:
            if avif_readable():
                raise UserError(f"{what} is not a readable image: an AVIF file that is damaged or cut short") from None
            from PIL import __version__

            raise UserError(f"{what} is an AVIF image, which this installation's Pillow ({__version__}) does not "
                            "decode: convert it to PNG or JPEG, or install a Pillow built with AVIF support") from None
        formats = readable_formats(formats)
        raise UserError(f"{what} is not a readable image: choose a {', '.join(formats[:-1])} or {formats[-1]} file "
                        "(a photo or a drawing)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise UserError(f"{what} is not a readable image: it is damaged or cut short ({str(exc)[:80]})") from None


@contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's warnings caught, not printed (a decompression-bomb warning: dlexam's own limit is lower, and says
    so in one line). Held for moments: only Image.open and the EXIF read run inside."""
    with _PILLOW_WARNINGS, warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        yield


def _open(source, formats: tuple[str, ...]):
    """The image `source` names (a path, or the file's bytes), opened lazily: only its header is read."""
    from PIL import Image

    formats = readable_formats(formats)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise UserError("the file is empty (0 bytes)")
        return Image.open(io.BytesIO(bytes(source)), formats=formats)
    p = Path(source)
    if not p.is_file():
        raise UserError(f"image not found: {missing(p)}" if not p.exists() else
                        f"{p} is not an image file (a folder or a device)")
    try:
        return Image.open(p, formats=formats)
    except OSError as exc:  # a file that cannot be read (permissions) is not "damaged": say why
        if exc.errno is None:  # Pillow's own: not an image it knows
            raise
        raise UserError(f"cannot read {p}: {exc.strerror or exc}") from None


def _checked(img, what: str, max_pixels: int) -> ImageHeader:
    header = ImageHeader(img.format or "?", img.mode, *img.size)
    if header.width < 1 or header.height < 1:
        raise UserError(f"{what} has no pixels ({header.width}x{header.height})")
    if header.pixels > max_pixels:
        raise UserError(f"{what} is {header.width} x {header.height} pixels; dlexam reads images of at most "
                        f"{max_pixels:,} pixels")
    return header


def image_header(source, *, formats: tuple[str, ...] = FILE_FORMATS, max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """The header of the image `source` names (a path, or the file's bytes), checked against `max_pixels`; nothing
    is decoded. UserError, one line, for anything unreadable."""
    what = _name(source)
    with _pillow_errors(what, formats, source), _quiet(), _open(source, formats) as img:
        return _checked(img, what, max_pixels)


def read_image(source, *, formats: tuple[str, ...] = FILE_FORMATS, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """An image (a path, or the file's bytes; any size up to `max_pixels`, any aspect ratio, any mode) ->
    uint8 (32, 32), cropped as :func:`svhn_crop` crops; an animated image's first frame.

    The header is checked before any pixel is decoded; a JPEG is decoded at a reduced size. Any unreadable
    input is one UserError line."""
    what = _name(source)
    with _pillow_errors(what, formats, source), ExitStack() as opened:

        def open_image():
            with _quiet():
                return opened.enter_context(_open(source, formats))

        img = open_image()
        header = _checked(img, what, max_pixels)
        img.seek(0)  # an animated GIF, WebP, PNG or AVIF: its first frame
        draft = None
        if (s := header.draft_scale) > 1:  # asking for (w // s, h // s) makes libjpeg decode at exactly 1/s
            draft = (max(1, header.width // s), max(1, header.height // s))
            img.draft(img.mode, draft)
        deep = decode_deep(img, rawmode, open_image) if (rawmode := deep_rawmode(img)) else None
        img.load()
        if header.format in ("JPEG", "MPO") and _jpeg_cut_short(_file_bytes(source), img, draft):
            raise UserError(f"{what} is not a readable image: it is damaged or cut short (its compressed data "
                            "ends before its last scan does: Premature end of JPEG file)")
        with _quiet():
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
        gray = to_gray_in_strips(img) if deep is None else deep.gray()
    return torch.from_numpy(svhn_crop(oriented(gray, orientation if isinstance(orientation, int) else 1)))


# The start of the marker that ends a scan's entropy-coded data: 0xFF followed by neither 0x00 (a stuffed 0xFF data
# byte) nor 0xD0-0xD7 (a restart marker, inside the scan). 0xFF 0xFF is a fill byte before that marker.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM and RST0-7: markers without a length
# Bytes placed after the last scan's data to find out whether libjpeg wanted more of it (never 0xFF: no marker, no
# stuffing). libjpeg decodes a scan that ends early on zero bits, so the probe starts with seven 1 bits (0xFE), then
# well-mixed bits: of 427 cut-short JPEGs whose pixels differ from the whole file's (cut 1 to ~1,000 bytes before
# their end; baseline, progressive, optimized, restart markers), 7 decoded the same with this probe (all zero bytes:
# 171), each cut within its last few blocks.
_PROBE = b"\xfe" + bytes((i * 151 + 17) % 255 for i in range(1023))


def _last_scan_end(data: bytes) -> int | None:
    """Where the entropy-coded data of the first image's last scan ends (the offset of the marker after it), walking
    the JPEG's markers from SOI to the first EOI as libjpeg does; None where the walk does not reach an EOI after a
    scan (libjpeg itself then decides: a file without EOI that ends early is refused as cut short already)."""
    if data[:2] != b"\xff\xd8":
        return None
    i, end, n = 2, None, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            return None  # not a marker where one must be: left to libjpeg
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker == 0xD9:  # EOI
            return end
        if marker in _STANDALONE:
            continue
        if i + 2 > n or (length := int.from_bytes(data[i : i + 2], "big")) < 2:
            return None
        i += length
        if marker == 0xDA:  # SOS: its entropy-coded data follows, up to the next marker
            m = _SCAN_END.search(data, i)
            if m is None:
                return None
            end = i = m.start()
    return None


def _jpeg_cut_short(data: bytes, img, draft: tuple[int, int] | None) -> bool:
    """Whether the JPEG `data`, decoded as `img` (loaded; asked to decode at `draft`), ends its last scan early: cut
    short, then closed with an EOI marker, which libjpeg decodes with the missing blocks grey and only a warning
    ("Premature end of JPEG file") that Pillow drops.

    The test: decode it again with :data:`_PROBE` placed between the last scan's data and the marker after it. A scan
    that is complete never reads past its last block (libjpeg skips bytes before a marker as extraneous), so the two
    decodes are identical, whatever the scan (baseline, progressive, with restart markers) and whatever follows the
    EOI; a scan that ends early decodes the probe's bytes as its missing blocks instead of grey. Sound, then: a
    difference is proof that libjpeg ran out of data in a scan (never a valid file refused). Not complete: a cut whose
    missing bits the probe's decode as libjpeg's own filling does is missed (measured at :data:`_PROBE`)."""
    from PIL import Image

    end = _last_scan_end(data)
    if end is None:
        return False
    with _quiet():  # its EXIF data is read as it opens: warnings caught as for the file itself
        probed = Image.open(io.BytesIO(data[:end] + _PROBE + data[end:]), formats=("JPEG", "MPO"))
    with probed:
        if draft is not None:
            probed.draft(img.mode, draft)
        probed.load()
        return probed.mode != img.mode or probed.size != img.size or probed.tobytes() != img.tobytes()


def _file_bytes(source) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    with open(source, "rb") as f:
        return f.read()


def is_image_folder(root: str | os.PathLike) -> bool:
    """Does `root` look like an ImageFolder: a folder with at least one class folder named by a digit?"""
    p = Path(root)
    return p.is_dir() and any(c.is_dir() and len(c.name) == 1 and c.name in "0123456789" for c in p.iterdir())


def left_out(name: str) -> bool:
    """Whether an image folder's reader passes over the entry `name`: a hidden one (.DS_Store, .thumbnails, and the
    AppleDouble files ._NAME that macOS writes beside each file on disks and in zip files: its metadata, not an
    image) and the __MACOSX folder of a zip file made on a Mac (AppleDouble files again)."""
    return name.startswith(".") or name == MACOS_FOLDER


def class_images(folder: Path) -> list[Path]:
    """The image files (by extension, any case; HEIC/HEIF photos too, for :func:`read_image` to name as unread; AVIF
    images, read, or named where Pillow cannot decode them) in a
    class folder and the folders inside it, links followed (each folder once: a link to a folder above it is no
    loop), the entries :func:`left_out` passes over left out; sorted by path. A link named as an image that leads
    nowhere is kept, for :func:`read_image` to name."""
    found, seen = [], set()

    def unreadable(exc: OSError) -> None:
        raise UserError(f"cannot read the folder {exc.filename}: {exc.strerror or exc}")

    for here, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not left_out(d)]
        found += [Path(here) / f for f in files
                  if Path(f).suffix.lower() in IMAGE_EXTENSIONS + HEIF_EXTENSIONS and not left_out(f)]
    return sorted(found)


def _hidden_image(folder: Path) -> Path | None:
    """A file named as an image that :func:`class_images` passes over in `folder` (._1.png, say), or None."""
    for here, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if Path(f).suffix.lower() in IMAGE_EXTENSIONS and left_out(f):
                return Path(here) / f
    return None


def load_image_folder(root: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """DIR/0/*.png ... DIR/9/*.png -> (uint8 (N, 32, 32), labels int64 (N,), the files' paths).

    Every sub-folder must be named by one digit 0-9 and hold at least one image, in it or in folders inside it
    (as torchvision's ImageFolder reads them); hidden entries and files beside the class folders (a README) are
    ignored, as are non-image files; so is a zip file's __MACOSX folder and the AppleDouble files (._NAME) in it
    and beside the images (:func:`left_out`).
    """
    p = Path(root)
    if not p.is_dir():
        raise UserError(f"image folder not found: {missing(p)}")
    classes = sorted(c for c in p.iterdir() if c.is_dir() and not left_out(c.name))
    if not classes:
        raise UserError(f"{p} holds no class folders (expected {p}/0/ ... {p}/9/ with images)")
    bad = [c.name for c in classes if c.name not in "0123456789" or len(c.name) != 1]
    if bad:
        raise UserError(f"{p}: class folder {bad[0]!r} is not a digit 0-9 (ImageFolder layout: {p}/0/ ... {p}/9/)")
    images, labels, paths = [], [], []
    for c in classes:
        files = class_images(c)
        if not files:
            hidden = _hidden_image(c)
            raise UserError(f"class folder {c} holds no images" + (
                "" if hidden is None else f", only hidden files such as {hidden.relative_to(c)}, which are not "
                "read (a file named ._NAME is macOS's metadata for NAME, not an image)"))
        for f in files:
            images.append(read_image(f))
            labels.append(int(c.name))
            paths.append(str(f))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), paths
