"""Exploratory analysis: dataset summary, class counts, mean images and PCA."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from kmnist_utils.core.data import N_CLASSES, Parts, class_labels, to_unit_float


def _named_parts(parts: Parts) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"train": (parts.x_train, parts.y_train), "validation": (parts.x_val, parts.y_val),
            "test": (parts.x_test, parts.y_test)}


def dataset_summary(parts: Parts) -> pd.DataFrame:
    """Size, shape and pixel statistics of each part (pixels on the [0, 1] scale)."""
    rows = []
    for name, (images, labels) in _named_parts(parts).items():
        pixels = to_unit_float(images)
        rows.append(
            {
                "part": name,
                "images": len(images),
                "image shape": "x".join(map(str, images.shape[1:])),
                "classes": len(np.unique(labels)),
                "pixel mean": round(float(pixels.mean()), 4),
                "pixel std": round(float(pixels.std()), 4),
            }
        )
    return pd.DataFrame(rows).set_index("part")


def class_counts(parts: Parts) -> pd.DataFrame:
    """Images per class (rows, labelled romaji + hiragana) for each part (columns)."""
    counts = {
        name: np.bincount(labels, minlength=N_CLASSES)
        for name, (_, labels) in _named_parts(parts).items()
    }
    return pd.DataFrame(counts, index=pd.Index(class_labels(), name="class"))


def mean_images(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean image of each class, shape (10, 28, 28), pixels in [0, 1]."""
    pixels = to_unit_float(images)
    return np.stack([pixels[labels == cls].mean(axis=0) for cls in range(N_CLASSES)])


@dataclass(frozen=True)
class PCAResult:
    coords: np.ndarray  # 2-D projection of the plotted images
    labels: np.ndarray  # their classes
    explained_variance_ratio: np.ndarray  # of the leading components, fitted on every image


def fit_pca(
    images: np.ndarray,
    labels: np.ndarray,
    n_components: int = 50,
    max_points: int | None = None,
    seed: int = 0,
) -> PCAResult:
    """PCA of flattened [0, 1] pixels, fitted on all images; ``max_points`` thins the scatter only."""
    flat = to_unit_float(images).reshape(len(images), -1)
    # The covariance eigensolver is exact and fast when samples far outnumber the 784 pixels.
    pca = PCA(n_components=n_components, svd_solver="covariance_eigh").fit(flat)
    keep = np.arange(len(flat))
    if max_points is not None and max_points < len(flat):
        keep = np.sort(np.random.default_rng(seed).choice(len(flat), size=max_points, replace=False))
    coords = pca.transform(flat[keep])[:, :2]
    return PCAResult(coords=coords, labels=labels[keep], explained_variance_ratio=pca.explained_variance_ratio_)


def explained_variance_table(result: PCAResult, ks: tuple[int, ...] = (1, 2, 10, 50)) -> pd.DataFrame:
    """Cumulative share of pixel variance captured by the first k components."""
    cumulative = np.cumsum(result.explained_variance_ratio)
    ks = tuple(k for k in ks if k <= len(cumulative))
    return pd.DataFrame(
        {"components": ks, "cumulative explained variance": [round(float(cumulative[k - 1]), 4) for k in ks]}
    )
