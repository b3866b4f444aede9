"""Chapter 03: the paper's three CNNs, trained with the profile's settings and scored on the test set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from kmnist_utils.core.data import Parts
from kmnist_utils.engine.checkpoints import TrainedModel, TrainSpec
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.runner import seed_histories, test_predictions, train, training_summary
from kmnist_utils.engine.training import TrainConfig
from kmnist_utils.references import BEST_EPOCH_PROTOCOL, PROTOCOL, ROUNDINGS, reported_runs
from kmnist_utils.settings import DISPLAY_NAMES, RECORDS
from kmnist_utils.stats.findings import versus_paper_runs
from kmnist_utils.stats.metrics import classification_metrics, compare_with_paper, summarize_seeds


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
    hparams = {"dropout": chosen(dropout, profile.dropout)} if RECORDS[model].tuned else {}
    return TrainSpec(model=model, config=config, hparams=hparams)



@dataclass
class CNNRun:
    seed: int
    trained: TrainedModel
    y_pred: np.ndarray
    metrics: dict[str, float]



def train_and_test(ctx: RunContext, parts: Parts, specs: Sequence[TrainSpec]) -> list[CNNRun]:
    """Train (or load) every spec in one call and score each model on the test part."""
    runs = []
    for spec, trained in zip(specs, train(ctx, specs, parts)):
        y_pred, _ = test_predictions(trained.model, parts.x_test, ctx.device)
        runs.append(CNNRun(spec.config.seed, trained, y_pred, classification_metrics(parts.y_test, y_pred)))
    return runs


def best_epoch_runs(ctx: RunContext, parts: Parts, runs: Sequence[CNNRun]) -> list[CNNRun]:
    """The same runs scored with the weights of their lowest validation loss (what the paper's code meant
    to restore): no training, the cache keeps both sets of weights."""
    out = []
    for run in runs:
        trained = run.trained.with_keep("best")
        y_pred, _ = test_predictions(trained.model, parts.x_test, ctx.device)
        out.append(CNNRun(run.seed, trained, y_pred, classification_metrics(parts.y_test, y_pred)))
    return out


def protocol_of(run: CNNRun) -> str:
    """The protocol column of a run's row: the paper's (fixed epochs, final weights) or what changed."""
    return PROTOCOL if run.trained.keep == "last" else BEST_EPOCH_PROTOCOL


def run_rows(label: str, runs: list[CNNRun], protocol: str | None = None) -> pd.DataFrame:
    """One row per seed: protocol (``protocol``, else ``protocol_of``), metrics, the weights kept and their
    epoch, training time, cache."""
    return pd.DataFrame([{"model": label, "protocol": protocol or protocol_of(run), "seed": run.seed, **run.metrics,
                          **training_summary(run.trained)} for run in runs])



def versus_paper(tables: Sequence[pd.DataFrame], n_images: int) -> pd.DataFrame:
    """Table I's comparison for ``run_rows`` tables (one per protocol): per model, protocol and metric, both of
    the paper's runs and the prediction interval of ours on ``n_images`` test images."""
    return compare_with_paper(summarize_seeds(pd.concat(list(tables), ignore_index=True)), n_images=n_images)


def versus_paper_lines(tables: Sequence[pd.DataFrame], models: Sequence[str], n_images: int) -> list[str]:
    """Each model's test accuracy under each protocol against both of the paper's runs (Table I, its
    notebook), judged by the 95% prediction interval for one more run of ours; models the paper does not
    report are left out."""
    return [versus_paper_runs(f"{DISPLAY_NAMES[name]}, test accuracy (protocol: {protocol})", rows.accuracy.mean(),
                              rows.accuracy.std(ddof=1), len(rows), reported_runs(name), ROUNDINGS, n_images)
            for table in tables for name in models if reported_runs(name)
            for protocol, rows in table[table.model == name].groupby("protocol", sort=False)]


def histories(label: str, runs: list[CNNRun]) -> pd.DataFrame:
    return seed_histories([r.seed for r in runs], [r.trained for r in runs], model=label)

