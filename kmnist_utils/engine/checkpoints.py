"""Trained weights cached on disk, keyed by everything that determines them.

A key covers the model and its hyper-parameters, the training configuration, the seed, the
exact data (a fingerprint of the images and labels) and the engine version. A finished run is
loaded instead of retrained; an interrupted one resumes from its last finished epoch, and a
longer run of the same spec continues from a finished shorter one (the engine's shuffles depend on
(seed, epoch) only and the optimizer and RNG states are kept, so that is the same computation).
Files are read with ``torch.load(weights_only=True)``: plain tensors and containers, never
arbitrary pickles.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from kmnist_utils.core.atomic import atomic_path
from kmnist_utils.engine.models import build_model
from kmnist_utils.engine.progress import history_text
from kmnist_utils.engine.training import FitState, Objective, TensorSplit, TrainConfig, evaluate, fit, resolve_precision
from kmnist_utils.settings import RECORDS

# Bump when a change to the engine makes old checkpoints wrong. 2: a run's best_* are always those of its
# lowest validation loss (version 1 overwrote them with the last epoch's in runs that kept the last).
ENGINE_VERSION = 2
LATER_DEFAULTS = {"patience": None, "optimizer": "adam", "weight_decay": 0.0, "lr_schedule": "constant",
                  "channels_last": False, "threads": None}


@dataclass(frozen=True)
class TrainSpec:
    """A model to train: registry name, constructor hyper-parameters and training configuration."""

    model: str
    config: TrainConfig
    hparams: dict[str, Any] = field(default_factory=dict)

    objective: Objective | None = None  # None: classification (training.Classification)
    name: str = ""  # how logs name the run (e.g. an ablation rung); not part of the key

    def display(self) -> str:
        """The run's name in logs: its ``name``, else the model's registry name."""
        return f"{self.name} ({self.model})" if self.name else self.model

    def label(self) -> str:
        """'improved seed 0: 10 epochs, batch 64, lr 0.001 dropout=0.3, fp32': the run as logs, progress lines
        and cache hits name it."""
        config = self.config
        extra = "".join(f" {k}={v}" for k, v in sorted(self.hparams.items()) if k != "embedding_dim")
        return (f"{self.display()} seed {config.seed}: {config.epochs} epochs, batch {config.batch_size}, "
                f"lr {config.learning_rate:g}{extra}, {config.precision}")

    def meta(self, data: TensorSplit) -> dict[str, Any]:
        """Everything the trained weights depend on (precision resolved for the data's device)."""
        config = asdict(self.config)
        config["precision"] = resolve_precision(self.config.precision, str(data.x_train.device))
        del config["keep"]  # which weights a run is scored with, not how it trains: one run serves both
        # Settings added after the first runs are left out at their defaults: older runs keep their keys.
        for name, default in LATER_DEFAULTS.items():
            if config[name] == default:
                del config[name]
        meta = {
            "model": self.model,
            "hparams": dict(sorted(self.hparams.items())),
            "config": config,
            "data": data.fingerprint,
            "engine": ENGINE_VERSION,
        }
        if RECORDS[self.model].version > 1:  # version 1 is left out: older runs keep their keys
            meta["architecture"] = RECORDS[self.model].version
        if self.objective is not None and self.objective.describe() is not None:
            meta["objective"] = self.objective.describe()
        return meta


def key_of(meta: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:20]


def with_epochs(meta: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The metadata of the same run stopped after ``epochs`` epochs."""
    shorter = copy.deepcopy(meta)
    shorter["config"]["epochs"] = epochs
    return shorter


@dataclass
class TrainedModel:
    """A trained run: ``model`` holds the weights ``keep`` names (``FitState.kept_weights``)."""

    model: nn.Module
    state: FitState
    meta: dict[str, Any]
    from_cache: bool
    keep: str = "last"

    @property
    def kept_epoch(self) -> int:
        return self.state.kept_epoch(self.keep)

    def with_keep(self, keep: str) -> "TrainedModel":
        """The same run with the other set of weights loaded into a copy of its model (no training)."""
        if keep == self.keep:
            return self
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.state.kept_weights(keep))
        return TrainedModel(model, self.state, self.meta, self.from_cache, keep)


def verify_zip(path: Path) -> None:
    """Check every entry of a checkpoint (a zip file) against its stored CRC-32.

    ``torch.load`` does not, so without this one flipped bit inside a weight would be loaded
    silently; CRC-32 detects every single-bit (and every burst up to 32 bits) error.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as exc:
        raise ValueError(f"it is not a readable zip archive ({exc})") from exc
    if bad is not None:
        raise ValueError(f"its entry {bad} fails the CRC check: the file is damaged")


class CheckpointStore:
    """``<root>/<model>-<key>.pt`` for finished runs, ``.partial.pt`` for interrupted ones."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, meta: dict[str, Any], partial: bool = False) -> Path:
        suffix = ".partial.pt" if partial else ".pt"
        return self.root / f"{meta['model']}-{key_of(meta)}{suffix}"

    def save(self, meta: dict[str, Any], state: FitState, partial: bool = False) -> Path:
        target = self.path(meta, partial)
        try:
            with atomic_path(target) as tmp:
                torch.save({"meta": meta, "state": state.to_dict()}, tmp)
        except (OSError, RuntimeError) as exc:  # torch reports a full disk as "unexpected pos ..."
            free = shutil.disk_usage(self.root).free / 2**20
            raise OSError(
                f"Could not write checkpoint {target} ({exc}). The disk holding {self.root} has {free:.0f} MiB "
                "free; a checkpoint needs about 30 MiB. Free some space (or set KMNIST_CACHE_DIR to a roomier "
                "disk) and run again: finished checkpoints are kept."
            ) from exc
        return target

    def load(self, meta: dict[str, Any], partial: bool = False) -> FitState | None:
        """The saved state for ``meta``, or None; a corrupt or mismatched file is reported and dropped."""
        path = self.path(meta, partial)
        if not path.is_file():
            return None
        try:
            verify_zip(path)
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload["meta"] != meta:
                raise ValueError("its metadata does not match the requested run")
            return FitState.from_dict(payload["state"])
        except Exception as exc:  # any unreadable checkpoint is handled the same way: retrain
            # stderr as well as the notebook: the pipeline streams it to the terminal.
            print(f"WARNING: checkpoint {path} is unusable ({exc}); deleting it and training again.", file=sys.stderr)
            path.unlink(missing_ok=True)
            return None

    def discard_partial(self, meta: dict[str, Any]) -> None:
        self.path(meta, partial=True).unlink(missing_ok=True)

    def longest_prefix(self, meta: dict[str, Any]) -> FitState | None:
        """The finished run of the same spec with the most epochs below ``meta``'s, if it can be continued.

        Only a run at a constant learning rate is the start of a longer one: a schedule such as one-cycle
        depends on the total number of epochs, so its shorter runs are different computations.
        """
        epochs = self.prefix_epochs(meta)
        state = self.load(with_epochs(meta, epochs)) if epochs else None
        if state is not None and state.model is not None:
            state.scores = {}
            return state
        return None

    def prefix_epochs(self, meta: dict[str, Any]) -> int:
        """Epochs of the longest finished shorter run that ``meta``'s run can continue (0: none)."""
        if meta["config"].get("lr_schedule", "constant") != "constant":
            return 0
        shorter = range(meta["config"]["epochs"] - 1, 0, -1)
        return next((e for e in shorter if self.path(with_epochs(meta, e)).is_file()), 0)

    def is_finished(self, meta: dict[str, Any]) -> bool:
        return self.path(meta).is_file()

    def epochs_to_go(self, meta: dict[str, Any]) -> int | None:
        """Epochs ``meta``'s run still has to train from what is on file: 0 when finished, every epoch when a
        partial run is there (its progress is not read here), the rest after a shorter finished run it can
        continue; None when nothing of it is on file."""
        epochs = meta["config"]["epochs"]
        if self.is_finished(meta):
            return 0
        if self.path(meta, partial=True).is_file():
            return epochs
        done = self.prefix_epochs(meta)
        return epochs - done if done else None


def epoch_saver(
    store: CheckpointStore,
    meta: dict[str, Any],
    spec: TrainSpec,
    milestones: tuple[int, ...] = (),
    epoch_log: Callable[[FitState], None] | None = None,
) -> Callable[[FitState], None]:
    """What happens after every epoch of a cached run: a partial checkpoint (to resume from), a finished
    shorter run at each milestone, and an optional log line."""

    def on_epoch_end(state: FitState) -> None:
        store.save(meta, state, partial=True)
        if state.epoch in milestones and state.epoch < spec.config.epochs and spec.config.lr_schedule == "constant":
            store.save(with_epochs(meta, state.epoch), state)
        if epoch_log is not None:
            epoch_log(state)

    return on_epoch_end


def train_cached(
    spec: TrainSpec,
    data: TensorSplit,
    store: CheckpointStore,
    progress: bool = True,
    verbose: bool = True,
    milestones: tuple[int, ...] = (),
    epoch_log: Callable[[FitState], None] | None = None,
    by_worker: bool = False,
    meta: dict | None = None,
) -> TrainedModel:
    """Load the finished run for ``spec`` if cached; else train (resuming a partial or shorter run) and cache it.

    ``by_worker``: the finished run was just trained by a worker process of this call, so loading it is
    not a cache hit in the sense a results table reports ("trained in an earlier run").

    ``milestones``: epoch counts at which the run is also stored as a finished shorter run (the
    grid search's 3-epoch runs are the first epochs of a 10-epoch run with the same settings).
    ``epoch_log`` is called after every epoch (worker processes print a line: they have no progress bar).
    ``meta``: the run's key, ``spec.meta(data)``, when the caller has it already.
    """
    meta = meta or spec.meta(data)
    device = str(data.x_train.device)
    torch.manual_seed(spec.config.seed)  # the same initial weights on every run of this spec
    model = build_model(spec.model, **spec.hparams).to(device)
    finished = store.load(meta)
    if finished is not None:
        model.load_state_dict(finished.kept_weights(spec.config.keep))
        if verbose and not by_worker:  # a run a worker just trained has said so on its progress line
            print(f"{spec.label()}: loaded from the checkpoint cache "
                  f"({store.path(meta).name}), trained {history_text(finished.history)}")
        return TrainedModel(model, finished, meta, from_cache=not by_worker, keep=spec.config.keep)
    resume = store.load(meta, partial=True) or store.longest_prefix(meta)
    if resume is not None and verbose:
        print(f"{spec.display()} (seed {spec.config.seed}): resuming after epoch {resume.epoch}")
    state = fit(
        model,
        data,
        spec.config,
        state=resume,
        on_epoch_end=epoch_saver(store, meta, spec, milestones, epoch_log),
        progress=progress,
        desc=f"{spec.display()} seed {spec.config.seed}",
        objective=spec.objective,
    )
    # The last weights, optimizer and RNG state stay in the file so a longer run can continue it.
    store.save(meta, state)
    store.discard_partial(meta)
    return TrainedModel(model, state, meta, from_cache=False, keep=spec.config.keep)


def validation_score(trained: TrainedModel, data: TensorSplit, store: CheckpointStore) -> tuple[float, float]:
    """fp32 validation loss and accuracy of a classifier's kept weights (``trained.keep``).

    Computed once and kept in its checkpoint: later notebooks re-derive the grid search's choice
    from twelve cached runs without evaluating twelve models again.
    """
    name = f"val_fp32_{trained.keep}"
    if name not in trained.state.scores:
        loss, accuracy = evaluate(trained.model, data.x_val, data.y_val, precision="fp32")
        trained.state.scores[name] = [loss, accuracy]
        store.save(trained.meta, trained.state)
    loss, accuracy = trained.state.scores[name]
    return loss, accuracy
