"""Does the fast path change accuracy? Each CNN trained with the paper's protocol in bf16 (the
engine's default where supported) and in plain fp32, same seeds, data order and initial weights.

    python benchmarks/precision_check.py [--seeds 0] [--models simple resnet improved] [--out DIR]

Runs go through the checkpoint cache, so the bf16 runs of a `make report` on this checkout are
loaded, not retrained. Writes ``precision_check.csv/.json`` (with provenance) under ``DIR/results``.
"""

from __future__ import annotations

import argparse

import pandas as pd

from kmnist_utils import config, experiments
from kmnist_utils.models import CLASSIFIERS
from kmnist_utils.results import write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--models", nargs="+", default=list(CLASSIFIERS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default="benchmarks/results/precision-check")
    args = parser.parse_args()
    ctx = config.setup("paper", seeds=args.seeds, device=args.device, output_root=args.out)
    parts = experiments.load_parts(ctx)
    specs = [experiments.cnn_spec(ctx, name, seed, precision=precision)
             for name in args.models for seed in ctx.seeds for precision in ("auto", "fp32")]
    experiments.pretrain(ctx, [(spec, parts) for spec in specs])
    rows = pd.concat([experiments.run_rows(spec.model, [experiments.train_and_test(ctx, parts, spec, progress=False)])
                      for spec in specs], ignore_index=True)
    table = rows[
        ["model", "seed", "precision_mode", "val_acc_at_best", "accuracy", "f1", "train_seconds", "from_cache"]
    ]
    write_table(table, "precision_check", ctx)
    wide = table.pivot_table(index=["model", "seed"], columns="precision_mode", values="accuracy")
    if {"bf16", "fp32"} <= set(wide.columns):  # a machine without fast bf16 trains both in fp32
        wide["bf16_minus_fp32_pts"] = (wide["bf16"] - wide["fp32"]) * 100
    print(table.round(4).to_string(index=False))
    print(wide.round(4).to_string())


if __name__ == "__main__":
    main()
