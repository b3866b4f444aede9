"""Siamese metric learning and k-shot recognition by nearest support (section IV of the paper).

The encoder maps a 28x28 image to an embedding; the comparison module turns |z1 - z2| into a
scalar score g, and p = sigmoid(g) is trained with binary cross-entropy on balanced same/different
pairs (Koch et al. 2015). At test time the frozen encoder embeds a few labelled support images per
class and every query is assigned the class of the nearest support (or class prototype, the mean
support embedding) in Euclidean distance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from kmnist_utils.metrics import classification_metrics
from kmnist_utils.models import SiameseNet  # noqa: F401  (re-exported for notebooks)
from kmnist_utils.training import TensorSplit, autocast_context


# --------------------------------------------------------------------------- pairs


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """Balanced pairs (first half same class, second half different): array (n_pairs, 3) of (i, j, same).

    Vectorised and seeded. Anchors are uniform over the images; a positive partner is uniform over
    the anchor's class (never the anchor itself), a negative one uniform over the other classes.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError("pairs need at least two classes")
    if n_pairs < 2:
        raise ValueError(f"n_pairs must be at least 2, got {n_pairs}")
    rng = np.random.default_rng(seed)
    order = np.argsort(labels, kind="stable")
    class_pos = np.searchsorted(classes, labels)  # class index 0..C-1 of every image
    counts = np.bincount(class_pos, minlength=len(classes))
    if counts.min() < 2:
        raise ValueError("every class needs at least two images to form a positive pair")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_pos = n_pairs // 2
    n_neg = n_pairs - n_pos

    def member(cls: np.ndarray, offset: np.ndarray) -> np.ndarray:
        return order[starts[cls] + offset % counts[cls]]

    anchors = rng.integers(0, len(labels), size=n_pairs)
    cls = class_pos[anchors]
    # Position of each anchor inside its class's block of ``order``; a positive partner skips it.
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels)) - starts[class_pos[order]]
    pos_partner = member(cls[:n_pos], rank[anchors[:n_pos]] + rng.integers(1, counts[cls[:n_pos]]))
    other = (cls[n_pos:] + rng.integers(1, len(classes), size=n_neg)) % len(classes)
    neg_partner = member(other, rng.integers(0, counts[other]))
    pairs = np.stack([anchors, np.concatenate([pos_partner, neg_partner]), np.r_[np.ones(n_pos), np.zeros(n_neg)]], axis=1)
    return pairs.astype(np.int64)


class PairObjective:
    """Binary cross-entropy on fresh balanced pairs each epoch; validation on fixed pairs."""

    def __init__(self, pairs_per_epoch: int, val_pairs: int) -> None:
        self.pairs_per_epoch, self.val_pairs = pairs_per_epoch, val_pairs

    def describe(self) -> dict:
        return {"kind": "pairs", "pairs_per_epoch": self.pairs_per_epoch, "val_pairs": self.val_pairs}

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        pairs = sample_pairs(data.y_train.cpu().numpy(), self.pairs_per_epoch, seed * 100_003 + epoch)
        return torch.from_numpy(np.random.default_rng(seed + epoch).permutation(pairs)).to(data.x_train.device)

    @staticmethod
    def _pair_loss(model: nn.Module, x: torch.Tensor, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x[pairs[:, 0]], x[pairs[:, 1]]).float()
        target = pairs[:, 2].float()
        return F.binary_cross_entropy_with_logits(logits, target), ((logits > 0) == (target > 0.5)).sum()

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._pair_loss(model, data.x_train, items)

    @torch.inference_mode()
    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        model.eval()
        pairs = torch.from_numpy(sample_pairs(data.y_val.cpu().numpy(), self.val_pairs, seed=0)).to(data.x_val.device)
        loss_sum, hits = 0.0, 0
        with autocast_context(precision, str(data.x_val.device)):
            for lo in range(0, len(pairs), 1024):
                batch = pairs[lo : lo + 1024]
                loss, correct = self._pair_loss(model, data.x_val, batch)
                loss_sum += loss.item() * len(batch)
                hits += int(correct)
        return loss_sum / len(pairs), hits / len(pairs)


# --------------------------------------------------------------------------- few-shot evaluation


@torch.inference_mode()
def embed(encoder: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """Embeddings (N, d) of float images (N, 1, 28, 28) with the encoder in eval mode."""
    encoder.eval()
    device = next(encoder.parameters()).device
    return torch.cat([encoder(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]).numpy()


def draw_supports(labels: np.ndarray, shots: int, seed: int, classes: np.ndarray | None = None) -> np.ndarray:
    """``shots`` distinct random indices per class (class order), seeded."""
    labels = np.asarray(labels)
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), size=shots, replace=False) for c in classes])


def prototypes(embeddings: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Mean embedding of each class, in the order of ``classes``: (len(classes), d)."""
    return np.stack([embeddings[labels == c].mean(axis=0) for c in classes])


def nearest_support(queries: np.ndarray, supports: np.ndarray, support_labels: np.ndarray) -> np.ndarray:
    """The label of the nearest support (Euclidean distance) for every query."""
    distances = torch.cdist(torch.as_tensor(queries, dtype=torch.float64), torch.as_tensor(supports, dtype=torch.float64))
    return np.asarray(support_labels)[distances.argmin(dim=1).numpy()]


def few_shot_draws(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray,
    shots: int, draws: int, seed: int = 0, classes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Metrics of nearest-prototype classification for ``draws`` seeded support draws (one row each).

    With one shot the prototype is the support itself, i.e. the paper's nearest-support rule.
    Supports come from the training split; queries are every test image of the chosen classes.
    """
    classes = np.unique(train_labels) if classes is None else np.asarray(classes)
    keep = np.isin(test_labels, classes)
    queries, truth = test_features[keep], test_labels[keep]
    rows = []
    for draw in range(draws):
        idx = draw_supports(train_labels, shots, seed + draw, classes)
        protos = prototypes(train_features[idx], train_labels[idx], classes)
        predicted = nearest_support(queries, protos, classes)
        m = classification_metrics(_dense(truth, classes), _dense(predicted, classes), n_classes=len(classes))
        rows.append({"draw": draw, "shots": shots, "accuracy": m["accuracy"], "precision_macro": m["precision_macro"],
                     "recall_macro": m["recall_macro"], "f1_macro": m["f1_macro"]})
    return pd.DataFrame(rows)


def _dense(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Map labels onto 0..len(classes)-1 so that macro averages cover only the classes in play."""
    return np.searchsorted(classes, labels)


def summarize_draws(draws: pd.DataFrame, metric: str = "accuracy", reference: float | None = None) -> dict:
    """Mean, std, 95% interval (2.5 and 97.5 percentiles of the draws) and the reference's percentile."""
    values = draws[metric].to_numpy()
    summary = {
        "mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else float("nan"),
        "ci95_low": float(np.percentile(values, 2.5)), "ci95_high": float(np.percentile(values, 97.5)),
        "min": float(values.min()), "max": float(values.max()), "draws": len(values),
    }
    if reference is not None:
        summary["reference"] = reference
        summary["reference_percentile"] = float((values < reference).mean() * 100)
    return summary
