"""SVHN's Format 2 .mat file read a block of images at a time (the extra split's X is 1.6 GB; read whole, as
``scipy.io.loadmat`` does, it took ~2.1 GiB to make 0.5 GiB of grayscale images).

A MATLAB v5/v7 file is a 128-byte header and then one data element per variable: a matrix (miMATRIX), or one
compressed with zlib (miCOMPRESSED, as the official files are). A matrix holds its flags (class), its dimensions,
its name and its real part, each a sub-element padded to 8 bytes (a short one packed into its 8-byte tag). X's
real part, uint8 in MATLAB's column order (32, 32, 3, N), holds image i as 3,072 consecutive bytes: the reader
inflates and converts `chunk` images at a time, so the images in memory are the grayscale ones and one chunk.

It reads only that plain layout: little-endian, X a real uint8 (32, 32, 3, N) array stored as bytes (one image
as MATLAB saves it: (32, 32, 3), the trailing 1 dropped), y a real numeric array. Anything else (another class
or storage, a big-endian file, X or y twice, a file damaged or cut short) raises :class:`Unsupported`, and the
caller reads the file the general way (scipy), whose checks name the problem: this reader never decides what a
file means, it only reads the common case in less memory.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator

import numpy as np

from dlexam.svhn.data import SIZE

MI_UINT8, MI_INT32, MI_UINT32, MI_MATRIX, MI_COMPRESSED = 2, 5, 6, 14, 15
# MATLAB's data types of a real part -> numpy's (little-endian)
DATA_TYPES = {1: "i1", 2: "u1", 3: "<i2", 4: "<u2", 5: "<i4", 6: "<u4", 7: "<f4", 9: "<f8", 12: "<i8", 13: "<u8"}
NUMERIC_CLASSES = range(6, 16)  # mxDOUBLE_CLASS .. mxUINT64_CLASS
CLASS_NAMES = dict(zip(NUMERIC_CLASSES, ("double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                                         "int64", "uint64"), strict=True))
MX_UINT8 = 9
COMPLEX, LOGICAL = 0x800, 0x200
IMAGE_BYTES = SIZE * SIZE * 3


class Unsupported(Exception):
    """Not the plain layout this reader takes (see the module docstring)."""


class _Raw:
    """The bytes of one uncompressed element, read from the file."""

    def __init__(self, f, size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int) -> bytes:
        if n > self.left:
            raise Unsupported("an element runs past its size")
        data = self.f.read(n)
        if len(data) != n:
            raise Unsupported("cut short")
        self.left -= n
        return data


class _Inflate:
    """The bytes of one compressed element, inflated as they are read (never more than a read's worth ahead)."""

    def __init__(self, f, size: int, block: int = 1 << 20) -> None:
        self.f, self.left, self.block = f, size, block
        self.z = zlib.decompressobj()
        self.buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.z.unconsumed_tail:  # input that the last call had no room to inflate
                data = self.z.unconsumed_tail
            elif self.left:
                data = self.f.read(min(self.block, self.left))
                if not data:
                    raise Unsupported("cut short")
                self.left -= len(data)
            else:
                data = b""  # what zlib still holds from input it has consumed
            out = self.z.decompress(data, n - len(self.buf))
            if not out and not data:
                raise Unsupported("cut short")
            self.buf += out
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def _tag(s) -> tuple[int, int, bytes | None]:
    """(data type, size, the data where the element is small and packed into its tag, else None)."""
    raw = s.read(8)
    first, size = struct.unpack("<II", raw)
    if first >> 16:  # a small element: 2-byte size, 2-byte type, up to 4 bytes of data
        small = first >> 16
        if small > 4:
            raise Unsupported("a small element of more than 4 bytes")
        return first & 0xFFFF, small, raw[4 : 4 + small]
    return first, size, None


def _sub(s, most: int) -> tuple[int, bytes]:
    """One sub-element: (data type, its bytes), refused where it says it holds more than `most` bytes (the size
    is the file's word: a compressed file could make good on 4 GB of it)."""
    mtype, size, small = _tag(s)
    if small is not None:
        return mtype, small
    if size > most:
        raise Unsupported("a sub-element larger than it can be")
    data = s.read(size)
    s.read(-size % 8)
    return mtype, data


def _matrix_header(s) -> tuple[int, int, tuple[int, ...], str]:
    """(class, flags, shape, name) of the matrix whose sub-elements `s` reads."""
    mtype, flags = _sub(s, 8)
    if mtype != MI_UINT32 or len(flags) != 8:
        raise Unsupported("no array flags")
    word = struct.unpack("<I", flags[:4])[0]
    mtype, dims = _sub(s, 4 * 32)
    if mtype != MI_INT32 or not dims or len(dims) % 4:
        raise Unsupported("no dimensions")
    shape = tuple(int(d) for d in np.frombuffer(dims, "<i4"))
    _, name = _sub(s, 1024)
    return word & 0xFF, word & (COMPLEX | LOGICAL), shape, name.decode("latin-1")


def _gray_images(s, shape, to_gray: Callable[[np.ndarray], np.ndarray], chunk: int) -> np.ndarray:
    mtype, size, small = _tag(s)
    # MATLAB drops a trailing singleton dimension: one image is saved as (32, 32, 3)
    n = shape[3] if len(shape) == 4 else 1 if len(shape) == 3 else -1
    if small is not None or mtype != MI_UINT8 or shape[:3] != (SIZE, SIZE, 3) or n < 0 or size != n * IMAGE_BYTES:
        raise Unsupported("X is not stored as uint8 (32, 32, 3, N)")
    gray = np.empty((n, SIZE, SIZE), np.uint8)
    for i in range(0, n, chunk):
        c = min(chunk, n - i)
        block = np.frombuffer(s.read(c * IMAGE_BYTES), np.uint8).reshape(c, 3, SIZE, SIZE)  # [image, RGB, column, row]
        gray[i : i + c] = to_gray(block.transpose(0, 3, 2, 1))  # -> [image, row, column, RGB]
    return gray


def _labels(s, shape) -> np.ndarray:
    n = int(np.prod(shape))
    mtype, data = _sub(s, 8 * n)  # 8 bytes a value at most
    if mtype not in DATA_TYPES or len(data) != n * np.dtype(DATA_TYPES[mtype]).itemsize:
        raise Unsupported("y is not stored as its shape's numbers")
    return np.frombuffer(data, DATA_TYPES[mtype]).copy()


def _matrices(f) -> Iterator[tuple[str, int, int, tuple[int, ...], object]]:
    """Each variable of the open file `f` as (name, class, flags, shape, a reader of its real part), its header
    read (inflating a compressed one only that far); the next is found by its element's size."""
    head = f.read(128)
    if len(head) < 128 or head[126:128] != b"IM" or head[124:126] != b"\x00\x01":
        raise Unsupported("not a little-endian MATLAB v5 file")
    while tag := f.read(8):
        if len(tag) < 8:
            raise Unsupported("cut short")
        mtype, size = struct.unpack("<II", tag)
        start = f.tell()
        if mtype == MI_COMPRESSED:
            s = _Inflate(f, size)
            inner, _, small = _tag(s)
            if inner != MI_MATRIX or small is not None:
                raise Unsupported("a compressed element that is not a matrix")
        elif mtype == MI_MATRIX:
            s = _Raw(f, size)
        else:
            raise Unsupported("an element that is not a matrix")
        if size:
            cls, flags, shape, name = _matrix_header(s)
            yield name, cls, flags, shape, s
        f.seek(start + size)


def variables(path) -> dict[str, tuple[tuple[int, ...], str]]:
    """name -> (shape, MATLAB class) of the file's real numeric variables, as ``scipy.io.whosmat`` lists them,
    reading only their headers (whosmat inflated a compressed X whole); :class:`Unsupported` for anything else."""
    found = {}
    with open(path, "rb") as f:
        for name, cls, flags, shape, _ in _matrices(f):
            if name in found or flags or cls not in NUMERIC_CLASSES:
                raise Unsupported(f"{name} is not a real numeric array, or is there twice")
            found[name] = (shape, CLASS_NAMES[cls])
    return found


def read_gray(path, to_gray: Callable[[np.ndarray], np.ndarray], chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """`path`'s X as gray images uint8 (N, 32, 32) (`to_gray`: RGB uint8 (..., 3) -> (...)) and its y as stored,
    flat (N values), reading the plain layout only; :class:`Unsupported` for anything else."""
    found: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        for name, cls, flags, shape, s in _matrices(f):
            if name in ("X", "y"):
                if name in found or flags or cls not in NUMERIC_CLASSES or (name == "X" and cls != MX_UINT8):
                    raise Unsupported(f"{name} is not a real numeric array, or is there twice")
                found[name] = _gray_images(s, shape, to_gray, chunk) if name == "X" else _labels(s, shape)
    if set(found) != {"X", "y"}:
        raise Unsupported("X or y is missing")
    return found["X"], found["y"]
