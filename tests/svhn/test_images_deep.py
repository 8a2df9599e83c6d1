"""16-bit colour images (PNG and TIFF, RGB, RGBA, grey with alpha) read at full precision by `read_image`.

Pillow reads a 16-bit-per-channel colour PNG or TIFF as 8 bits a channel by keeping each value's high byte, so a
12-bit colour camera image saved unscaled in a 16-bit PNG read as values 0..15: nearly black. The files here are
written byte by byte (zlib and struct; PNG rows under all five filters, Adam7 interlacing, TIFF in both byte
orders, uncompressed and deflated), and the oracle is the luma computed here in numpy from the 16-bit values
written, as docs/svhn.md says it is made: ITU-R 601-2 weights, transparency composited on white, scaled by the
smallest of 8, 10, 12 and 16 bits' full scale holding the colour values of the pixels that show (alpha > 0),
rounded to a grey level.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dlexam.errors import UserError
from dlexam.svhn.data import pixels
from dlexam.svhn.data.images import read_image
from dlexam.svhn.data.pixels import svhn_crop

PNG_COLOUR = {"RGB": 2, "RGBA": 6, "LA": 4, "L": 0}  # PNG colour types
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def filtered_rows(v: np.ndarray, first_filter: int = 0) -> bytes:
    """uint16 (h, w, c) -> PNG scanlines, big-endian samples, row y under filter type (first_filter + y) % 5
    (None, Sub, Up, Average, Paeth: PNG spec 9.2, the filter applied to the raw bytes)."""
    h, w, c = v.shape
    bpp = 2 * c
    raw = np.frombuffer(v.astype(">u2").tobytes(), np.uint8).reshape(h, w * bpp).astype(np.int32)
    out, prior = [], np.zeros(w * bpp, np.int32)
    for y in range(h):
        x = raw[y]
        left = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        f = (first_filter + y) % 5
        if f == 0:
            pred = np.zeros_like(x)
        elif f == 1:
            pred = left
        elif f == 2:
            pred = prior
        elif f == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(bytes([f]) + ((x - pred) % 256).astype(np.uint8).tobytes())
        prior = x
    return b"".join(out)


def png16(v: np.ndarray, mode: str, interlaced: bool = False, key: tuple[int, ...] = ()) -> bytes:
    """A 16-bit PNG of the values uint16 (h, w, c) (c: 3 for RGB, 4 for RGBA, 2 for grey and alpha, 1 for grey),
    with a tRNS chunk naming the colour `key` (grey or RGB) where one is given."""
    h, w, _ = v.shape
    if interlaced:
        data = b"".join(filtered_rows(v[y0::dy, x0::dx], i) for i, (x0, y0, dx, dy) in enumerate(ADAM7)
                        if v[y0::dy, x0::dx].size)
    else:
        data = filtered_rows(v)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, PNG_COLOUR[mode], 0, 0, int(interlaced))
    trns = chunk(b"tRNS", struct.pack(f">{len(key)}H", *key)) if key else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + trns + chunk(b"IDAT", zlib.compress(data))
            + chunk(b"IEND", b""))


def tiff16(v: np.ndarray, order: str = "<", deflate: bool = False) -> bytes:
    """A 16-bit RGB or RGBA (unassociated alpha) TIFF of the values uint16 (h, w, 3 or 4), one strip, in byte
    order `order` ("<" II, ">" MM), uncompressed or deflated (Pillow then decodes it with libtiff)."""
    h, w, c = v.shape
    data = v.astype(order + "u2").tobytes()
    if deflate:
        data = zlib.compress(data)
    bits_at = 8 + len(data)  # BitsPerSample's values follow the pixel data; the IFD follows them
    ifd_at = bits_at + 2 * c
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, c, bits_at), (259, 3, 1, 8 if deflate else 1), (262, 3, 1, 2),
            (273, 4, 1, 8), (277, 3, 1, c), (278, 4, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1)]
    if c == 4:
        tags.append((338, 3, 1, 2))  # ExtraSamples: unassociated alpha
    ifd = struct.pack(order + "H", len(tags))
    for tag, kind, count, value in tags:
        inline_short = kind == 3 and count == 1  # else a LONG, or the offset of the values
        packed = struct.pack(order + "HH", value, 0) if inline_short else struct.pack(order + "I", value)
        ifd += struct.pack(order + "HHI", tag, kind, count) + packed
    ifd += struct.pack(order + "I", 0)
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd_at)
    return head + data + struct.pack(order + "H" * c, *[16] * c) + ifd


def oracle(v: np.ndarray) -> np.ndarray:
    """The grey levels of the 16-bit values uint16 (h, w, c) written, by hand: ITU-R 601-2 luma of the colour (grey
    as it is), transparency composited on white, divided by the smallest full scale holding the colour values of
    the pixels that show."""
    v = v.astype(np.float64)
    if v.shape[2] in (1, 2):  # grey, grey and alpha
        luma, alpha = v[..., 0], (v[..., 1] if v.shape[2] == 2 else None)
        colour = v[..., :1]
    else:
        luma = 0.299 * v[..., 0] + 0.587 * v[..., 1] + 0.114 * v[..., 2]
        alpha = v[..., 3] if v.shape[2] == 4 else None
        colour = v[..., :3]
    colour_max = colour.max() if alpha is None else colour[alpha > 0].max(initial=0)  # a transparent pixel is paper
    top = next(t for t in (255, 1023, 4095, 65535) if colour_max <= t)
    if alpha is not None:
        a = alpha / 65535
        luma = luma * a + top * (1 - a)  # over white paper
    return np.clip(np.round(luma / top * 255), 0, 255).astype(np.uint8)


def values(bits: int, c: int, h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """Random bits-bit colour values with a dark digit-like bar, alpha (if any) of every kind: 0, full, between."""
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 2**bits, (h, w, c)).astype(np.uint16)
    v[h // 4 : 3 * h // 4, w // 3 : w // 2, : min(c, 3)] //= 8
    if c in (2, 4):
        v[..., -1] = rng.integers(0, 65536, (h, w))
        v[: h // 4, :, -1] = 0
        v[-h // 4 :, :, -1] = 65535
    return v


@pytest.mark.parametrize("bits", [10, 12, 16])
@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_16_bit_colour_png_is_read_at_full_precision(bits, mode):
    """Before: a 12-bit RGB PNG read as values 0..15 (nearly black), a full-range one lost its low byte."""
    v = values(bits, len(mode), seed=bits)
    data = png16(v, mode)
    assert Image.open(io.BytesIO(data)).mode == mode  # what Pillow makes of it: 8 bits a channel
    assert np.array_equal(read_image(data).numpy(), oracle(v))


def test_an_interlaced_16_bit_rgba_png_and_one_of_grey_with_alpha_too():
    v = values(16, 4, h=32, w=32, seed=1)
    assert np.array_equal(read_image(png16(v, "RGBA", interlaced=True)).numpy(), oracle(v))
    la = values(12, 2, seed=2)  # Pillow reads it as RGBA, each value's high byte
    assert np.array_equal(read_image(png16(la, "LA")).numpy(), oracle(la))


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("deflate", [False, True])
@pytest.mark.parametrize("c", [3, 4])
def test_a_16_bit_colour_tiff_is_read_at_full_precision(tmp_path, order, deflate, c):
    v = values(12, c, seed=c)
    path = tmp_path / "camera.tif"
    path.write_bytes(tiff16(v, order, deflate))
    assert Image.open(path).mode == ("RGB" if c == 3 else "RGBA")
    assert np.array_equal(read_image(path).numpy(), oracle(v))


def test_a_larger_one_is_cropped_as_its_grey_levels_are_whatever_the_strips(monkeypatch):
    v = values(12, 4, h=45, w=70, seed=5)
    monkeypatch.setattr(pixels, "STRIP_PIXELS", 70 * 7)  # strips of 7 rows: the scale is the whole image's
    v[:10, :, :3] = 200  # the first strip holds 8-bit values only
    assert np.array_equal(read_image(png16(v, "RGBA")).numpy(), svhn_crop(oracle(v)))


def test_an_8_bit_colour_image_gives_pillows_luma_as_before(tmp_path):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    assert np.array_equal(read_image(tmp_path / "rgb.png").numpy(), np.asarray(Image.fromarray(rgb).convert("L")))


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_16_bit_colour_png_is_one_line(damage):
    data = png16(values(16, 3, h=64, w=64, seed=9), "RGB")
    idat = data.index(b"IDAT")
    if damage == "cut":
        data = data[: idat + 200]
    else:  # a byte of the compressed rows changed (its CRC too): zlib's data or the rows' length is wrong
        body = bytearray(data[idat + 4 : data.index(b"IEND") - 8])
        body[len(body) // 2] ^= 0xFF
        data = data[: idat - 4] + chunk(b"IDAT", bytes(body)) + chunk(b"IEND", b"")
    with pytest.raises(UserError) as err:
        read_image(data)
    assert "\n" not in str(err.value) and "not a readable image" in str(err.value)


def test_a_fully_transparent_pixels_colour_does_not_decide_the_scale():
    """A fully transparent pixel is white paper whatever its colour: before, one at 65535 in a 12-bit camera image
    made the scale 65535 and the image read nearly black. The oracle: luma by hand, divided by 4095."""
    v = values(12, 4, seed=11)
    v[0, 0] = (65535, 65535, 65535, 0)  # fully transparent
    luma = 0.299 * v[..., 0] + 0.587 * v[..., 1] + 0.114 * v[..., 2]
    a = v[..., 3] / 65535
    expected = np.clip(np.round((luma * a + 4095 * (1 - a)) / 4095 * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(read_image(png16(v, "RGBA")).numpy(), expected)
    la = values(12, 2, seed=12)
    la[5, 7] = (65535, 0)
    a = la[..., 1] / 65535
    expected = np.clip(np.round((la[..., 0] * a + 4095 * (1 - a)) / 4095 * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(read_image(png16(la, "LA")).numpy(), expected)


@pytest.mark.parametrize("alpha", [0, 1, 256, 32768, 65534])
def test_only_the_colour_of_pixels_with_some_alpha_counts(monkeypatch, alpha):
    """8-bit colour values everywhere, large ones (65535, 4000) only in pixels of alpha `alpha`: fully transparent
    ones leave the scale 255, any other alpha (1 too: its low byte alone) counts. Strips of 5 rows: the large
    values sit in the third."""
    monkeypatch.setattr(pixels, "STRIP_PIXELS", 40 * 5)
    v = np.random.default_rng(alpha).integers(0, 256, (40, 40, 4)).astype(np.uint16)
    v[..., 3] = 65535
    v[:5, :, 3] = 0  # the first strip is transparent, with 8-bit colours
    v[12, 3] = (65535, 100, 7, alpha)
    v[13, 30] = (10, 4000, 7, alpha)
    top = 255 if alpha == 0 else 65535
    a = v[..., 3] / 65535
    luma = 0.299 * v[..., 0] + 0.587 * v[..., 1] + 0.114 * v[..., 2]
    expected = np.clip(np.round((luma * a + top * (1 - a)) / top * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(read_image(png16(v, "RGBA")).numpy(), svhn_crop(expected))
    assert np.array_equal(read_image(tiff16(v, "<")).numpy(), svhn_crop(expected))
    la = v[..., [1, 3]].copy()  # grey 4000 in the pixel of alpha `alpha`: 4095 when it counts
    top = 255 if alpha == 0 else 4095
    a = la[..., 1] / 65535
    expected = np.clip(np.round((la[..., 0] * a + top * (1 - a)) / top * 255), 0, 255).astype(np.uint8)
    assert np.array_equal(read_image(png16(la, "LA")).numpy(), svhn_crop(expected))


@pytest.mark.parametrize("key", [(1000, 2000, 3000), (65535, 0, 0)])
def test_a_16_bit_rgb_pngs_colour_key_reads_as_white_paper(key):
    """A tRNS colour key marks the pixels of that 16-bit colour fully transparent: white paper, whose colour does not
    decide the scale (a key of 65535 in a 12-bit image leaves it 4095). Before: the key was ignored, its pixels read
    as their colour (dark). The oracle: the same values with alpha 0 at the key and 65535 elsewhere."""
    v = values(12, 3, seed=13)
    v[:8] = key
    alpha = np.where((v == key).all(axis=-1), 0, 65535).astype(np.uint16)
    assert np.array_equal(read_image(png16(v, "RGB", key=key)).numpy(), oracle(np.dstack([v, alpha])))


@pytest.mark.parametrize("key", [1000, 65000])
def test_a_16_bit_grey_pngs_colour_key_reads_as_white_paper(key, monkeypatch):
    """The same for a 16-bit grey PNG (Pillow's mode I;16), in strips of 5 rows: the key's pixels lie in the first."""
    monkeypatch.setattr(pixels, "STRIP_PIXELS", 40 * 5)
    g = values(12, 1, h=40, w=40, seed=14)
    g[:3] = key
    alpha = np.where(g[..., 0] == key, 0, 65535).astype(np.uint16)
    assert np.array_equal(read_image(png16(g, "L", key=(key,))).numpy(), svhn_crop(oracle(np.dstack([g, alpha]))))
