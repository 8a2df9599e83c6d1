"""Section: the SVHN CNN of Problem 1: layer summary, a short training run on synthetic SVHN-like
digits, its learned Conv-1 filters, learning curves and confusion matrix.

The digits come from :mod:`dlexam.svhn.synthetic.digits` (there is no network here): training images use one
set of fonts, the held-out images fonts the training set never shows, so the held-out accuracy
measures generalisation to new typefaces. Training is :func:`dlexam.svhn.training.loop.train_cnn`, the same
loop as `dlexam svhn train`.
"""

from __future__ import annotations

import numpy as np

from dlexam.report import page, plots
from dlexam.report.context import ReportContext
from dlexam.words import counted

CHUNK = 4096  # images rendered at once (bounds the renderer's memory)
MAX_TIED_NAMED = 4  # the confusion caption names at most this many tied mistakes


def render_digits(n: int, seed: int, fonts) -> tuple:
    """(uint8 (n, 32, 32) grayscale images, int64 (n,) digits) as torch tensors."""
    import torch

    from dlexam.svhn.data.official import rgb_to_gray
    from dlexam.svhn.synthetic import digits as synth

    parts = [synth.render(min(CHUNK, n - i), seed * 7919 + i // CHUNK, fonts) for i in range(0, n, CHUNK)]
    rgb = np.concatenate([p[0] for p in parts])  # (n, 32, 32, 3)
    digits = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(rgb_to_gray(rgb)), torch.from_numpy(digits.astype(np.int64))


def _number_word(n: int) -> str:
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
    return words[n] if n < len(words) else str(n)


def summary_table(cfg) -> str:
    from dlexam.svhn.summary import layer_summary

    rows = layer_summary(cfg)
    shown = [(r["layer"], " × ".join(map(str, r["output_shape"])), r["params"]) for r in rows]
    total = sum(r["params"] for r in rows)
    shown.append(("total", "", total))
    return page.table(shown, ("layer", "output (H × W × C)", "trainable parameters"),
                      caption="Problem 1.2-1.3: shapes from a forward pass, counts from the modules' parameters")


def build(ctx: ReportContext) -> str:
    from dlexam.svhn.model import CNNConfig
    from dlexam.svhn.synthetic import digits as synth
    from dlexam.svhn.training.config import TrainConfig
    from dlexam.svhn.training.loop import evaluate, train_cnn

    s = ctx.settings
    n_train, n_test, epochs, batch = s.pick(full=(20_000, 4_000, 15, 256), quick=(8_000, 2_000, 8, 128),
                                            tiny=(1_500, 400, 5, 64))
    cfg = CNNConfig()  # the exam's layer table (dlexam.spec, Version A)
    parts = [
        page.paragraph(f"The exam's network: {cfg.cnn.describe(times='×')}."),
        summary_table(cfg),
    ]
    train_x, train_y = render_digits(n_train, 2 * s.seed, synth.TRAIN_FONTS)
    test_x, test_y = render_digits(n_test, 2 * s.seed + 1, synth.TEST_FONTS)
    shown = [str(int(d)) for d in test_y[:16]]
    samples = page.figure(
        plots.image_grid(test_x[:16].numpy(), title="held-out synthetic digits (grayscale)",
                         labels=shown, cmap="gray", symmetric=False),
        f"{len(shown)} of the {n_test:,} synthetic SVHN-like digits in fonts the training set never uses, with "
        f"neighbours cut off at the sides as in SVHN's {test_x.shape[-2]}×{test_x.shape[-1]} crops.",
        alt=f"{len(shown)} grayscale {test_x.shape[-2]}×{test_x.shape[-1]} images of held-out synthetic digits, "
            f"each titled with its digit: {' '.join(shown)}.",
    )
    train_cfg = TrainConfig(epochs=epochs, batch_size=batch, seed=s.seed)
    run = train_cnn(cfg, train_x, train_y, test_x, test_y, cfg=train_cfg)
    history, model = run["history"], run["model"]
    final = evaluate(model, test_x, test_y)
    parts.append(f'<h3 id="cnn-training">Training on synthetic digits ({s.mode} run)</h3>')
    parts.append(page.paragraph(
        f"{n_train:,} training images, {n_test:,} held-out images in unseen fonts, {len(history)} epochs of "
        f"SGD (batch {train_cfg.batch_size}, peak learning rate {train_cfg.lr}, cosine decay) in "
        f"{run['seconds']:.1f} s: held-out accuracy {final['accuracy']:.1%} (chance: 10%)."
    ))

    epochs_axis = [r["epoch"] for r in history]
    loss_png = plots.curves(curve_series(history, "loss"), x={name: epochs_axis for name in CURVE_NAMES},
                            **CURVE_OPTIONS["loss"])
    acc_png = plots.curves(curve_series(history, "accuracy"), x={name: epochs_axis for name in CURVE_NAMES},
                           **CURVE_OPTIONS["accuracy"])
    filters = model.conv1.weight.detach().float().cpu().numpy()[:, 0]  # (8, 1, 5, 5) -> (8, 5, 5): input channel 0
    n_filters, kh, kw = filters.shape
    filters_png = plots.image_grid(filters, title="Conv-1 filters after training",
                                   labels=[f"filter {i + 1}" for i in range(n_filters)], ncols=min(n_filters, 8),
                                   scale_label="weight (red positive, blue negative, white 0)")
    confusion_png = plots.confusion(final["confusion"], title=f"Confusion matrix of the {n_test:,} held-out digits")
    parts.append(page.figure_row([
        page.figure(loss_png, "Cross-entropy per epoch: training (averaged over the epoch) and held-out fonts; "
                    + curve_ends(history, "loss", "{:.3f}"),
                    alt=curve_alt("cross-entropy in nats per image", history)),
        page.figure(acc_png, "Accuracy per epoch; " + curve_ends(history, "accuracy", "{:.1%}"),
                    alt=curve_alt("accuracy in percent", history)),
    ]))
    bound = float(np.abs(filters).max())
    confusion = np.asarray(final["confusion"])  # (10, 10): rows true digit, columns predicted
    parts.append(page.figure_row([
        page.figure(filters_png, f"The {n_filters} learned {kh}×{kw} Conv-1 filters (red positive, blue negative, "
                    f"white 0; one shared colour scale for all {_number_word(n_filters)}, from −{bound:.2f} to "
                    f"+{bound:.2f}, the colour bar under them).",
                    alt=f"{n_filters} small {kh}×{kw} colour images side by side, the weights of each learned Conv-1 "
                        f"filter, titled filter 1 to {n_filters}, over a colour bar from −{bound:.2f} (blue) through "
                        f"0 (white) to +{bound:.2f} (red)."),
        page.figure(confusion_png, confusion_caption(confusion), alt=confusion_alt(confusion)),
        samples,
    ]))
    return "".join(parts)


CURVE_NAMES = ("training images", "held-out fonts")  # the two series of each curve, as the legend names them
# each figure's title and axes; the accuracy in percent, as every other accuracy the report draws (it read 0.0-1.0)
CURVE_OPTIONS = {
    "loss": dict(title="Cross-entropy per epoch", xlabel="epoch", ylabel="cross-entropy (nats per image)",
                 integer_x=True),
    "accuracy": dict(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)", integer_x=True,
                     ylim=(-4, 104)),
}


def curve_series(history: list[dict], what: str) -> dict[str, list[float]]:
    """{legend name: values per epoch} of the training and held-out `what` ("loss" or "accuracy", in %)."""
    scale = 100.0 if what == "accuracy" else 1.0
    return {name: [scale * r[f"{split}_{what}"] for r in history]
            for name, split in zip(CURVE_NAMES, ("train", "val"), strict=True)}


def curve_alt(quantity: str, history: list[dict]) -> str:
    return (f"Line chart of {quantity} against epoch 1 to {len(history)}, one line for the training images "
            "(circles) and one for the held-out fonts (squares).")


def curve_ends(history: list[dict], what: str, fmt: str) -> str:
    """'training 2.301 to 0.412, held-out 2.298 to 0.530.': first and last epoch of both curves."""
    first, last = history[0], history[-1]
    return (f"training {fmt.format(first[f'train_{what}'])} at epoch 1 to {fmt.format(last[f'train_{what}'])} at "
            f"epoch {len(history)}, held-out {fmt.format(first[f'val_{what}'])} to {fmt.format(last[f'val_{what}'])}.")


def confusion_alt(matrix: np.ndarray) -> str:
    n = len(matrix)
    return (f"Confusion matrix of the {int(matrix.sum()):,} held-out digits: a {n} × {n} grid, rows the true digit "
            f"0-{n - 1}, columns the predicted one, each non-zero cell with its count.")


def confusion_caption(matrix: np.ndarray) -> str:
    """What the held-out confusion matrix says: accuracy and the most common mistake, from its counts."""
    correct, total = int(np.trace(matrix)), int(matrix.sum())
    off = matrix * (1 - np.eye(len(matrix), dtype=matrix.dtype))
    text = (f"Held-out confusion matrix: rows are the true digit, columns the predicted; {correct:,} of {total:,} "
            f"on the diagonal ({correct / max(total, 1):.1%}).")
    most = int(off.max())
    if most > 0:  # every mistake made that often, in reading order: a tie is not one "most common mistake"
        tied = [f"{true} read as {pred}" for true, pred in zip(*np.nonzero(off == most), strict=True)]
        if len(tied) == 1:
            text += f" The most common mistake: {tied[0]} ({counted(most, 'time')})."
        else:
            named = tied if len(tied) <= MAX_TIED_NAMED else [*tied[:MAX_TIED_NAMED - 1],
                                                              f"{len(tied) - MAX_TIED_NAMED + 1} others"]
            text += (f" {len(tied)} mistakes tie as the most common, {counted(most, 'time')} each: "
                     f"{', '.join(named[:-1])} and {named[-1]}.")
    return text
