"""Named run profiles (``paper``, ``smoke``) and the run context every notebook starts from."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

from kmnist_utils import runlock
from kmnist_utils.augment import AugmentSettings
from kmnist_utils.chip import calibration
from kmnist_utils.data import DATA_ENV_VAR
from kmnist_utils.device import PRECISIONS, native_bf16, pick_device, resolve_precision
from kmnist_utils.paths import PROJECT_ROOT, OutputDirs, check_checkout, committed_dirs, output_dirs
from kmnist_utils.seeding import seed_everything
from kmnist_utils.settings import MODEL_RECORDS, SettingError

# The environment variables a run reads, all of them here and only in ``setup`` (``get_profile`` for
# the profile): every setting a run depends on then lives in its RunContext and its provenance.
PROFILE_ENV_VAR = "KMNIST_PROFILE"
PRECISION_ENV_VAR = "KMNIST_PRECISION"
WORKERS_ENV_VAR = "KMNIST_WORKERS"  # worker processes for side-by-side runs (default: one per CPU core)
NATIVE_BF16_ENV_VAR = "KMNIST_NATIVE_BF16"  # 0: act like a machine without native bf16
CACHE_ENV_VAR = "KMNIST_CACHE_DIR"  # the checkpoint cache and work files (default: .cache/ in the project)
RUN_LOG_ENV_VAR = "KMNIST_RUN_LOG"  # set by the pipeline: where a kernel records the runs it trains
# One thread per training run on a CPU, one run per core in worker processes: measured 1.09-1.21x more
# images/s than one process on both cores for the ResNet-like and Improved CNNs (0.95x for the Simple
# CNN) on the project's 2-core machines (benchmarks/results/cpu-2026-11-26-workers/).
CPU_THREADS_PER_RUN = 1
DEFAULT_PROFILE = "paper"


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


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
    # Chapter 07's schedule when its parameter ``schedule`` is None.
    beyond_schedule: str = "cpu"
    # Committed results train in fp32 on every machine, so one command gives one set of numbers
    # everywhere; bf16 is opt-in (its measured accuracy cost: benchmarks/results/precision-*).
    precision: str = "fp32"
    # Measure once per machine whether each network's fp32 convolutions are faster in channels_last
    # (kmnist_utils.chip); off for the smoke profile, whose tests must not depend on a timing.
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
    beyond_schedule="smoke",
    calibrate=False,
)

PROFILES: Mapping[str, Profile] = _frozen({p.name: p for p in (PAPER, SMOKE)})


def get_profile(name: str | None = None) -> Profile:
    """Profile by name; ``None`` means ``$KMNIST_PROFILE``, else ``paper``."""
    if name is None:
        name = os.environ.get(PROFILE_ENV_VAR) or DEFAULT_PROFILE
    if not isinstance(name, str) or name not in PROFILES:
        raise SettingError(
            f"Unknown profile {name!r}. Choose one of: {', '.join(PROFILES)} (the notebook "
            f"parameter `profile`, `--profile` of the report, or ${PROFILE_ENV_VAR})."
        )
    return PROFILES[name]


def _check_seeds(seeds: Sequence[int] | int) -> tuple[int, ...]:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = (seeds,)
    try:
        checked = tuple(seeds)
    except TypeError:
        checked = ()
    if not checked or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in checked):
        raise SettingError(f"seeds must be one or more non-negative integers, got {seeds!r}")
    if len(set(checked)) != len(checked):
        raise SettingError(f"seeds must be distinct, got {seeds!r}")
    return checked


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


def cache_dir() -> Path:
    """The checkpoint cache and work files: ``$KMNIST_CACHE_DIR``, else ``.cache/`` in the project."""
    return Path(os.environ.get(CACHE_ENV_VAR) or PROJECT_ROOT / ".cache").expanduser().resolve()


def _switch(name: str) -> bool | None:
    """A 0/1 environment switch: True, False, or None when unset."""
    value = os.environ.get(name, "")
    if value not in {"", "0", "1"}:
        raise SettingError(f"${name} must be 1 or 0 (or unset), got {value!r}")
    return None if value == "" else value == "1"


def _workers() -> int | None:
    value = os.environ.get(WORKERS_ENV_VAR, "")
    if value and (not value.isdigit() or int(value) < 1):
        raise SettingError(f"${WORKERS_ENV_VAR} must be a positive integer, got {value!r}")
    return int(value) if value else None


@dataclass(frozen=True)
class RunContext:
    """Every setting a run depends on, resolved once by ``setup``: profile (which carries the seeds),
    device, precision, threads, memory formats, worker processes, engine, chapter 07's schedule, data,
    cache and output folders. ``describe_all`` writes it into the provenance of every table."""

    profile: Profile
    device: str
    dirs: OutputDirs
    cache_dir: Path
    precision: str = "fp32"  # what every training run of this context uses: "fp32" or "bf16" (resolved)
    # CPU threads of every training run, in a worker or in this process alike (part of each checkpoint
    # key: thread count changes the kernels' summation order); None on an accelerator.
    threads_per_run: int | None = None
    # Per network (simple, resnet, improved, siamese): train in channels_last, as calibrated on this
    # machine (kmnist_utils.chip); empty: NCHW everywhere.
    channels_last: Mapping[str, bool] = field(default_factory=lambda: _frozen({}))
    # Worker processes for runs trained side by side; None: one per CPU core on a CPU, one on an accelerator.
    workers: int | None = None
    schedule: str = "cpu"  # chapter 07's schedule (BEYOND_SCHEDULES)
    data_root: str | None = None  # the data folder asked for ($KMNIST_DATA); None: found as data.find_data_root says
    # Where every trained run is recorded for the pipeline's attempt ledger ($KMNIST_RUN_LOG); None: nowhere.
    run_log: str | None = None

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds of the run (the profile's, or those ``setup`` was given)."""
        return self.profile.seeds

    @property
    def seed(self) -> int:
        """The first seed: the one used where a notebook needs a single run."""
        return self.seeds[0]

    @property
    def beyond(self) -> BeyondSchedule:
        """Chapter 07's schedule."""
        return get_schedule(self.schedule)

    def describe(self) -> str:
        return (
            f"profile={self.profile.name} seeds={list(self.seeds)} device={self.device} precision={self.precision} "
            f"figures={self.dirs.figures} results={self.dirs.results}"
        )

    def describe_all(self) -> dict[str, Any]:
        """Every setting that shapes the run's numbers, as plain values, for provenance (the profile by name:
        its values are in ``config.PROFILES`` at the commit the provenance names). Where the data and the
        cache live does not: the data is checked against the official md5s, the cache is keyed by content."""
        return {
            "profile": self.profile.name,
            "seeds": list(self.seeds),
            "device": self.device,
            "precision": self.precision,
            "threads_per_run": self.threads_per_run,
            "channels_last": dict(self.channels_last),
            "workers": self.workers,
            "schedule": self.schedule,
        }


def setup(
    profile: str | None = None,
    seeds: Sequence[int] | int | None = None,
    device: str = "auto",
    output_root: str | os.PathLike | None = None,
    lock: bool = True,
    precision: str | None = None,
    calibrate: bool | None = None,
    schedule: str | None = None,
) -> RunContext:
    """Resolve a notebook's parameters and the environment into a run context and seed everything
    (chapters that draw call ``plots.apply_style()`` themselves, so the run context needs no plotting stack).

    ``seeds=None`` takes the profile's seeds; ``output_root=None`` the profile's folders (a relative
    one is taken from the project root). ``lock`` takes the output folders' run lock for this
    process, so that a notebook, a test run and the pipeline never write into the same folders
    at once (a kernel started by the pipeline writes under the pipeline's lock). ``precision=None``
    takes ``$KMNIST_PRECISION``, else the profile's (fp32); "auto" is resolved here, once.
    ``calibrate=None`` follows the profile (a script that trains nothing passes False).
    ``schedule=None``: the profile's chapter 07 schedule.
    """
    check_checkout(Path.cwd())
    chosen = get_profile(profile)
    requested = precision or os.environ.get(PRECISION_ENV_VAR) or chosen.precision
    if requested not in PRECISIONS:
        raise SettingError(f"Unknown precision {requested!r}; choose one of: {', '.join(PRECISIONS)} (`precision` of "
                         f"config.setup, `--precision` of the report, PRECISION= of make, or ${PRECISION_ENV_VAR}).")
    plan = get_schedule(schedule or chosen.beyond_schedule)
    picked_device = pick_device(device)
    native = native_bf16(picked_device, allowed=_switch(NATIVE_BF16_ENV_VAR) is not False)
    resolved = resolve_precision(requested, picked_device, native)
    threads = CPU_THREADS_PER_RUN if picked_device == "cpu" else None
    cache = cache_dir()
    wanted = chosen.calibrate if calibrate is None else calibrate
    layout = calibration(cache, threads, resolved) if wanted and picked_device == "cpu" else {}
    if seeds is not None:
        chosen = replace(chosen, seeds=_check_seeds(seeds))
    data_root = os.environ.get(DATA_ENV_VAR) or None
    ctx = RunContext(
        profile=chosen,
        device=picked_device,
        dirs=output_dirs(chosen.name, output_root).create(),
        cache_dir=cache,
        precision=resolved,
        threads_per_run=threads,
        channels_last=_frozen(layout),
        workers=_workers(),
        schedule=plan.name,
        data_root=None if data_root is None else str(Path(data_root).expanduser().resolve()),
        run_log=os.environ.get(RUN_LOG_ENV_VAR) or None,
    )
    if lock:
        under_pipeline = os.environ.get(runlock.HELD_ENV_VAR)
        runlock.acquire(ctx.dirs.reports.parent, f"a notebook or script with profile {chosen.name}", under_pipeline)
        if ctx.dirs == committed_dirs() and not under_pipeline:
            print(f"PAPER PROFILE: this run writes into the committed folders {ctx.dirs.figures}, {ctx.dirs.results} "
                  "and reports/. Set profile = \"smoke\" (or output_root) in the parameters cell for a try-out.")
    seed_everything(ctx.seed)
    return ctx
