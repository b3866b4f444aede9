"""A fast, exact training engine: tensors in memory, seeded shuffles, the final or the best weights kept.

The method is the paper's (Adam, cross-entropy, fixed epochs and batch size, the final epoch's
weights); only the
mechanics are faster than a per-sample ``DataLoader`` loop: the whole split lives on the device
as one tensor, each epoch is a seeded permutation plus slicing, metrics stay on the device until
the epoch ends; bf16 autocast with channels_last when a run asks for it (``kmnist_utils.engine.device``).
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from kmnist_utils.core.data import to_unit_float
from kmnist_utils.engine.augment import AugmentSettings, augment_batch
from kmnist_utils.engine.device import PRECISIONS, resolve_precision
from kmnist_utils.engine.seeding import derived_seed

OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "onecycle")
KEEPS = ("best", "last")
EVAL_BATCH = 1024
# Index of an epoch's augmentation stream in the derived-seed sequence of a run seed: apart from the
# epoch indices of the shuffles and from the saliency check's randomised twin (90,000).
AUGMENT_INDEX = 50_000
MIXUP_INDEX = 60_000  # the same for an epoch's mixup weights


@dataclass(frozen=True)
class TensorSplit:
    """Training and validation images (float32, N x 1 x 28 x 28 in [0, 1]) and labels on a device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    fingerprint: str  # identifies the exact images and labels, for checkpoint keys


def fingerprint_arrays(*arrays: np.ndarray) -> str:
    digest = hashlib.sha1()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def to_tensor_images(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1] on ``device``."""
    return torch.from_numpy(to_unit_float(images)).unsqueeze(1).to(device)


def make_tensor_split(
    x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, device: str = "cpu"
) -> TensorSplit:
    return TensorSplit(
        x_train=to_tensor_images(x_train, device),
        y_train=torch.as_tensor(y_train, dtype=torch.long, device=device),
        x_val=to_tensor_images(x_val, device),
        y_val=torch.as_tensor(y_val, dtype=torch.long, device=device),
        fingerprint=fingerprint_arrays(x_train, y_train, x_val, y_val),
    )


def autocast_context(precision: str, device: str):
    if precision == "bf16":
        return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
    return nullcontext()


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    precision: str = "fp32"  # "fp32", "bf16" or "auto" (bf16 where native): see kmnist_utils.engine.device
    # Early stopping: end when the validation loss has not improved for this many epochs (``epochs``
    # is then the most it may train). None: always train ``epochs`` epochs, as the paper does.
    patience: int | None = None
    # The paper trains with Adam at a constant learning rate (the defaults). Chapter 07 uses SGD with
    # Nesterov momentum, weight decay and a one-cycle schedule that peaks at ``learning_rate``.
    optimizer: str = "adam"
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    # channels_last memory format in fp32 too (bf16 always uses it): 1.5x faster for the ResNet of
    # chapter 07 on the project's CPU, no gain measured for the paper's CNNs, so off by default.
    channels_last: bool = False
    # CPU threads the run trains with, wherever it runs (a worker process or the notebook's own): the
    # kernels' summation order depends on it, so it is part of the checkpoint key. None: leave the
    # process's setting alone (accelerators).
    threads: int | None = None
    # The weights a run ends with: "last", the final epoch's, or "best", those of its lowest validation
    # loss. "last" is the paper's protocol: its code meant to restore the best epoch but kept a live
    # reference to the state dict, so what it restored was the last epoch. Every run records both (the
    # lowest-validation-loss epoch is always tracked), so ``keep`` only picks which set a run is scored
    # with and stays out of the checkpoint key: one run serves both.
    keep: str = "last"

    def __post_init__(self) -> None:
        if self.keep not in KEEPS:
            raise ValueError(f"keep must be one of {KEEPS}, got {self.keep!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be a positive number or None, got {self.threads}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError(f"epochs, batch_size and learning_rate must be positive: {self}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience must be a positive number of epochs or None, got {self.patience}")
        if self.optimizer not in OPTIMIZERS or self.lr_schedule not in LR_SCHEDULES or self.weight_decay < 0:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, lr_schedule one of {LR_SCHEDULES} and "
                             f"weight_decay >= 0, got {self.optimizer!r}, {self.lr_schedule!r}, {self.weight_decay}")

    def stops_after(self, state: "FitState") -> bool:
        """True when a run in ``state`` has nothing left to do: all epochs done, or patience run out."""
        if state.epoch >= self.epochs:
            return True
        return self.patience is not None and state.epoch - state.best_epoch >= self.patience


@dataclass
class FitState:
    """Everything needed to continue a run after epoch ``epoch`` exactly as if never stopped."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = float("inf")
    best_epoch: int = 0
    best_model: dict | None = None
    model: dict | None = None
    optimizer: dict | None = None
    rng: torch.Tensor | None = None
    scores: dict = field(default_factory=dict)  # evaluations of the restored weights, computed once

    def end_epoch(self, record: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        """Record a finished epoch: its history line, the lowest-validation-loss weights so far, and this
        epoch's weights with what a resume needs."""
        self.history.append(record)
        if record["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.best_epoch, self.best_model = record["val_loss"], record["epoch"], snapshot(model)
        self.epoch = record["epoch"]
        self.model, self.optimizer, self.rng = snapshot(model), snapshot(optimizer), torch.get_rng_state()

    def kept_weights(self, keep: str) -> dict:
        """The weights ``keep`` names: the final epoch's ("last") or the lowest validation loss's ("best")."""
        if keep not in KEEPS:
            raise ValueError(f"keep must be one of {KEEPS}, got {keep!r}")
        return self.model if keep == "last" else self.best_model

    def kept_epoch(self, keep: str) -> int:
        """The epoch whose weights ``keep`` names (1-based)."""
        return self.epoch if self.kept_weights(keep) is self.model else self.best_epoch

    def line(self, label: str, epochs: int) -> str:
        """'label: epoch 3/10, val_loss ..., val_acc ..., 41 s': one line per epoch where no progress bar runs."""
        last = self.history[-1]
        return (f"{label}: epoch {self.epoch}/{epochs}, val_loss {last['val_loss']:.4f}, "
                f"val_acc {last['val_acc']:.4f}, {last['seconds']:.0f} s")

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, payload: dict) -> "FitState":
        return cls(**payload)


# Shares of a one-cycle schedule: warm up linearly from peak / 25 over the first 20% of the steps,
# then follow a cosine down to zero (Smith and Topin, 2019, with torch's OneCycleLR defaults).
WARMUP_SHARE = 0.2
WARMUP_START = 1 / 25


def learning_rate_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based) of ``total_steps``: a function of the
    step alone, so a resumed run follows the same schedule."""
    if not 0 <= step < total_steps:
        raise ValueError(f"step must be in [0, {total_steps}), got {step}")
    if config.lr_schedule == "constant":
        return config.learning_rate
    progress = step / max(total_steps - 1, 1)
    if progress < WARMUP_SHARE:
        return config.learning_rate * (WARMUP_START + (1 - WARMUP_START) * progress / WARMUP_SHARE)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * (progress - WARMUP_SHARE) / (1 - WARMUP_SHARE)))


def make_optimizer(parameters, config: TrainConfig, device: str) -> torch.optim.Optimizer:
    """Adam (the paper's) or SGD with Nesterov momentum 0.9, with the config's weight decay."""
    # The fused kernels do the whole update in one pass (CPU and CUDA); same maths.
    fused = torch.device(device).type in {"cpu", "cuda"}
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.learning_rate, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay, fused=fused)
    return torch.optim.Adam(parameters, lr=config.learning_rate, weight_decay=config.weight_decay, fused=fused)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate


def uses_channels_last(config: TrainConfig, precision: str) -> bool:
    return precision == "bf16" or config.channels_last


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads (None: unchanged), then restore the setting."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def snapshot(module_or_optimizer) -> dict:
    """A real copy of a state dict (the original code kept a live reference, so 'best' was 'last')."""
    return copy.deepcopy(module_or_optimizer.state_dict())


def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str = "fp32", batch_size: int = EVAL_BATCH
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y), in eval mode."""
    logits = predict_logits(model, x, precision, batch_size)
    loss = F.cross_entropy(logits, y.to(logits.device)).item()
    accuracy = (logits.argmax(1) == y.to(logits.device)).float().mean().item()
    return loss, accuracy


@torch.inference_mode()
def predict_logits(
    model: nn.Module, x: torch.Tensor, precision: str = "fp32", batch_size: int = EVAL_BATCH
) -> torch.Tensor:
    """float32 logits for every image of ``x`` (on the model's device)."""
    model.eval()
    device = next(model.parameters()).device
    with autocast_context(precision, str(device)):
        parts = [model(x[i : i + batch_size].to(device)).float() for i in range(0, len(x), batch_size)]
    return torch.cat(parts)


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    # Derived from (seed, epoch) alone, so a resumed run shuffles exactly like an uninterrupted one.
    return torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(seed, epoch)))


@runtime_checkable
class Objective(Protocol):
    """What ``fit`` needs of a training objective: the items of an epoch, the loss of a batch of them,
    a validation score, and a description that becomes part of the checkpoint key."""

    def describe(self) -> dict | None:
        """Settings that change the trained weights (None: nothing beyond the spec)."""

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        """The epoch's items (image indices, pairs, episodes) in training order, seeded by (seed, epoch)."""

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss of a batch of items and its number of correct decisions (a device tensor)."""

    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        """Validation loss and accuracy."""


def augment_generator(seed: int, epoch: int, device: torch.device | str) -> torch.Generator:
    """The random stream of one epoch's augmentation, seeded by (seed, epoch) alone (exact resumes)."""
    return torch.Generator(device=device).manual_seed(derived_seed(seed, AUGMENT_INDEX + epoch))


class Classification:
    """Cross-entropy on (image, label) batches of a seeded permutation: the paper's objective by default.

    ``label_smoothing``, ``augment`` (per-image random transforms of every training batch, on the
    device) and ``mixup`` (Zhang et al. 2018: each batch blended with a shuffled copy of itself by a
    weight drawn from Beta(mixup, mixup), the loss blended alike; 0: off) are chapter 07's; validation
    always scores the plain images with plain cross-entropy.
    """

    def __init__(self, label_smoothing: float = 0.0, augment: AugmentSettings | None = None,
                 mixup: float = 0.0) -> None:
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if mixup < 0:
            raise ValueError(f"mixup (the Beta distribution's parameter) must be >= 0, got {mixup}")
        self.label_smoothing = label_smoothing
        self.augment = None if augment is None or augment.is_identity else augment
        self.mixup = float(mixup)
        self._generator: torch.Generator | None = None
        self._mix_rng: np.random.Generator | None = None

    def describe(self) -> dict | None:
        if self.label_smoothing == 0 and self.augment is None and self.mixup == 0:
            return None  # the paper's objective adds nothing to checkpoint keys
        described = {"label_smoothing": self.label_smoothing,
                     "augment": None if self.augment is None else asdict(self.augment)}
        if self.mixup:  # absent at 0, so runs from before mixup existed keep their keys
            described["mixup"] = self.mixup
        return described

    def epoch_items(self, data: TensorSplit, seed: int, epoch: int) -> torch.Tensor:
        if self.augment is not None or self.mixup:
            self._generator = augment_generator(seed, epoch, data.x_train.device)
        if self.mixup:
            self._mix_rng = np.random.default_rng(derived_seed(seed, MIXUP_INDEX + epoch))
        return epoch_permutation(len(data.x_train), seed, epoch).to(data.x_train.device)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """A training batch as the model sees it: augmented when the objective augments."""
        if self.augment is None:
            return x
        if self._generator is None:
            raise RuntimeError("Classification.inputs before epoch_items: the epoch's augmentation stream is not set")
        return augment_batch(x, self.augment, self._generator)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, label_smoothing=self.label_smoothing, reduction=reduction)

    def batch_loss(self, model: nn.Module, data: TensorSplit, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of one batch and its number of correct predictions (a device tensor; with mixup, against
        the labels of the unshuffled images)."""
        yb = data.y_train[items]
        xb = self.inputs(data.x_train[items])
        if not self.mixup:
            logits = model(xb)
            return self.loss(logits, yb), (logits.detach().argmax(1) == yb).sum()
        if self._mix_rng is None:
            raise RuntimeError("Classification.batch_loss before epoch_items: the epoch's mixup stream is not set")
        weight = float(self._mix_rng.beta(self.mixup, self.mixup))
        partner = torch.randperm(len(items), generator=self._generator, device=xb.device)
        logits = model(weight * xb + (1 - weight) * xb[partner])
        loss = weight * self.loss(logits, yb) + (1 - weight) * self.loss(logits, yb[partner])
        return loss, (logits.detach().argmax(1) == yb).sum()

    def validate(self, model: nn.Module, data: TensorSplit, precision: str) -> tuple[float, float]:
        return evaluate(model, data.x_val, data.y_val, precision)


def fit(
    model: nn.Module,
    data: TensorSplit,
    config: TrainConfig,
    state: FitState | None = None,
    on_epoch_end: Callable[[FitState], None] | None = None,
    progress: bool = True,
    desc: str = "training",
    objective: Objective | None = None,
) -> FitState:
    """Train on ``objective`` (default: cross-entropy) with the config's optimizer and learning-rate
    schedule (the paper's: Adam, constant); end with the final epoch's weights (the paper's), or with
    ``config.keep == "best"`` restore the lowest-validation-loss weights.

    With ``config.patience`` the run ends early once the validation loss has stopped improving.

    ``state`` continues an interrupted run; ``on_epoch_end`` receives the state after each
    epoch (the checkpoint cache saves it there).
    """
    with torch_threads(config.threads):
        return _fit(model, data, config, state, on_epoch_end, progress, desc, objective)


def _fit(model: nn.Module, data: TensorSplit, config: TrainConfig, state: FitState | None,
         on_epoch_end: Callable[[FitState], None] | None, progress: bool, desc: str,
         objective: Objective | None) -> FitState:
    objective = objective or Classification()
    device = str(data.x_train.device)
    precision = resolve_precision(config.precision, device)
    model.to(device)
    if uses_channels_last(config, precision):
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model.parameters(), config, device)
    state = state or FitState()
    if state.model is not None:
        model.load_state_dict(state.model)
        optimizer.load_state_dict(state.optimizer)
        torch.set_rng_state(state.rng)
    bar = None
    for epoch in range(state.epoch, config.epochs):
        if config.stops_after(state):  # a resumed run whose patience had already run out
            break
        start = time.perf_counter()
        model.train()
        items = objective.epoch_items(data, config.seed, epoch)
        n = len(items)
        batches = -(-n // config.batch_size)
        if bar is None:
            bar = tqdm(
                total=config.epochs * batches,
                initial=state.epoch * batches,
                desc=desc,
                disable=not progress,
                mininterval=2.0,
                unit="batch",
            )
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)  # float: exact for counts below 2**24; episodes add shares
        for step, lo in enumerate(range(0, n, config.batch_size)):
            batch = items[lo : lo + config.batch_size]
            if config.lr_schedule != "constant":
                set_learning_rate(optimizer, learning_rate_at(config, epoch * batches + step, config.epochs * batches))
            with autocast_context(precision, device):
                loss, hits = objective.batch_loss(model, data, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(batch)  # stays on the device: no host sync per step
            correct += hits
            bar.update(1)
        val_loss, val_acc = objective.validate(model, data, precision)
        record = {
            "epoch": epoch + 1,
            "train_loss": loss_sum.item() / n,
            "train_acc": correct.item() / n,
            "val_loss": val_loss,
            "val_acc": val_acc,
            "seconds": time.perf_counter() - start,
        }
        state.end_epoch(record, model, optimizer)
        bar.set_postfix(train_loss=f"{record['train_loss']:.3f}", val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(state)
        if config.stops_after(state):
            break
    if bar is not None:
        bar.close()
    model.load_state_dict(state.kept_weights(config.keep))
    return state
