"""Does bf16 change accuracy? The three CNNs of chapter 03 with the paper's protocol, each seed trained
in bf16 (autocast + channels_last) and in fp32 from the same initial weights and data order.

    python benchmarks/precision_check.py [--seeds 0 1 2] [--models simple resnet improved] [--out DIR]

Runs go through the checkpoint cache (an interrupted run resumes). bf16 runs are asked for explicitly,
so a CPU without native bf16 emulates it (slowly) rather than silently training fp32 twice. Writes
``precision_runs`` (one row per run) and ``precision_comparison`` (paired differences, 95% intervals and
the verdict, see ``kmnist_utils.stats.parity``) with provenance under ``DIR/results``.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from kmnist_utils.chapters import cnns
from kmnist_utils.engine import context, runner
from kmnist_utils.engine.models import CLASSIFIERS
from kmnist_utils.products.results import write_table
from kmnist_utils.stats.parity import compare_precisions, precision_verdict

PRECISIONS = ("bf16", "fp32")  # bf16 first: the runs that need this kind of CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(CLASSIFIERS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="benchmarks/results/precision-check")
    args = parser.parse_args()
    start = time.perf_counter()
    ctx = context.setup("paper", seeds=args.seeds, device=args.device, output_root=args.out)
    parts = runner.load_parts(ctx)
    specs = [cnns.cnn_spec(ctx, name, seed, precision=precision)
             for precision in PRECISIONS for name in args.models for seed in ctx.seeds]
    runs = cnns.train_and_test(ctx, parts, specs)  # one call: every run side by side where faster
    rows = pd.concat([cnns.run_rows(spec.model, [run]) for spec, run in zip(specs, runs)], ignore_index=True)
    runs = rows[["model", "seed", "precision_mode", "val_acc_kept", "accuracy", "f1", "train_seconds",
                 "from_cache"]]
    comparison = compare_precisions(runs)
    verdict = precision_verdict(comparison)
    wall = time.perf_counter() - start
    write_table(runs, "precision_runs", ctx, wall)
    write_table(comparison, "precision_comparison", ctx, wall, verdict=verdict)
    print(runs.round(4).to_string(index=False))
    print(comparison.round(4).to_string(index=False))
    print(verdict)


if __name__ == "__main__":
    main()
