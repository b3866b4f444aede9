"""Shared fixtures: synthetic IDX files in a temp dir, and the real data when it is present."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from kmnist_utils.core import data


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as handle:
        handle.write(payload)
    return path


def make_fake_kmnist(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0) -> Path:
    """Write four small valid IDX gzip files in torchvision's layout under ``root``."""
    rng = np.random.default_rng(seed)
    folder = data.raw_dir(root)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % data.N_CLASSES
        write_gz(folder / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(images, data.IMAGES_MAGIC))
        write_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(labels, data.LABELS_MAGIC))
    return folder


def fake_checksums(folder: Path) -> dict[str, str]:
    return {name: data.file_md5(folder / name) for name in data.OFFICIAL_MD5}


@pytest.fixture
def fake_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    make_fake_kmnist(tmp_path / "root")
    return tmp_path / "root"


@pytest.fixture(scope="session")
def real_kmnist() -> data.KMNIST:
    root = data.resolve_data_root(os.environ.get(data.DATA_ENV_VAR) or None)  # as context.setup reads it
    if data.missing_files(root):
        pytest.skip(f"real KMNIST files not found under {root} (set KMNIST_DATA)")
    return data.load_official(root)


@pytest.fixture
def smoke_ctx(tmp_path):
    from kmnist_utils.engine import context

    return context.setup("smoke", output_root=tmp_path / "out")
