"""Siamese metric learning and k-shot recognition by nearest support (section IV of the paper).

The encoder maps a 28x28 image to an embedding; the comparison head turns a pair of embeddings
into a scalar score g, and p = sigmoid(g) is trained with binary cross-entropy on balanced
same/different pairs (Koch et al. 2015). At test time the frozen encoder embeds a few labelled
support images per class and every query is assigned the class of the nearest support (or class
prototype, the mean support embedding) in Euclidean distance; cosine distance and the learned head
itself are the alternatives reported beside it.

For classes the encoder never saw, an episodic prototypical objective (Snell et al. 2017) is the
alternative built for transfer: each step is a small few-shot task on the training classes.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn
from torch.nn import functional as F

from kmnist_utils import findings
from kmnist_utils.metrics import classification_metrics
from kmnist_utils.models import SiameseNet
from kmnist_utils.seeding import derived_seed
from kmnist_utils.training import TensorSplit, autocast_context, epoch_permutation

Similarity = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (queries, supports) -> scores, higher = closer


# --------------------------------------------------------------------------- pairs


def _validate_in_batches(model: nn.Module, loss_fn: Callable, x: torch.Tensor, items: torch.Tensor, batch_size: int,
                         precision: str) -> tuple[float, float]:
    """Mean loss and share of right calls of ``loss_fn`` over fixed validation ``items``, in eval mode."""
    model.eval()
    loss_sum, hits = 0.0, 0.0
    with autocast_context(precision, str(x.device)):
        for lo in range(0, len(items), batch_size):
            batch = items[lo : lo + batch_size]
            loss, correct = loss_fn(model, x, batch)
            loss_sum += loss.item() * len(batch)
            hits += float(correct)
    return loss_sum / len(items), hits / len(items)


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """Balanced pairs in random order (half same class, half different): array (n_pairs, 3) of (i, j, same).

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
    pairs = np.stack(
        [anchors, np.concatenate([pos_partner, neg_partner]), np.r_[np.ones(n_pos), np.zeros(n_neg)]], axis=1
    )
    return rng.permutation(pairs.astype(np.int64))  # positives and negatives mixed in every batch


# Validation of every Siamese objective: the loss on these fixed balanced pairs (which picks the weights
# kept) and the mean 10-way 1-shot accuracy over these support draws inside the validation split (what
# schedules are chosen by). Version of both: part of the checkpoint key through ``describe``.
VAL_ONE_SHOT_DRAWS = 20
VALIDATION_VERSION = 2


@torch.inference_mode()
def validation_one_shot(encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, draws: int = VAL_ONE_SHOT_DRAWS,
                        precision: str = "fp32") -> float:
    """Mean 1-shot accuracy of ``encoder`` over ``draws`` seeded support draws from (x, y): one support per
    class, every other image a query, nearest support in Euclidean distance (the paper's rule)."""
    encoder.eval()
    with autocast_context(precision, str(x.device)):
        z = torch.cat([encoder(x[i : i + 1024]).float() for i in range(0, len(x), 1024)]).double()
    labels = y.cpu().numpy()
    classes = np.unique(labels)
    hits = []
    for draw in range(draws):
        idx = draw_supports(labels, 1, derived_seed(0, draw), classes)
        queries = np.setdiff1d(np.arange(len(labels)), idx)
        nearest = torch.cdist(z[queries], z[idx]).argmin(1).cpu().numpy()
        hits.append(float((classes[nearest] == labels[queries]).mean()))
    return float(np.mean(hits))


@torch.inference_mode()
def _validate_pairs_and_one_shot(model: nn.Module, loss_fn: Callable, data: TensorSplit, val_pairs: int,
                                 precision: str) -> tuple[float, float]:
    pairs = torch.from_numpy(sample_pairs(data.y_val.cpu().numpy(), val_pairs, seed=0)).to(data.x_val.device)
    loss, _ = _validate_in_batches(model, loss_fn, data.x_val, pairs, 1024, precision)
    return loss, validation_one_shot(model.encoder, data.x_val, data.y_val, precision=precision)


class PairObjective:
    """Binary cross-entropy on fresh balanced pairs each epoch, two encoder passes per pair (Koch et al.).

    Validation: the loss on fixed balanced pairs and the 1-shot accuracy inside the validation split.
    """

    def __init__(self, pairs_per_epoch: int, val_pairs: int) -> None:
        self.pairs_per_epoch, self.val_pairs = pairs_per_epoch, val_pairs

    # Part of the checkpoint key: bump when the pairs an epoch draws change (2: one seeded draw, shuffled).
    SAMPLING_VERSION = 2

    def describe(self) -> dict:
        return {
            "kind": "pairs",
            "pairs_per_epoch": self.pairs_per_epoch,
            "val_pairs": self.val_pairs,
            "sampling": self.SAMPLING_VERSION,
            "validation": VALIDATION_VERSION,
        }

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        pairs = sample_pairs(data.y_train.cpu().numpy(), self.pairs_per_epoch, derived_seed(seed, epoch))
        return torch.from_numpy(pairs).to(data.x_train.device)

    @staticmethod
    def _pair_loss(model: nn.Module, x: torch.Tensor, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x[pairs[:, 0]], x[pairs[:, 1]]).float()
        target = pairs[:, 2].float()
        return F.binary_cross_entropy_with_logits(logits, target), ((logits > 0) == (target > 0.5)).sum()

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._pair_loss(model, data.x_train, items)

    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        return _validate_pairs_and_one_shot(model, self._pair_loss, data, self.val_pairs, precision)


def in_batch_pair_loss(model: nn.Module, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary cross-entropy over every pair of a batch's embeddings ``z``, same-class and different-class
    pairs weighted half and half (a balanced mixture, whatever the class mix of the batch), and the
    balanced share of right same/different calls.

    A batch of B images holds B(B-1)/2 pairs from one encoder pass; with ten classes about a tenth of
    them are same-class, so without the weighting the loss would be nine-tenths 'different'.
    """
    first, second = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    logits = model.score(z[first], z[second]).float()
    same = labels[first] == labels[second]
    losses = F.binary_cross_entropy_with_logits(logits, same.float(), reduction="none")
    right = (logits > 0) == same
    kinds = [k for k in (same, ~same) if bool(k.any())]  # a small batch may hold no same-class pair
    if not kinds:
        raise ValueError(f"a batch of {len(z)} image(s) holds no pair")
    loss = sum(losses[k].mean() for k in kinds) / len(kinds)
    return loss, sum(right[k].float().mean() for k in kinds) / len(kinds)


class InBatchPairObjective:
    """The paper's binary cross-entropy over a balanced mixture of same/different pairs, with the pairs
    formed inside each batch: a batch of images is embedded once and every pair of its images is scored
    (``in_batch_pair_loss``), so one encoder pass serves B - 1 pairs per image instead of half of one.

    An epoch is a seeded permutation of the training images; validation as ``PairObjective``'s.
    """

    def __init__(self, val_pairs: int, batch_size: int) -> None:
        if batch_size < 2:
            raise ValueError(f"pairs inside a batch need batches of at least 2 images, got {batch_size}")
        self.val_pairs, self.batch_size = val_pairs, batch_size

    def describe(self) -> dict:
        return {"kind": "in_batch_pairs", "val_pairs": self.val_pairs, "validation": VALIDATION_VERSION}

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        order = epoch_permutation(len(data.x_train), seed, epoch).to(data.x_train.device)
        # A last batch of one image holds no pair: that image sits this epoch out.
        return order[:-1] if len(order) % self.batch_size == 1 else order

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, balanced_accuracy = in_batch_pair_loss(model, model.encoder(data.x_train[items]), data.y_train[items])
        return loss, balanced_accuracy.detach() * len(items)  # per image, so the epoch's mean is a share

    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        return _validate_pairs_and_one_shot(model, PairObjective._pair_loss, data, self.val_pairs, precision)


def sample_episodes(labels: np.ndarray, episodes: int, way: int, shot: int, query: int, seed: int) -> np.ndarray:
    """Seeded few-shot episodes: (episodes, way * (shot + query)) image indices.

    Each row draws ``way`` classes, then ``shot + query`` distinct images of each, class by class:
    the first ``shot`` of a class are its supports, the rest its queries.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if way < 2 or way > len(classes):
        raise ValueError(f"way must be between 2 and the {len(classes)} classes present, got {way}")
    members = [np.flatnonzero(labels == c) for c in classes]
    need = shot + query
    if min(len(m) for m in members) < need:
        raise ValueError(f"every class needs at least shot + query = {need} images")
    rng = np.random.default_rng(seed)
    rows = np.empty((episodes, way * need), dtype=np.int64)
    for e in range(episodes):
        chosen = rng.choice(len(classes), size=way, replace=False)
        rows[e] = np.concatenate([rng.choice(members[c], size=need, replace=False) for c in chosen])
    return rows


class PrototypicalObjective:
    """Episodic prototypical loss: classify each query by softmax over -squared distances to the
    class prototypes (mean support embeddings) of its episode. Trains ``model.encoder`` only.

    Validation: the episode loss on fixed validation episodes and the 1-shot accuracy inside the
    validation split (as for the pair objectives)."""

    def __init__(
        self, episodes_per_epoch: int, val_episodes: int, way: int = 5, shot: int = 1, query: int = 15
    ) -> None:
        self.episodes_per_epoch, self.val_episodes = episodes_per_epoch, val_episodes
        self.way, self.shot, self.query = way, shot, query

    def describe(self) -> dict:
        return {
            "kind": "prototypical",
            "episodes_per_epoch": self.episodes_per_epoch,
            "val_episodes": self.val_episodes,
            "way": self.way,
            "shot": self.shot,
            "query": self.query,
            "validation": VALIDATION_VERSION,
        }

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        episodes = sample_episodes(
            data.y_train.cpu().numpy(),
            self.episodes_per_epoch,
            self.way,
            self.shot,
            self.query,
            derived_seed(seed, epoch),
        )
        return torch.from_numpy(episodes).to(data.x_train.device)

    def _episode_loss(
        self, model: nn.Module, x: torch.Tensor, episodes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_episodes, need = len(episodes), self.shot + self.query
        z = model.encoder(x[episodes.reshape(-1)]).float().reshape(n_episodes, self.way, need, -1)
        protos = z[:, :, : self.shot].mean(dim=2)  # (E, way, d)
        queries = z[:, :, self.shot :].reshape(n_episodes, self.way * self.query, -1)
        logits = -torch.cdist(queries, protos).pow(2)  # (E, way * query, way)
        target = torch.arange(self.way, device=x.device).repeat_interleave(self.query).expand(n_episodes, -1)
        loss = F.cross_entropy(logits.reshape(-1, self.way), target.reshape(-1))
        # Per-episode share of right queries, so that sums over episodes are comparable with pairs.
        return loss, (logits.argmax(-1) == target).float().mean(dim=1).sum()

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._episode_loss(model, data.x_train, items)

    @torch.inference_mode()
    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        episodes = torch.from_numpy(
            sample_episodes(data.y_val.cpu().numpy(), self.val_episodes, self.way, self.shot, self.query, seed=0)
        ).to(data.x_val.device)
        loss, _ = _validate_in_batches(model, self._episode_loss, data.x_val, episodes, 32, precision)
        return loss, validation_one_shot(model.encoder, data.x_val, data.y_val, precision=precision)


# --------------------------------------------------------------------------- few-shot evaluation


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


# The paper's protocol among the one-shot rows: the Siamese encoder with Euclidean distance.
PROTOCOL_ROW = "Siamese encoder"


# A schedule's length: the first epoch whose validation 1-shot is within this of the run's best (the
# 20 fixed validation draws are the same every epoch, so the curve is compared with itself).
PLATEAU_TOLERANCE = 0.005


def plateau_epoch(val_acc: Sequence[float], tolerance: float = PLATEAU_TOLERANCE) -> int:
    """The first epoch (1-based) after which validation 1-shot improves by no more than ``tolerance``."""
    values = np.asarray(val_acc, dtype=np.float64)
    if values.size == 0:
        raise ValueError("plateau_epoch needs at least one epoch")
    return int(np.flatnonzero(values >= values.max() - tolerance)[0]) + 1


def plateau_table(history: pd.DataFrame, tolerance: float = PLATEAU_TOLERANCE) -> pd.DataFrame:
    """Per run (``objective``): epochs trained, the best validation 1-shot and its epoch, the plateau epoch
    with its validation 1-shot and the training minutes it took."""
    rows = []
    for name, run in history.groupby("objective", sort=False):
        run = run.sort_values("epoch")
        at = plateau_epoch(run.val_acc, tolerance)
        reached = run[run.epoch == at].iloc[0]
        rows.append({"objective": name, "epochs": int(run.epoch.max()), "best_val_1shot": float(run.val_acc.max()),
                     "best_epoch": int(run.epoch[run.val_acc.idxmax()]), "plateau_epoch": at,
                     "val_1shot_at_plateau": float(reached.val_acc),
                     "minutes_to_plateau": float(run.seconds[run.epoch <= at].sum() / 60)})
    return pd.DataFrame(rows)


def at_equal_time(history: pd.DataFrame) -> pd.DataFrame:
    """Every run's validation 1-shot at the same training times: the end of each epoch of the run with the
    longest epochs, where each run shows its last epoch finished by then (runs with none yet are left out)."""
    slowest = history.groupby("objective").seconds.mean().idxmax()
    rows = []
    for minutes in history[history.objective == slowest].minutes:
        for name, run in history.groupby("objective", sort=False):
            done = run[run.minutes <= minutes + 1e-9]
            if len(done):
                last = done.iloc[-1]
                rows.append({"minutes": float(minutes), "objective": name, "epoch": int(last.epoch),
                             "val_1shot": float(last.val_acc)})
    return pd.DataFrame(rows)


def history_summary(history: pd.DataFrame) -> pd.DataFrame:
    """Per encoder seed: epochs trained, best validation pair loss, last validation accuracy, minutes."""
    return history.groupby("seed").agg(
        epochs=("epoch", "max"),
        best_val_loss=("val_loss", "min"),
        last_val_acc=("val_acc", "last"),
        minutes=("seconds", lambda s: s.sum() / 60),
    )


def spread_by_embedding(draws: pd.DataFrame) -> pd.DataFrame:
    """``seed_summary`` per embedding (metric variant) of the 1-shot draws, one row each."""
    rows = {name: seed_summary(group) for name, group in draws.groupby("embedding", sort=False)}
    return pd.DataFrame(rows).T.drop(columns="per_seed_means").astype(float)


def kshot_summary(draws: pd.DataFrame) -> pd.DataFrame:
    """``summarize_draws`` per (embedding, shots), in the order the embeddings first appear."""
    return pd.DataFrame(
        [
            {"embedding": name, "shots": k, **summarize_draws(group)}
            for (name, k), group in draws.groupby(["embedding", "shots"], sort=False)
        ]
    )


# The chapter's targets for the mean test 1-shot accuracy of the paper's protocol over draws and encoders.
ONE_SHOT_TARGET = 0.88
ONE_SHOT_AIM = 0.93


def oneshot_findings(draws: pd.DataFrame, reference: float, targets: Mapping[str, float]) -> list[str]:
    """Sentences on the 1-shot draws of every encoder seed: the paper's protocol against the paper's single
    draw and against each of ``targets`` (name -> accuracy), then every other metric against the paper's
    protocol, seed by seed."""
    protocol = draws[draws.embedding == PROTOCOL_ROW]
    per_seed = protocol.groupby("seed").accuracy.mean()
    return [
        findings.draws_versus_reference(
            "Siamese encoder, Euclidean (the paper's protocol)", protocol.accuracy, reference
        ),
        findings.versus_reference(
            "Mean 1-shot accuracy per encoder seed", per_seed, reference, what="the paper's single draw"
        ),
    ] + [
        findings.target_verdict(f"Mean over draws and encoder seeds against the {name}", protocol.accuracy.mean(),
                                value)
        for name, value in targets.items()
    ] + [
        findings.compare_groups(name, group.groupby("seed").accuracy.mean(), "Euclidean", per_seed)
        for name, group in draws.groupby("embedding", sort=False)
        if name != PROTOCOL_ROW
    ]


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


# --------------------------------------------------------------------------- classes never seen in training


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


def summarize_unseen(rows: pd.DataFrame, ours: tuple[str, ...], baselines: tuple[str, ...]) -> pd.DataFrame:
    """Per number of seen classes and embedding: the mean over class splits of the mean 1-shot accuracy
    over draws, its 95% interval over splits, and for each of ``ours`` the paired difference to each
    baseline (same class split, same support draws) with its interval."""
    out = []
    for seen, group in rows.groupby("seen_classes"):
        wide = group.pivot(index="split", columns="embedding", values="accuracy")
        for embedding in wide.columns:
            mean, low, high = mean_interval(wide[embedding])
            row = {
                "seen_classes": seen,
                "way": int(group.way.iloc[0]),
                "embedding": embedding,
                "splits": len(wide),
                "accuracy": mean,
                "ci95_low": low,
                "ci95_high": high,
            }
            if embedding in ours:
                for baseline in baselines:
                    d_mean, d_low, d_high = mean_interval(wide[embedding] - wide[baseline])
                    row[f"minus {baseline}"], row[f"minus {baseline} ci95_low"], row[f"minus {baseline} ci95_high"] = (
                        d_mean,
                        d_low,
                        d_high,
                    )
            out.append(row)
    return pd.DataFrame(out)


def seed_summary(draws: pd.DataFrame, metric: str = "accuracy") -> dict:
    """Draws pooled over encoder seeds: the mean, the spread over draws within a seed (mean of the
    per-seed stds) and the spread over encoder seeds (std of the per-seed means; NaN with one seed)."""
    per_seed = draws.groupby("seed")[metric]
    means = per_seed.mean()
    return {
        "mean": float(draws[metric].mean()),
        "draw_std": float(per_seed.std(ddof=1).mean()),
        "seed_std": float(means.std(ddof=1)) if len(means) > 1 else float("nan"),
        "seeds": len(means),
        "draws_per_seed": int(per_seed.size().min()),
        "per_seed_means": means.tolist(),
    }


def oneshot_vs_paper(draws: pd.DataFrame, reported: dict[str, float]) -> pd.DataFrame:
    """The paper's single draw beside ours: the first draw of the first encoder seed, the mean over all
    draws and seeds, the spread over draws (within a seed) and over encoder seeds, per metric."""
    first_seed = draws.seed.iloc[0]
    first = draws[(draws.seed == first_seed)].sort_values("draw").iloc[0]
    rows = []
    for metric, value in reported.items():
        summary = seed_summary(draws, metric)
        rows.append(
            {
                "metric": metric,
                "paper": value,
                "ours, first draw": float(first[metric]),
                "ours, mean of draws": summary["mean"],
                "ours, std of draws": summary["draw_std"],
                "ours, std over encoder seeds": summary["seed_std"],
                "encoder seeds": summary["seeds"],
            }
        )
    return pd.DataFrame(rows)
