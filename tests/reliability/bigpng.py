"""PNG files of any size written without holding their pixels: the rows are compressed as they are made.

A constant image of 50 megapixels is a few hundred kB of PNG: what a user (or an attacker) can hand dlexam
cheaply, and what costs gigabytes to a reader that decodes it at full size. `header_only` claims a size it
does not hold (its pixel data is a few bytes), the shape of a decompression bomb.
"""

from __future__ import annotations

import struct
import zlib

# mode -> (bit depth, PNG colour type, bytes a pixel)
COLOUR = {"L": (8, 0, 1), "RGB": (8, 2, 3), "P": (8, 3, 1), "RGBA": (8, 6, 4), "I;16": (16, 0, 2), "LA": (8, 4, 2),
          "RGBA;16": (16, 6, 8)}


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, mode: str = "L", row=None, transparent: bool = False, icc: bytes = b"") -> bytes:
    """A width x height PNG; `row(y)` gives row y's raw bytes (default: every row 0x80). `transparent` adds a
    tRNS chunk (palette entry 0 fully transparent) to a palette image; `icc`, an iCCP chunk of that ICC profile."""
    depth, colour, bpp = COLOUR[mode]
    plain = b"\x80" * (width * bpp)
    comp = zlib.compressobj(6)
    parts = [comp.compress(b"\0" + (row(y) if row else plain)) for y in range(height)]
    parts.append(comp.flush())
    out = [b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))]
    if icc:
        out.append(chunk(b"iCCP", b"profile\0\0" + zlib.compress(icc)))
    if mode == "P":
        out.append(chunk(b"PLTE", bytes(range(256)) * 3))
        if transparent:
            out.append(chunk(b"tRNS", b"\0"))
    out += [chunk(b"IDAT", b"".join(parts)), chunk(b"IEND", b"")]
    return b"".join(out)


def header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a few bytes of image data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + \
        chunk(b"IEND", b"")
