"""The sizes of the fused kernels, derived from a layer table of :mod:`dlexam.spec` (issue 19).

The kernels (stage1.h, stage2.h) are written for the exam's form of network: one grayscale input channel, then
twice a convolution (stride 1, square kernel, zero padding) with ReLU and a square average pool
(stride = size, no padding), then the linear head. :class:`Geometry` holds the eight sizes of those
two stages. Four of them, the channel counts and kernel sizes, decide the register blocking, so
they are compile-time constants: build.py passes them as ``-D`` flags and caches one library per
set (Version A's is the one normally built). The paddings, pool sizes and image size are arguments
of every call. A table outside that form, or beyond the limits of the vector layout, gets
:class:`Unsupported` with the reason, and the model trains on PyTorch's layers instead.

Torch-free, so the reason can be given without building anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from dlexam.spec import CNNSpec, Conv, ExamSpec, Linear, Pool

LANES = 16  # floats per vector in the kernels (simd.h)
MAX_KERNEL = 8
MAX_CONV1_CHANNELS = LANES
MAX_CONV2_CHANNELS = 64


class Unsupported(ValueError):
    """The fused kernels do not compute this network; the message says why."""


def _whole8(n: int) -> int:
    return (n + 7) // 8 * 8


def _mask_bytes(channels: int) -> int:
    """Bytes of a ReLU mask element: one bit per channel."""
    return 1 if channels <= 8 else 2 if channels <= 16 else 4 if channels <= 32 else 8


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


@dataclass(frozen=True)
class Geometry:
    """The two conv + ReLU + average-pool stages the fused kernels compute."""

    c1: int  # Conv-1's output channels (its input: one channel)
    k1: int  # Conv-1's kernel size
    pad1: int  # Conv-1's zero padding
    pool1: int  # AvgPool-1's size and stride
    c2: int  # Conv-2's output channels (its input: c1)
    k2: int
    pad2: int
    pool2: int

    def __post_init__(self) -> None:
        for stage, (c, k, pad, pool, most) in enumerate(
            ((self.c1, self.k1, self.pad1, self.pool1, MAX_CONV1_CHANNELS),
             (self.c2, self.k2, self.pad2, self.pool2, MAX_CONV2_CHANNELS)), start=1):
            if not 1 <= c <= most:
                raise Unsupported(f"Conv-{stage} has {c} output channels; the fused kernels take 1 to {most}")
            if not 1 <= k <= MAX_KERNEL:
                raise Unsupported(f"Conv-{stage}'s kernel is {k}x{k}; the fused kernels take 1x1 to "
                                  f"{MAX_KERNEL}x{MAX_KERNEL}")
            if not 0 <= pad < k:
                raise Unsupported(f"Conv-{stage}'s padding {pad} is not between 0 and its kernel size - 1")
            if pool < 1:
                raise Unsupported(f"AvgPool-{stage}'s size {pool} is not a whole number >= 1")
        if self.pool1 % self.rows_per_vector:
            raise Unsupported(f"AvgPool-1's size {self.pool1} is not a multiple of {self.rows_per_vector}, the rows "
                              f"that one vector of the stage-1 kernel holds for {self.c1} channels")

    @property
    def rows_per_vector(self) -> int:
        """Stage 1 keeps R rows x C1 channels (C1 rounded up to a power of two) in one vector."""
        return LANES // _pow2_at_least(self.c1)

    @property
    def compiled(self) -> tuple[int, int, int, int]:
        """The compile-time sizes: (C1, K1, C2, K2)."""
        return (self.c1, self.k1, self.c2, self.k2)

    def defines(self) -> list[str]:
        return defines(self.compiled)

    def stage(self, stage: int) -> dict:
        """One stage's sizes: in_channels, out_channels, kernel, padding, pool."""
        if stage == 1:
            return {"in_channels": 1, "out_channels": self.c1, "kernel": self.k1, "padding": self.pad1,
                    "pool": self.pool1}
        return {"in_channels": self.c1, "out_channels": self.c2, "kernel": self.k2, "padding": self.pad2,
                "pool": self.pool2}

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) after both stages for an input of height x width (each pool floors)."""
        for k, pad, pool in ((self.k1, self.pad1, self.pool1), (self.k2, self.pad2, self.pool2)):
            height, width = (height + 2 * pad - k + 1) // pool, (width + 2 * pad - k + 1) // pool
        return height, width

    def saved_bytes(self, height: int, width: int) -> int:
        """Bytes per image that the trunk's forward keeps for its backward (fused.cpp's Saved): stage 1's
        pooled output (floats), then each stage's ReLU mask (one bit per channel, per conv output the pool
        reads), each section a whole number of 8 bytes. Symbolic sizes work too (torch.compile)."""
        total, pooled_floats = 0, None
        for c, k, pad, pool in ((self.c1, self.k1, self.pad1, self.pool1), (self.c2, self.k2, self.pad2, self.pool2)):
            height, width = (height + 2 * pad - k + 1) // pool, (width + 2 * pad - k + 1) // pool
            if pooled_floats is None:
                pooled_floats = height * width * c
                total += _whole8(4 * pooled_floats)
            total += _whole8(_mask_bytes(c) * (height * pool) * (width * pool))
        return total

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, cnn: CNNSpec) -> Geometry:
        """The geometry of a layer table; Unsupported (with the reason) if the kernels do not compute it."""
        kinds = [type(layer) for layer in cnn.layers]
        if kinds != [Conv, Pool, Conv, Pool, Linear]:
            names = ", ".join(layer.name for layer in cnn.layers)
            raise Unsupported(f"the fused kernels compute conv, pool, conv, pool, linear; this table has {names}")
        if cnn.activation != "relu":
            raise Unsupported(f"the fused kernels compute ReLU, not {cnn.activation}")
        if cnn.input_channels != 1:
            raise Unsupported(f"the fused kernels take one input channel, not {cnn.input_channels}")
        conv1, pool1, conv2, pool2, _ = cnn.layers
        sizes = []
        for conv, pool in ((conv1, pool1), (conv2, pool2)):
            (kh, kw), (ph, pw), (sh, sw) = conv.kernel, conv.padding, conv.stride
            if kh != kw or ph != pw or (sh, sw) != (1, 1):
                raise Unsupported(f"{conv.name}: the fused kernels take a square kernel, equal padding and stride 1")
            if pool.mode != "avg" or pool.kernel[0] != pool.kernel[1] or pool.stride != pool.kernel \
                    or pool.padding != (0, 0):
                raise Unsupported(f"{pool.name}: the fused kernels take a square average pool with stride = size "
                                  "and no padding")
            sizes += [conv.out_channels, kh, ph, pool.kernel[0]]
        return cls(*sizes)


def defines(compiled: tuple[int, int, int, int]) -> list[str]:
    """The -D flags of the compile-time sizes (C1, K1, C2, K2)."""
    return [f"-DDLEXAM_{name}={value}" for name, value in zip(("C1", "K1", "C2", "K2"), compiled, strict=True)]


def version_a() -> Geometry:
    """The exam's own: Conv-1 8 x 5x5, AvgPool 4, Conv-2 16 x 4x4 pad 1, AvgPool 2 (Problem 1)."""
    return Geometry.of(ExamSpec.version_a().cnn)
