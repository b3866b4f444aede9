"""Classification metrics from scikit-learn, and summaries across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from kmnist_utils import references
from kmnist_utils.core.data import N_CLASSES, class_labels
from kmnist_utils.stats.findings import reproduction_label, reproduction_verdict
from kmnist_utils.stats.yardsticks import prediction_interval_summary

METRICS = references.METRICS


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> dict[str, float]:
    """Accuracy plus weighted (as the paper) and macro precision, recall and F1 over classes 0..n_classes-1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and of equal length, got {y_true.shape} and {y_pred.shape}")
    result = {"accuracy": float(accuracy_score(y_true, y_pred))}
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=range(n_classes), average=average, zero_division=0
        )
        suffix = "" if average == "weighted" else "_macro"
        result.update({f"precision{suffix}": float(p), f"recall{suffix}": float(r), f"f1{suffix}": float(f)})
    return result


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support of each class, rows labelled romaji + hiragana."""
    report = classification_report(
        y_true, y_pred, labels=range(N_CLASSES), target_names=class_labels(), output_dict=True, zero_division=0
    )
    return pd.DataFrame({name: report[name] for name in class_labels()}).T.rename_axis("class")


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return confusion_matrix(y_true, y_pred, labels=range(N_CLASSES))


def summarize_seeds(rows: pd.DataFrame, by: str | list[str] | None = None,
                    metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Mean, standard deviation (ddof=1; NaN for one seed) and number of seeds per group (default: per
    model, and per protocol where the rows have one)."""
    if by is None:
        by = ["model", "protocol"] if "protocol" in rows else "model"
    grouped = rows.groupby(by, sort=False)[list(metrics)]
    summary = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    summary["n_seeds"] = grouped.size()
    ordered = [f"{m}_{s}" for m in metrics for s in ("mean", "std")] + ["n_seeds"]
    return summary[ordered].reset_index()


def mean_std_text(mean: float, std: float | None, digits: int = 4) -> str:
    """'0.9341 ± 0.0021'; just the mean when there is no std (one seed)."""
    if std is None or np.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_mean_std(summary: pd.DataFrame, metrics: tuple[str, ...] = METRICS, digits: int = 4) -> pd.DataFrame:
    """'0.9341 ± 0.0021' strings for display."""
    shown = summary.iloc[:, :1].copy()
    for m in metrics:
        shown[m] = [mean_std_text(a, b, digits) for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_std"])]
    shown["seeds"] = summary["n_seeds"]
    return shown


def compare_with_paper(summary: pd.DataFrame, metrics: tuple[str, ...] = METRICS,
                       n_images: int = references.TEST_IMAGES) -> pd.DataFrame:
    """Per model, protocol and metric, :func:`paper_comparison` of our mean ± std over seeds.

    ``summary`` is ``summarize_seeds`` output with a ``model`` column of registry names and, where it has one,
    a ``protocol`` column (absent: the paper's protocol).
    """
    return pd.DataFrame([
        paper_comparison(row["model"], row.get("protocol", references.PROTOCOL), metric, float(row[f"{metric}_mean"]),
                         row[f"{metric}_std"], int(row["n_seeds"]), n_images)
        for _, row in summary.iterrows() for metric in metrics
    ])


def paper_comparison(model: str, protocol: str, metric: str, mean: float, std: float | None, seeds: int,
                     n_images: int = references.TEST_IMAGES) -> dict:
    """One row of Table I's comparison: each of the paper's runs (Table I, its notebook) beside our mean ± std
    over seeds, the differences (ours - paper), the 95% prediction interval for one more run of ours (std
    floored by the binomial standard error on ``n_images`` test images; empty with one seed), the verdict it
    gives (``reproduced``: ``findings.reproduction_label``) and in words (``findings.reproduction_verdict``).
    Every number unrounded: what is shown rounds it. A model the paper does not report gets empty paper
    columns and no verdict."""
    paper = references.reported_runs(model, metric)
    std = None if std is None or not np.isfinite(std) else float(std)
    interval = prediction_interval_summary(mean, std, seeds, n_images)
    table1, notebook = paper.get("Table I", np.nan), paper.get("the paper's notebook", np.nan)
    return {
        "model": model,
        "protocol": protocol,
        "metric": metric,
        "paper": table1,
        "paper_notebook": notebook,
        "ours_mean": mean,
        "ours_std": np.nan if std is None else std,
        "seeds": seeds,
        "difference": mean - table1,
        "difference_notebook": mean - notebook,
        "test_images": n_images,
        "interval_low": np.nan if interval is None else interval.low,
        "interval_high": np.nan if interval is None else interval.high,
        "reproduced": reproduction_label(interval, paper, references.ROUNDINGS) if paper else "",
        "verdict": reproduction_verdict(mean, std, seeds, paper, references.ROUNDINGS, n_images) if paper else "",
    }
