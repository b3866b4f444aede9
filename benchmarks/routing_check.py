"""Certified routing on the real test set: does a paper-profile model get thresholds certified, and at
what coverage? Chapter 05's routing study (temperature fitted on validation, thresholds certified on
a calibration half of the official test set, checked on the other half, over seeded splits) for one
trained Improved CNN taken from the checkpoint cache.

    KMNIST_CACHE_DIR=<cache holding the run> python benchmarks/routing_check.py [--seed 0] [--precision fp32]
        [--threads none] [--splits 200] [--out DIR]

The model must be in the cache already (``benchmarks/precision_check.py`` trains it): this script
trains nothing. ``--threads none`` names a run trained before threads were part of the key.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from kmnist_utils.chapters import calibration, cnns
from kmnist_utils.engine import context, runner
from kmnist_utils.engine.checkpoints import train_cached
from kmnist_utils.products.results import write_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--threads", default="none", help="threads in the run's key: a number, or none")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/routing-check")
    args = parser.parse_args()
    start = time.perf_counter()
    ctx = context.setup("paper", seeds=[args.seed], output_root=args.out, precision=args.precision, calibrate=False)
    parts = runner.load_parts(ctx)
    spec = cnns.cnn_spec(ctx, "improved", args.seed)
    threads = None if args.threads == "none" else int(args.threads)
    spec = dataclasses.replace(spec, config=dataclasses.replace(spec.config, threads=threads, channels_last=False))
    store = runner.checkpoint_store(ctx)
    data = runner.tensor_split(ctx, parts)
    if not store.is_finished(spec.meta(data)):
        raise SystemExit(f"no finished checkpoint for {spec} in {store.root}: train it first "
                         "(benchmarks/precision_check.py), this script trains nothing")
    trained = train_cached(spec, data, store)
    study = calibration.routing_study(
        runner.logits_of(trained.model, parts.x_val, ctx.device), parts.y_val,
        runner.logits_of(trained.model, parts.x_test, ctx.device), parts.y_test,
        splits=args.splits, seed=args.seed)
    wall = time.perf_counter() - start
    stamp = {"model": "improved", "model_seed": args.seed, "model_key": store.path(trained.meta).name,
             "temperature": study.temperature, "delta": study.delta}
    write_table(study.certified_summary, "routing_certified", ctx, wall, **stamp)
    write_table(study.routing, "routing_thresholds", ctx, wall, **stamp)
    print(f"test accuracy {study.accuracy['test']:.4f}, validation {study.accuracy['validation']:.4f}, "
          f"temperature {study.temperature:.3f}")
    print(study.certified_summary.round(4).to_string(index=False))
    for line in study.validation_threshold_findings() + study.certified_findings():
        print("-", line)


if __name__ == "__main__":
    main()
