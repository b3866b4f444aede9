"""Kill the real pipeline in the middle of a training notebook, rerun it, and check that it resumes
from the checkpoint cache and that no half-written notebook, figure or table is left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from PIL import Image

from kmnist_utils.core.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow


def pipeline(out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "kmnist_utils.pipeline.report", "--profile", "smoke", "--only", "02", "03",
            "--output-root", str(out)]


def environment(cache: Path) -> dict[str, str]:
    # One worker: the CNNs train one after another in the kernel, so there is a moment when some
    # are finished and others are not.
    return {**os.environ, "KMNIST_CACHE_DIR": str(cache), "KMNIST_WORKERS": "1", "OMP_NUM_THREADS": "1"}


def finished_checkpoints(cache: Path) -> dict[Path, float]:
    folder = cache / "checkpoints"
    return (
        {p: p.stat().st_mtime_ns for p in folder.glob("*.pt") if not p.name.endswith(".partial.pt")}
        if folder.is_dir()
        else {}
    )


def assert_every_output_is_whole(out: Path) -> None:
    """Every file under a final name parses completely (temporaries are hidden and cleared by the next run)."""
    for path in out.rglob("*"):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".png":
            Image.open(path).verify()
        elif path.suffix == ".ipynb":
            nbformat.read(path, as_version=4)


def test_killed_report_resumes_from_its_checkpoints(tmp_path, real_kmnist):
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = subprocess.Popen(
        pipeline(out, cache),
        cwd=PROJECT_ROOT,
        env=environment(cache),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while not finished_checkpoints(cache):
            assert first.poll() is None, "the pipeline ended before any model was trained"
            assert time.monotonic() < deadline, "no checkpoint appeared within 5 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole process group: pipeline, kernel, workers
        first.wait()
    before = finished_checkpoints(cache)
    assert (out / "reports" / "02_logistic_regression.ipynb").is_file()
    assert not (out / "reports" / "03_cnns.ipynb").exists(), "a notebook killed mid-run must not appear"
    assert_every_output_is_whole(out)

    second = subprocess.run(
        pipeline(out, cache), cwd=PROJECT_ROOT, env=environment(cache), capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Another kmnist-report run" not in second.stderr  # the killed run left no lock behind
    after = finished_checkpoints(cache)
    assert {p: after[p] for p in before} == before, "finished checkpoints were trained again"
    executed = nbformat.read(out / "reports" / "03_cnns.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    for path in before:  # each model says where it came from, with its training history from the checkpoint
        assert re.search(rf"loaded from the checkpoint cache \({re.escape(path.name)}\), trained \d+ epochs? in \d+ s, "
                         r"val_acc by epoch [0-9. ]+", text), text
    leftovers = [p for p in out.rglob(".*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == [] and not any((cache / "running").rglob("*.ipynb"))
    assert_every_output_is_whole(out)
