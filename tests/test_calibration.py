import numpy as np
import pytest

from kmnist_utils import calibration


def test_ece_by_hand():
    # Two items at confidence 0.9 (one right) and two at 0.6 (both right), 10 bins:
    # bin (0.8, 0.9]: |0.5 - 0.9| = 0.4 with weight 1/2; bin (0.5, 0.6]: |1 - 0.6| = 0.4 with weight 1/2.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    labels = np.array([0, 1, 0, 0])
    assert calibration.expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.4)


def test_perfectly_calibrated_has_zero_ece():
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert calibration.expected_calibration_error(probs, np.array([0, 1]), n_bins=5) == 0.0


def test_reliability_bins_cover_every_item():
    rng = np.random.default_rng(0)
    probs = calibration.softmax(rng.normal(size=(500, 10)) * 3)
    table = calibration.reliability_table(probs, rng.integers(0, 10, 500), n_bins=15)
    assert len(table) == 15 and table["count"].sum() == 500
    with pytest.raises(ValueError, match="n_bins"):
        calibration.reliability_table(probs, np.zeros(500), n_bins=0)


def test_temperature_recovers_a_known_scale():
    """Labels drawn from softmax(z / 2): the NLL-optimal temperature for logits z is about 2."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20_000, 10)) * 4
    p = calibration.softmax(z, temperature=2.0)
    labels = np.array([rng.choice(10, p=row) for row in p])
    assert calibration.fit_temperature(z, labels) == pytest.approx(2.0, rel=0.05)


def test_temperature_rejects_mismatched_input():
    with pytest.raises(ValueError, match="as many labels"):
        calibration.fit_temperature(np.zeros((3, 10)), np.zeros(2))


def test_threshold_selection():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert calibration.threshold_for_accuracy(conf, correct, 1.0) == 0.9  # top three all right
    assert calibration.threshold_for_accuracy(conf, correct, 0.8) == 0.7  # 4 of 5 accepted are right
    assert calibration.threshold_for_accuracy(conf, ~correct, 1.0) == np.inf  # nothing reaches it
    coverage, accuracy = calibration.accepted_stats(conf, correct, 0.9)
    assert (coverage, accuracy) == (0.5, 1.0)
    with pytest.raises(ValueError, match="target accuracy"):
        calibration.threshold_for_accuracy(conf, correct, 1.5)


def test_ties_are_accepted_together():
    conf = np.array([0.9, 0.9, 0.5])
    correct = np.array([True, False, True])
    assert calibration.threshold_for_accuracy(conf, correct, 1.0) == np.inf  # 0.9 admits a wrong one
    assert calibration.threshold_for_accuracy(conf, correct, 0.5) == 0.5


def test_risk_coverage_and_routing_table():
    conf = np.array([0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, False, True])
    curve = calibration.risk_coverage(conf, correct)
    assert curve.coverage.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert curve.accuracy.tolist() == pytest.approx([1, 1, 2 / 3, 0.75])
    table = calibration.routing_table(conf, correct, conf, correct, targets=(0.99,))
    row = table.iloc[0]
    assert row.threshold == 0.8 and row.test_coverage == 0.5 and row.test_routed_to_human == 0.5 and row.test_meets_target
