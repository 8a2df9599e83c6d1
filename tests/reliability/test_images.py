"""Images of any size and aspect ratio (issue 22, item 3): one reader (dlexam.svhn.data.images.read_image) for
`svhn predict`, image folders and `dlexam serve`, whose memory stays within 1 GB for the whole process, whose
crop matches padding the image to a square and resizing it, and whose refusals are one line with no Pillow
warning before it.

The peak memory is the child's own, as the kernel counts it (os.wait4 returns its resource.getrusage record).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from dlexam.errors import UserError
from dlexam.svhn.data import images, pixels
from dlexam.svhn.data.images import image_header, read_image
from dlexam.svhn.data.pixels import padded_block_means, to_gray, to_gray_in_strips

from .bigpng import header_only, png
from .helpers import refused_here

LIMIT_MB = 1024
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # LittleCMS's own sRGB profile


def predict_peak_mb(path) -> tuple[subprocess.CompletedProcess, float]:
    """`dlexam svhn predict PATH --json` in a child process: (its result, its peak resident memory in MB)."""
    with open(os.devnull, "rb") as stdin, subprocess.Popen(
            [sys.executable, "-m", "dlexam", "svhn", "predict", str(path), "--json"], stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1"}) as proc:
        out, err = proc.stdout.read(), proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), usage.ru_maxrss / 1024


BIG = {  # the cases of issue 22 (before: 1.9 GB, 1.5 GB, 14.5 GB, a traceback), and the costliest mode at the cap
    "40,000x1,000 RGB": dict(width=40_000, height=1_000, mode="RGB"),
    "16-bit 7,000x7,000": dict(width=7_000, height=7_000, mode="I;16"),
    "1x100,000": dict(width=1, height=100_000, mode="L"),
    "1,000,000x1": dict(width=1_000_000, height=1, mode="L"),
    # converted to sRGB through its ICC profile a strip at a time (dlexam.svhn.data.colour), as its luma is made
    "50 Mpixel RGBA, half transparent, ICC profile": dict(width=7_071, height=7_071, mode="RGBA", icc=SRGB_ICC),
    # decoded twice, for each value's high and low bytes (dlexam.svhn.data.pixels.DeepColour): 750 MB on 2026-12-07;
    # each row's first pixel white and fully transparent, so its scale is found a strip at a time (750 MB too)
    "50 Mpixel 16-bit RGBA, half transparent": dict(width=7_071, height=7_071, mode="RGBA;16", row=lambda y, r=(
        b"\xff" * 6 + b"\0\0" + b"\x80" * (8 * 7_070)): r),
}


@pytest.mark.parametrize("case", list(BIG))
def test_any_size_and_aspect_is_read_within_1_gb(tmp_path, case):
    path = tmp_path / "big.png"
    path.write_bytes(png(**BIG[case]))
    p, peak_mb = predict_peak_mb(path)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    (pred,) = json.loads(p.stdout)
    assert 0 <= pred["digit"] <= 9 and abs(sum(pred["probabilities"]) - 1) < 1e-4
    assert peak_mb < LIMIT_MB, f"{case}: peak {peak_mb:.0f} MB"


@pytest.mark.parametrize("data, needle", [
    (header_only(100_000, 100_000), "pixels"),  # past Pillow's own error threshold
    (header_only(10_000, 10_000), "pixels"),  # past its warning threshold (89 Mpixels), under the error one
    (header_only(1, 50_000_001), "pixels"),  # one pixel over dlexam's cap
])  # unreadable bytes of every kind: tests/svhn/test_inspect.py, tests/serve/test_malformed.py
def test_a_refused_image_is_one_line_with_no_pillow_warning(tmp_path, capsys, data, needle):
    """`svhn predict` in this process (`refused_here`: the same main(), exit status 2 and one line), every warning
    recorded as it is raised, not only those Python's default filters print: none may reach the caller. (The header
    is refused before any pixel is decoded; that this holds under an address-space limit, as a whole process, is
    tests/reliability/test_untrusted_files.py's image-bomb test.)"""
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refused_here(["svhn", "predict", str(path)], capsys, needle, str(path))
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth image with detail at its edges (what the square's padding repeats), uint8 (h, w)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    fx, fy = rng.uniform(3, 9), rng.uniform(1, 4)
    return (128 + 100 * np.sin(x / (w / fx + 1)) * np.cos(y / (h / fy + 1))).astype(np.uint8)


def padded_then_resized(img: Image.Image) -> np.ndarray:
    """The oracle: the image greyed, padded to a square by repeating its edges, resized to 32x32 in one go."""
    g = to_gray(ImageOps.exif_transpose(img))
    h, w = g.shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = np.pad(g, ((top, side - h - top), (left, side - w - left)), mode="edge")
    return np.asarray(Image.fromarray(square).resize((32, 32), Image.BICUBIC, reducing_gap=None))


def encoded(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("h, w", [(300, 200), (33, 500), (511, 1), (1, 511), (100, 100)])
def test_images_under_512_pixels_a_side_are_cropped_exactly_as_padding_then_resizing(h, w):
    img = Image.fromarray(pattern(h, w)).convert("RGB")
    assert np.array_equal(read_image(encoded(img)).numpy(), padded_then_resized(img))


@pytest.mark.parametrize("h, w", [(30, 2000), (2000, 30), (1, 3000), (3000, 2), (700, 900), (1200, 1200), (513, 40)])
@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_larger_ones_of_any_aspect_stay_within_a_grey_level_of_it(h, w, mode):
    """Box-averaged before the resize (as Pillow's own reducing_gap does), the padding kept exact: a crop that
    averaged the short side into its edges (what reducing the image before padding it does) was 21 levels off."""
    img = Image.fromarray(pattern(h, w, seed=h + w)).convert(mode)
    if mode == "RGBA":  # transparent stripes, read as white paper
        a = np.array(img)
        a[..., 3] = np.where(np.arange(w)[None, :] % 50 < 10, 0, 255)
        img = Image.fromarray(a, "RGBA")
    got = read_image(encoded(img)).numpy().astype(int)
    diff = np.abs(got - padded_then_resized(img).astype(int))
    assert diff.mean() < 1.0 and diff.max() <= 6, (diff.mean(), diff.max())


@pytest.mark.parametrize("h, w, f", [(30, 2000, 7), (2000, 30, 7), (513, 300, 2), (1, 3000, 11), (3000, 1, 11),
                                     (700, 900, 3), (5, 1024, 4), (1023, 17, 3), (64, 64, 5)])
def test_padded_block_means_are_the_means_of_the_padded_square(h, w, f):
    g = np.random.default_rng(h * w).integers(0, 256, (h, w), dtype=np.uint8)
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = np.pad(g, ((top, side - h - top), (left, side - w - left)), mode="edge").astype(np.int64)
    n = -(-side // f)
    want = np.empty((n, n), np.int64)
    for i in range(n):
        for j in range(n):
            block = square[i * f : (i + 1) * f, j * f : (j + 1) * f]
            want[i, j] = (2 * block.sum() + block.size) // (2 * block.size)  # the mean, rounded half up
    assert np.array_equal(padded_block_means(g, f), want)
    pillow = np.asarray(Image.fromarray(square.astype(np.uint8)).reduce(f)).astype(int)
    assert np.abs(pillow - want).max() <= 1  # Pillow's reduce rounds through a float multiplier


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_pillow_applies_it(orientation):
    a = pattern(40, 70)
    a[:5, :10] = 255  # a corner that shows where the top-left went
    img = Image.fromarray(a, "L")
    exif = img.getexif()
    exif[images.EXIF_ORIENTATION] = orientation
    data = encoded(img, exif=exif.tobytes())
    want = padded_then_resized(Image.open(io.BytesIO(data)))
    assert np.array_equal(read_image(data).numpy(), want)


def test_a_large_jpeg_is_decoded_at_a_reduced_size_and_read_alike():
    rgb = np.stack([pattern(1536, 2048), pattern(1536, 2048, 1), pattern(1536, 2048, 2)], axis=-1)
    data = encoded(Image.fromarray(rgb), "JPEG", quality=92)
    header = image_header(data)
    assert (header.format, header.width, header.height, header.draft_scale) == ("JPEG", 2048, 1536, 8)
    diff = np.abs(read_image(data).numpy().astype(int) - padded_then_resized(Image.open(io.BytesIO(data))))
    assert diff.mean() < 0.5 and diff.max() <= 2, (diff.mean(), diff.max())


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "PT", "I;16", "I;16 12-bit", "I", "F", "CMYK", "1"])
def test_greying_in_strips_gives_the_grey_levels_of_the_whole(monkeypatch, mode):
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (97, 61, 4), dtype=np.uint8)
    rgba[:20, :, 3] = 0
    img = Image.fromarray(rgba, "RGBA")
    if mode == "PT":  # a palette with a transparent entry
        img = img.convert("RGB").quantize(16)
        img.info["transparency"] = 3
    elif mode == "I;16":
        img = Image.fromarray(rng.integers(0, 65536, (97, 61), dtype=np.uint16))
    elif mode == "I;16 12-bit":  # scaled by the depth that holds the whole image's values, not each strip's
        img = Image.fromarray(rng.integers(0, 4096, (97, 61), dtype=np.uint16))
        img.paste(0, (0, 0, 61, 30))  # the first strips hold 8-bit values only
    elif mode == "I":  # 32-bit, past 16 bits: scaled by the whole image's maximum, not each strip's
        img = Image.fromarray(rng.integers(0, 300_000, (97, 61), dtype=np.int32), "I")
    elif mode == "F":
        img = Image.fromarray(rng.uniform(0, 7.5, (97, 61)).astype(np.float32))
    elif mode != "RGBA":
        img = img.convert(mode)
    monkeypatch.setattr(pixels, "STRIP_PIXELS", 61 * 10)  # strips of 10 rows
    assert np.array_equal(to_gray_in_strips(img), to_gray(img))


def test_no_pillow_warning_escapes_even_as_an_error():
    """With warnings turned into errors, a bomb is still dlexam's one UserError, and corrupt EXIF data is read."""
    img = Image.fromarray(pattern(40, 60))
    corrupt = encoded(img, "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x05\x01\x12")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError, match="pixels"):
            read_image(header_only(10_000, 10_000))
        assert read_image(corrupt).shape == (32, 32)


def _tiff(samples_per_pixel: int = 1, *extra: tuple[int, int, int, int]) -> bytes:
    """An 8x8 grey TIFF (little-endian, uncompressed, one strip; pixels 0..63 row by row) with more IFD entries
    (tag, type 2 ASCII or 4 LONG, count, value or offset)."""
    import struct

    pixels = bytes(range(64))
    entries = sorted([(256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                      (273, 4, 1, 0), (277, 3, 1, samples_per_pixel), (278, 3, 1, 8), (279, 4, 1, 64), *extra])
    strip = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        value = strip if tag == 273 else value
        out += struct.pack("<HHIHH" if kind == 3 else "<HHII", tag, kind, count, *((value, 0) if kind == 3 else
                                                                                    (value,)))
    return out + bytes(4) + pixels


def test_a_tiffs_metadata_warnings_as_it_decodes_are_caught_too():
    """A TIFF re-reads its metadata as it decodes (Pillow's load_end reads its EXIF again), outside the catch that
    held for opening it: an ImageDescription said to run past the end of the file printed Pillow's UserWarning
    "Tag data larger than file" above `svhn predict`'s answer. Oracle: the pixels as written, and no warning."""
    data = _tiff(1, (270, 2, 100_000, 8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_image(data)
    assert [str(w.message) for w in caught] == []
    want = np.asarray(Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).resize((32, 32), Image.BICUBIC))
    assert np.array_equal(got.numpy(), want)


def test_pillows_log_records_are_never_printed(monkeypatch):
    """Pillow logs a TIFF with 200 samples a pixel as an error (logging.error) before refusing it; with no handler
    set, as in `dlexam`, Python's last resort printed it on stderr above dlexam's one line."""
    import logging

    printed = io.StringIO()
    monkeypatch.setattr(logging.root, "handlers", [])  # pytest's own capture handler away: as the command runs
    monkeypatch.setattr(logging, "lastResort", logging.StreamHandler(printed))
    with pytest.raises(UserError, match="not a readable image"):
        read_image(_tiff(200))
    assert printed.getvalue() == ""


@pytest.mark.parametrize("width", [-4, -1, -(2**31)])
def test_a_bmp_of_negative_width_is_refused_as_an_impossible_size(tmp_path, capsys, width):
    """BMP stores its width signed; Pillow reads it unsigned (-4 as 4,294,967,292), so this was refused as declaring
    "more pixels than dlexam reads": refused still, now in true words."""
    import struct

    from .helpers import refused_here

    buf = io.BytesIO()
    Image.new("RGB", (4, 3), "white").save(buf, format="BMP")
    data = bytearray(buf.getvalue())
    struct.pack_into("<i", data, 18, width)
    path = tmp_path / "negative.bmp"
    path.write_bytes(bytes(data))
    line = refused_here(["svhn", "predict", str(path)], capsys, "declares an impossible size", f"{width} pixels wide")
    assert "more pixels" not in line
    with pytest.raises(UserError, match="impossible size"):
        image_header(bytes(data))


def jpeg(kind: str, h: int = 120, w: int = 160) -> bytes:
    """A JPEG of a smooth colour pattern: `kind` baseline, progressive, restart (a restart marker every 3 blocks),
    restart rows (one every row of blocks), optimized (its own Huffman tables) or grey."""
    rgb = np.stack([pattern(h, w), pattern(h, w, 1), pattern(h, w, 2)], axis=-1)
    options = {"baseline": {}, "progressive": {"progressive": True}, "restart": {"restart_marker_blocks": 3},
               "restart rows": {"restart_marker_rows": 1}, "optimized": {"optimize": True, "quality": 60},
               "grey": {}}[kind]
    img = Image.fromarray(rgb[..., 0] if kind == "grey" else rgb)
    return encoded(img, "JPEG", quality=options.pop("quality", 90), **options)


JPEG_KINDS = ["baseline", "progressive", "restart", "restart rows", "optimized", "grey"]


@pytest.mark.parametrize("kind", JPEG_KINDS)
@pytest.mark.parametrize("kept", [0.5, 0.8, 0.97])
def test_a_jpeg_cut_short_then_closed_with_its_end_marker_is_refused(kind, kept):
    """Cut inside its compressed data, then given an end-of-image marker (FFD9): Pillow decodes it, the missing blocks
    grey, dropping libjpeg's "Premature end of JPEG file" warning, and it got a prediction. Refused as a file cut
    short without the marker is."""
    whole = jpeg(kind)
    cut = whole[: int(len(whole) * kept)] + b"\xff\xd9"
    pillow_reads = kind != "progressive" or kept > 0.9  # a progressive JPEG cut in an earlier scan: Pillow refuses
    if pillow_reads:  # the premise: Pillow reads it without a word
        with Image.open(io.BytesIO(cut)) as img:
            img.load()
    with pytest.raises(UserError, match="damaged or cut short"):
        read_image(whole[: int(len(whole) * kept)])  # the plain cut: refused before too
    with pytest.raises(UserError, match=r"^the file is not a readable image: it is damaged or cut short \(") as e:
        read_image(cut)
    assert ("Premature end of JPEG file" in str(e.value)) == pillow_reads


def test_a_large_jpeg_cut_short_is_refused_at_its_reduced_size_too(tmp_path, capsys):
    """Decoded at 1/8 of its size (libjpeg's own scaling): the check decodes at that size too. `svhn predict`: exit
    status 2, one line."""
    from .helpers import refused_here

    whole = jpeg("baseline", 1536, 2048)
    assert image_header(whole).draft_scale == 8
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) * 2 // 3] + b"\xff\xd9")
    refused_here(["svhn", "predict", str(path)], capsys, "damaged or cut short", "Premature end of JPEG file",
                 str(path))


@pytest.mark.parametrize("kind", JPEG_KINDS)
def test_whole_jpegs_are_read_as_pillow_decodes_them_whatever_follows_their_end(kind):
    """Progressive, with restart markers, with bytes after the end marker (a camera's trailer, another file's bytes):
    read, and exactly as padding Pillow's decode then resizing it (images under 512 pixels a side)."""
    whole = jpeg(kind)
    want = padded_then_resized(Image.open(io.BytesIO(whole)))
    for data in (whole, whole + b"\x00trailer \xff\xd8\xff\xe0 after the end marker\xff\xd9", whole + b"\xff\xd9"):
        assert np.array_equal(read_image(data).numpy(), want), kind
