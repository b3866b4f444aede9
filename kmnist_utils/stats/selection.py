"""The grid search's selection rule, on a table of validation scores alone.

Kept apart from ``tuning`` (which trains) so that the report can rank a finished grid without
importing the training stack (``tests/test_package.py`` checks that it loads no torch).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kmnist_utils import references
from kmnist_utils.stats.yardsticks import grid_gap_noise


def ranked(results: pd.DataFrame) -> pd.DataFrame:
    """Grid results best first (highest validation accuracy; ties go to the lower validation loss,
    then the earlier grid point), with each point's gap to the best in accuracy points."""
    if results.empty:
        raise ValueError("no grid results to select from")
    order = results.sort_values(["val_acc", "val_loss", "grid_index"], ascending=[False, True, True], kind="mergesort")
    return order.assign(gap_to_best_pts=(order.val_acc.iloc[0] - order.val_acc) * 100).reset_index(drop=True)


def select_best(results: pd.DataFrame) -> pd.Series:
    """The first configuration of ``ranked``: the selection rule lives in one place."""
    return ranked(results).iloc[0].drop("gap_to_best_pts")


def grid_noise(grid: pd.DataFrame) -> tuple[np.ndarray, float] | None:
    """How much another run of the grid moves the gap between two of its points, measured against the paper's
    notebook's run of the same grid (``references.NOTEBOOK_GRID``; ``yardsticks.grid_gap_noise``): the
    per-point differences (ours - the notebook's) and the 95% half-width. None when ``grid`` is not the
    paper's grid."""
    points = [(float(r.learning_rate), float(r.dropout), int(r.batch_size)) for r in grid.itertuples()]
    if sorted(points) != sorted(references.NOTEBOOK_GRID):
        return None
    return grid_gap_noise(grid.val_acc.to_numpy(), [references.NOTEBOOK_GRID[p] for p in points])
