"""The experiments of the report, wired from a run context: data parts, specs, train-and-evaluate.

Notebooks call these; any notebook that needs a model trained by an earlier one calls the same
function and gets it from the checkpoint cache instead of retraining.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA

from kmnist_utils import batched, parallel, saliency, siamese
from kmnist_utils.baselines import fit_logistic_regression, flatten
from kmnist_utils.checkpoints import CheckpointStore, TrainedModel, TrainSpec, mark_trained_now, train_cached
from kmnist_utils.config import RunContext
from kmnist_utils.data import Parts, load_official, split_parts, train_val_split
from kmnist_utils.metrics import classification_metrics
from kmnist_utils.models import Features, build_model
from kmnist_utils.seeding import derived_seed
from kmnist_utils.settings import SettingError
from kmnist_utils.training import TensorSplit, TrainConfig, make_tensor_split, predict_logits, to_tensor_images


def load_parts(ctx: RunContext) -> Parts:
    """The official data, split and subset as the run's profile says: every chapter's one way in."""
    profile = ctx.profile
    data = load_official()
    return split_parts(data, train_val_split(data.y_train, seed=profile.split_seed), profile.train_subset,
                       profile.val_subset, profile.test_subset, test_seed=profile.split_seed)


@lru_cache(maxsize=2)
def _tensor_split(parts: Parts, device: str) -> TensorSplit:
    return make_tensor_split(parts.x_train, parts.y_train, parts.x_val, parts.y_val, device)


def tensor_split(ctx: RunContext, parts: Parts) -> TensorSplit:
    """The training/validation tensors on the run's device (built once per set of parts)."""
    return _tensor_split(parts, ctx.device)


def checkpoint_store(ctx: RunContext) -> CheckpointStore:
    return CheckpointStore(ctx.cache_dir / "checkpoints")


def cnn_spec(
    ctx: RunContext,
    model: str,
    seed: int,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    dropout: float | None = None,
    precision: str | None = None,
) -> TrainSpec:
    """The profile's settings for ``model``; a keyword argument that is not None overrides them (grid search)."""
    profile = ctx.profile

    def chosen(value, default):
        return default if value is None else value

    config = TrainConfig(
        epochs=chosen(epochs, profile.epochs[model]),
        batch_size=chosen(batch_size, profile.batch_size),
        learning_rate=chosen(learning_rate, profile.learning_rate),
        seed=seed,
        precision=chosen(precision, ctx.precision),
        threads=ctx.threads_per_run,
        channels_last=ctx.channels_last.get(model, False),
    )
    hparams = {"dropout": chosen(dropout, profile.dropout)} if model == "improved" else {}
    return TrainSpec(model=model, config=config, hparams=hparams)


def milestones(ctx: RunContext, spec: TrainSpec) -> tuple[int, ...]:
    """Epoch counts at which a run is also kept as a shorter finished run.

    The grid search trains the Improved CNN for ``grid_epochs``; a full-length Improved CNN run
    with the same settings passes through exactly that state, so it is stored on the way.
    """
    return (ctx.profile.grid_epochs,) if spec.model == "improved" else ()


BATCHED_ENV_VAR = "KMNIST_BATCHED"


def batched_training(device: str) -> bool:
    """Whether independent runs of one architecture train as one batched model (``batched``).

    ``$KMNIST_BATCHED`` = 1 or 0 decides; unset, only on CUDA, where a step of these small CNNs is
    kernel-launch bound. On the project's 2-core CPU it did not pay (the worker processes do):
    ``benchmarks/batched_speed.py``.
    """
    chosen = os.environ.get(BATCHED_ENV_VAR, "")
    if chosen not in {"", "0", "1"}:
        raise ValueError(f"${BATCHED_ENV_VAR} must be 1 or 0 (or unset), got {chosen!r}")
    return chosen == "1" if chosen else torch.device(device).type == "cuda"


def _train_groups(ctx: RunContext, todo: list[tuple[TrainSpec, Parts]]) -> list[tuple[TrainSpec, Parts]]:
    """Train the groupable runs together, one group per (architecture, epochs, batch size, precision,
    memory format, objective, data); return the runs left for the usual path."""
    groups: dict[tuple, list[tuple[TrainSpec, Parts]]] = {}
    left = []
    for spec, parts in todo:
        if batched.groupable(spec):
            config = spec.config
            objective = json.dumps(spec.objective and spec.objective.describe(), sort_keys=True)
            key = (spec.model, json.dumps(spec.hparams, sort_keys=True), config.epochs, config.batch_size,
                   config.precision, config.channels_last, objective, id(parts))
            groups.setdefault(key, []).append((spec, parts))
        else:
            left.append((spec, parts))
    for members in groups.values():
        if len(members) == 1:
            left.extend(members)
            continue
        specs, parts = [spec for spec, _ in members], members[0][1]
        print(f"training {len(specs)} {specs[0].model} run(s) as one batched model", flush=True)
        batched.train_group_cached(specs, tensor_split(ctx, parts), checkpoint_store(ctx), lambda s: milestones(ctx, s))
    return left


def pretrain(ctx: RunContext, jobs: Sequence[tuple[TrainSpec, Parts]], workers: int | None = None) -> None:
    """Train every (spec, parts) not finished in the cache yet, several at once where that is faster.

    Afterwards ``train_cached`` (or ``train_and_test``) loads each of them from the cache.
    """
    store = checkpoint_store(ctx)
    todo, seen = [], set()
    for spec, parts in jobs:
        meta = spec.meta(tensor_split(ctx, parts))
        path = store.path(meta)
        if path in seen or store.is_finished(meta):
            continue
        seen.add(path)
        todo.append((spec, parts))
    if batched_training(ctx.device):
        todo = _train_groups(ctx, todo)
    runs = [parallel.Job(spec, (parts.x_train, parts.y_train, parts.x_val, parts.y_val), ctx.device, store.root,
                         milestones(ctx, spec)) for spec, parts in todo]
    workers = parallel.worker_count(ctx.device, len(runs)) if workers is None else workers
    if len(runs) > 1 and workers > 1:
        parallel.run_jobs(runs, workers)
        for path in seen:
            mark_trained_now(path)
    # One run (or one worker) trains in this process, with its progress bar.


def logits_of(model: torch.nn.Module, images: np.ndarray, device: str) -> np.ndarray:
    """fp32 logits for uint8 images, as a numpy array."""
    return predict_logits(model, to_tensor_images(images, device)).cpu().numpy()


def test_predictions(model: torch.nn.Module, images: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and softmax probabilities (fp32 inference) for uint8 images."""
    probs = torch.softmax(torch.from_numpy(logits_of(model, images, device)), dim=1).numpy()
    return probs.argmax(1), probs


@dataclass
class CNNRun:
    seed: int
    trained: TrainedModel
    y_pred: np.ndarray
    metrics: dict[str, float]


def train_and_test(ctx: RunContext, parts: Parts, spec: TrainSpec, progress: bool = True) -> CNNRun:
    """Train (or load) one spec and score it on the test part."""
    trained = train_cached(spec, tensor_split(ctx, parts), checkpoint_store(ctx), progress=progress,
                           milestones=milestones(ctx, spec))
    y_pred, _ = test_predictions(trained.model, parts.x_test, ctx.device)
    return CNNRun(spec.config.seed, trained, y_pred, classification_metrics(parts.y_test, y_pred))


def training_summary(trained: TrainedModel) -> dict:
    """Best epoch, its validation loss and accuracy, training time, precision and whether it came from the cache."""
    state = trained.state
    return {
        "best_epoch": state.best_epoch,
        "best_val_loss": state.best_val_loss,
        "val_acc_at_best": state.history[state.best_epoch - 1]["val_acc"],
        "train_seconds": round(sum(h["seconds"] for h in state.history), 1),
        "precision_mode": trained.meta["config"]["precision"],
        "from_cache": trained.from_cache,
    }


def run_rows(label: str, runs: list[CNNRun]) -> pd.DataFrame:
    """One row per seed: metrics, best epoch, training time and whether it came from the cache."""
    return pd.DataFrame([{"model": label, "seed": run.seed, **run.metrics, **training_summary(run.trained)}
                         for run in runs])


def seed_histories(seeds: Sequence[int], trained: Sequence[TrainedModel], **columns) -> pd.DataFrame:
    """Every run's per-epoch history, one run per seed, with ``columns`` (e.g. ``model=``) and its seed added."""
    return pd.concat([pd.DataFrame(t.state.history).assign(**columns, seed=seed) for seed, t in zip(seeds, trained)],
                     ignore_index=True)


def histories(label: str, runs: list[CNNRun]) -> pd.DataFrame:
    return seed_histories([r.seed for r in runs], [r.trained for r in runs], model=label)


# Index of the randomised twin's seed in the derived-seed sequence of a run seed; far from the
# small indices (epochs, draws) that other uses of the same base take.
RANDOM_TWIN_INDEX = 90_000


def randomised_twin(ctx: RunContext, trained: TrainedModel) -> torch.nn.Module:
    """The same architecture with fresh random weights (seeded), for the saliency sanity check."""
    torch.manual_seed(derived_seed(ctx.seed, RANDOM_TWIN_INDEX))
    return build_model(trained.meta["model"], **trained.meta["hparams"]).to(ctx.device).eval()


def test_images(ctx: RunContext, parts: Parts, indices: np.ndarray) -> torch.Tensor:
    """The test images at ``indices`` as a float tensor on the run's device."""
    return to_tensor_images(parts.x_test[np.asarray(indices)], ctx.device)


def saliency_sanity(
    ctx: RunContext, parts: Parts, trained: TrainedModel, methods: dict, probe_size: int = 64
) -> tuple[pd.DataFrame, torch.nn.Module]:
    """The randomisation check of every method on a seeded sample of test images, and the randomised twin."""
    twin = randomised_twin(ctx, trained)
    probe = np.random.default_rng(ctx.seed).choice(len(parts.y_test), min(probe_size, len(parts.y_test)), replace=False)
    return saliency.sanity_check(trained.model, twin, test_images(ctx, parts, probe), methods), twin


@dataclass
class LogRegRun:
    seed: int
    y_pred: np.ndarray
    metrics: dict[str, float]
    seconds: float


def logistic_regression_run(ctx: RunContext, parts: Parts, seed: int) -> LogRegRun:
    """Fit the baseline on a seeded subset of the training part and score it on the test part."""
    start = time.perf_counter()
    size = min(ctx.profile.logreg_train_size, len(parts.y_train))
    model = fit_logistic_regression(parts.x_train, parts.y_train, size=size, seed=seed)
    y_pred = model.predict(flatten(parts.x_test))
    return LogRegRun(seed, y_pred, classification_metrics(parts.y_test, y_pred), time.perf_counter() - start)


# --------------------------------------------------------------------------- Siamese one-shot


def restrict(parts: Parts, classes: np.ndarray) -> Parts:
    """Only the images of ``classes`` in every part (for one-shot on classes never trained on)."""

    def keep(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.isin(y, classes)
        return x[mask], y[mask]

    return Parts(
        *keep(parts.x_train, parts.y_train), *keep(parts.x_val, parts.y_val), *keep(parts.x_test, parts.y_test)
    )


SIAMESE_OBJECTIVES = ("in_batch_pairs", "pairs", "prototypical")


def siamese_spec(ctx: RunContext, parts: Parts, seed: int, objective: str | None = None,
                 unseen: bool = False) -> TrainSpec:
    """The profile's Siamese network on ``parts``, trained for the profile's fixed number of epochs with
    ``objective`` (None: the profile's):

    - ``in_batch_pairs``: binary cross-entropy over the balanced pairs formed inside each batch, one
      encoder pass over the training images an epoch;
    - ``pairs``: the same loss on freshly drawn balanced pairs, 2 x pairs_per_image encoder passes an
      image an epoch (the two-branch sampling of Koch et al.);
    - ``prototypical``: episodes holding each training image once an epoch on average, the encoder
      passes of ``in_batch_pairs``.

    ``unseen``: the schedule of the encoders trained on a subset of the classes.
    """
    s = ctx.profile.siamese
    objective = objective or s.objective
    images_per_epoch = 2 * len(parts.y_train) * s.pairs_per_image
    val_pairs = len(parts.y_val) * s.val_pairs_per_image
    if objective == "in_batch_pairs":
        chosen, batch_size = siamese.InBatchPairObjective(round(val_pairs), s.in_batch_size), s.in_batch_size
    elif objective == "pairs":
        chosen = siamese.PairObjective(round(images_per_epoch / 2), round(val_pairs))
        batch_size = s.batch_size
    elif objective == "prototypical":
        way, shot, query = s.episode
        way = min(way, len(np.unique(parts.y_train)))
        per_episode = way * (shot + query)
        chosen = siamese.PrototypicalObjective(
            max(1, round(len(parts.y_train) / per_episode)), max(1, round(2 * val_pairs / per_episode)), way, shot,
            query
        )
        batch_size = 1  # one episode a step
    else:
        raise SettingError(f"Siamese objective must be one of {SIAMESE_OBJECTIVES}, got {objective!r}")
    config = TrainConfig(
        epochs=s.unseen_epochs if unseen else s.epochs,
        batch_size=batch_size,
        learning_rate=s.learning_rate,
        seed=seed,
        patience=s.patience,
        precision=ctx.precision,
        threads=ctx.threads_per_run,
        channels_last=ctx.channels_last.get("siamese", False),
    )
    return TrainSpec(
        model="siamese", config=config, hparams={"embedding_dim": s.embedding_dim, "head": s.head}, objective=chosen
    )


def siamese_encoders(ctx: RunContext, parts: Parts, progress: bool = True, unseen: bool = True
                     ) -> list[TrainedModel]:
    """One Siamese network per seed of the run, on all classes (trained side by side where faster).

    ``unseen``: the encoders of the unseen-class study train in the same call, so that both cores stay
    busy until the chapter's last run ends (``unseen_class_experiment`` then loads them from the cache).
    """
    specs = [siamese_spec(ctx, parts, seed) for seed in ctx.seeds]
    later = [(spec, seen_parts) for (*_, seen_parts, _), spec in unseen_runs(ctx, parts, ctx.seed)] if unseen else []
    pretrain(ctx, [(spec, parts) for spec in specs] + later)
    return [train_cached(spec, tensor_split(ctx, parts), checkpoint_store(ctx), progress=progress) for spec in specs]


def embed_parts(encoder: torch.nn.Module, parts: Parts, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the training and the test images of ``parts``."""
    return (
        siamese.embed(encoder, to_tensor_images(parts.x_train, device)),
        siamese.embed(encoder, to_tensor_images(parts.x_test, device)),
    )


def pca_features(fit_on: np.ndarray, components: int, *images: np.ndarray) -> list[np.ndarray]:
    """PCA fitted on the pixels of ``fit_on``, applied to each of ``images``."""
    pca = PCA(n_components=min(components, len(fit_on)), svd_solver="covariance_eigh").fit(flatten(fit_on))
    return [pca.transform(flatten(x)) for x in images]


def siamese_metric_draws(
    ctx: RunContext,
    parts: Parts,
    encoders: Sequence[TrainedModel],
    embeddings: dict[int, tuple[np.ndarray, np.ndarray]],
) -> pd.DataFrame:
    """10-way 1-shot draws of every encoder seed under three metrics: the paper's Euclidean distance
    ("Siamese encoder"), cosine distance and the learned comparison head."""
    draws = ctx.profile.siamese.draws
    frames = []
    for trained, (seed, (z_train, z_test)) in zip(encoders, embeddings.items()):
        metrics = {
            siamese.PROTOCOL_ROW: "euclidean",
            "Siamese encoder, cosine distance": "cosine",
            "Siamese encoder, learned head": siamese.head_similarity(trained.model),
        }
        for name, metric in metrics.items():
            frames.append(
                siamese.few_shot_draws(
                    z_train, parts.y_train, z_test, parts.y_test, shots=1, draws=draws, seed=ctx.seed, metric=metric
                ).assign(embedding=name, seed=seed)
            )
    return pd.concat(frames, ignore_index=True)


def siamese_history(ctx: RunContext, encoders: Sequence[TrainedModel]) -> pd.DataFrame:
    """The per-epoch history of every encoder, one per seed of the run."""
    return seed_histories(ctx.seeds, encoders)


def oneshot_features(
    ctx: RunContext,
    parts: Parts,
    siamese_embeddings: dict[int, tuple[np.ndarray, np.ndarray]],
    classifier: torch.nn.Module,
) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """(train, test) features per embedding and seed: the Siamese encoders against raw pixels, PCA and
    the penultimate layer of a trained classifier (which, unlike the others, saw every label)."""
    components = ctx.profile.siamese.pca_components
    return {
        siamese.PROTOCOL_ROW: siamese_embeddings,
        "raw pixels": {ctx.seed: (flatten(parts.x_train), flatten(parts.x_test))},
        f"PCA ({components} components)": {
            ctx.seed: tuple(pca_features(parts.x_train, components, parts.x_train, parts.x_test))
        },
        "TunedImprovedCNN features": {ctx.seed: embed_parts(Features(classifier), parts, ctx.device)},
    }


def kshot_draws(
    ctx: RunContext,
    parts: Parts,
    features: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]],
    metric_draws: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Nearest-prototype draws for every embedding (per seed where it has several) and every k of the profile,
    plus the 1-shot rows of ``metric_draws`` other than the paper's protocol (cosine, learned head)."""
    settings = ctx.profile.siamese
    frames = [
        siamese.few_shot_draws(
            train, parts.y_train, test, parts.y_test, shots=k, draws=settings.draws, seed=ctx.seed
        ).assign(embedding=name, seed=seed)
        for name, by_seed in features.items()
        for seed, (train, test) in by_seed.items()
        for k in settings.shots
    ]
    if metric_draws is not None:
        frames.append(metric_draws[metric_draws.embedding != siamese.PROTOCOL_ROW].assign(shots=1))
    return pd.concat(frames, ignore_index=True)


def pca_2d(features: np.ndarray) -> np.ndarray:
    """The first two principal components of ``features``, for a picture."""
    return PCA(n_components=2).fit_transform(features)


UNSEEN_ENCODERS = ("Siamese encoder (pairs)", "prototypical encoder")
# The objective behind each encoder of the unseen-class study: the chapter's pairs, and episodes.
UNSEEN_OBJECTIVES = (None, "prototypical")  # None: the profile's Siamese objective
UNSEEN_BASELINES = ("raw pixels", "PCA")


UnseenSetting = tuple[int, int, np.ndarray, Parts, Parts]  # seen count, split, seen classes, seen/novel parts


def unseen_settings(ctx: RunContext, parts: Parts, seed: int) -> list[UnseenSetting]:
    """Every (seen count, class split) of the profile's unseen-class study, with its parts."""
    s = ctx.profile.siamese
    return [
        (seen, split, seen_classes, restrict(parts, seen_classes), restrict(parts, novel))
        for seen in s.unseen_seen_counts
        for split, (seen_classes, novel) in enumerate(
            siamese.class_splits(10, seen, s.unseen_splits, seed=derived_seed(seed, seen))
        )
    ]


def unseen_runs(ctx: RunContext, parts: Parts, seed: int) -> list[tuple[tuple[int, int, str, Parts, Parts], TrainSpec]]:
    """The encoders of the unseen-class study: ((seen, split, encoder name, seen parts, novel parts), spec)."""
    return [
        ((seen, split, name, seen_parts, novel_parts), siamese_spec(ctx, seen_parts, seed, objective, unseen=True))
        for seen, split, _, seen_parts, novel_parts in unseen_settings(ctx, parts, seed)
        for name, objective in zip(UNSEEN_ENCODERS, UNSEEN_OBJECTIVES)
    ]


def unseen_class_experiment(ctx: RunContext, parts: Parts, seed: int) -> pd.DataFrame:
    """1-shot recognition of classes the encoder never saw, over random class splits.

    For every number of seen classes in the profile and every seeded split, encoders with both
    objectives are trained on the seen classes only; the novel classes are then recognised
    ((10 - seen)-way, one support per class from their training images, all their test images as
    queries) with each encoder, raw pixels and PCA fitted on the seen classes, under the same
    support draws. One row per (seen count, split, embedding): the mean accuracy over the draws.
    """
    s = ctx.profile.siamese
    settings = unseen_settings(ctx, parts, seed)
    runs = unseen_runs(ctx, parts, seed)
    pretrain(ctx, [(spec, seen_parts) for (_, _, _, seen_parts, _), spec in runs])
    specs = {(seen, split, name): spec for (seen, split, name, _, _), spec in runs}
    rows = []
    for seen, split, seen_classes, seen_parts, novel_parts in settings:
        novel = np.unique(novel_parts.y_train)
        encoders = {
            name: train_cached(
                specs[seen, split, name], tensor_split(ctx, seen_parts), checkpoint_store(ctx), progress=False
            ).model.encoder
            for name in UNSEEN_ENCODERS
        }
        candidates = {
            **{name: embed_parts(encoder, novel_parts, ctx.device) for name, encoder in encoders.items()},
            UNSEEN_BASELINES[0]: (flatten(novel_parts.x_train), flatten(novel_parts.x_test)),
            UNSEEN_BASELINES[1]: tuple(
                pca_features(seen_parts.x_train, s.pca_components, novel_parts.x_train, novel_parts.x_test)
            ),
        }
        for embedding, (train, test) in candidates.items():
            draws = siamese.few_shot_draws(
                train,
                novel_parts.y_train,
                test,
                novel_parts.y_test,
                shots=1,
                draws=s.unseen_draws,
                seed=seed,
                classes=novel,
            )
            rows.append(
                {
                    "seen_classes": seen,
                    "way": len(novel),
                    "split": split,
                    "classes_seen": " ".join(map(str, seen_classes)),
                    "embedding": embedding,
                    "accuracy": draws.accuracy.mean(),
                    "draw_std": draws.accuracy.std(ddof=1),
                }
            )
    return pd.DataFrame(rows)
