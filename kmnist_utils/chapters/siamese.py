"""Siamese metric learning (section IV of the paper): how the training pairs are formed and scored.

The encoder maps a 28x28 image to an embedding; the comparison head turns a pair of embeddings into
a scalar score g, and p = sigmoid(g) is trained with binary cross-entropy on balanced same/different
pairs (Koch et al. 2015): drawn two images a pair (``PairObjective``), or formed inside each batch
from one encoder pass (``InBatchPairObjective``). For classes the encoder never saw, an episodic
prototypical objective (Snell et al. 2017) is the alternative built for transfer. Every objective
validates on the 1-shot accuracy inside the validation split (``validation_one_shot``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from kmnist_utils.chapters.fewshot import draw_supports
from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.engine.training import TensorSplit, autocast_context, epoch_permutation


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


def _class_blocks(labels: np.ndarray, n_pairs: int, min_pairs: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What pair sampling needs of the labels: the classes, the images sorted by class, each image's class
    index (0..C-1), and each class's count and start in that order; checks the request first."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError("pairs need at least two classes")
    if n_pairs < min_pairs:
        raise ValueError(f"n_pairs must be at least {min_pairs}, got {n_pairs}")
    order = np.argsort(labels, kind="stable")
    class_pos = np.searchsorted(classes, labels)
    counts = np.bincount(class_pos, minlength=len(classes))
    return classes, order, class_pos, counts, np.concatenate([[0], np.cumsum(counts)[:-1]])


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """Balanced pairs in random order (half same class, half different): array (n_pairs, 3) of (i, j, same).

    Vectorised and seeded. Anchors are uniform over the images; a positive partner is uniform over
    the anchor's class (never the anchor itself), a negative one uniform over the other classes.
    """
    classes, order, class_pos, counts, starts = _class_blocks(labels, n_pairs, min_pairs=2)
    if counts.min() < 2:
        raise ValueError("every class needs at least two images to form a positive pair")
    rng = np.random.default_rng(seed)
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


def paper_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> np.ndarray:
    """Pairs drawn as the paper's code drew them: (n_pairs, 3) of (i, j, same), seeded.

    Each pair's anchor is uniform over all images; with probability 0.5 the partner is uniform over the
    anchor's class (the anchor itself included), otherwise a class is drawn uniformly from the other
    classes and the partner uniformly from it. The number of same-class pairs is binomial, not fixed.
    """
    classes, order, class_pos, counts, starts = _class_blocks(labels, n_pairs, min_pairs=1)
    rng = np.random.default_rng(seed)
    anchors = rng.integers(0, len(labels), size=n_pairs)
    same = rng.random(n_pairs) < 0.5
    partner_class = np.where(same, class_pos[anchors],
                             (class_pos[anchors] + rng.integers(1, len(classes), size=n_pairs)) % len(classes))
    partners = order[starts[partner_class] + rng.integers(0, counts[partner_class])]
    return np.stack([anchors, partners, same.astype(np.int64)], axis=1).astype(np.int64)


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


class PaperPairObjective(PairObjective):
    """The paper's pairs: ``pairs_per_epoch`` fresh pairs an epoch drawn as its code drew them
    (``paper_pairs``), binary cross-entropy, two encoder branches per pair (one pass: the paper's encoder
    has no batch statistics). The paper had no validation; ``validate`` scores the usual fixed pairs and
    1-shot draws on the run's validation images, a monitor that selects nothing."""

    def describe(self) -> dict:
        return {**super().describe(), "kind": "paper_pairs", "sampling": 1}

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        pairs = paper_pairs(data.y_train.cpu().numpy(), self.pairs_per_epoch, derived_seed(seed, epoch))
        return torch.from_numpy(pairs).to(data.x_train.device)


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
