"""Keep the source notebooks clean: no outputs except the cells nbval is meant to check.

``python -m kmnist_utils.pipeline.nbtools check notebooks/*.ipynb``   lists what is not clean
``python -m kmnist_utils.pipeline.nbtools strip notebooks/*.ipynb``   removes noisy outputs in place
``python -m kmnist_utils.pipeline.nbtools refresh notebooks/*.ipynb`` re-executes under the smoke profile
and stores fresh outputs in the ``nbval-check-output`` cells (then strips the rest)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import nbformat
import zmq
from traitlets.config import Config

from kmnist_utils.core.atomic import write_text
from kmnist_utils.engine.context import PROFILE_ENV_VAR
from kmnist_utils.pipeline.kernel import environment

CHECK_TAG = "nbval-check-output"
PARAMETERS_TAG = "parameters"
KEEP_CELL_METADATA = ("tags",)
KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def is_checked(cell) -> bool:
    return CHECK_TAG in cell.get("metadata", {}).get("tags", [])


def _clean_output(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    if output.get("output_type") == "execute_result":
        output.execution_count = None
    return output


def strip_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs, execution counts and run metadata; checked cells keep their outputs."""
    nb.metadata = nbformat.from_dict({k: nb.metadata[k] for k in KEEP_NOTEBOOK_METADATA if k in nb.metadata})
    if "language_info" in nb.metadata:
        nb.metadata["language_info"] = {"name": nb.metadata["language_info"].get("name", "python")}
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({k: cell.metadata[k] for k in KEEP_CELL_METADATA if k in cell.metadata})
        cell.pop("id", None)
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            # nbval refuses a stored output without an execution count ("unrun reference cell").
            cell.execution_count = cell.execution_count or 1
            cell.outputs = [_clean_output(o) for o in cell.outputs]
        else:
            cell.execution_count = None
            cell.outputs = []
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """What makes a source notebook noisy; empty when it is clean."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.execution_count is not None and not is_checked(cell):
            found.append(f"cell {index} has an execution count")
        if cell.outputs and not is_checked(cell):
            found.append(f"cell {index} has outputs but is not tagged {CHECK_TAG}")
        if is_checked(cell) and not cell.outputs:
            found.append(f"cell {index} is tagged {CHECK_TAG} but stores no output to compare")
        extra = set(cell.metadata) - set(KEEP_CELL_METADATA)
        if extra:
            found.append(f"cell {index} has run metadata {sorted(extra)}")
    extra = set(nb.metadata) - set(KEEP_NOTEBOOK_METADATA)
    if extra:
        found.append(f"notebook metadata has {sorted(extra)}")
    if not any(PARAMETERS_TAG in c.metadata.get("tags", []) for c in nb.cells if c.cell_type == "code"):
        found.append(f"no code cell is tagged '{PARAMETERS_TAG}' (papermill needs one)")
    return found


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    nbformat.validate(nb)
    write_text(path, nbformat.writes(nb) + "\n")


def quiet_kernel_config() -> Config:
    """Encrypted kernel transport where the kernel supports it: no plain-TCP warning on every notebook."""
    return Config({"KernelManager": {"transport_encryption": "auto" if zmq.has("curve") else "disabled"}})


def refresh(path: Path) -> None:
    """Execute ``path`` under the smoke profile and keep the new outputs of its checked cells."""
    import papermill as pm  # here, not at the top: checking notebooks must not pay for jupyter's stack

    with tempfile.TemporaryDirectory() as tmp:
        executed_path = Path(tmp) / path.name
        with environment({PROFILE_ENV_VAR: "smoke"}):
            pm.execute_notebook(str(path), str(executed_path), cwd=str(path.parent), progress_bar=True,
                                config=quiet_kernel_config())
        executed = read(executed_path)
    source = read(path)
    by_source = {c.source: c for c in executed.cells if c.cell_type == "code"}
    for cell in source.cells:
        if cell.cell_type == "code" and is_checked(cell):
            cell.outputs = by_source[cell.source].outputs
            cell.execution_count = by_source[cell.source].execution_count
    write(strip_notebook(source), path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kmnist_utils.pipeline.nbtools",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "strip", "refresh"])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    status = 0
    for path in args.notebooks:
        if args.command == "check":
            for problem in problems(read(path)):
                print(f"{path}: {problem}")
                status = 1
        elif args.command == "strip":
            write(strip_notebook(read(path)), path)
        else:
            refresh(path)
    return status


if __name__ == "__main__":
    sys.exit(main())
