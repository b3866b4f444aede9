"""What each chapter cost in a profile's recorded run (the committed paper run, the smoke-run record): the
line a notebook run by hand prints before it trains, and what the pipeline's estimate falls back on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kmnist_utils.core.paths import PROJECT_ROOT

TIMINGS_FILE = "pipeline_timings.json"
RECORDED_RUNS = {"paper": PROJECT_ROOT / "results" / TIMINGS_FILE,
                 "smoke": PROJECT_ROOT / "benchmarks" / "results" / "smoke-report-cpu" / TIMINGS_FILE}


def recorded_run(profile: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds per notebook of ``profile``'s recorded run and its provenance; nothing when none is recorded
    or the record is of a run that did not finish (a stopped run's times are no estimate)."""
    path = RECORDED_RUNS.get(profile)
    if path is None or not path.is_file():
        return {}, {}
    payload = json.loads(path.read_text(encoding="utf-8"))
    provenance = payload.get("provenance", {})
    if provenance.get("complete") is False:
        return {}, {}
    return {row["notebook"]: float(row["wall_time_s"]) for row in payload.get("rows", [])}, provenance


def chapter_cost(profile: str, notebook: str, seeds: int) -> str | None:
    """'In the recorded paper run (seeds [0, 1, 2], Intel Xeon ..., fp32) 03_cnns.ipynb took 56.8 min; with 3
    seed(s) expect about 57 min on a similar CPU ...', or None when that chapter has no recorded time."""
    times, provenance = recorded_run(profile)
    if Path(notebook).name not in times:
        return None
    seconds = times[Path(notebook).name]
    scaled = seconds * seeds / max(len(provenance.get("seeds", [])), 1)
    return (f"In the recorded {profile} run (seeds {provenance.get('seeds')}, "
            f"{provenance.get('device_name', 'an unrecorded machine')}, {provenance.get('precision', '?')}) "
            f"{Path(notebook).name} took {seconds / 60:.1f} min; with {seeds} seed(s) expect about "
            f"{max(scaled / 60, 0.1):.1f} min on a similar CPU (another CPU takes another time). Runs already in the "
            "checkpoint cache load in seconds.")
