"""Time N independent runs trained one by one against the same N runs trained as one batched model.

    python benchmarks/batched_speed.py --device cpu --train 4096 --out results.json
    python benchmarks/batched_speed.py --device cuda --out results.json        # the whole split

Two groups, as the report has them: the grid search's six Improved CNN points of one batch size
(same seed, three dropout rates x two learning rates) and three seeds of the Simple CNN. Each group
is trained for one epoch three ways on the same data: one run after the other in this process (the
engine's ``fit``), in worker processes (CPU only, as ``runner.train`` does there), and as one batched
model (``kmnist_utils.batched``). Nothing is cached; every figure is a fresh training run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from kmnist_utils import batched, config, parallel, runner
from kmnist_utils.atomic import write_text
from kmnist_utils.checkpoints import TrainSpec
from kmnist_utils.models import build_model
from kmnist_utils.provenance import provenance
from kmnist_utils.training import TrainConfig, fit, make_tensor_split


def groups(epochs: int) -> dict[str, list[TrainSpec]]:
    grid = [TrainSpec("improved", TrainConfig(epochs, 64, lr, seed=0), {"dropout": d})
            for lr in (1e-3, 5e-4) for d in (0.3, 0.4, 0.5)]
    seeds = [TrainSpec("simple", TrainConfig(epochs, 64, 1e-3, seed=s)) for s in (0, 1, 2)]
    return {"grid: 6 Improved CNN points, batch 64": grid, "3 Simple CNN seeds": seeds}


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_by_one(specs: list[TrainSpec], data, device: str) -> list[float]:
    accuracies = []
    for spec in specs:
        torch.manual_seed(spec.config.seed)
        model = build_model(spec.model, **spec.hparams)
        state = fit(model, data, spec.config, progress=False)
        accuracies.append(state.history[-1]["val_acc"])
    synchronize(device)
    return accuracies


def together(specs: list[TrainSpec], data, device: str) -> list[float]:
    models = []
    for spec in specs:
        torch.manual_seed(spec.config.seed)
        models.append(build_model(spec.model, **spec.hparams))
    states = batched.fit_batched(models, data, [spec.config for spec in specs])
    synchronize(device)
    return [state.history[-1]["val_acc"] for state in states]


def in_workers(specs: list[TrainSpec], parts) -> None:
    arrays = (parts.x_train, parts.y_train, parts.x_val, parts.y_val)
    with tempfile.TemporaryDirectory() as store:  # a fresh cache: every run trains
        jobs = [parallel.Job(spec, arrays, "cpu", Path(store)) for spec in specs]
        parallel.run_jobs(jobs, parallel.worker_count("cpu", len(jobs)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train", type=int, default=None, help="training images (default: the whole split)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    ctx = config.setup("paper", seeds=[0], device=args.device, output_root=args.out.parent / "batched_outputs",
                       lock=False)
    parts = runner.load_parts(ctx)
    if args.train is not None:
        parts = runner.Parts(parts.x_train[: args.train], parts.y_train[: args.train], parts.x_val[:2048],
                                  parts.y_val[:2048], parts.x_test, parts.y_test)
    data = make_tensor_split(parts.x_train, parts.y_train, parts.x_val, parts.y_val, ctx.device)
    rows = []
    for name, specs in groups(args.epochs).items():
        timings = {}
        for way, run in (("one by one", lambda: one_by_one(specs, data, ctx.device)),
                         ("batched", lambda: together(specs, data, ctx.device))):
            start = time.perf_counter()
            accuracies = run()
            timings[way] = time.perf_counter() - start
            rows.append({"group": name, "way": way, "seconds": round(timings[way], 2),
                         "val_acc": [round(a, 4) for a in accuracies]})
            print(f"{name} - {way}: {timings[way]:.1f} s, validation accuracy {rows[-1]['val_acc']}", flush=True)
        if ctx.device == "cpu":
            start = time.perf_counter()
            in_workers(specs, parts)
            timings["workers"] = time.perf_counter() - start
            rows.append({"group": name, "way": f"{parallel.worker_count('cpu', len(specs))} worker processes",
                         "seconds": round(timings["workers"], 2)})
            print(f"{name} - workers: {timings['workers']:.1f} s", flush=True)
        print(f"{name}: batched is {timings['one by one'] / timings['batched']:.2f}x one by one", flush=True)
    record = {"provenance": provenance(ctx, train_images=len(parts.y_train), epochs=args.epochs,
                                       threads=torch.get_num_threads()), "rows": rows}
    write_text(args.out, json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
