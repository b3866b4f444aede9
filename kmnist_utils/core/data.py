"""Finding, verifying and decoding the official KMNIST files, class names and the split.

The data root follows torchvision's layout, ``<root>/KMNIST/raw/*-ubyte.gz``. We decode the
IDX files ourselves (instead of through ``torchvision.datasets.KMNIST``) so that every way a
file can be wrong gets an error that names the file and says what to do, and so that nothing
is ever written into the data root, which may be read-only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kmnist_utils.core.paths import PROJECT_ROOT

IMAGE_SIDE = 28
N_CLASSES = 10
DATA_ENV_VAR = "KMNIST_DATA"
DEFAULT_DATA_ROOT = PROJECT_ROOT / "data"
SHARED_DATA_ROOT = (PROJECT_ROOT.parent / "shared" / "data").resolve()

# md5 of each official gzip file, as published by CODH and checked by torchvision.
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
    "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
    "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
    "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
}
IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# (romaji, hiragana) in label order, from the official kmnist_classmap.csv.
CLASS_NAMES: tuple[tuple[str, str], ...] = (
    ("o", "お"),
    ("ki", "き"),
    ("su", "す"),
    ("tsu", "つ"),
    ("na", "な"),
    ("ha", "は"),
    ("ma", "ま"),
    ("ya", "や"),
    ("re", "れ"),
    ("wo", "を"),
)


class KMNISTDataError(RuntimeError):
    """The KMNIST files are missing or not what they should be; the message says what to do."""


def class_label(index: int) -> str:
    """Human-readable label of a class, e.g. ``"tsu (つ)"``."""
    if not 0 <= int(index) < N_CLASSES:
        raise ValueError(f"class index must be in 0..{N_CLASSES - 1}, got {index}")
    romaji, kana = CLASS_NAMES[int(index)]
    return f"{romaji} ({kana})"


def class_labels() -> list[str]:
    """Labels of all ten classes in index order."""
    return [class_label(i) for i in range(N_CLASSES)]


@dataclass(frozen=True)
class KMNIST:
    """The decoded dataset: uint8 images (N, 28, 28) and int64 labels (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    raw_dir: Path


@dataclass(frozen=True)
class Split:
    """Indices into the official training set for our training and validation subsets."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    seed: int


# --------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class DataRoot:
    """Where the data comes from: the folder, how it was chosen, and whether we may download into it."""

    path: Path
    source: str
    downloads: bool  # only ./data in the project is ever downloaded into


def find_data_root(root: str | os.PathLike | None = None) -> DataRoot:
    """The data root, in this order (the one lookup every entry point uses, with or without make):

    1. ``root``, when a caller passes one (a run passes ``$KMNIST_DATA``, which ``context.setup`` reads);
    2. ``../shared/data`` beside the project, when it holds the four files (this project's machines);
    3. ``./data`` in the project, downloaded into on first use.
    """
    if root is not None:
        return DataRoot(Path(root).expanduser().resolve(), f"{root} (${DATA_ENV_VAR} or a caller)",
                        downloads=False)
    if not missing_files(SHARED_DATA_ROOT):
        return DataRoot(SHARED_DATA_ROOT, f"{SHARED_DATA_ROOT} (beside the project)", downloads=False)
    return DataRoot(DEFAULT_DATA_ROOT, f"{DEFAULT_DATA_ROOT} (the project's download folder)", downloads=True)


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder of :func:`find_data_root`."""
    return find_data_root(root).path


def raw_dir(root: Path) -> Path:
    return root / "KMNIST" / "raw"


def missing_files(root: Path) -> list[str]:
    folder = raw_dir(root)
    return [name for name in OFFICIAL_MD5 if not (folder / name).is_file()]


def _how_to_supply(folder: Path) -> str:
    names = ", ".join(OFFICIAL_MD5)
    return (f"Copy the four official files ({names}; http://codh.rois.ac.jp/kmnist/) into {folder}, "
            f"or set {DATA_ENV_VAR} to a folder that holds them in <root>/KMNIST/raw/.")


def download_kmnist(root: Path) -> None:
    """Fetch the official files with torchvision into ``root`` (only ever the project's ./data)."""
    from torchvision.datasets import KMNIST as TorchvisionKMNIST  # here: only a download pays for torchvision

    print(f"KMNIST files not found under {raw_dir(root)}; downloading with torchvision ...")
    try:
        TorchvisionKMNIST(str(root), train=True, download=True)
        TorchvisionKMNIST(str(root), train=False, download=True)
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise KMNISTDataError(
            f"Could not download KMNIST into {raw_dir(root)} ({type(exc).__name__}: {exc}); is the network "
            f"reachable? {_how_to_supply(raw_dir(root))}"
        ) from exc


def locate_raw_files(root: str | os.PathLike | DataRoot | None = None, download: bool = True) -> Path:
    """Return the folder holding the four official files (see :func:`find_data_root` for the order).

    A root named explicitly (argument or ``$KMNIST_DATA``) is never downloaded into: a missing
    folder or file there is an error, since the user pointed us at it.
    """
    where = root if isinstance(root, DataRoot) else find_data_root(root)
    if not where.downloads and not where.path.is_dir():
        raise KMNISTDataError(
            f"KMNIST data root {where.source} does not exist. Point {DATA_ENV_VAR} at the folder that "
            "contains KMNIST/raw/*-ubyte.gz, or unset it to use ../shared/data or download into ./data."
        )
    missing = missing_files(where.path)
    if missing and download and where.downloads:
        download_kmnist(where.path)
        missing = missing_files(where.path)
    if missing:
        raise KMNISTDataError(
            f"Missing KMNIST file(s) in {raw_dir(where.path)} ({where.source}): {', '.join(missing)}. "
            + _how_to_supply(raw_dir(where.path))
        )
    return raw_dir(where.path)


def _replace_advice(path: Path) -> str:
    """What to do about a bad file: only ./data is ours to download into again."""
    if path.resolve().is_relative_to(DEFAULT_DATA_ROOT.resolve()):
        return "Delete it; the next run downloads it again."
    return (f"Replace it with the official file (we never download into {path.parent}, "
            f"since {DATA_ENV_VAR} or ../shared/data points there).")


# --------------------------------------------------------------------------- verifying


def file_md5(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def verify_md5(path: Path, expected: str) -> None:
    actual = file_md5(path)
    if actual == expected:
        return
    if actual == EMPTY_MD5:
        raise KMNISTDataError(f"{path} is empty (0 bytes): an interrupted copy or download? {_replace_advice(path)}")
    other = next((name for name, md5 in OFFICIAL_MD5.items() if md5 == actual), None)
    if other is not None:
        raise KMNISTDataError(
            f"{path} is the official {other}, not {path.name}: two files look swapped or misnamed. "
            f"Give each file its official name."
        )
    raise KMNISTDataError(
        f"md5 mismatch for {path}: expected {expected}, got {actual}. The file is damaged or "
        f"not the official release. {_replace_advice(path)}"
    )


# --------------------------------------------------------------------------- decoding


def _read_gzip(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise KMNISTDataError(
            f"{path} is not a readable gzip file ({exc}); it is truncated or corrupt. {_replace_advice(path)}"
        ) from exc


def _idx_header(payload: bytes, path: Path, magic: int, ndim: int) -> tuple[int, ...]:
    header_len = 4 + 4 * ndim
    found = int.from_bytes(payload[:4], "big") if len(payload) >= 4 else None
    wanted, other = ("image", "label") if magic == IMAGES_MAGIC else ("label", "image")
    if found in (IMAGES_MAGIC, LABELS_MAGIC) and found != magic:
        raise KMNISTDataError(
            f"{path} holds {other}s where {wanted}s were expected: the images and labels files look swapped."
        )
    if found is not None and found != magic:
        raise KMNISTDataError(
            f"{path} has IDX magic number {found}, expected {magic}; it is not a KMNIST {wanted} file."
        )
    if not payload:
        raise KMNISTDataError(f"{path} holds no data (it unpacks to 0 bytes). {_replace_advice(path)}")
    if len(payload) < header_len:
        raise KMNISTDataError(f"{path} is too short ({len(payload)} bytes) to hold an IDX header.")
    return tuple(int.from_bytes(payload[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def _idx_body(payload: bytes, path: Path, shape: tuple[int, ...], ndim: int) -> np.ndarray:
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    found = len(payload) - offset
    if found != expected:
        raise KMNISTDataError(
            f"{path} declares shape {shape} ({expected} bytes of data) but holds {found}; "
            f"the file is truncated or corrupt. {_replace_advice(path)}"
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=offset).reshape(shape)


def read_idx_images(path: Path) -> np.ndarray:
    """Decode a gzipped IDX3 image file to a uint8 array of shape (N, 28, 28)."""
    payload = _read_gzip(path)
    shape = _idx_header(payload, path, IMAGES_MAGIC, ndim=3)
    if shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise KMNISTDataError(
            f"{path} holds images of {shape[1]}x{shape[2]} pixels, expected "
            f"{IMAGE_SIDE}x{IMAGE_SIDE}; it is not a KMNIST image file."
        )
    return _idx_body(payload, path, shape, ndim=3)


def read_idx_labels(path: Path) -> np.ndarray:
    """Decode a gzipped IDX1 label file to an int64 array of class indices 0..9."""
    payload = _read_gzip(path)
    shape = _idx_header(payload, path, LABELS_MAGIC, ndim=1)
    labels = _idx_body(payload, path, shape, ndim=1).astype(np.int64)
    if labels.size and labels.max() >= N_CLASSES:
        raise KMNISTDataError(f"{path} contains label {labels.max()}, but KMNIST labels are 0..{N_CLASSES - 1}.")
    return labels


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise KMNISTDataError(
            f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
            f"{len(labels)} labels; the two files do not belong together."
        )
    return images, labels


def load_kmnist(
    root: str | os.PathLike | DataRoot | None = None,
    download: bool = True,
    checksums: dict[str, str] | None = OFFICIAL_MD5,
) -> KMNIST:
    """Locate, verify (md5) and decode the four official KMNIST files.

    ``checksums=None`` skips the md5 check; it exists for tests with synthetic files.
    """
    folder = locate_raw_files(root, download=download)
    if checksums is not None:
        for name, expected in checksums.items():
            verify_md5(folder / name, expected)
    x_train, y_train = read_idx_pair(folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz")
    x_test, y_test = read_idx_pair(folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz")
    return KMNIST(x_train, y_train, x_test, y_test, raw_dir=folder)


@lru_cache(maxsize=2)
def _cached_official(where: DataRoot) -> KMNIST:
    return load_kmnist(where)


def load_official(root: str | os.PathLike | None = None) -> KMNIST:
    """``load_kmnist`` with md5 checks, memoised per process: notebooks call it freely."""
    return _cached_official(find_data_root(root))


# --------------------------------------------------------------------------- splitting


def train_val_split(labels: np.ndarray, seed: int, val_fraction: float = 0.2) -> Split:
    """Seeded, stratified split of the training set (60,000 -> 48,000 / 12,000).

    Stratified so that every class has exactly the same share in both parts; the paper's
    80/20 split does not say whether it stratified, and with 6,000 images a class this changes
    the counts by at most a few dozen.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(len(members) * val_fraction))
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    val_idx = rng.permutation(np.concatenate(val_parts))
    return Split(train_idx=train_idx, val_idx=val_idx, seed=seed)


@dataclass(frozen=True, eq=False)  # hashed by identity, so it can key a tensor cache
class Parts:
    """uint8 images and int64 labels of the three parts the project uses."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def all_training(self) -> tuple[np.ndarray, np.ndarray]:
        """Every training image, the training and validation parts together (60,000 in the paper profile):
        what the paper's code fitted its scaler, its logistic-regression subset and its PCA on."""
        return np.concatenate([self.x_train, self.x_val]), np.concatenate([self.y_train, self.y_val])


def split_parts(data: KMNIST, split: Split, train_size: int | None = None, val_size: int | None = None,
                test_size: int | None = None, test_seed: int = 0) -> Parts:
    """Training, validation and test parts; a size (None: all) keeps a seeded random subset of a part.

    The split's indices are already a seeded permutation, so their first ``size`` are a random subset.
    """
    train_idx = split.train_idx if train_size is None else split.train_idx[:train_size]
    val_idx = split.val_idx if val_size is None else split.val_idx[:val_size]
    test_idx = np.arange(len(data.y_test))
    if test_size is not None:
        test_idx = np.sort(np.random.default_rng(test_seed).permutation(test_idx)[:test_size])
    return Parts(data.x_train[train_idx], data.y_train[train_idx], data.x_train[val_idx], data.y_train[val_idx],
                 data.x_test[test_idx], data.y_test[test_idx])


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 in [0, 1], as the paper preprocesses."""
    return images.astype(np.float32) / 255.0
