"""The pipeline: run ``notebooks/NN_*.ipynb`` in numeric order with papermill.

``python -m kmnist_utils.pipeline.report --profile paper`` (what ``make report`` calls) executes every
notebook, times each one, writes the executed copies to the profile's reports folder and stops
at the first failure, naming the notebook and the failing cell.

Robustness: a notebook executes into a work copy under the cache and reaches the reports folder
in one atomic step, so a killed run leaves no half-written notebook there (figures and tables are
written atomically too); a rerun resumes training from the checkpoint cache. A lock file beside
the output folders stops a second run from writing into the same folders at the same time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import re
import shutil
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence, TextIO

import nbformat
import pandas as pd
import papermill as pm

from kmnist_utils.chapters import summary
from kmnist_utils.core import runlock
from kmnist_utils.core.atomic import atomic_path, remove_stale_temporaries
from kmnist_utils.core.data import KMNISTDataError, find_data_root, locate_raw_files
from kmnist_utils.core.machine import cpu_model
from kmnist_utils.core.paths import NOTEBOOKS_DIR, PROJECT_ROOT, committed_dirs, output_dirs, project_path, shown
from kmnist_utils.core.records import recorded_run
from kmnist_utils.engine.context import (
    PROGRESS_LOG_ENV_VAR,
    RUN_LOG_ENV_VAR,
    RunContext,
    cache_dir,
    chosen_profile,
    setup,
)
from kmnist_utils.engine.device import PRECISIONS
from kmnist_utils.pipeline import attempts, readme
from kmnist_utils.pipeline.kernel import environment, kernel_environment
from kmnist_utils.pipeline.nbtools import quiet_kernel_config
from kmnist_utils.products.provenance import git_commit
from kmnist_utils.products.results import TIMINGS_TABLE, read_table_file, write_table
from kmnist_utils.settings import BEYOND_SCHEDULES, PROFILES, get_schedule

# A three-seed paper-profile run, measured: 836 MB of checkpoints (45 runs) and 9 MB of notebooks, figures
# and tables (benchmarks/results/paper-cpu-3seeds-2026-11-30/).
NEEDED_GIB = 1
# A temporary file untouched this long was left by a killed process, not one still writing it.
STALE_AFTER_S = 15 * 60
NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")


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


def notebook_parameters(ctx: RunContext, seeds_given: bool, device: str, output_root: str | None,
                        schedule: str | None = None) -> dict:
    """What papermill injects after each notebook's ``parameters`` cell (``schedule`` only where one was
    chosen, and only into the notebooks that declare it: see ``declared_parameters``)."""
    params = {
        "profile": ctx.profile.name,
        "seeds": list(ctx.seeds) if seeds_given else None,
        "device": device,
        "output_root": output_root,
    }
    if schedule is not None:
        params["schedule"] = get_schedule(schedule).name  # an unknown name fails here, before any notebook runs
    return params


def declared_parameters(notebook: Path, params: dict) -> dict:
    """The entries of ``params`` that ``notebook``'s parameters cell declares (papermill would warn about
    the others)."""
    declared = pm.inspect_notebook(str(notebook))
    return {name: value for name, value in params.items() if name in declared}


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
    return f"Notebook {notebook.name} failed in {where}: {ename}: {str(evalue).rstrip('. ')}"


def failed_dir(ctx: RunContext) -> Path:
    """Where the executed copy of a failed notebook is kept for debugging (never a results folder)."""
    return ctx.dirs.reports.parent / ".failed" if ctx.dirs.reports.parent != PROJECT_ROOT else ctx.cache_dir / "failed"


def work_copy(notebook: Path, ctx: RunContext) -> Path:
    """Where papermill writes a notebook while it runs: under the cache, one folder per output folder."""
    tag = hashlib.sha1(str(ctx.dirs.reports).encode()).hexdigest()[:10]
    return ctx.cache_dir / "running" / tag / notebook.name


class Interrupted(RuntimeError):
    """Ctrl-C during a notebook; the message says where its partial copy is."""


class PrefixedStream(io.TextIOBase):
    """Writes each line of a kernel's output to ``target`` behind ``prefix`` (which notebook said it)."""

    def __init__(self, target: TextIO, prefix: str) -> None:
        self.target, self.prefix, self.pending = target, prefix, ""
        self.lock = threading.Lock()  # papermill and the progress follower write from two threads

    def write(self, text: str) -> int:
        with self.lock:
            lines = (self.pending + text.replace("\r", "\n")).split("\n")
            self.pending = lines.pop()
            for line in lines:
                if line.strip():
                    self.target.write(f"{self.prefix}{line}\n")
            self.target.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.target.write(f"{self.prefix}{self.pending}\n")
            self.target.flush()
        self.pending = ""


@contextmanager
def following(path: Path, stream: TextIO, every: float = 0.5) -> Iterator[None]:
    """For the block, copy every complete line appended to ``path`` into ``stream``: a kernel's progress
    lines, which its notebook shows as one updating line per run, reach the terminal as they come."""
    path.unlink(missing_ok=True)
    stop = threading.Event()

    def follow() -> None:
        offset, last = 0, False
        while not last:
            last = stop.wait(every)
            if path.is_file():
                with open(path, encoding="utf-8") as log:
                    log.seek(offset)
                    text = log.read()
                complete = text[: text.rfind("\n") + 1]  # a line still being written waits for the next look
                offset += len(complete.encode("utf-8"))
                stream.write(complete)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        path.unlink(missing_ok=True)


@contextmanager
def _descriptors_to(path: Path) -> Iterator[None]:
    """Send file descriptors 1 and 2 to ``path`` for the block. A kernel started inside inherits them,
    so what it writes outside its cells (its log, the echo of captured output, shutdown noise after a
    Ctrl-C) lands in a log file; the cells' output reaches the terminal once, through papermill."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(path, "ab") as log:
        for fd in saved:
            os.dup2(log.fileno(), fd)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def _keep_partial(running: Path, ctx: RunContext, notebook: Path) -> Path:
    """Move the executed copy of a failed notebook (and its kernel log) to ``failed_dir``; returns where
    the copy is. Each file arrives whole or not at all: where that folder cannot take it (a full disk,
    the very failure being reported), the copy stays in the cache and that path is returned."""
    failed = failed_dir(ctx) / notebook.name
    kept = running
    for source, destination in ((running, failed), (running.with_suffix(".kernel.log"),
                                                    failed.with_suffix(".kernel.log"))):
        if not source.exists() or (source != running and not source.stat().st_size):
            continue
        try:
            with atomic_path(destination, suffix=".tmp" + destination.suffix) as tmp:
                shutil.copyfile(source, tmp)
        except OSError:
            continue  # it stays where it is, whole
        source.unlink()
        if source == running:
            kept = failed
    return kept


DISK_ERRORS = ("No space left", "unexpected pos", "Read-only file system", "Permission denied", "Errno 28", "Errno 30",
               "Errno 13", "Disk quota")


def disk_hint(exc: BaseException, ctx: RunContext) -> str:
    """For a failure that looks like a full or read-only disk: how much room the run's folders have."""
    text = f"{getattr(exc, 'evalue', '')} {exc}"
    if not any(marker in text for marker in DISK_ERRORS):
        return ""
    where = free_space_note(ctx.cache_dir, ctx.dirs.reports.parent)
    named = re.search(r"\[Errno \d+\][^:]*: '([^']+)'", text)
    file = f" Writing {named.group(1)} failed." if named else ""
    return f"{file} This looks like a full or read-only disk (or a folder this user may not write): {where}."


def free_space_note(cache_dir: Path, output_root: Path) -> str:
    """Free space where the run writes, against what it needs (checkpoints about 30 MB each)."""
    notes = []
    for label, folder in (("checkpoints", cache_dir), ("outputs", output_root)):
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
        free = shutil.disk_usage(existing).free / 2**30
        notes.append(f"{label} in {folder}: {free:.1f} GiB free")
    return "; ".join(notes) + f" (a paper-profile run needs about {NEEDED_GIB:g} GiB)"


def project_relative(executed: nbformat.NotebookNode, notebook: Path, target: Path) -> nbformat.NotebookNode:
    """The executed notebook with papermill's record of where it ran from and to as project paths: a product
    names no folder of the machine that ran it (the work copy under the cache is where the report lands)."""
    record = executed.metadata.get("papermill")
    if record is not None:
        record["input_path"], record["output_path"] = shown(notebook), shown(target)
    return executed


def run_notebook(notebook: Path, ctx: RunContext, parameters: dict, kernel_name: str | None = None,
                 terminal: TextIO | None = None) -> NotebookRun:
    """Execute one notebook into the reports folder; on failure keep the partial copy for debugging. Its
    cells' output and its progress lines go to ``terminal`` (default: this process's standard output)."""
    target = ctx.dirs.reports / notebook.name
    running = work_copy(notebook, ctx)
    running.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    kernel_log = running.with_suffix(".kernel.log")
    sys.stdout.flush()
    own = terminal is None  # a copy of standard output, which the kernel's own descriptors must not reach
    terminal = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", closefd=True) if own else terminal
    stream = PrefixedStream(terminal, f"  {notebook.name[:2]} | ")
    progress_log = running.with_suffix(".progress.log")
    try:
        with _descriptors_to(kernel_log), following(progress_log, stream), \
                environment({PROGRESS_LOG_ENV_VAR: str(progress_log)}):
            pm.execute_notebook(
                str(notebook),
                str(running),
                parameters=declared_parameters(notebook, parameters),
                cwd=str(notebook.parent),
                kernel_name=kernel_name,
                progress_bar=False,  # the cells' output is streamed instead: epochs, cache hits, warnings
                stdout_file=stream,
                stderr_file=stream,
                report_mode=False,
                config=quiet_kernel_config(),
            )
    except KeyboardInterrupt:
        kept = _keep_partial(running, ctx, notebook)
        raise Interrupted(f"interrupted during {notebook.name}; its partial notebook is at {kept}") from None
    except Exception as exc:
        kept = _keep_partial(running, ctx, notebook)
        raise PipelineError(
            f"{_describe_failure(notebook, exc)}.{disk_hint(exc, ctx)} The executed notebook up to the failure "
            f"is at {kept}."
        ) from exc
    finally:
        stream.flush()
        if own:
            terminal.close()
    with atomic_path(target, suffix=".tmp.ipynb") as tmp:
        nbformat.write(project_relative(nbformat.read(running, as_version=4), notebook, target), str(tmp))
    running.unlink()
    kernel_log.unlink(missing_ok=True)
    return NotebookRun(notebook.name, time.perf_counter() - start, target)


def run_pipeline(
    profile: str | None = None,
    seeds: Sequence[int] | None = None,
    device: str = "auto",
    only: Sequence[str] | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    output_root: str | None = None,
    kernel_name: str | None = None,
    schedule: str | None = None,
    precision: str | None = None,
) -> pd.DataFrame:
    """Run the series and return a table of per-notebook wall times (``schedule``: chapter 07's, by name;
    None leaves it to the profile; ``precision``: every chapter's, None for $KMNIST_PRECISION or the
    profile's)."""
    # Kernels run with the notebooks folder as their cwd: relative paths are resolved here, once. A
    # relative output_root means what it means in a notebook: a folder under the project root.
    if output_root is not None:
        output_root = str(project_path(output_root))
    ctx = setup(profile, seeds=seeds, device=device, output_root=output_root, lock=False, precision=precision,
                schedule=schedule)
    notebooks = discover_notebooks(Path(notebooks_dir), only)
    params = notebook_parameters(ctx, seeds is not None, device, output_root, schedule)
    check_data(ctx)
    # Kernels inherit this process's environment: every chapter trains in the precision resolved here, reads
    # the data root resolved here and imports this checkout's kmnist_utils, under this pipeline's lock.
    lock_root = ctx.dirs.reports.parent
    try:
        with runlock.holding(lock_root, f"kmnist-report pipeline, profile {ctx.profile.name}"), \
                environment(kernel_environment(ctx, PROJECT_ROOT, lock_root)):
            for folder in (ctx.dirs.reports, ctx.dirs.figures, ctx.dirs.results):
                for stale in remove_stale_temporaries(folder):
                    print(f"removed a temporary file left by an interrupted run: {stale}")
            # The checkpoint cache is shared by every output folder: only old temporaries are stale there.
            for stale in remove_stale_temporaries(ctx.cache_dir / "checkpoints", older_than_s=STALE_AFTER_S):
                print(f"removed a checkpoint temporary left by an interrupted run: {stale}")
            shutil.rmtree(work_copy(notebooks[0], ctx).parent, ignore_errors=True)  # copies of a killed run
            timings = _run_all(notebooks, ctx, params, kernel_name, full=only is None)
    except runlock.OutputInUse as exc:
        raise PipelineError(str(exc)) from None
    return timings


def check_data(ctx: RunContext) -> None:
    """Fail before the first kernel starts when the data root named by the user lacks the files (a root
    the package downloads into is filled by the first notebook instead)."""
    where = find_data_root(ctx.data_root)
    if where.downloads:
        return
    try:
        locate_raw_files(where, download=False)
    except KMNISTDataError as exc:
        raise PipelineError(str(exc)) from None


def _run_all(notebooks: list[Path], ctx: RunContext, params: dict, kernel_name: str | None, full: bool) -> pd.DataFrame:
    print(f"kmnist-report: {len(notebooks)} notebook(s), {ctx.describe()}", flush=True)
    print(f"kmnist-report: {estimate_text(ctx, notebooks)}", flush=True)
    expected = expected_seconds(ctx)
    runs: list[NotebookRun] = []
    total_start = time.perf_counter()
    # A full run resumed after a stop: each notebook's time is that of every attempt until it finished.
    ledger = (attempts.open_ledger(ctx.dirs.results, {"profile": ctx.profile.name, "seeds": list(ctx.seeds),
                                                      "precision": ctx.precision, "parameters": params},
                                   [n.name for n in notebooks], git_commit(), cpu=cpu_model(),
                                   cache=attempts.cache_identity(ctx.cache_dir / "checkpoints")) if full else None)
    note = attempt_note(ledger) if ledger is not None else ""
    if note:
        print(f"kmnist-report: {note}", flush=True)
    for i, notebook in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] {notebook.name} ...{eta_text(expected, notebooks[i - 1 :])}", flush=True)
        run_log = work_copy(notebook, ctx).with_suffix(".runs.jsonl")
        run_log.unlink(missing_ok=True)
        try:
            with ledger.timing(notebook.name, time.perf_counter) if ledger else nullcontext(), \
                    environment({RUN_LOG_ENV_VAR: str(run_log)}):
                run = run_notebook(notebook, ctx, params, kernel_name)
        finally:
            if ledger is not None:  # a stopped notebook's runs were real work too
                ledger.record_calls(notebook.name, attempts.read_run_log(run_log))
        runs.append(run)
        print(f"[{i}/{len(notebooks)}] {notebook.name} done in {run.seconds:.1f} s -> {run.output}", flush=True)
        if ledger is not None:  # updated after every notebook, so the report notebook sees those before it
            timings = ledger_timings(ledger, [r.notebook for r in runs])
            write_table(timings, TIMINGS_TABLE, ctx, wall_time_s=time.perf_counter() - total_start,
                        run_attempts=len(ledger.counted()), attempt_cpus=ledger.cpus(),
                        complete=all(map(ledger.finished, ledger.run["notebooks"])))
        else:
            timings = pd.DataFrame({"notebook": [r.notebook for r in runs],
                                    "wall_time_s": [round(r.seconds, 2) for r in runs]})
    total = time.perf_counter() - total_start
    if full and ctx.dirs == committed_dirs():
        if readme.update_readme(PROJECT_ROOT / "README.md", summary.load_results(ctx.dirs.results),
                                readme.smoke_record()):
            print("README.md: its opening table and Results section regenerated from results/.")
    print(timings.to_string(index=False))
    print(f"total: {total:.1f} s", flush=True)
    return timings


def ledger_timings(ledger: attempts.Ledger, notebooks: Sequence[str]) -> pd.DataFrame:
    """Per notebook: the seconds and attempts its cost counts, and the core-seconds its training calls held
    the cores and left them idle (``attempts.idle_core_seconds``)."""
    costs = [ledger.cost(n) for n in notebooks]
    idle = [attempts.idle_core_seconds(ledger.calls(n)) for n in notebooks]
    return pd.DataFrame({"notebook": list(notebooks),
                         "wall_time_s": [round(seconds, 2) for seconds, _ in costs],
                         "attempts": [count for _, count in costs],
                         "training_core_s": [round(total, 1) for _, total in idle],
                         "idle_core_s": [round(i, 1) for i, _ in idle]})


def last_timings(ctx: RunContext) -> dict[str, float]:
    """Seconds per notebook of the last full run into these folders with the same profile and seeds."""
    path = ctx.dirs.results / f"{TIMINGS_TABLE}.json"
    table = read_table_file(path) if path.is_file() else None
    if table is None:
        return {}
    rows, provenance = table
    if provenance.get("profile") != ctx.profile.name or list(provenance.get("seeds", [])) != list(ctx.seeds):
        return {}
    return dict(zip(rows.notebook, rows.wall_time_s)) if provenance.get("complete") is True else {}


def expected_seconds(ctx: RunContext, recorded: tuple[dict[str, float], dict] | None = None) -> dict[str, float]:
    """Seconds per notebook to expect: the last comparable run into these folders if it finished, else the
    profile's recorded run scaled by the number of seeds (a stopped run's times are no estimate)."""
    last = last_timings(ctx)
    if last:
        return last
    times, provenance = recorded if recorded is not None else recorded_run(ctx.profile.name)
    if provenance.get("profile") != ctx.profile.name:
        return {}
    scale = len(ctx.seeds) / max(len(provenance.get("seeds", [])), 1)
    return {name: seconds * scale for name, seconds in times.items()}


def estimate_text(ctx: RunContext, notebooks: Sequence[Path], recorded: tuple[dict[str, float], dict] | None = None
                  ) -> str:
    """What the whole run will take, said before it starts, with what the estimate rests on: the last
    comparable run into these folders; else the profile's recorded run (the committed paper run, the smoke
    record), scaled by the number of seeds (training dominates and grows with the seeds); else that nothing
    was measured."""
    last = last_timings(ctx)
    if last and all(p.name in last for p in notebooks):
        total = sum(last[p.name] for p in notebooks)
        return f"estimate: about {total / 60:.0f} min (the last run of this profile and these seeds into these folders)"
    times, provenance = recorded if recorded is not None else recorded_run(ctx.profile.name)
    known = [p for p in notebooks if p.name in times]
    if not times or provenance.get("profile") != ctx.profile.name or not known:
        return ("estimate: none (no run of this profile on record for these notebooks; the first run writes "
                f"{TIMINGS_TABLE}.csv and the next one estimates from it)")
    scale = len(ctx.seeds) / max(len(provenance.get("seeds", [])), 1)
    total = sum(times[p.name] for p in known) * scale
    missing = [p.name for p in notebooks if p.name not in times]
    where = provenance.get("device_name", "an unrecorded machine")
    precision = provenance.get("precision", "precision not recorded")
    return (f"estimate: about {max(total / 60, 1):.0f} min, from the recorded {ctx.profile.name} run (seeds "
            f"{provenance.get('seeds')}, {where}, {precision}, commit {str(provenance.get('git_commit', '?'))[:10]}) "
            f"scaled to {len(ctx.seeds)} seed(s); another CPU, precision or code version takes another time"
            + (f"; not in that run: {', '.join(missing)}" if missing else ""))


def attempt_note(ledger: attempts.Ledger) -> str:
    """'attempt 3 of this run (...)' when earlier attempts of this run count; nothing for a first attempt, or when
    the earlier ones ran on another CPU or a lost cache (they are in the ledger, not in this run's time)."""
    counted = len(ledger.counted())
    return f"attempt {counted} of this run (the earlier ones' times count too)" if counted > 1 else ""


def eta_text(expected: dict[str, float], remaining: Sequence[Path]) -> str:
    """' (expected: 2.1 min; about 40 min left in all)', or nothing unless every remaining notebook has an
    expected time (a sum over some of them would understate what is left)."""
    if not remaining or any(p.name not in expected for p in remaining):
        return ""
    left = sum(expected[p.name] for p in remaining)
    return f" (expected: {expected[remaining[0].name] / 60:.1f} min; about {left / 60:.0f} min left in all)"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kmnist-report", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None,
                        help=f"one of {', '.join(PROFILES)} (default: $KMNIST_PROFILE or paper)")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds to train with (default: the profile's)"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N or mps")
    parser.add_argument("--only", nargs="+", default=None, help="run only these notebooks (number such as 03, or name)")
    parser.add_argument("--output-root", default=None, help="write figures/results/reports under this folder instead "
                        "(a relative one is taken from the project root, as in the notebooks)")
    parser.add_argument("--schedule", default=None, choices=sorted(BEYOND_SCHEDULES),
                        help="chapter 07's schedule (default: the profile's: 'cpu' for paper, 'smoke' for smoke)")
    parser.add_argument("--precision", default=None, choices=PRECISIONS,
                        help="training precision (default: $KMNIST_PRECISION or fp32; bf16 is faster on CPUs with "
                        "native bf16 and changes the numbers; auto = bf16 where native)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run_pipeline(args.profile, args.seeds, args.device, args.only, output_root=args.output_root,
                     schedule=args.schedule, precision=args.precision)
    except (PipelineError, ValueError) as exc:
        print(f"kmnist-report: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as exc:
        # nbclient's cell tasks end with the KeyboardInterrupt and are never awaited; asyncio would log
        # each one ("Task exception was never retrieved", a traceback apiece) when they are collected.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        where = f" {exc};" if str(exc) else ""
        print(f"kmnist-report: stopped by Ctrl-C;{where} finished notebooks, tables, figures and checkpoints are kept, "
              "and the same command resumes from them.", file=sys.stderr)
        return 130
    except OSError as exc:
        what = f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc)
        out = output_dirs(chosen_profile(args.profile).name, args.output_root).reports.parent
        cache = cache_dir()
        print(f"kmnist-report: could not write: {what}. {free_space_note(cache, out)}. Partial notebooks, if any, "
              f"are under {cache / 'running'}.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
