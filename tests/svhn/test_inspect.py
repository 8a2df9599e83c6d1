"""Feature maps of Problem 1's CNN (dlexam.svhn.inspect), checked against torch.nn.functional on the
model's own weights, and uploads read with their size checked before decoding."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
import torch
import torch.nn.functional as F

from dlexam.errors import UserError
from dlexam.svhn.data.official import preprocess
from dlexam.svhn.inspect import feature_maps, read_image_bytes
from dlexam.svhn.model import CNNConfig, ExamCNN


def model(**cfg) -> ExamCNN:
    torch.manual_seed(0)
    return ExamCNN(CNNConfig(**cfg)).eval()


def image(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (32, 32), generator=g, dtype=torch.uint8)


def test_maps_are_the_layers_of_problem_1():
    m, img = model(), image()
    fm = feature_maps(m, img)
    x = preprocess(img[None])  # (1, 1, 32, 32)
    c1 = F.relu(F.conv2d(x, m.conv1.weight, m.conv1.bias))  # 5x5, stride 1, pad 0
    p1 = F.avg_pool2d(c1, 4, 4)
    c2 = F.relu(F.conv2d(p1, m.conv2.weight, m.conv2.bias, padding=1))  # 4x4, pad 1
    p2 = F.avg_pool2d(c2, 2, 2)
    logits = F.linear(p2.flatten(1), m.fc.weight, m.fc.bias)[0]
    for got, want, shape in ((fm.conv1, c1, (8, 28, 28)), (fm.pool1, p1, (8, 7, 7)), (fm.conv2, c2, (16, 6, 6)),
                             (fm.pool2, p2, (16, 3, 3))):
        assert tuple(got.shape) == shape
        torch.testing.assert_close(got, want[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fm.logits, logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fm.probabilities, torch.softmax(logits, 0))
    assert fm.digit == int(logits.argmax())


@pytest.mark.parametrize("cfg", [{"pool": "max"}, {"activation": "tanh"}, {"head": "conv1x1-gap"}])
def test_variants_end_in_the_models_own_forward(cfg):
    m, img = model(**cfg), image(2)
    fm = feature_maps(m, img)
    with torch.no_grad():
        torch.testing.assert_close(fm.logits, m(preprocess(img[None]))[0])
    js = fm.to_json()
    assert set(js) == {"digit", "blank", "blank_note", "probabilities", "logits", "image", "maps"}
    assert len(js["image"]) == 32
    assert js["blank"] is (img.unique().numel() == 1) and js["blank_note"] is None


def test_a_one_colour_image_is_blank_whatever_its_colour():
    """All zeros once standardised: the logits are the network's biases' answer, the same for every colour."""
    m = model()
    grey, white = (feature_maps(m, torch.full((32, 32), v, dtype=torch.uint8)) for v in (97, 255))
    assert grey.blank and white.blank and grey.to_json()["blank"] is True
    torch.testing.assert_close(grey.logits, white.logits)
    assert not feature_maps(m, image(2)).blank


def test_a_training_model_is_left_training():
    m = model().train()
    feature_maps(m, image())
    assert m.training


def test_only_uint8_32x32():
    with pytest.raises(UserError):
        feature_maps(model(), torch.zeros(28, 28, dtype=torch.uint8))


def encode(img, fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_read_image_bytes_crops_like_svhn_predict():
    from PIL import Image

    from dlexam.svhn.data.pixels import svhn_crop, to_gray

    photo = Image.new("RGB", (90, 60), (200, 30, 30))
    photo.paste((10, 10, 200), (30, 10, 60, 50))
    want = torch.from_numpy(svhn_crop(to_gray(photo)))
    for fmt in ("PNG", "BMP", "GIF"):
        got = read_image_bytes(encode(photo.convert("P") if fmt == "GIF" else photo, fmt))
        assert got.dtype == torch.uint8 and tuple(got.shape) == (32, 32)
        if fmt != "GIF":  # a palette rounds colours
            assert torch.equal(got, want)


def test_transparent_pixels_read_as_white_paper_and_opaque_ones_as_they_are():
    """to_gray of an RGBA image: opaque pixels are their RGB's luma (Pillow's RGB -> L), a fully transparent one is
    white, a half-transparent one lies between; an opaque image takes no compositing and gives the same."""
    import numpy as np
    from PIL import Image

    from dlexam.svhn.data.pixels import to_gray

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    luma = np.asarray(Image.fromarray(rgb, "RGB").convert("L"))
    opaque = np.dstack([rgb, np.full((30, 40), 255, np.uint8)])
    assert np.array_equal(to_gray(Image.fromarray(opaque, "RGBA")), luma)
    see_through = opaque.copy()
    see_through[:10, :, 3] = 0  # the top rows fully transparent
    see_through[10:20, :, 3] = 128  # the middle ones half
    g = to_gray(Image.fromarray(see_through, "RGBA")).astype(int)
    assert (g[:10] == 255).all() and np.array_equal(g[20:], luma[20:])
    half = (luma[10:20].astype(int) * 128 + 255 * 127) / 255
    assert np.abs(g[10:20] - half).max() <= 1.5  # composited over white, up to rounding


@pytest.mark.parametrize("mode, key", [("L", 0), ("RGB", (0, 255, 0)), ("1", 0)])
def test_a_png_colour_key_reads_as_white_paper(mode, key):
    """A PNG's tRNS colour key (8-bit grey, RGB, 1-bit; what PNG optimisers make of a two-level alpha) marks the
    pixels of that colour fully transparent: a viewer shows the page through them. They were read as their stored
    colour (a grey key of 0: a black page, the digit's polarity turned). Oracle: the key's pixels 255, the others
    Pillow's luma of their colour; a 32x32 image is read as it is."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    if mode == "RGB":
        a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        a[a[..., 1] == 255, 1] = 254  # no pixel is the key by chance
        a[:12] = key
        see_through = np.zeros((32, 32), bool)
        see_through[:12] = True
        luma = np.asarray(Image.fromarray(a, "RGB").convert("L"))
    else:
        a = rng.integers(1, 256 if mode == "L" else 2, (32, 32), dtype=np.uint8)
        a[:12] = key
        see_through = a == key
        luma = a if mode == "L" else a * 255
        a = a if mode == "L" else a.astype(bool)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", transparency=key)
    got = read_image_bytes(buf.getvalue()).numpy()
    assert (got[see_through] == 255).all() and np.array_equal(got[~see_through], luma[~see_through])


def test_a_phone_photos_exif_orientation_is_applied():
    """Orientation 6 (the camera held upright): the picture is shown turned 90 degrees clockwise; so it is read."""
    import numpy as np
    from PIL import Image

    a = np.zeros((32, 48), np.uint8)
    a[:, :8] = 255  # a white band at the left of the stored pixels: at the top once turned
    img = Image.fromarray(a, "L")
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, format="PNG", exif=exif.tobytes())
    got = read_image_bytes(buf.getvalue())
    turned = np.rot90(a, k=-1)  # (48, 32): the band across the top
    from dlexam.svhn.data.pixels import svhn_crop

    assert torch.equal(got, torch.from_numpy(svhn_crop(np.ascontiguousarray(turned))))
    assert got[0].float().mean() > 200 and got[-1].float().mean() < 50


def test_the_size_is_checked_before_decoding():
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(UserError, match="pixels"):
        read_image_bytes(bomb)
    with pytest.raises(UserError, match="pixels"):
        read_image_bytes(encode(__import__("PIL.Image").Image.new("L", (100, 100))), max_pixels=9_999)


@pytest.mark.parametrize("data", [b"", b"hello", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"<svg/>", b"\xff\xd8\xff"])
def test_unreadable_bytes_are_a_user_error(data):
    with pytest.raises(UserError):
        read_image_bytes(data)


def test_truncated_and_unlisted_formats():
    from PIL import Image

    png = encode(Image.new("RGB", (50, 50), 90))
    with pytest.raises(UserError):
        read_image_bytes(png[: len(png) // 2])
    with pytest.raises(UserError, match="not a readable image"):
        read_image_bytes(encode(Image.new("RGB", (50, 50)), "TIFF"))
