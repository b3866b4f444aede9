"""Reading training curves: the epoch where a run's validation score stops improving, and several runs
compared at equal training time (the measurements that set chapter 06's fixed schedule,
``benchmarks/siamese_in_batch.py``)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from kmnist_utils import references


def plateau_epoch(val_acc: Sequence[float], tolerance: float = references.PLATEAU_TOLERANCE) -> int:
    """The first epoch (1-based) after which validation 1-shot improves by no more than ``tolerance``."""
    values = np.asarray(val_acc, dtype=np.float64)
    if values.size == 0:
        raise ValueError("plateau_epoch needs at least one epoch")
    return int(np.flatnonzero(values >= values.max() - tolerance)[0]) + 1


def plateau_table(history: pd.DataFrame, tolerance: float = references.PLATEAU_TOLERANCE) -> pd.DataFrame:
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
