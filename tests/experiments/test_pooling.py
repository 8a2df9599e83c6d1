"""pooling (Problem 1.1) in --quick mode; the shift against a NumPy oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlexam.experiments.pooling import POOLS, SHIFTS, shift_images

from .helpers import check_result


@pytest.fixture(scope="module")
def run(quick_experiment):
    """`ExperimentRun("pooling", out, quick=True)`, run once per test run (the browser tests' report reads it)."""
    return quick_experiment("pooling")


def test_result_files(run):
    check_result(run[0], run[1], "pooling")
    assert [(r["pooling"], r["shift px"]) for r in run[0]["table"]] == [(p, d) for p in POOLS for d in SHIFTS]


def test_the_table_gives_each_seeds_worst_before_the_mean(run):
    """Every row: the worst seed's accuracy and unchanged predictions, from `per_seed`, then the mean."""
    result = run[0]
    for row in result["table"]:
        seeds = result["numbers"]["per_seed"][row["pooling"]]
        for key, name in (("accuracy", "acc %"), ("consistency", "same pred %")):  # percent, as the finding
            values = [100 * r[str(row["shift px"])][key] for r in seeds]
            assert row[f"{name} worst"] == pytest.approx(min(values)) and row[name] == pytest.approx(np.mean(values))
        assert list(row).index("acc % worst") < list(row).index("acc %")


def test_a_quick_run_is_too_short_to_judge_the_claim_and_says_so(run):
    """2 epochs and one seed: the networks are far from trained and no spread is measured (the finding used to
    state the robustness comparisons without a word of caution)."""
    result = run[0]
    accuracy = min(r["acc %"] for r in result["table"] if r["shift px"] == 0)
    assert result["verdict"] == "inconclusive"
    assert f"reach only {accuracy:.0f}% unshifted accuracy" in result["finding"]
    assert "not evidence for or against the claim" in result["finding"]
    # and, after saying so, it states no conclusion (it went on: "Pooling does make the network more robust")
    for conclusion in ("Pooling does make", "without pooling is about as robust", "more shift-robust"):
        assert conclusion not in result["finding"]


def test_both_networks_learn_and_unshifted_predictions_are_consistent(run):
    rows = {(r["pooling"], r["shift px"]): r for r in run[0]["table"]}
    for pool in ("max", "avg", "none"):
        assert rows[pool, 0]["acc %"] > 25  # chance is 10%
        assert rows[pool, 0]["same pred %"] == 100
        assert 0 < rows[pool, 3]["same pred %"] < 100


def test_the_table_and_the_figure_give_percentages_as_the_finding_does(run):
    """The table and the figure gave fractions (0.7815, an axis from 0 to 1) where the finding said 78.1%: every
    accuracy and share of unchanged predictions is now a percentage."""
    from dlexam.experiments import pooling as P
    from dlexam.figures import pyplot

    result = run[0]
    one_px = {r["pooling"]: r["same pred %"] for r in result["table"] if r["shift px"] == 1}
    assert (f"A 1-pixel shift leaves {one_px['max']:.1f}% (max), {one_px['avg']:.1f}% (avg) and "
            f"{one_px['none']:.1f}% (none)") in result["finding"]
    seen = {}

    def keep(out_dir, name, fig, *, narrow=False):
        seen[name] = fig.axes
        pyplot().close(fig)
        return name

    summary = result["numbers"]["summary"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(P, "save_into", keep)
        P._figures(None, P.PoolingConfig.quick(), summary, {"x_test": torch.zeros(1, 32, 32, dtype=torch.uint8)})
    for a, key in zip(seen["pooling_shift_robustness.png"][:2], ("accuracy", "consistency"), strict=True):
        assert "%" in a.get_ylabel() and a.get_ylim()[1] > 100
        plotted = [list(c.lines[0].get_ydata()) for c in a.containers]
        assert plotted == [[pytest.approx(100 * summary[p][str(d)][key][0]) for d in P.SHIFTS] for p in P.POOLS]


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, 0), (-2, 0), (0, 3), (0, -1), (2, -2)])
def test_shift_against_numpy_edge_padding(dy, dx):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
    p = 3
    padded = np.pad(imgs, ((0, 0), (p, p), (p, p)), mode="edge")
    want = padded[:, p - dy : p - dy + 32, p - dx : p - dx + 32]
    got = shift_images(torch.from_numpy(imgs), dy, dx)
    assert got.dtype == torch.uint8
    np.testing.assert_array_equal(got.numpy(), want)
    if dy >= 0 and dx >= 0:  # content moves down/right: pixel (i, j) lands at (i + dy, j + dx)
        np.testing.assert_array_equal(got.numpy()[:, dy:, dx:], imgs[:, : 32 - dy, : 32 - dx])


def test_no_pooling_reference_keeps_the_exam_shapes_and_weights():
    from dlexam.experiments.pooling import make_cnn
    from dlexam.svhn.model import CNNConfig, ExamCNN

    ref = ExamCNN(CNNConfig())
    none = make_cnn("none")
    assert [p.shape for p in none.parameters()] == [p.shape for p in ref.parameters()]
    x = torch.randn(2, 1, 32, 32)
    assert none.trunk(x).shape == (2, 16, 3, 3)
    # subsampling keeps pixel (4i, 4j) of Conv-1's output, unlike any pooling
    h = none.act1(none.conv1(x))
    torch.testing.assert_close(none.pool1(h), h[:, :, 0::4, 0::4])


def test_the_robustness_plot_starts_its_axes_at_zero_and_says_what_its_bars_are(monkeypatch):
    """Accuracies of 0.63-0.97 drawn on an axis that starts at 0.6 make a 1-point gap look large; the plot
    scaled itself to the data (a quick run's accuracy axis ran from 0.26 to 0.42) and did not say its error
    bars are one standard deviation over seeds."""
    from dlexam.experiments import pooling as P

    drawn = {}

    def keep(out_dir, name, fig, **kw):
        drawn[name] = fig
        return name

    monkeypatch.setattr(P, "save_into", keep)
    summary = {pool: {str(d): {"accuracy": (0.9 - 0.05 * d - 0.01 * i, 0.01), "consistency": (1 - 0.07 * d, 0.01)}
                      for d in SHIFTS} for i, pool in enumerate(P.POOLS)}
    data = {"x_test": torch.zeros(1, 32, 32, dtype=torch.uint8)}
    P._figures(None, P.PoolingConfig(), summary, data)
    fig = drawn["pooling_shift_robustness.png"]
    for axes in fig.axes:
        low, high = axes.get_ylim()
        assert low == 0 and high >= 1
    said = " ".join([fig.get_suptitle()] + [a.get_title() + a.get_ylabel() for a in fig.axes])
    assert "s.d." in said and "3 seeds" in said


def test_the_robustness_figures_alt_text_claims_error_bars_only_where_seeds_measure_a_spread(run):
    """An audit read "with error bars of one standard deviation over seeds" in the alt text of the --quick run's
    figure, whose title says "1 seed, no spread measured": a reader of the alt text was promised bars there are
    not."""
    from dlexam.experiments.pooling import PoolingConfig, _captions

    result = run[0]
    seeds = len(result["numbers"]["per_seed"]["max"])
    assert seeds == len(result["config"]["seeds"]) == 1
    alt = result["captions"]["pooling_shift_robustness.png"]["alt"]
    assert "error bars of" not in alt and "from one seed, so without error bars" in alt
    summary = {p: {str(d): {k: (0.5, 0.01) for k in ("accuracy", "consistency")} for d in SHIFTS} for p in POOLS}
    three = _captions(PoolingConfig(seeds=(0, 1, 2)), summary)["pooling_shift_robustness.png"]["alt"]
    assert "with error bars of one standard deviation over the 3 seeds" in three


def test_the_three_networks_are_told_apart_without_colour_in_one_legend(monkeypatch):
    """The three networks' curves were all circles on solid lines, purple, olive and grey, and lie on each other in
    the accuracy panel; each panel repeated the same legend inside it. Now each network has its own marker, and one
    legend under both panels names them, covering no point."""
    from dlexam.experiments import pooling as P
    from dlexam.figures import pyplot

    from .helpers import colour_alone, legend_overlaps

    drawn = {}
    monkeypatch.setattr(P, "save_into", lambda out, name, fig, **kw: drawn.setdefault(name, fig) and name)
    summary = {pool: {str(d): {"accuracy": (0.4 - 0.03 * d, 0.0), "consistency": (1 - 0.1 * d - 0.02 * i, 0.0)}
                      for d in SHIFTS} for i, pool in enumerate(P.POOLS)}
    P._figures(None, P.PoolingConfig.quick(), summary, {"x_test": torch.zeros(1, 32, 32, dtype=torch.uint8)})
    fig = drawn["pooling_shift_robustness.png"]
    try:
        assert all(a.get_legend() is None for a in fig.axes) and len(fig.legends) == 1
        assert [t.get_text() for t in fig.legends[0].get_texts()] == [P.LABELS[p] for p in P.POOLS]
        assert colour_alone(fig) == [] and legend_overlaps(fig) == []
    finally:
        for f in drawn.values():
            pyplot().close(f)


def test_the_narrow_drawing_keeps_each_networks_marker_in_its_legend(monkeypatch):
    """Restacked for a narrow screen, the figure's legend is made again: from its own handles, an error bar's is its
    bars alone, and the narrow legend showed three plain lines told apart by colour alone."""
    from matplotlib.lines import Line2D

    from dlexam.experiments import pooling as P
    from dlexam.figures import pyplot, restack

    drawn = {}
    monkeypatch.setattr(P, "save_into", lambda out, name, fig, **kw: drawn.setdefault(name, fig) and name)
    summary = {pool: {str(d): {"accuracy": (0.4, 0.0), "consistency": (1 - 0.1 * d, 0.0)} for d in SHIFTS}
               for pool in P.POOLS}
    P._figures(None, P.PoolingConfig.quick(), summary, {"x_test": torch.zeros(1, 32, 32, dtype=torch.uint8)})
    fig = drawn["pooling_shift_robustness.png"]
    try:
        markers = lambda: {line.get_marker() for line in fig.legends[0].findobj(Line2D)} - {"None", "none", ""}  # noqa: E731
        desktop = markers()
        restack(fig)
        assert len(desktop) == len(P.POOLS) and markers() == desktop
    finally:
        for f in drawn.values():
            pyplot().close(f)
