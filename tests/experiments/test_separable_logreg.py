"""separable-logreg (Part 1, Q2), run end to end through the CLI in --quick mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlexam.experiments import separable_logreg as S

from .helpers import check_result


@pytest.fixture(scope="module")
def run(quick_experiment):
    """What `dlexam experiment separable-logreg --quick --out OUT --json` printed, and OUT: run once per test run
    (tests/conftest.py runs this one by the command line; the browser tests' report reads it too)."""
    return quick_experiment("separable-logreg")


def test_result_files(run):
    result, out = run
    check_result(result, out, "separable-logreg")


def test_norm_grows_and_loss_falls(run):
    n = run[0]["numbers"]
    assert np.all(np.diff(n["w_norm"]) > 0)
    assert np.all(np.diff(n["loss"]) < 0)
    assert n["loss"][-1] < 1e-2 * n["loss"][0]
    # ||w|| grows like ln t with slope of the order of ||w_svm|| (Soudry et al. 2018)
    assert 0.5 < n["slope_ratio_to_theory"] < 1.5
    assert n["cos_to_max_margin"][-1] > 0.99
    assert run[0]["verdict"] == "supported"


def test_max_margin_vector_separates_with_margin_one(run):
    n = run[0]["numbers"]
    X, y = S.make_data(S.SeparableConfig.quick())
    w = np.asarray(n["w_max_margin"])
    assert np.min(y * (X @ w)) == pytest.approx(1.0, abs=1e-5)


def test_loss_and_gradient_against_torch():
    X, y = S.make_data(S.SeparableConfig.quick())
    w = np.array([0.3, -1.2, 2.0])
    wt = torch.tensor(w, requires_grad=True)
    ref = torch.nn.functional.softplus(-torch.tensor(y) * (torch.tensor(X) @ wt)).sum()
    ref.backward()
    assert S.loss(w, X, y) == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(S.gradient(w, X, y), wt.grad.numpy(), rtol=1e-10)


def test_loss_along_the_ray_matches_a_direct_sum(run):
    n = run[0]["numbers"]
    X, y = S.make_data(S.SeparableConfig.quick())
    w_star = np.asarray(n["w_max_margin"]) / np.linalg.norm(n["w_max_margin"])
    for a, got in zip(n["alpha"], n["loss_along_ray"], strict=True):
        direct = sum(np.log1p(np.exp(-yi * a * (xi @ w_star))) for xi, yi in zip(X, y, strict=True))
        assert got == pytest.approx(direct, rel=1e-9, abs=1e-300)
    assert n["loss_along_ray"][0] == pytest.approx(len(y) * np.log(2))


def test_every_data_set_is_run_and_the_verdict_needs_all_of_them(run):
    """One data set was run (the project reports at least 3 seeds, worst first)."""
    result = run[0]
    seeds = result["config"]["seeds"]
    by_seed = result["numbers"]["by_seed"]
    assert len(seeds) >= 3 and sorted(map(int, by_seed)) == sorted(seeds)
    assert all(s["supported"] for s in by_seed.values()) and result["verdict"] == "supported"
    worst = max(s["loss_ratio"] for s in by_seed.values())
    assert f"Over {len(seeds)} data sets" in result["finding"]
    assert f"{worst:.2e} of its start at worst" in result["finding"]


def test_the_boundaries_figure_shows_the_steps_it_promises(run):
    """It meant to draw w(t) at t = 1, 10 and 100 and the last step, but drew only the steps that were exactly
    1, 10 or 100: a quick run's recorded steps are 1, 2, ..., 9, 11, ..., so it drew t = 1 and the last only."""
    alt = run[0]["captions"]["separable_logreg_boundaries.png"]["alt"]
    steps = [int(row["step t"]) for row in run[0]["table"]]
    assert "steps 1, 9, 96 and 20,000" in alt, alt  # the recorded steps nearest 1, 10 and 100, and the last
    assert 9 in steps and 96 in steps  # (the table's decades: the same recorded steps)


def test_the_norm_panel_never_draws_below_zero(monkeypatch):
    """The fitted ln t line was drawn from t = 1, where it lies far below 0 (-11 in a quick run): the axis of a
    norm ran to -17 and squeezed the data into its upper half."""
    cfg = S.SeparableConfig(n_points=30, steps=2_000, n_records=20)
    X, y, w_svm, records, numbers = S.measure(cfg, 0)
    drawn = {}

    def keep(out_dir, name, fig, **kw):
        drawn[name] = fig
        return name

    monkeypatch.setattr(S, "save_into", keep)
    S._figures(None, X, y, records, w_svm, numbers)
    norm_axes = drawn["separable_logreg_norm_loss.png"].axes[0]
    # L is the exam's sum over the points of log(1 + exp(-y w^T x)) (S.loss): nats, summed, not averaged
    assert [a.get_ylabel() for a in drawn["separable_logreg_norm_loss.png"].axes[1:3]] == [
        "loss L(w(t)), nats summed over the points (log)", "loss L(a w*), nats summed over the points (log)"]
    assert norm_axes.get_ylim()[0] >= 0
    assert min(min(line.get_ydata()) for line in norm_axes.get_lines()) >= 0


def test_the_decision_boundaries_are_told_apart_without_colour(monkeypatch):
    """The four boundaries w(t) nearly coincide; they were thin solid lines of four colours. Each now has its own
    dashes (and a shade darker as t grows), the max-margin line its own."""
    from .helpers import colour_alone

    cfg = S.SeparableConfig(n_points=30, steps=2_000, n_records=20)
    X, y, w_svm, records, numbers = S.measure(cfg, 0)
    drawn = {}
    monkeypatch.setattr(S, "save_into", lambda out, name, fig, **kw: drawn.setdefault(name, fig) and name)
    S._figures(None, X, y, records, w_svm, numbers)
    try:
        assert {name: colour_alone(fig) for name, fig in drawn.items()} == {
            "separable_logreg_norm_loss.png": [], "separable_logreg_boundaries.png": []}
        boundaries = [line for line in drawn["separable_logreg_boundaries.png"].axes[0].get_lines()
                      if line.get_label().startswith("w(t)")]
        assert len(boundaries) == 4
    finally:
        for fig in drawn.values():
            __import__("matplotlib.pyplot").pyplot.close(fig)


def test_no_legend_covers_a_curve_or_a_point_in_either_drawing(tmp_path, monkeypatch):
    """Before, the ||w|| panel's legend covered the last points of ||w|| and both fitted lines (they end in the top
    right corner), the boundaries' legend covered points of class -1, and the narrow drawing's c/t line ran under its
    legend. Every drawing is checked just before it is rendered, in display coordinates (`legend_overlaps`)."""
    from dlexam import figures
    from dlexam.experiments import ExperimentRun, run_experiment

    from .helpers import legend_overlaps

    seen = []

    def checked(render):
        def check_then_render(fig, *args, **kwargs):
            seen.append((fig.axes[0].get_title(), sum(a.get_legend() is not None for a in fig.axes),
                         legend_overlaps(fig)))
            return render(fig, *args, **kwargs)
        return check_then_render

    monkeypatch.setattr(figures, "to_png", checked(figures.to_png))  # the desktop drawing
    monkeypatch.setattr(figures, "narrow_png", checked(figures.narrow_png))  # the narrow one
    run_experiment(ExperimentRun("separable-logreg", tmp_path / "out", quick=True))
    assert [(title, legends) for title, legends, _ in seen] == [
        ("||w|| grows without bound (~ ln t)", 3)] * 2 + [("Data and decision boundaries w(t)^T x = 0", 1)] * 2
    assert [found for *_, found in seen] == [[]] * 4



def test_a_log_axis_over_many_decades_is_marked_at_round_powers_of_ten():
    """L(a w*)'s axis (41.6 down to 2.89e-120 in a quick run) was marked 10^7, 10^-15, 10^-37, ...: matplotlib
    counted its step of 22 decades from the lowest. Marks are now multiples of a round step, 10^0 among them."""
    from dlexam.experiments.separable_logreg import round_decades

    assert round_decades(2.89e-120, 41.6) == [-100, -80, -60, -40, -20, 0]
    assert round_decades(0.0232, 41.6) == [-1, 0, 1]
    assert round_decades(1e-10, 1e-2) == [-10, -8, -6, -4, -2]
    assert round_decades(3e-7, 5e6) == [-6, -4, -2, 0, 2, 4, 6]


def test_the_cosine_of_w_0_is_undefined_not_0(run):
    """Gradient descent starts at w = 0, whose direction, and so its cosine to w_svm, is undefined; the table's
    first row read "cos(w, w_svm) 0" (a direction at right angles to the max-margin one). It is blank ("-", JSON
    null) there, and a true cosine at every later step."""
    rows = run[0]["table"]
    assert rows[0]["step t"] == 0 and rows[0]["||w||"] == 0 and rows[0]["cos(w, w_svm)"] is None
    assert all(0 < r["cos(w, w_svm)"] <= 1 for r in rows[1:])
