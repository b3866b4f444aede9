"""Sentences that state a finding, computed from the numbers they are about.

A chapter's conclusion (above or below the paper, reproduced or not, tuned better than
untuned, transfer or not, a target met or missed) is never typed ahead of the results: it comes
from one of these functions, each unit-tested on synthetic results for every branch. They take
plain numbers and return plain text, so they need neither torch nor a results folder.

The yardsticks (``yardsticks``): one reported number against our seeds by the 95% prediction interval for one
more run of ours, never "k standard deviations away" on a few seeds; the test set's binomial standard error
as the floor under every std; two of our models paired by seed. With one seed no spread was measured, and
the sentence says so instead of judging.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from IPython.display import Markdown

from kmnist_utils import references
from kmnist_utils.references import TEST_IMAGES
from kmnist_utils.stats.selection import grid_noise, ranked
from kmnist_utils.stats.yardsticks import Interval, paired_interval, prediction_interval_summary

# A number that does not exist, written out: no reader may see it (``no_nan`` here, ``critic`` after a run).
NAN_WORD = re.compile(r"\bnan\b", flags=re.IGNORECASE)


def _values(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"need one or more finite values, got {list(values)!r}")
    return array


def points(difference: float) -> str:
    """A difference of two proportions in percentage points: '+0.29 pt'."""
    return f"{difference * 100:+.2f} pt"


def seed_spread(values: Sequence[float]) -> float | None:
    """Sample standard deviation over seeds; ``None`` with one seed (no spread was measured)."""
    array = _values(values)
    return float(array.std(ddof=1)) if array.size > 1 else None


def mean_and_spread(values: Sequence[float], digits: int = 4) -> str:
    """'0.9711 ± 0.0013 (3 seeds)' or '0.9723 (one seed)'."""
    array = _values(values)
    spread = seed_spread(array)
    if spread is None:
        return f"{array.mean():.{digits}f} (one seed)"
    return f"{array.mean():.{digits}f} ± {spread:.{digits}f} ({array.size} seeds)"


def variation(what: str, values: Sequence[float], unit: str = "accuracy") -> str:
    """How much ``what`` (one draw per seed) moves ``unit``, or that one seed could not show it."""
    array = _values(values)
    if array.size == 1:
        return f"One seed: how much {what} moves the {unit} was not measured."
    return (f"Across {array.size} seeds, {what} moves the {unit} by a standard deviation of "
            f"{seed_spread(array) * 100:.2f} pt (range {array.min():.4f} to {array.max():.4f}).")


def versus_reference(name: str, values: Sequence[float], reference: float, what: str = "the paper's",
                     rounding: float = 0.0, n_images: int = TEST_IMAGES) -> str:
    """Where our per-seed values land against one reference number, judged by the 95% prediction interval
    for one more run of ours (std floored by the binomial standard error on ``n_images`` test images)."""
    array = _values(values)
    return versus_reference_summary(name, float(array.mean()), seed_spread(array), int(array.size), reference, what,
                                    rounding, n_images)


def versus_reference_summary(name: str, mean: float, std: float | None, seeds: int, reference: float,
                             what: str = "the paper's", rounding: float = 0.0, n_images: int = TEST_IMAGES) -> str:
    """:func:`versus_reference` from a summary: mean, sample std over seeds (None or NaN with one seed), seeds.

    ``rounding``: how far the reference may lie from the number it was rounded from (0.0005 for the
    paper's three decimals): a reference whose rounding range meets the interval is inside it."""
    if not math.isfinite(mean) or seeds < 1:
        raise ValueError(f"need a finite mean over one or more seeds, got mean {mean!r} over {seeds!r}")
    interval = prediction_interval_summary(mean, std, seeds, n_images)
    difference = mean - reference
    side = "above" if difference > 0 else "below" if difference < 0 else "equal to"
    ours = f"{mean:.4f} (one seed)" if interval is None else f"{mean:.4f} ± {std:.4f} ({seeds} seeds)"
    return f"{name}: {ours}, {abs(difference) * 100:.2f} pt {side} {what} {reference:.4g}; " + \
        interval_verdict_text(reference, interval, rounding) + "."


def interval_verdict_text(reference: float, interval: Interval | None, rounding: float = 0.0,
                          of: str = "one more run of ours") -> str:
    """'inside the 95% prediction interval for one more run of ours [0.9577, 0.9745]', or outside it, or that
    one seed gives no interval; says when the test set's binomial floor set the width."""
    if interval is None:
        return "one seed, so no spread was measured and no prediction interval can be given"
    where = "inside" if interval.holds(reference, rounding) else "outside"
    floor = " (its width set by the test set's binomial standard error)" if interval.floored else ""
    return f"{where} the 95% prediction interval for {of} {interval.text()}{floor}"


def versus_paper_runs(name: str, mean: float, std: float | None, seeds: int, paper: Mapping[str, float],
                      roundings: Mapping[str, float] | None = None, n_images: int = TEST_IMAGES) -> str:
    """Our mean over seeds against each of the paper's runs of its code (label -> value: Table I and its
    notebook) and :func:`reproduction_verdict`."""
    ours = f"{mean:.4f} (one seed)" if seeds < 2 else f"{mean:.4f} ± {std:.4f} ({seeds} seeds)"
    runs = ", ".join(f"{label} {value:.{3 if (roundings or {}).get(label) else 4}f} ({points(mean - value)})"
                     for label, value in paper.items())
    values, rounding = list(paper.values()), max((roundings or {}).values(), default=0.0)
    spread = abs(max(values) - min(values))
    apart = ("" if len(values) < 2 else f"; the paper's own {len(values)} runs agree within Table I's rounding"
             if spread <= rounding else f"; the paper's own {len(values)} runs differ by {spread * 100:.2f} pt")
    verdict = reproduction_verdict(mean, std, seeds, paper, roundings, n_images)
    return f"{name}: ours {ours} against the paper's {runs}{apart}; {verdict}."


def reproduction_verdict(mean: float, std: float | None, seeds: int, paper: Mapping[str, float],
                         roundings: Mapping[str, float] | None = None, n_images: int = TEST_IMAGES) -> str:
    """:func:`interval_reproduction` with the 95% prediction interval for one more run of ours."""
    return interval_reproduction(prediction_interval_summary(mean, std, seeds, n_images), paper, roundings)


def reproduction_label(interval: Interval | None, paper: Mapping[str, float],
                       roundings: Mapping[str, float] | None = None) -> str:
    """The verdict alone: 'reproduced' (every run of the paper's falls where one more of ours would), 'not
    reproduced' (none does), 'within the paper's own run-to-run noise' (some do), or 'no verdict (one seed)'."""
    if interval is None:
        return "no verdict (one seed)"
    held = _held(interval, paper, roundings)
    return ("reproduced" if len(held) == len(paper) else "not reproduced" if not held
            else "within the paper's own run-to-run noise")


def _held(interval: Interval, paper: Mapping[str, float], roundings: Mapping[str, float] | None) -> list[str]:
    """The paper's runs (labels) that can lie inside ``interval``, each within its rounding."""
    return [label for label, value in paper.items() if interval.holds(value, (roundings or {}).get(label, 0.0))]


def interval_reproduction(interval: Interval | None, paper: Mapping[str, float],
                          roundings: Mapping[str, float] | None = None, digits: int = 4, unit: str = "",
                          floor_note: bool = True) -> str:
    """Each of the paper's runs (label -> value) against the 95% prediction interval for one more run of ours,
    with the paper's own run-to-run difference taken into account (:func:`reproduction_label`), and which runs
    fall inside; ``floor_note``: say when the binomial floor set the interval's width, and what the seeds'
    own std alone would say."""
    if interval is None:
        return "one seed, so no prediction interval: this run cannot call it reproduced or not"
    within = f"95% prediction interval for one more run of ours {interval.text(digits)}{unit}"
    held = _held(interval, paper, roundings)
    floor = ""
    if interval.floored and floor_note:
        alone = [label for label in held if label not in _held(interval.unfloored(), paper, roundings)]
        floor = (" (its width set by the test set's binomial standard error"
                 + (f"; on the seeds' own std alone, {' and '.join(alone)} would be outside)" if alone else ")"))
    label = reproduction_label(interval, paper, roundings)
    if label == "reproduced":
        return f"reproduced: {'both' if len(paper) == 2 else 'every one'} inside the {within}{floor}"
    if label == "not reproduced":
        return f"not reproduced: {'neither' if len(paper) == 2 else 'none'} inside the {within}{floor}"
    outside = [name for name in paper if name not in held]
    return f"{label}: {', '.join(held)} inside the {within}{floor}, {', '.join(outside)} outside"


def paired_comparison(name_a: str, a: pd.Series, name_b: str, b: pd.Series, n_images: int = TEST_IMAGES) -> str:
    """Is model ``a`` better than model ``b``, paired by seed? ``a`` and ``b``: accuracy indexed by seed; the
    seeds both have are paired, and the mean difference is judged by the t interval of the per-seed
    differences (std floored by the binomial standard error on ``n_images`` test images)."""
    seeds = [s for s in a.index if s in set(b.index)]
    if not seeds:
        raise ValueError(f"{name_a} and {name_b} share no seed: they cannot be paired")
    diff = [float(a[s]) - float(b[s]) for s in seeds]
    head = (f"{name_a} against {name_b}, paired by seed: {points(float(np.mean(diff)))} "
            f"(per seed {', '.join(f'{d * 100:+.2f}' for d in diff)} pt")
    interval = paired_interval([a[s] for s in seeds], [b[s] for s in seeds], n_images)
    if interval is None:
        return head + "); one pair, so no interval: it cannot tell a difference from noise."
    head += f"; 95% interval {points(interval.low)} to {points(interval.high)} over {len(seeds)} seeds)"
    if interval.low > 0:
        return head + f": {name_a} is better, beyond the noise."
    if interval.high < 0:
        return head + f": {name_b} is better, beyond the noise."
    return head + ": the interval includes 0, no measurable difference."


def tuning_effect(tuned: Mapping[str, pd.Series], improved: pd.Series, n_images: int = TEST_IMAGES) -> list[str]:
    """Does tuning help? Each TunedImprovedCNN (label -> accuracy by seed: our grid's pick, the paper's picks)
    against the Improved CNN of the same seeds, paired by seed."""
    return [paired_comparison(f"TunedImprovedCNN at {label}", accuracy, "the Improved CNN", improved, n_images)
            for label, accuracy in tuned.items()]


def ranking_certainty(gap_to_second: float, noise: float | None) -> str:
    """Is the grid's winner ahead of the runner-up by more than the noise on one run's gap between two points?

    ``noise``: the 95% half-width of that noise (``yardsticks.grid_gap_noise``; None: not measured)."""
    head = f"The selected point leads the runner-up by {gap_to_second * 100:.2f} pt of validation accuracy"
    if noise is None:
        return head + ("; the grid is one seed and no second run of it was compared, so whether the ranking is "
                       "stable is unknown.")
    if gap_to_second <= noise:
        return head + (f", within the noise on one run's gap between two points (95%: ± {noise * 100:.2f} pt): "
                       "another run could rank them the other way.")
    return head + f", beyond the noise on one run's gap between two points (± {noise * 100:.2f} pt)."


def choice_versus_paper(ranked: pd.DataFrame, paper_choice: dict, noise: float | None,
                        whose: str = "the paper's text") -> str:
    """Is our grid's choice really different from ``whose`` configuration?

    ``ranked``: the grid best first (``selection.ranked``); ``paper_choice``: that configuration's learning
    rate, dropout and batch size; ``noise`` as for :func:`ranking_certainty`. The other point only counts as a
    different finding when it trails ours by more than the noise on one run's gap."""
    keys = list(paper_choice)
    chosen = ranked.iloc[0]
    if all(chosen[k] == paper_choice[k] for k in keys):
        return f"Our grid chose the configuration of {whose}."
    match = ranked[(ranked[keys] == pd.Series(paper_choice)).all(axis=1)]
    if match.empty:
        return f"The configuration of {whose} is not a point of this grid, so the two choices cannot be compared."
    gap = float(match.gap_to_best_pts.iloc[0]) / 100
    head = f"the pick of {whose} ranks {int(match.index[0]) + 1} of {len(ranked)}, {gap * 100:.2f} pt below ours"
    if noise is None:
        return head + " (no second run of the grid was compared: not told apart from noise)"
    if gap <= noise:
        return head + " (within the noise: not told apart)"
    return head + " (beyond the noise)"


def grid_noise_sentence(differences: Sequence[float], noise: float, other: str) -> str:
    """Where the grid's yardstick comes from: the same points of two runs of the grid."""
    array = _values(differences)
    return (f"The grid's own noise, from two runs of it: our grid and {other} (one seed each) differ point by point "
            f"by {points(float(array.mean()))} on average with a std of {array.std(ddof=1) * 100:.2f} pt over "
            f"{array.size} points; a shift common to a run cancels in a gap, so one run's gap between two points "
            f"carries up to ± {noise * 100:.2f} pt of noise (95%).")


def grid_picks(picks: Mapping[str, dict], elsewhere: str = "") -> str:
    """The grid's pick as a measured quantity: what each run named picked (label -> configuration);
    ``elsewhere``: where more runs are listed."""
    said = "; ".join(f"{label}: lr {c['learning_rate']:g}, dropout {c['dropout']:g}, batch {int(c['batch_size'])}"
                     for label, c in picks.items())
    distinct = {tuple(sorted(c.items())) for c in picks.values()}
    verdict = ("all picked the same point" if len(distinct) == 1 else
               f"{len(distinct)} different points from {len(picks)} runs: the pick is itself a noisy measurement")
    return f"The grid's pick across runs ({said}): {verdict}{elsewhere}."


def grid_training(grid: pd.DataFrame) -> str:
    """'one seed, 3 epochs a point': what the grid trained, read from its table."""
    seeds = grid.seed.nunique() if "seed" in grid else 0
    trained = "one seed" if seeds == 1 else f"{seeds} seeds" if seeds else "seeds not recorded"
    epochs = int(grid.epochs.iloc[0]) if "epochs" in grid else None
    return f"{trained}, " + (f"{epochs} epoch{'s' * (epochs != 1)} a point" if epochs else "epochs not recorded")


def grid_findings(grid: pd.DataFrame, selected: Mapping[str, Any]) -> list[str]:
    """Chapter 04's sentences on its grid: the selected point, the paper's two picks against it, where the
    yardstick comes from (the paper's notebook's run of the same grid), its lead, and the pick across runs."""
    noise = grid_noise(grid)
    gap_noise = None if noise is None else noise[1]
    order = ranked(grid)
    pick = {"learning_rate": float(selected["learning_rate"]), "dropout": float(selected["dropout"]),
            "batch_size": int(selected["batch_size"])}
    picks = [choice_versus_paper(order, references.TUNED_CONFIG, gap_noise, "the paper's text"),
             choice_versus_paper(order, references.NOTEBOOK_TUNED_CONFIG, gap_noise, "the paper's notebook")]
    lines = [
        f"The grid search ({grid_training(grid)}) chose {references.config_text(pick)} (validation accuracy "
        f"{order.val_acc.iloc[0]:.4f}); in it, " + " and ".join(picks) + ".",
        ranking_certainty(order.gap_to_best_pts.iloc[1] / 100, gap_noise),
        grid_picks({"this run": pick, "the paper's notebook": references.NOTEBOOK_TUNED_CONFIG,
                    "the paper's text": references.TUNED_CONFIG}, "; earlier runs of ours picked others too "
                   "(docs/history.md)"),
    ]
    if noise is not None:
        lines.insert(1, grid_noise_sentence(noise[0], noise[1], "the paper's notebook's"))
    return lines


def training_stop(name: str, epochs_run: int, best_epoch: int, max_epochs: int, patience: int | None) -> str:
    """Why a run ended: its validation loss stopped improving, or it ran out of epochs while still improving."""
    if patience is not None and epochs_run - best_epoch >= patience:
        return (
            f"{name}: stopped after {epochs_run} epochs, {patience} without a better validation loss; "
            f"the weights of epoch {best_epoch} are kept."
        )
    still = " and was still improving at the end" if best_epoch == epochs_run else ""
    return f"{name}: ran all {max_epochs} epochs allowed{still}; best validation loss at epoch {best_epoch}" + (
        ", so longer training may help." if best_epoch == epochs_run else "."
    )


def generalisation_gap(name_a: str, a: float, name_b: str, b: float) -> str:
    """'validation 0.9896 vs test 0.9723: test is 1.73 pt lower' - with the direction computed."""
    difference = a - b
    if difference == 0:
        return f"{name_a} {a:.4f} and {name_b} {b:.4f} are equal."
    lower = name_b if difference > 0 else name_a
    return f"{name_a} {a:.4f} vs {name_b} {b:.4f}: {lower} is {abs(difference) * 100:.2f} pt lower."


def target_verdict(name: str, achieved: float, target: float) -> str:
    """'met' or 'missed by X pt', from the numbers ('accepts nothing' when there is no accuracy)."""
    if math.isnan(achieved):
        return f"{name}: accepts nothing, so the target {target:.4g} holds only by routing everything to a person."
    if achieved >= target:
        return f"{name}: {achieved:.4f}, meets the target {target:.4g} ({points(achieved - target)})."
    return f"{name}: {achieved:.4f}, misses the target {target:.4g} by {abs(achieved - target) * 100:.2f} pt."


def draws_versus_reference(
    name: str, draw_values: Sequence[float], reference: float, what: str = "the paper's single draw"
) -> str:
    """A mean over random support draws against one reported draw, judged by the spread of the draws: the
    reference's percentile among ours, and whether one draw like it is within their central 95%."""
    array = _values(draw_values)
    mean = float(array.mean())
    percentile = float((array < reference).mean() * 100)
    side = "at or above" if mean >= reference else "below"
    low, high = np.percentile(array, [2.5, 97.5])
    inside = low <= reference <= high
    verdict = (f"inside the central 95% of our draws [{low:.4f}, {high:.4f}]: one draw like it is within draw-to-draw "
               "noise" if inside else f"outside the central 95% of our draws [{low:.4f}, {high:.4f}]")
    return (
        # The std of every draw pooled, not a table's spread within one encoder seed: say which.
        f"{name}: mean {mean:.4f} over {array.size} draws (std of all {array.size}: "
        f"{array.std(ddof=1) if array.size > 1 else 0:.4f}), "
        f"{side} {what} ({reference:.4f}, {points(mean - reference)}); "
        f"{reference:.4f} sits at the {percentile:.0f}th percentile of our draws, {verdict}."
    )


def interval_verdict(name: str, difference: float, low: float, high: float, against: str, over: str) -> str:
    """A paired difference with its 95% interval: better, worse, or not measurably different."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return (f"{name}: {points(difference)} against {against}; one value, no interval: it cannot tell a "
                "change from noise.")
    head = f"{name}: {points(difference)} against {against} (95% interval {points(low)} to {points(high)} over {over})"
    if low > 0:
        return head + ": better, beyond the noise."
    if high < 0:
        return head + ": worse, beyond the noise."
    return head + ": the interval includes 0, no measurable difference."


def transfer_verdicts(summary: pd.DataFrame, differences: pd.DataFrame) -> list[str]:
    """Does each encoder transfer to classes it never saw? Per number of seen classes, from the paired
    differences to each baseline (``oneshot.unseen_differences``: same class split, same support draws)
    and their 95% intervals over the splits: it transfers when every difference's interval lies above
    zero, it does not when any interval lies below zero, and otherwise transfer is not shown.
    ``summary`` (``oneshot.summarize_unseen``) gives each encoder's own accuracy."""
    accuracy = summary.set_index(["seen_classes", "embedding"]).accuracy
    lines = []
    for (seen, encoder), group in differences.groupby(["seen_classes", "encoder"], sort=False):
        parts, above, below = [], 0, 0
        for row in group.itertuples():
            if not (math.isfinite(row.ci95_low) and math.isfinite(row.ci95_high)):
                parts.append(f"{points(row.difference)} against {row.baseline} (one split: no interval)")
                continue
            above += row.ci95_low > 0
            below += row.ci95_high < 0
            parts.append(f"{points(row.difference)} against {row.baseline} "
                         f"(95% interval {row.ci95_low * 100:+.2f} to {row.ci95_high * 100:+.2f} pt)")
        way = int(group.way.iloc[0])
        head = f"{encoder}, {seen} classes seen ({way}-way 1-shot on the others, {accuracy[seen, encoder]:.4f})"
        if above == len(group):
            verdict = "transfers: it beats every baseline on classes it never saw"
        elif below:
            verdict = "does not transfer: a baseline is better on classes it never saw"
        else:
            verdict = "transfer not shown: an interval includes zero"
        lines.append(f"{head} {verdict}; {'; '.join(parts)}.")
    return lines


def sanity_summary(failing: Sequence[str], passing: Sequence[str]) -> str:
    """Which saliency methods fail the randomisation check: the sentence that goes with Figure 7."""
    if not failing:
        return (f"Every method passes the randomisation check ({', '.join(passing)}): each map depends on the "
                "learned weights.")
    if not passing:
        return (f"Every method fails the randomisation check ({', '.join(failing)}): no map of Figure 7 may be read "
                "as an explanation of this model.")
    return (f"Failing the randomisation check: {', '.join(failing)} (its maps in Figure 7 are not explanations of "
            f"this model); passing: {', '.join(passing)}.")


def saliency_verdict(
    method: str, trained_vs_random_rho: float, max_rho: float, stroke_mass: float, stroke_pixels: float
) -> str:
    """Does an attribution method pass the randomisation check, and does it highlight the strokes?"""
    passes = trained_vs_random_rho < max_rho
    check = (
        f"passes the randomisation check (trained-vs-random rho {trained_vs_random_rho:.2f} < {max_rho:g})"
        if passes
        else f"FAILS the randomisation check (trained-vs-random rho {trained_vs_random_rho:.2f} >= {max_rho:g}): "
        "its maps look the same without the learned weights, so they do not explain this model"
    )
    ratio = stroke_mass / stroke_pixels if stroke_pixels > 0 else float("inf")
    head = (f"{method}: {check}; {stroke_mass:.0%} of its attribution lies on stroke pixels, which are "
            f"{stroke_pixels:.0%} of the image ({ratio:.1f}x their share)")
    if not passes:
        return head + "."
    claim = "the paper's reading (the maps highlight the strokes and largely ignore the background)"
    if ratio >= 1.25 and stroke_mass >= 0.5:
        return head + f": concentrated on the strokes, so {claim} is reproduced by this measure."
    if ratio >= 1.25:
        return (head + f": denser on the strokes than elsewhere, yet {1 - stroke_mass:.0%} of it lies off them, so "
                f"{claim} is not reproduced by this measure.")
    where = "mostly off the strokes" if ratio <= 0.8 else "spread about evenly over strokes and background"
    return head + f": {where}, so {claim} is not reproduced by this measure."


def _share(value: float) -> str:
    """A share as a percentage, with its tenth when it has one (5.5%, not 6%, beside another 5.5%)."""
    return f"{value:.0%}" if round(value * 100, 1) == round(value * 100) else f"{value:.1%}"


def certification_level(delta: float, splits: int, calibration_images: int | None = None) -> str:
    """What a certified threshold promises, stated beside every certified-routing table."""
    part = ("a calibration half" if calibration_images is None
            else f"a calibration part of {calibration_images:,} images")
    return (
        f"Certification level: each threshold is certified on {part} of the official test set with the one-sided "
        f"exact binomial test at delta = {delta:g}, so with probability at least {1 - delta:.0%} over the "
        f"calibration draw the accepted images' accuracy is at least the target; it is then checked on the "
        f"disjoint rest of the test set, over {splits} random splits."
    )


def routing_verdict(
    target: float, share_certified_and_missed: float, delta: float, coverage: float, share_certified: float
) -> str:
    """Certified routing for one target, judged by what the guarantee promises: that a threshold whose
    accuracy misses the target is certified with probability at most ``delta`` (unconditionally, over
    calibration draws). The evaluation part measures that accuracy with its own sampling noise, so a
    share of certified-and-missed splits above ``delta`` is no proof of a broken guarantee (a threshold
    exactly at the target misses there about half the time); one at or below ``delta`` is consistent with
    it. Routing every image to a person is said as such, never called a met target."""
    if share_certified == 0:
        return (
            f"Target {target:.1%}: no threshold could be certified in any split, so every image goes to a person: "
            "the target is not met, nothing is automated."
        )
    rest = "" if share_certified == 1 else f" (the other {_share(1 - share_certified)} send every image to a person)"
    head = (f"Target {target:.1%}: a threshold was certified in {_share(share_certified)} of the splits{rest}; in "
            f"{share_certified_and_missed:.1%} of all splits a certified threshold missed the target on the "
            f"evaluation part (the guarantee bounds such misses of the true accuracy at delta = {delta:.0%})")
    if share_certified_and_missed <= delta:
        verdict = "consistent with the guarantee"
    else:
        verdict = ("more than delta, which the evaluation part's own sampling noise can cause: this check is "
                   "stricter than the guarantee and does not show it broken")
    return f"{head}: {verdict}; mean coverage {coverage:.1%}, so {1 - coverage:.1%} of the images go to a person."


def simulated_guarantee(target: float, trials: int, certified: float, violated: float,
                        eval_missed_when_certified: float, delta: float) -> str:
    """What the certification does where the population accuracy is known (``calibration.simulate_guarantee``)."""
    if certified == 0:
        return (f"Simulation, target {target:.1%}: no threshold was certified in {trials} trials, so the guarantee "
                "was not exercised.")
    verdict = "within" if violated <= delta else "above"
    return (f"Simulation with known population accuracy, target {target:.1%}: certified in {certified:.0%} of "
            f"{trials} trials; a certified threshold's true accuracy missed the target in {violated:.1%} of all "
            f"trials ({verdict} delta = {delta:.0%}), while a fresh evaluation sample missed it in "
            f"{eval_missed_when_certified:.1%} of the certified trials: the evaluation check is stricter than "
            "the guarantee.")


RESULTS_PROFILE = "paper"  # the only profile whose numbers say anything about the methods


def for_profile(profile: str, line: str) -> str:
    """A finding as a run of ``profile`` may state it: a smoke (or any non-paper) run's numbers come from
    tiny subsets and an epoch or two, so each of its sentences says that it means nothing."""
    if profile == RESULTS_PROFILE:
        return line
    return f"[{profile} run: tiny data, meaningless numbers; this only checks that the code runs] {line}"


def show(ctx, lines: Sequence[str]) -> Markdown:
    """Generated findings of the run ``ctx`` as a Markdown bullet list for a notebook (each checked for
    'nan', each marked as meaningless outside the paper profile)."""
    return Markdown("\n".join(f"- {no_nan(for_profile(ctx.profile.name, line))}" for line in lines))


def no_nan(text: str) -> str:
    """Guard for generated prose: a 'nan' means a sentence was written for numbers that do not exist."""
    if NAN_WORD.search(text):
        raise ValueError(f"generated sentence contains 'nan': {text!r}")
    return text
