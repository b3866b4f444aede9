"""Worker processes: the same checkpoints as training in-process, sane worker counts, clear errors."""

import numpy as np
import pytest
import torch

from kmnist_utils import parallel
from kmnist_utils.checkpoints import CheckpointStore, TrainSpec, train_cached
from kmnist_utils.training import TrainConfig, make_tensor_split


def arrays(seed=0, n_train=96, n_val=32):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), np.arange(n_train) % 10,
            rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8), np.arange(n_val) % 10)


def job(tmp_path, seed):
    spec = TrainSpec("simple", TrainConfig(1, 32, 1e-3, seed=seed, precision="fp32"))
    return parallel.Job(spec, arrays(), "cpu", tmp_path / "store")


def test_workers_fill_the_cache_that_train_cached_reads(tmp_path):
    jobs = [job(tmp_path, seed) for seed in (0, 1)]
    parallel.run_jobs(jobs, workers=2)
    store = CheckpointStore(tmp_path / "store")
    data = make_tensor_split(*arrays())
    loaded = [train_cached(j.spec, data, store, progress=False) for j in jobs]
    assert all(t.from_cache for t in loaded)
    # A worker trains the same model as this process would (same seed, same data, fp32, one thread).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        again = train_cached(jobs[0].spec, data, CheckpointStore(tmp_path / "fresh"), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert [h["train_loss"] for h in again.state.history] == pytest.approx([h["train_loss"] for h in loaded[0].state.history], rel=1e-5)


def test_a_failing_job_is_reported(tmp_path):
    bad = parallel.Job(TrainSpec("no-such-model", TrainConfig(1, 32, 1e-3, seed=0)), arrays(), "cpu", tmp_path)
    with pytest.raises(ValueError, match="Unknown model"):
        parallel.run_jobs([bad, job(tmp_path, 0)], workers=2)


def test_worker_count(monkeypatch):
    monkeypatch.delenv(parallel.WORKERS_ENV_VAR, raising=False)
    assert parallel.worker_count("cuda", 12) == 1
    assert 1 <= parallel.worker_count("cpu", 12) <= 12
    assert parallel.worker_count("cpu", 1) == 1
    monkeypatch.setenv(parallel.WORKERS_ENV_VAR, "3")
    assert parallel.worker_count("cpu", 12) == 3 and parallel.worker_count("cpu", 2) == 2
    monkeypatch.setenv(parallel.WORKERS_ENV_VAR, "two")
    with pytest.raises(ValueError, match="KMNIST_WORKERS must be a positive integer"):
        parallel.worker_count("cpu", 4)
