"""The train/test shift measurement and the validation-to-test gap table (synthetic images)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from kmnist_utils.chapters import shift


def faint_and_bright(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training images of ten classes, and test images drawn the same way but brighter."""
    rng = np.random.default_rng(seed)
    x_train = (rng.random((n * 3, 28, 28)) * 120).astype(np.uint8)
    y_train = np.repeat(np.arange(10), n * 3 // 10)
    x_test = (rng.random((n, 28, 28)) * 120 + 60).astype(np.uint8)
    return x_train, y_train, x_test


def test_stratified_samples_are_disjoint_and_balanced():
    labels = np.repeat(np.arange(10), 12)
    a, b, c = shift.stratified_sample(labels, 4, 3, seed=0)
    assert not (set(a) & set(b) or set(a) & set(c) or set(b) & set(c))
    for sample in (a, b, c):
        assert np.bincount(labels[sample], minlength=10).tolist() == [4] * 10
    with pytest.raises(ValueError, match="class 0 has 12 training images; 3 disjoint samples of 5 need 15"):
        shift.stratified_sample(labels, 5, 3, seed=0)


def test_auc_is_the_chance_a_positive_outscores_a_negative():
    domain = np.array([1, 1, 0, 0])
    assert shift.auc(np.array([0.9, 0.8, 0.2, 0.1]), domain) == 1.0
    assert shift.auc(np.array([0.1, 0.2, 0.8, 0.9]), domain) == 0.0
    assert shift.auc(np.full(4, 0.5), domain) == 0.5  # ties count half
    rng = np.random.default_rng(1)
    scores, labels = rng.random(300), rng.integers(0, 2, 300)
    assert shift.auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    low, high = shift.auc_interval(scores, labels, seed=0, draws=200)
    assert low < shift.auc(scores, labels) < high
    with pytest.raises(ValueError, match="both domains"):
        shift.auc(scores, np.ones(300, int))


def test_the_detector_finds_a_shift_and_not_one_in_the_control():
    x_train, y_train, x_test = faint_and_bright(200)
    measured = shift.measure(x_train, y_train, x_test, seed=0, rounds=20)
    assert [m.name for m in measured] == [shift.TEST_VS_TRAIN, shift.CONTROL]
    assert all(len(m.images) == 400 and (m.domain == 1).sum() == 200 for m in measured)
    table = shift.auc_table(measured, seed=0)
    assert (table.detector == shift.detector(20)).all() and "(20 rounds)" in shift.detector(20)
    rows = table.set_index("comparison")
    assert rows.loc[shift.TEST_VS_TRAIN].auc > 0.95
    assert rows.loc[shift.CONTROL].ci95_low < 0.5 < rows.loc[shift.CONTROL].ci95_high
    assert shift.shifted(table)
    assert "a measurably different population" in shift.shift_findings(table)[-1]
    with pytest.raises(ValueError, match="too few images to measure a shift"):
        shift.measure(x_train[:20], y_train[:20], x_test, seed=0)


def _aucs(test: tuple[float, float, float], control: tuple[float, float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"comparison": name, "images_each": 1000, "auc": a, "ci95_low": lo, "ci95_high": hi}
                         for name, (a, lo, hi) in ((shift.TEST_VS_TRAIN, test), (shift.CONTROL, control))])


def test_shift_findings_judge_the_test_set_against_the_control():
    overlapping = _aucs((0.53, 0.50, 0.56), (0.51, 0.48, 0.54))
    assert "no difference between the populations is measurable" in shift.shift_findings(overlapping)[-1]
    assert not shift.shifted(overlapping)
    broken = _aucs((0.8, 0.78, 0.82), (0.6, 0.57, 0.63))
    assert "cannot be trusted" in shift.shift_findings(broken)[-1] and not shift.shifted(broken)
    clear = shift.shift_findings(_aucs((0.8, 0.78, 0.82), (0.5, 0.47, 0.53)))
    assert clear[0].startswith("official test vs training: AUC 0.800 (95% interval 0.780 to 0.820, 1,000 images")


def test_image_features_measure_ink_and_its_box():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 10:14, 5:11] = 255
    row = shift.image_features(image).iloc[0]
    assert row["share of ink pixels"] == pytest.approx(24 / 784)
    assert row["stroke brightness"] == pytest.approx(1.0)
    assert (row["ink height (px)"], row["ink width (px)"]) == (4, 6)
    assert (row["ink centre row (px)"], row["ink centre column (px)"]) == pytest.approx((11.5, 7.5))
    blank = shift.image_features(np.zeros((1, 28, 28), np.uint8)).iloc[0]
    assert blank["ink height (px)"] == 0 and blank["stroke brightness"] == 0


def test_feature_table_names_what_moves_and_the_control_does_not():
    x_train, y_train, x_test = faint_and_bright(200)
    measured = shift.measure(x_train, y_train, x_test, seed=0, rounds=5)
    table = shift.feature_table(measured).set_index("statistic")
    assert table.loc["mean brightness", "std_difference"] > 5
    assert abs(table.loc["mean brightness", "control_std_difference"]) < 0.5
    top = shift.feature_findings(table.reset_index(), top=1)[0]
    assert top.split(":")[0] in {"mean brightness", "stroke brightness", "share of ink pixels"}


def test_extremes_take_the_surest_images_of_each_side():
    domains = shift.Domains("t", np.zeros((6, 28, 28)), np.array([1, 1, 1, 0, 0, 0]),
                            np.array([0.9, 0.2, 0.6, 0.8, 0.1, 0.3]), rounds=5)
    found = shift.extremes(domains, count=2)
    assert found["most test-like test images"].tolist() == [0, 2]
    assert found["most training-like training images"].tolist() == [4, 5]
    assert found["most test-like training images"].tolist() == [3, 5]


def test_gap_table_and_whether_validation_orders_models_as_test_does():
    runs = {"a": pd.DataFrame({"seed": [0, 1], "val_acc": [0.99, 0.98], "test_acc": [0.97, 0.97]}),
            "b": pd.DataFrame({"seed": [0], "val_acc": [0.95], "test_acc": [0.94]}),
            "c": pd.DataFrame({"seed": [0], "val_acc": [0.96], "test_acc": [0.935]})}
    table = shift.validation_test_gaps(runs).set_index("model")
    assert table.loc["a"].gap_mean == pytest.approx(0.015) and table.loc["a"].gap_std == pytest.approx(0.00707, 1e-3)
    assert table.loc["b"].gap_std == 0.0 and table.loc["b"].seeds == 1
    agree, differ = shift.order_agreement(table.reset_index())
    assert agree == 2 and differ == [("b", "c")]
    lines = shift.gap_findings(table.reset_index(), shifted=True)
    assert lines[0].startswith("Validation accuracy is 1.00 to 2.50 pt above test accuracy across the 3 models")
    assert lines[1] == "Validation orders 2 of 3 pairs of models as the test set does; it orders otherwise: b and c."
    assert "a different population" in lines[2]
    assert "not settled" in shift.gap_findings(table.reset_index(), shifted=False)[2]
