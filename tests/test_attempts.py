"""The ledger of a pipeline run that took several attempts: each notebook's time is that of every attempt on
the run's cache, re-runs from the cache included, and a killed attempt loses at most one beat."""

from __future__ import annotations

import json
import threading

import pytest

from kmnist_utils.pipeline import attempts

RUN = {"profile": "paper", "seeds": [0, 1, 2], "precision": "fp32"}
NOTEBOOKS = ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_resumed_run_counts_every_attempt(tmp_path):
    clock = Clock()
    first = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc")
    with first.timing("01_a.ipynb", clock):
        clock.now += 100
    with pytest.raises(KeyboardInterrupt):  # stopped during the second notebook, after 500 s
        with first.timing("02_b.ipynb", clock):
            clock.now += 500
            first.record("02_b.ipynb", 500, finished=False)  # the last beat before the stop
            raise KeyboardInterrupt
    second = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc")
    assert len(second.attempts) == 2
    for name, seconds in (("01_a.ipynb", 2), ("02_b.ipynb", 300), ("03_c.ipynb", 50)):
        with second.timing(name, clock):
            clock.now += seconds
    assert second.cost("01_a.ipynb") == (102, 2)  # its re-run from the cache is part of the cost
    assert second.cost("02_b.ipynb") == (800, 2)
    assert second.cost("03_c.ipynb") == (50, 1)
    saved = json.loads((tmp_path / attempts.LEDGER_FILE).read_text())
    assert saved["run"]["notebooks"] == NOTEBOOKS and len(saved["attempts"]) == 2
    # A run that re-executes the finished notebooks (after a fix, from the cache) is a third attempt of it.
    third = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "def")
    with third.timing("03_c.ipynb", clock):
        clock.now += 5
    assert len(third.attempts) == 3 and third.cost("03_c.ipynb") == (55, 2) and third.cost("02_b.ipynb") == (800, 2)


def test_another_run_or_a_damaged_ledger_starts_afresh(tmp_path):
    ledger = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc")
    ledger.record("01_a.ipynb", 10, finished=False)
    assert len(attempts.open_ledger(tmp_path, {**RUN, "seeds": [0]}, NOTEBOOKS, "abc").attempts) == 1
    (tmp_path / attempts.LEDGER_FILE).write_text("{not json")
    assert len(attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc").attempts) == 1


def test_the_beat_records_a_running_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(attempts, "BEAT_S", 0.01)
    ledger = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc")
    clock = Clock()
    beaten = threading.Event()
    original = ledger.record

    def record(notebook, seconds, finished):
        original(notebook, seconds, finished)
        if seconds > 0 and not finished:
            beaten.set()

    monkeypatch.setattr(ledger, "record", record)
    with ledger.timing("01_a.ipynb", clock):
        clock.now = 42.0
        assert beaten.wait(5), "no beat while the notebook ran"
        on_disk = json.loads((tmp_path / attempts.LEDGER_FILE).read_text())
        assert on_disk["attempts"][-1]["notebooks"]["01_a.ipynb"] == {"seconds": 42.0, "finished": False}
    assert ledger.attempt["notebooks"]["01_a.ipynb"]["finished"]


def test_attempts_on_a_lost_cache_are_not_this_runs_time_and_other_cpus_are_named(tmp_path):
    clock = Clock()
    first = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="EPYC", cache="c1")
    with first.timing("01_a.ipynb", clock):
        clock.now += 100
    # The next sitting has another CPU and the same cache: its models resume, so both attempts count.
    second = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="Xeon", cache="c1")
    with second.timing("02_b.ipynb", clock):
        clock.now += 40
    assert len(second.counted()) == 2 and second.cpus() == ["EPYC", "Xeon"]
    assert [second.cost(n) for n in NOTEBOOKS[:2]] == [(100, 1), (40, 1)]
    third = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="Xeon", cache="c2")  # cache deleted
    for name, seconds in (("01_a.ipynb", 90), ("02_b.ipynb", 30), ("03_c.ipynb", 10)):
        with third.timing(name, clock):
            clock.now += seconds
    assert len(third.attempts) == 3 and len(third.counted()) == 1 and third.cpus() == ["Xeon"]
    assert [third.cost(n) for n in NOTEBOOKS] == [(90, 1), (30, 1), (10, 1)]
    fourth = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="Xeon", cache="c2")  # a re-run, same cache
    assert len(fourth.attempts) == 4 and [a["cache"] for a in fourth.counted()] == ["c2", "c2"]
    # A notebook finished only on another machine or cache is not finished for this run: its timings are partial.
    moved = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="EPYC", cache="c3")
    assert not any(map(moved.finished, NOTEBOOKS))
    with moved.timing("01_a.ipynb", clock):
        clock.now += 5
    assert [moved.finished(n) for n in NOTEBOOKS] == [True, False, False]


def test_the_cache_identity_survives_reads_and_changes_with_a_new_cache(tmp_path):
    first = attempts.cache_identity(tmp_path / "checkpoints")
    assert attempts.cache_identity(tmp_path / "checkpoints") == first
    (tmp_path / "checkpoints" / attempts.CACHE_ID_FILE).unlink()
    assert attempts.cache_identity(tmp_path / "checkpoints") != first


def test_idle_core_seconds_of_training_calls():
    pair_then_lone = {"cores": 2, "runs": [{"threads": 1, "start": 0, "end": 10}, {"threads": 1, "start": 0, "end": 10},
                                           {"threads": 1, "start": 10, "end": 20}]}
    assert attempts.idle_core_seconds([pair_then_lone]) == (10, 40)  # one core idle for the last 10 s
    filled = {"cores": 2, "runs": [{"threads": 1, "start": 0, "end": 10}, {"threads": 1, "start": 0, "end": 10},
                                   {"threads": 2, "start": 10, "end": 16}]}
    assert attempts.idle_core_seconds([filled]) == (0, 32)
    assert attempts.idle_core_seconds([pair_then_lone, filled, {"cores": 2, "runs": []}]) == (10, 72)


def test_a_run_log_with_a_torn_last_line_gives_the_complete_calls(tmp_path):
    log = tmp_path / "runs.jsonl"
    assert attempts.read_run_log(log) == []
    log.write_text(json.dumps({"cores": 2, "runs": []}) + "\n" + '{"cores": 2, "ru')
    assert attempts.read_run_log(log) == [{"cores": 2, "runs": []}]


def test_a_notebooks_training_calls_are_kept_with_its_attempts(tmp_path):
    clock = Clock()
    ledger = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="Xeon", cache="c1")
    call = {"cores": 2, "runs": [{"threads": 2, "start": 0, "end": 5}]}
    with ledger.timing("01_a.ipynb", clock):
        ledger.record_calls("01_a.ipynb", [call])
        clock.now += 7
    assert ledger.calls("01_a.ipynb") == [call]
    saved = json.loads((tmp_path / attempts.LEDGER_FILE).read_text())
    assert saved["attempts"][0]["notebooks"]["01_a.ipynb"] == {"seconds": 7, "finished": True, "calls": [call]}


def test_the_pipeline_names_an_attempt_only_when_earlier_ones_count(tmp_path):
    from kmnist_utils.pipeline import report

    first = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="Xeon", cache="c1")
    assert report.attempt_note(first) == ""
    moved = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="EPYC", cache="c2")  # the committed run's ledger
    assert len(moved.attempts) == 2 and report.attempt_note(moved) == ""  # on another machine and cache: not this run's
    again = attempts.open_ledger(tmp_path, RUN, NOTEBOOKS, "abc", cpu="EPYC", cache="c2")
    assert report.attempt_note(again).startswith("attempt 2 of this run")
