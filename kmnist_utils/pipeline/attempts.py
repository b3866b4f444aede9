"""What a pipeline run cost when it took several attempts: a ledger of every attempt's time per notebook.

A paper-profile run takes hours; a run stopped part-way (a closed laptop, a killed session) is resumed
by running the same command again, and the checkpoint cache makes the notebooks that finished before
run again in seconds. The wall time of that last attempt alone would say that chapter 03 costs
seconds. The ledger keeps, per notebook, the seconds of every attempt of the run (a beat every
``BEAT_S`` seconds while it runs, so a killed attempt loses at most one beat), the attempts that only
re-executed a finished notebook from the cache included, and says how many attempts the run took.

Only work the products rest on counts: an attempt whose checkpoint cache was lost afterwards (the
cache's identity, ``cache_identity``, changed), or the ledger of another run that a clone carries, is
kept but not added to the run's time, since its work was redone. Attempts on the same cache count
whatever CPU they ran on (a long run crosses sittings, and a sitting's CPU may differ: a resumed run
continues each model in the threads and memory format it began with, ``runner.plan``); ``cpus`` names
them, so a time that mixes CPU kinds says so. Each notebook's entry also holds the training calls its
kernel made (``read_run_log``): every run's threads, start and end, from which ``idle_core_seconds``
computes how long cores sat idle while training was left.
"""

from __future__ import annotations

import json
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from kmnist_utils.core.atomic import write_text

LEDGER_FILE = "pipeline_attempts.json"
BEAT_S = 30.0
CACHE_ID_FILE = "CACHE_ID"


def cache_identity(checkpoints: Path) -> str:
    """The identity of a checkpoint cache: a random name written into it the first time it is asked for,
    so a cache deleted and begun again has another."""
    path = Path(checkpoints) / CACHE_ID_FILE
    try:
        return path.read_text().strip()
    except OSError:
        identity = uuid.uuid4().hex[:12]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text(path, identity + "\n")
        return identity


def read_run_log(path: Path) -> list[dict]:
    """The training calls a kernel appended to its run log (``runner.record_runs``); a torn last line, or
    no log at all, gives what was complete."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    calls = []
    for line in lines:
        try:
            calls.append(json.loads(line))
        except ValueError:
            continue
    return calls


def idle_core_seconds(calls: Sequence[dict]) -> tuple[float, float]:
    """(idle, total) core-seconds of training calls: each call holds its cores from its first run's start to
    its last run's end; the runs use ``threads`` cores each while they train; the rest is idle."""
    idle = total = 0.0
    for call in calls:
        runs = call.get("runs") or []
        if not runs:
            continue
        held = call["cores"] * (max(r["end"] for r in runs) - min(r["start"] for r in runs))
        used = sum((r.get("threads") or 1) * (r["end"] - r["start"]) for r in runs)
        total, idle = total + held, idle + max(held - used, 0.0)
    return idle, total


@dataclass
class Ledger:
    """Every attempt of one run: the same profile, seeds, precision and notebooks, on one checkpoint cache."""

    path: Path
    run: dict
    attempts: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def attempt(self) -> dict:
        return self.attempts[-1]

    def finished(self, notebook: str) -> bool:
        """Did ``notebook`` run to its end in an attempt this run counts (not in a run on another machine or cache,
        such as the committed run's ledger a fresh clone carries)?"""
        return any(entry.get("finished") for entry in self._entries(notebook))

    def counted(self) -> list[dict]:
        """The attempts whose work this run kept: those on the latest attempt's checkpoint cache."""
        return [a for a in self.attempts if a.get("cache") == self.attempt.get("cache")]

    def cpus(self) -> list[str]:
        """The CPU models of the counted attempts, in the order they first ran."""
        return list(dict.fromkeys(a.get("cpu") or "an unrecorded CPU" for a in self.counted()))

    def _entries(self, notebook: str) -> list[dict]:
        """``notebook``'s entries in the counted attempts: a re-run from the cache after it finished is part of
        what the products cost, since they come from that last run."""
        return [a["notebooks"][notebook] for a in self.counted() if notebook in a["notebooks"]]

    def cost(self, notebook: str) -> tuple[float, int]:
        """Seconds the notebook ran in every counted attempt, and how many attempts those were."""
        entries = self._entries(notebook)
        return sum(e["seconds"] for e in entries), len(entries)

    def calls(self, notebook: str) -> list[dict]:
        """The training calls of ``notebook`` in the attempts its cost counts."""
        return [call for e in self._entries(notebook) for call in e.get("calls", [])]

    def record(self, notebook: str, seconds: float, finished: bool) -> None:
        with self._lock:
            entry = self.attempt["notebooks"].setdefault(notebook, {})
            entry.update(seconds=round(seconds, 2), finished=finished)
            self.save()

    def record_calls(self, notebook: str, calls: Sequence[dict]) -> None:
        """Keep the training calls ``notebook``'s kernel made in this attempt (``read_run_log``)."""
        with self._lock:
            self.attempt["notebooks"].setdefault(notebook, {"seconds": 0.0, "finished": False})["calls"] = list(calls)
            self.save()

    def save(self) -> None:
        payload = {"run": self.run, "attempts": self.attempts}
        write_text(self.path, json.dumps(payload, indent=1) + "\n")

    @contextmanager
    def timing(self, notebook: str, clock) -> Iterator[None]:
        """Record ``notebook``'s running time every ``BEAT_S`` seconds, and once more when it finishes
        (``clock``: a monotonic clock in seconds, ``time.perf_counter`` outside tests)."""
        start, stop = clock(), threading.Event()

        def beat() -> None:
            while not stop.wait(BEAT_S):
                self.record(notebook, clock() - start, finished=False)

        self.record(notebook, 0.0, finished=False)
        thread = threading.Thread(target=beat, name=f"ledger beat {notebook}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        self.record(notebook, clock() - start, finished=True)  # only when the notebook ran to its end


def open_ledger(results_dir: Path, run: dict, notebooks: Sequence[str], commit: str | None,
                cpu: str | None = None, cache: str | None = None) -> Ledger:
    """The ledger of the run ``run`` (profile, seeds, ...) in ``results_dir`` with a new attempt added (on CPU
    model ``cpu``, with the checkpoint cache ``cache``: ``cache_identity``), finished or not; a fresh ledger
    when there is none or it belongs to another run."""
    path = results_dir / LEDGER_FILE
    run = {**run, "notebooks": list(notebooks)}
    ledger = Ledger(path, run)
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = None
    if previous and previous.get("run") == run:
        ledger.attempts = list(previous.get("attempts", []))
    ledger.attempts.append({"started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "git_commit": commit, "cpu": cpu, "cache": cache, "notebooks": {}})
    ledger.save()
    return ledger
