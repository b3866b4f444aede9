"""How the runs of one training call share the CPU cores, planned before any of them starts.

Independent runs train side by side, one thread each, longest first; that alone leaves a core idle
whenever the runs do not divide evenly among the cores (three seeds of the tuned CNN on two cores:
the third trained alone on one thread for 18 minutes while the other core waited). So the plan may
also give the shortest runs several threads each, to train after the one-thread runs on every core.
It picks whichever of these plans finishes first in a simulation of the call, on estimated costs.

The estimate is FLOPs, not time: a run's cost is epochs x image passes per epoch x the FLOPs of one
image's forward and backward pass (``torch.utils.flop_counter``), the same on every machine, so the
plan of a given list of runs does not depend on timing noise. A run's threads are part of its
checkpoint key (they change the kernels' summation order); a run already in the cache under some
thread count keeps it (``runner.train`` looks before it plans), so a plan only decides new runs.

Several threads do not scale perfectly: ``THREAD_SCALING`` models ``t`` threads as ``t ** 0.8`` times
one, which is the 2-thread rate measured through the engine (two one-thread workers did 1.09-1.21x the
work of one two-thread process: benchmarks/results/cpu-2026-11-26-workers/).
"""

from __future__ import annotations

import heapq
import json
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

if TYPE_CHECKING:
    from kmnist_utils.engine.checkpoints import TrainSpec

THREAD_SCALING = 0.8


def speedup(threads: int) -> float:
    """How many times faster one run trains on ``threads`` threads than on one."""
    return float(threads) ** THREAD_SCALING


def list_makespan(costs: Sequence[float], workers: int, threads: int = 1) -> float:
    """Finishing time of ``costs`` (one-thread seconds) handed in the given order to ``workers`` workers of
    ``threads`` threads each, every run to the worker free first (what a process pool does)."""
    if not costs:
        return 0.0
    free = [0.0] * max(1, min(workers, len(costs)))
    for cost in costs:
        heapq.heappush(free, heapq.heappop(free) + cost / speedup(threads))
    return max(free)


def plan_makespan(costs: Sequence[float], threads: Sequence[int], cores: int) -> float:
    """Finishing time of a plan: the one-thread runs side by side on every core, longest first, then the
    runs of ``t`` threads side by side ``cores // t`` at a time."""
    total = 0.0
    for t in sorted(set(threads)):
        group = sorted((c for c, n in zip(costs, threads) if n == t), reverse=True)
        total += list_makespan(group, cores // t, t)
    return total


def plan_threads(costs: Sequence[float], cores: int, fixed: Sequence[int | None] | None = None) -> list[int]:
    """Threads for each run (in the order of ``costs``): one each, except that the ``k`` shortest runs may
    train last with ``cores // k`` threads each, for the ``k`` (``cores // k >= 2``) whose simulated
    makespan is smallest; the fewest multi-thread runs among equals. ``fixed``: runs whose threads are
    settled already (a run to resume keeps its own), taken as they are and never chosen."""
    if cores < 1:
        raise ValueError(f"cores must be a positive integer, got {cores!r}")
    fixed = list(fixed) if fixed is not None else [None] * len(costs)
    if len(fixed) != len(costs):
        raise ValueError(f"fixed needs one entry per run, got {len(fixed)} for {len(costs)}")
    base = [t or 1 for t in fixed]
    free = sorted((i for i in range(len(costs)) if fixed[i] is None), key=lambda i: (-costs[i], i))  # longest first
    best, best_time = base, plan_makespan(costs, base, cores)
    for k in range(1, min(len(free), cores // 2) + 1):
        threads = list(base)
        for i in free[len(free) - k:]:
            threads[i] = cores // k
        span = plan_makespan(costs, threads, cores)
        if span < best_time * (1 - 1e-9):
            best, best_time = threads, span
    return best


@lru_cache(maxsize=32)
def _pass_flops(model: str, hparams_json: str) -> float:
    from kmnist_utils.engine.models import build_model  # lazily: planning a list of runs imports no network code first

    torch.manual_seed(0)
    net = build_model(model, **json.loads(hparams_json))
    net = getattr(net, "encoder", net)  # a Siamese network's passes are its encoder's
    images = torch.rand(2, 1, 28, 28)  # two: a batch-norm layer in training mode needs more than one value
    with FlopCounterMode(display=False) as counter:
        net(images).float().sum().backward()
    return counter.get_total_flops() / len(images)


def image_passes(spec: "TrainSpec", train_images: int) -> int:
    """Encoder passes an epoch of ``spec`` takes on ``train_images`` images (two a pair for pair objectives)."""
    pairs = getattr(spec.objective, "pairs_per_epoch", None)
    return 2 * pairs if pairs else train_images


def run_cost(spec: "TrainSpec", train_images: int) -> float:
    """The run's estimated cost: epochs x image passes x FLOPs of one pass forward and backward."""
    flops = _pass_flops(spec.model, json.dumps(spec.hparams, sort_keys=True))
    return float(spec.config.epochs) * image_passes(spec, train_images) * flops


def one_thread_seconds(run: dict) -> float:
    """A recorded run's (``parallel.run_record``) duration as it would be on one thread."""
    return (run["end"] - run["start"]) * speedup(run.get("threads") or 1)


def call_makespan(costs: Sequence[float], cores: int) -> float:
    """The time one training call takes on ``cores`` cores under this module's plan, if the plan knew the
    runs' costs exactly."""
    return plan_makespan(costs, plan_threads(costs, cores), cores)


def queue_makespan(calls: Sequence[tuple[Sequence[float], int | None]], cores: int) -> float:
    """The time the runs of ``calls`` take as one queue on ``cores`` one-thread workers: each call is
    (costs, the index of the call it waits for or None); a free worker takes the longest run whose call
    is free to start (every run of the call it waits for finished), else waits for the next to finish."""
    pending = {i: sorted(costs, reverse=True) for i, (costs, _) in enumerate(calls) if len(costs)}
    finish_of = {i: 0.0 for i, (costs, _) in enumerate(calls) if not len(costs)}
    running: list[tuple[float, int]] = []  # (end, call)
    left = {i: len(c) for i, c in pending.items()}
    now, free = 0.0, cores
    while pending or running:
        ready = [i for i in pending if calls[i][1] is None or calls[i][1] in finish_of]
        while free and ready:
            i = max(ready, key=lambda j: (pending[j][0], -j))
            heapq.heappush(running, (now + pending[i].pop(0), i))
            free -= 1
            if not pending[i]:
                del pending[i]
                ready.remove(i)
        if not running:
            raise ValueError("the calls wait for each other in a cycle, or for a call that is not in the list")
        now, i = heapq.heappop(running)
        free += 1
        left[i] -= 1
        if left[i] == 0:
            finish_of[i] = now
    return now
