"""The engine measured against the chip: FLOPs of a training step, the machine's matrix-multiply
ceiling, and the one-off per-machine calibration of the engine's memory format.

A training step's speed is judged as achieved GFLOP/s (FLOPs of the forward and backward pass, as
``torch.utils.flop_counter`` counts them, per second) against what this CPU does on a large
``torch.mm`` in the same dtype: the most any convolution or linear layer can hope for.

Calibration: whether fp32 convolutions run faster in channels_last than in NCHW depends on the CPU
and the layer shapes (channels_last paid 1.5x for chapter 07's ResNet on one machine and nothing for
the paper's CNNs on another). So it is measured, once per machine (CPU model and flags, torch version,
threads), with a few training steps of each network, and cached under ``.cache/calibration/``. The
choice changes the kernels and so the numbers: it is part of each run's checkpoint key and of every
table's provenance.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from kmnist_utils.core.atomic import write_text
from kmnist_utils.core.machine import cpu_model
from kmnist_utils.engine.models import build_model
from kmnist_utils.engine.training import autocast_context, torch_threads
from kmnist_utils.settings import CALIBRATED, RECORDS

CALIBRATION_VERSION = 1
# channels_last is chosen only when it is clearly faster: timing noise on a shared machine is a few %.
CHANNELS_LAST_MARGIN = 1.05
CALIBRATED_MODELS = CALIBRATED


def classifier_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x).float(), y)


def pairs_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A Siamese step as chapter 06 takes it: both images of each pair through the encoder, BCE on 'same'."""
    half = len(x) // 2
    return F.binary_cross_entropy_with_logits(model(x[:half], x[half:]).float(), (y[:half] == y[half:]).float())


def step_parts(name: str, batch: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor, Callable]:
    """A freshly seeded network, one random batch of KMNIST's shape and its loss. For ``siamese`` the
    batch is ``batch`` pairs (2 x batch image passes), the encoder behind the Euclidean head."""
    torch.manual_seed(0)
    record = RECORDS[name]
    model = build_model(name, **(record.calibration or {}))
    images, loss = (2 * batch, pairs_loss) if record.pairs else (batch, classifier_loss)
    return model, torch.rand(images, 1, 28, 28), torch.randint(0, 10, (images,)), loss


def step_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable) -> int:
    """FLOPs of one training step's forward and backward pass (the optimizer's few are left out)."""
    with FlopCounterMode(display=False) as counter:
        loss(model, x, y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def matmul_gflops(dtype: torch.dtype = torch.float32, size: int = 2048, min_seconds: float = 1.0) -> float:
    """This process's rate on a large square ``torch.mm`` in ``dtype``: the ceiling for a training step."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(2):
        torch.mm(a, b)
    reps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or reps < 3:
        torch.mm(a, b)
        reps += 1
    return 2 * size**3 * reps / elapsed / 1e9


def seconds_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable, precision: str = "fp32",
                     channels_last: bool = False, steps: int = 20, warmup: int = 5) -> float:
    """Median wall time of the engine's training step (fused Adam, optional bf16 autocast and
    channels_last) on one batch held in memory."""
    if channels_last or precision == "bf16":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    model.train()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with autocast_context(precision, "cpu"):
            value = loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def machine_key(threads: int | None, precision: str) -> str:
    """What a calibration depends on: the CPU and its flags, torch, the threads of a run and the precision."""
    text = json.dumps([CALIBRATION_VERSION, cpu_model(), torch.__version__, threads, precision])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def measure_memory_formats(threads: int | None, precision: str = "fp32", batch: int = 64,
                           steps: int = 20) -> dict:
    """Seconds per step in NCHW and channels_last for every network, and the choice (channels_last only
    when it is at least ``CHANNELS_LAST_MARGIN`` times faster)."""
    measured = {}
    with torch_threads(threads):
        for name in CALIBRATED_MODELS:
            model, x, y, loss = step_parts(name, batch)
            nchw = seconds_per_step(model, x, y, loss, precision, False, steps)
            model, x, y, loss = step_parts(name, batch)
            last = seconds_per_step(model, x, y, loss, precision, True, steps)
            measured[name] = {"nchw_s": nchw, "channels_last_s": last,
                              "channels_last": nchw >= CHANNELS_LAST_MARGIN * last}
    return measured


def calibration(cache_dir: Path, threads: int | None, precision: str,
                measure: Callable[[int | None, str], dict] = measure_memory_formats) -> Mapping[str, bool]:
    """The memory-format choice of every network on this machine: from ``cache_dir/calibration/`` when
    measured before, else measured now (about half a minute, once) and stored with what it measured.

    bf16 always runs channels_last (its fast kernels need it): nothing to measure."""
    if precision == "bf16":
        return {name: True for name in CALIBRATED_MODELS}
    path = Path(cache_dir) / "calibration" / f"memory-format-{machine_key(threads, precision)}.json"
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
            return {name: bool(stored["measured"][name]["channels_last"]) for name in CALIBRATED_MODELS}
        except (ValueError, KeyError, TypeError):
            pass  # a damaged or older file: measure again
    print(f"calibrating the memory format on this machine ({cpu_model()}, {threads} thread(s), {precision}; "
          "once, about half a minute) ...", flush=True)
    measured = measure(threads, precision)
    write_text(path, json.dumps({"cpu": cpu_model(), "torch": torch.__version__, "threads": threads,
                                 "precision": precision, "measured": measured}, indent=2) + "\n")
    return {name: bool(measured[name]["channels_last"]) for name in CALIBRATED_MODELS}
