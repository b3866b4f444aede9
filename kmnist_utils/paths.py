"""Where the project lives and where each profile writes its outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The package is installed editable (``pip install -e .``), so its parent is the checkout.
# KMNIST_PROJECT_ROOT lets a test or an unusual install point elsewhere.
PROJECT_ROOT = Path(
    os.environ.get("KMNIST_PROJECT_ROOT", Path(__file__).resolve().parent.parent)
).resolve()
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
# Checkpoints and work files; KMNIST_CACHE_DIR moves them (the fault-resume test uses a temp dir).
CACHE_DIR = Path(os.environ.get("KMNIST_CACHE_DIR", PROJECT_ROOT / ".cache")).resolve()
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


def output_dirs(profile: str, output_root: str | os.PathLike | None = None) -> OutputDirs:
    """Committed folders for the paper profile, ``runs/<profile>/`` for every other one.

    ``output_root`` sends any profile's outputs elsewhere (tests use a temp dir); it may never
    make a non-paper profile write into the committed folders.
    """
    if output_root is None:
        if profile == COMMITTED_PROFILE:
            return committed_dirs()
        output_root = PROJECT_ROOT / "runs" / profile
    root = Path(output_root).expanduser()
    # Relative to the project, not the current folder: kernels run in notebooks/, the pipeline at the root.
    root = (root if root.is_absolute() else PROJECT_ROOT / root).resolve()
    dirs = OutputDirs(figures=root / "figures", results=root / "results", reports=root / "reports")
    if profile != COMMITTED_PROFILE and dirs == committed_dirs():
        raise ValueError(
            f"Profile '{profile}' may not write into the committed figures/, results/ and "
            "reports/ folders; only the paper profile does. Choose another output_root."
        )
    return dirs
