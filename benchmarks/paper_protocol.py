"""Time the paper's whole training protocol through the library, without notebooks.

    python benchmarks/paper_protocol.py --seeds 0 --device cuda --out results.json

Runs what notebooks 02-04 train (logistic regression; Simple, ResNet-like and Improved CNNs; the
12-point grid; the TunedImprovedCNN; the TunedImprovedCNN at the paper's own picks, its text's and its
notebook's; the fp32 Simple-CNN check) with the paper profile, and
records per-stage wall time and test metrics. It exists for machines without papermill (the GPU
image) and for timing; the report's results come from the notebooks. Results are rewritten after
every stage, so a run stopped at a time limit still leaves what it finished.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from kmnist_utils import references
from kmnist_utils.chapters import baselines, cnns, tuning
from kmnist_utils.core.atomic import write_text
from kmnist_utils.engine import context, runner
from kmnist_utils.products.provenance import provenance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--skip", nargs="*", default=[], help="stages to skip: logreg simple resnet improved grid tuned picks fp32"
    )
    args = parser.parse_args()

    ctx = context.setup(
        args.profile, seeds=args.seeds, device=args.device, output_root=args.out.parent / "protocol_outputs"
    )
    parts = runner.load_parts(ctx)
    runner.tensor_split(ctx, parts)  # move the data to the device before timing starts
    record = {"stages": [], "runs": []}
    start_all = time.perf_counter()

    def save() -> None:
        record["provenance"] = provenance(ctx, wall_time_s=time.perf_counter() - start_all)
        write_text(args.out, json.dumps(record, indent=2) + "\n")

    def stage(name: str, fn) -> object:
        if name.split()[0] in args.skip:
            return None
        if ctx.device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        if ctx.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t
        record["stages"].append({"stage": name, "seconds": round(seconds, 2)})
        print(f"== {name}: {seconds:.1f} s", flush=True)
        save()
        return out

    def cnn(label: str, spec) -> None:
        cnn_calls([label], [spec])

    def cnn_calls(labels: list[str], specs: list) -> None:
        """Train the specs side by side in one call (one worker per core), then score each."""
        for label, spec, run in zip(labels, specs, cnns.train_and_test(ctx, parts, specs)):
            best = cnns.best_epoch_runs(ctx, parts, [run])[0]
            record["runs"].append(
                {
                    "model": label,
                    "seed": spec.config.seed,
                    "precision_mode": run.trained.meta["config"]["precision"],
                    "threads": run.trained.meta["config"].get("threads"),
                    "best_epoch": run.trained.state.best_epoch,
                    "best_epoch_accuracy": best.metrics["accuracy"],
                    "train_seconds": round(sum(h["seconds"] for h in run.trained.state.history), 1),
                    "from_cache": run.trained.from_cache,
                    **run.metrics,
                }
            )
            print(f"   {label} seed {spec.config.seed}: test accuracy {run.metrics['accuracy']:.4f}", flush=True)

    def table_models(seed: int) -> None:
        stage(
            f"logreg seed {seed}",
            lambda: record["runs"].append(
                {"model": "logreg", "seed": seed, **baselines.logistic_regression_run(ctx, parts, seed).metrics}
            ),
        )
        for name in ("simple", "resnet", "improved"):
            stage(f"{name} seed {seed}", lambda: cnn(name, cnns.cnn_spec(ctx, name, seed)))

    # The one-seed protocol first (what the speed target is about), then the extra seeds.
    table_models(ctx.seed)
    grid = stage("grid (12 points)", lambda: tuning.run_grid(ctx, parts))
    chosen = None
    if grid is not None:
        record["grid"] = json.loads(grid.to_json(orient="records"))
        best = tuning.select_best(grid)
        chosen = {
            "learning_rate": float(best.learning_rate),
            "dropout": float(best.dropout),
            "batch_size": int(best.batch_size),
        }
        record["selected"] = chosen
        stage(f"tuned seed {ctx.seed}", lambda: cnn("tuned", tuning.tuned_spec(ctx, chosen, ctx.seed)))
    picks = [(f"tuned, {protocol}", config, seed) for protocol, config in references.PICK_PROTOCOLS.items()
             for seed in ctx.seeds]
    stage("picks (the paper's own tuned configurations, every seed)",
          lambda: cnn_calls([label for label, _, _ in picks],
                            [tuning.tuned_spec(ctx, config, seed) for _, config, seed in picks]))
    record["one_seed_protocol_seconds"] = round(time.perf_counter() - start_all, 1)
    stage(
        "fp32 simple check", lambda: cnn("simple_fp32", cnns.cnn_spec(ctx, "simple", ctx.seed, precision="fp32"))
    )
    for seed in ctx.seeds[1:]:
        table_models(seed)
        if chosen is not None:
            stage(f"tuned seed {seed}", lambda: cnn("tuned", tuning.tuned_spec(ctx, chosen, seed)))
    record["total_seconds"] = round(time.perf_counter() - start_all, 1)
    save()
    print(f"total {record['total_seconds']} s", file=sys.stderr)


if __name__ == "__main__":
    main()
