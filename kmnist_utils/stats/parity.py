"""Does bf16 training change accuracy? Paired seeds in two precisions, compared to the seed spread.

Each (model, seed) is trained twice from the same initial weights and data order, once per precision,
so the per-seed differences are paired. The verdict asks more than "the interval contains zero": bf16
counts as equivalent only when the whole 95% interval of the mean difference lies within the seed
spread (the standard deviation of fp32 accuracy over seeds), an equivalence test in the spirit of TOST.
With three seeds the interval is wide (t = 4.30 for 2 degrees of freedom), so "not shown" is the
expected answer unless the differences are both small and consistent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as student_t


def paired_interval(differences: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of paired differences and its two-sided Student-t interval: (mean, low, high)."""
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"a paired interval needs at least two differences, got {d.tolist()}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    half = student_t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def compare_precisions(rows: pd.DataFrame, metric: str = "accuracy", base: str = "fp32",
                       other: str = "bf16") -> pd.DataFrame:
    """One row per model and one for all models together: means and seed spreads of ``metric`` in each
    precision, the mean paired difference ``other - base`` with its 95% interval, and the verdict.

    ``rows`` has columns model, seed, precision_mode and ``metric``; every (model, seed) needs both
    precisions.
    """
    missing = {"model", "seed", "precision_mode", metric} - set(rows.columns)
    if missing:
        raise ValueError(f"rows lack the columns {sorted(missing)}")
    wide = rows.pivot_table(index=["model", "seed"], columns="precision_mode", values=metric)
    if not {base, other} <= set(wide.columns) or wide[[base, other]].isna().any().any():
        raise ValueError(f"every (model, seed) needs a {base} and a {other} row; got precisions "
                         f"{sorted(map(str, wide.columns))}. On a CPU without native bf16 'auto' trains in fp32: "
                         "ask for bf16 explicitly.")
    # The spread of a seed within its own model, pooled over the models for the "all models" row.
    pooled = {name: float(np.sqrt(wide[name].groupby(level=0).var(ddof=1).mean())) for name in (base, other)}
    out = []
    groups = [(model, wide.loc[model]) for model in wide.index.get_level_values(0).unique()]
    groups.append(("all models", wide.reset_index(level=0, drop=True)))
    for model, part in groups:
        diff = (part[other] - part[base]).to_numpy()
        mean, low, high = paired_interval(diff)
        spread = {name: pooled[name] if model == "all models" else float(part[name].std(ddof=1))
                  for name in (base, other)}
        out.append({
            "model": model, "pairs": len(diff),
            f"{base}_mean": float(part[base].mean()), f"{other}_mean": float(part[other].mean()),
            f"{base}_seed_std": spread[base], f"{other}_seed_std": spread[other],
            "diff_mean_pts": mean * 100, "diff_low_pts": low * 100, "diff_high_pts": high * 100,
            "within_seed_spread": bool(-spread[base] <= low and high <= spread[base]),
        })
    return pd.DataFrame(out)


def precision_verdict(comparison: pd.DataFrame, base: str = "fp32", other: str = "bf16") -> str:
    """One sentence from the 'all models' row of ``compare_precisions``."""
    row = comparison.set_index("model").loc["all models"]
    interval = (f"{other} - {base} = {row.diff_mean_pts:+.3f} pt, 95% interval [{row.diff_low_pts:+.3f}, "
                f"{row.diff_high_pts:+.3f}] pt over {int(row.pairs)} paired runs; the seed spread of {base} accuracy "
                f"is {row[f'{base}_seed_std'] * 100:.3f} pt")
    if row.within_seed_spread:
        return f"{other} is within the seed spread ({interval}): it may be used for results."
    return (f"{other} is not shown to be within the seed spread ({interval}): results are trained in {base}, and "
            f"{other} is an opt-in speed setting.")
