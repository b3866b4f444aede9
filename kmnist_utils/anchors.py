"""Published KMNIST results beyond the paper, chapter 07's targets against them, and the sentences that
judge a run's test scores by them (pandas and ``findings`` only: the report reads them without the
training stack)."""

from __future__ import annotations

import pandas as pd

from kmnist_utils import findings

# Public results on KMNIST's 10,000 test images (the dataset's README; its first release, ours is
# the current one): the best single model (shake-shake-26 2x96d with cutout, 200 epochs, median of
# 3 runs) and the best ensemble.
BEST_SINGLE = 0.9934
BEST_ENSEMBLE = 0.9939
TARGET_SINGLE = 0.9940  # mean over 3 seeds
TARGET_ENSEMBLE = 0.9950
BEYOND_TABLE1 = "beyond_vs_paper"  # chapter 07's Table I rows; absent from runs before it existed
BEYOND_TEST = "beyond_test"


def test_findings(test: pd.DataFrame, tuned_seeds: pd.DataFrame) -> list[str]:
    """Targets, published anchors and the TunedImprovedCNN, each judged from the numbers of this run.

    ``test``: chapter 07's test table (rows ``single`` per seed and one ``ensemble``); ``tuned_seeds``:
    chapter 04's per-seed table of the TunedImprovedCNN.
    """
    single = test[test.model == "single"].accuracy
    ensemble = float(test[test.model == "ensemble"].accuracy.iloc[0])
    n = len(single)
    return [
        findings.target_verdict(f"Single model, mean test accuracy over {n} seed(s)", float(single.mean()),
                                TARGET_SINGLE),
        findings.versus_reference("Single model, test accuracy", single, BEST_SINGLE,
                                  "the best published single model's"),
        findings.target_verdict(f"Ensemble of {n} seed(s), test accuracy", ensemble, TARGET_ENSEMBLE),
        f"Ensemble of {n} seed(s): {ensemble:.4f}, {findings.points(ensemble - BEST_ENSEMBLE)} against the best "
        f"published ensemble's {BEST_ENSEMBLE:.4g}.",
        findings.compare_groups("PreAct ResNet", single, "TunedImprovedCNN", tuned_seeds.accuracy),
    ]
