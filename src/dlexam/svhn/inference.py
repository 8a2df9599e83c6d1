"""Using a trained exam CNN: load it, evaluate it on labelled data, predict digits from image files.

The inference side of Problem 1, apart from training (:mod:`dlexam.svhn.training`): `dlexam svhn
evaluate` and `predict` call :func:`evaluate_checkpoint` and :func:`predict_images`; a checkpoint
path of None stands for the shipped model (:mod:`dlexam.svhn.shipped`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dlexam import checkpoint
from dlexam.figures import save_into
from dlexam.files import OutputDir
from dlexam.svhn.model import ExamCNN, load_checkpoint


def load_model(path=None) -> tuple[ExamCNN, dict]:
    """Rebuild an ExamCNN from a checkpoint file or run directory (its best.pt); None: the shipped model."""
    from dlexam.svhn.shipped import shipped_path

    return load_checkpoint(shipped_path() if path is None else path)



@dataclass
class Evaluation:
    """A checkpoint's accuracy on one split or image folder: overall, per class, and the confusion matrix."""

    checkpoint: str
    split: str  # the SVHN split, or the image folder's name
    source: str  # "mat" (an SVHN folder) or "folder" (an ImageFolder)
    n: int
    loss: float
    accuracy: float
    per_class: list[float]
    confusion: list[list[int]]  # rows: true digit, columns: predicted
    confusion_png: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def evaluate_checkpoint(path, data_dir, split: str = "test", png: str | Path | None = None, *,
                        force: bool = False) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint (None: the shipped model) on
    an SVHN split or an image folder (:func:`dlexam.svhn.data.official.load_labelled`).

    `png`, if given, receives the confusion matrix; it is checked before any work and never replaces
    a file dlexam did not write (unless `force`).
    """
    from dlexam.svhn.data.official import load_labelled
    from dlexam.svhn.training.loop import evaluate

    out = None
    if png is not None:
        png = Path(png)
        out = OutputDir(png.parent, force=force, what="png folder")
        out.claim(png.name)
    model, _ = load_model(path)
    images, labels, source = load_labelled(data_dir, split)
    result = Evaluation(checkpoint=str(checkpoint.resolve(path)) if path is not None else str(_shipped()),
                        split=split if source == "mat" else Path(data_dir).name, source=source,
                        **evaluate(model, images, labels, channels_last=False))
    if out is not None:
        from dlexam.svhn.plots import confusion_figure

        fig = confusion_figure(result.confusion, title=f"{result.split}: accuracy {result.accuracy:.4f}")
        result.confusion_png = save_into(out, png.name, fig)
    return result


def _shipped() -> Path:
    from dlexam.svhn.shipped import shipped_path

    return shipped_path()


@dataclass
class Prediction:
    image: str
    digit: int
    probabilities: list[float]  # P(digit 0) .. P(digit 9)

    def to_json(self) -> dict:
        return asdict(self)


@torch.inference_mode()
def predict_images(path, images: list) -> list[Prediction]:
    """The digit and its 10 probabilities for each image file (any size: dlexam.svhn.data.images.read_image
    crops it as SVHN's Format 2 crops were made); `path` None: the shipped model."""
    from dlexam.svhn.data.images import read_image
    from dlexam.svhn.data.official import preprocess

    model, _ = load_model(path)
    tensors = [read_image(p) for p in images]
    if not tensors:
        return []
    probs = torch.softmax(model(preprocess(torch.stack(tensors))), dim=1)
    return [Prediction(str(p), int(pr.argmax()), [round(float(v), 6) for v in pr])
            for p, pr in zip(images, probs, strict=True)]
