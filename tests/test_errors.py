import numpy as np
import pytest

from kmnist_utils import errors, metrics


def test_misclassified_rows_sorted_by_confidence():
    y_true = np.array([0, 1, 2, 3])
    y_pred = np.array([0, 2, 1, 3])
    probs = np.full((4, 10), 0.05)
    probs[1, 2], probs[2, 1] = 0.6, 0.9
    table = errors.misclassified(y_true, y_pred, probs)
    assert table["index"].tolist() == [2, 1]
    assert table.loc[0, "true"] == 2 and table.loc[0, "predicted"] == 1 and table.loc[0, "confidence"] == 0.9


def test_confused_pairs_counts_both_directions():
    y_true = np.array([3, 3, 3, 2, 5, 5])
    y_pred = np.array([2, 2, 3, 3, 6, 5])
    pairs = errors.confused_pairs(metrics.confusion(y_true, y_pred), top=2)
    first = pairs.iloc[0]
    assert (first.a, first.b, first.a_as_b, first.b_as_a, first.total) == (2, 3, 1, 2, 3)
    assert first.class_a == "su (す)" and pairs.iloc[1].total == 1
    with pytest.raises(ValueError, match="10x10"):
        errors.confused_pairs(np.zeros((3, 3)))
