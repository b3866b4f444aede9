"""The logistic-regression baseline (section II.B): standardised pixels, multinomial softmax, as the paper's
code ran it: the scaler fitted on every training image (the 60,000, validation part included) and the
10,000-image subset drawn from all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from kmnist_utils.core.data import Parts, to_unit_float
from kmnist_utils.engine.context import RunContext
from kmnist_utils.stats.metrics import classification_metrics


def flatten(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1]."""
    return to_unit_float(images).reshape(len(images), -1)


def random_subset(n_total: int, size: int, seed: int) -> np.ndarray:
    if not 0 < size <= n_total:
        raise ValueError(f"subset size must be in 1..{n_total}, got {size}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=size, replace=False))


def fit_logistic_regression(
    images: np.ndarray, labels: np.ndarray, size: int, seed: int, max_iter: int = 1000
) -> Pipeline:
    """StandardScaler fitted on every image given, then a multinomial LogisticRegression on a seeded random
    subset of ``size`` of them (the paper's code: scaler on all 60,000 training images, then the subset).

    lbfgs optimises the multinomial (softmax) loss; ``max_iter`` 1000 as in the paper's code, so that the
    baseline is a converged model rather than an artefact of stopping early.
    """
    flat = flatten(images)
    scaler = StandardScaler().fit(flat)
    keep = random_subset(len(images), size, seed)
    classifier = LogisticRegression(max_iter=max_iter, random_state=seed).fit(scaler.transform(flat[keep]),
                                                                                labels[keep])
    return make_pipeline(scaler, classifier)


@dataclass
class LogRegRun:
    seed: int
    y_pred: np.ndarray
    metrics: dict[str, float]
    seconds: float


def logistic_regression_run(ctx: RunContext, parts: Parts, seed: int) -> LogRegRun:
    """Fit the baseline on every training image (training and validation parts, as the paper's code) with a
    seeded subset, and score it on the test part."""
    start = time.perf_counter()
    images, labels = parts.all_training()
    size = min(ctx.profile.logreg_train_size, len(labels))
    model = fit_logistic_regression(images, labels, size=size, seed=seed)
    y_pred = model.predict(flatten(parts.x_test))
    return LogRegRun(seed, y_pred, classification_metrics(parts.y_test, y_pred), time.perf_counter() - start)
