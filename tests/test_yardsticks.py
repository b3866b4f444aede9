"""The yardsticks, the paper's two runs as references, and the rows the paper's code implies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kmnist_utils import references
from kmnist_utils.stats import selection, yardsticks


def test_the_t_quantile_and_the_binomial_floor():
    assert yardsticks.t_quantile(2) == pytest.approx(4.303, abs=1e-3)
    assert yardsticks.binomial_se(0.97, 10_000) == pytest.approx(0.0017, abs=1e-4)
    with pytest.raises(ValueError, match="accuracy in"):
        yardsticks.binomial_se(1.2, 10)


def test_the_prediction_interval_for_one_more_run():
    values = [0.940, 0.943, 0.946]
    interval = yardsticks.prediction_interval(values)
    half = 4.3027 * 0.003 * math.sqrt(1 + 1 / 3)
    assert (interval.low, interval.high) == pytest.approx((0.943 - half, 0.943 + half), abs=1e-5)
    assert yardsticks.prediction_interval([0.94]) is None
    summary = yardsticks.prediction_interval_summary(0.943, 0.003, 3)
    assert (summary.low, summary.high) == pytest.approx((interval.low, interval.high))
    assert yardsticks.prediction_interval_summary(0.943, float("nan"), 3) is None


def test_the_binomial_floor_is_under_every_std():
    tight = yardsticks.prediction_interval([0.9651, 0.9652, 0.9653], n_images=10_000)
    assert tight.floored and tight.used_std == pytest.approx(yardsticks.binomial_se(0.9652, 10_000))
    assert tight.holds(0.970) and not yardsticks.prediction_interval([0.9651, 0.9652, 0.9653]).holds(0.970)
    loose = yardsticks.prediction_interval([0.93, 0.94, 0.95], n_images=10_000)
    assert not loose.floored and loose.used_std == pytest.approx(0.01)
    assert yardsticks.prediction_interval([0.5, 0.5], floor=0.1).used_std == 0.1


def test_the_paired_interval_pairs_values_seed_by_seed():
    a, b = [0.9640, 0.9650, 0.9665], [0.9676, 0.9695, 0.9650]
    paired = yardsticks.paired_interval(a, b)
    diff = np.subtract(a, b)
    half = 4.3027 * diff.std(ddof=1) / math.sqrt(3)
    assert (paired.mean, paired.low, paired.high) == pytest.approx((diff.mean(), diff.mean() - half,
                                                                   diff.mean() + half), abs=1e-6)
    assert yardsticks.paired_interval([0.9], [0.8]) is None
    with pytest.raises(ValueError, match="one of each per seed"):
        yardsticks.paired_interval([0.9, 0.8], [0.8])


def test_the_grids_noise_from_two_runs_of_it():
    ours = [0.99, 0.985, 0.98, 0.975]
    other = [0.98, 0.975, 0.98, 0.965]  # ours is 1 pt higher, except at one point
    diff, half = yardsticks.grid_gap_noise(ours, other)
    assert diff.tolist() == pytest.approx([0.01, 0.01, 0.0, 0.01])
    assert half == pytest.approx(yardsticks.t_quantile(3) * np.std(diff, ddof=1))
    # A shift common to every point cancels: only how the points move against each other counts.
    assert yardsticks.grid_gap_noise(ours, [v - 0.05 for v in ours])[1] == pytest.approx(0.0, abs=1e-12)
    assert yardsticks.grid_gap_noise(ours[:2], other[:2]) is None


def test_the_paper_notebooks_grid_is_compared_point_by_point():
    grid = pd.DataFrame([{"learning_rate": lr, "dropout": d, "batch_size": b, "val_acc": acc + 0.001}
                         for (lr, d, b), acc in references.NOTEBOOK_GRID.items()])
    diff, half = selection.grid_noise(grid.sample(frac=1, random_state=0))
    assert diff == pytest.approx(np.full(12, 0.001)) and half == pytest.approx(0.0, abs=1e-9)
    assert selection.grid_noise(grid.iloc[:6]) is None


def test_both_of_the_papers_runs_are_on_record_with_their_source():
    assert set(references.PAPER_RUNS) == set(references.SOURCES) == set(references.ROUNDINGS)
    assert references.reported_runs("improved") == {"Table I": 0.967, "the paper's notebook": 0.972}
    assert references.reported_runs("preact_resnet") == {}
    assert references.largest_run_difference() == pytest.approx(0.007)
    assert references.NOTEBOOK_GRID[tuple(references.NOTEBOOK_TUNED_CONFIG.values())] == max(
        references.NOTEBOOK_GRID.values())  # the notebook's grid picked what it retrained
    assert list(references.PICK_PROTOCOLS.values()) == [references.TUNED_CONFIG, references.NOTEBOOK_TUNED_CONFIG]


def test_the_logistic_regression_scaler_sees_every_training_image():
    """The paper's code fitted StandardScaler on all 60,000 training images and drew its 10,000 from them."""
    from kmnist_utils.chapters import baselines

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    labels = np.arange(60) % 10
    model = baselines.fit_logistic_regression(images, labels, size=20, seed=0, max_iter=50)
    scaler = model.steps[0][1]
    assert scaler.n_samples_seen_ == 60
    np.testing.assert_allclose(scaler.mean_, baselines.flatten(images).mean(axis=0), rtol=1e-5)


def test_the_heatmap_marks_both_of_the_papers_picks_and_says_one_seed():
    import matplotlib.pyplot as plt

    from kmnist_utils.products import plots

    grid = pd.DataFrame([{"learning_rate": lr, "dropout": d, "batch_size": b, "val_acc": acc, "epochs": 3, "seed": 0}
                         for (lr, d, b), acc in references.NOTEBOOK_GRID.items()])
    fig = plots.plot_grid_heatmap(grid, grid.iloc[4], {"the paper's text": references.TUNED_CONFIG,
                                                       "the paper's notebook": references.NOTEBOOK_TUNED_CONFIG})
    title = fig._suptitle.get_text()
    assert "one seed (seed 0)" in title and "white dashed: the paper's text" in title
    assert "white dotted: the paper's notebook" in title
    styles = {p.get_linestyle() for ax in fig.axes for p in ax.patches}
    assert {"--", ":"} <= styles
    plt.close(fig)
    with pytest.raises(ValueError, match="at most 2"):
        plots.plot_grid_heatmap(grid, None, {str(i): references.TUNED_CONFIG for i in range(3)})
