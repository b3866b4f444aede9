"""The environment of the kernels a pipeline starts: the settings it resolved once (precision, data root),
this checkout first on the import path, and its output folders' lock as already held."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from kmnist_utils.core import runlock
from kmnist_utils.core.data import DATA_ENV_VAR
from kmnist_utils.engine.context import PRECISION_ENV_VAR, RunContext


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in this process's environment for the block (the processes it starts inherit them),
    then restore what was there: how a pipeline passes its settings to its kernels."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def kernel_environment(ctx: RunContext, project_root: Path, lock_root: Path) -> dict[str, str]:
    """What a pipeline's kernels need in their environment: the precision and data root resolved here,
    this checkout first on PYTHONPATH (whichever checkout the environment was installed from), and the
    output folders' lock as already held."""
    values = {PRECISION_ENV_VAR: ctx.precision, runlock.HELD_ENV_VAR: str(Path(lock_root).resolve()),
              "PYTHONPATH": os.pathsep.join(filter(None, (str(project_root), os.environ.get("PYTHONPATH"))))}
    if ctx.data_root:
        values[DATA_ENV_VAR] = ctx.data_root  # absolute: kernels run in notebooks/
    return values
