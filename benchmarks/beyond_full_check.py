"""Check chapter 07's schedules for a few epochs where the whole schedule cannot run (the full one on a CPU).

    python benchmarks/beyond_full_check.py --schedule full --epochs 3 --train 4096 --out result.json

Trains the schedule's full recipe (the ablation ladder's last rung) with one seed for ``--epochs``
epochs on the first ``--train`` images of the training part, scores validation on ``--val`` images
after every epoch, and reports the per-epoch history and the training throughput. With fewer
epochs than the schedule, the one-cycle schedule is compressed to the epochs run (it depends on the
total length), so the accuracy says only that the recipe learns, not what the schedule reaches.
Nothing is cached; the test set is not touched.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from kmnist_utils import beyond, config, experiments
from kmnist_utils.atomic import write_text
from kmnist_utils.models import build_model, count_parameters
from kmnist_utils.provenance import provenance
from kmnist_utils.training import fit, make_tensor_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", default="full", choices=sorted(config.BEYOND_SCHEDULES))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=4096, help="training images (0: the whole training part)")
    parser.add_argument("--val", type=int, default=2048, help="validation images (0: the whole validation part)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    ctx = config.setup("paper", seeds=[args.seed], device=args.device, output_root=None, lock=False)
    parts = experiments.load_parts(ctx)
    train, val = args.train or len(parts.y_train), args.val or len(parts.y_val)
    data = make_tensor_split(parts.x_train[:train], parts.y_train[:train], parts.x_val[:val], parts.y_val[:val],
                             ctx.device)
    schedule = config.get_schedule(args.schedule)
    spec = beyond.spec(schedule, beyond.ladder(schedule)[-1], args.seed, epochs=args.epochs)
    torch.manual_seed(args.seed)
    model = build_model(spec.model, **spec.hparams)
    start = time.perf_counter()
    state = fit(model, data, spec.config, progress=False, objective=spec.objective)
    seconds = time.perf_counter() - start
    result = {
        "schedule": dataclasses.asdict(schedule),
        "recipe": beyond.ladder(schedule)[-1].name,
        "parameters": count_parameters(model),
        "train_images": train,
        "val_images": val,
        "epochs": args.epochs,
        "history": state.history,
        "seconds": round(seconds, 1),
        "train_images_per_second": round(train * args.epochs / sum(h["seconds"] for h in state.history), 1),
        "threads": torch.get_num_threads(),
        "provenance": provenance(ctx, seconds),
    }
    for record in state.history:
        print(f"epoch {record['epoch']}: train_loss {record['train_loss']:.4f} val_acc {record['val_acc']:.4f} "
              f"({record['seconds']:.0f} s)")
    print(f"{result['train_images_per_second']} training images/s (including validation), {seconds:.0f} s in all")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(args.out, json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
