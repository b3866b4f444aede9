"""k-shot recognition by nearest support: embeddings, support draws, metrics, and their spread.

A frozen embedding (an encoder, raw pixels, PCA) is given a few labelled support images per class;
every query is assigned the class of the nearest support (or class prototype, the mean support
embedding) in Euclidean distance (the paper's rule), cosine distance, or a learned comparison head.
Repeating the draw of supports measures how much one draw can tell.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from kmnist_utils.engine.models import SiameseNet
from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.stats.metrics import classification_metrics

Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (queries, supports) -> scores, higher = closer


@torch.inference_mode()
def embed(encoder: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Embeddings (N, d) of float images (N, 1, 28, 28) with the encoder in eval mode."""
    encoder.eval()
    device = next(encoder.parameters()).device
    return torch.cat(
        [encoder(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    ).numpy()


def draw_supports(labels: np.ndarray, shots: int, seed: int, classes: np.ndarray | None = None) -> np.ndarray:
    """``shots`` distinct random indices per class (class order), seeded."""
    labels = np.asarray(labels)
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), size=shots, replace=False) for c in classes])


def support_rows(
    labels: np.ndarray, shots: Sequence[int], draws: int, seed: int, classes: np.ndarray | None = None
) -> np.ndarray:
    """Every training row a support of :func:`few_shot_draws` can be, for ``draws`` draws of each of
    ``shots`` with ``seed`` (the same seeds it uses), sorted: the only rows worth embedding."""
    return np.unique(np.concatenate([draw_supports(labels, k, derived_seed(seed, draw), classes)
                                     for k in shots for draw in range(draws)]))


def prototypes(embeddings: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Mean embedding of each class, in the order of ``classes``: (len(classes), d)."""
    return np.stack([embeddings[labels == c].mean(axis=0) for c in classes])


def euclidean_similarity(queries: np.ndarray, supports: np.ndarray) -> np.ndarray:
    """Minus the Euclidean distance: the paper's metric."""
    return -torch.cdist(
        torch.as_tensor(queries, dtype=torch.float64), torch.as_tensor(supports, dtype=torch.float64)
    ).numpy()


def cosine_similarity(queries: np.ndarray, supports: np.ndarray) -> np.ndarray:
    """Cosine of the angle between embeddings (the nearest support by cosine distance scores highest)."""
    q = torch.nn.functional.normalize(torch.as_tensor(queries, dtype=torch.float64), dim=1)
    s = torch.nn.functional.normalize(torch.as_tensor(supports, dtype=torch.float64), dim=1)
    return (q @ s.T).numpy()


def head_similarity(model: SiameseNet) -> Similarity:
    """The trained comparison head as the metric: the support the network calls most 'same' wins."""
    head = copy.deepcopy(model).cpu().double().eval()  # a float64 copy: the model itself stays as it is

    def similarity(queries: np.ndarray, supports: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            q = torch.as_tensor(queries, dtype=torch.float64)[:, None, :]
            s = torch.as_tensor(supports, dtype=torch.float64)[None, :, :]
            return torch.cat([head.score(q[i : i + 2048], s) for i in range(0, len(q), 2048)]).numpy()

    return similarity


METRICS: dict[str, Similarity] = {"euclidean": euclidean_similarity, "cosine": cosine_similarity}


def nearest_support(
    queries: np.ndarray, supports: np.ndarray, support_labels: np.ndarray, similarity: Similarity = euclidean_similarity
) -> np.ndarray:
    """The label of the most similar support (by default: nearest in Euclidean distance) for every query."""
    return np.asarray(support_labels)[np.asarray(similarity(queries, supports)).argmax(axis=1)]


def few_shot_draws(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    shots: int,
    draws: int,
    seed: int = 0,
    classes: np.ndarray | None = None,
    metric: str | Similarity = "euclidean",
) -> pd.DataFrame:
    """Metrics of nearest-prototype classification for ``draws`` seeded support draws (one row each).

    With one shot the prototype is the support itself, i.e. the paper's nearest-support rule.
    Supports come from the training split; queries are every test image of the chosen classes.
    ``metric``: "euclidean" (the paper's), "cosine", or a similarity function such as
    :func:`head_similarity`.
    """
    similarity = METRICS[metric] if isinstance(metric, str) else metric
    classes = np.unique(train_labels) if classes is None else np.asarray(classes)
    keep = np.isin(test_labels, classes)
    queries, truth = test_features[keep], test_labels[keep]
    rows = []
    for draw in range(draws):
        idx = draw_supports(train_labels, shots, derived_seed(seed, draw), classes)
        if np.issubdtype(train_features.dtype, np.floating) and np.isnan(train_features[idx]).any():
            raise ValueError("a support of this draw was never embedded: embed the rows of fewshot.support_rows "
                             "with the same shots, draws and seed")
        protos = prototypes(train_features[idx], train_labels[idx], classes)
        predicted = nearest_support(queries, protos, classes, similarity)
        m = classification_metrics(_dense(truth, classes), _dense(predicted, classes), n_classes=len(classes))
        rows.append(
            {
                "draw": draw,
                "shots": shots,
                "accuracy": m["accuracy"],
                "precision_macro": m["precision_macro"],
                "recall_macro": m["recall_macro"],
                "f1_macro": m["f1_macro"],
            }
        )
    return pd.DataFrame(rows)


def _dense(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Map labels onto 0..len(classes)-1 so that macro averages cover only the classes in play."""
    return np.searchsorted(classes, labels)


def summarize_draws(draws: pd.DataFrame, metric: str = "accuracy", reference: float | None = None) -> dict:
    """Mean, std, 95% interval (2.5 and 97.5 percentiles of the draws) and the reference's percentile."""
    values = draws[metric].to_numpy()
    summary = {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
        "ci95_low": float(np.percentile(values, 2.5)),
        "ci95_high": float(np.percentile(values, 97.5)),
        "min": float(values.min()),
        "max": float(values.max()),
        "draws": len(values),
    }
    if reference is not None:
        summary["reference"] = reference
        summary["reference_percentile"] = float((values < reference).mean() * 100)
    return summary


def class_splits(n_classes: int, seen: int, splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``splits`` distinct seeded random (seen, novel) partitions of the classes, ``seen`` classes to train on."""
    if not 2 <= seen <= n_classes - 2:
        raise ValueError(f"seen must leave at least two classes on each side of {n_classes}, got {seen}")
    rng = np.random.default_rng(seed)
    chosen: list[tuple[np.ndarray, np.ndarray]] = []
    keys: set[tuple[int, ...]] = set()
    possible = math.comb(n_classes, seen)
    if splits > possible:
        raise ValueError(f"only {possible} ways to choose {seen} of {n_classes} classes, asked for {splits}")
    while len(chosen) < splits:
        seen_classes = np.sort(rng.choice(n_classes, size=seen, replace=False))
        if tuple(seen_classes) in keys:
            continue
        keys.add(tuple(seen_classes))
        chosen.append((seen_classes, np.setdiff1d(np.arange(n_classes), seen_classes)))
    return chosen


def mean_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean (NaN bounds with fewer than two values)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half
