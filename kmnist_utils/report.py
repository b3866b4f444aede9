"""The pipeline: run ``notebooks/NN_*.ipynb`` in numeric order with papermill.

``python -m kmnist_utils.report --profile paper`` (what ``make report`` calls) executes every
notebook, times each one, writes the executed copies to the profile's reports folder and stops
at the first failure, naming the notebook and the failing cell.

Robustness: a notebook executes into a work copy under the cache and reaches the reports folder
in one atomic step, so a killed run leaves no half-written notebook there (figures and tables are
written atomically too); a rerun resumes training from the checkpoint cache. A lock file beside
the output folders stops a second run from writing into the same folders at the same time.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import papermill as pm

from kmnist_utils import summary
from kmnist_utils.atomic import atomic_path, remove_stale_temporaries
from kmnist_utils.config import PROFILES, RunContext, setup
from kmnist_utils.data import DATA_ENV_VAR
from kmnist_utils.paths import CACHE_DIR, NOTEBOOKS_DIR, PROJECT_ROOT, committed_dirs
from kmnist_utils.results import TIMINGS_TABLE, write_table

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")
LOCK_NAME = ".kmnist-report.lock"


class PipelineError(RuntimeError):
    """A notebook of the series failed; the message names the notebook and the cell."""


@dataclass(frozen=True)
class NotebookRun:
    notebook: str
    seconds: float
    output: Path


def discover_notebooks(folder: Path = NOTEBOOKS_DIR, only: Sequence[str] | None = None) -> list[Path]:
    """Numbered notebooks in numeric order; ``only`` keeps those whose number or name is listed."""
    found = sorted(
        (p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name)),
        key=lambda p: int(NOTEBOOK_PATTERN.match(p.name).group(1)),
    )
    if not found:
        raise PipelineError(f"No numbered notebooks (NN_name.ipynb) in {folder}.")
    if only:
        wanted = set(only)
        found = [p for p in found if p.name[:2] in wanted or p.stem in wanted or p.name in wanted]
        if not found:
            raise PipelineError(f"None of {sorted(wanted)} matches a notebook in {folder}.")
    return found


def notebook_parameters(ctx: RunContext, seeds_given: bool, device: str, output_root: str | None) -> dict:
    """What papermill injects after each notebook's ``parameters`` cell."""
    return {
        "profile": ctx.profile.name,
        "seeds": list(ctx.seeds) if seeds_given else None,
        "device": device,
        "output_root": output_root,
    }


def _describe_failure(notebook: Path, exc: Exception) -> str:
    cell = getattr(exc, "cell_index", None)
    count = getattr(exc, "exec_count", None)
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    where = f"cell {cell} of the executed copy" if cell is not None else "an unknown cell"
    if count is not None:
        where += f" (execution count {count})"
    source = (getattr(exc, "source", "") or "").strip().splitlines()
    if source:
        where += f", the cell starting `{source[0][:80]}`"
    return f"Notebook {notebook.name} failed in {where}: {ename}: {evalue}"


def failed_dir(ctx: RunContext) -> Path:
    """Where the executed copy of a failed notebook is kept for debugging (never a results folder)."""
    return ctx.dirs.reports.parent / ".failed" if ctx.dirs.reports.parent != PROJECT_ROOT else CACHE_DIR / "failed"


def work_copy(notebook: Path, ctx: RunContext) -> Path:
    """Where papermill writes a notebook while it runs: under the cache, one folder per output folder."""
    tag = hashlib.sha1(str(ctx.dirs.reports).encode()).hexdigest()[:10]
    return ctx.cache_dir / "running" / tag / notebook.name


def run_notebook(notebook: Path, ctx: RunContext, parameters: dict, kernel_name: str | None = None) -> NotebookRun:
    """Execute one notebook into the reports folder; on failure keep the partial copy for debugging."""
    target = ctx.dirs.reports / notebook.name
    running = work_copy(notebook, ctx)
    running.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook),
            str(running),
            parameters=parameters,
            cwd=str(notebook.parent),
            kernel_name=kernel_name,
            progress_bar=True,
            report_mode=False,
        )
    except Exception as exc:
        failed = failed_dir(ctx) / notebook.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        if running.exists():
            shutil.move(running, failed)
        raise PipelineError(
            f"{_describe_failure(notebook, exc)}\nThe executed notebook up to the failure is at {failed}."
        ) from exc
    with atomic_path(target, suffix=".tmp.ipynb") as tmp:
        shutil.copyfile(running, tmp)
    running.unlink()
    return NotebookRun(notebook.name, time.perf_counter() - start, target)


@contextmanager
def exclusive_run(ctx: RunContext) -> Iterator[Path]:
    """Hold a lock on the output folders for the whole run, or fail at once naming the holder.

    ``flock`` locks die with their process, so a killed run never leaves a stale lock behind.
    """
    path = ctx.dirs.reports.parent / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "holder unknown"
        handle.close()
        raise PipelineError(
            f"Another kmnist-report run is writing to {ctx.dirs.reports.parent} ({holder}). Two runs "
            "into the same folders would overwrite each other's notebooks, figures and tables: wait "
            "for it to finish (or stop it), or give this run another --output-root."
        ) from None
    try:
        handle.seek(0)
        handle.truncate()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()}, started {started}, profile {ctx.profile.name}\n")
        handle.flush()
        yield path
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def run_pipeline(
    profile: str | None = None,
    seeds: Sequence[int] | None = None,
    device: str = "auto",
    only: Sequence[str] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    output_root: str | None = None,
    kernel_name: str | None = None,
) -> pd.DataFrame:
    """Run the series and return a table of per-notebook wall times."""
    # Kernels run with the notebooks folder as their cwd: a relative data path must not change meaning.
    if os.environ.get(DATA_ENV_VAR):
        os.environ[DATA_ENV_VAR] = str(Path(os.environ[DATA_ENV_VAR]).expanduser().resolve())
    ctx = setup(profile, seeds=seeds, device=device, output_root=output_root)
    notebooks = discover_notebooks(Path(notebooks_dir), only)
    params = notebook_parameters(ctx, seeds is not None, device, output_root)
    with exclusive_run(ctx):
        for folder in (ctx.dirs.reports, ctx.dirs.figures, ctx.dirs.results):
            for stale in remove_stale_temporaries(folder):
                print(f"removed a temporary file left by an interrupted run: {stale}")
        shutil.rmtree(work_copy(notebooks[0], ctx).parent, ignore_errors=True)  # copies of a killed run
        timings = _run_all(notebooks, ctx, params, kernel_name, full=only is None)
    return timings


def _run_all(notebooks: list[Path], ctx: RunContext, params: dict, kernel_name: str | None, full: bool) -> pd.DataFrame:
    print(f"kmnist-report: {len(notebooks)} notebook(s), {ctx.describe()}", flush=True)
    runs: list[NotebookRun] = []
    total_start = time.perf_counter()
    for i, notebook in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {notebook.name} ...", flush=True)
        run = run_notebook(notebook, ctx, params, kernel_name)
        runs.append(run)
        print(f"[{i}/{len(notebooks)}] {notebook.name} done in {run.seconds:.1f} s -> {run.output}", flush=True)
        timings = pd.DataFrame(
            {"notebook": [r.notebook for r in runs], "wall_time_s": [round(r.seconds, 2) for r in runs]}
        )
        if full:  # updated after every notebook, so the report notebook sees those before it
            write_table(timings, TIMINGS_TABLE, ctx, wall_time_s=time.perf_counter() - total_start)
    total = time.perf_counter() - total_start
    if full and ctx.dirs == committed_dirs():
        if summary.update_readme(PROJECT_ROOT / "README.md", summary.load_results(ctx.dirs.results)):
            print("README.md: Results section regenerated from results/.")
    print(timings.to_string(index=False))
    print(f"total: {total:.1f} s", flush=True)
    return timings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kmnist-report", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(PROFILES)} (default: $KMNIST_PROFILE or paper)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds to train with (default: the profile's)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--only", nargs="+", default=None, help="run only these notebooks (number such as 03, or name)")
    parser.add_argument("--output-root", default=None, help="write figures/results/reports under this folder instead")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_pipeline(args.profile, args.seeds, args.device, args.only, output_root=args.output_root)
    except (PipelineError, ValueError) as exc:
        print(f"kmnist-report: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
