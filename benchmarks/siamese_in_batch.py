"""Pairs formed inside each batch against pairs drawn two images at a time, at equal wall time: the
Siamese network of chapter 06 trained with either objective (same encoder, head, optimizer, seed),
scored after every epoch on validation 1-shot accuracy (10-way, one support per class from the
validation split, 20 fixed draws; the test set is not touched).

    python benchmarks/siamese_in_batch.py [--seed 0] [--epochs in_batch_pairs=12 pairs=8] [--out DIR]

The runs train side by side, one worker process and one thread each (as the pipeline trains), through
the checkpoint cache (an interrupted run resumes). Writes under ``DIR/results``:

- ``siamese_objective_histories``: every epoch of every run, with its cumulative training seconds;
- ``siamese_objective_equal_time``: each run's validation 1-shot after the same training time;
- ``siamese_objective_schedule``: per run, the epoch after which validation 1-shot stops improving
  (``curves.plateau_epoch``), which sets the fixed schedule of chapter 06.

and the figure ``siamese_objective_curves`` (validation 1-shot against training minutes).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import pandas as pd

from kmnist_utils import references
from kmnist_utils.chapters import oneshot, siamese
from kmnist_utils.engine import context, runner
from kmnist_utils.products import plots
from kmnist_utils.products.results import write_table
from kmnist_utils.stats import curves


def _parse_epochs(values: list[str]) -> dict[str, int]:
    pairs = dict(v.split("=", 1) for v in values)
    return {name: int(epochs) for name, epochs in pairs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", nargs="+", default=["in_batch_pairs=12", "pairs=8"],
                        help="objective=epochs for each run (objectives: in_batch_pairs, pairs, prototypical)")
    parser.add_argument("--in-batch-sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="benchmarks/results/siamese-in-batch")
    args = parser.parse_args()
    start = time.perf_counter()
    ctx = context.setup(args.profile, seeds=[args.seed], device=args.device, output_root=args.out)
    parts = runner.load_parts(ctx)
    runs: dict[str, object] = {}
    for objective, epochs in _parse_epochs(args.epochs).items():
        spec = oneshot.siamese_spec(ctx, parts, args.seed, objective)
        sizes = args.in_batch_sizes if objective == "in_batch_pairs" else [spec.config.batch_size]
        for size in sizes:
            name = f"{objective} (batch {size})"
            chosen = (siamese.InBatchPairObjective(spec.objective.val_pairs, size)
                      if objective == "in_batch_pairs" else spec.objective)
            runs[name] = replace(spec, config=replace(spec.config, epochs=epochs, batch_size=size, patience=None),
                                 objective=chosen)
    trained = dict(zip(runs, runner.train(ctx, list(runs.values()), parts)))
    history = pd.concat([pd.DataFrame(t.state.history).assign(objective=name) for name, t in trained.items()],
                        ignore_index=True)
    history["minutes"] = history.groupby("objective").seconds.cumsum() / 60
    equal_time = curves.at_equal_time(history)
    schedule = curves.plateau_table(history)
    wall = time.perf_counter() - start
    write_table(history, "siamese_objective_histories", ctx, wall)
    write_table(equal_time, "siamese_objective_equal_time", ctx, wall)
    write_table(schedule, "siamese_objective_schedule", ctx, wall, tolerance=references.PLATEAU_TOLERANCE)
    plots.apply_style()
    plots.save_figure(plots.plot_objective_curves(history), "siamese_objective_curves", ctx)
    print(history.round(4).to_string(index=False))
    print(equal_time.round(4).to_string(index=False))
    print(schedule.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
