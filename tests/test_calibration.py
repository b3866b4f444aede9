import numpy as np
import pytest

from kmnist_utils.chapters import calibration
from kmnist_utils.stats import findings


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
    assert (
        row.threshold == 0.8 and row.test_coverage == 0.5 and row.test_routed_to_human == 0.5 and row.test_meets_target
    )


# --------------------------------------------------------------------------- certified routing


def test_binomial_p_value_matches_the_closed_form():
    # No error among n accepted: P(Bin(n, a) <= 0) = (1 - a)^n.
    assert calibration.binomial_p_value(0, 300, 0.01) == pytest.approx(0.99**300)
    assert calibration.binomial_p_value(0, 0, 0.01) == 1.0  # nothing accepted proves nothing
    # More errors -> weaker evidence.
    p = calibration.binomial_p_value(np.array([0, 1, 5]), np.array([1000, 1000, 1000]), 0.005)
    assert np.all(np.diff(p) > 0)


def test_zero_error_sample_size():
    n = calibration.zero_error_sample_size(0.999, 0.05)
    assert 0.999**n <= 0.05 < 0.999 ** (n - 1)
    assert n == 2995


def _synthetic_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidence uniform in [0.5, 1]; an item is right with probability equal to its confidence."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, n)
    return confidence, rng.uniform(size=n) < confidence


def test_certified_threshold_keeps_its_promise_on_fresh_data():
    """Over many calibration sets, the certified threshold's true accuracy is >= target in >= 1 - delta."""
    target, delta = 0.95, 0.05
    candidates = np.linspace(0.999, 0.5, 200)
    misses = 0
    for seed in range(200):
        confidence, correct = _synthetic_scores(2000, seed)
        t = calibration.certify_threshold(confidence, correct, target, candidates, delta)["threshold"]
        # True accuracy of items with confidence >= t is the mean of U(t, 1): (1 + t) / 2.
        if np.isfinite(t) and (1 + t) / 2 < target:
            misses += 1
    assert misses / 200 <= delta


def test_certify_stops_at_the_first_failure_and_reports_what_it_used():
    confidence = np.array([0.99] * 50 + [0.9] * 50 + [0.8] * 50)
    correct = np.array([True] * 50 + [True] * 50 + [False] * 50)
    out = calibration.certify_threshold(confidence, correct, 0.9, np.array([0.99, 0.9, 0.8]), delta=0.05)
    assert out["threshold"] == 0.9 and out["cal_accepted"] == 100 and out["cal_errors"] == 0
    assert out["p_value"] == pytest.approx(0.9**100)
    # A first candidate that fails ends the sequence: nothing is certified.
    none = calibration.certify_threshold(confidence, correct, 0.999, np.array([0.99, 0.9]), delta=0.05)
    assert none["threshold"] == np.inf and none["cal_accepted"] == 0


def test_certification_starts_where_this_part_could_pass_even_when_the_reference_was_more_confident():
    """The reference (validation) is more confident than the calibration and evaluation data (test): the
    first thresholds from reference quantiles accept few test items. Certification must still find
    thresholds with useful coverage, and keep its promise where it certifies."""
    rng = np.random.default_rng(0)
    n, classes = 4000, 10

    def scores(n, sharpness):
        labels = rng.integers(0, classes, n)
        logits = rng.normal(size=(n, classes))
        logits[np.arange(n), labels] += rng.uniform(0, sharpness, n)
        return logits, labels

    reference_logits, _ = scores(n, 16.0)  # validation: easier, more confident
    logits, labels = scores(n, 9.0)  # test: harder
    ref_conf = calibration.softmax(reference_logits).max(1)
    test_conf = calibration.softmax(logits).max(1)
    first_feasible = np.quantile(ref_conf, 1 - 0.15)  # what 15% of the reference accepts...
    assert (test_conf >= first_feasible).mean() < 0.06  # ...accepts far less of the shifted test data
    rows = calibration.certified_routing(logits, labels, reference_logits, 1.0, targets=(0.99,), splits=20)
    summary = calibration.summarize_certified_routing(rows).iloc[0]
    assert summary.share_certified >= 0.9 and summary.coverage_mean >= 0.2
    assert summary.share_meeting_when_certified >= 0.95 - 0.1  # the promise, with room for 20 splits
    assert (rows.eval_meets_target <= (rows.eval_coverage > 0)).all()  # met only on accepted images


def test_routing_everything_is_never_a_met_target():
    confidence, correct = _synthetic_scores(200, 0)
    rows = calibration.certified_routing(np.log(np.stack([confidence, 1 - confidence], 1)), (~correct).astype(int),
                                         np.zeros((10, 2)), 1.0, targets=(0.999,), splits=3)
    assert np.isinf(rows.threshold).all() and not rows.eval_meets_target.any()
    summary = calibration.summarize_certified_routing(rows).iloc[0]
    assert summary.share_certified == 0 and summary.share_meeting_target == 0
    verdict = findings.routing_verdict(0.999, summary.share_certified_and_missed, 0.05, summary.coverage_mean,
                                       summary.share_certified)
    assert "every image goes to a person" in verdict and "the target is not met" in verdict
    assert "consistent with" not in verdict


def test_certify_rejects_bad_input():
    c, ok = _synthetic_scores(10, 0)
    with pytest.raises(ValueError, match="target accuracy"):
        calibration.certify_threshold(c, ok, 1.0, np.array([0.9]))
    with pytest.raises(ValueError, match="delta"):
        calibration.certify_threshold(c, ok, 0.9, np.array([0.9]), delta=0)
    with pytest.raises(ValueError, match="highest threshold to the lowest"):
        calibration.certify_threshold(c, ok, 0.9, np.array([0.5, 0.9]))
    with pytest.raises(ValueError, match="differ in length"):
        calibration.certify_threshold(c, ok[:5], 0.9, np.array([0.9]))


def test_stratified_halves_are_disjoint_complete_and_seeded():
    labels = np.repeat(np.arange(4), 25)
    cal, ev = calibration.stratified_halves(labels, 0.4, seed=3)
    assert len(np.intersect1d(cal, ev)) == 0 and len(cal) + len(ev) == 100
    assert np.all(np.bincount(labels[cal]) == 10)
    assert np.array_equal(cal, calibration.stratified_halves(labels, 0.4, seed=3)[0])
    assert not np.array_equal(cal, calibration.stratified_halves(labels, 0.4, seed=4)[0])
    with pytest.raises(ValueError, match="calibration_share"):
        calibration.stratified_halves(labels, 1.0, seed=0)


def test_certified_routing_rows_and_summary():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 3000)
    logits = rng.normal(size=(3000, 10))
    logits[np.arange(3000), labels] += rng.uniform(0, 8, 3000)  # a mostly right classifier
    rows = calibration.certified_routing(logits, labels, logits[:1000], 1.0, targets=(0.95, 0.99), splits=5)
    assert len(rows) == 10 and set(rows.target_accuracy) == {0.95, 0.99}
    assert rows.eval_items.between(1490, 1510).all() and rows.eval_coverage.between(0, 1).all()
    summary = calibration.summarize_certified_routing(rows)
    assert list(summary.target_accuracy) == [0.95, 0.99] and summary.splits.eq(5).all()
    # The looser target accepts at least as much as the stricter one.
    assert summary.coverage_mean.iloc[0] >= summary.coverage_mean.iloc[1]


def test_routing_study_fits_on_validation_and_reports_both_parts():
    rng = np.random.default_rng(1)

    def part(n):
        labels = rng.integers(0, 10, n)
        logits = rng.normal(size=(n, 10)) * 3
        logits[np.arange(n), labels] += rng.uniform(0, 12, n)
        return logits, labels

    (lv, yv), (lt, yt) = part(2000), part(2000)
    study = calibration.routing_study(lv, yv, lt, yt, splits=4, delta=0.1, seed=2)
    assert study.temperature == pytest.approx(calibration.fit_temperature(lv, yv))
    assert set(study.accuracy) == {"validation", "test"}
    assert study.accuracy["test"] == pytest.approx((lt.argmax(1) == yt).mean())
    assert len(study.ece) == 4 and list(study.routing.target_accuracy) == list(calibration.ROUTING_TARGETS)
    assert len(study.certified) == 4 * len(calibration.ROUTING_TARGETS) and study.certified.delta.eq(0.1).all()
    assert len(study.validation_threshold_findings()) == 1 + len(calibration.ROUTING_TARGETS)
    assert len(study.certified_findings()) == 1 + 2 * len(calibration.ROUTING_TARGETS)  # real splits, simulation
    level = study.certified_findings()[0]
    assert level.startswith("Certification level:") and "delta = 0.1" in level and "over 4 random splits" in level


def scaling_summary(models: dict[str, tuple[float, list[float], list[float]]]):
    """``calibration_summary`` rows with a model column: per model its temperature and its ECE and NLL on
    validation before and after, then test before and after."""
    import pandas as pd

    return pd.DataFrame([{"model": model, "split": split, "scaling": scaling, "temperature": 1.0 if scaling == "before"
                          else t, "ece": e, "nll": n}
                         for model, (t, ece, nll) in models.items()
                         for (split, scaling), e, n in zip([("validation", "before"), ("validation", "after"),
                                                            ("test", "before"), ("test", "after")], ece, nll)])


def test_scaling_findings_say_when_the_validation_temperature_hurts_the_test_set():
    """The committed chapter-07 numbers: T = 0.81 fitted on validation makes seed 0's test ECE and NLL worse."""
    rows = scaling_summary({"single (seed 0)": (0.8116, [0.0043, 0.0015, 0.0048, 0.0075],
                                                [0.0271, 0.0256, 0.1054, 0.1104]),
                            "ensemble": (1.2, [0.02, 0.01, 0.03, 0.01], [0.2, 0.1, 0.3, 0.2])})
    worse, better = calibration.scaling_findings(rows)
    assert worse.startswith("single (seed 0): temperature 0.81 sharpens (T < 1)")
    assert "test ECE 0.0048 -> 0.0075 (worse)" in worse and "does not carry over" in worse
    assert "softens (T > 1)" in better and "(worse)" not in better and "carry over" not in better


def test_scaling_findings_say_when_ece_and_nll_disagree():
    """The release run's ensemble: scaling lowers test ECE but raises test NLL, so neither side is called the
    better calibrated one; and seed 0's ECE, 0.0046 before and after at four decimals, prints the digits
    that tell them apart."""
    rows = scaling_summary({"ensemble": (0.7241, [0.0053, 0.0013, 0.0082, 0.0025], [0.0188, 0.0166, 0.0695, 0.0725]),
                            "single (seed 0)": (0.7817, [0.0037, 0.0016, 0.004612, 0.004638],
                                                [0.0197, 0.0182, 0.0731, 0.0765])})
    mixed, worse = calibration.scaling_findings(rows)
    assert "test ECE 0.0082 -> 0.0025 (better), test NLL 0.0695 -> 0.0725 (worse)" in mixed
    assert "the two measures disagree" in mixed and "better calibrated" not in mixed
    assert "test ECE 0.00461 -> 0.00464 (worse)" in worse and "the unscaled probabilities are the better" in worse
    assert calibration.distinct_digits(0.5, 0.5) == ("0.5000", "0.5000")


def test_the_guarantee_holds_where_the_population_accuracy_is_known():
    """Simulated scores with a known accuracy curve: certified thresholds whose true accuracy misses the
    target stay within delta (with Monte Carlo room), while fresh evaluation samples of the same size miss
    more often among the certified trials: the evaluation check is stricter than the guarantee."""
    assert calibration.simulated_accuracy_above(0.0) == pytest.approx(50 / 51)
    table = calibration.simulate_guarantee(targets=(0.99,), calibration_items=5_000, trials=200, seed=1).iloc[0]
    assert table.share_certified > 0.7
    assert table.share_certified_and_violated <= 0.05 + 0.03  # delta plus Monte Carlo room at 200 trials
    assert table.share_eval_missed_when_certified > table.share_certified_and_violated
    line = findings.simulated_guarantee(0.99, 200, table.share_certified, table.share_certified_and_violated,
                                        table.share_eval_missed_when_certified, 0.05)
    assert "stricter than the guarantee" in line and ("within delta" in line or "above delta" in line)
