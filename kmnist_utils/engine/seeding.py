"""One seeding helper for python, numpy and torch, used by every notebook and training run."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed every global random number generator the project touches."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))  # also seeds every CUDA device


def derived_seed(base: int, index: int) -> int:
    """The seed of the ``index``-th of a sequence of independent random draws made for ``base``.

    The one rule for every derived seed: epochs of a training run (shuffle, pairs, episodes), support
    draws, calibration splits, class splits, the randomised twin of a saliency check. A function of
    (base, index) alone, so a resumed run draws exactly like an uninterrupted one; the large prime
    multiplier keeps the sequences of different bases (< 100,003 indices each) from overlapping.
    """
    if min(base, index) < 0:
        raise ValueError(f"seeds and indices must be non-negative, got base={base}, index={index}")
    return base * 100_003 + index
