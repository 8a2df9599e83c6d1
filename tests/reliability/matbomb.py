"""A MAT v5 file whose compressed X claims n images, built in well under a second.

scipy.io.savemat would have to hold and compress the 3.7 GB array; this writes the deflate stream
of the zero run by hand (one fixed-Huffman block of <length 258, distance 1> copies, which repeat
every 13 bytes), so the decompression-bomb test costs milliseconds instead of minutes.
"""
import struct
import zlib

MOD = 65521


class _Bits:
    """Deflate's bit order: values LSB-first; Huffman codes MSB-first."""

    def __init__(self):
        self.acc, self.n, self.out = 0, 0, bytearray()

    def put(self, value: int, nbits: int) -> None:
        self.acc |= value << self.n
        self.n += nbits
        while self.n >= 8:
            self.out.append(self.acc & 0xFF)
            self.acc >>= 8
            self.n -= 8

    def code(self, code: int, nbits: int) -> None:  # a Huffman code, most significant bit first
        self.put(int(f"{code:0{nbits}b}"[::-1], 2), nbits)

    def literal(self, byte: int) -> None:  # the fixed Huffman code of a literal byte
        if byte < 144:
            self.code(0x30 + byte, 8)
        else:
            self.code(0x190 + byte - 144, 9)

    def repeat258(self) -> None:  # <length 258, distance 1>: code 285, then distance code 0
        self.code(0xC5, 8)
        self.code(0, 5)


def _deflate_prefix_then_zeros(prefix: bytes, zeros: int) -> bytes:
    """A raw deflate stream (one fixed-Huffman block) of prefix + `zeros` zero bytes (zeros >= 1)."""
    b = _Bits()
    b.put(1, 1)  # BFINAL
    b.put(1, 2)  # BTYPE = fixed Huffman
    for byte in prefix:
        b.literal(byte)
    b.literal(0)
    runs, rest = divmod(zeros - 1, 258)
    head = min(runs, 8)
    for _ in range(head):
        b.repeat258()
    runs -= head
    blocks, tail = divmod(runs, 8)
    if blocks:  # 8 repeats are 104 bits = 13 bytes: from here on the bytes are periodic
        start = len(b.out)
        for _ in range(8):
            b.repeat258()
        pattern = bytes(b.out[start:])
        b.out += pattern * (blocks - 1)
    for _ in range(tail):
        b.repeat258()
    for _ in range(rest):
        b.literal(0)
    b.code(0, 7)  # end of block
    if b.n:
        b.put(0, 8 - b.n)
    return bytes(b.out)


def _element(dtype: int, payload: bytes) -> bytes:
    pad = (-len(payload)) % 8
    return struct.pack("<II", dtype, len(payload)) + payload + bytes(pad)


def _matrix_header(name: bytes, dims: tuple[int, ...], nbytes: int) -> bytes:
    """miMATRIX of class uint8 up to (and including) the tag of its data."""
    flags = _element(6, struct.pack("<II", 9, 0))  # miUINT32: class mxUINT8
    shape = _element(5, struct.pack(f"<{len(dims)}i", *dims))  # miINT32
    label = _element(1, name)  # miINT8
    body = len(flags) + len(shape) + len(label) + 8 + nbytes + (-nbytes) % 8
    return struct.pack("<II", 14, body) + flags + shape + label + struct.pack("<II", 2, nbytes)


def mat_bomb(path, n_images: int) -> None:
    """X: (32, 32, 3, n_images) uint8 zeros, y: (n_images, 1) ones; both compressed."""
    nbytes = 32 * 32 * 3 * n_images
    prefix = _matrix_header(b"X", (32, 32, 3, n_images), nbytes)
    zeros = nbytes + (-nbytes) % 8
    adler = zlib.adler32(prefix)
    a, b = adler & 0xFFFF, adler >> 16
    b = (b + zeros * a) % MOD  # zeros leave a unchanged and add a to b each
    x = b"\x78\x01" + _deflate_prefix_then_zeros(prefix, zeros) + struct.pack(">I", (b << 16) | a)
    y_raw = _matrix_header(b"y", (n_images, 1), n_images) + b"\x01" * n_images + bytes((-n_images) % 8)
    text = b"MATLAB 5.0 MAT-file, made by dlexam's tests".ljust(116, b" ")
    header = text + bytes(8) + struct.pack("<H", 0x0100) + b"IM"  # no subsystem data, version 1, little-endian
    with open(path, "wb") as f:
        f.write(header)
        f.write(struct.pack("<II", 15, len(x)) + x)
        y = zlib.compress(y_raw)
        f.write(struct.pack("<II", 15, len(y)) + y)
