"""Colours and transparency as a viewer shows them: ICC profiles, CIELab, low-depth colour keys, damaged ancillary
PNG chunks.

The ICC profiles here are written byte by byte (struct): minimal RGB matrix/TRC display profiles (ICC v2) of Display
P3's colorants with the sRGB curve (an iPhone's photos) and of Adobe RGB (1998)'s with its 563/256 gamma, and a grey
profile of gamma 1. The oracle is the colour maths by hand in numpy: linearise each value by the profile's curve,
the profile's colorant matrix to XYZ (D50), the inverse of sRGB's D50 matrix (Bruce Lindbloom's, typed here), sRGB's
curve, then ITU-R 601-2 luma; within two grey levels (8-bit rounding on the way, LittleCMS's fixed point).
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dlexam.errors import UserError
from dlexam.svhn.data.images import read_image

# XYZ (D50) of each primary, as the profiles' rXYZ, gXYZ, bXYZ tags hold them
P3 = ((0.515121, 0.241196, -0.001053), (0.291977, 0.692245, 0.041885), (0.157104, 0.066574, 0.784073))
ADOBE = ((0.6097559, 0.3111242, 0.0194811), (0.2052401, 0.6256560, 0.0608902), (0.1492240, 0.0632197, 0.7448387))
SRGB_D50 = np.array([[0.4360747, 0.3850649, 0.1430804], [0.2225045, 0.7168786, 0.0606169],
                     [0.0139322, 0.0971045, 0.7141733]])  # linear sRGB -> XYZ (D50), Bradford-adapted
D50 = (0.9642, 1.0, 0.8249)


def s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)


SRGB_CURVE = b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(
    s15(x) for x in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))  # ICC parametric curve type 3
GAMMA_563 = b"curv" + bytes(4) + struct.pack(">IH", 1, 563)  # gamma 563/256 = 2.19921875, as Adobe RGB's
GAMMA_1 = b"curv" + bytes(4) + struct.pack(">I", 0)  # the identity


def srgb_decode(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def icc(space: bytes, tags: dict[bytes, bytes]) -> bytes:
    """An ICC v2.1 display profile of colour space `space` (b"RGB ", b"GRAY") with `tags` and a description."""
    text = b"dlexam test\0"
    tags = {b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8 + 3 + 67),
            b"wtpt": xyz(*D50), **tags}
    at, entries, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags.items():
        data += bytes(-len(data) % 4)
        entries += sig + struct.pack(">II", at, len(data))
        body, at = body + data, at + len(data)
    header = (struct.pack(">I", at) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr" + space + b"XYZ " + bytes(12)
              + b"acsp" + bytes(24) + struct.pack(">I", 0) + s15(D50[0]) + s15(D50[1]) + s15(D50[2]) + bytes(48))
    return header + struct.pack(">I", len(tags)) + entries + body


def rgb_profile(colorants, curve: bytes) -> bytes:
    return icc(b"RGB ", {b"rXYZ": xyz(*colorants[0]), b"gXYZ": xyz(*colorants[1]), b"bXYZ": xyz(*colorants[2]),
                         b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})


PROFILES = {"Display P3": (P3, SRGB_CURVE, srgb_decode), "Adobe RGB": (ADOBE, GAMMA_563, lambda v: v ** (563 / 256))}


def srgb_luma_of_linear(lin_srgb: np.ndarray) -> np.ndarray:
    """Linear sRGB (..., 3) -> the luma of its 8-bit sRGB values (clipped to the gamut as a viewer clips)."""
    s = np.clip(lin_srgb, 0.0, 1.0)
    encoded = np.round(255 * np.where(s <= 0.0031308, 12.92 * s, 1.055 * s ** (1 / 2.4) - 0.055))
    return encoded @ np.array([0.299, 0.587, 0.114])


def oracle(rgb: np.ndarray, profile: str) -> np.ndarray:
    """uint8 (..., 3) values in `profile`'s colours -> the luma of their sRGB colours, by hand."""
    colorants, _, decode = PROFILES[profile]
    xyz_d50 = decode(rgb / 255.0) @ np.array(colorants)  # each colorant a row: R X_r + G X_g + B X_b
    return srgb_luma_of_linear(xyz_d50 @ np.linalg.inv(SRGB_D50).T)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


COLOURS = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
COLOURS[0, :3] = [(60, 200, 60), (30, 120, 200), (200, 80, 60)]  # a green, a blue, a red: far from sRGB's


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF", "P"])
def test_an_embedded_icc_profile_is_converted_to_srgb_before_luma(profile, fmt):
    """Before: the profile was ignored and the stored values read as sRGB, up to 21 grey levels off (P3's green
    (60, 200, 60): luma 142 read, 121 shown). A JPEG's values are lossy: the oracle takes the values Pillow decodes;
    a palette PNG (P) its palette's colours."""
    icc_bytes = rgb_profile(*PROFILES[profile][:2])
    img = Image.fromarray(COLOURS, "RGB")
    if fmt == "P":
        img, fmt = img.quantize(64), "PNG"
    data = encode(img, fmt, icc_profile=icc_bytes, **({"lossless": True} if fmt == "WEBP" else {}))
    stored = Image.open(io.BytesIO(data))
    assert stored.info["icc_profile"] == icc_bytes
    values = np.asarray(stored.convert("RGB")).astype(np.float64)
    got = read_image(data).numpy().astype(np.float64)
    assert np.abs(got - oracle(values, profile)).max() <= 2
    as_srgb = values @ np.array([0.299, 0.587, 0.114])  # what the profile's absence gives: far off somewhere
    assert np.abs(got - as_srgb).max() >= 10


def test_transparency_is_kept_through_the_profile_and_read_as_white_paper():
    rgba = np.dstack([COLOURS, np.full((32, 32), 255, np.uint8)])
    rgba[:8, :, 3] = 0  # fully transparent rows: white paper
    data = encode(Image.fromarray(rgba, "RGBA"), "PNG", icc_profile=rgb_profile(P3, SRGB_CURVE))
    got = read_image(data).numpy().astype(np.float64)
    assert (got[:8] == 255).all()
    assert np.abs(got[8:] - oracle(COLOURS[8:].astype(np.float64), "Display P3")).max() <= 2


def test_a_grey_image_with_a_grey_profile_is_read_through_it():
    """A grey profile of gamma 1 (linear light): grey 128 is 50% luminance, which sRGB shows as 188."""
    grey = np.arange(32 * 32, dtype=np.uint32).reshape(32, 32).astype(np.uint8)
    profile = icc(b"GRAY", {b"kTRC": GAMMA_1})
    got = read_image(encode(Image.fromarray(grey, "L"), "PNG", icc_profile=profile)).numpy().astype(np.float64)
    lin = np.repeat((grey / 255.0)[..., None], 3, axis=2)  # neutral: the same in every sRGB channel
    assert np.abs(got - srgb_luma_of_linear(lin)).max() <= 2
    assert got[4, 0] > 180  # grey 128 (row 4, column 0) shows light


@pytest.mark.parametrize("bad", ["garbage", "cut short", "grey profile on RGB", "RGB profile on grey"])
def test_a_profile_that_cannot_be_used_is_passed_over_and_the_image_read(bad):
    """Not refused: read as sRGB, as a viewer that cannot use the profile shows it (the oracle: Pillow's luma)."""
    rgb = Image.fromarray(COLOURS, "RGB")
    img, profile = {"garbage": (rgb, b"not a profile" * 20), "cut short": (rgb, rgb_profile(P3, SRGB_CURVE)[:300]),
                    "grey profile on RGB": (rgb, icc(b"GRAY", {b"kTRC": GAMMA_1})),
                    "RGB profile on grey": (rgb.convert("L"), rgb_profile(P3, SRGB_CURVE))}[bad]
    got = read_image(encode(img, "PNG", icc_profile=profile)).numpy()
    assert np.array_equal(got, np.asarray(img.convert("L")))


def test_a_pillow_without_littlecms_reads_the_image_as_srgb(monkeypatch):
    """A Pillow built without LittleCMS has no ImageCms: the profile is passed over, the image read, not refused."""
    import sys

    import PIL

    data = encode(Image.fromarray(COLOURS, "RGB"), "PNG", icc_profile=rgb_profile(P3, SRGB_CURVE))
    monkeypatch.delattr(PIL, "ImageCms", raising=False)
    monkeypatch.setitem(sys.modules, "PIL.ImageCms", None)  # `from PIL import ImageCms` now raises ImportError
    assert np.array_equal(read_image(data).numpy(), np.asarray(Image.fromarray(COLOURS, "RGB").convert("L")))


def lab_to_linear_srgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D50) -> linear sRGB, by CIE 15's formulas and SRGB_D50."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    fy = (L + 16) / 116
    f = np.stack([fy + a / 500, fy, fy - b / 200], axis=-1)
    t = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29))
    return (t * np.array(D50)) @ np.linalg.inv(SRGB_D50).T


def tiff_lab(v: np.ndarray, photometric: int = 8, bits: int = 8, extra: int | None = None) -> bytes:
    """A little-endian TIFF of the Lab samples (h, w, c) (CIELab: a and b signed), one uncompressed strip."""
    h, w, c = v.shape
    data = v.astype("<u1" if bits == 8 else "<u2").tobytes()
    bits_at = 8 + len(data)
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, bits_at), (259, 3, 1, 1), (262, 3, 1, photometric),
            (273, 4, 1, 8), (277, 3, 1, c), (278, 4, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    if extra is not None:
        tags.append((338, 3, 1, extra))
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                 else struct.pack("<I", value)) for tag, kind, count, value in tags)
    bits_values = struct.pack("<" + "H" * c, *[bits] * c)
    return b"II" + struct.pack("<HI", 42, bits_at + 2 * c) + data + bits_values + ifd + bytes(4)


def test_an_8_bit_cielab_tiff_is_read_as_its_srgb_colours():
    rng = np.random.default_rng(4)
    lab = np.stack([rng.integers(0, 256, (32, 32)), rng.integers(-60, 61, (32, 32)), rng.integers(-60, 61, (32, 32))],
                   axis=-1)
    got = read_image(tiff_lab((lab % 256).astype(np.uint8))).numpy().astype(np.float64)
    expected = srgb_luma_of_linear(lab_to_linear_srgb(lab * np.array([100 / 255, 1, 1])))
    assert np.abs(got - expected).max() <= 2


@pytest.mark.parametrize("kind, photometric, bits, c, extra", [
    ("a 16-bit CIELab TIFF", 8, 16, 3, None), ("a CIELab TIFF with alpha", 8, 8, 4, 2),
    ("an ICCLab TIFF", 9, 8, 3, None), ("an ITULab TIFF", 10, 8, 3, None)])
def test_a_lab_tiff_pillow_cannot_decode_is_named_so(tmp_path, kind, photometric, bits, c, extra):
    """Before: 'a TIFF file that is damaged or cut short', of a file that is neither."""
    path = tmp_path / "scan.tif"
    path.write_bytes(tiff_lab(np.zeros((4, 4, c), np.uint8), photometric, bits, extra))
    with pytest.raises(UserError) as err:
        read_image(path)
    message = str(err.value)
    assert "\n" not in message and kind in message and "damaged" not in message, message


def chunk(kind: bytes, data: bytes, crc_off: int = 0) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) ^ crc_off)


def grey_png(values: np.ndarray, depth: int, *chunks: bytes) -> bytes:
    """A grey PNG of `values` (h, w) at `depth` bits a pixel (1, 2, 4 or 8), rows unfiltered, `chunks` before IDAT."""
    h, w = values.shape
    rows = b"".join(b"\0" + np.packbits(np.unpackbits(r.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:]).tobytes()
                    for r in values)
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(chunks) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("depth, key", [(2, 1), (2, 2), (4, 1), (4, 7), (2, 5)])
def test_a_low_depth_grey_pngs_colour_key_reads_as_white_paper(depth, key):
    """Before: Pillow kept the key as stored (1) but decoded the pixels scaled (85), so only a key of 0 matched. The
    oracle: the key's pixels (its bits past the depth masked off, as PNG 11.3.2.1 says: 5 is 1 at 2 bits) 255,
    the others their value scaled to 255."""
    top = (1 << depth) - 1
    values = np.random.default_rng(depth * 100 + key).integers(0, top + 1, (32, 32))
    values[:6] = key & top
    got = read_image(grey_png(values, depth, chunk(b"tRNS", struct.pack(">H", key)))).numpy()
    expected = np.where(values == key & top, 255, values * 255 // top)
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("kind", [b"tEXt", b"gAMA", b"zzZz", b"tRNS"])
def test_a_png_whose_ancillary_chunk_has_a_bad_crc_is_read_without_that_chunk(kind):
    """libpng (browsers, viewers) warns and drops an ancillary chunk whose CRC fails; Pillow refused the file as
    'damaged or cut short'. Dropped: a tRNS whose CRC fails keys nothing (grey 0 stays black)."""
    values = np.random.default_rng(0).integers(0, 256, (32, 32))
    values[:4] = 0
    body = {b"tEXt": b"Comment\0scanned", b"gAMA": struct.pack(">I", 45455), b"zzZz": b"private",
            b"tRNS": struct.pack(">H", 0)}[kind]
    got = read_image(grey_png(values, 8, chunk(kind, body, crc_off=1))).numpy()
    assert np.array_equal(got, values)


@pytest.mark.parametrize("kind", [b"IHDR", b"PLTE"])
def test_a_png_whose_critical_chunk_has_a_bad_crc_is_still_refused(kind):
    values = np.zeros((8, 8), np.uint8)
    data = grey_png(values, 8)
    if kind == b"IHDR":
        data = data[:29] + bytes([data[29] ^ 1]) + data[30:]
    else:  # a grey image's PLTE is not allowed anyway; a palette one's with a bad CRC
        img = encode(Image.fromarray(values).convert("P"), "PNG")
        at = img.index(b"PLTE")
        length = int.from_bytes(img[at - 4 : at], "big")
        data = img[: at + 4 + length] + bytes([img[at + 4 + length] ^ 1]) + img[at + 5 + length :]
    with pytest.raises(UserError, match="not a readable image"):
        read_image(data)
