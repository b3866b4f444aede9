"""One writer per output folder: the pipeline, a notebook kernel and a test run all take the same lock.

Two writers into one folder would overwrite each other's notebooks, figures and tables without a
word. ``flock`` locks die with their process, so a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator

LOCK_NAME = ".kmnist-report.lock"
# Set by the pipeline for the kernels it starts: they write under its lock, not their own.
HELD_ENV_VAR = "KMNIST_LOCK_HELD"

_held: dict[Path, IO[str]] = {}


class OutputInUse(RuntimeError):
    """Another process writes to the same output folder; the message names it."""


def lock_path(root: Path) -> Path:
    return Path(root).resolve() / LOCK_NAME


def acquire(root: Path, holder: str, held_by_pipeline: str | None = None) -> bool:
    """Take the lock on ``root`` for this process; True if newly taken, False if already ours.

    Ours means: this process holds it, or it runs under a pipeline that holds it (``held_by_pipeline``:
    the folder a pipeline passed its kernels in ``HELD_ENV_VAR``, which ``context.setup`` reads).
    """
    root = Path(root).resolve()
    if root in _held or held_by_pipeline == str(root):
        return False
    path = lock_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "holder unknown"
        handle.close()
        raise OutputInUse(
            f"Another process is writing to {root} ({other}). Two writers into the same folders would "
            "overwrite each other's notebooks, figures and tables: wait for it to finish (or stop it; "
            "for a notebook kernel, shut the kernel down), or write elsewhere with output_root / --output-root."
        ) from None
    handle.seek(0)
    handle.truncate()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    handle.write(f"{holder}, pid {os.getpid()}, since {started}\n")
    handle.flush()
    _held[root] = handle
    return True


def release(root: Path) -> None:
    handle = _held.pop(Path(root).resolve(), None)
    if handle is not None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def holding(root: Path, holder: str) -> Iterator[Path]:
    """Hold the lock on ``root`` for the block (the caller passes ``HELD_ENV_VAR`` to the processes it
    starts, so that they write under it: ``config.environment``)."""
    root = Path(root).resolve()
    taken = acquire(root, holder)
    try:
        yield lock_path(root)
    finally:
        if taken:
            release(root)
