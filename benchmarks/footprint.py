"""What a clone costs on disk: the environment, the data, the checkpoint cache and the committed products.

    python benchmarks/footprint.py --venv .venv --cache .cache/checkpoints --out benchmarks/results/footprint-DATE

Measures the folders it is given (bytes of every file under them, links not followed) and writes
``footprint.json`` with the machine, commit and date, so that every size the README states has a record.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from kmnist_utils.core.atomic import write_text
from kmnist_utils.core.data import find_data_root
from kmnist_utils.core.machine import cpu_model
from kmnist_utils.core.paths import PROJECT_ROOT


def folder_bytes(path: Path) -> int:
    """Bytes of every regular file under ``path`` (0 when it does not exist)."""
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=PROJECT_ROOT / ".venv")
    parser.add_argument("--cache", type=Path, default=PROJECT_ROOT / ".cache" / "checkpoints")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    site = next(args.venv.glob("lib/python*/site-packages"), args.venv)
    sizes = {
        "venv": folder_bytes(args.venv),
        "venv_cuda_libraries": folder_bytes(site / "nvidia") + folder_bytes(site / "triton"),
        "data_raw": folder_bytes(find_data_root(None).path),
        "checkpoints": folder_bytes(args.cache),
        "checkpoint_files": len(list(args.cache.glob("*.pt"))) if args.cache.exists() else 0,
        "products": sum(folder_bytes(PROJECT_ROOT / name) for name in ("figures", "results", "reports")),
    }
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    megabytes = {k: round(v / 1e6, 1) for k, v in sizes.items() if k != "checkpoint_files"}
    record = {"sizes_bytes": sizes, "sizes_mb": megabytes,
              "venv": str(args.venv), "cache": str(args.cache), "cpu": cpu_model(), "python": platform.python_version(),
              "commit": commit.strip(), "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_text(args.out / "footprint.json", json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["sizes_mb"], indent=2))


if __name__ == "__main__":
    main()
