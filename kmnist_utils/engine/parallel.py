"""Train independent runs side by side in worker processes.

On a small CPU one process per core, each with one thread, can get more work done than one
process using every core, because a second thread inside each small operator buys little. Measured
on the project's 2-core machine through the engine (benchmarks/results/cpu-2026-11-26-workers/):
1.09-1.19x more images per second for the ResNet-like CNN, 1.15-1.21x for the Improved CNN (the grid
search), 0.95x for the Simple CNN. Workers write ordinary checkpoints; the caller then loads them
from the cache, so a run that is killed part-way resumes like any other. How many threads each run
gets, and so how many workers a batch of runs has, is planned by ``kmnist_utils.engine.schedule``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from kmnist_utils.engine.schedule import run_cost

if TYPE_CHECKING:  # imported lazily at run time: workers start with as little as possible
    from kmnist_utils.engine.checkpoints import TrainSpec

@dataclass(frozen=True)
class Job:
    """One run for a worker: its spec, the uint8 arrays it trains on and where to store it."""

    spec: "TrainSpec"
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x_train, y_train, x_val, y_val
    device: str
    store_root: Path
    milestones: tuple[int, ...] = ()

    def label(self) -> str:
        config = self.spec.config
        extra = "".join(f" {k}={v}" for k, v in sorted(self.spec.hparams.items()) if k != "embedding_dim")
        return (f"{self.spec.display()} seed {config.seed}: {config.epochs} epochs, batch {config.batch_size}, "
                f"lr {config.learning_rate:g}{extra}, {config.precision}")


def worker_count(device: str, jobs: int, configured: int | None = None) -> int:
    """``configured`` (the run context's ``workers``) if given, else one worker per CPU core for CPU runs and
    1 on an accelerator; never more than ``jobs``."""
    if configured is not None and configured < 1:
        raise ValueError(f"workers must be a positive integer, got {configured!r}")
    # Concurrent processes on one GPU have not been measured yet, so accelerators train one run at a time.
    wanted = configured or ((os.cpu_count() or 1) if device == "cpu" else 1)
    return max(1, min(wanted, jobs))


def _exit_with_parent(parent_pid: int) -> None:
    # A worker whose parent was killed must not keep writing checkpoints behind a rerun's back.
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(0.5)


def _init_worker(threads: int, parent_pid: int) -> None:
    import torch  # lazily, like the imports of run_job: a spawned worker starts with as little as possible

    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def run_record(spec: "TrainSpec", start: float, end: float) -> dict:
    """What the attempt ledger keeps of one trained run: its name, threads, start and end (Unix seconds)."""
    config = spec.config
    return {"run": f"{spec.model} seed {config.seed}", "epochs": config.epochs, "threads": config.threads,
            "start": round(start, 2), "end": round(end, 2)}


def run_job(job: Job) -> tuple[float, float]:
    """Train (or resume) one run into the checkpoint store; returns its start and end (Unix seconds)."""
    from kmnist_utils.engine.checkpoints import CheckpointStore, train_cached  # lazily: see _init_worker
    from kmnist_utils.engine.training import make_tensor_split  # lazily: see _init_worker

    start = time.time()
    data = make_tensor_split(*job.arrays, device=job.device)
    train_cached(job.spec, data, CheckpointStore(job.store_root), progress=False, verbose=False,
                 milestones=job.milestones,
                 epoch_log=lambda state: print(state.line(job.label(), job.spec.config.epochs), flush=True))
    return start, time.time()


class WorkerDied(RuntimeError):
    """A worker process ended without an answer (killed, or crashed in native code)."""


def _stop(pool: ProcessPoolExecutor) -> None:
    # shutdown() waits for the runs in progress; a failed or interrupted batch must stop them now.
    for process in list(getattr(pool, "_processes", {}).values()):  # private, but the only handle there is
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_jobs(jobs: Sequence[Job], workers: int) -> list[dict]:
    """Run ``jobs`` on ``workers`` spawned processes, longest first; the first failure stops them all.
    Returns each run's ``run_record``, in the order they finished.

    A worker that dies (a crash in native code, the OOM killer) raises ``WorkerDied`` naming the runs
    in flight, instead of leaving the caller waiting for an answer that never comes.
    """
    # A run whose config names its threads trains with them (training.fit sets them); this is for the rest.
    threads = max(1, (os.cpu_count() or 1) // workers)
    named = {job.spec.config.threads for job in jobs}
    shown = named.pop() if len(named) == 1 and None not in named else threads
    # Longest first keeps the workers evenly loaded (the planner's FLOP estimate of each run's cost).
    order = sorted(range(len(jobs)), key=lambda i: -run_cost(jobs[i].spec, len(jobs[i].arrays[1])))
    print(f"training {len(jobs)} run(s) on {workers} worker processes x {shown} thread(s)", flush=True)
    start, records = time.perf_counter(), []
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                               initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(run_job, jobs[i]): i for i in order}
        for done, future in enumerate(as_completed(futures), 1):
            index = futures[future]
            try:
                began, ended = future.result()
            except BrokenProcessPool:
                running = [jobs[i].label() for f, i in futures.items() if not f.done() or f is future]
                raise WorkerDied(
                    "a worker process died without finishing its run (a crash in native code or the system "
                    f"killing it, e.g. out of memory). Runs in flight: {'; '.join(running)}. Finished runs are "
                    f"cached; rerun to continue, or set $KMNIST_WORKERS=1 to train in this process."
                ) from None
            records.append(run_record(jobs[index].spec, began, ended))
            print(
                f"  [{done}/{len(jobs)}] {jobs[index].label()} - {ended - began:.0f} s "
                f"(elapsed {time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    return records
