"""The activations and skip-connections figures drawn from made-up numbers (no training): the gradient-norm panels
all name the norm they plot the same way, the skip-connections curves have one legend for both panels, and every
narrow drawing (`figures.narrow_png`) is exactly 400 px wide without cutting anything off."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from dlexam import figures
from dlexam.experiments import activations, skip_connections
from dlexam.experiments.training import grad_norms

from .helpers import colour_alone, legend_overlaps, png_size

NARROW_PX = 400  # docs/report.md: a heatmap's narrow drawing is 400 px wide, every other figure's "about 400"


def drawn(module, monkeypatch) -> dict:
    """{file name: (the figure, its desktop PNG, its narrow PNG, the desktop drawing's (legends, legend_overlaps))}
    of what `module` saves, each figure kept after it is rendered (restacked for the narrow drawing, which is what the
    figure then holds)."""
    seen = {}

    def save_into(out, name, fig, *, narrow=False):
        assert narrow, name  # every figure of these two experiments has its narrow drawing
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        found = legends(fig), legend_overlaps(fig)  # legend_overlaps draws the figure
        desktop = (*found, _under_the_panels(fig, drawn=True))
        drawing = figures.render(fig)
        FigureCanvasAgg(fig)  # closed by render: a canvas again, to measure it
        seen[name] = (fig, drawing.png, drawing.narrow, desktop)
        return name

    monkeypatch.setattr(module, "save_into", save_into)
    return seen


def legends(fig) -> list[list[str]]:
    found = [a.get_legend() for a in fig.axes if a.get_legend() is not None] + list(fig.legends)
    return [[t.get_text() for t in legend.get_texts()] for legend in found]


def _under_the_panels(fig, *, drawn: bool = False) -> bool:
    """Every legend of the whole figure is drawn under every panel (their tick and axis labels too), inside the
    figure. `drawn`: the figure was just drawn and not changed since (drawing it again lays it out the same)."""
    if not drawn:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lowest = min(a.get_tightbbox(renderer).y0 for a in fig.axes)
    boxes = [legend.get_window_extent(renderer) for legend in fig.legends]
    return all(b.y1 <= lowest and b.y0 >= 0 and b.x0 >= 0 and b.x1 <= fig.bbox.x1 for b in boxes)


# Drawn once for the module (each drawing takes seconds); the tests only read them.
@pytest.fixture(scope="module")
def activation_figures():
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _activation_figures(monkeypatch)


@pytest.fixture(scope="module")
def skip_figures():
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _skip_figures(monkeypatch)


def _activation_figures(monkeypatch):
    seen = drawn(activations, monkeypatch)
    cfg = activations.ActivationsConfig.quick()
    rng = np.random.default_rng(0)
    norms = lambda: list(np.exp(rng.normal(size=cfg.depth)))  # noqa: E731
    keys = [(act, init) for act in activations.ACTS for init in ("default", "matched")]
    runs = {k: [{"snapshots": {0: norms(), 50: norms(), 100: norms()}, "train_loss": list(rng.random(100))}]
            for k in keys}
    at_init = {k: [norms() for _ in cfg.seeds] for k in keys}
    activations._figures(None, cfg, runs, at_init)
    return seen


def _skip_figures(monkeypatch):
    seen = drawn(skip_connections, monkeypatch)
    cfg = skip_connections.SkipConfig.quick()
    rng = np.random.default_rng(1)
    runs = {label: {"curves": {k: list(rng.random(12)) for k in ("train_loss", "val_loss", "train_accuracy",
                                                                  "val_accuracy")},
                    "grads_init": list(np.exp(rng.normal(size=cfg.depth))),
                    "grads_end": list(np.exp(rng.normal(size=cfg.depth)))}
            for label in ("plain", "residual", "plain, He init")}
    skip_connections._figures(None, cfg, runs)
    return seen


def test_every_gradient_norm_panel_names_the_frobenius_norm(activation_figures, skip_figures):
    """grad_norms is the Frobenius norm of each weight matrix's gradient (checked by hand below); the activations'
    training panels had called it ||dL/dW_l||, its other figure and skip-connections' ||dL/dW_l||_F."""
    panels = [a for name in ("activations_grad_norms_init.png", "activations_grad_norms_training.png")
              for a in activation_figures[name][0].axes]
    panels += skip_figures["skip_connections_grad_norms.png"][0].axes
    assert len(panels) == 2 + 6 + 2
    assert {a.get_ylabel() for a in panels} == {"||dL/dW_l||_F (log)"}

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    (got,) = grad_norms(model, [model[0].weight], x, y)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, [model[0].weight])
    frobenius = sum(float(v) ** 2 for row in g.tolist() for v in row) ** 0.5
    assert got == pytest.approx(frobenius, rel=1e-6)


def test_the_skip_connection_curves_have_one_legend_under_both_panels(skip_figures):
    fig, desktop, narrow, _ = skip_figures["skip_connections_curves.png"]
    want = [[f"{net}: {part}" for net in ("plain", "residual", "plain, He init")
             for part in ("train", "validation")]]
    # `fig` is the narrow drawing now; the desktop one is drawn again to look at it
    assert legends(fig) == want
    assert legend_overlaps(fig) == []  # which draws it
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    lowest = min(a.get_tightbbox(renderer).y0 for a in fig.axes)
    assert box.y1 <= lowest and box.y0 >= 0 and box.x0 >= 0 and box.x1 <= fig.bbox.x1  # under the panels, inside


class _Seen(Exception):
    """Raised once the drawing a test looks at has been looked at: the figures after it are not drawn."""


def test_the_skip_connection_curves_desktop_drawing_has_one_legend(monkeypatch):
    """The desktop drawing, looked at before it is restacked (just before it is rendered: the first to_png)."""
    seen = []

    def to_png(fig, *args, **kwargs):
        seen.append((legends(fig), legend_overlaps(fig)))
        figures.pyplot().close(fig)
        raise _Seen

    monkeypatch.setattr(figures, "to_png", to_png)
    cfg = skip_connections.SkipConfig.quick()
    runs = {label: {"curves": {k: [0.5, 0.4, 0.3] for k in ("train_loss", "val_loss", "train_accuracy",
                                                             "val_accuracy")},
                    "grads_init": [1.0] * cfg.depth, "grads_end": [1.0] * cfg.depth}
            for label in ("plain", "residual", "plain, He init")}
    monkeypatch.setattr(skip_connections, "save_into", lambda out, name, fig, narrow=False: figures.render(fig))
    with pytest.raises(_Seen):
        skip_connections._figures(None, cfg, runs)
    (labels, overlaps), = seen
    assert len(labels) == 1 and len(labels[0]) == 6 and overlaps == []


# the figures whose panels all showed the same legend, and its entries, written out by hand: the activations and nets
# each experiment draws, and the steps the activation_figures fixture snapshots (0, 50, 100)
ONE_LEGEND = {
    "activations_grad_norms_init.png": ["sigmoid", "tanh", "relu"],
    "activations_grad_norms_training.png": ["step 0", "step 50", "step 100"],
    "skip_connections_grad_norms.png": ["plain", "residual", "plain, He init"],
}


@pytest.mark.parametrize("name", sorted(ONE_LEGEND))
def test_a_legend_the_same_in_every_panel_is_drawn_once_for_the_figure(name, activation_figures, skip_figures):
    """The activations' and skip-connections' gradient-norm figures had repeated one legend in each panel (the
    activations' training figure six times): now one legend of the whole figure, under the panels, covering no data,
    in the desktop drawing and in the narrow one. Counted on the drawn figures."""
    fig, _, _, (desktop, desktop_overlaps, desktop_under) = {**activation_figures, **skip_figures}[name]
    want = [ONE_LEGEND[name]]
    assert desktop == want and desktop_overlaps == [] and desktop_under
    assert all(a.get_legend() is None for a in fig.axes) and len(fig.legends) == 1
    assert legends(fig) == want  # `fig` is the narrow drawing now
    assert legend_overlaps(fig) == [] and _under_the_panels(fig, drawn=True)  # legend_overlaps drew it


@pytest.mark.parametrize("name", ["activations_grad_norms_init.png", "activations_grad_norms_training.png",
                                  "activations_training_loss.png", "skip_connections_curves.png",
                                  "skip_connections_grad_norms.png"])
def test_no_two_lines_of_a_legend_differ_in_colour_alone(name, activation_figures, skip_figures):
    """The activations at initialisation (sigmoid, tanh, relu: all circles on solid lines), the training snapshots
    (shades of viridis alone), the training losses and the skip-connection nets (solid or dashed, but each net's
    lines by colour alone) could be told apart only by colour, where their lines overlap most. Each entry now has its
    own marker or dashes too; the figure also says what it shows in a title."""
    fig = {**activation_figures, **skip_figures}[name][0]
    assert colour_alone(fig) == []
    assert fig.get_suptitle() or all(a.get_title() for a in fig.axes)


def test_the_activations_figures_name_their_block_axis_one_way(activation_figures, skip_figures):
    """The activations' figure at initialisation said "(1 = nearest the input)", its training figure "(1 = input
    side)"; every per-block axis of both experiments now reads the same."""
    labels = {a.get_xlabel() for name in ("activations_grad_norms_init.png", "activations_grad_norms_training.png",
                                          "skip_connections_grad_norms.png")
              for a in {**activation_figures, **skip_figures}[name][0].axes}
    assert labels == {"hidden block (1 = nearest the input)"}


@pytest.mark.parametrize("asked", [6, 2])
def test_restack_keeps_a_figure_legend_without_matplotlibs_private_ncols(asked):
    """restack re-made a figure's legend in as many of its columns as fit, reading how many it had from matplotlib's
    private `Legend._ncols` (gone here, as a matplotlib that renames it would have it). The legend keeps its six
    entries, fits the narrow width, and never gets more columns than it was given: with 2, its six entries still
    stand in 3 rows (their distinct baselines)."""
    fig, ax = figures.new_figure(2, 1)
    for a in ax[0]:
        for k in range(6):
            a.plot([0, 1], [k, k + 1], label=f"line {k}")
    legend = figures.figure_legend(fig, *ax[0, 0].get_legend_handles_labels(), ncols=asked)
    del legend._ncols
    figures.restack(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (made,) = fig.legends
    assert [t.get_text() for t in made.get_texts()] == [f"line {k}" for k in range(6)]
    assert made.get_window_extent(renderer).width <= fig.bbox.width
    rows = {round(t.get_window_extent(renderer).y0) for t in made.get_texts()}
    if asked == 2:
        assert len(rows) == 3
    figures.pyplot().close(fig)


def _white_edges(png: bytes) -> bool:
    """The first and last pixel columns are white: the drawing's margins are there, nothing is cut at the sides."""
    with Image.open(io.BytesIO(png)) as im:
        a = np.asarray(im.convert("RGB"))
    return bool((a[:, [0, -1]] == 255).all())


def test_every_narrow_drawing_of_these_experiments_is_400_px_wide(activation_figures, skip_figures):
    for name, (_, _, narrow, _) in {**activation_figures, **skip_figures}.items():
        assert png_size(narrow)[0] == NARROW_PX, name
        assert _white_edges(narrow), name


@pytest.mark.parametrize("kind", ["two panels", "legend under its panel", "image grid", "figure legend"])
def test_a_narrow_drawing_is_exactly_400_px_wide_and_cut_nowhere(kind):
    """What the report's narrow drawings are made of: panels, a panel with its legend under it (the activations'
    training loss: 401 px before), a grid of images narrower than the screen (pooling's shifted digits: 366 and
    here 382 px before), a legend of the whole figure."""
    rng = np.random.default_rng(2)
    if kind == "image grid":
        fig, ax = figures.new_figure(4, 1, width=2.4, height=2.6)
        for j, a in enumerate(ax.flat):
            a.imshow(rng.random((32, 32)), cmap="gray")
            a.set(title=f"shift {j} px", xticks=[], yticks=[])
        fig.suptitle("The same digit shifted by 0-3 pixels")
    elif kind == "legend under its panel":
        fig, ax = figures.new_figure(1, 1, width=6.0)
        for act in ("sigmoid", "tanh", "relu"):
            for init in ("default", "matched"):
                ax[0, 0].plot(np.arange(100) + 3, rng.random(100), label=f"{act}, {init} init")
        ax[0, 0].set(title="Training loss (moving average, seed 0)", xlabel="SGD step",
                     ylabel="cross-entropy (nats per image)")
        figures.legend_below(ax[0, 0], fontsize=8)
    else:
        fig, ax = figures.new_figure(2, 1)
        for a in ax[0]:
            a.semilogy(rng.random(10) * 1e7, label="a line")
            a.set(xlabel="hidden block (1 = nearest the input)", ylabel="||dL/dW_l||_F (log)")
        if kind == "figure legend":
            figures.figure_legend(fig, *ax[0, 0].get_legend_handles_labels())
    drawing = figures.render(fig)
    assert png_size(drawing.narrow)[0] == NARROW_PX
    assert _white_edges(drawing.narrow)


def test_every_training_snapshot_line_stands_out_from_the_white_panel(activation_figures):
    """The last snapshot's line was viridis' yellow (#fde725), 1.1:1 against white; each line now has a contrast
    ratio of 3:1 or more (WCAG 2's relative luminance and ratio, for graphics: computed here from the sRGB values)."""
    import matplotlib.colors

    def luminance(rgb) -> float:
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    fig = activation_figures["activations_grad_norms_training.png"][0]
    colours = {matplotlib.colors.to_rgb(line.get_color()) for a in fig.axes for line in a.get_lines()}
    assert len(colours) == 3  # the made-up run's three snapshots
    assert min((1 + 0.05) / (luminance(c) + 0.05) for c in colours) >= 3.0
