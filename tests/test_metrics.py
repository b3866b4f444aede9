import numpy as np
import pandas as pd
import pytest

from kmnist_utils.stats import metrics


def test_perfect_and_known_scores():
    y = np.arange(10).repeat(3)
    perfect = metrics.classification_metrics(y, y)
    assert all(v == 1.0 for v in perfect.values())
    pred = y.copy()
    pred[:3] = 1  # all of class 0 predicted as class 1
    m = metrics.classification_metrics(y, pred)
    assert m["accuracy"] == pytest.approx(27 / 30)
    assert m["recall_macro"] == pytest.approx(0.9)
    assert m["precision_macro"] == pytest.approx((8 + 0.5) / 10)  # class 0 precision 0 (no predictions), class 1 = 3/6


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="equal length"):
        metrics.classification_metrics(np.zeros(3), np.zeros(4))


def test_confusion_orientation():
    cm = metrics.confusion(np.array([0, 0, 1]), np.array([0, 1, 1]))
    assert cm.shape == (10, 10) and cm[0, 0] == 1 and cm[0, 1] == 1 and cm[1, 1] == 1 and cm.sum() == 3


def test_per_class_report_rows():
    y = np.arange(10).repeat(2)
    report = metrics.per_class_report(y, y)
    assert list(report.index)[0] == "o (お)" and report["support"].sum() == 20


def test_summarize_seeds_and_paper_comparison():
    rows = pd.DataFrame(
        {"model": ["simple"] * 3, "accuracy": [0.93, 0.94, 0.95], "precision": 0.9, "recall": 0.9, "f1": 0.9}
    )
    summary = metrics.summarize_seeds(rows)
    assert summary.loc[0, "accuracy_mean"] == pytest.approx(0.94)
    assert summary.loc[0, "accuracy_std"] == pytest.approx(0.01)
    assert summary.loc[0, "n_seeds"] == 3
    shown = metrics.format_mean_std(summary)
    assert shown.loc[0, "accuracy"] == "0.9400 ± 0.0100"
    comparison = metrics.compare_with_paper(summary).set_index("metric")
    assert comparison.loc["accuracy", "paper"] == 0.934 and comparison.loc["accuracy", "paper_notebook"] == 0.9392
    assert comparison.loc["accuracy", "difference"] == pytest.approx(0.006)  # unrounded: 0.94 - 0.934
    # The prediction interval for one more run: 0.94 ± 4.303 * 0.01 * sqrt(4 / 3).
    assert comparison.loc["accuracy", "interval_low"] == pytest.approx(0.94 - 0.04969, abs=1e-5)
    assert comparison.loc["accuracy", "verdict"].startswith("reproduced: both inside")
    unreported = metrics.compare_with_paper(summary.assign(model="preact_resnet"))
    assert unreported.paper.isna().all() and (unreported.verdict == "").all()


def test_single_seed_has_no_std():
    rows = pd.DataFrame({"model": ["a"], "accuracy": [0.5], "precision": [0.5], "recall": [0.5], "f1": [0.5]})
    assert metrics.format_mean_std(metrics.summarize_seeds(rows)).loc[0, "accuracy"] == "0.5000"
