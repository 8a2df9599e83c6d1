"""A short demonstration of Problem 1, for `dlexam demo`: table, bug, data, training, prediction.

:func:`run_demo` does the work and returns what it found (:class:`SVHNDemo`); `dlexam demo` prints it.
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlexam.files import OutputDir
from dlexam.progress import ProgressFn

DATA = "svhn-synth"  # the folder under run_demo's workdir that its synthetic data is written into


@dataclass
class SVHNDemo:
    rows: list[dict]  # the layer table (Problem 1.2)
    bug: dict  # nn.Linear(256, 10): PyTorch's error and the fix (Problem 1.3)
    data: Path  # the synthetic SVHN-format data
    run: Path  # the run directory
    history: list[dict]  # one row per epoch
    test_accuracy: float  # on held-out fonts
    predictions: list[tuple[str, int, int, float]]  # (PNG name, true digit, predicted digit, its probability)
    seconds: float


def run_demo(workdir: Path, progress: ProgressFn | None = None) -> SVHNDemo:
    """Layer table and the student's bug, then synthesise, train, evaluate and predict.

    About 10 s of CPU (one thread); everything it writes goes under `workdir`.
    """
    import scipy.io
    from PIL import Image

    from dlexam.svhn.inference import evaluate_checkpoint, predict_images
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.summary import layer_summary, student_bug
    from dlexam.svhn.synthetic.digits import write_synthetic
    from dlexam.svhn.training.runs import train_run
    from dlexam.svhn.training.settings import SVHNRun

    workdir = Path(workdir)
    t0 = time.perf_counter()
    data = workdir / DATA
    write_synthetic(data, n_train=3000, n_test=600, seed=0)
    runs = workdir / "svhn-runs"
    runs.mkdir(parents=True, exist_ok=True)
    run = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=runs))  # a new run, nothing replaced
    result = train_run(SVHNRun(out=run, data=data, epochs=4, batch_size=64, threads=1), progress)
    ev = evaluate_checkpoint(run, data, "test")
    mat = scipy.io.loadmat(data / "test_32x32.mat")
    pngs, truth = [], []
    with OutputDir(run, lock=True) as out:  # atomic and in the run's file record, as every file dlexam writes
        for i in range(5):  # five held-out test images, saved as PNG files in the run and read back by predict
            png = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(mat["X"][:, :, :, i])).save(png, format="PNG")
            pngs.append(out.write_bytes(f"digit{i}.png", png.getvalue()))
            truth.append(int(mat["y"][i, 0]) % 10)
    preds = predict_images(run, pngs)
    return SVHNDemo(
        rows=layer_summary(CNNConfig()), bug=student_bug(256), data=data, run=run, history=result.history,
        test_accuracy=ev.accuracy,
        predictions=[(Path(p.image).name, t, p.digit, max(p.probabilities)) for p, t in zip(preds, truth, strict=True)],
        seconds=time.perf_counter() - t0,
    )
@dataclass
class ShippedDemo:
    """The exam CNN that ships with dlexam (dlexam.svhn.shipped) on real digits."""

    model: str  # which model, and how to rebuild it
    checks: dict  # dlexam.svhn.data.realdata.check_accuracies on real SVHN crops, Chars74K photos, MNIST's last 2,000
    photos: list[tuple[str, int, int]]  # the first photo of each digit: (name, true digit, predicted digit)


def shipped_on_real_digits() -> ShippedDemo:
    """The shipped model's accuracy on the real sets, and its answer on the first photo of each digit
    (as the folder sorts them, not picked by hand); sets whose shared files are absent say why."""
    from dlexam.shared import SharedDataMissing
    from dlexam.svhn.data.realdata import check_accuracies, example_file
    from dlexam.svhn.inference import describe, load_model, predict_images

    model, payload = load_model(None)
    checks = check_accuracies(model, ("svhn_dev", "chars74k", "mnist2000"))
    try:  # the first photo of each digit as the folder sorts them: the example /cnn shows
        files, photos = [example_file("chars74k", d) for d in range(10)], []
    except SharedDataMissing:
        files, photos = None, []
    if files is not None:
        photos = [(f"{p.parent.name}/{p.name}", int(p.parent.name), r.digit)
                  for p, r in zip(files, predict_images(model, files), strict=True)]
    return ShippedDemo("using " + describe(None, payload), checks, photos)
