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


def derived_seed(base: int, epoch: int) -> int:
    """The seed of one epoch's random draws (shuffle, pairs, episodes) of a run seeded with ``base``.

    A function of (base, epoch) alone, so a resumed run draws exactly like an uninterrupted one;
    the large multiplier keeps different bases from sharing epochs' seeds.
    """
    return base * 100_003 + epoch
