import numpy as np
import pytest

from kmnist_utils.chapters import errors
from kmnist_utils.stats import metrics


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


def test_random_sample_is_seeded_ordered_and_bounded():
    import pandas as pd

    rows = pd.DataFrame({"index": np.arange(100, 150)})
    sample = errors.random_sample(rows, 10, seed=1)
    assert len(sample) == 10 and sample.index.is_monotonic_increasing
    assert sample.equals(errors.random_sample(rows, 10, seed=1))
    assert not sample.equals(errors.random_sample(rows, 10, seed=2))
    assert len(errors.random_sample(rows, 500, seed=1)) == 50  # fewer rows than asked: all of them


def test_saliency_examples_take_right_then_wrong_answers():
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    y_pred = np.array([0, 1, 2, 3, 9, 9, 9, 7])
    shown = errors.saliency_examples(y_true, y_pred, np.array([4, 5, 6]), per_kind=2, seed=0)
    assert list(shown.columns) == ["image", "label"] and len(shown) == 4
    assert all(y_pred[i] == y_true[i] for i in shown.image[:2]) and list(shown.image[2:]) == [4, 5]
    assert shown.label[0].startswith("right\ntrue ") and shown.label[2].startswith("WRONG\ntrue ")
    with pytest.raises(ValueError, match="need 3 right and 3 wrong"):
        errors.saliency_examples(y_true, y_pred, np.array([4, 5]), per_kind=3, seed=0)
