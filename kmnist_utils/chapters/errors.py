"""Chapter 05, error analysis: which test images a model gets wrong, and which class pairs it confuses
(pandas only: the figures and the report use it without the training stack)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kmnist_utils.core.data import N_CLASSES, class_label


def misclassified(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """One row per error: index, true and predicted class, and the model's confidence, most confident first."""
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    table = pd.DataFrame({
        "index": wrong,
        "true": np.asarray(y_true)[wrong],
        "predicted": np.asarray(y_pred)[wrong],
        "confidence": np.asarray(probs)[wrong].max(axis=1),
    })
    return table.sort_values(["confidence", "index"], ascending=[False, True], kind="mergesort").reset_index(drop=True)


def confused_pairs(matrix: np.ndarray, top: int = 10) -> pd.DataFrame:
    """Unordered class pairs by how often they are confused, with the count in each direction."""
    matrix = np.asarray(matrix)
    if matrix.shape != (N_CLASSES, N_CLASSES):
        raise ValueError(f"expected a {N_CLASSES}x{N_CLASSES} confusion matrix, got {matrix.shape}")
    rows = []
    for a in range(N_CLASSES):
        for b in range(a + 1, N_CLASSES):
            rows.append({
                "class_a": class_label(a), "class_b": class_label(b), "a": a, "b": b,
                "a_as_b": int(matrix[a, b]), "b_as_a": int(matrix[b, a]), "total": int(matrix[a, b] + matrix[b, a]),
            })
    table = pd.DataFrame(rows).sort_values(["total", "a", "b"], ascending=[False, True, True], kind="mergesort")
    return table.head(top).reset_index(drop=True)


def pair_examples(wrong: pd.DataFrame, pairs: pd.DataFrame, top: int = 3, per_direction: int = 4) -> pd.DataFrame:
    """Up to ``per_direction`` errors in each direction of the ``top`` most confused pairs."""
    examples = []
    for pair in pairs.head(top).itertuples():
        for true, pred in ((pair.a, pair.b), (pair.b, pair.a)):
            examples.append(wrong[(wrong.true == true) & (wrong.predicted == pred)].head(per_direction))
    return pd.concat(examples) if examples else wrong.head(0)


def random_sample(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """A seeded random sample of ``rows`` (all of them when there are fewer), in their original order."""
    rng = np.random.default_rng(seed)
    return rows.iloc[np.sort(rng.choice(len(rows), size=min(size, len(rows)), replace=False))]


def saliency_examples(
    y_true: np.ndarray, y_pred: np.ndarray, wrong: np.ndarray, per_kind: int, seed: int
) -> pd.DataFrame:
    """Images to explain: ``per_kind`` seeded right answers, then the first ``per_kind`` of ``wrong``.

    Columns ``image`` (test index) and ``label`` (right/WRONG, true and predicted class, for a row title).
    """
    right = np.flatnonzero(np.asarray(y_pred) == np.asarray(y_true))
    if len(right) < per_kind or len(wrong) < per_kind:
        raise ValueError(f"need {per_kind} right and {per_kind} wrong answers, got {len(right)} and {len(wrong)}")
    chosen = np.concatenate(
        [np.random.default_rng(seed).choice(right, per_kind, replace=False), np.asarray(wrong)[:per_kind]]
    )
    labels = [
        f"{'right' if y_pred[i] == y_true[i] else 'WRONG'}\n"
        f"true {class_label(y_true[i])}\npred {class_label(y_pred[i])}"
        for i in chosen
    ]
    return pd.DataFrame({"image": chosen, "label": labels})
