"""What a pipeline run cost when it took several attempts: a ledger of every attempt's time per notebook.

A paper-profile run takes hours; a run stopped part-way (a closed laptop, a killed session) is resumed
by running the same command again, and the checkpoint cache makes the notebooks that finished before
run again in seconds. The wall time of that last attempt alone would say that chapter 03 costs
seconds. The ledger keeps, per notebook, the seconds of every attempt until the one in which it
finished (a beat every ``BEAT_S`` seconds while it runs, so a killed attempt loses at most one beat),
and says how many attempts the run took.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from kmnist_utils.atomic import write_text

LEDGER_FILE = "pipeline_attempts.json"
BEAT_S = 30.0


@dataclass
class Ledger:
    """Attempts of one run (same profile, seeds, precision and notebooks) until all its notebooks finished."""

    path: Path
    run: dict
    attempts: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def attempt(self) -> dict:
        return self.attempts[-1]

    def finished(self, notebook: str) -> bool:
        return any(a["notebooks"].get(notebook, {}).get("finished") for a in self.attempts)

    def cost(self, notebook: str) -> tuple[float, int]:
        """Seconds the notebook ran in every attempt up to the first in which it finished, and how many
        attempts those were (re-runs from the cache after it finished are not its cost)."""
        seconds, count = 0.0, 0
        for attempt in self.attempts:
            entry = attempt["notebooks"].get(notebook)
            if entry is None:
                continue
            seconds, count = seconds + entry["seconds"], count + 1
            if entry["finished"]:
                break
        return seconds, count

    def record(self, notebook: str, seconds: float, finished: bool) -> None:
        with self._lock:
            self.attempt["notebooks"][notebook] = {"seconds": round(seconds, 2), "finished": finished}
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


def open_ledger(results_dir: Path, run: dict, notebooks: Sequence[str], commit: str | None) -> Ledger:
    """The ledger of the unfinished run ``run`` (profile, seeds, ...) in ``results_dir`` with a new attempt
    added; a fresh ledger when there is none, when it belongs to another run, or when that run finished."""
    path = results_dir / LEDGER_FILE
    run = {**run, "notebooks": list(notebooks)}
    ledger = Ledger(path, run)
    try:
        previous = json.loads(path.read_text())
    except (OSError, ValueError):
        previous = None
    if previous and previous.get("run") == run:
        ledger.attempts = list(previous.get("attempts", []))
        if all(ledger.finished(name) for name in notebooks):
            ledger.attempts = []  # that run is complete: this is a new one
    ledger.attempts.append({"started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "git_commit": commit, "notebooks": {}})
    ledger.save()
    return ledger
