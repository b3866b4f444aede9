"""Worker processes: the same checkpoints as training in-process, sane worker counts, clear errors."""

import os

import numpy as np
import pytest
import torch

from kmnist_utils.engine import parallel
from kmnist_utils.engine.checkpoints import CheckpointStore, TrainSpec, train_cached
from kmnist_utils.engine.training import TrainConfig, make_tensor_split


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
    assert [h["train_loss"] for h in again.state.history] == pytest.approx(
        [h["train_loss"] for h in loaded[0].state.history], rel=1e-5
    )


def test_same_key_same_numbers_in_a_worker_and_in_this_process(tmp_path):
    # The thread count changes the kernels' summation order, so it is in the key and the run sets it
    # itself: a run retrained in the notebook's process (e.g. after its checkpoint was damaged) gives
    # exactly the numbers its worker stored, whatever threads this process has.
    # Big enough batches that two threads split the kernels' sums (at 32 images they do not).
    big = arrays(n_train=1024, n_val=256)
    spec = TrainSpec("improved", TrainConfig(1, 64, 1e-3, seed=3, precision="fp32", threads=1), {"dropout": 0.4})
    twin = TrainSpec("improved", TrainConfig(1, 64, 1e-3, seed=4, precision="fp32", threads=1), {"dropout": 0.4})
    parallel.run_jobs([parallel.Job(s, big, "cpu", tmp_path / "store") for s in (spec, twin)], workers=2)
    data = make_tensor_split(*big)
    from_worker = train_cached(spec, data, CheckpointStore(tmp_path / "store"), progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        here = train_cached(spec, data, CheckpointStore(tmp_path / "here"), progress=False)
        assert torch.get_num_threads() == 2  # the run's own setting is undone afterwards
    finally:
        torch.set_num_threads(threads)
    assert from_worker.from_cache and not here.from_cache and from_worker.meta == here.meta
    assert here.state.history == [dict(h, seconds=s["seconds"]) for h, s in zip(from_worker.state.history,
                                                                                   here.state.history)]
    for key, value in from_worker.state.model.items():
        assert torch.equal(value, here.state.model[key]), key
    other = TrainSpec("improved", TrainConfig(1, 64, 1e-3, seed=3, precision="fp32", threads=2), {"dropout": 0.4})
    assert other.meta(data) != spec.meta(data)  # another thread count is another run


def test_a_failing_job_is_reported(tmp_path):
    bad = parallel.Job(TrainSpec("no-such-model", TrainConfig(1, 32, 1e-3, seed=0)), arrays(), "cpu", tmp_path)
    with pytest.raises(ValueError, match="Unknown model"):
        parallel.run_jobs([bad, job(tmp_path, 0)], workers=2)


def test_worker_count(monkeypatch):
    assert parallel.worker_count("cuda", 12) == 1
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    assert parallel.worker_count("cpu", 12) == 4  # one worker per core
    assert parallel.worker_count("cpu", 3) == 3  # never more workers than jobs
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: None)
    assert parallel.worker_count("cpu", 12) == 1
    assert parallel.worker_count("cpu", 1) == 1
    assert parallel.worker_count("cpu", 12, configured=3) == 3 and parallel.worker_count("cpu", 2, configured=3) == 2
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        parallel.worker_count("cpu", 4, configured=0)


def test_the_workers_setting_is_read_by_setup(tmp_path, monkeypatch):
    from kmnist_utils.engine import context

    monkeypatch.delenv(context.WORKERS_ENV_VAR, raising=False)
    assert context.setup("smoke", output_root=tmp_path, lock=False).workers is None
    monkeypatch.setenv(context.WORKERS_ENV_VAR, "3")
    assert context.setup("smoke", output_root=tmp_path, lock=False).workers == 3
    monkeypatch.setenv(context.WORKERS_ENV_VAR, "two")
    with pytest.raises(ValueError, match="KMNIST_WORKERS must be a positive integer"):
        context.setup("smoke", output_root=tmp_path, lock=False)


def _weights_and_predictions(trained, x):
    model = trained.model.eval()
    with torch.no_grad():
        logits = model(x)
    return {k: v.clone() for k, v in model.state_dict().items()}, logits


def test_same_inputs_give_identical_numbers_through_workers_and_in_process(tmp_path):
    """Same code, seed, device and data: bit-identical weights and predictions, whether the run is
    trained by a worker process (twice, into separate caches) or in this process with one thread."""
    data = make_tensor_split(*arrays())
    probe = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    results = []
    for name in ("first", "second"):
        spec_job = parallel.Job(job(tmp_path, 0).spec, arrays(), "cpu", tmp_path / name)
        parallel.run_jobs([spec_job, parallel.Job(job(tmp_path, 1).spec, arrays(), "cpu", tmp_path / name)], workers=2)
        results.append(
            _weights_and_predictions(
                train_cached(spec_job.spec, data, CheckpointStore(tmp_path / name), progress=False), probe
            )
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # what each of 2 workers uses
    try:
        in_process = train_cached(job(tmp_path, 0).spec, data, CheckpointStore(tmp_path / "here"), progress=False)
    finally:
        torch.set_num_threads(threads)
    results.append(_weights_and_predictions(in_process, probe))
    reference_weights, reference_logits = results[0]
    for weights, logits in results[1:]:
        assert weights.keys() == reference_weights.keys()
        assert all(torch.equal(weights[k], reference_weights[k]) for k in weights)
        assert torch.equal(logits, reference_logits)


class ExitOnUnpickle:
    """Ends the process that unpickles it: a stand-in for a worker killed mid-run."""

    def __reduce__(self):
        return os._exit, (3,)


def test_a_worker_that_dies_is_reported_not_waited_for(tmp_path):
    x, y, x_val, y_val = arrays()
    dying = parallel.Job(job(tmp_path, 0).spec, (ExitOnUnpickle(), y, x_val, y_val), "cpu", tmp_path / "store")
    with pytest.raises(parallel.WorkerDied, match="died without finishing its run"):
        parallel.run_jobs([dying, job(tmp_path, 1)], workers=2)
