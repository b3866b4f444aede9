"""Did a pipeline run keep chapters 06 and 07 within their CPU budgets and reach their targets?

    python benchmarks/budget_check.py --results runs/paper-cpu/results [--reference DIR] [--out DIR]

Reads the run's tables only (nothing is trained): each chapter's wall time from
``pipeline_timings`` (every attempt of a resumed run counted until the chapter finished), chapter
06's test 1-shot accuracy of the paper's protocol over its encoders and draws, and chapter 07's test
accuracy of the single models and of their ensemble; only the chapters the run timed are checked.
``--reference`` takes chapter 03's time from another run's results (a run of chapter 07 alone on the
same machine, say). Writes ``budget_check.csv`` (+ ``.json``) to
``--out`` (default: beside the results) and prints one verdict a line.

Budgets: chapter 06 at most 40% of chapter 03's wall time, chapter 07 at most 100%. Targets: mean test
1-shot >= 0.88 (aim 0.93); mean single-model test accuracy >= 0.985 (aim 0.990); ensemble >= 0.989.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from kmnist_utils import references
from kmnist_utils.chapters import anchors, oneshot
from kmnist_utils.core.atomic import write_text
from kmnist_utils.products.results import TIMINGS_TABLE, read_table_file
from kmnist_utils.stats import findings

BUDGETS = {"06_siamese_one_shot.ipynb": 0.40, "07_beyond_paper.ipynb": 1.00}  # shares of chapter 03's time
REFERENCE = "03_cnns.ipynb"


def _table(results: Path, name: str) -> tuple[pd.DataFrame, dict]:
    found = read_table_file(results / f"{name}.json")
    if found is None:
        raise SystemExit(f"{results} lacks the table {name}: run the pipeline into it first")
    return found


def budget_rows(timings: pd.DataFrame, reference: pd.DataFrame) -> list[dict]:
    """One row per budgeted chapter in ``timings``: its seconds, chapter 03's (from ``reference``), the share
    and whether it is within budget."""
    seconds = dict(zip(timings.notebook, timings.wall_time_s))
    base = dict(zip(reference.notebook, reference.wall_time_s)).get(REFERENCE)
    if base is None:
        raise SystemExit(f"the reference timings lack {REFERENCE}: a full pipeline run records every chapter")
    rows = []
    for notebook, share in BUDGETS.items():
        if notebook not in seconds:
            continue
        took = float(seconds[notebook])
        rows.append({"check": f"{notebook[:2]} time / 03 time", "value": took / base,
                     "limit": share, "met": took / base <= share, "detail": f"{took:.0f} s against {base:.0f} s"})
    return rows


def oneshot_rows(draws: pd.DataFrame) -> list[dict]:
    """Chapter 06's mean test 1-shot (the paper's protocol) over its encoders and draws."""
    protocol = draws[(draws.embedding == oneshot.PROTOCOL_ROW) & (draws.shots == 1)]
    per_seed = protocol.groupby("seed").accuracy.mean()
    spread = findings.seed_spread(per_seed.to_numpy())
    encoders = f"std over encoders {spread:.4f}" if spread is not None else "one encoder: no spread measured"
    return [
        {"check": "06 mean test 1-shot", "value": float(protocol.accuracy.mean()), "limit": references.ONE_SHOT_TARGET,
         "met": protocol.accuracy.mean() >= references.ONE_SHOT_TARGET,
         "detail": f"{len(per_seed)} encoder(s), {encoders}, {protocol.draw.nunique()} draws each"},
    ]


def beyond_rows(test: pd.DataFrame) -> list[dict]:
    """Chapter 07's mean single-model test accuracy and its ensemble's."""
    single = test[test.model == "single"].accuracy
    ensemble = float(test[test.model == "ensemble"].accuracy.iloc[0])
    return [
        {"check": "07 mean single-model test accuracy", "value": float(single.mean()),
         "limit": references.TARGET_SINGLE, "met": single.mean() >= references.TARGET_SINGLE,
         "detail": findings.mean_and_spread(single)},
        {"check": "07 ensemble test accuracy", "value": ensemble, "limit": references.TARGET_ENSEMBLE,
         "met": ensemble >= references.TARGET_ENSEMBLE, "detail": f"mean of {len(single)} models' softmax outputs"},
    ]


def verdict(row: dict) -> str:
    side = "meets" if row["met"] else "misses"
    gap = abs(row["value"] - row["limit"])
    return f"{row['check']}: {row['value']:.4f} ({row['detail']}), {side} the limit {row['limit']:g} by {gap:.4f}."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, required=True)
    parser.add_argument("--reference", type=Path, default=None,
                        help="results of the run whose chapter 03 time is the budget's reference (default: --results)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    timings, where = _table(args.results, TIMINGS_TABLE)
    reference = timings if args.reference is None else _table(args.reference, TIMINGS_TABLE)[0]
    rows = budget_rows(timings, reference)
    if "06_siamese_one_shot.ipynb" in set(timings.notebook):
        rows += oneshot_rows(_table(args.results, "oneshot_draws")[0])
    if "07_beyond_paper.ipynb" in set(timings.notebook):
        rows += beyond_rows(_table(args.results, anchors.BEYOND_TEST)[0])
    table = pd.DataFrame(rows)
    out = args.out or args.results
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "budget_check.csv", table.to_csv(index=False))
    record = {"rows": table.to_dict("records"), "run": {k: where.get(k) for k in (
        "git_commit", "cpu", "precision", "seeds", "profile", "run_attempts", "date_utc")}}
    write_text(out / "budget_check.json", json.dumps(record, indent=1, default=str) + "\n")
    for row in rows:
        print(verdict(row))


if __name__ == "__main__":
    main()
