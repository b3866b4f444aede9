"""Chapter 07's table names and the sentences that judge its test scores by the published KMNIST results
and its targets (``references``; pandas and ``findings`` only: the report reads them without the training
stack, as ``tests/test_package.py`` checks)."""

from __future__ import annotations

import pandas as pd

from kmnist_utils.references import (
    AIM_ENSEMBLE,
    AIM_SINGLE,
    BEST_ENSEMBLE,
    BEST_SINGLE,
    DATASET_PAPER_BEST_SINGLE,
    DATASET_PAPER_ROWS,
    TARGET_ENSEMBLE,
    TARGET_SINGLE,
    TEST_IMAGES,
)
from kmnist_utils.stats import findings
from kmnist_utils.stats.yardsticks import prediction_interval

BEYOND_PROTOCOL = "ours: chapter 07's recipe"  # Table I's protocol column for chapter 07's rows
BEYOND_TABLE1 = "beyond_vs_paper"  # chapter 07's Table I rows; absent from runs before it existed
BEYOND_TEST = "beyond_test"


def test_findings(test: pd.DataFrame, tuned_seeds: pd.DataFrame, headline: bool = False) -> list[str]:
    """Targets, published anchors and the TunedImprovedCNN, each judged from the numbers of this run
    (``headline``: only the PreAct ResNet against the TunedImprovedCNN, as the README states it).

    ``test``: chapter 07's test table (rows ``single`` per seed and one ``ensemble``); ``tuned_seeds``:
    chapter 04's per-seed table of the TunedImprovedCNN.
    """
    single = test[test.model == "single"].accuracy
    ensemble = float(test[test.model == "ensemble"].accuracy.iloc[0])
    n = len(single)
    single_target = findings.target_verdict(f"Single model, mean test accuracy over {n} seed(s)",
                                            float(single.mean()), TARGET_SINGLE)
    ensemble_target = findings.target_verdict(f"Ensemble of {n} seed(s), test accuracy", ensemble, TARGET_ENSEMBLE)
    versus_tuned = findings.paired_comparison("PreAct ResNet", _by_seed(test[test.model == "single"]),
                                              "TunedImprovedCNN", _by_seed(tuned_seeds))
    if headline:  # the targets are the report's own, not findings about the paper's questions
        return [versus_tuned]
    return [
        single_target,
        findings.target_verdict(f"Single model, mean test accuracy over {n} seed(s), against the aim",
                                float(single.mean()), AIM_SINGLE),
        findings.versus_reference("Single model, test accuracy", single, DATASET_PAPER_ROWS["PreActResNet-18"],
                                  "the dataset paper's PreActResNet-18's"),
        findings.versus_reference("Single model, test accuracy", single, DATASET_PAPER_BEST_SINGLE,
                                  "the dataset paper's best single model's (PreActResNet-18 + manifold mixup)"),
        ensemble_target,
        findings.target_verdict(f"Ensemble of {n} seed(s), test accuracy, against the aim", ensemble, AIM_ENSEMBLE),
        f"Ensemble of {n} seed(s): {ensemble:.4f}, {findings.points(ensemble - BEST_ENSEMBLE)} against the best "
        f"published ensemble's {BEST_ENSEMBLE:.4g} (and {findings.points(ensemble - BEST_SINGLE)} against the best "
        f"published single model's {BEST_SINGLE:.4g}, 200 epochs on a GPU); {_ensemble_spread(single)}.",
        versus_tuned,
    ]


def _by_seed(rows: pd.DataFrame) -> pd.Series:
    """Accuracy indexed by seed (chapter 07's test table writes its seeds as text)."""
    return pd.Series(rows.accuracy.to_numpy(), index=rows.seed.astype(int).to_numpy())


def _ensemble_spread(single: pd.Series) -> str:
    """One ensemble is one number: say that no spread was measured, and where one more single model would fall."""
    interval = prediction_interval(single, TEST_IMAGES)
    head = "one ensemble, so no ensemble-to-ensemble spread was measured"
    if interval is None:
        return head + " (and one member, so no seed spread either)"
    return head + (f"; for scale, one more of its members would fall in {interval.text()} (95% prediction interval "
                   f"over {len(single)} seeds)")
