"""What Problem 1's CNN sees: one image's feature maps after each stage, and its 10 probabilities.

Problem 1's network (:class:`dlexam.svhn.model.ExamCNN`, built from Version A's layer table) maps a
32x32 grayscale image through

    Conv-1 (+ activation) -> 28x28x8,  AvgPool-1 -> 7x7x8,  Conv-2 (+ activation) -> 6x6x16,
    AvgPool-2 -> 3x3x16,  then the head (Flatten + Linear(144, 10), or a conv head) -> 10 logits.

:func:`feature_maps` runs the model's own layers one at a time on one image and keeps every
stage's output (the layer table's rows, :func:`dlexam.svhn.summary.layer_summary`, name the same
stages); it shows tables of that shape (two conv + pool stages) on SVHN's 32x32 crops. The logits
are the model's own head (:meth:`ExamCNN.head`, the second half of its forward) on Pool-2's output.
:func:`read_image_bytes` turns an uploaded photo (bytes, any size) into the 32x32 input with the reader
`svhn predict` uses (:func:`dlexam.svhn.data.images.read_image`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dlexam.errors import UserError
from dlexam.svhn.data.official import blank, blank_fields, preprocess
from dlexam.svhn.model import ExamCNN

STAGES = ("conv1", "pool1", "conv2", "pool2")


@dataclass
class FeatureMaps:
    """One image through Problem 1's CNN (tensors on the CPU, float32)."""

    image: torch.Tensor  # uint8 (32, 32): the grayscale input before per-image standardisation
    conv1: torch.Tensor  # (8, 28, 28): after Conv-1 and its activation
    pool1: torch.Tensor  # (8, 7, 7)
    conv2: torch.Tensor  # (16, 6, 6): after Conv-2 and its activation
    pool2: torch.Tensor  # (16, 3, 3)
    logits: torch.Tensor  # (10,)
    probabilities: torch.Tensor  # (10,) softmax of the logits

    @property
    def digit(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def blank(self) -> bool:
        """One colour: all zeros once standardised, so the digit is the network's bias, not a reading."""
        return bool(blank(self.image.unsqueeze(0))[0])

    def to_json(self, decimals: int = 4, maps: bool = True) -> dict:
        """Plain data: the digit, whether the image is `blank` (one colour) and `blank_note`'s words for it (None
        for an image that is not), the probabilities, the input and
        (unless `maps` is False) each stage's maps,
        rounded to `decimals`; a probability too small for them to `decimals` significant digits (2.773e-8, not 0:
        `spec.numbers.decimal_text`'s rule, so a page never shows a digit's probability as 0.0000 when it is not 0)."""
        from dlexam.spec.numbers import decimal_text

        def r(t: torch.Tensor) -> list:
            return torch.round(t.double(), decimals=decimals).tolist()

        probabilities = [float(decimal_text(p, decimals)) for p in self.probabilities.double().tolist()]
        out = {"digit": self.digit, **blank_fields(self.blank), "probabilities": probabilities,
               "logits": r(self.logits), "image": self.image.tolist()}
        if maps:
            out["maps"] = {s: r(getattr(self, s)) for s in STAGES}
        return out


@torch.inference_mode()
def feature_maps(model: ExamCNN, image: torch.Tensor) -> FeatureMaps:
    """Problem 1's stages on one uint8 (H, W) image of the table's input size (32, 32): the maps after
    Conv-1, Pool-1, Conv-2, Pool-2 (each conv with its activation, as the layer table counts it) and the
    class probabilities."""
    table = model.cfg.cnn
    if model.stages != ("conv1", "act1", "pool1", "conv2", "act2", "pool2") or table.input_channels != 1:
        raise UserError(f"the feature maps are drawn for a grayscale table of two conv + pool stages, not for "
                        f"{table.describe()}")
    size = tuple(table.input_size)
    if image.dtype != torch.uint8 or tuple(image.shape) != size:
        raise UserError(f"the CNN reads one uint8 {size[0]}x{size[1]} image, got {image.dtype} {tuple(image.shape)}")
    was_training = model.training
    if was_training:  # eval() walks every module: not on each request of a server whose model is in eval mode
        model.eval()
    try:
        x = preprocess(image.unsqueeze(0))  # (1, 1, 32, 32), standardised
        conv1 = model.act1(model.conv1(x))  # (1, 8, 28, 28)
        pool1 = model.pool1(conv1)  # (1, 8, 7, 7)
        conv2 = model.act2(model.conv2(pool1))  # (1, 16, 6, 6)
        pool2 = model.pool2(conv2)  # (1, 16, 3, 3)
        logits = model.head(pool2)[0]  # (10,): the model's own head, on the stages its forward runs
    finally:
        if was_training:
            model.train()
    return FeatureMaps(image=image.clone(), conv1=conv1[0].float(), pool1=pool1[0].float(), conv2=conv2[0].float(),
                       pool2=pool2[0].float(), logits=logits.float(), probabilities=torch.softmax(logits.float(), 0))


def read_image_bytes(data: bytes, *, max_pixels: int | None = None) -> torch.Tensor:
    """An uploaded image file's bytes (PNG, JPEG, GIF, BMP, WebP or AVIF; any size and aspect ratio) -> uint8 (32, 32):
    :func:`dlexam.svhn.data.images.read_image`, the one reader of `svhn predict` too, limited to the formats of
    :data:`~dlexam.svhn.data.images.UPLOAD_FORMATS`. Its header is checked before any pixel is decoded; any
    unreadable input is a UserError."""
    from dlexam.svhn.data import images

    return images.read_image(data, formats=images.UPLOAD_FORMATS, max_pixels=max_pixels or images.MAX_PIXELS)
