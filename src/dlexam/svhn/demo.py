"""A short demonstration of Problem 1, for `dlexam demo`: table, bug, data, training, prediction."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def run_demo(workdir: Path) -> None:
    """Print the layer table, the student's bug, then synthesise, train, evaluate and predict.

    About 10 s of CPU (one thread); everything it writes goes under `workdir`.
    """
    from PIL import Image

    from dlexam.svhn.model import CNNConfig, layer_summary, student_bug
    from dlexam.svhn.runs import evaluate_checkpoint, predict_images, train_args, train_run
    from dlexam.svhn.synth import write_synthetic

    workdir = Path(workdir)
    t0 = time.perf_counter()
    print("Problem 1: the exam's CNN on 32x32 grayscale house numbers")
    rows = layer_summary(CNNConfig())
    for r in rows:
        print(f"  {r['layer']:<16} {' x '.join(map(str, r['output_shape'])):>12} {r['params']:>6,} params")
    print(f"  total {sum(r['params'] for r in rows):,} trainable parameters")
    bug = student_bug(256)
    print(f"Problem 1.3, nn.Linear(256, 10): RuntimeError: {bug['error']}")
    print(f"  fix: {bug['fix']}")

    data = workdir / "svhn-synth"
    write_synthetic(data, n_train=3000, n_test=600, seed=0)
    print(f"wrote 3,000 train / 600 test SVHN-like digits (official .mat format) to {data}")
    run = workdir / "svhn-run"
    if run.exists():
        import shutil

        shutil.rmtree(run)
    args = train_args(data, run, epochs=4, batch_size=64, quiet=True, threads=1)
    result = train_run(args)
    for row in result["history"]:
        print(
            f"  epoch {row['epoch']}: train loss {row['train_loss']:.3f},"
            f" val accuracy {row['val_accuracy']:.3f} ({row['images_per_s']:.0f} images/s)"
        )
    ev = evaluate_checkpoint(run, data, "test")
    print(f"test accuracy (held-out fonts) after 4 short epochs: {ev['accuracy']:.3f} (chance 0.100)")
    import scipy.io

    mat = scipy.io.loadmat(data / "test_32x32.mat")
    pngs, truth = [], []
    for i in range(5):  # five held-out test images, saved as PNG files and read back by predict
        pngs.append(workdir / f"digit{i}.png")
        Image.fromarray(np.ascontiguousarray(mat["X"][:, :, :, i])).save(pngs[-1])
        truth.append(int(mat["y"][i, 0]) % 10)
    preds = predict_images(run, pngs)
    print(
        "predict on 5 held-out PNGs: "
        + ", ".join(
            f"{p['image'].rsplit('/', 1)[-1]} true {t} -> {p['digit']} (p={max(p['probabilities']):.2f})"
            for p, t in zip(preds, truth, strict=True)
        )
    )
    print(f"run directory {run}: best.pt, last.pt, metrics.csv, curves.png ({time.perf_counter() - t0:.1f} s)")
    shipped_on_real_digits()


def shipped_on_real_digits() -> None:
    """The exam CNN that ships with dlexam (dlexam.svhn.shipped) on real photographed digits."""
    from dlexam.svhn.realdata import chars74k_dir, check_accuracies
    from dlexam.svhn.runs import predict_images
    from dlexam.svhn.shipped import describe, shipped_model

    print(f"real digits, {describe()}:")
    model, _ = shipped_model()
    checks = check_accuracies(model, ("chars74k", "mnist2000"))
    for name, what in (("chars74k", "photographed digits (Chars74K)"), ("mnist2000", "handwritten digits (MNIST)")):
        c = checks[name]
        print(f"  {what}: " + (f"accuracy {c['accuracy']:.3f} on {c['n']:,}" if "accuracy" in c else c["skipped"]))
    root = chars74k_dir()
    if root.is_dir():  # the first photo of each digit, as the folder sorts them (not picked by hand)
        photos = [sorted((root / str(d)).glob("*.png"))[0] for d in range(10)]
        preds = predict_images(None, photos)
        right = sum(r["digit"] == int(p.parent.name) for p, r in zip(photos, preds, strict=True))
        print(f"  dlexam svhn predict on the first photo of each digit: {right} of 10 right")
        print("    " + ", ".join(f"{p.parent.name} -> {r['digit']}" for p, r in zip(photos, preds, strict=True)))
