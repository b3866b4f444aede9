"""Training throughput: this project's engine vs. the original code's plain fp32 DataLoader loop.

    python benchmarks/train_throughput.py [--steps 150] [--device auto] [--json out.json]

Trains each CNN for a fixed number of steps (batch 64) both ways in this one process and prints
images/s and the ratio. With ``--workers N`` (default: one per CPU core on a CPU) it also measures
what the pipeline does with independent runs (grid points, seeds, models): N engine runs at once
in N processes with cores/N threads each, summing their images/s. Not part of the test suite.
Uses random images of the KMNIST shape: throughput does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from kmnist_utils.engine.device import pick_device
from kmnist_utils.engine.models import CLASSIFIERS, build_model
from kmnist_utils.engine.training import TensorSplit, TrainConfig, fit, resolve_precision


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def plain_loop(name: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int, device: str) -> float:
    """The original code's way: DataLoader over a TensorDataset, fp32, loss.item() every step."""
    torch.manual_seed(0)
    model = build_model(name).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model.train()
    done, running_loss, start = 0, 0.0, None
    while done < steps + warmup:
        for xb, yb in loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            xb, yb = xb.to(device), yb.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            done += 1
            if done == steps + warmup:
                break
    sync(device)
    return steps * 64 / (time.perf_counter() - start)


def engine(name: str, x: torch.Tensor, y: torch.Tensor, steps: int, warmup: int, device: str) -> float:
    """This project's engine: one epoch of exactly ``steps`` batches after a warm-up epoch."""
    def split(n: int) -> TensorSplit:
        return TensorSplit(x[:n].to(device), y[:n].to(device), x[:256].to(device), y[:256].to(device), "bench")

    torch.manual_seed(0)
    model = build_model(name)
    fit(model, split(warmup * 64), TrainConfig(1, 64, 1e-3, seed=0), progress=False)
    data = split(steps * 64)
    sync(device)
    start = time.perf_counter()
    fit(model, data, TrainConfig(1, 64, 1e-3, seed=0), progress=False)
    sync(device)
    elapsed = time.perf_counter() - start
    return steps * 64 / elapsed


def _engine_in_worker(args: tuple[str, int, int, str, int]) -> float:
    name, steps, warmup, device, threads = args
    torch.set_num_threads(threads)
    n = (steps + warmup) * 64
    return engine(name, torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)), steps, warmup, device)


def engine_workers(name: str, steps: int, warmup: int, device: str, workers: int) -> float:
    """Total images/s of ``workers`` engine runs side by side, each in its own process."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    with mp.get_context("spawn").Pool(workers) as pool:
        return sum(pool.map(_engine_in_worker, [(name, steps, warmup, device, threads)] * workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", default=list(CLASSIFIERS))
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="also measure N concurrent engine runs (default: CPU cores on a CPU, 0 elsewhere; 0 skips)",
    )
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = pick_device(args.device)
    n = (args.steps + args.warmup) * 64
    x = torch.rand(n, 1, 28, 28)
    y = torch.randint(0, 10, (n,))
    cpu = platform.processor() or platform.machine()
    processor = torch.cuda.get_device_name() if device.startswith("cuda") else cpu
    print(
        f"device={device} ({processor}), threads={torch.get_num_threads()}, torch={torch.__version__}, "
        f"engine precision={resolve_precision('auto', device)}, steps={args.steps}"
    )
    workers = args.workers if args.workers is not None else ((os.cpu_count() or 1) if device == "cpu" else 0)
    rows = []
    for name in args.models:
        plain = plain_loop(name, x, y, args.steps, args.warmup, device)
        fast = engine(name, x, y, args.steps, args.warmup, device)
        row = {
            "model": name,
            "plain_img_s": round(plain, 1),
            "engine_img_s": round(fast, 1),
            "ratio": round(fast / plain, 2),
        }
        line = (f"{name:9s} plain fp32 DataLoader: {plain:8.1f} img/s   engine: {fast:8.1f} img/s   "
                f"ratio {fast / plain:5.2f}x")
        if workers > 1:
            side_by_side = engine_workers(name, args.steps, args.warmup, device, workers)
            row.update(
                workers=workers, workers_img_s=round(side_by_side, 1), workers_ratio=round(side_by_side / plain, 2)
            )
            line += f"   {workers} workers: {side_by_side:8.1f} img/s   ratio {side_by_side / plain:5.2f}x"
        rows.append(row)
        print(line, flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"device": device, "torch": torch.__version__, "steps": args.steps, "rows": rows}, handle, indent=2
            )


if __name__ == "__main__":
    main()
