"""Every setting of the report on one screen, torch-free: the networks (one record each), the run profiles
(``paper``, ``smoke``), chapter 06's Siamese settings, chapter 07's schedules and their augmentation, and the
error for a bad setting. ``engine.context`` resolves a run's settings from these and the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

# One thread per training run on a CPU, one run per core in worker processes: measured 1.09-1.21x more
# images/s than one process on both cores for the ResNet-like and Improved CNNs (0.95x for the Simple
# CNN) on the project's 2-core machines (benchmarks/results/cpu-2026-11-26-workers/).
CPU_THREADS_PER_RUN = 1
DEFAULT_PROFILE = "paper"



def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ModelRecord:
    """One network of the report: everything the rest of the package reads about it. Adding a network is
    one record here and its class in ``models``."""

    name: str  # registry name, part of every checkpoint key
    network: str  # its class in ``kmnist_utils.engine.models``
    display: str  # how tables and figures name it
    paper_epochs: int | None = None  # chapter 03 trains it for this many epochs in the paper profile (None: not)
    tuned: bool = False  # chapter 04 tunes it: its dropout is the profile's, and the grid's runs are its first epochs
    pairs: bool = False  # it compares two images (the Siamese network) instead of classifying one
    # Constructor arguments for the per-machine memory-format timing (``chip``); None: not timed.
    calibration: Mapping[str, Any] | None = field(default=None)
    # Raised when the network's computation changes without changing its parameters (a checkpoint of the
    # old one would load and be wrong): part of every checkpoint key above 1.
    version: int = 1


MODEL_RECORDS: tuple[ModelRecord, ...] = (
    ModelRecord("simple", "SimpleCNN", "Simple CNN", paper_epochs=5, calibration=MappingProxyType({})),
    # Version 2: block 2 ends in a ReLU after the add, as in the paper's code.
    ModelRecord("resnet", "ResNetLikeCNN", "ResNet-like CNN", paper_epochs=10, calibration=MappingProxyType({}),
                version=2),
    ModelRecord("improved", "ImprovedCNN", "Improved CNN", paper_epochs=10, tuned=True,
                calibration=MappingProxyType({})),
    ModelRecord("siamese", "SiameseNet", "Siamese network", pairs=True,
                calibration=MappingProxyType({"head": "euclidean"})),
    ModelRecord("preact_resnet", "PreActResNet", "PreAct ResNet"),
)
RECORDS: Mapping[str, ModelRecord] = MappingProxyType({r.name: r for r in MODEL_RECORDS})
CNNS = tuple(r.name for r in MODEL_RECORDS if r.paper_epochs)  # chapter 03's networks, in its order
TUNED = next(r.name for r in MODEL_RECORDS if r.tuned)  # the network chapter 04 tunes
CALIBRATED = tuple(r.name for r in MODEL_RECORDS if r.calibration is not None)
# Rows that are not a network of their own: chapter 04's tuned model and chapter 02's baseline.
DISPLAY_NAMES: Mapping[str, str] = MappingProxyType(
    {**{r.name: r.display for r in MODEL_RECORDS}, "tuned": "TunedImprovedCNN", "logreg": "Logistic Regression"})


class SettingError(ValueError):
    """A bad setting, shown as its one-line message, which says what is wrong and what to do.

    In a notebook IPython prints ``_render_traceback_()`` instead of the frames, so a bad parameter
    passed through plain papermill (or typed in JupyterLab) ends in one clear line rather than a page
    of traceback into this package's internals.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class AugmentSettings:
    """Ranges of the random per-image transforms; zero everywhere is the identity.

    An image is rotated by an angle uniform in ±``rotate_deg``, scaled by a factor uniform in
    1 ± ``scale``, shifted by up to ±``shift_px`` pixels along each axis (the background, 0, fills
    in), then a ``cutout_px`` x ``cutout_px`` square centred on a uniform random pixel is set to 0
    (DeVries and Taylor, 2017; it may hang over the border, as in the original).
    """

    rotate_deg: float = 0.0
    scale: float = 0.0
    shift_px: float = 0.0
    cutout_px: int = 0
    # Elastic distortion (Simard et al. 2003): a random displacement field, uniform in [-1, 1] per pixel,
    # smoothed by a Gaussian of ``elastic_sigma`` pixels and scaled by ``elastic_alpha`` pixels; 0: off.
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    def __post_init__(self) -> None:
        if not (0 <= self.rotate_deg <= 180 and 0 <= self.scale < 1 and self.shift_px >= 0 and self.cutout_px >= 0
                and self.elastic_alpha >= 0 and self.elastic_sigma > 0):
            raise ValueError(
                "augmentation ranges must be rotate_deg in [0, 180], scale in [0, 1), shift_px >= 0, "
                f"cutout_px >= 0, elastic_alpha >= 0 and elastic_sigma > 0, got {self}"
            )

    @property
    def is_identity(self) -> bool:
        return not self.has_affine and self.cutout_px == 0

    @property
    def has_affine(self) -> bool:
        """Whether images are resampled (rotation, scale, shift or elastic distortion)."""
        return self.rotate_deg > 0 or self.scale > 0 or self.shift_px > 0 or self.elastic_alpha > 0


@dataclass(frozen=True)
class PaperSiameseSettings:
    """The Siamese method of the paper's code (section IV): its encoder with a 256-unit embedding, one
    linear unit on |z1 - z2|, 60,000 random pairs an epoch from the 60,000 training images, batch 128,
    Adam at 1e-3, 10 epochs, the final weights; one support per class from the training images."""

    embedding_dim: int = 256
    pairs_per_epoch: int = 60_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    epochs: int = 10
    # The paper validated nothing; the engine's per-epoch monitor scores this many fixed pairs.
    val_pairs: int = 2_000


@dataclass(frozen=True)
class SiameseSettings:
    """Settings of notebook 06: the paper's method (``paper``) and ours, which the rest configures."""

    embedding_dim: int = 64
    head: str = "euclidean"  # "euclidean" or "weighted_l1" (Koch et al.); see models.SiameseNet
    # How the balanced pairs are formed (oneshot.siamese_spec): inside each batch of ``in_batch_size``
    # images from one encoder pass ("in_batch_pairs"), or drawn two images a pair ("pairs"); measured
    # against each other at equal wall time in benchmarks/results/siamese-in-batch-*.
    objective: str = "in_batch_pairs"
    in_batch_size: int = 128
    # Pairs per epoch of the "pairs" objective = training images x pairs_per_image (48,000 on the full
    # split), so an encoder trained on half the classes sees each of its images as often as the full one;
    # prototypical episodes hold as many images.
    pairs_per_image: float = 1.0
    val_pairs_per_image: float = 1.0
    # A fixed schedule (benchmarks/results/siamese-in-batch-cpu-2026-11-30/): validation 1-shot climbs
    # to within 0.5 pt of its best by epoch 9 but gains only 1.5 pt after epoch 5, and the chapter's
    # budget (a fifth of chapter 03's time, unseen-class study included) buys 5. The weights of the
    # epoch with the lowest validation pair loss are kept. ``patience``: stop once that loss has not
    # improved for so many epochs (None: train every epoch).
    epochs: int = 5
    patience: int | None = None
    batch_size: int = 128
    learning_rate: float = 1e-3
    draws: int = 100  # support draws per evaluation
    shots: tuple[int, ...] = (1, 5, 10)
    pca_components: int = 64
    episode: tuple[int, int, int] = (5, 1, 15)  # way, shot, query of a prototypical episode
    # The unseen-class study trains 2 objectives x splits x seen counts encoders, inside the chapter's
    # budget: half the classes seen, three class splits, three epochs.
    unseen_seen_counts: tuple[int, ...] = (5,)
    unseen_splits: int = 3
    unseen_epochs: int = 3
    unseen_draws: int = 100
    paper: PaperSiameseSettings = field(default_factory=PaperSiameseSettings)


CHANNELS_LAST_MIN_WIDTH = 8


@dataclass(frozen=True)
class BeyondSchedule:
    """Settings of chapter 07 (beyond the paper): the network, the training recipe and its length.

    The schedule is a parameter of the chapter (``schedule``), written into every result's
    provenance; the profile only names the default, and nothing switches it by device.
    """

    name: str
    description: str
    widths: tuple[int, ...]
    blocks: int  # pre-activation blocks per stage
    epochs: int
    batch_size: int
    learning_rate: float  # the one-cycle schedule's peak (SGD, Nesterov momentum 0.9)
    weight_decay: float
    label_smoothing: float
    augment: AugmentSettings
    mixup: float = 0.0  # Beta(mixup, mixup) blending weights (Zhang et al. 2018); 0: no mixup
    channels_last: bool = False

    def __post_init__(self) -> None:
        # torch 2.14.1's CPU convolutions corrupt memory (double free, segfault) with channels_last and
        # 4-channel layers; 8 and more ran clean (tests/test_beyond.py trains the smoke schedule).
        if self.channels_last and min(self.widths) < CHANNELS_LAST_MIN_WIDTH:
            raise ValueError(f"schedule {self.name!r}: channels_last needs widths of at least "
                             f"{CHANNELS_LAST_MIN_WIDTH} channels, got {self.widths}")
        if self.mixup < 0:
            raise ValueError(f"schedule {self.name!r}: mixup must be >= 0, got {self.mixup}")


# The recipe is fixed here, before any run, from the published KMNIST results: every one at 98.4% or
# above regularises with the data (input or manifold mixup, 98.41-98.83% for PreActResNet-18; cutout,
# 99.34% for shake-shake), and those schedules are 200 epochs or more. On a 2-core CPU the schedule has
# about 12 epochs, too short for mixup to pay (it slows fitting by design); the ingredient kept is the
# one that costs fitting least and models what differs between writers: small rotations, scalings and
# shifts (no elastic distortion, the strongest of the classic handwriting distortions).
BEYOND_AUGMENT = AugmentSettings(rotate_deg=10.0, scale=0.1, shift_px=2.0)
BEYOND_SCHEDULES: Mapping[str, BeyondSchedule] = _frozen({s.name: s for s in (
    # Sized so that chapter 07's four runs (the recipe's three seeds and its ablation without
    # augmentation, one seed) take no longer than chapter 03 on two cores: two rounds of two one-thread
    # workers at about 128 s an epoch (Intel Xeon, fp32), 12 epochs, against chapter 03's nine runs of
    # about 108 one-thread minutes in all.
    BeyondSchedule(
        name="cpu",
        description="The recipe for a 2-core CPU: PreAct ResNet (32-64-128, 1 block a stage), rotation, scale "
                    "and shift, 12 epochs.",
        widths=(32, 64, 128), blocks=1, epochs=12, batch_size=128, learning_rate=0.1, weight_decay=5e-4,
        label_smoothing=0.0, augment=BEYOND_AUGMENT, mixup=0.0, channels_last=True,
    ),
    BeyondSchedule(
        name="smoke",
        description="Tests only: a network of widths 8-16-32, 2 epochs of small batches.",
        widths=(8, 16, 32), blocks=1, epochs=2, batch_size=32, learning_rate=0.05, weight_decay=5e-4,
        label_smoothing=0.0, augment=BEYOND_AUGMENT, mixup=0.0, channels_last=True,
    ),
)})


def get_schedule(name: str) -> BeyondSchedule:
    if name not in BEYOND_SCHEDULES:
        raise SettingError(f"Unknown schedule {name!r}; choose one of: {', '.join(BEYOND_SCHEDULES)} (the notebook "
                         "parameter `schedule`, or `--schedule` of the report).")
    return BEYOND_SCHEDULES[name]


@dataclass(frozen=True)
class Profile:
    """Every setting that differs between a real run and a quick test run.

    ``None`` for a subset size means the whole split.
    """

    name: str
    description: str
    seeds: tuple[int, ...]
    split_seed: int
    train_subset: int | None
    val_subset: int | None
    test_subset: int | None
    pca_points: int | None
    logreg_train_size: int
    epochs: Mapping[str, int]
    batch_size: int
    learning_rate: float
    dropout: float
    grid: Mapping[str, tuple]
    grid_epochs: int
    tuned_epochs: int
    siamese: SiameseSettings = field(default_factory=SiameseSettings)
    # Random calibration/evaluation splits of the test set for certified routing (notebook 05).
    routing_splits: int = 200
    # Boosting rounds of chapter 07's train/test shift detector (the test profile's data is too small to need 200).
    shift_rounds: int = 200
    # Chapter 07's schedule when its parameter ``schedule`` is None.
    beyond_schedule: str = "cpu"
    # Committed results train in fp32 on every machine, so one command gives one set of numbers
    # everywhere; bf16 is opt-in (its measured accuracy cost: benchmarks/results/precision-*).
    precision: str = "fp32"
    # Measure once per machine whether each network's fp32 convolutions are faster in channels_last
    # (kmnist_utils.engine.chip); off for the smoke profile, whose tests must not depend on a timing.
    calibrate: bool = True


PAPER = Profile(
    name="paper",
    description="The paper's settings (sections II.A-II.D); three seeds per model.",
    seeds=(0, 1, 2),
    split_seed=0,
    train_subset=None,
    val_subset=None,
    test_subset=None,
    pca_points=None,
    logreg_train_size=10_000,
    epochs=_frozen({r.name: r.paper_epochs for r in MODEL_RECORDS if r.paper_epochs}),
    batch_size=64,
    learning_rate=1e-3,
    dropout=0.4,
    grid=_frozen({"learning_rate": (1e-3, 5e-4), "dropout": (0.3, 0.4, 0.5), "batch_size": (64, 128)}),
    grid_epochs=3,
    tuned_epochs=10,
    siamese=SiameseSettings(),
)

# Everything the smoke profile does not change is the paper's, so the two cannot drift apart.
SMOKE = replace(
    PAPER,
    name="smoke",
    description="Tiny subsets and one epoch so the whole series runs in minutes; for tests only, "
    "never for results.",
    seeds=(0,),
    train_subset=1_024,
    val_subset=512,
    test_subset=1_000,
    pca_points=2_000,
    logreg_train_size=1_000,
    epochs=_frozen({name: 1 for name in PAPER.epochs}),
    grid_epochs=1,
    tuned_epochs=1,
    siamese=replace(SiameseSettings(), pairs_per_image=2.0, epochs=1, patience=None, draws=5, episode=(5, 1, 5),
                    unseen_seen_counts=(5,), unseen_splits=2, unseen_epochs=1, unseen_draws=5,
                    paper=replace(PaperSiameseSettings(), pairs_per_epoch=1_024, epochs=1, val_pairs=256)),
    routing_splits=10,
    shift_rounds=20,
    beyond_schedule="smoke",
    calibrate=False,
)

PROFILES: Mapping[str, Profile] = _frozen({p.name: p for p in (PAPER, SMOKE)})


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (``context.setup`` reads ``$KMNIST_PROFILE`` when a notebook names none)."""
    if not isinstance(name, str) or name not in PROFILES:
        raise SettingError(
            f"Unknown profile {name!r}. Choose one of: {', '.join(PROFILES)} (the notebook "
            "parameter `profile`, `--profile` of the report, or $KMNIST_PROFILE)."
        )
    return PROFILES[name]
