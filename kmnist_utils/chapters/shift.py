"""Is KMNIST's official test set the population its training set comes from? A classifier is trained to
tell test images from training images; its out-of-fold AUC, with a bootstrap interval, is set beside the
same measurement on two halves of the training set (the control, where the answer is known to be no).
Then every model's validation accuracy beside its test accuracy: how far validation, drawn from the
training images, overstates the test set, and whether it still orders the models as the test set does.

No test label is used: the training sample is stratified by its own labels to the test set's size, and
the detector sees images only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata

CLASSES = 10
BOOTSTRAP = 1000
AUC_TABLE = "shift_auc"
GAP_TABLE = "shift_validation_test_gaps"
INK = 128  # a pixel at or above this is ink: KMNIST strokes are bright on black


@dataclass(frozen=True)
class Domains:
    """Images of two populations (``first`` labelled 1, ``second`` 0) and the detector's out-of-fold
    probability that each image belongs to ``first``."""

    name: str
    images: np.ndarray
    domain: np.ndarray
    scores: np.ndarray
    rounds: int  # the detector's boosting rounds


def detector(rounds: int) -> str:
    """The detector as the AUC table names it."""
    return f"gradient-boosted trees on the 784 pixels ({rounds} rounds), 2-fold out-of-fold scores"


def stratified_sample(labels: np.ndarray, per_class: int, groups: int, seed: int) -> list[np.ndarray]:
    """``groups`` disjoint index sets, each with ``per_class`` images of every class, drawn without
    replacement."""
    rng = np.random.default_rng(seed)
    picked: list[list[np.ndarray]] = [[] for _ in range(groups)]
    for c in range(CLASSES):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class * groups:
            raise ValueError(f"class {c} has {len(members)} training images; {groups} disjoint samples of "
                             f"{per_class} need {per_class * groups}. Use a larger train subset.")
        chosen = rng.choice(members, per_class * groups, replace=False)
        for g in range(groups):
            picked[g].append(chosen[g * per_class:(g + 1) * per_class])
    return [np.sort(np.concatenate(p)) for p in picked]


def out_of_fold_scores(images: np.ndarray, domain: np.ndarray, seed: int, folds: int = 2,
                       rounds: int = 200) -> np.ndarray:
    """Each image's probability of domain 1 from a detector that never saw it (k-fold cross-fitting)."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # here: the report's sentences need no sklearn
    from sklearn.model_selection import StratifiedKFold  # (nor does anything else of this module)

    features = images.reshape(len(images), -1).astype(np.float32) / 255.0
    scores = np.empty(len(images), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, score_rows in splitter.split(features, domain):
        detector = HistGradientBoostingClassifier(max_iter=rounds, early_stopping=False, random_state=seed)
        detector.fit(features[fit_rows], domain[fit_rows])
        scores[score_rows] = detector.predict_proba(features[score_rows])[:, 1]
    return scores


def auc(scores: np.ndarray, domain: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random domain-1 image scores above a random domain-0
    image (ties count half)."""
    positive = domain == 1
    n1, n0 = int(positive.sum()), int((~positive).sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("the AUC needs images of both domains")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_interval(scores: np.ndarray, domain: np.ndarray, seed: int, draws: int = BOOTSTRAP) -> tuple[float, float]:
    """95% percentile bootstrap interval of the AUC, resampling the images of each domain."""
    rng = np.random.default_rng(seed)
    ones, zeros = np.flatnonzero(domain == 1), np.flatnonzero(domain == 0)
    values = []
    for _ in range(draws):
        rows = np.concatenate([rng.choice(ones, len(ones)), rng.choice(zeros, len(zeros))])
        values.append(auc(scores[rows], domain[rows]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def detect(name: str, first: np.ndarray, second: np.ndarray, seed: int, rounds: int = 200) -> Domains:
    """The detector's out-of-fold scores on ``first`` (domain 1) against ``second`` (domain 0)."""
    images = np.concatenate([first, second])
    domain = np.concatenate([np.ones(len(first), np.int64), np.zeros(len(second), np.int64)])
    return Domains(name, images, domain, out_of_fold_scores(images, domain, seed, rounds=rounds), rounds)


TEST_VS_TRAIN = "official test vs training"
CONTROL = "two halves of the training set (control)"


def measure(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int,
            rounds: int = 200) -> list[Domains]:
    """The test set against as many training images (stratified by class), and the control: two disjoint
    training samples of the same size. Three disjoint training samples, so no image is in two
    comparisons. Where the training set is too small for three samples of the test set's size (test
    profiles), every sample shrinks alike."""
    smallest = int(np.bincount(y_train, minlength=CLASSES).min())
    per_class = min(len(x_test) // CLASSES, smallest // 3)
    train, half_a, half_b = stratified_sample(y_train, per_class, 3, seed)
    if per_class < 1:
        raise ValueError(f"too few images to measure a shift: {len(x_test)} test images, {smallest} training "
                         "images in the smallest class (three disjoint samples are drawn from each class)")
    return [detect(TEST_VS_TRAIN, x_test[:per_class * CLASSES], x_train[train], seed, rounds),
            detect(CONTROL, x_train[half_a], x_train[half_b], seed, rounds)]


def auc_table(measured: list[Domains], seed: int) -> pd.DataFrame:
    """One row per comparison: images per side, AUC and its 95% bootstrap interval, the detector."""
    rows = []
    for m in measured:
        low, high = auc_interval(m.scores, m.domain, seed)
        rows.append({"comparison": m.name, "images_each": int((m.domain == 1).sum()), "auc": auc(m.scores, m.domain),
                     "ci95_low": low, "ci95_high": high, "detector": detector(m.rounds)})
    return pd.DataFrame(rows)


def shift_findings(table: pd.DataFrame) -> list[str]:
    """Whether the detector tells the test set from training images, judged against the control."""
    rows = table.set_index("comparison")
    test, control = rows.loc[TEST_VS_TRAIN], rows.loc[CONTROL]
    said = [f"{name}: AUC {row.auc:.3f} (95% interval {row.ci95_low:.3f} to {row.ci95_high:.3f}, "
            f"{int(row.images_each):,} images a side)." for name, row in ((TEST_VS_TRAIN, test), (CONTROL, control))]
    if control.ci95_low > 0.5:
        return said + ["The control's interval excludes 0.5: the detector finds differences where there are none, "
                       "so its reading of the test set cannot be trusted."]
    if test.ci95_low > control.ci95_high:
        verdict = (f"The detector tells official test images from training images (AUC {test.auc:.3f}) far better "
                   f"than two halves of the training set ({control.auc:.3f}), and the intervals do not overlap: "
                   "the test set is a measurably different population from the one validation is drawn from.")
    else:
        verdict = ("The detector does no better on the test set than on two halves of the training set (the "
                   "intervals overlap): no difference between the populations is measurable here.")
    return said + [verdict]


def image_features(images: np.ndarray) -> pd.DataFrame:
    """Per image: how much ink (mean brightness, share of ink pixels), how bright the strokes are, the
    height and width of the ink's bounding box and the ink's centre (intensity-weighted), in pixels."""
    x = images.astype(np.float64) / 255.0
    ink = images >= INK
    rows_any, cols_any = ink.any(2), ink.any(1)
    size = images.shape[1]

    def extent(any_ink: np.ndarray) -> np.ndarray:
        first = np.where(any_ink.any(1), any_ink.argmax(1), 0)
        last = np.where(any_ink.any(1), size - 1 - any_ink[:, ::-1].argmax(1), -1)
        return (last - first + 1).astype(np.float64)

    mass = x.sum((1, 2)).clip(1e-9)
    grid = np.arange(size, dtype=np.float64)
    return pd.DataFrame({
        "mean brightness": x.mean((1, 2)),
        "share of ink pixels": ink.mean((1, 2)),
        "stroke brightness": np.where(ink.any((1, 2)), (x * ink).sum((1, 2)) / ink.sum((1, 2)).clip(1), 0.0),
        "ink height (px)": extent(rows_any),
        "ink width (px)": extent(cols_any),
        "ink centre row (px)": (x.sum(2) * grid).sum(1) / mass,
        "ink centre column (px)": (x.sum(1) * grid).sum(1) / mass,
    })


def standardised_difference(first: pd.DataFrame, second: pd.DataFrame) -> pd.Series:
    """(mean of ``first`` - mean of ``second``) / pooled standard deviation, per column (Cohen's d)."""
    pooled = np.sqrt((first.var(ddof=1) + second.var(ddof=1)) / 2).replace(0, np.nan)
    return ((first.mean() - second.mean()) / pooled).fillna(0.0)


def feature_table(measured: list[Domains]) -> pd.DataFrame:
    """Each image statistic's mean on either side of the test comparison, its standardised difference, and
    the same difference in the control: which simple property of the images moves, and by how much."""
    test, control = measured
    frames = {m.name: (image_features(m.images[m.domain == 1]), image_features(m.images[m.domain == 0]))
              for m in (test, control)}
    first, second = frames[test.name]
    table = pd.DataFrame({"test_mean": first.mean(), "train_mean": second.mean(),
                          "std_difference": standardised_difference(first, second),
                          "control_std_difference": standardised_difference(*frames[control.name])})
    return table.rename_axis("statistic").reset_index()


def feature_findings(table: pd.DataFrame, top: int = 2) -> list[str]:
    """The statistics that differ most between test and training images, against the control's."""
    ranked = table.reindex(table.std_difference.abs().sort_values(ascending=False).index).head(top)
    largest_control = float(table.control_std_difference.abs().max())
    return [f"{row.statistic}: {row.test_mean:.3f} on test against {row.train_mean:.3f} on training images, "
            f"a standardised difference of {row.std_difference:+.2f} (the control's largest on any statistic: "
            f"{largest_control:.2f})." for row in ranked.itertuples()]


def extremes(measured: Domains, count: int = 10) -> dict[str, np.ndarray]:
    """Indices into ``measured.images``: the test images the detector finds most test-like, the training
    images it finds most training-like, and the training images it finds most test-like."""
    test_rows, train_rows = np.flatnonzero(measured.domain == 1), np.flatnonzero(measured.domain == 0)
    by_score = np.argsort(-measured.scores, kind="stable")
    order_test = by_score[np.isin(by_score, test_rows)]
    order_train = by_score[np.isin(by_score, train_rows)]
    return {"most test-like test images": order_test[:count],
            "most training-like training images": order_train[::-1][:count],
            "most test-like training images": order_train[:count]}


def extremes_of(measured: list[Domains], count: int = 10) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The test comparison's images, scores and ``extremes``: what ``plots.plot_domain_extremes`` draws."""
    test = measured[0]
    return test.images, test.scores, extremes(test, count)


def validation_test_gaps(runs: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Per model (its runs: columns ``seed``, ``val_acc``, ``test_acc``): the mean validation and test accuracy
    over seeds, and the gap (validation - test) as mean and sample std over seeds (0 with one seed)."""
    rows = []
    for model, frame in runs.items():
        gap = frame.val_acc - frame.test_acc
        rows.append({"model": model, "seeds": len(frame), "val_mean": float(frame.val_acc.mean()),
                     "test_mean": float(frame.test_acc.mean()), "gap_mean": float(gap.mean()),
                     "gap_std": float(gap.std(ddof=1)) if len(frame) > 1 else 0.0,
                     "test_std": float(frame.test_acc.std(ddof=1)) if len(frame) > 1 else 0.0})
    return pd.DataFrame(rows)


def order_agreement(table: pd.DataFrame) -> tuple[int, list[tuple[str, str]]]:
    """How many pairs of models validation orders as the test set does (by their means), and the pairs it
    orders otherwise."""
    agree, differ = 0, []
    for a, b in combinations(table.itertuples(), 2):
        if np.sign(a.val_mean - b.val_mean) == np.sign(a.test_mean - b.test_mean):
            agree += 1
        else:
            differ.append((a.model, b.model))
    return agree, differ


def gap_findings(table: pd.DataFrame, shifted: bool) -> list[str]:
    """How large the validation-to-test gap is, whether validation orders the models as test does, and what
    that means for choosing on validation (``shifted``: the detector found the test set different)."""
    low, high = table.gap_mean.min(), table.gap_mean.max()
    lines = [f"Validation accuracy is {low * 100:.2f} to {high * 100:.2f} pt above test accuracy across the "
             f"{len(table)} models (mean over each model's seeds); the largest seed std of a gap is "
             f"{table.gap_std.max() * 100:.2f} pt."]
    pairs = len(table) * (len(table) - 1) // 2
    if pairs:
        agree, differ = order_agreement(table)
        listed = "; ".join(f"{a} and {b}" for a, b in differ)
        lines.append(f"Validation orders {agree} of {pairs} pairs of models as the test set does"
                     + (f"; it orders otherwise: {listed}." if differ else "."))
    cause = ("the test set is a different population (above)" if shifted
             else "no population difference was measured, so the gap's cause is not settled here")
    lines.append(f"What this means: validation measures accuracy on the training set's population, and {cause}. "
                 f"It overstates test accuracy by {low * 100:.1f}-{high * 100:.1f} pt depending on the model, so two "
                 f"models closer on validation than that range ({(high - low) * 100:.1f} pt) may rank the other way "
                 "on test: a choice made on validation is a choice for the training population.")
    return lines


def shifted(table: pd.DataFrame) -> bool:
    """Did the test comparison's interval clear the control's (``shift_findings``'s verdict)?"""
    rows = table.set_index("comparison")
    return bool(rows.loc[TEST_VS_TRAIN].ci95_low > rows.loc[CONTROL].ci95_high and rows.loc[CONTROL].ci95_low <= 0.5)
