"""From a run context to trained models: the run's data, and one call that trains a list of specs.

``train(ctx, specs, parts)`` is how every chapter asks for models. It loads each finished run from
the checkpoint cache and trains the others the fastest way this context allows: side by side in
worker processes (one per CPU core, one thread each), or in this process. A chapter that needs a
model an earlier one trained asks for the same spec and gets it from the cache.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch

from kmnist_utils.core.data import Parts, load_official, split_parts, train_val_split
from kmnist_utils.engine import parallel, progress, schedule
from kmnist_utils.engine.checkpoints import (
    CheckpointStore,
    TrainedModel,
    TrainSpec,
    train_cached,
)
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.training import TensorSplit, make_tensor_split, predict_logits, to_tensor_images
from kmnist_utils.settings import RECORDS


def load_parts(ctx: RunContext) -> Parts:
    """The official data, split and subset as the run's profile says: every chapter's one way in."""
    profile = ctx.profile
    data = load_official(ctx.data_root)
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


def milestones(ctx: RunContext, spec: TrainSpec) -> tuple[int, ...]:
    """Epoch counts at which a run is also kept as a shorter finished run.

    The grid search trains the Improved CNN for ``grid_epochs``; a full-length Improved CNN run
    with the same settings passes through exactly that state, so it is stored on the way.
    """
    return (ctx.profile.grid_epochs,) if spec.model in RECORDS and RECORDS[spec.model].tuned else ()


def _on_file(store: CheckpointStore, spec: TrainSpec, data: TensorSplit, choices: Sequence[int]
             ) -> tuple[TrainSpec, int] | None:
    """``spec`` as it is already in the cache, under one of the thread counts ``choices`` (tried in order)
    and in its own memory format or else the other, and its epochs to go (``CheckpointStore.epochs_to_go``);
    None when it is under none of them. The memory format is calibrated per CPU, so a run begun on another
    CPU kind (a long run crossing sittings) may be in the other one: it resumes as it began."""
    layouts = (spec.config.channels_last, not spec.config.channels_last)
    for channels_last in layouts:
        for threads in choices:
            candidate = replace(spec, config=replace(spec.config, threads=threads, channels_last=channels_last))
            to_go = store.epochs_to_go(candidate.meta(data))
            if to_go is not None:
                return candidate, to_go
    return None


def with_threads(spec: TrainSpec, threads: int | None) -> TrainSpec:
    return replace(spec, config=replace(spec.config, threads=threads))


def cores(ctx: RunContext) -> int:
    """CPU cores one training call may use: the configured worker count, else every core."""
    return ctx.workers or os.cpu_count() or 1


def plan(ctx: RunContext, jobs: Sequence[tuple[TrainSpec, Parts]]) -> list[tuple[TrainSpec, Parts]]:
    """``jobs`` with the threads each run trains with: a run already in the cache keeps the threads and the
    memory format it has there; the others follow ``schedule.plan_threads`` on this machine's cores, beside
    the runs to resume (their epochs to go counted). Only CPU runs at the context's default threads are
    planned (a spec that names other threads keeps them)."""
    if ctx.device != "cpu" or ctx.threads_per_run is None:
        return list(jobs)
    n = cores(ctx)
    choices = [ctx.threads_per_run] + [t for t in range(1, n + 1) if t != ctx.threads_per_run]
    store, planned, todo, costs, fixed = checkpoint_store(ctx), list(jobs), [], [], []
    for i, (spec, parts) in enumerate(jobs):
        if spec.config.threads != ctx.threads_per_run:
            continue
        found = _on_file(store, spec, tensor_split(ctx, parts), choices)
        if found is not None:
            planned[i] = (found[0], parts)
            if found[1] == 0:
                continue  # finished: nothing to plan
        share = 1.0 if found is None else found[1] / spec.config.epochs
        todo.append(i)
        costs.append(share * schedule.run_cost(spec, len(parts.y_train)))
        fixed.append(None if found is None else found[0].config.threads)
    for i, threads in zip(todo, schedule.plan_threads(costs, n, fixed)):
        planned[i] = (with_threads(planned[i][0], threads), planned[i][1])
    return planned


def _train_in_workers(ctx: RunContext, todo: Sequence[tuple[TrainSpec, Parts]], lines: progress.Lines) -> list[dict]:
    """Train the runs of ``todo`` (none of them finished in the cache) side by side in worker processes,
    fewest threads first, where there are several runs for several workers; a run left alone is left to
    ``train_cached`` in this process. Returns what the workers trained
    (``parallel.run_record``)."""
    records, root = [], checkpoint_store(ctx).root
    for threads in sorted({spec.config.threads or 1 for spec, _ in todo}):
        runs = [parallel.Job(spec, (parts.x_train, parts.y_train, parts.x_val, parts.y_val), ctx.device, root,
                             milestones(ctx, spec), key=f"run {index}")
                for index, (spec, parts) in enumerate(todo) if (spec.config.threads or 1) == threads]
        configured = max(1, cores(ctx) // threads) if ctx.device == "cpu" else ctx.workers
        workers = parallel.worker_count(ctx.device, len(runs), configured)
        if len(runs) > 1 and workers > 1:
            records += parallel.run_jobs(runs, workers, show=lines.show)
    return records


def train(ctx: RunContext, specs: Sequence[TrainSpec], parts: Parts | Sequence[Parts], verbose: bool = True
          ) -> list[TrainedModel]:
    """Every spec trained on ``parts`` (one set for all, or one per spec), in the order given: loaded from
    the checkpoint cache when finished there, else trained (resumed where a run was cut short) the
    fastest way the context allows (``plan``), and cached. Every run trained shows one progress line,
    updated after each epoch (``progress.Lines``), in a worker or in this process alike; ``verbose``: a line
    per run loaded from the cache. Every run trained is recorded in the context's run log (``record_runs``)."""
    each = [parts] * len(specs) if isinstance(parts, Parts) else list(parts)
    if len(each) != len(specs):
        raise ValueError(f"train needs one Parts for all specs or one per spec, got {len(each)} for {len(specs)}")
    store, jobs = checkpoint_store(ctx), plan(ctx, list(zip(specs, each)))
    # Each run's data and key, once: the same run asked for twice trains once.
    keyed = [(spec, p, tensor_split(ctx, p)) for spec, p in jobs]
    keyed = [(spec, p, data, spec.meta(data)) for spec, p, data in keyed]
    missing = {store.path(meta): (spec, p) for spec, p, _, meta in keyed if not store.is_finished(meta)}
    lines = progress.Lines(ctx.progress_log)
    records = _train_in_workers(ctx, list(missing.values()), lines)
    trained = []
    for spec, p, data, meta in keyed:
        path = store.path(meta)
        here, start = path in missing and not path.is_file(), time.time()
        trained.append(train_cached(spec, data, store, progress=False, verbose=verbose, meta=meta,
                                    milestones=milestones(ctx, spec), by_worker=path in missing and not here,
                                    epoch_log=_epoch_line(lines, spec)))
        if here:
            records.append(parallel.run_record(spec, start, time.time()))
            missing.pop(path)
    record_runs(ctx, records)
    return trained


def _epoch_line(lines: progress.Lines, spec: TrainSpec) -> Callable[[Any], None]:
    label, epochs = spec.label(), spec.config.epochs
    return lambda state: lines.show(label, progress.epoch_text(label, state.history, epochs))


def record_runs(ctx: RunContext, records: Sequence[dict]) -> None:
    """Append one training call's runs to the context's run log (``ctx.run_log``, set by the pipeline for
    its attempt ledger): one JSON line per call, with the cores it had."""
    if not records or not ctx.run_log:
        return
    line = json.dumps({"cores": cores(ctx), "runs": list(records)}) + "\n"
    with open(ctx.run_log, "a", encoding="utf-8") as log:  # one write of one line: a reader skips a torn last one
        log.write(line)


def logits_of(model: torch.nn.Module, images: np.ndarray, device: str) -> np.ndarray:
    """fp32 logits for uint8 images, as a numpy array."""
    return predict_logits(model, to_tensor_images(images, device)).cpu().numpy()


def test_predictions(model: torch.nn.Module, images: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes and softmax probabilities (fp32 inference) for uint8 images."""
    probs = torch.softmax(torch.from_numpy(logits_of(model, images, device)), dim=1).numpy()
    return probs.argmax(1), probs


def training_summary(trained: TrainedModel) -> dict:
    """Which weights the run is scored with (``weights``: last or best) and their epoch, their validation
    loss and accuracy, the epoch of the lowest validation loss, training time, precision and whether the
    run came from the cache."""
    state = trained.state
    kept = state.history[trained.kept_epoch - 1]
    return {
        "weights": trained.keep,
        "kept_epoch": trained.kept_epoch,
        "epochs_run": state.epoch,
        "val_loss_kept": kept["val_loss"],
        "val_acc_kept": kept["val_acc"],
        "best_epoch": state.best_epoch,
        "train_seconds": round(sum(h["seconds"] for h in state.history), 1),
        "precision_mode": trained.meta["config"]["precision"],
        "from_cache": trained.from_cache,
    }


def seed_histories(seeds: Sequence[int], trained: Sequence[TrainedModel], **columns) -> pd.DataFrame:
    """Every run's per-epoch history, one run per seed, with ``columns`` (e.g. ``model=``) and its seed added."""
    return pd.concat([pd.DataFrame(t.state.history).assign(**columns, seed=seed) for seed, t in zip(seeds, trained)],
                     ignore_index=True)
