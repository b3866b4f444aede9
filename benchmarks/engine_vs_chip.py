"""The engine measured against the chip, in one process: images/s and achieved GFLOP/s of a training
step for each CNN at the paper's batch size (64) and for the Siamese encoder (chapter 06's 128 pairs),
against this CPU's own large-matmul rate in fp32 and bf16.

    python benchmarks/engine_vs_chip.py [--steps 120] [--out benchmarks/results/engine-vs-chip-<cpu>]

Rows, each timed alone on the cores (run nothing else beside it):
- ``plain``: the original code's loop: a shuffled DataLoader, fp32, NCHW, plain Adam, ``loss.item()``
  every step, all threads in one process;
- ``engine fp32 nchw`` / ``engine fp32 channels_last`` / ``engine bf16`` (bf16 only where native):
  ``training.fit`` on tensors in memory, all threads in one process;
- ``engine fp32 <layout> 1 thread x N`` / ``engine bf16 1 thread x N`` (bf16 only where native): what
  the pipeline does with independent runs, N worker processes of one thread each (the images/s of all
  of them together), against N one-thread matmuls at once in the same dtype;
- ``compile``: ``torch.compile`` of the step (fp32, all threads): compile time, step time, and after
  how many steps it pays back, against the steps of one paper-profile run of that network.
GFLOP/s = FLOPs of forward and backward (``torch.utils.flop_counter``) x images/s. The ceilings are a
2048 x 2048 ``torch.mm`` in this process (all threads) and, for the worker rows, N one-thread
processes at once. Random images of KMNIST's shape: speed does not depend on pixel values.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from kmnist_utils.chapters import siamese
from kmnist_utils.core.machine import cpu_model
from kmnist_utils.engine import chip
from kmnist_utils.engine.device import native_bf16
from kmnist_utils.engine.training import TensorSplit, TrainConfig, fit
from kmnist_utils.products.provenance import git_commit
from kmnist_utils.settings import PAPER, SiameseSettings

NETWORKS = ("simple", "resnet", "improved", "siamese")
BATCH = {"simple": 64, "resnet": 64, "improved": 64, "siamese": SiameseSettings().batch_size}  # pairs for siamese
PAPER_STEPS = {name: PAPER.epochs[name] * 48_000 // 64 for name in ("simple", "resnet", "improved")}
PAPER_STEPS["siamese"] = 48_000 // SiameseSettings().batch_size * 10  # 10 epochs of 48,000 pairs


def images_per_step(name: str) -> int:
    return 2 * BATCH[name] if name == "siamese" else BATCH[name]


def plain_loop(name: str, steps: int, warmup: int) -> float:
    """Images/s of the original code's loop (fp32, DataLoader, ``loss.item()`` every step)."""
    model, x, y, loss = chip.step_parts(name, BATCH[name])
    n = (steps + warmup) * images_per_step(name)
    xs, ys = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    loader = DataLoader(TensorDataset(xs, ys), batch_size=images_per_step(name), shuffle=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for i, (xb, yb) in enumerate(loader):
        if i == warmup:
            start = time.perf_counter()
        optimizer.zero_grad()
        value = loss(model, xb, yb)
        value.backward()
        optimizer.step()
        value.item()
    return steps * images_per_step(name) / (time.perf_counter() - start)


def engine(name: str, steps: int, warmup: int, precision: str, channels_last: bool) -> float:
    """Images/s of ``training.fit`` for ``steps`` batches (after a warm-up run), validation included."""
    model, _, _, _ = chip.step_parts(name, BATCH[name])
    config = TrainConfig(1, BATCH[name], 1e-3, seed=0, precision=precision, channels_last=channels_last)

    def split(batches: int) -> tuple[TensorSplit, object]:
        if name == "siamese":
            n = max(batches * BATCH[name] // 4, 64)  # images; the pairs index them
            data = TensorSplit(torch.rand(n, 1, 28, 28), torch.arange(n) % 10, torch.rand(64, 1, 28, 28),
                               torch.arange(64) % 10, "bench")
            return data, siamese.PairObjective(batches * BATCH[name], 64)
        n = batches * BATCH[name]
        return TensorSplit(torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,)), torch.rand(256, 1, 28, 28),
                           torch.randint(0, 10, (256,)), "bench"), None

    data, objective = split(warmup)
    fit(model, data, config, progress=False, objective=objective)
    data, objective = split(steps)
    start = time.perf_counter()
    fit(model, data, config, progress=False, objective=objective)
    return steps * images_per_step(name) / (time.perf_counter() - start)


def _one_thread_engine(args: tuple[str, int, int, bool, str]) -> float:
    name, steps, warmup, channels_last, precision = args
    torch.set_num_threads(1)
    return engine(name, steps, warmup, precision, channels_last)


def _one_thread_matmul(dtype: torch.dtype) -> float:
    torch.set_num_threads(1)
    return chip.matmul_gflops(dtype, min_seconds=2.0)


def side_by_side(function, args: list) -> float:
    """The sum of what ``len(args)`` one-thread processes measure at the same time."""
    with mp.get_context("spawn").Pool(len(args)) as pool:
        return sum(pool.map(function, args))


def compile_payback(name: str, steps: int) -> dict:
    """torch.compile of the fp32 step: compile time (first three steps less three eager ones), eager and
    compiled seconds per step, and the steps after which compiling has paid for itself."""
    model, x, y, loss = chip.step_parts(name, BATCH[name])
    eager = chip.seconds_per_step(model, x, y, loss, steps=steps)
    model, x, y, loss = chip.step_parts(name, BATCH[name])
    compiled = torch.compile(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    start = time.perf_counter()
    for _ in range(3):
        value = loss(compiled, x, y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    first = time.perf_counter() - start
    fast = chip.seconds_per_step(compiled, x, y, loss, steps=steps)
    compile_s = max(first - 3 * fast, 0.0)
    gain = eager - fast
    payback = compile_s / gain if gain > 0 else float("inf")
    return {"compile_s": round(compile_s, 1), "eager_step_s": eager, "compiled_step_s": fast,
            "speedup": round(eager / fast, 3), "payback_steps": None if gain <= 0 else round(payback),
            "paper_run_steps": PAPER_STEPS[name], "pays_back_in_a_paper_run": bool(payback < PAPER_STEPS[name])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (about a minute each)")
    parser.add_argument("--out", default=None, help="folder for result.json (default: only print)")
    args = parser.parse_args()
    threads, cores = torch.get_num_threads(), os.cpu_count() or 1
    bf16 = native_bf16("cpu")
    start = time.perf_counter()
    ceiling = {"fp32": chip.matmul_gflops(torch.float32, min_seconds=2.0)}
    if bf16:
        ceiling["bf16"] = chip.matmul_gflops(torch.bfloat16, min_seconds=2.0)
    ceiling["fp32_1_thread_x_cores"] = side_by_side(_one_thread_matmul, [torch.float32] * cores)
    if bf16:
        ceiling["bf16_1_thread_x_cores"] = side_by_side(_one_thread_matmul, [torch.bfloat16] * cores)
    print(f"{cpu_model()}, {cores} cores, {threads} threads, torch {torch.__version__}; matmul ceiling: "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceiling.items()), flush=True)
    rows = []

    def record(name: str, way: str, img_s: float, ceiling_key: str) -> None:
        model, x, y, loss = chip.step_parts(name, BATCH[name])
        gflops = chip.step_flops(model, x, y, loss) / len(x) * img_s / 1e9
        rows.append({"network": name, "way": way, "images_per_s": round(img_s, 1), "gflop_per_s": round(gflops, 1),
                     "share_of_ceiling": round(gflops / ceiling[ceiling_key], 3), "ceiling": ceiling_key})
        print(f"{name:9s} {way:36s} {img_s:8.1f} img/s {gflops:7.1f} GFLOP/s = {gflops / ceiling[ceiling_key]:5.1%} "
              f"of {ceiling_key} matmul", flush=True)

    for name in args.networks:
        record(name, "plain (original loop, fp32)", plain_loop(name, args.steps, args.warmup), "fp32")
        best_layout = {}
        for layout in (False, True):
            img_s = engine(name, args.steps, args.warmup, "fp32", layout)
            best_layout[layout] = img_s
            record(name, f"engine fp32 {'channels_last' if layout else 'nchw'}", img_s, "fp32")
        if bf16:
            record(name, "engine bf16 (channels_last)", engine(name, args.steps, args.warmup, "bf16", True), "bf16")
        layout = best_layout[True] > best_layout[False]
        img_s = side_by_side(_one_thread_engine, [(name, args.steps, args.warmup, layout, "fp32")] * cores)
        record(name, f"engine fp32 {'channels_last' if layout else 'nchw'} 1 thread x {cores}", img_s,
               "fp32_1_thread_x_cores")
        if bf16:
            img_s = side_by_side(_one_thread_engine, [(name, args.steps, args.warmup, True, "bf16")] * cores)
            record(name, f"engine bf16 1 thread x {cores}", img_s, "bf16_1_thread_x_cores")
    compiled = {}
    if not args.no_compile:
        for name in args.networks:
            compiled[name] = compile_payback(name, max(10, args.steps // 4))
            print(f"{name:9s} torch.compile fp32: {compiled[name]}", flush=True)
    result = {"cpu": cpu_model(), "cores": cores, "threads": threads, "torch": torch.__version__,
              "native_bf16": bf16, "git_commit": git_commit(), "steps": args.steps,
              "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "wall_time_s": round(time.perf_counter() - start, 1), "matmul_gflop_per_s": ceiling,
              "rows": rows, "compile": compiled}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out / 'result.json'}")


if __name__ == "__main__":
    main()
