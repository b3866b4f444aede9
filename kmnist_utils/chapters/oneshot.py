"""Chapter 06: the Siamese encoders of the run, one-shot recognition with them and with the baselines
under the same support draws, the unseen-class study, and the chapter's tables and findings.

Notebooks call these; any notebook that needs an encoder trained by an earlier one asks for the same
spec and gets it from the checkpoint cache.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA

from kmnist_utils import references
from kmnist_utils.chapters import fewshot, siamese
from kmnist_utils.chapters.baselines import flatten
from kmnist_utils.chapters.fewshot import mean_interval, summarize_draws
from kmnist_utils.core.data import Parts
from kmnist_utils.engine.checkpoints import TrainedModel, TrainSpec
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.models import Features
from kmnist_utils.engine.runner import train
from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.engine.training import TrainConfig, to_tensor_images
from kmnist_utils.settings import SettingError
from kmnist_utils.stats import findings


def restrict(parts: Parts, classes: np.ndarray) -> Parts:
    """Only the images of ``classes`` in every part (for one-shot on classes never trained on)."""

    def keep(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mask = np.isin(y, classes)
        return x[mask], y[mask]

    return Parts(
        *keep(parts.x_train, parts.y_train), *keep(parts.x_val, parts.y_val), *keep(parts.x_test, parts.y_test)
    )


SIAMESE_OBJECTIVES = ("in_batch_pairs", "pairs", "prototypical")
# Our Siamese encoder with the paper's one-shot rule (Euclidean distance): the row the baselines and k-shot
# curves are compared with. The paper's method itself is the ladder's first rung (``PAPER_RUNG``).
PROTOCOL_ROW = "Siamese encoder"


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
        keep="best",  # our schedule: the weights of the lowest validation pair loss
    )
    hparams = {"embedding_dim": s.embedding_dim, "head": s.head, "encoder": "ours"}
    return TrainSpec(model="siamese", config=config, hparams=hparams, objective=chosen)


# --------------------------------------------------------------------------- the paper's method and our changes


def training_pool(parts: Parts) -> Parts:
    """The paper's Siamese network trains on, and draws its supports from, all 60,000 training images: the
    training and validation parts together (validation stays as it is, for the engine's monitor only)."""
    return Parts(np.concatenate([parts.x_train, parts.x_val]), np.concatenate([parts.y_train, parts.y_val]),
                 parts.x_val, parts.y_val, parts.x_test, parts.y_test)


@dataclass(frozen=True)
class Rung:
    """One row of the one-shot ladder: the paper's method, then our changes one at a time."""

    name: str
    change: str  # what this row changes against the row above it
    encoder: str  # models.SIAMESE_ENCODERS
    head: str  # models.SIAMESE_HEADS
    objective: str  # "paper_pairs" or "in_batch_pairs"


PAPER_RUNG = references.SIAMESE_METHOD
OURS_RUNG = "+ our encoder and schedule"
# What each rung changes; the numbers are filled in from the run's settings (``ladder_changes``).
LADDER = (
    Rung(PAPER_RUNG, f"{references.PROTOCOL}: its encoder (conv 64-128-128, a {{embedding}}-unit embedding), |z1 - z2| "
         "into one linear unit, {pairs:,} random pairs an epoch from the {pool:,} training images, {epochs} "
         "epochs, final weights", "paper", "weighted_l1", "paper_pairs"),
    Rung("+ in-batch pairs", "every pair inside batches of {batch} images, weighted half same, half different: one "
         "encoder pass per image", "paper", "weighted_l1", "in_batch_pairs"),
    Rung("+ Euclidean head", "the score b - s·||z1 - z2||², which ranks pairs as the one-shot rule does",
         "paper", "euclidean", "in_batch_pairs"),
)
OURS_CHANGE = ("our encoder (conv-BN 32-64-128, global pooling, {our_embedding}-d), trained on the {split:,}-image "
               "split for {our_epochs} epochs, the weights of the lowest validation pair loss")


def ladder_changes(ctx: RunContext, parts: Parts) -> dict[str, str]:
    """Rung -> what it changes, with the numbers of this run's settings."""
    s, p = ctx.profile.siamese, ctx.profile.siamese.paper
    numbers = {"embedding": p.embedding_dim, "pairs": p.pairs_per_epoch, "pool": len(training_pool(parts).y_train),
               "epochs": p.epochs, "batch": p.batch_size, "our_embedding": s.embedding_dim,
               "split": len(parts.y_train), "our_epochs": s.epochs}
    return {**{r.name: r.change.format(**numbers) for r in LADDER}, OURS_RUNG: OURS_CHANGE.format(**numbers)}


def rung_spec(ctx: RunContext, pool: Parts, rung: Rung, seed: int) -> TrainSpec:
    """A ladder rung's network on the 60,000 training images with the paper's schedule."""
    p = ctx.profile.siamese.paper
    if rung.objective == "paper_pairs":
        objective = siamese.PaperPairObjective(p.pairs_per_epoch, p.val_pairs)
    elif rung.objective == "in_batch_pairs":
        objective = siamese.InBatchPairObjective(p.val_pairs, p.batch_size)
    else:
        raise SettingError(f"a ladder rung's objective is 'paper_pairs' or 'in_batch_pairs', got {rung.objective!r}")
    config = TrainConfig(epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate, seed=seed,
                         precision=ctx.precision, threads=ctx.threads_per_run, keep="last")
    hparams = {"embedding_dim": p.embedding_dim, "head": rung.head, "encoder": rung.encoder}
    return TrainSpec(model="siamese", config=config, hparams=hparams, objective=objective, name=rung.name)


def ladder_runs(ctx: RunContext, parts: Parts) -> list[tuple[str, int, TrainSpec, Parts]]:
    """(rung, seed, spec, parts) of every ladder network: the rungs on the 60,000 training images, then our
    chapter's encoders (the last rung) on the training split."""
    pool = training_pool(parts)
    runs = [(rung.name, seed, rung_spec(ctx, pool, rung, seed), pool) for rung in LADDER for seed in ctx.seeds]
    return runs + [(OURS_RUNG, seed, replace(siamese_spec(ctx, parts, seed), name=OURS_RUNG), parts)
                   for seed in ctx.seeds]


def ladder_draws(ctx: RunContext, parts: Parts, trained: Mapping[tuple[str, int], torch.nn.Module]) -> pd.DataFrame:
    """10-way 1-shot draws of every (rung, seed) encoder under the same seeded support draws, one support
    per class from the 60,000 training images (the paper's rule), the whole test set as queries."""
    pool, draws = training_pool(parts), ctx.profile.siamese.draws
    rows = fewshot.support_rows(pool.y_train, [1], draws, ctx.seed)
    frames = []
    for (rung, seed), encoder in trained.items():
        z_pool, z_test = embed_parts(encoder, pool, ctx.device, rows)
        frames.append(fewshot.few_shot_draws(z_pool, pool.y_train, z_test, pool.y_test, shots=1, draws=draws,
                                             seed=ctx.seed).assign(rung=rung, seed=seed))
    return pd.concat(frames, ignore_index=True)


def ladder_history_summary(history: pd.DataFrame) -> pd.DataFrame:
    """Per ladder network: epochs, last training loss, lowest validation loss, last validation 1-shot, minutes."""
    return history.groupby(["rung", "seed"], sort=False).agg(
        epochs=("epoch", "max"), last_train_loss=("train_loss", "last"), best_val_loss=("val_loss", "min"),
        last_val_acc=("val_acc", "last"), minutes=("seconds", lambda s: s.sum() / 60))


def score_ladder(ctx: RunContext, parts: Parts, ladder: Mapping[tuple[str, int], TrainedModel]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ladder's 1-shot draws (``ladder_draws``) and its table (``ladder_table``)."""
    draws = ladder_draws(ctx, parts, {key: t.model.encoder for key, t in ladder.items()})
    return draws, ladder_table(draws, ladder_changes(ctx, parts))


def training_stops(ctx: RunContext, encoders: Sequence[TrainedModel]) -> list[str]:
    """How each of our encoders ended its schedule (``findings.training_stop``)."""
    s = ctx.profile.siamese
    return [findings.training_stop(f"Encoder seed {seed}", t.state.epoch, t.state.best_epoch, s.epochs, s.patience)
            for seed, t in zip(ctx.seeds, encoders)]


def _paired_difference(group: pd.DataFrame, base: pd.Series, name: str) -> tuple[float, float, float, str]:
    """Mean difference of ``group``'s accuracies from ``base`` over the same (seed, draw), with its 95%
    interval (Student t over the per-seed means; over the draws when one seed ran) and what it is over."""
    paired = group.set_index(["seed", "draw"]).accuracy - base
    if paired.isna().any():
        raise ValueError(f"rung {name!r} was not drawn over the paper method's seeds and draws")
    per_seed = paired.groupby(level="seed").mean()
    mean, low, high = mean_interval(per_seed if len(per_seed) > 1 else paired)
    return mean, low, high, "encoder seeds" if len(per_seed) > 1 else "draws (one seed)"


def ladder_table(draws: pd.DataFrame, changes: Mapping[str, str] | None = None,
                 reference: float = references.ONE_SHOT["accuracy"]) -> pd.DataFrame:
    """Per rung: what it changes, its mean 1-shot accuracy and macro F1, the spread over draws (within an
    encoder) and over encoders, and its difference from the paper's method paired over the same encoder
    seeds and support draws, with a 95% interval (Student t over the per-seed mean differences; over the
    draws when one seed ran); ``step_*``: the same against the rung before it. The paper-method row also
    says where the paper's number falls among its draws."""
    changes = changes or {}
    base = draws[draws.rung == PAPER_RUNG].set_index(["seed", "draw"]).accuracy
    out, before = [], base
    for name, group in draws.groupby("rung", sort=False):
        summary = seed_summary(group)
        mean, low, high, over = _paired_difference(group, base, name)
        step = _paired_difference(group, before, name)[:3] if name != PAPER_RUNG else (np.nan,) * 3
        before = group.set_index(["seed", "draw"]).accuracy
        out.append({
            "rung": name, "change": changes.get(name, name), "accuracy": summary["mean"],
            "f1_macro": float(group.f1_macro.mean()), "draw_std": summary["draw_std"],
            "seed_std": summary["seed_std"], "seeds": summary["seeds"], "draws_per_seed": summary["draws_per_seed"],
            "difference": mean, "ci95_low": low, "ci95_high": high, "interval_over": over,
            "step_difference": step[0], "step_ci95_low": step[1], "step_ci95_high": step[2],
            "paper_percentile": float((group.accuracy < reference).mean() * 100) if name == PAPER_RUNG else np.nan,
        })
    return pd.DataFrame(out)


def ladder_findings(draws: pd.DataFrame, table: pd.DataFrame, reference: float = references.ONE_SHOT["accuracy"]
                    ) -> list[str]:
    """The paper's method against the paper's number (judged by the spread over draws), each change
    against the paper's method, and from the second change on, against the rung before it (judged by
    their paired intervals)."""
    method = draws[draws.rung == PAPER_RUNG]
    lines = [findings.draws_versus_reference("The paper's method (1-shot, pooled over encoder seeds)",
                                             method.accuracy, reference)]
    rows = list(table.itertuples())
    for before, row in zip(rows, rows[1:]):
        line = findings.interval_verdict(f"{row.rung} ({row.change})", row.difference, row.ci95_low,
                                         row.ci95_high, "the paper's method", row.interval_over)
        if before.rung != PAPER_RUNG:
            step = findings.interval_verdict(row.rung, row.step_difference, row.step_ci95_low, row.step_ci95_high,
                                             f"the rung before it ({before.rung})", row.interval_over)
            line += " " + step
        lines.append(line)
    return lines


def ladder_encoders(ctx: RunContext, parts: Parts, unseen: bool = True
                    ) -> dict[tuple[str, int], TrainedModel]:
    """Every network of the one-shot ladder, (rung, seed) -> trained run: the paper's method and our changes
    on the 60,000 training images, and our chapter's encoders (``OURS_RUNG``) on the training split.

    ``unseen``: the encoders of the unseen-class study train in the same call, so that both cores stay
    busy until the chapter's last run ends (``unseen_class_experiment`` then loads them from the cache).
    """
    runs = ladder_runs(ctx, parts)
    settings = unseen_settings(ctx, parts, ctx.seed) if unseen else []
    later = [(spec, seen_parts) for (*_, seen_parts, _), spec in unseen_runs(ctx, settings, ctx.seed)]
    trained = train(ctx, [spec for _, _, spec, _ in runs] + [spec for spec, _ in later],
                    [p for *_, p in runs] + [p for _, p in later])
    return {(rung, seed): t for (rung, seed, _, _), t in zip(runs, trained)}


def siamese_encoders(ctx: RunContext, parts: Parts, unseen: bool = True
                     ) -> list[TrainedModel]:
    """Our chapter's Siamese network alone (no other ladder rung), one per seed of the run; ``unseen``: with
    the encoders of the unseen-class study in the same call."""
    specs = [siamese_spec(ctx, parts, seed) for seed in ctx.seeds]
    settings = unseen_settings(ctx, parts, ctx.seed) if unseen else []
    later = [(spec, seen_parts) for (*_, seen_parts, _), spec in unseen_runs(ctx, settings, ctx.seed)]
    trained = train(ctx, specs + [spec for spec, _ in later], [parts] * len(specs) + [p for _, p in later])
    return trained[: len(specs)]


def ladder_history(ladder: Mapping[tuple[str, int], TrainedModel]) -> pd.DataFrame:
    """Every ladder network's per-epoch history, with its rung and seed."""
    return pd.concat([pd.DataFrame(t.state.history).assign(rung=rung, seed=seed) for (rung, seed), t in ladder.items()],
                     ignore_index=True)


def embed_parts(encoder: torch.nn.Module, parts: Parts, device: str, rows: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the training and the test images of ``parts``. With ``rows`` only those training
    images are embedded (the supports the draws will use, ``fewshot.support_rows``) and the other
    rows are NaN: the encoder's forward pass is most of the evaluation's time, and the draws use a
    fraction of the training split."""
    z_test = fewshot.embed(encoder, to_tensor_images(parts.x_test, device))
    if rows is None:
        return fewshot.embed(encoder, to_tensor_images(parts.x_train, device)), z_test
    z_train = np.full((len(parts.x_train), z_test.shape[1]), np.nan, dtype=z_test.dtype)
    z_train[rows] = fewshot.embed(encoder, to_tensor_images(parts.x_train[rows], device))
    return z_train, z_test


def draw_rows(ctx: RunContext, parts: Parts) -> np.ndarray:
    """The training rows the chapter's support draws use (1-shot and every k of the profile)."""
    s = ctx.profile.siamese
    return fewshot.support_rows(parts.y_train, sorted({1, *s.shots}), s.draws, ctx.seed)


def encoder_embeddings(ctx: RunContext, parts: Parts, encoders: Sequence[TrainedModel]
                       ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(train, test) embeddings of every encoder seed, the training split only where the draws need it."""
    rows = draw_rows(ctx, parts)
    return {seed: embed_parts(t.model.encoder, parts, ctx.device, rows) for seed, t in zip(ctx.seeds, encoders)}


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
    """10-way 1-shot draws of every encoder seed of ours under two metrics: Euclidean distance (the paper's
    rule, "Siamese encoder") and cosine distance. The learned head is no third metric for our network: its
    score b - s·||z1 - z2||² falls as the Euclidean distance grows, so it picks the same support."""
    draws = ctx.profile.siamese.draws
    frames = []
    for trained, (seed, (z_train, z_test)) in zip(encoders, embeddings.items()):
        metrics = {PROTOCOL_ROW: "euclidean", "Siamese encoder, cosine distance": "cosine"}
        for name, metric in metrics.items():
            frames.append(
                fewshot.few_shot_draws(
                    z_train, parts.y_train, z_test, parts.y_test, shots=1, draws=draws, seed=ctx.seed, metric=metric
                ).assign(embedding=name, seed=seed)
            )
    return pd.concat(frames, ignore_index=True)


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
        PROTOCOL_ROW: siamese_embeddings,
        "raw pixels": {ctx.seed: (flatten(parts.x_train), flatten(parts.x_test))},
        f"PCA ({components} components)": {
            ctx.seed: tuple(pca_features(parts.x_train, components, parts.x_train, parts.x_test))
        },
        "TunedImprovedCNN features": {ctx.seed: embed_parts(Features(classifier), parts, ctx.device,
                                                            draw_rows(ctx, parts))},
    }


def kshot_draws(
    ctx: RunContext,
    parts: Parts,
    features: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]],
    metric_draws: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Nearest-prototype draws for every embedding (per seed where it has several) and every k of the profile,
    plus the 1-shot rows of ``metric_draws`` other than ``PROTOCOL_ROW`` (cosine distance)."""
    settings = ctx.profile.siamese
    frames = [
        fewshot.few_shot_draws(
            z_train, parts.y_train, z_test, parts.y_test, shots=k, draws=settings.draws, seed=ctx.seed
        ).assign(embedding=name, seed=seed)
        for name, by_seed in features.items()
        for seed, (z_train, z_test) in by_seed.items()
        for k in settings.shots
    ]
    if metric_draws is not None:
        frames.append(metric_draws[metric_draws.embedding != PROTOCOL_ROW].assign(shots=1))
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
            fewshot.class_splits(10, seen, s.unseen_splits, seed=derived_seed(seed, seen))
        )
    ]


def unseen_runs(ctx: RunContext, settings: Sequence[UnseenSetting], seed: int
                ) -> list[tuple[tuple[int, int, str, Parts, Parts], TrainSpec]]:
    """The encoders of the unseen-class study for ``settings`` (``unseen_settings``): ((seen, split,
    encoder name, seen parts, novel parts), spec)."""
    return [
        ((seen, split, name, seen_parts, novel_parts),
         replace(siamese_spec(ctx, seen_parts, seed, objective, unseen=True),
                 name=f"{name} on {seen} seen classes, split {split}"))
        for seen, split, _, seen_parts, novel_parts in settings
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
    runs = unseen_runs(ctx, settings, seed)  # the class splits restricted once, for training and scoring
    models = train(ctx, [spec for _, spec in runs], [key[3] for key, _ in runs], verbose=False)
    trained = {(seen, split, name): m.model.encoder for ((seen, split, name, _, _), _), m in zip(runs, models)}
    rows = []
    for seen, split, seen_classes, seen_parts, novel_parts in settings:
        novel = np.unique(novel_parts.y_train)
        encoders = {name: trained[seen, split, name] for name in UNSEEN_ENCODERS}
        supports = fewshot.support_rows(novel_parts.y_train, [1], s.unseen_draws, seed, novel)
        candidates = {
            **{name: embed_parts(encoder, novel_parts, ctx.device, supports) for name, encoder in encoders.items()},
            UNSEEN_BASELINES[0]: (flatten(novel_parts.x_train), flatten(novel_parts.x_test)),
            UNSEEN_BASELINES[1]: tuple(
                pca_features(seen_parts.x_train, s.pca_components, novel_parts.x_train, novel_parts.x_test)
            ),
        }
        for embedding, (z_train, z_test) in candidates.items():
            draws = fewshot.few_shot_draws(
                z_train,
                novel_parts.y_train,
                z_test,
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





def oneshot_findings(draws: pd.DataFrame, reference: float = references.ONE_SHOT["accuracy"],
                     targets: Mapping[str, float] | None = None) -> list[str]:
    """Sentences on the 1-shot draws of every encoder seed of ours: the Euclidean rule against the paper's single
    draw (``reference``) and against each of ``targets`` (name -> accuracy; the chapter's target and aim), then
    every other metric against the paper's protocol, seed by seed."""
    targets = targets or {"target": references.ONE_SHOT_TARGET, "aim": references.ONE_SHOT_AIM}
    protocol = draws[draws.embedding == PROTOCOL_ROW]
    per_seed = protocol.groupby("seed").accuracy.mean()
    return [
        findings.draws_versus_reference(
            "Our Siamese encoder, Euclidean distance (the paper's one-shot rule)", protocol.accuracy, reference
        ),
    ] + [
        findings.target_verdict(f"Mean over draws and encoder seeds against the {name}", protocol.accuracy.mean(),
                                value)
        for name, value in targets.items()
    ] + [
        findings.paired_comparison(name, group.groupby("seed").accuracy.mean(), "Euclidean", per_seed)
        for name, group in draws.groupby("embedding", sort=False)
        if name != PROTOCOL_ROW
    ]


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


def unseen_tables(ctx: RunContext, parts: Parts) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The unseen-class study of the run's first seed: its rows per split, their summary per encoder, and
    the paired differences of each encoder to each baseline."""
    rows = unseen_class_experiment(ctx, parts, ctx.seed)
    return rows, summarize_unseen(rows), unseen_differences(rows, UNSEEN_ENCODERS, UNSEEN_BASELINES)


def summarize_unseen(rows: pd.DataFrame) -> pd.DataFrame:
    """Per number of seen classes and embedding: the mean over class splits of the mean 1-shot accuracy
    over draws, and its 95% interval over splits."""
    out = []
    for seen, group in rows.groupby("seen_classes"):
        wide = group.pivot(index="split", columns="embedding", values="accuracy")
        for embedding in wide.columns:
            mean, low, high = mean_interval(wide[embedding])
            out.append({"seen_classes": seen, "way": int(group.way.iloc[0]), "embedding": embedding,
                        "splits": len(wide), "accuracy": mean, "ci95_low": low, "ci95_high": high})
    return pd.DataFrame(out)


def unseen_differences(rows: pd.DataFrame, ours: Sequence[str], baselines: Sequence[str]) -> pd.DataFrame:
    """Per number of seen classes, each encoder of ``ours`` against each baseline: the paired difference
    in 1-shot accuracy (same class split, same support draws), its mean over splits and 95% interval."""
    out = []
    for seen, group in rows.groupby("seen_classes"):
        wide = group.pivot(index="split", columns="embedding", values="accuracy")
        for encoder in ours:
            for baseline in baselines:
                mean, low, high = mean_interval(wide[encoder] - wide[baseline])
                out.append({"seen_classes": seen, "way": int(group.way.iloc[0]), "encoder": encoder,
                            "baseline": baseline, "splits": len(wide), "difference": mean,
                            "ci95_low": low, "ci95_high": high})
    return pd.DataFrame(out)
