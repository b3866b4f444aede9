"""Choosing the torch device: cuda, then mps, then cpu, unless the caller names one."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> str:
    """Return a usable device string; fail clearly if the requested one is not available."""
    if not isinstance(requested, str):
        raise ValueError(f"device must be a string such as 'auto', 'cpu' or 'cuda', got {requested!r}")
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ValueError(
            f"Unknown device {requested!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} was requested but CUDA is not available here; use 'auto' or 'cpu'.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} was requested but MPS is not available here; use 'auto' or 'cpu'.")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"Unsupported device {requested!r}; use 'auto', 'cpu', 'cuda' or 'mps'.")
    return str(device)
