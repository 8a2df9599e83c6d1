"""What reading a photo through its ICC profile costs: `read_image` of a 4000x3000 photo with a Display P3 profile,
against the same photo without one.

Until 2026-12-07 `read_image` ignored a photo's ICC profile; it now converts the decoded colours to sRGB with
LittleCMS a strip of rows at a time (dlexam.svhn.data.colour) before luma. The photo is made here (a smooth colour
field with noise, seeded) and encoded as a JPEG (quality 92: decoded at 1/8 of its size, as `read_image` decodes a
large JPEG) and as a PNG (decoded whole), each with and without a Display P3 profile (a matrix/TRC profile written
below, as an iPhone's is). The two files of a format are read in turn, `--repeats` times; the median of each and
their ratio are reported. The last line is one JSON object.
Usage: python benchmarks/photo_colour.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import time

import numpy as np
from PIL import Image

from dlexam.commands.options import whole_number
from dlexam.limits import Span
from dlexam.svhn.data.images import read_image

WIDTH, HEIGHT = 4000, 3000
P3_D50 = ((0.515121, 0.241196, -0.001053), (0.291977, 0.692245, 0.041885), (0.157104, 0.066574, 0.784073))


def display_p3() -> bytes:
    """A Display P3 profile (ICC v2 matrix/TRC): P3's colorants adapted to D50, sRGB's curve."""

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    def xyz(v) -> bytes:
        return b"XYZ " + bytes(4) + b"".join(s15(x) for x in v)

    curve = b"para" + bytes(4) + struct.pack(">HH", 3, 0) + b"".join(
        s15(x) for x in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    text = b"Display P3 (dlexam benchmark)\0"
    tags = {b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(78),
            b"wtpt": xyz((0.9642, 1.0, 0.8249)), b"rXYZ": xyz(P3_D50[0]), b"gXYZ": xyz(P3_D50[1]),
            b"bXYZ": xyz(P3_D50[2]), b"rTRC": curve, b"gTRC": curve, b"bTRC": curve}
    at, entries, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags.items():
        data += bytes(-len(data) % 4)
        entries += sig + struct.pack(">II", at, len(data))
        body, at = body + data, at + len(data)
    header = (struct.pack(">I", at) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + bytes(12) + b"acsp"
              + bytes(28) + s15(0.9642) + s15(1.0) + s15(0.8249) + bytes(48))
    return header + struct.pack(">I", len(tags)) + entries + body


def photo(seed: int = 0) -> Image.Image:
    """A 4000x3000 colour field: smooth gradients of each channel, with noise of +-8 levels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rgb = np.stack([127 + 120 * np.sin(x / 700), 127 + 120 * np.cos(y / 500), 127 + 120 * np.sin((x + y) / 900)], -1)
    rgb += rng.integers(-8, 9, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def encoded(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def seconds(data: bytes) -> float:
    t0 = time.perf_counter()
    read_image(data)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=whole_number(Span(1, 100, whole=True)), default=7,
                        help="reads of each file, a whole number in [1, 100] (default 7)")
    args = parser.parse_args()
    img, profile = photo(), display_p3()
    files = {"JPEG": {"plain": encoded(img, "JPEG", quality=92), "P3": encoded(img, "JPEG", quality=92,
                                                                               icc_profile=profile)},
             "PNG": {"plain": encoded(img, "PNG", compress_level=1), "P3": encoded(img, "PNG", compress_level=1,
                                                                                   icc_profile=profile)}}
    result = {"photo": f"{WIDTH}x{HEIGHT}", "repeats": args.repeats, "formats": {}}
    for fmt, pair in files.items():
        if np.array_equal(read_image(pair["plain"]).numpy(), read_image(pair["P3"]).numpy()):
            raise SystemExit(f"photo_colour: the {fmt} photo reads the same with its P3 profile as without")
        times = {"plain": [], "P3": []}
        for _ in range(args.repeats):
            for name, data in pair.items():  # in turn, so that drift hits both
                times[name].append(seconds(data))
        plain, managed = statistics.median(times["plain"]), statistics.median(times["P3"])
        result["formats"][fmt] = {"plain_median_s": round(plain, 4), "p3_median_s": round(managed, 4),
                                  "ratio": round(managed / plain, 3), "bytes": len(pair["plain"])}
        print(f"{fmt:5s} without a profile {plain:.3f} s, with Display P3 {managed:.3f} s: {managed / plain:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
