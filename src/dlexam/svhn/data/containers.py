"""An image file's own structure, read where Pillow's reading falls short of other readers'.

- A PNG's chunks (:func:`png_less_damaged_ancillary`): Pillow refuses a PNG whose ancillary chunk (a text, a gamma,
  a private one: any chunk whose type starts with a lower-case letter) before the image data fails its CRC, where
  libpng, and so browsers and viewers, warns and drops that chunk (PNG 13.2: a decoder may ignore an ancillary chunk
  it finds damaged). dlexam reads it as they do: without that chunk. A critical chunk's CRC (IHDR, PLTE, IDAT) is
  Pillow's to check: such a file is refused as damaged.
- A TIFF's first IFD (:func:`lab_tiff`): Pillow decodes an 8-bit CIELab TIFF without alpha and no other Lab TIFF
  (16 bits a sample, as Photoshop saves 16-bit Lab; alpha; the ICCLab and ITULab encodings). It fails as on a file
  it cannot parse, so the refusal names what the file is instead of calling it damaged.
"""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LAB_PHOTOMETRIC = {8: "CIELab", 9: "ICCLab", 10: "ITULab"}  # TIFF's PhotometricInterpretation values of Lab


def png_less_damaged_ancillary(data: bytes) -> bytes | None:
    """The PNG `data` without its ancillary chunks whose CRC fails, as libpng reads it; None where it has none
    (or is not a PNG). Chunks are walked by their lengths up to IEND; a file cut short keeps what follows as it is,
    for Pillow to refuse."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    kept, at, dropped = [PNG_SIGNATURE], len(PNG_SIGNATURE), False
    while at + 12 <= len(data):
        end = at + 12 + int.from_bytes(data[at : at + 4], "big")
        if end > len(data):
            break
        kind = data[at + 4 : at + 8]
        if kind[0] & 0x20 and zlib.crc32(data[at + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            dropped = True  # ancillary (bit 5 of its first byte: lower case), its CRC failed: passed over
        else:
            kept.append(data[at:end])
        at = end
        if kind == b"IEND":
            break
    return b"".join([*kept, data[at:]]) if dropped else None


def _tiff_ifd(read) -> dict[int, tuple[int, ...]] | None:
    """The first IFD's SHORT and LONG tags of a classic TIFF, `read(offset, n)` giving its bytes: {tag: values}."""
    head = read(0, 8)
    if len(head) < 8 or head[:4] not in (b"II*\x00", b"MM\x00*"):
        return None  # not a classic TIFF (a BigTIFF's IFD is laid out otherwise)
    order = "<" if head[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", head[4:8])
    count_bytes = read(ifd, 2)
    if len(count_bytes) < 2:
        return None
    (n,) = struct.unpack(order + "H", count_bytes)
    entries = read(ifd + 2, 12 * n)
    tags = {}
    for i in range(len(entries) // 12):
        tag, kind, count = struct.unpack(order + "HHI", entries[12 * i : 12 * i + 8])
        size = {3: 2, 4: 4}.get(kind)
        if size is None or count > 64:
            continue
        raw = entries[12 * i + 8 : 12 * i + 12]
        if size * count > 4:
            raw = read(struct.unpack(order + "I", raw)[0], size * count)
        if len(raw) >= size * count:
            tags[tag] = struct.unpack(order + ("H" if size == 2 else "I") * count, raw[: size * count])
    return tags


def lab_tiff(source) -> str | None:
    """What the TIFF `source` (a path, or the file's bytes) is where its first image is Lab: "a 16-bit CIELab TIFF",
    "an ICCLab TIFF", "a CIELab TIFF with alpha", ...; None for another file, or one that cannot be read."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        tags = _tiff_ifd(lambda offset, n: data[offset : offset + n])
    else:
        try:
            with open(source, "rb") as f:

                def read(offset: int, n: int) -> bytes:
                    f.seek(offset)
                    return f.read(n)

                tags = _tiff_ifd(read)
        except (OSError, TypeError, ValueError):
            return None
    if not tags or (name := LAB_PHOTOMETRIC.get(tags.get(262, (0,))[0])) is None:
        return None
    bits = max(tags.get(258, (1,)))
    extra = tags.get(338, ())
    words = (([f"{bits}-bit"] if bits != 8 else []) + [name, "TIFF"]
             + (["with alpha"] if {1, 2} & set(extra) else ["with extra samples"] if extra else []))
    return ("an " if words[0][0] in "I8" else "a ") + " ".join(words)
