"""Where the project lives and where each profile writes its outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kmnist_utils.settings import SettingError

# The package is installed editable (``pip install -e .``), so its parent is the checkout.
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # kmnist_utils/core/paths.py
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
COMMITTED_PROFILE = "paper"


@dataclass(frozen=True)
class OutputDirs:
    """The folders one profile writes to."""

    figures: Path
    results: Path
    reports: Path

    def create(self) -> "OutputDirs":
        for folder in (self.figures, self.results, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def committed_dirs() -> OutputDirs:
    return OutputDirs(
        figures=PROJECT_ROOT / "figures",
        results=PROJECT_ROOT / "results",
        reports=PROJECT_ROOT / "reports",
    )


def checkout_of(folder: str | os.PathLike) -> Path | None:
    """The kmnist-report checkout that ``folder`` lies in (a folder holding ``kmnist_utils/__init__.py`` and
    ``notebooks/``), or None."""
    folder = Path(folder).resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / "kmnist_utils" / "__init__.py").is_file() and (candidate / "notebooks").is_dir():
            return candidate
    return None


PACKAGE_CHECKOUT = Path(__file__).resolve().parents[2]  # where this kmnist_utils was imported from


def check_checkout(cwd: str | os.PathLike) -> None:
    """Refuse to run where the working folder is another checkout than the imported package's: one
    environment installed for two checkouts imports the last one installed (an editable install), whose
    outputs, cache and lock would then be used from here."""
    here = checkout_of(cwd)
    if here is not None and here != PACKAGE_CHECKOUT:
        raise SettingError(
            f"this kernel runs in the checkout {here} but imports kmnist_utils from {PACKAGE_CHECKOUT}, so it would "
            f"write into that one's outputs and cache. One environment serves both (its editable install points at "
            f"the checkout that installed it last). Start Jupyter with `make lab` in {here} (it puts this checkout "
            f"first on PYTHONPATH), run `make report` there, or give each checkout its own environment (.venv)."
        )


def shown(path: str | os.PathLike) -> str:
    """A path as a reader of the products sees it: relative to the project root where it lies inside the
    project, so an executed notebook names no folder of the machine that ran it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


class ShownPath(type(Path())):  # the concrete class: PosixPath or WindowsPath
    """A path that displays itself as :func:`shown` (a notebook cell that ends in a saved file shows where it
    went in the project, not on the machine); it is the full path for everything else."""

    def __repr__(self) -> str:
        return f"saved {shown(self)}"


def project_path(path: str | os.PathLike) -> Path:
    """A user-given path as the project means it: a relative one is taken from the project root, wherever
    the command runs (the pipeline at the root, kernels in notebooks/, a plain papermill anywhere)."""
    path = Path(path).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def output_dirs(profile: str, output_root: str | os.PathLike | None = None) -> OutputDirs:
    """Committed folders for the paper profile, ``runs/<profile>/`` for every other one.

    ``output_root`` sends any profile's outputs elsewhere (tests use a temp dir); it may never
    make a non-paper profile write into the committed folders.
    """
    if output_root is None:
        if profile == COMMITTED_PROFILE:
            return committed_dirs()
        output_root = PROJECT_ROOT / "runs" / profile
    root = project_path(output_root)
    dirs = OutputDirs(figures=root / "figures", results=root / "results", reports=root / "reports")
    if profile != COMMITTED_PROFILE and dirs == committed_dirs():
        raise SettingError(
            f"Profile '{profile}' may not write into the committed figures/, results/ and "
            "reports/ folders; only the paper profile does. Choose another output_root."
        )
    return dirs
