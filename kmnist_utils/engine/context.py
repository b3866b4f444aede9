"""The run context every notebook starts from: ``setup`` resolves a notebook's parameters, the environment
and this machine (device, precision, memory formats) into a ``RunContext``, takes the output folders' lock
and seeds everything. The only reader of the environment's settings."""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from kmnist_utils.core import runlock
from kmnist_utils.core.data import DATA_ENV_VAR
from kmnist_utils.core.paths import PROJECT_ROOT, OutputDirs, check_checkout, committed_dirs, output_dirs, shown
from kmnist_utils.core.records import chapter_cost
from kmnist_utils.engine.chip import calibration
from kmnist_utils.engine.device import PRECISIONS, native_bf16, pick_device, resolve_precision
from kmnist_utils.engine.seeding import seed_everything
from kmnist_utils.settings import (
    CPU_THREADS_PER_RUN,
    DEFAULT_PROFILE,
    BeyondSchedule,
    Profile,
    SettingError,
    get_profile,
    get_schedule,
)

# The environment variables a run reads, all of them here and only in ``setup`` (``chosen_profile`` for
# the profile): every setting a run depends on then lives in its RunContext and its provenance.
PROFILE_ENV_VAR = "KMNIST_PROFILE"
PRECISION_ENV_VAR = "KMNIST_PRECISION"
WORKERS_ENV_VAR = "KMNIST_WORKERS"  # worker processes for side-by-side runs (default: one per CPU core)
NATIVE_BF16_ENV_VAR = "KMNIST_NATIVE_BF16"  # 0: act like a machine without native bf16
CACHE_ENV_VAR = "KMNIST_CACHE_DIR"  # the checkpoint cache and work files (default: .cache/ in the project)
RUN_LOG_ENV_VAR = "KMNIST_RUN_LOG"  # set by the pipeline: where a kernel records the runs it trains
PROGRESS_LOG_ENV_VAR = "KMNIST_PROGRESS_LOG"  # set by the pipeline: where a kernel appends its progress lines


# A notebook's parameters (its parameters cell; chapter 07 adds ``schedule``).
PARAMETERS = ("profile", "seeds", "device", "output_root", "schedule")


def undeclared_parameters(cells: Sequence[str], declared: Sequence[str] = PARAMETERS) -> list[str]:
    """Names that papermill's injected cell (``-p NAME VALUE``; its source starts '# Parameters') sets but no
    parameters cell declares: papermill only warns about them, and the run would go on with the defaults."""
    names = set()
    for source in cells:
        if source.startswith("# Parameters\n"):
            names |= {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
                      for target in node.targets if isinstance(target, ast.Name)}
    return sorted(names - set(declared))


def _check_injected_parameters() -> None:
    try:
        from IPython import get_ipython  # lazily: only a notebook kernel has cells to look at
    except ImportError:
        return
    shell = get_ipython()
    unknown = undeclared_parameters(shell.user_ns.get("In", [])) if shell is not None else []
    if unknown:
        raise SettingError(f"Unknown parameter(s) {', '.join(unknown)} passed to this notebook (papermill -p); its "
                           f"parameters are {', '.join(PARAMETERS[:4])} (and schedule in chapter 07). Nothing ran.")


def chosen_profile(name: str | None = None) -> Profile:
    """The profile called ``name``; ``None`` means ``$KMNIST_PROFILE``, else ``paper``."""
    return get_profile(name if name is not None else os.environ.get(PROFILE_ENV_VAR) or DEFAULT_PROFILE)


def _check_seeds(seeds: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = (seeds,)
    try:
        checked = tuple(seeds)
    except TypeError:
        checked = ()
    if not checked or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in checked):
        raise SettingError(f"seeds must be one or more non-negative integers, got {seeds!r}")
    if len(set(checked)) != len(checked):
        raise SettingError(f"seeds must be distinct, got {seeds!r}")
    return checked


def cache_dir() -> Path:
    """The checkpoint cache and work files: ``$KMNIST_CACHE_DIR``, else ``.cache/`` in the project."""
    return Path(os.environ.get(CACHE_ENV_VAR) or PROJECT_ROOT / ".cache").expanduser().resolve()


def _switch(name: str) -> bool | None:
    """A 0/1 environment switch: True, False, or None when unset."""
    value = os.environ.get(name, "")
    if value not in {"", "0", "1"}:
        raise SettingError(f"${name} must be 1 or 0 (or unset), got {value!r}")
    return None if value == "" else value == "1"


def _workers() -> int | None:
    value = os.environ.get(WORKERS_ENV_VAR, "")
    if value and (not value.isdigit() or int(value) < 1):
        raise SettingError(f"${WORKERS_ENV_VAR} must be a positive integer, got {value!r}")
    return int(value) if value else None


@dataclass(frozen=True)
class RunContext:
    """Every setting a run depends on, resolved once by ``setup``: profile (which carries the seeds),
    device, precision, threads, memory formats, worker processes, engine, chapter 07's schedule, data,
    cache and output folders. ``describe_all`` writes it into the provenance of every table."""

    profile: Profile
    device: str
    dirs: OutputDirs
    cache_dir: Path
    precision: str = "fp32"  # what every training run of this context uses: "fp32" or "bf16" (resolved)
    # CPU threads of every training run, in a worker or in this process alike (part of each checkpoint
    # key: thread count changes the kernels' summation order); None on an accelerator.
    threads_per_run: int | None = None
    # Per network (simple, resnet, improved, siamese): train in channels_last, as calibrated on this
    # machine (kmnist_utils.engine.chip); empty: NCHW everywhere.
    channels_last: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))
    # Worker processes for runs trained side by side; None: one per CPU core on a CPU, one on an accelerator.
    workers: int | None = None
    schedule: str = "cpu"  # chapter 07's schedule (BEYOND_SCHEDULES)
    data_root: str | None = None  # the data folder asked for ($KMNIST_DATA); None: found as data.find_data_root says
    # Where every trained run is recorded for the pipeline's attempt ledger ($KMNIST_RUN_LOG); None: nowhere.
    run_log: str | None = None
    # Where every progress line is also appended, for the pipeline's terminal ($KMNIST_PROGRESS_LOG); None: nowhere.
    progress_log: str | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the run (the profile's, or those ``setup`` was given)."""
        return self.profile.seeds

    @property
    def seed(self) -> int:
        """The first seed: the one used where a notebook needs a single run."""
        return self.seeds[0]

    @property
    def beyond(self) -> BeyondSchedule:
        """Chapter 07's schedule."""
        return get_schedule(self.schedule)

    def describe(self) -> str:
        return (
            f"profile={self.profile.name} seeds={list(self.seeds)} device={self.device} precision={self.precision} "
            f"figures={shown(self.dirs.figures)} results={shown(self.dirs.results)}"
        )

    def describe_all(self) -> dict[str, Any]:
        """Every setting that shapes the run's numbers, as plain values, for provenance (the profile by name:
        its values are in ``settings.PROFILES`` at the commit the provenance names). Where the data and the
        cache live does not: the data is checked against the official md5s, the cache is keyed by content."""
        return {
            "profile": self.profile.name,
            "seeds": list(self.seeds),
            "device": self.device,
            "precision": self.precision,
            "threads_per_run": self.threads_per_run,
            "channels_last": dict(self.channels_last),
            "workers": self.workers,
            "schedule": self.schedule,
        }


def _by_hand(profile: Profile, output_root: str | os.PathLike | None) -> str | os.PathLike:
    """Where a notebook run by hand writes, said in its first output with what the chapter costs: the committed
    products are made by ``make report``, so by hand the paper profile writes under ``runs/paper/`` unless
    ``output_root`` names another folder (``"."``: the committed ones)."""
    if output_root is None:
        output_root = PROJECT_ROOT / "runs" / profile.name
        print(f"This notebook writes into {output_root}/ (the committed figures/, results/ and reports/ come from "
              "`make report`; output_root = \".\" in the parameters cell replaces them).")
    notebook = os.environ.get("JPY_SESSION_NAME")  # set by Jupyter for a notebook's kernel
    cost = chapter_cost(profile.name, notebook, len(profile.seeds)) if notebook else None
    if cost:
        print(cost)
    return output_root


def setup(
    profile: str | None = None,
    seeds: Sequence[int] | int | None = None,
    device: str = "auto",
    output_root: str | os.PathLike | None = None,
    lock: bool = True,
    precision: str | None = None,
    calibrate: bool | None = None,
    schedule: str | None = None,
) -> RunContext:
    """Resolve a notebook's parameters and the environment into a run context and seed everything
    (chapters that draw call ``plots.apply_style()`` themselves, so the run context needs no plotting stack).

    ``seeds=None`` takes the profile's seeds; ``output_root=None`` the profile's folders (a relative
    one is taken from the project root), except that a notebook run by hand (``lock``, outside the pipeline)
    writes the paper profile under ``runs/paper/``, and says so with the chapter's recorded cost first.
    ``lock`` takes the output folders' run lock for this
    process, so that a notebook, a test run and the pipeline never write into the same folders
    at once (a kernel started by the pipeline writes under the pipeline's lock). ``precision=None``
    takes ``$KMNIST_PRECISION``, else the profile's (fp32); "auto" is resolved here, once.
    ``calibrate=None`` follows the profile (a script that trains nothing passes False).
    ``schedule=None``: the profile's chapter 07 schedule.
    """
    check_checkout(Path.cwd())
    _check_injected_parameters()
    chosen = chosen_profile(profile)
    requested = precision or os.environ.get(PRECISION_ENV_VAR) or chosen.precision
    if requested not in PRECISIONS:
        raise SettingError(f"Unknown precision {requested!r}; choose one of: {', '.join(PRECISIONS)} (`precision` of "
                         f"context.setup, `--precision` of the report, PRECISION= of make, or ${PRECISION_ENV_VAR}).")
    plan = get_schedule(schedule or chosen.beyond_schedule)
    picked_device = pick_device(device)
    native = native_bf16(picked_device, allowed=_switch(NATIVE_BF16_ENV_VAR) is not False)
    resolved = resolve_precision(requested, picked_device, native)
    threads = CPU_THREADS_PER_RUN if picked_device == "cpu" else None
    if seeds is not None:
        chosen = replace(chosen, seeds=_check_seeds(seeds))
    under_pipeline = os.environ.get(runlock.HELD_ENV_VAR)
    if lock and not under_pipeline:  # a notebook or script run by hand
        output_root = _by_hand(chosen, output_root)
    cache = cache_dir()
    wanted = chosen.calibrate if calibrate is None else calibrate
    layout = calibration(cache, threads, resolved) if wanted and picked_device == "cpu" else {}
    data_root = os.environ.get(DATA_ENV_VAR) or None
    ctx = RunContext(
        profile=chosen,
        device=picked_device,
        dirs=output_dirs(chosen.name, output_root).create(),
        cache_dir=cache,
        precision=resolved,
        threads_per_run=threads,
        channels_last=MappingProxyType(dict(layout)),
        workers=_workers(),
        schedule=plan.name,
        data_root=None if data_root is None else str(Path(data_root).expanduser().resolve()),
        run_log=os.environ.get(RUN_LOG_ENV_VAR) or None,
        progress_log=os.environ.get(PROGRESS_LOG_ENV_VAR) or None,
    )
    if lock:
        runlock.acquire(ctx.dirs.reports.parent, f"a notebook or script with profile {chosen.name}", under_pipeline)
        if ctx.dirs == committed_dirs() and not under_pipeline:
            print(f"PAPER PROFILE: this run replaces the committed products in {ctx.dirs.figures}, {ctx.dirs.results} "
                  "and reports/, as output_root asks.")
    seed_everything(ctx.seed)
    return ctx
