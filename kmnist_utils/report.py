"""The pipeline: run ``notebooks/NN_*.ipynb`` in numeric order with papermill.

``python -m kmnist_utils.report --profile paper`` (what ``make report`` calls) executes every
notebook, times each one, writes the executed copies to the profile's reports folder and stops
at the first failure, naming the notebook and the failing cell.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from kmnist_utils.atomic import atomic_path, remove_stale_temporaries
from kmnist_utils.config import PROFILES, RunContext, setup
from kmnist_utils.data import DATA_ENV_VAR
from kmnist_utils.paths import CACHE_DIR, NOTEBOOKS_DIR, PROJECT_ROOT

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")
TIMINGS_TABLE = "pipeline_timings"


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


def run_notebook(notebook: Path, ctx: RunContext, parameters: dict, kernel_name: str | None = None) -> NotebookRun:
    """Execute one notebook into the reports folder; on failure keep the partial copy under .cache."""
    import papermill as pm

    target = ctx.dirs.reports / notebook.name
    start = time.perf_counter()
    with atomic_path(target, suffix=".tmp.ipynb") as tmp:
        try:
            pm.execute_notebook(
                str(notebook),
                str(tmp),
                parameters=parameters,
                cwd=str(notebook.parent),
                kernel_name=kernel_name,
                progress_bar=True,
                report_mode=False,
            )
        except Exception as exc:
            failed = failed_dir(ctx) / notebook.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            if tmp.exists():
                shutil.copyfile(tmp, failed)
            raise PipelineError(
                f"{_describe_failure(notebook, exc)}\nThe executed notebook up to the failure is at {failed}."
            ) from exc
    return NotebookRun(notebook.name, time.perf_counter() - start, target)


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
    for folder in (ctx.dirs.reports, ctx.dirs.figures, ctx.dirs.results):
        for stale in remove_stale_temporaries(folder):
            print(f"removed a temporary file left by an interrupted run: {stale}")
    params = notebook_parameters(ctx, seeds is not None, device, output_root)
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
    total = time.perf_counter() - total_start
    if only is None:  # a partial run would leave a misleading table behind
        from kmnist_utils.results import write_table

        write_table(timings, TIMINGS_TABLE, ctx, wall_time_s=total)
    print(timings.to_string(index=False))
    print(f"total: {total:.1f} s", flush=True)
    return timings


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kmnist-report", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help=f"one of {', '.join(PROFILES)} (default: $KMNIST_PROFILE or paper)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds to train with (default: the profile's)")
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
