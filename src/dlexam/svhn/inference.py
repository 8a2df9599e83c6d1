"""Using a trained exam CNN: load it, evaluate it on labelled data, predict digits from image files.

The inference side of Problem 1, apart from training (:mod:`dlexam.svhn.training`). :func:`load_model`
is the one loader of SVHN checkpoints and of the shipped model (a path of None): `dlexam svhn
evaluate`, `predict`, `dlexam serve` and the demo all load through it, each file is read once, and
the model is built on PyTorch's layers (``ExamCNN(fused=False)``), so inference never compiles or
loads the fused training kernels (dlexam.svhn.kernels). Training code that starts from a loaded
model (fine-tuning) turns them on itself (``model.fuse_()``).

Test-time augmentation (``--tta`` of `evaluate` and `predict`) is :class:`TestTimeAugmented`, a
wrapper around any loaded model; it is opt-in because it costs twice the compute and, on some seeds
of the shipped recipe, more than a point on Chars74K (docs/svhn.md measures it).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from dlexam import checkpoint
from dlexam.errors import UserError
from dlexam.figures import save_into
from dlexam.files import OutputDir
from dlexam.svhn.model import KIND, CNNConfig, ExamCNN
from dlexam.words import counted

ModelSource = str | os.PathLike | nn.Module | None  # a checkpoint or run directory, a loaded model, None: shipped


def load_model(path: str | os.PathLike | None = None) -> tuple[ExamCNN, dict]:
    """Rebuild an ExamCNN, in eval mode, from a checkpoint file or run directory (its best.pt, or a
    recipe's model.pt); None: the shipped model. -> (model, the checkpoint payload).

    The file's kind and config are checked first, then its weights must fit: each failure is one
    clear error. The model runs on PyTorch's layers: nothing here builds or loads the fused kernels.
    """
    from dlexam.svhn.shipped import shipped_path

    p = checkpoint.resolve(shipped_path() if path is None else path)
    payload = checkpoint.load(p, kind=KIND)
    try:
        cfg = CNNConfig.from_dict(payload.get("config") or {})
    except (TypeError, ValueError) as exc:
        raise UserError(f"{p}: its model config is not an exam CNN config ({exc})") from None
    checkpoint.check_fits(lambda: ExamCNN(cfg, fused=False), payload, p)  # before the config's network is built
    model = ExamCNN(cfg, fused=False)
    checkpoint.load_weights(model, payload, p)
    model.eval()
    return model, payload


TTA_CUT = 3  # pixels cut at the left and right of TTA's second view (docs/svhn.md: 2, 3 and 4 measured)


def side_cut(x: torch.Tensor, cut: int) -> torch.Tensor:
    """(B, C, H, W) images with `cut` columns cut at the left and the right, the rest stretched back to W
    (bilinear): the neighbours SVHN's crops keep at both sides go, the digit widens (docs/svhn.md)."""
    height, width = x.shape[-2:]
    return F.interpolate(x[..., cut : width - cut], size=(height, width), mode="bilinear",
                         align_corners=False)  # (B, C, H, W - 2 cut) -> (B, C, H, W)


class TestTimeAugmented(nn.Module):
    """`model` read twice: the mean of its softmax over the image and over the image with TTA_CUT pixels cut
    at the left and the right, stretched back to its width (the neighbours SVHN's crops keep at both
    sides mislead the network; issue 21). (B, 1, H, W) -> (B, classes) log-probabilities, which serve as
    logits: their softmax is the averaged distribution, their cross-entropy its loss."""

    def __init__(self, model: nn.Module, cut: int = TTA_CUT):
        super().__init__()
        self.model, self.cut = model, cut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        narrowed = side_cut(x, self.cut)
        p = (torch.softmax(self.model(x), dim=1) + torch.softmax(self.model(narrowed), dim=1)) / 2
        return p.clamp_min(torch.finfo(p.dtype).tiny).log()


def _whole(v) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _text(v) -> str | None:
    return v if isinstance(v, str) else None


def training_record(payload: dict) -> dict:
    """What an SVHN checkpoint says about its training, as data (the edges word it; a value of the wrong type is
    shown as unknown, None, never used): {"provenance" (what trained it: :func:`dlexam.checkpoint.provenance`; None
    in checkpoints from before it), "command" (a recipe's, `dlexam svhn train --recipe ...`; None for a `svhn
    train` run, which records its settings instead), "seed", "epochs" (trained), "init" (a fine-tuning run's start:
    {"name", "sha256", "from": that checkpoint's own record, with its "init" as a name; None for a run fine-tuned
    before 2026-12-07}, or None)}."""
    extra = payload.get("extra") if isinstance(payload.get("extra"), dict) else {}
    settings = extra.get("settings") if isinstance(extra.get("settings"), dict) else {}
    train = settings.get("train") if isinstance(settings.get("train"), dict) else {}
    history = extra.get("history")
    epochs = _whole(extra.get("epoch")) if "epoch" in extra else len(history) if isinstance(history, list) else None
    init = _text(settings.get("init"))
    return {
        "provenance": payload.get("provenance") if isinstance(payload.get("provenance"), dict) else None,
        "command": _text(settings.get("command")),
        "seed": _whole(train.get("seed", settings.get("seed"))),  # a run's (its train settings), a recipe's
        "epochs": epochs,
        "init": None if init is None else {"name": init, "sha256": _text(settings.get("init_sha256")),
                                           "from": _parent_record(settings.get("init_from"))},
    }


def parent_record(payload: dict) -> dict:
    """What a fine-tuning run records of the checkpoint it starts from (its settings' "init_from"): that checkpoint's
    :func:`training_record`, its own start named only ("init": a name or None), so a chain of fine-tunings records
    one step back, not the whole chain."""
    record = training_record(payload)
    return {**record, "init": record["init"]["name"] if record["init"] else None}


def _parent_record(r) -> dict | None:
    """A recorded "init_from", each value of its type or None (it is read from the file, then shown to people)."""
    if not isinstance(r, dict):
        return None
    return {"provenance": r.get("provenance") if isinstance(r.get("provenance"), dict) else None,
            "command": _text(r.get("command")), "seed": _whole(r.get("seed")), "epochs": _whole(r.get("epochs")),
            "init": _text(r.get("init"))}


def describe(path: str | os.PathLike | None, payload: dict) -> str:
    """Which model `load_model(path)` gave, in a few words; for the shipped model (path None), also how it
    is rebuilt (from its payload: no second read of the file)."""
    if path is not None:
        return f"the exam CNN from {path}"
    from dlexam.svhn.shipped import describe_payload

    return describe_payload(payload)


def _model(source: ModelSource, tta: bool = False) -> nn.Module:
    model = source if isinstance(source, nn.Module) else load_model(source)[0]
    return TestTimeAugmented(model).eval() if tta else model


@dataclass
class Evaluation:
    """A checkpoint's accuracy on one split or image folder: overall, per class, and the confusion matrix."""

    checkpoint: str
    split: str  # the SVHN split, or the image folder's name
    source: str  # "mat" (an SVHN folder) or "folder" (an ImageFolder)
    n: int
    loss: float
    accuracy: float
    per_class: list[float | None]  # None: no image of that digit
    confusion: list[list[int]]  # rows: true digit, columns: predicted
    confusion_png: str | None = None  # as given (the default: beside the checkpoint as given)
    tta: bool = False  # read with test-time augmentation (TestTimeAugmented)
    confusion_png_skipped: str | None = None  # why a PNG that was only a default was not written
    blank: int = 0  # images of one colour (dlexam.svhn.data.official.blank): their digit is the network's bias
    blank_note: str | None = None  # blank_note's words for them, None where there is none
    training: dict | None = None  # what the checkpoint says of its training (training_record); None: not given

    def to_json(self) -> dict:
        return asdict(self)


def evaluate_checkpoint(path: ModelSource, data_dir, split: str = "test", png: str | Path | None = None, *,
                        force: bool = False, name: str | None = None, tta: bool = False,
                        png_optional: bool = False, training: dict | None = None) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of a checkpoint (None: the shipped model; or a
    model already loaded by :func:`load_model`, then `name` says which, and `training` what its checkpoint says of
    its training, :func:`training_record`) on an SVHN split or an image folder
    (:func:`dlexam.svhn.data.official.load_labelled`); the result's `training` is that record.

    `png`, if given, receives the confusion matrix; it is checked before any work and never replaces
    a file dlexam did not write (unless `force`); it must be named *.png. Beside the checkpoint, in a run folder,
    it is recorded as written about that run (:class:`dlexam.files.OutputDir`'s ``of_run``). With `png_optional`
    (a place the user did not ask for) a PNG that cannot be written there is skipped, the reason in
    `confusion_png_skipped`, and the evaluation goes on. `tta`: read each image as
    :class:`TestTimeAugmented` does. Blank images (one colour) are counted in the accuracy as read, and
    their number is given with :func:`dlexam.svhn.data.official.blank_note`'s words.
    """
    if isinstance(path, nn.Module) and name is None:
        raise ValueError("evaluate_checkpoint: name the loaded model (name=...)")
    if png is None:
        return _evaluate(path, data_dir, split, None, None, name, tta, training)
    png = Path(png)
    if png.suffix.lower() != ".png":
        raise UserError(f"png {png}: the confusion matrix is a PNG image; give a file name ending in .png")
    out = None
    try:
        _check_png_outside_images(png, Path(data_dir), split)
        # a PNG beside the checkpoint describes its run there: recorded as the run's, it goes when a forced run
        # replaces that run (dlexam.runs.RunFolder), as the run's own files do
        out = OutputDir(png.parent, force=force, what="png folder", of_run=_beside_checkpoint(png, path, name))
        out.claim(png.name)
    except UserError as exc:
        if out is not None:
            out.close()
        if not png_optional:
            raise
        return replace(_evaluate(path, data_dir, split, None, None, name, tta, training),
                       confusion_png_skipped=str(exc))
    try:
        return _evaluate(path, data_dir, split, out, png, name, tta, training)
    finally:
        out.close()  # a folder made for the PNG goes again if the evaluation failed first


def _beside_checkpoint(png: Path, path: ModelSource, name: str | None) -> bool:
    """Whether `png` goes into the folder of the checkpoint evaluated (`path`, or a loaded model's `name`)."""
    where = name if isinstance(path, nn.Module) else path
    if where is None:
        return False
    try:
        return png.parent.resolve() == checkpoint.resolve(where).parent.resolve()
    except (OSError, UserError):
        return False


def default_confusion_png(path, data_dir, split: str = "test", tta: bool = False) -> Path | None:
    """Where `svhn evaluate --checkpoint PATH` puts its confusion PNG unasked: confusion_<split>.png beside the
    checkpoint, <split> being what :class:`Evaluation`'s `split` will say (the SVHN split, or the image folder's
    name: two folders' PNGs no longer replace each other), confusion_<split>_tta.png with `tta` (the plain
    reading's figure stays). None for the shipped model, by whatever path it is named: nothing is written into the
    installed package."""
    from dlexam.svhn.data.image_folder import is_image_folder
    from dlexam.svhn.data.official import filename

    if path is None:
        return None
    resolved = checkpoint.resolve(path)
    if resolved.resolve() == _shipped():
        return None
    data_dir = Path(data_dir)
    name = split
    if not (data_dir / filename(split)).is_file() and is_image_folder(data_dir):
        folder = _folder_name(data_dir)
        name = folder if folder and os.sep not in folder else "folder"  # "/" has no name
    return resolved.parent / f"confusion_{name}{'_tta' if tta else ''}.png"


def _check_png_outside_images(png: Path, data_dir: Path, split: str) -> None:
    """A PNG in an image folder's class folder (or a new folder beside them) would be read with its images the next
    time: as one more digit, or as a class folder that is not a digit. Beside the class folders it is left alone."""
    from dlexam.svhn.data.image_folder import is_image_folder
    from dlexam.svhn.data.official import filename

    if (data_dir / filename(split)).is_file() or not is_image_folder(data_dir):
        return
    folder, data = png.parent.resolve(), data_dir.resolve()
    if folder != data and folder.is_relative_to(data):
        raise UserError(f"png {png} is inside the image folder {data_dir}: the next read of it would take the PNG "
                        "for one of its images; give a place outside its class folders")


def _evaluate(path: ModelSource, data_dir, split: str, out: OutputDir | None, png: Path | None,
              name: str | None, tta: bool, training: dict | None = None) -> Evaluation:
    from dlexam.svhn.data.official import blank, blank_note, load_labelled
    from dlexam.svhn.training.loop import evaluate

    if name is None:
        name = str(_shipped() if path is None else checkpoint.resolve(path))
    if not isinstance(path, nn.Module):
        loaded, payload = load_model(path)
        path, training = loaded, training_record(payload)
    model = _model(path, tta)
    images, labels, source = load_labelled(data_dir, split)
    blanks = int(blank(images).sum())  # still counted in the accuracy, as read
    result = Evaluation(checkpoint=name,
                        split=split if source == "mat" else _folder_name(data_dir), source=source,
                        **evaluate(model, images, labels, channels_last=False), tta=tta,
                        blank=blanks, blank_note=blank_note(blanks, len(labels)) if blanks else None,
                        training=training)
    if out is not None:
        from dlexam.svhn.plots import confusion_figure

        title = (f"confusion matrix, {result.split}: accuracy {result.accuracy:.4f} on {counted(result.n, 'image')}"
                 + (", test-time augmentation" if tta else ""))
        fig = confusion_figure(result.confusion, title=title)
        save_into(out, png.name, fig)
        result.confusion_png = str(png)  # as given (relative stays relative), like `checkpoint`
    return result


def _folder_name(folder) -> str:
    """An image folder's name as the user knows it: `.` or `runs/..` name the folder they stand for."""
    return Path(os.path.abspath(folder)).name or str(folder)  # "/" has no name


def _shipped() -> Path:
    from dlexam.svhn.shipped import shipped_path

    return shipped_path()


@dataclass
class Prediction:
    image: str
    digit: int
    probabilities: list[float]  # P(digit 0) .. P(digit 9)
    blank: bool = False  # one colour: all zeros once standardised, so `digit` is the network's bias, not a reading
    blank_note: str | None = None  # blank_note's words for a blank image, None for any other

    def to_json(self) -> dict:
        return asdict(self)


@torch.inference_mode()
def predict_images(path: ModelSource, images: list, *, tta: bool = False) -> list[Prediction]:
    """The digit and its 10 probabilities for each image file (any size: dlexam.svhn.data.images.read_image
    crops it as SVHN's Format 2 crops were made); `path` None: the shipped model (or a loaded model).
    `tta`: the mean probabilities of :class:`TestTimeAugmented`. An image of one colour is
    `blank` (:func:`dlexam.svhn.data.official.blank`): its digit is still given, but it is the network's bias."""
    from dlexam.svhn.data.images import read_image
    from dlexam.svhn.data.official import blank, blank_fields, preprocess

    model = _model(path, tta)
    tensors = [read_image(p) for p in images]
    if not tensors:
        return []
    batch = torch.stack(tensors)  # (B, 32, 32) uint8
    probs = torch.softmax(model(preprocess(batch)), dim=1)
    return [Prediction(str(p), int(pr.argmax()), [round(float(v), 6) for v in pr], **blank_fields(b))
            for p, pr, b in zip(images, probs, blank(batch), strict=True)]
