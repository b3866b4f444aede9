"""Choosing the torch device (cuda, then mps, then cpu, unless the caller names one) and the training
precision it runs.

Precision: ``fp32`` trains in float32; ``bf16`` uses bf16 autocast with channels_last (emulated, and
slow, on a CPU without native bf16); ``auto`` means bf16 where it is native and fp32 elsewhere, so the
same command gives different numbers on different machines: a speed setting, never the default for
results (see ``benchmarks/results/`` for the measured accuracy cost).
"""

from __future__ import annotations

import torch

from kmnist_utils.settings import SettingError

PRECISIONS = ("fp32", "bf16", "auto")


def pick_device(requested: str = "auto") -> str:
    """Return a usable device string; fail clearly if the requested one is not available."""
    if not isinstance(requested, str):
        raise SettingError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise SettingError(
            f"Unknown device {requested!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingError(f"device {requested!r} was requested but CUDA is not available here; use 'auto' or 'cpu'.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SettingError(f"device {requested!r} was requested but MPS is not available here; use 'auto' or 'cpu'.")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise SettingError(f"Unsupported device {requested!r}; use 'auto', 'cpu', 'cuda' or 'mps'.")
    return str(device)


def native_bf16(device: str, allowed: bool = True) -> bool:
    """True where bf16 autocast is fast: CUDA with bf16, or a CPU with AVX-512 bf16 / AMX. ``allowed=False``
    makes any machine act like one without (``$KMNIST_NATIVE_BF16=0``, read by ``context.setup``)."""
    if not allowed:
        return False
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind == "cpu":
        probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
        return bool(probe and probe())
    return False


def resolve_precision(precision: str, device: str, native: bool | None = None) -> str:
    """'fp32' or 'bf16': what a run with ``precision`` trains in on ``device`` ("auto": bf16 where ``native``,
    which defaults to what the hardware offers)."""
    if precision not in PRECISIONS:
        raise SettingError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if (native_bf16(device) if native is None else native) else "fp32"
    return precision
