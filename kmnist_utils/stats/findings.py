"""Sentences that state a finding, computed from the numbers they are about.

A chapter's conclusion (above or below the paper, inside the seed spread or not, tuned better than
untuned, transfer or not, a target met or missed) is never typed ahead of the results: it comes
from one of these functions, each unit-tested on synthetic results for every branch. They take
plain numbers and return plain text, so they need neither torch nor a results folder.

The rule for "inside the seed spread": the reference lies within our mean ± 2 sample standard
deviations over seeds (about where 95% of single runs fall if runs vary normally). With one seed
no spread was measured, and the sentence says so instead of judging.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
from IPython.display import Markdown

# A number that does not exist, written out: no reader may see it (``no_nan`` here, ``critic`` after a run).
NAN_WORD = re.compile(r"\bnan\b", flags=re.IGNORECASE)
SPREAD_WIDTH = 2.0  # reference within mean ± SPREAD_WIDTH * std counts as "inside the seed spread"


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
                     rounding: float = 0.0) -> str:
    """Where our per-seed values land against one reference number, and whether that is noise."""
    array = _values(values)
    return versus_reference_summary(name, float(array.mean()), seed_spread(array), int(array.size), reference, what,
                                    rounding)


def versus_reference_summary(name: str, mean: float, std: float | None, seeds: int, reference: float,
                             what: str = "the paper's", rounding: float = 0.0) -> str:
    """:func:`versus_reference` from a summary: mean, sample std over seeds (None or NaN with one seed), seeds.

    ``rounding``: how far the reference may lie from the number it was rounded from (0.0005 for the
    paper's three decimals); where that is wider than the seed spread, it is the tolerance."""
    if not math.isfinite(mean) or seeds < 1:
        raise ValueError(f"need a finite mean over one or more seeds, got mean {mean!r} over {seeds!r}")
    spread = None if seeds < 2 or std is None or not math.isfinite(std) else float(std)
    difference = mean - reference
    side = "above" if difference > 0 else "below" if difference < 0 else "equal to"
    ours = f"{mean:.4f} (one seed)" if spread is None else f"{mean:.4f} ± {spread:.4f} ({seeds} seeds)"
    head = f"{name}: {ours}, {abs(difference) * 100:.2f} pt {side} {what} {reference:.4g}"
    verdict = spread_verdict(difference, spread, rounding)
    return head + (", " if verdict[0].isalpha() and not verdict.startswith("one seed") else "; ") + verdict + "."


def spread_verdict(difference: float, spread: float | None, rounding: float = 0.0) -> str:
    """How a difference from a reference compares with the seed spread (sample std; None: one seed), e.g.
    'inside the seed spread (2 std = 0.96 pt)'; ``rounding`` as in :func:`versus_reference_summary`."""
    if abs(difference) <= rounding and (spread is None or SPREAD_WIDTH * spread < rounding):
        return f"inside the reference's rounding (± {rounding * 100:.2f} pt)"
    if spread is None:
        return "one seed, so no seed-to-seed spread was measured and this run cannot tell a real difference from noise"
    if abs(difference) <= SPREAD_WIDTH * spread:
        return f"inside the seed spread ({SPREAD_WIDTH:g} std = {SPREAD_WIDTH * spread * 100:.2f} pt)"
    if spread == 0:
        return "and every seed gave the same number"
    return f"outside the seed spread ({abs(difference) / spread:.1f} std away)"


def compare_groups(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float]) -> str:
    """Is group ``a`` better than group ``b`` (e.g. tuned vs untuned), judged against both spreads?"""
    a_arr, b_arr = _values(a), _values(b)
    difference = float(a_arr.mean() - b_arr.mean())
    head = f"{name_a} {mean_and_spread(a_arr)} vs {name_b} {mean_and_spread(b_arr)}: {points(difference)}"
    if a_arr.size == b_arr.size and np.array_equal(np.sort(a_arr), np.sort(b_arr)):
        return head + f"; identical numbers: {name_a} and {name_b} give the same results here."
    spreads = [s for s in (seed_spread(a_arr), seed_spread(b_arr)) if s is not None]
    if not spreads:
        return head + "; one seed each, so no spread was measured and the difference cannot be called real or noise."
    width = SPREAD_WIDTH * max(spreads)
    if abs(difference) <= width:
        return (
            head + f", inside the seed spread ({SPREAD_WIDTH:g} std = {width * 100:.2f} pt): no measurable difference."
        )
    better = name_a if difference > 0 else name_b
    return head + f", beyond the seed spread ({SPREAD_WIDTH:g} std = {width * 100:.2f} pt): {better} is better."


def ranking_certainty(gap_to_second: float, seed_values: Sequence[float] | None) -> str:
    """Is the grid's winner ahead of the runner-up by more than seed-to-seed noise?

    ``seed_values``: the same model's validation accuracy over seeds (``None`` when not available).
    """
    head = f"The selected point leads the runner-up by {gap_to_second * 100:.2f} pt of validation accuracy"
    spread = None if seed_values is None else seed_spread(seed_values)
    if spread is None:
        return head + ("; no seed-to-seed spread of the validation accuracy was measured, so whether the ranking "
                       "is stable is unknown.")
    if gap_to_second <= SPREAD_WIDTH * spread:
        return head + (
            f", inside the seed spread ({SPREAD_WIDTH:g} std = {SPREAD_WIDTH * spread * 100:.2f} pt over "
            f"{len(list(seed_values))} seeds): another seed could rank the points differently."
        )
    width = SPREAD_WIDTH * spread
    return head + f", beyond the seed spread ({SPREAD_WIDTH:g} std = {width * 100:.2f} pt): a clear winner."


def choice_versus_paper(ranked: pd.DataFrame, paper_choice: dict, seed_values: Sequence[float] | None) -> str:
    """Is our grid's choice really different from the paper's configuration?

    ``ranked``: the grid best first (``selection.ranked``); ``paper_choice``: the paper's learning rate,
    dropout and batch size; ``seed_values``: the Improved CNN's validation accuracy over seeds. Another
    point only counts as a different finding when the paper's point trails ours by more than the spread.
    """
    keys = list(paper_choice)
    chosen = ranked.iloc[0]
    if all(chosen[k] == paper_choice[k] for k in keys):
        return "Our grid chose the paper's configuration."
    match = ranked[(ranked[keys] == pd.Series(paper_choice)).all(axis=1)]
    if match.empty:
        return "The paper's configuration is not a point of this grid, so the two choices cannot be compared."
    gap = float(match.gap_to_best_pts.iloc[0]) / 100
    head = (f"Our grid chose another configuration than the paper's; the paper's point ranks "
            f"{int(match.index[0]) + 1} of {len(ranked)}, {gap * 100:.2f} pt of validation accuracy below ours")
    spread = None if seed_values is None else seed_spread(seed_values)
    if spread is None:
        return head + ("; no seed-to-seed spread was measured, so the two choices cannot be told apart from noise.")
    if gap <= SPREAD_WIDTH * spread:
        return head + (f", inside the seed spread ({SPREAD_WIDTH:g} std = {SPREAD_WIDTH * spread * 100:.2f} pt): "
                       "the grid does not tell the two configurations apart, and neither choice is better.")
    return head + f", beyond the seed spread ({SPREAD_WIDTH:g} std = {SPREAD_WIDTH * spread * 100:.2f} pt)."


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
