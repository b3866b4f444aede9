"""The grid search of section II.D and the TunedImprovedCNN it selects.

Every grid point is an ordinary cached training run, so an interrupted search resumes and a
later notebook that needs the selected configuration re-derives it from the cache in seconds.
Selection looks at validation accuracy only; the test set is touched after selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import ParameterGrid

from kmnist_utils import references
from kmnist_utils.chapters.cnns import CNNRun, best_epoch_runs, cnn_spec, run_rows, train_and_test
from kmnist_utils.core.data import Parts
from kmnist_utils.engine.checkpoints import TrainSpec, validation_score
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.runner import checkpoint_store, logits_of, tensor_split, train
from kmnist_utils.stats.selection import select_best

GRID_KEYS = ("learning_rate", "dropout", "batch_size")


def grid_points(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """All combinations of the grid, in scikit-learn's deterministic ``ParameterGrid`` order."""
    missing = set(GRID_KEYS) - set(grid)
    if missing:
        raise ValueError(f"the grid needs values for {sorted(missing)}")
    return list(ParameterGrid({key: list(grid[key]) for key in GRID_KEYS}))


def grid_spec(ctx: RunContext, point: dict[str, Any], seed: int, epochs: int) -> TrainSpec:
    return cnn_spec(ctx, "improved", seed, epochs=epochs, batch_size=point["batch_size"],
                    learning_rate=point["learning_rate"], dropout=point["dropout"])


def run_grid(ctx: RunContext, parts: Parts, seed: int | None = None, verbose: bool = True) -> pd.DataFrame:
    """Train (or load) every grid point for ``grid_epochs`` and score its final weights on the validation
    split, as the paper did (``kept_epoch`` = ``grid_epochs``; ``best_epoch``: its lowest validation loss).
    ``verbose``: a line per point loaded from the cache, with its history (the chapters that only need the
    grid's choice say nothing of it)."""
    seed = ctx.seed if seed is None else seed
    data, store = tensor_split(ctx, parts), checkpoint_store(ctx)
    points = grid_points(dict(ctx.profile.grid))
    specs = [grid_spec(ctx, point, seed, ctx.profile.grid_epochs) for point in points]
    rows = []
    for index, (point, trained) in enumerate(zip(points, train(ctx, specs, parts, verbose=verbose))):
        val_loss, val_acc = validation_score(trained, data, store)
        rows.append({
            "grid_index": index, **point, "seed": seed, "epochs": ctx.profile.grid_epochs,
            "val_acc": val_acc, "val_loss": val_loss, "kept_epoch": trained.kept_epoch,
            "best_epoch": trained.state.best_epoch,
            "train_seconds": round(sum(h["seconds"] for h in trained.state.history), 1),
            "from_cache": trained.from_cache,
        })
    return pd.DataFrame(rows)


def selected_config(ctx: RunContext, parts: Parts) -> dict[str, Any]:
    """The configuration the grid search selects (re-derived from cached runs when they exist)."""
    best = select_best(run_grid(ctx, parts, verbose=False))
    return {
        "learning_rate": float(best.learning_rate),
        "dropout": float(best.dropout),
        "batch_size": int(best.batch_size),
    }


def tuned_spec(ctx: RunContext, config: dict[str, Any], seed: int) -> TrainSpec:
    """The TunedImprovedCNN: the selected configuration retrained for ``tuned_epochs``."""
    return grid_spec(ctx, config, seed, ctx.profile.tuned_epochs)


def tuned_run(ctx: RunContext, parts: Parts, seed: int, config: dict[str, Any] | None = None) -> CNNRun:
    """Train (or load) the TunedImprovedCNN for ``seed`` and score it on the test part.

    ``config`` is the selected configuration when the caller already has it; otherwise it is
    re-derived from the (cached) grid.
    """
    return tuned_runs(ctx, parts, [seed], config)[0]


def tuned_runs(ctx: RunContext, parts: Parts, seeds: Sequence[int], config: dict[str, Any] | None = None
               ) -> list[CNNRun]:
    """The TunedImprovedCNN of every seed in one call (side by side where that is faster), each scored on
    the test part; ``config`` as for ``tuned_run``."""
    config = config or selected_config(ctx, parts)
    return train_and_test(ctx, parts, [tuned_spec(ctx, config, seed) for seed in seeds])


def picked_runs(ctx: RunContext, parts: Parts, seeds: Sequence[int], selected: dict[str, Any]
                ) -> dict[str, list[CNNRun]]:
    """The TunedImprovedCNN of every seed at our grid's pick (protocol "paper": the paper's procedure) and at
    each of the paper's own picks (``references.PICK_PROTOCOLS``: its text's and its notebook's), trained side
    by side in one call and scored on the test part: protocol -> runs in seed order. A configuration met
    twice trains once."""
    groups = {references.PROTOCOL: selected, **references.PICK_PROTOCOLS}

    def key(config: dict[str, Any], seed: int) -> tuple:
        return float(config["learning_rate"]), float(config["dropout"]), int(config["batch_size"]), seed

    specs = {key(config, seed): tuned_spec(ctx, config, seed) for config in groups.values() for seed in seeds}
    done = dict(zip(specs, train_and_test(ctx, parts, list(specs.values()))))
    return {protocol: [done[key(config, seed)] for seed in seeds] for protocol, config in groups.items()}


def picked_tables(ctx: RunContext, parts: Parts, picked: dict[str, list[CNNRun]]
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``picked_runs`` as the chapter's three tables, a row per seed: our grid's pick (the paper's protocol),
    the paper's two picks (each its protocol), and our grid's pick scored with its lowest-validation-loss
    weights (no training)."""
    runs = picked[references.PROTOCOL]
    picks = pd.concat([run_rows("tuned", group, protocol) for protocol, group in picked.items()
                       if protocol != references.PROTOCOL], ignore_index=True)
    return run_rows("tuned", runs), picks, run_rows("tuned", best_epoch_runs(ctx, parts, runs))


@dataclass(frozen=True)
class TunedOutputs:
    """The TunedImprovedCNN of one seed and its outputs on the validation and test parts."""

    config: dict[str, Any]
    run: CNNRun
    logits_val: np.ndarray
    logits_test: np.ndarray

    @property
    def model(self) -> torch.nn.Module:
        return self.run.trained.model

    @property
    def probs_test(self) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self.logits_test), dim=1).numpy()

    @property
    def y_pred(self) -> np.ndarray:
        return self.run.y_pred

    def describe(self) -> str:
        return f"TunedImprovedCNN {self.config}, seed {self.run.seed}: test accuracy {self.run.metrics['accuracy']:.4f}"


def tuned_outputs(ctx: RunContext, parts: Parts, seed: int) -> TunedOutputs:
    """Train (or load) the TunedImprovedCNN of ``seed`` and compute its validation and test logits."""
    config = selected_config(ctx, parts)
    run = tuned_run(ctx, parts, seed, config)
    return TunedOutputs(
        config,
        run,
        logits_of(run.trained.model, parts.x_val, ctx.device),
        logits_of(run.trained.model, parts.x_test, ctx.device),
    )
