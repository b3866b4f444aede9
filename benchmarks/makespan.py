"""What more cores would buy: a default run's training makespan on 2, 4, 8 and 16 cores, simulated from
the measured duration of every run it trained.

    python benchmarks/makespan.py --ledger results/pipeline_attempts.json [--out DIR]
    python benchmarks/makespan.py --results DIR [--out DIR]   # a run recorded before the ledger kept runs

``--ledger``: the pipeline's attempt ledger, which holds every training call with each run's threads,
start and end, for a run whose training finished within one attempt (a training call cut short by the
end of an attempt is not in it, and a run resumed later records only its last part). ``--results``: the
per-run training seconds of a run's tables (chapters 03, 04, 06 and 07, every epoch however many attempts
it took; chapter 06's unseen-class encoders have no such table and are left out), for a run that crossed
attempts or was recorded before the ledger. Each run's one-thread duration is taken as its cost, the same on
any number of cores (memory bandwidth shared by more workers is not modelled), and two schedules are
simulated (``kmnist_utils.engine.schedule``):

- chapter by chapter, as the pipeline runs today: each training call planned as ``runner.plan`` plans
  it (with exact costs), the calls one after another;
- chapter by chapter with one thread a run (the scheduler before the plan), for reference;
- one queue for the whole report, one thread a run: every run queued at once, a run free to start
  when the call before it in its notebook has finished (the grid before the tuned retraining, the
  ablation before the chosen recipe), the longest free run first.

Writes ``makespan.csv`` and ``makespan.md`` (a table for docs/performance.md) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from kmnist_utils.core.atomic import write_text
from kmnist_utils.engine import schedule
from kmnist_utils.pipeline import attempts
from kmnist_utils.products.results import read_table_file

CORES = (2, 4, 8, 16)
# (notebook, table, how its rows become runs); the rows of one table are one training call, except where
# JOINED says the tables of a notebook share one (chapter 07 trains its ablation and its seeds together).
JOINED = {"beyond_seeds"}
TABLE_CALLS = (
    ("03", "cnn_seeds", "train_seconds"),
    ("04", "tuning_grid", "train_seconds"),
    ("04", "tuned_seeds", "train_seconds"),
    ("06", "siamese_history", "seconds"),  # runs before the one-shot ladder
    ("06", "oneshot_ladder_history", "seconds"),
    ("07", "beyond_ablation_runs", "train_seconds"),
    ("07", "beyond_seeds", "train_seconds"),
)


def calls_from_ledger(path: Path) -> tuple[list[tuple[str, list[float]]], dict]:
    """(notebook, one-thread seconds of each run) of every training call, in order, and what the ledger
    says of the run (commit, CPU)."""
    payload = json.loads(path.read_text())
    ledger = attempts.Ledger(path, payload["run"], payload["attempts"])
    calls = [(name[:2], [schedule.one_thread_seconds(r) for r in call["runs"]])
             for name in ledger.run["notebooks"] for call in ledger.calls(name)]
    last = ledger.attempt
    return calls, {"source": str(path), "git_commit": last.get("git_commit"), "cpu": last.get("cpu")}


def calls_from_tables(results: Path) -> tuple[list[tuple[str, list[float]]], dict]:
    """The same from a run's tables: one call per table, a run per row (per seed for an epoch history).
    A run that two tables share (the grid's paper point is a milestone of chapter 03's run, chapter 07's
    chosen recipe a rung of its ablation) shows the same training seconds twice: it counts once."""
    calls, provenance, seen = [], {}, set()
    for notebook, name, column in TABLE_CALLS:
        path = results / f"{name}.json"
        found = read_table_file(path) if path.exists() else None  # a table of other code versions
        if found is None:
            continue
        rows, provenance = found
        if name.endswith("history"):  # one row per epoch: a run is a seed (and a ladder rung)
            seconds = rows.groupby([c for c in ("rung", "seed") if c in rows])[column].sum()
        else:
            seconds = rows[column]
        fresh = [float(s) for s in seconds if round(float(s), 1) not in seen]
        seen.update(round(s, 1) for s in fresh)
        if name in JOINED and calls and calls[-1][0] == notebook:
            calls[-1][1].extend(fresh)
        else:
            calls.append((notebook, fresh))
    return calls, {"source": str(results), "git_commit": provenance.get("git_commit"),
                   "cpu": provenance.get("device_name")}


def simulate(calls: list[tuple[str, list[float]]], cores: int) -> dict:
    """Training makespan (minutes) chapter by chapter and as one queue, with what bounds them."""
    by_chapter = sum(schedule.call_makespan(costs, cores) for _, costs in calls)
    one_thread = sum(schedule.list_makespan(sorted(costs, reverse=True), cores) for _, costs in calls)
    waits = [i - 1 if i and calls[i - 1][0] == calls[i][0] else None for i in range(len(calls))]
    queue = schedule.queue_makespan([(costs, wait) for (_, costs), wait in zip(calls, waits)], cores)
    work = sum(sum(costs) for _, costs in calls)
    chain = max(sum(max(c) for n, c in calls if n == notebook and c) for notebook in {n for n, _ in calls})
    return {"cores": cores, "chapter_by_chapter_min": by_chapter / 60, "one_thread_each_min": one_thread / 60,
            "one_queue_min": queue / 60,
            "work_over_cores_min": work / cores / 60, "longest_chain_min": chain / 60,
            "longest_run_min": max(max(c) for _, c in calls if c) / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ledger", type=Path)
    source.add_argument("--results", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/makespan"))
    args = parser.parse_args()
    calls, provenance = calls_from_ledger(args.ledger) if args.ledger else calls_from_tables(args.results)
    if not any(costs for _, costs in calls):
        raise SystemExit("no trained runs in that record: a run loaded wholly from the cache times nothing")
    table = pd.DataFrame([simulate(calls, cores) for cores in CORES])
    base = table.chapter_by_chapter_min.iloc[0]
    table["speedup_chapter_by_chapter"] = base / table.chapter_by_chapter_min
    table["speedup_one_queue"] = base / table.one_queue_min
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "makespan.csv", table.round(3).to_csv(index=False))
    runs = sum(len(c) for _, c in calls)
    lines = [f"Source: {provenance['source']} (commit {str(provenance['git_commit'])[:10]}, {provenance['cpu']}); "
             f"{runs} runs in {len(calls)} training calls, {sum(map(sum, (c for _, c in calls))) / 3600:.1f} "
             "one-thread core-hours.", "",
             "| cores | chapter by chapter (planned) | one thread a run | one queue | work / cores | longest chain "
             "| speed-up (planned, queue) |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.cores} | {r.chapter_by_chapter_min:.0f} min | {r.one_thread_each_min:.0f} min | "
                     f"{r.one_queue_min:.0f} min | "
                     f"{r.work_over_cores_min:.0f} min | {r.longest_chain_min:.0f} min | "
                     f"{r.speedup_chapter_by_chapter:.2f}x, {r.speedup_one_queue:.2f}x |")
    write_text(args.out / "makespan.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
