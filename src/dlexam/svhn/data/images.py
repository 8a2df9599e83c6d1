"""Photos as SVHN digits: the one way dlexam opens an image file.

Every image dlexam reads (`svhn predict`, `svhn evaluate` and `svhn train` on an image folder, `dlexam serve`'s
uploads) goes through :func:`read_image`. It reads the header first (:func:`image_header`) and refuses, in one
line, an image of more than :data:`MAX_PIXELS` pixels before any pixel is decoded, whatever the file's size (a
125-byte PNG can claim 45,000 x 1 pixels, or 100,000 x 100,000). Then the cost is the pixels' own:

- a JPEG is decoded at 1/2, 1/4 or 1/8 of its size by libjpeg itself (Pillow's ``draft``) while its longer
  side stays at least :data:`~dlexam.svhn.data.pixels.REDUCED_SIDE`;
- colours become grey a strip of rows at a time (:mod:`dlexam.svhn.data.pixels`), so the decoded image (at most
  4 bytes a pixel) and its grey copy (1 byte) are the only full-size arrays: at most 250 MB for 50 megapixels;
  16-bit colour is decoded twice (:class:`~dlexam.svhn.data.pixels.DeepColour`, each value's high and low
  bytes): 450 MB;
- the square crop of SVHN's Format 2 (:func:`~dlexam.svhn.data.pixels.svhn_crop`) of a large image is
  box-averaged without the square being made, so any aspect ratio costs what its pixels cost.

tests/reliability/test_images.py measures the peak memory of the whole process (within 1 GB) on the worst
cases. Pillow's own warnings (decompression bomb, corrupt EXIF data, a TIFF's tags as it decodes) are caught, never
printed, and so are its log messages. A damaged file, a JPEG cut short and closed with an end marker too, is one
line. A HEIC/HEIF photo (an iPhone's) is not read: one
line names it and asks for PNG or JPEG (:func:`is_heif`). An AVIF image is read where Pillow has its AVIF decoder
(libavif), else named so in one line (:func:`avif_readable`); never passed over. A PNG whose ancillary chunk fails
its CRC is read without that chunk, as libpng reads it, and a Lab TIFF Pillow does not decode is named so
(:mod:`dlexam.svhn.data.containers`). Colours are converted to sRGB through the file's ICC profile, as a
colour-managed viewer shows them (:mod:`dlexam.svhn.data.colour`). Image folders of these files:
:mod:`dlexam.svhn.data.image_folder`.
"""

from __future__ import annotations

import io
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from dlexam.errors import UserError, missing
from dlexam.svhn.data.colour import srgb_transform
from dlexam.svhn.data.containers import PNG_SIGNATURE, lab_tiff, png_less_damaged_ancillary
from dlexam.svhn.data.pixels import (
    REDUCED_SIDE,
    decode_deep,
    deep_rawmode,
    oriented,
    scale_grey_key,
    svhn_crop,
    to_gray_in_strips,
)

MAX_PIXELS = 50_000_000  # a 50-megapixel photo at most, read from the header before decoding
FILE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF", "PPM", "AVIF")  # what `svhn predict` and folders read
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "AVIF")  # what `dlexam serve` reads: no TIFF from the network
# Each upload format's media type: what `dlexam serve` takes as a Content-Type and its /cnn page offers to choose, for
# the formats this installation reads (:func:`readable_formats`)
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "BMP": "image/bmp", "WEBP": "image/webp",
               "AVIF": "image/avif"}
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
AVIF_BRANDS = (b"avif", b"avis")  # an AVIF image's and an AVIF sequence's ftyp box
EXIF_ORIENTATION = 0x0112
_PILLOW_WARNINGS = threading.RLock()  # warnings.catch_warnings changes process-wide state: one thread at a time
# Pillow logs some files it refuses (a TIFF of 200 samples a pixel: logging.error); where no handler is set, as in
# `dlexam`, Python's last resort printed that above the refusal's one line. A handler that drops them ends that; a
# handler the program sets (on the root logger) still gets them.
logging.getLogger("PIL").addHandler(logging.NullHandler())


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


# How a file of each format dlexam reads (:data:`FILE_FORMATS`) starts, where that says which it is; BMP's "BM" and
# PPM's "P1".."P6" are too short to tell a damaged image from other bytes.
SIGNATURES = {"PNG": (PNG_SIGNATURE,), "JPEG": (b"\xff\xd8\xff",), "GIF": (b"GIF87a", b"GIF89a"),
              "TIFF": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")}


def _signed_format(source) -> str | None:
    """The format whose signature `source` (a path, or the file's bytes) starts with (:data:`SIGNATURES`; a WebP's
    RIFF header too), or None."""
    head = _head(source, 12)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for fmt, starts in SIGNATURES.items() if head.startswith(starts)), None)


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
        if "TIFF" in formats and (lab := lab_tiff(source)) is not None:
            raise UserError(f"{what} is {lab}, which dlexam does not read (its Pillow decodes 8-bit CIELab TIFFs "
                            "without alpha only): save it as an 8-bit Lab or an RGB TIFF, or as PNG") from None
        if (signed := _signed_format(source)) in formats:  # named as what it is, not asked to be one
            raise UserError(f"{what} is not a readable image: a {signed} file that is damaged or cut short") from None
        formats = readable_formats(formats)
        raise UserError(f"{what} is not a readable image: choose a {', '.join(formats[:-1])} or {formats[-1]} file "
                        "(a photo or a drawing)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError) as exc:
        raise UserError(f"{what} is not a readable image: it is damaged or cut short ({str(exc)[:80]})") from None


@contextmanager
def _quiet() -> Iterator[None]:
    """Pillow's warnings caught, not printed (a decompression-bomb warning: dlexam's own limit is lower, and says
    so in one line). Held for moments: Image.open and the EXIF read run inside, and a TIFF's decoding, which reads
    its metadata again (Pillow's load_end; TIFF is read from files, never from `dlexam serve`'s uploads, whose
    threads would wait on it)."""
    with _PILLOW_WARNINGS, warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        yield


def _pillow_open(source, formats: tuple[str, ...]):
    """Image.open of `source` (a path, or a stream of the file's bytes); a PNG Pillow cannot open for an ancillary
    chunk whose CRC fails is opened without that chunk, as libpng reads it (:func:`png_less_damaged_ancillary`)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(source, formats=formats)
    except UnidentifiedImageError:
        whole = source if isinstance(source, Path) else source.getvalue()  # a path, or the file's bytes
        if "PNG" not in formats or _signed_format(whole) != "PNG":
            raise
        if (repaired := png_less_damaged_ancillary(_file_bytes(whole))) is None:
            raise
        return Image.open(io.BytesIO(repaired), formats=formats)


def _open(source, formats: tuple[str, ...]):
    """The image `source` names (a path, or the file's bytes), opened lazily: only its header is read."""
    formats = readable_formats(formats)
    if isinstance(source, bytes | bytearray | memoryview):
        if len(source) == 0:
            raise UserError("the file is empty (0 bytes)")
        return _pillow_open(io.BytesIO(bytes(source)), formats)
    p = Path(source)
    if not p.is_file():
        raise UserError(f"image not found: {missing(p)}" if not p.exists() else
                        f"{p} is not an image file (a folder or a device)")
    try:
        if p.stat().st_size == 0:  # a copy or a download that failed: not "choose a PNG ..." for a file named .png
            raise UserError(f"{p} is empty (0 bytes)")
        return _pillow_open(p, formats)
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
        scale_grey_key(img)
        with _quiet() if header.format == "TIFF" else nullcontext():
            deep = decode_deep(img, rawmode, open_image) if (rawmode := deep_rawmode(img)) else None
            img.load()
        if header.format in ("JPEG", "MPO") and _jpeg_cut_short(_file_bytes(source), img, draft):
            raise UserError(f"{what} is not a readable image: it is damaged or cut short (its compressed data "
                            "ends before its last scan does: Premature end of JPEG file)")
        with _quiet():
            orientation = img.getexif().get(EXIF_ORIENTATION, 1)
        gray = to_gray_in_strips(img, srgb_transform(img)) if deep is None else deep.gray()
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
