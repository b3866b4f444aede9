"""The bf16-vs-fp32 comparison: paired intervals and the verdict against the seed spread."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from kmnist_utils.stats.parity import compare_precisions, paired_interval, precision_verdict


def test_paired_interval_is_the_student_t_interval():
    d = np.array([0.001, -0.002, 0.0005])
    mean, low, high = paired_interval(d)
    half = student_t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert mean == pytest.approx(d.mean()) and (low, high) == pytest.approx((d.mean() - half, d.mean() + half))
    assert student_t.ppf(0.975, 2) == pytest.approx(4.303, abs=1e-3)  # three seeds: a wide interval
    with pytest.raises(ValueError, match="at least two"):
        paired_interval(np.array([0.1]))
    with pytest.raises(ValueError, match="level"):
        paired_interval(d, level=1.5)


def rows(differences: dict[str, list[float]], fp32: dict[str, list[float]]) -> pd.DataFrame:
    out = []
    for model, base in fp32.items():
        for seed, (acc, diff) in enumerate(zip(base, differences[model])):
            out += [{"model": model, "seed": seed, "precision_mode": "fp32", "accuracy": acc},
                    {"model": model, "seed": seed, "precision_mode": "bf16", "accuracy": acc + diff}]
    return pd.DataFrame(out)


def test_small_consistent_differences_are_within_the_seed_spread():
    fp32 = {"a": [0.950, 0.955, 0.960], "b": [0.970, 0.975, 0.965]}  # seed std 0.5 pt
    table = compare_precisions(rows({"a": [0.0001, -0.0001, 0.0], "b": [0.0, 0.0001, -0.0001]}, fp32))
    assert list(table.model) == ["a", "b", "all models"] and table.pairs.tolist() == [3, 3, 6]
    overall = table.set_index("model").loc["all models"]
    assert overall.fp32_seed_std == pytest.approx(0.005) and overall.within_seed_spread
    assert "is within the seed spread" in precision_verdict(table)


def test_a_consistent_loss_larger_than_the_spread_is_not():
    fp32 = {"a": [0.950, 0.951, 0.952], "b": [0.970, 0.971, 0.972]}  # seed std 0.1 pt
    table = compare_precisions(rows({"a": [-0.003, -0.0028, -0.0031], "b": [-0.0029, -0.003, -0.0027]}, fp32))
    overall = table.set_index("model").loc["all models"]
    assert overall.diff_high_pts < 0 and not overall.within_seed_spread
    verdict = precision_verdict(table)
    assert "not shown to be within the seed spread" in verdict and "trained in fp32" in verdict
    assert "-0.29" in verdict  # the mean difference in points, from the numbers


def test_missing_pairs_are_a_clear_error():
    table = rows({"a": [0.0, 0.0, 0.0]}, {"a": [0.9, 0.91, 0.92]})
    with pytest.raises(ValueError, match="needs a fp32 and a bf16 row.*ask for bf16 explicitly"):
        compare_precisions(table[table.precision_mode == "fp32"])
    with pytest.raises(ValueError, match="lack the columns"):
        compare_precisions(table.drop(columns="seed"))
