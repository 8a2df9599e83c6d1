"""Figures for training runs: learning curves and confusion matrices (matplotlib figures; :mod:`dlexam.figures`
renders and saves them). The report draws its confusion matrix with :func:`confusion_figure` too."""

from __future__ import annotations

from dlexam.figures import figure_legend, new_figure, series_style


def learning_curves_figure(history: list[dict], init_val_accuracy: float | None = None):
    """Loss and accuracy per epoch, train and validation. `init_val_accuracy` (a fine-tune's validation accuracy
    before its first epoch) is drawn as epoch 0 of the validation accuracy: where the run started from.

    Accuracy is in percent, as every other accuracy the project draws. Train and validation differ in marker as well
    as colour (:func:`dlexam.figures.series_style`), one legend under both panels names them (inside the accuracy
    panel, at its upper right, it had covered a good run's curves), and the figure's title says what it shows. A
    run of one epoch draws one point a series, each labelled with its value."""
    from matplotlib.ticker import MaxNLocator

    epochs = [r["epoch"] for r in history]
    fig, axes = new_figure(2, 1, width=4.5, height=3.3)
    ax1, ax2 = axes[0]
    train, val = series_style(0), series_style(1)
    ax1.plot(epochs, [r["train_loss"] for r in history], "-", **train, label="train")
    ax2.plot(epochs, [100 * r["train_accuracy"] for r in history], "-", **train, label="train")
    if history and "val_loss" in history[0]:
        start = [] if init_val_accuracy is None else [0]  # epoch 0: the model fine-tuning started from
        ax1.plot(epochs, [r.get("val_loss") for r in history], "-", **val, label="validation")
        ax2.plot(start + epochs,
                 [100 * a if a is not None else None
                  for a in [init_val_accuracy] * len(start) + [r.get("val_accuracy") for r in history]],
                 "-", **val, label="validation")
    ax1.set(xlabel="epoch", ylabel="cross-entropy (nats per image)", title="Loss")
    # a little past 0 and 100: a marker at 0 or 100% (a small validation set reads 100% often) is drawn whole
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy", ylim=(-4, 104))
    for ax, fmt in ((ax1, "{:.3f}"), (ax2, "{:.1f}%")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: the tick 1, not 0.945 ...
        ax.grid(alpha=0.3)
        if len(epochs) == 1:  # a lone point says little without its value
            for line in ax.get_lines():
                x, y = line.get_xdata()[-1], line.get_ydata()[-1]
                if y is not None:
                    ax.annotate(fmt.format(y), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8,
                                color=line.get_color())
    handles, labels = ax1.get_legend_handles_labels()
    figure_legend(fig, handles, labels, ncols=len(labels), fontsize=9)
    n = len(epochs)
    fig.suptitle(f"SVHN CNN training: loss and accuracy per epoch ({n} epoch{'' if n == 1 else 's'})", fontsize=11)
    return fig


def confusion_figure(confusion: list[list[int]], title: str = "confusion matrix", class_labels=None):
    """Counts with true digits as rows and predicted digits as columns; a cell of 0 is left blank, so the mistakes
    stand out (the report's matrix had hidden them, `svhn evaluate`'s printed every 0: now one drawing for both).
    The classes are labelled 0 .. n - 1 for an n x n matrix unless `class_labels` names them."""
    import numpy as np

    m = np.asarray(confusion, dtype=np.float64)
    n = m.shape[0]
    class_labels = [str(d) for d in range(n)] if class_labels is None else class_labels
    fig, axes = new_figure(width=0.42 * n + 1.4, height=0.42 * n + 1.0)
    ax = axes[0][0]
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(class_labels, fontsize=8)
    ax.set_yticklabels(class_labels, fontsize=8)
    ax.set_xlabel("predicted digit", fontsize=9)
    ax.set_ylabel("true digit", fontsize=9)
    ax.set_title(title, fontsize=10)
    hi = m.max() or 1.0
    for i in range(n):
        for j in range(n):
            if m[i, j]:
                ax.text(j, i, f"{m[i, j]:g}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > 0.6 * hi else "#1d232a")
    return fig
