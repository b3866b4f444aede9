"""The yardsticks every verdict of the report is judged with, as numbers (``findings`` words them).

- **One reported number against our n seeds**: the 95% prediction interval for one more run of ours,
  mean ± t(n-1, 0.975) · s · sqrt(1 + 1/n). A reported number is one run; so is each of ours, and the
  interval says where one more of ours would fall. Never "k standard deviations away" on a 3-seed std,
  whose own uncertainty is large (with 3 seeds t is 4.30, not 2).
- **A floor under every std**: an accuracy measured on N test images varies by its binomial standard error
  sqrt(p (1 - p) / N) from the test sample alone (0.17 pt at 97% on 10,000 images), however alike the seeds.
- **Two of our models**: paired by seed, the t interval of the per-seed differences, its std floored alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"need one or more finite values, got {list(values)!r}")
    return array


def _pairs(a: Sequence[float], b: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    a_arr, b_arr = _finite(a), _finite(b)
    if a_arr.size != b_arr.size:
        raise ValueError(f"{what}, got {a_arr.size} and {b_arr.size}")
    return a_arr, b_arr


def binomial_se(accuracy: float, n_images: int) -> float:
    """The standard error of an accuracy measured on ``n_images`` independent test images."""
    if n_images < 1 or not 0 <= accuracy <= 1:
        raise ValueError(f"need an accuracy in [0, 1] and one or more images, got {accuracy!r} on {n_images!r}")
    return math.sqrt(accuracy * (1 - accuracy) / n_images)


def t_quantile(df: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``df`` degrees of freedom (4.30 for df 2)."""
    return float(stats.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class Interval:
    """Mean and sample std of n values, the std used (floored), and the interval it gives."""

    mean: float
    std: float  # sample std of the values
    used_std: float  # max(std, floor): what the interval is built on
    n: int
    low: float
    high: float

    @property
    def floored(self) -> bool:
        """True where the binomial floor, not the seeds' own spread, sets the width."""
        return self.used_std > self.std

    def holds(self, value: float, rounding: float = 0.0) -> bool:
        """Whether ``value`` (reported to ± ``rounding``) can lie inside the interval."""
        return self.low - rounding <= value <= self.high + rounding

    def unfloored(self, confidence: float = CONFIDENCE) -> "Interval":
        """The same interval on the values' own std (no floor): what the seeds alone say."""
        half = t_quantile(self.n - 1, confidence) * self.std * math.sqrt(1 + 1 / self.n)
        return Interval(self.mean, self.std, self.std, self.n, self.mean - half, self.mean + half)

    def text(self, digits: int = 4) -> str:
        return f"[{self.low:.{digits}f}, {self.high:.{digits}f}]"


def prediction_interval(values: Sequence[float], n_images: int | None = None, floor: float = 0.0,
                        confidence: float = CONFIDENCE) -> Interval | None:
    """Where one more run would fall: mean ± t(n-1) · s · sqrt(1 + 1/n), with s floored by the binomial
    standard error of the mean accuracy on ``n_images`` (None: no such floor, for values that are not
    accuracies) and by ``floor`` (e.g. that of a difference of two accuracies). None with one value: no
    spread was measured."""
    array = _finite(values)
    std = float(array.std(ddof=1)) if array.size > 1 else None
    return prediction_interval_summary(float(array.mean()), std, int(array.size), n_images, floor, confidence)


def prediction_interval_summary(mean: float, std: float | None, n: int, n_images: int | None = None,
                                floor: float = 0.0, confidence: float = CONFIDENCE) -> Interval | None:
    """:func:`prediction_interval` from a summary (mean, sample std, n); None when n < 2 or std is missing."""
    if n < 2 or std is None or not math.isfinite(std):
        return None
    used = max(std, floor, binomial_se(mean, n_images) if n_images else 0.0)
    half = t_quantile(n - 1, confidence) * used * math.sqrt(1 + 1 / n)
    return Interval(mean, std, used, n, mean - half, mean + half)


def paired_interval(a: Sequence[float], b: Sequence[float], n_images: int | None = None,
                    confidence: float = CONFIDENCE) -> Interval | None:
    """The mean of the per-seed differences a - b (same seeds, same order) and its ``confidence`` t interval,
    mean ± t(n-1) · s / sqrt(n); s floored by the binomial standard error of the two models' mean accuracy on
    ``n_images`` (None: no floor). None with one pair."""
    a_arr, b_arr = _pairs(a, b, "paired values need one of each per seed")
    if a_arr.size < 2:
        return None
    diff = a_arr - b_arr
    mean, std = float(diff.mean()), float(diff.std(ddof=1))
    floor = binomial_se(float((a_arr.mean() + b_arr.mean()) / 2), n_images) if n_images else 0.0
    used = max(std, floor)
    half = t_quantile(diff.size - 1, confidence) * used / math.sqrt(diff.size)
    return Interval(mean, std, used, int(diff.size), mean - half, mean + half)


def grid_gap_noise(ours: Sequence[float], other: Sequence[float],
                   confidence: float = CONFIDENCE) -> tuple[np.ndarray, float] | None:
    """How much another run of a grid moves the gap between two of its points, from two runs of the same grid
    (same points, same order): the per-point differences d, and t(k-1) · std(d), the half-width of the
    ``confidence`` interval of the difference of two points measured once each (a point's own run-to-run std
    is std(d) / sqrt(2), a gap's std(d)). A shift common to every point of a run (another machine, another
    version of the code) cancels in a gap and is left out by the std. None with fewer than 3 points."""
    a, b = _pairs(ours, other, "two runs of one grid need the same points")
    if a.size < 3:
        return None
    diff = a - b
    return diff, t_quantile(diff.size - 1, confidence) * float(diff.std(ddof=1))
