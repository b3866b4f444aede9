"""Tables written to the results folder: CSV for people, JSON with provenance for machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from kmnist_utils.core.atomic import atomic_path, write_text
from kmnist_utils.products.provenance import provenance

if TYPE_CHECKING:  # a type only: products sit below the engine and never load it
    from kmnist_utils.engine.context import RunContext

TIMINGS_TABLE = "pipeline_timings"  # the report pipeline's per-notebook wall times


def write_table(
    df: pd.DataFrame,
    name: str,
    ctx: RunContext,
    wall_time_s: float | None = None,
    **extra: Any,
) -> Path:
    """Write ``<results>/<name>.csv`` and ``<name>.json`` (rows plus provenance) atomically."""
    if not name or "/" in name or name.endswith((".csv", ".json")):
        raise ValueError(f"table name must be a bare file stem such as 'table1', got {name!r}")
    folder = ctx.dirs.results
    with atomic_path(folder / f"{name}.csv") as tmp:
        df.to_csv(tmp, index=False)
    payload = {
        "provenance": provenance(ctx, wall_time_s, **extra),
        "columns": list(map(str, df.columns)),
        "rows": json.loads(df.to_json(orient="records")),
    }
    write_text(folder / f"{name}.json", json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return folder / f"{name}.csv"


def read_table(name: str, ctx: RunContext) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Load a table and its provenance written by ``write_table``."""
    path = ctx.dirs.results / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"No results table {path}. Run the notebook that produces '{name}' first "
            "(or `make report`)."
        )
    table = read_table_file(path)
    if table is None:
        raise ValueError(f"{path} is not a results table written by write_table (no rows/columns/provenance); "
                         f"rerun the notebook that produces '{name}'.")
    return table


def read_table_file(path: Path) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """A ``write_table`` JSON file as (rows, provenance); None for any other JSON file."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict) or not {"rows", "columns", "provenance"} <= set(payload):
        return None
    return pd.DataFrame(payload["rows"], columns=payload["columns"]), payload["provenance"]


MISSING = "—"  # how a notebook shows a value that does not exist (the table file leaves the cell empty)


def shown(frame: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """``frame`` for reading in a notebook: numbers rounded to ``digits``, a missing value as a dash
    instead of NaN (a spread over one seed, a paper value of a row the paper lacks, the accuracy of a
    threshold that accepts nothing)."""
    rounded = frame.round(digits)
    return rounded.astype(object).where(rounded.notna(), MISSING)
