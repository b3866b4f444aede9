"""The plan of a training call: no core left idle by an odd run, the plan only where it is faster, costs
that follow epochs, passes and network size, and runs already cached keep their threads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kmnist_utils.chapters import cnns
from kmnist_utils.chapters.siamese import PaperPairObjective
from kmnist_utils.core.data import Parts
from kmnist_utils.engine import runner, schedule
from kmnist_utils.engine.checkpoints import TrainSpec
from kmnist_utils.engine.training import TrainConfig
from kmnist_utils.pipeline import attempts


def idle_share(costs, threads, cores):
    """Idle core-time of a plan over its makespan x cores (a run of t threads holds t cores)."""
    span = schedule.plan_makespan(costs, threads, cores)
    used = sum(t * c / schedule.speedup(t) for c, t in zip(costs, threads))
    return 1 - used / (cores * span)


def test_an_odd_run_trains_last_on_every_core():
    costs = [10.0, 10.0, 10.0]  # three seeds of one model on two cores
    threads = schedule.plan_threads(costs, cores=2)
    assert sorted(threads) == [1, 1, 2]
    assert threads == [1, 1, 2]  # among equals, the last given is the one that waits
    assert idle_share(costs, [1, 1, 1], 2) == pytest.approx(1 / 4)  # one core idle for a third of the time
    assert idle_share(costs, threads, 2) == pytest.approx(0.0, abs=1e-9)
    assert schedule.plan_makespan(costs, threads, 2) < schedule.plan_makespan(costs, [1, 1, 1], 2)


def test_one_run_alone_gets_every_core_and_one_core_changes_nothing():
    assert schedule.plan_threads([5.0], cores=2) == [2]
    assert schedule.plan_threads([5.0], cores=8) == [8]
    assert schedule.plan_threads([5.0, 3.0, 1.0], cores=1) == [1, 1, 1]
    assert schedule.plan_threads([], cores=4) == []
    with pytest.raises(ValueError, match="cores must be a positive integer"):
        schedule.plan_threads([1.0], cores=0)


def test_many_uneven_runs_stay_on_one_thread_when_that_finishes_first():
    # Chapter 03's nine runs (Improved, ResNet-like, Simple x 3 seeds): longest first balances them
    # within a short run, which beats training the shortest on two threads afterwards.
    costs = [18.7] * 3 + [12.1] * 3 + [4.9] * 3
    threads = schedule.plan_threads(costs, cores=2)
    assert threads == [1] * 9
    assert idle_share(costs, threads, 2) < 0.05


def test_the_plan_is_never_slower_than_one_thread_each():
    rng = np.random.default_rng(0)
    for _ in range(200):
        costs = list(rng.uniform(1, 20, size=int(rng.integers(1, 12))))
        cores = int(rng.choice([1, 2, 4, 8, 16]))
        threads = schedule.plan_threads(costs, cores)
        assert all(1 <= t <= cores for t in threads)
        assert schedule.plan_makespan(costs, threads, cores) <= schedule.plan_makespan(costs, [1] * len(costs), cores)


def test_list_makespan_is_a_process_pool_in_the_given_order():
    assert schedule.list_makespan([4, 3, 3], workers=2) == 6
    assert schedule.list_makespan([3, 3, 4], workers=2) == 7
    assert schedule.list_makespan([4], workers=2, threads=2) == pytest.approx(4 / 2**0.8)


def test_cost_follows_epochs_passes_and_the_network():
    config = TrainConfig(5, 64, 1e-3, seed=0)
    simple, improved = TrainSpec("simple", config), TrainSpec("improved", config, {"dropout": 0.3})
    assert schedule.run_cost(improved, 1000) > schedule.run_cost(simple, 1000) > 0
    longer = dataclasses.replace(simple, config=dataclasses.replace(config, epochs=10))
    assert schedule.run_cost(longer, 1000) == pytest.approx(2 * schedule.run_cost(simple, 1000))
    pairs = TrainSpec("siamese", config, {"encoder": "paper", "head": "weighted_l1"}, PaperPairObjective(600, 50))
    assert schedule.image_passes(pairs, 1000) == 1200  # two encoder passes a pair, whatever the pool size
    assert schedule.image_passes(simple, 1000) == 1000


def toy_parts(n_train=96, n_val=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    xv = rng.integers(0, 256, (n_val, 28, 28), dtype=np.uint8)
    return Parts(x, np.arange(n_train) % 10, xv, np.arange(n_val) % 10, xv[:10], np.arange(10))


def test_an_odd_run_no_longer_leaves_a_core_idle(smoke_ctx, tmp_path):
    ctx = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "cache", workers=2, run_log=str(tmp_path / "runs.jsonl"))
    parts = toy_parts()
    specs = [cnns.cnn_spec(ctx, "simple", seed) for seed in (0, 1, 2)]
    trained = runner.train(ctx, specs, parts, verbose=False)
    assert [t.meta["config"]["threads"] for t in trained] == [1, 1, 2]
    calls = attempts.read_run_log(tmp_path / "runs.jsonl")
    assert len(calls) == 1 and calls[0]["cores"] == 2
    runs = {r["run"]: r for r in calls[0]["runs"]}
    assert {r["threads"] for r in runs.values()} == {1, 2}
    lone = runs["simple seed 2"]
    # The two-thread run starts after the one-thread runs ended: the cores are never shared, nor idle
    # while a run waits.
    assert lone["threads"] == 2
    assert lone["start"] >= max(runs[f"simple seed {s}"]["end"] for s in (0, 1))
    # Asked again, every run comes from the cache under the threads it trained with: nothing retrains.
    again = runner.train(ctx, specs, parts, verbose=False)
    assert [t.meta["config"]["threads"] for t in again] == [1, 1, 2]
    assert len(attempts.read_run_log(tmp_path / "runs.jsonl")) == 1


def test_a_run_cached_under_other_threads_is_loaded_not_retrained(smoke_ctx, tmp_path):
    ctx = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "cache", workers=2)
    parts = toy_parts()
    alone = runner.train(ctx, [cnns.cnn_spec(ctx, "simple", 0)], parts, verbose=False)
    assert alone[0].meta["config"]["threads"] == 2  # a call with one run: every core
    # In a call of two, the same spec would be planned on one thread; its cached run is used instead.
    both = runner.train(ctx, [cnns.cnn_spec(ctx, "simple", s) for s in (0, 1)], parts, verbose=False)
    assert both[0].from_cache and both[0].meta["config"]["threads"] == 2


def test_a_run_cached_in_the_other_memory_format_resumes_in_it(smoke_ctx, tmp_path):
    # The memory format is calibrated per CPU kind: a run begun on one kind and resumed on another, whose
    # calibration chose the other format, continues as it began instead of starting again.
    ctx = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "cache", workers=2)
    parts = toy_parts()
    nchw = cnns.cnn_spec(ctx, "simple", 0, epochs=1)
    assert not nchw.config.channels_last
    first = runner.train(ctx, [nchw], parts, verbose=False)[0]
    moved = dataclasses.replace(nchw, config=dataclasses.replace(nchw.config, channels_last=True))
    again = runner.train(ctx, [moved], parts, verbose=False)[0]
    assert again.from_cache and not again.meta["config"].get("channels_last", False)
    assert again.meta == first.meta
    # A longer run of the same settings continues the cached epoch in its format: one epoch to go, not two.
    longer = dataclasses.replace(moved, config=dataclasses.replace(moved.config, epochs=2))
    [(planned, _)] = runner.plan(ctx, [(longer, parts)])
    assert not planned.config.channels_last
    resumed = runner.train(ctx, [longer], parts, verbose=False)[0]
    assert resumed.state.history[0] == first.state.history[0] and not resumed.meta["config"].get("channels_last")
    # Nothing in the cache in either format: the spec's own format is kept.
    fresh = cnns.cnn_spec(ctx, "simple", 5)
    fresh = dataclasses.replace(fresh, config=dataclasses.replace(fresh.config, channels_last=True))
    assert runner.plan(ctx, [(fresh, parts)])[0][0].config.channels_last


def test_one_queue_waits_for_the_call_before_and_fills_the_cores_otherwise():
    assert schedule.queue_makespan([([4.0], None), ([4.0], None)], cores=2) == 4
    assert schedule.queue_makespan([([4.0], None), ([4.0], 0)], cores=2) == 8  # the tuned run after the grid
    # Independent work fills the core the dependent chain leaves free.
    assert schedule.queue_makespan([([4.0], None), ([4.0], 0), ([3.0, 3.0], None)], cores=2) == 8
    assert schedule.queue_makespan([([], None), ([2.0], 0)], cores=2) == 2
    with pytest.raises(ValueError, match="cycle"):
        schedule.queue_makespan([([1.0], 1), ([1.0], 0)], cores=2)


def test_the_makespan_script_reads_the_ledgers_runs(tmp_path, monkeypatch):
    import runpy
    import sys

    from kmnist_utils.core.paths import PROJECT_ROOT

    ledger = attempts.open_ledger(tmp_path, {"profile": "paper"}, ["03_a.ipynb", "04_b.ipynb"], "abc",
                                  cpu="X", cache="c")
    run = {"run": "r", "epochs": 1, "threads": 1}
    ledger.record_calls("03_a.ipynb", [{"cores": 2, "runs": [{**run, "start": 0, "end": 60}] * 3}])
    ledger.record("03_a.ipynb", 200, finished=True)
    ledger.record_calls("04_b.ipynb", [{"cores": 2, "runs": [{**run, "threads": 2, "start": 0, "end": 60}]}])
    ledger.record("04_b.ipynb", 70, finished=True)
    monkeypatch.setattr(sys, "argv", ["makespan.py", "--ledger", str(ledger.path), "--out", str(tmp_path / "out")])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "makespan.py"), run_name="__main__")
    table = pd.read_csv(tmp_path / "out" / "makespan.csv")
    assert table.cores.tolist() == [2, 4, 8, 16]
    two = table.iloc[0]
    # Three one-minute runs on two cores: two side by side, the third on both cores; then the two-thread
    # run of chapter 04 (2 ** 0.8 one-thread minutes) on both.
    lone = 1 / schedule.speedup(2)
    assert two.chapter_by_chapter_min == pytest.approx(1 + lone + 2 ** 0.8 * lone, abs=1e-3)
    assert two.one_thread_each_min == pytest.approx(2 + 2 ** 0.8, abs=1e-3)
    assert (table.chapter_by_chapter_min.diff().dropna() <= 1e-9).all()  # more cores never slower
    assert "| 2 |" in (tmp_path / "out" / "makespan.md").read_text()


def test_a_run_to_resume_keeps_its_threads_and_the_others_fill_round_it():
    # The tuned CNN: seed 0 continues the grid's 3-epoch run on one thread (7 of 10 epochs to go); seeds
    # 1 and 2 are new. One thread each would leave seed 2 alone on one core.
    costs, fixed = [7.0, 10.0, 10.0], [1, None, None]
    threads = schedule.plan_threads(costs, 2, fixed)
    assert threads == [1, 1, 2]
    assert schedule.plan_makespan(costs, threads, 2) < schedule.plan_makespan(costs, [1, 1, 1], 2)
    assert schedule.plan_threads([7.0, 10.0], 2, [2, None]) == [2, 2]  # a lone new run beside a 2-thread one
    with pytest.raises(ValueError, match="one entry per run"):
        schedule.plan_threads([1.0], 2, [None, None])


def test_runs_that_continue_shorter_ones_are_planned_with_what_is_left(smoke_ctx, tmp_path):
    ctx = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "cache", workers=2)
    parts = toy_parts()
    runner.train(ctx, [cnns.cnn_spec(ctx, "simple", s, epochs=1) for s in (0, 9)], parts, verbose=False)
    # Seed 0 continues its 1-epoch run on one thread (2 of 3 epochs to go), as the tuned CNN continues the
    # grid's; seeds 1 and 2 are new: the last of them trains after the others on both cores.
    tuned_like = [(cnns.cnn_spec(ctx, "simple", s, epochs=3), parts) for s in (0, 1, 2)]
    assert [spec.config.threads for spec, _ in runner.plan(ctx, tuned_like)] == [1, 1, 2]
    # With half its epochs to go, seed 0 balances the two new runs on one thread each.
    halves = [(cnns.cnn_spec(ctx, "simple", s, epochs=2), parts) for s in (0, 1, 2)]
    assert [spec.config.threads for spec, _ in runner.plan(ctx, halves)] == [1, 1, 1]
