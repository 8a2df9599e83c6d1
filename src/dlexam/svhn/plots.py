"""Figures for training runs: learning curves and confusion matrices, written atomically as PNG."""

from __future__ import annotations

import os

from dlexam.figures import pyplot, save_png


def learning_curves_png(history: list[dict], path: str | os.PathLike, init_val_accuracy: float | None = None) -> None:
    """Loss and accuracy per epoch, train and validation, written to `path`."""
    save_png(learning_curves_figure(history, init_val_accuracy), path)


def learning_curves_figure(history: list[dict], init_val_accuracy: float | None = None):
    """Loss and accuracy per epoch, train and validation. `init_val_accuracy` (a fine-tune's validation accuracy
    before its first epoch) is drawn as epoch 0 of the validation accuracy: where the run started from."""
    plt = pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["train_loss"] for r in history], "o-", label="train")
    ax2.plot(epochs, [r["train_accuracy"] for r in history], "o-", label="train")
    if history and "val_loss" in history[0]:
        start = [] if init_val_accuracy is None else [0]  # epoch 0: the model fine-tuning started from
        ax1.plot(epochs, [r.get("val_loss") for r in history], "s-", label="validation")
        ax2.plot(start + epochs, [init_val_accuracy] * len(start) + [r.get("val_accuracy") for r in history], "s-",
                 label="validation")
    ax1.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    # a little past 0 and 1: a marker at 0 or 1 (a small validation set reads 1.0 often) is drawn whole, not halved
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(-0.04, 1.04))
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: the tick 1, not 0.945 ...
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_figure(confusion: list[list[int]], title: str = "confusion matrix"):
    """Counts with true digits as rows and predicted digits as columns."""
    import numpy as np

    plt = pyplot()

    c = np.asarray(confusion)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(c, cmap="Blues")
    for i in range(c.shape[0]):
        for j in range(c.shape[1]):
            ax.text(
                j,
                i,
                str(c[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if c[i, j] > c.max() / 2 else "black",
            )
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted digit", ylabel="true digit", title=title)
    return fig
