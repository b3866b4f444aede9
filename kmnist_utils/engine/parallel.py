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
import queue
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from kmnist_utils.engine.progress import epoch_text
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
    # Its progress line (``run_jobs`` numbers the jobs that have none): labels can repeat, as one spec on two splits.
    key: str = ""

    def label(self) -> str:
        return self.spec.label()


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


# This worker process's way to the parent's progress lines (set once per worker by its initializer).
_LINES: "mp.Queue | None" = None


def _init_worker(threads: int, parent_pid: int, lines: "mp.Queue | None" = None) -> None:
    import torch  # lazily, like the imports of run_job: a spawned worker starts with as little as possible

    global _LINES
    _LINES = lines
    torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()


def _send(name: str, text: str) -> None:
    if _LINES is None:
        print(text, flush=True)
    else:
        _LINES.put((name, text))


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
    epochs = job.spec.config.epochs
    train_cached(job.spec, data, CheckpointStore(job.store_root), progress=False, verbose=False,
                 milestones=job.milestones,
                 epoch_log=lambda state: _send(job.key or job.label(),
                                               epoch_text(job.label(), state.history, epochs)))
    return start, time.time()


class WorkerDied(RuntimeError):
    """A worker process ended without an answer (killed, or crashed in native code)."""


def _stop(pool: ProcessPoolExecutor) -> None:
    # shutdown() waits for the runs in progress; a failed or interrupted batch must stop them now.
    for process in list(getattr(pool, "_processes", {}).values()):  # private, but the only handle there is
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def run_jobs(jobs: Sequence[Job], workers: int, show: Callable[[str, str], None] | None = None) -> list[dict]:
    """Run ``jobs`` on ``workers`` spawned processes, longest first; the first failure stops them all.
    Returns each run's ``run_record``, in the order they finished. ``show(key, text)`` receives each run's
    progress line after every epoch and when it ends (default: printed); ``key`` is the run's place in
    ``jobs``, since two runs can share a label.

    A worker that dies (a crash in native code, the OOM killer) raises ``WorkerDied`` naming the runs
    in flight, instead of leaving the caller waiting for an answer that never comes.
    """
    shown_by, ended_runs = show or (lambda name, text: print(text, flush=True)), set()
    jobs = [job if job.key else replace(job, key=str(index)) for index, job in enumerate(jobs)]

    def show(name: str, text: str) -> None:  # an epoch line that arrives after its run's last line is stale
        if name not in ended_runs:
            shown_by(name, text)

    # A run whose config names its threads trains with them (training.fit sets them); this is for the rest.
    threads = max(1, (os.cpu_count() or 1) // workers)
    named = {job.spec.config.threads for job in jobs}
    shown = named.pop() if len(named) == 1 and None not in named else threads
    # Longest first keeps the workers evenly loaded (the planner's FLOP estimate of each run's cost).
    order = sorted(range(len(jobs)), key=lambda i: -run_cost(jobs[i].spec, len(jobs[i].arrays[1])))
    print(f"training {len(jobs)} run(s) on {workers} worker processes x {shown} thread(s)", flush=True)
    context = mp.get_context("spawn")
    lines, start, records = context.Queue(), time.perf_counter(), []
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads, os.getpid(), lines))
    try:
        futures = {pool.submit(run_job, jobs[i]): i for i in order}
        for i in order:
            show(jobs[i].key, f"{jobs[i].label()}: waiting for a worker")
        pending, done = set(futures), 0
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            _drain(lines, show)
            for future in finished:
                index, done = futures[future], done + 1
                try:
                    began, ended = future.result()
                except BrokenProcessPool:
                    running = [jobs[i].label() for f, i in futures.items() if not f.done() or f is future]
                    raise WorkerDied(
                        "a worker process died without finishing its run (a crash in native code or the system "
                        f"killing it, e.g. out of memory). Runs in flight: {'; '.join(running)}. Finished runs "
                        "are cached; rerun to continue, or set $KMNIST_WORKERS=1 to train in this process."
                    ) from None
                records.append(run_record(jobs[index].spec, began, ended))
                _drain(lines, show)
                show(jobs[index].key, f"{jobs[index].label()}: trained in {ended - began:.0f} s "
                     f"({done}/{len(jobs)} done, elapsed {time.perf_counter() - start:.0f} s)")
                ended_runs.add(jobs[index].key)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
    _drain(lines, show)
    return records


def _drain(lines: "mp.Queue", show: Callable[[str, str], None]) -> None:
    """Show every progress line the workers have sent so far."""
    while True:
        try:
            name, text = lines.get_nowait()
        except queue.Empty:
            return
        show(name, text)
