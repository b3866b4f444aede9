"""Where a number came from: profile, seeds, device, versions, commit, date and wall time."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Sequence

from kmnist_utils.core.machine import cpu_model
from kmnist_utils.core.paths import PROJECT_ROOT

if TYPE_CHECKING:  # a type only: products sit below the engine and never load it
    from kmnist_utils.engine.context import RunContext

# What a run itself rewrites: changes there do not make the code that produced them differ from the commit.
GENERATED_PATHS = ("figures", "results", "reports", "README.md")


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Commit of the checkout, with ``-dirty`` when tracked source files differ from it (the
    run's own products, ``GENERATED_PATHS``, do not count)."""
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        excluded = [f":(exclude){path}" for path in GENERATED_PATHS]
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def package_version(name: str) -> str:
    """An installed package's version, read from its metadata without importing it."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def device_name(device: str) -> str:
    """The accelerator's name, or the CPU's model and flags with the threads this process uses."""
    # A process that never imported torch (chapter 08, the README) trained nothing, so it need not load it:
    # its threads say nothing about any number it writes.
    torch = sys.modules.get("torch")
    if torch is not None and device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    threads = f"{torch.get_num_threads()} threads" if torch is not None else "no training in this process"
    return f"{cpu_model()} ({os.cpu_count()} cores, {threads})"


def provenance(ctx: RunContext, wall_time_s: float | None = None, **extra: Any) -> dict[str, Any]:
    """A JSON-ready record of how a result was produced."""
    record: dict[str, Any] = {
        **ctx.describe_all(),  # every setting of the run: a table says how it was made without the code
        "split_seed": ctx.profile.split_seed,
        "device_name": device_name(ctx.device),
        "cpu": cpu_model(),
        "git_commit": git_commit(),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "python": platform.python_version(),
        # The build as torch names itself (2.14.1+cu130) where it is loaded; its metadata's version elsewhere.
        "torch": sys.modules["torch"].__version__ if "torch" in sys.modules else package_version("torch"),
        "numpy": package_version("numpy"),
        "sklearn": package_version("scikit-learn"),
        "host": platform.node(),
    }
    record.update(extra)
    return record


def over_attempts(attempts: int, why: str = "") -> str:
    """' over 3 attempts' (and ``why``) for a run resumed across attempts; nothing for one attempt."""
    return "" if attempts == 1 else f" over {attempts} attempts{why}"


def mixed_cpus(where: dict) -> str:
    """', its attempts on A and B: the minutes mix CPU kinds' for a run whose counted attempts ran on
    several CPU models (``attempt_cpus`` in the timings' provenance); nothing for one."""
    cpus = list(where.get("attempt_cpus") or [])
    return f", its attempts on {' and '.join(cpus)}: the minutes mix CPU kinds" if len(cpus) > 1 else ""


def short_commit(commit: str | None) -> str:
    """The first 10 hex digits, keeping a ``-dirty`` mark."""
    commit = commit or "unknown"
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def provenance_line(ctx: RunContext, seeds: Sequence[int] | None = None) -> str:
    """A one-line summary for figure footers (``seeds``: those of the figure where they are not the run's)."""
    short = short_commit(git_commit())
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    seeds = ",".join(map(str, ctx.seeds if seeds is None else seeds))
    return (f"kmnist-report · profile={ctx.profile.name} · seeds={seeds} · {ctx.device} {ctx.precision} · {short} · "
            f"{date}")
