"""Confidence you can act on: temperature scaling, calibration error and confidence-based routing.

The paper proposes routing low-confidence predictions to a human but never measures it. Here a
single temperature is fitted on validation logits (Guo et al. 2017), thresholds that reach a
target accuracy on accepted items are chosen on validation, and only then checked on test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The temperature T > 0 that minimises the NLL of softmax(logits / T); fitted in log T."""
    if len(logits) != len(labels) or len(logits) == 0:
        raise ValueError(f"need as many labels as logits rows (and at least one), got {len(logits)} and {len(labels)}")
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_table(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Equal-width confidence bins: count, mean confidence and accuracy of the top-1 prediction."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    probs, labels = np.asarray(probs), np.asarray(labels)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lower, upper]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        members = index == b
        rows.append({
            "bin_lower": edges[b], "bin_upper": edges[b + 1], "count": int(members.sum()),
            "confidence": float(confidence[members].mean()) if members.any() else np.nan,
            "accuracy": float(correct[members].mean()) if members.any() else np.nan,
        })
    return pd.DataFrame(rows)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Sum over bins of (share of items) x |accuracy - confidence|."""
    table = reliability_table(probs, labels, n_bins)
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """Accept the k most confident items, for every k: coverage and accuracy of the accepted ones."""
    order = np.argsort(-np.asarray(confidence), kind="mergesort")
    hits = np.cumsum(np.asarray(correct)[order])
    k = np.arange(1, len(order) + 1)
    return pd.DataFrame({"threshold": np.asarray(confidence)[order], "coverage": k / len(order), "accuracy": hits / k})


def accepted_stats(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[float, float]:
    """Coverage and accuracy of the items with confidence >= threshold (accuracy NaN if none)."""
    accepted = np.asarray(confidence) >= threshold
    coverage = float(accepted.mean())
    accuracy = float(np.asarray(correct)[accepted].mean()) if accepted.any() else float("nan")
    return coverage, accuracy


def threshold_for_accuracy(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold whose accepted items (confidence >= threshold) reach ``target`` accuracy.

    Returns ``inf`` (accept nothing, route everything) when no threshold reaches the target.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {target}")
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    candidates = np.unique(confidence)[::-1]  # high to low: coverage grows as we go
    order = np.argsort(-confidence, kind="mergesort")
    sorted_conf, hits = confidence[order], np.cumsum(correct[order])
    best = np.inf
    for t in candidates:
        k = np.searchsorted(-sorted_conf, -t, side="right")  # items with confidence >= t
        if hits[k - 1] / k >= target:
            best = t
    return float(best)


def routing_table(
    conf_val: np.ndarray, correct_val: np.ndarray, conf_test: np.ndarray, correct_test: np.ndarray,
    targets: tuple[float, ...] = (0.99, 0.995, 0.999),
) -> pd.DataFrame:
    """Thresholds chosen on validation for each target accuracy, then checked on test."""
    rows = []
    for target in targets:
        t = threshold_for_accuracy(conf_val, correct_val, target)
        val_cov, val_acc = accepted_stats(conf_val, correct_val, t)
        test_cov, test_acc = accepted_stats(conf_test, correct_test, t)
        rows.append({
            "target_accuracy": target, "threshold": t,
            "val_coverage": val_cov, "val_accuracy": val_acc,
            "test_coverage": test_cov, "test_accuracy": test_acc,
            "test_routed_to_human": 1 - test_cov,
            "test_meets_target": bool(test_acc >= target) if test_cov > 0 else False,
        })
    return pd.DataFrame(rows)
