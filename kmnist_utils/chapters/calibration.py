"""Confidence you can act on: temperature scaling, calibration error and confidence-based routing.

The paper proposes routing low-confidence predictions to a human but never measures it. A single
temperature is fitted by NLL (Guo et al. 2017). Thresholds picked as "the lowest that reaches the
target on some data" promise nothing on other data: the validation split (drawn from the training
set) is easier than the official test set, so such thresholds miss their targets there. Routing
therefore certifies thresholds on a calibration part of the test distribution with an exact
binomial test (Learn then Test, Angelopoulos et al. 2021), and reports on a disjoint part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import binom
from torch.nn import functional as F

from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.stats import findings

ROUTING_TARGETS = (0.99, 0.995, 0.999)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iter: int = 200) -> float:
    """The temperature T > 0 that minimises the NLL of softmax(logits / T); fitted in log T."""
    if len(logits) != len(labels) or len(logits) == 0:
        raise ValueError(f"need as many labels as logits rows (and at least one), got {len(logits)} and {len(labels)}")
    z = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def reliability_table(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> pd.DataFrame:
    """Equal-width confidence bins: count, mean confidence and accuracy of the top-1 prediction."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    probs, labels = np.asarray(probs), np.asarray(labels)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Bins are (lower, upper]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        members = index == b
        rows.append({
            "bin_lower": edges[b], "bin_upper": edges[b + 1], "count": int(members.sum()),
            "confidence": float(confidence[members].mean()) if members.any() else np.nan,
            "accuracy": float(correct[members].mean()) if members.any() else np.nan,
        })
    return pd.DataFrame(rows)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Sum over bins of (share of items) x |accuracy - confidence|."""
    table = reliability_table(probs, labels, n_bins)
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def risk_coverage(confidence: np.ndarray, correct: np.ndarray) -> pd.DataFrame:
    """Accept the k most confident items, for every k: coverage and accuracy of the accepted ones."""
    order = np.argsort(-np.asarray(confidence), kind="mergesort")
    hits = np.cumsum(np.asarray(correct)[order])
    k = np.arange(1, len(order) + 1)
    return pd.DataFrame({"threshold": np.asarray(confidence)[order], "coverage": k / len(order), "accuracy": hits / k})


def accepted_stats(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> tuple[float, float]:
    """Coverage and accuracy of the items with confidence >= threshold (accuracy NaN if none)."""
    accepted = np.asarray(confidence) >= threshold
    coverage = float(accepted.mean())
    accuracy = float(np.asarray(correct)[accepted].mean()) if accepted.any() else float("nan")
    return coverage, accuracy


def threshold_for_accuracy(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold whose accepted items (confidence >= threshold) reach ``target`` accuracy.

    Returns ``inf`` (accept nothing, route everything) when no threshold reaches the target.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {target}")
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    candidates = np.unique(confidence)[::-1]  # high to low: coverage grows as we go
    order = np.argsort(-confidence, kind="mergesort")
    sorted_conf, hits = confidence[order], np.cumsum(correct[order])
    best = np.inf
    for t in candidates:
        k = np.searchsorted(-sorted_conf, -t, side="right")  # items with confidence >= t
        if hits[k - 1] / k >= target:
            best = t
    return float(best)


def routing_table(
    conf_val: np.ndarray, correct_val: np.ndarray, conf_test: np.ndarray, correct_test: np.ndarray,
    targets: tuple[float, ...] = ROUTING_TARGETS,
) -> pd.DataFrame:
    """Thresholds chosen on validation for each target accuracy, then checked on test."""
    rows = []
    for target in targets:
        t = threshold_for_accuracy(conf_val, correct_val, target)
        val_cov, val_acc = accepted_stats(conf_val, correct_val, t)
        test_cov, test_acc = accepted_stats(conf_test, correct_test, t)
        rows.append({
            "target_accuracy": target, "threshold": t,
            "val_coverage": val_cov, "val_accuracy": val_acc,
            "test_coverage": test_cov, "test_accuracy": test_acc,
            "test_routed_to_human": 1 - test_cov,
            "test_meets_target": bool(test_acc >= target) if test_cov > 0 else False,
        })
    return pd.DataFrame(rows)


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(true class); probabilities are floored at 1e-12 so a confident miss stays finite."""
    probs, labels = np.asarray(probs), np.asarray(labels)
    return float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean())


def confidence_and_correct(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 probability of every item and whether its top-1 class is the label."""
    probs = np.asarray(probs)
    return probs.max(axis=1), probs.argmax(axis=1) == np.asarray(labels)


def calibration_summary(
    logits: dict[str, np.ndarray], labels: dict[str, np.ndarray], temperature: float
) -> pd.DataFrame:
    """ECE and NLL of each split before and after scaling by ``temperature``: one row per (split, scaling)."""
    rows = []
    for split, split_logits in logits.items():
        for scaling, t in (("before", 1.0), ("after", temperature)):
            probs = softmax(split_logits, t)
            rows.append(
                {
                    "split": split,
                    "scaling": scaling,
                    "temperature": t,
                    "ece": expected_calibration_error(probs, labels[split]),
                    "nll": negative_log_likelihood(probs, labels[split]),
                }
            )
    return pd.DataFrame(rows)


def distinct_digits(first: float, second: float, digits: int = 4) -> tuple[str, str]:
    """The two values with enough decimals (``digits`` to 7) that unequal values do not print alike."""
    while digits < 7 and f"{first:.{digits}f}" == f"{second:.{digits}f}" and first != second:
        digits += 1
    return f"{first:.{digits}f}", f"{second:.{digits}f}"


def scaling_findings(summary: pd.DataFrame) -> list[str]:
    """Per model of ``summary`` (``calibration_summary`` rows with a ``model`` column): what the temperature
    fitted on validation does to the test set's ECE and NLL, said as it is, worse included. A temperature
    below 1 sharpens the probabilities: it helps only if the model is underconfident on test too."""
    lines = []
    for model, rows in summary.groupby("model", sort=False):
        test = rows[rows.split == "test"].set_index("scaling")
        t = float(test.loc["after", "temperature"])
        changes, verdicts = [], []
        for metric, label in (("ece", "ECE"), ("nll", "NLL")):
            before, after = float(test.loc["before", metric]), float(test.loc["after", metric])
            verdict = "better" if after < before else "worse" if after > before else "unchanged"
            first, then = distinct_digits(before, after)
            changes.append(f"test {label} {first} -> {then} ({verdict})")
            verdicts.append(verdict)
        kind = "sharpens (T < 1)" if t < 1 else "softens (T > 1)" if t > 1 else "leaves"
        if "worse" in verdicts and "better" in verdicts:
            tail = ("; the two measures disagree, so the temperature fitted on validation is not shown to carry "
                    "over to the test set")
        elif "worse" in verdicts:
            tail = ("; the temperature fitted on validation does not carry over to the test set, so the unscaled "
                    "probabilities are the better calibrated ones here")
        else:
            tail = ""
        lines.append(f"{model}: temperature {t:.2f} {kind} the probabilities: {', '.join(changes)}{tail}.")
    return lines


def reliability_panels(
    logits: np.ndarray, labels: np.ndarray, temperature: float, name: str = "test"
) -> dict[str, tuple[pd.DataFrame, float]]:
    """Reliability table and ECE before and after temperature scaling, titled for a figure."""
    panels = {}
    for title, t in ((f"{name}, before scaling", 1.0), (f"{name}, after scaling (T={temperature:.2f})", temperature)):
        probs = softmax(logits, t)
        panels[title] = (reliability_table(probs, labels), expected_calibration_error(probs, labels))
    return panels


# --------------------------------------------------------------------------- certified routing


def binomial_p_value(errors: np.ndarray | int, accepted: np.ndarray | int, max_error: float) -> np.ndarray:
    """Exact p-value of "error rate > max_error" given ``errors`` among ``accepted`` items: P(Bin(n, a) <= k).

    Small values mean the accepted items' error rate is below ``max_error`` with confidence
    1 - p (the one-sided Clopper-Pearson bound). With nothing accepted the p-value is 1.
    """
    errors, accepted = np.asarray(errors), np.asarray(accepted)
    return np.where(accepted > 0, binom.cdf(errors, np.maximum(accepted, 1), max_error), 1.0)


def zero_error_sample_size(target: float, delta: float) -> int:
    """The fewest accepted items that can certify ``target`` at level ``delta``: all of them right."""
    return int(np.ceil(np.log(delta) / np.log(target)))


def certify_threshold(
    confidence: np.ndarray,
    correct: np.ndarray,
    target: float,
    candidates: np.ndarray,
    delta: float = 0.05,
) -> dict:
    """The lowest candidate threshold certified to give accuracy >= ``target`` on accepted items.

    Fixed-sequence testing over ``candidates`` from high to low (Learn then Test): each is tested
    with the exact binomial test at level ``delta`` and the sequence stops at the first that fails,
    so the chance that a threshold whose true accuracy is below ``target`` is returned is at most
    ``delta``, without a multiplicity correction. The sequence starts at the first candidate under
    which the calibration items accepted could pass at all (``zero_error_sample_size`` of them): a
    count of this part's own scores, which looks at no label. (Starting from the share a candidate
    accepts on other data fails when that data is more confident: the first test then sees a handful
    of items, cannot pass, and ends the sequence.) Returns the threshold (``inf``: nothing certified,
    route everything), the number of accepted calibration items, their errors and the p-value of the
    chosen threshold.
    """
    if not 0 < target < 1:
        raise ValueError(f"target accuracy must be in (0, 1), got {target}")
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    if len(confidence) != len(correct):
        raise ValueError(f"confidence and correct differ in length: {len(confidence)} vs {len(correct)}")
    candidates = np.asarray(candidates, dtype=np.float64)
    if np.any(np.diff(candidates) > 0):
        raise ValueError("candidates must be ordered from the highest threshold to the lowest")
    accepted = confidence[None, :] >= candidates[:, None]
    feasible = accepted.sum(axis=1) >= zero_error_sample_size(target, delta)  # counts scores, not labels
    candidates, accepted = candidates[feasible], accepted[feasible]
    n = accepted.sum(axis=1)
    k = (accepted & ~correct[None, :]).sum(axis=1)
    p = binomial_p_value(k, n, 1 - target)
    failed = np.flatnonzero(p > delta)
    passed = len(candidates) if len(failed) == 0 else failed[0]
    if passed == 0:
        return {"threshold": float("inf"), "cal_accepted": 0, "cal_errors": 0, "p_value": float("nan")}
    i = passed - 1
    return {
        "threshold": float(candidates[i]),
        "cal_accepted": int(n[i]),
        "cal_errors": int(k[i]),
        "p_value": float(p[i]),
    }


def stratified_halves(labels: np.ndarray, calibration_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of item indices into a calibration part and a disjoint evaluation part."""
    if not 0 < calibration_share < 1:
        raise ValueError(f"calibration_share must be in (0, 1), got {calibration_share}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    calibration = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        calibration.append(members[: int(round(calibration_share * len(members)))])
    calibration = np.sort(np.concatenate(calibration))
    evaluation = np.setdiff1d(np.arange(len(labels)), calibration)
    return calibration, evaluation


def certified_routing(
    logits: np.ndarray,
    labels: np.ndarray,
    reference_logits: np.ndarray,
    temperature: float,
    targets: tuple[float, ...] = ROUTING_TARGETS,
    splits: int = 100,
    calibration_share: float = 0.5,
    delta: float = 0.05,
    seed: int = 0,
) -> pd.DataFrame:
    """Routing certified on one part of the test set and checked on the other, over seeded random splits.

    The score is the top-1 probability after scaling by ``temperature``, and the candidate
    thresholds are quantiles of the reference (validation) scores: both are fixed before any test
    label is seen, as the guarantee of :func:`certify_threshold` requires. For each split and
    target, the calibration part certifies a threshold and the disjoint evaluation part measures
    the accuracy of what it accepts and the share sent to a person. One row per (split, target).
    """
    logits, labels = np.asarray(logits), np.asarray(labels)
    if len(logits) != len(labels):
        raise ValueError(f"need one label per logits row, got {len(logits)} rows and {len(labels)} labels")
    coverages = np.linspace(0.01, 1.0, 100)
    reference = softmax(reference_logits, temperature).max(axis=1)
    candidates = np.quantile(reference, 1 - coverages, method="higher")  # high to low
    confidence, correct = confidence_and_correct(softmax(logits, temperature), labels)
    rows = []
    for split in range(splits):
        cal, ev = stratified_halves(labels, calibration_share, derived_seed(seed, split))
        for target in targets:
            chosen = certify_threshold(confidence[cal], correct[cal], target, candidates, delta)
            coverage, accuracy = accepted_stats(confidence[ev], correct[ev], chosen["threshold"])
            rows.append(
                {
                    "split": split,
                    "target_accuracy": target,
                    "delta": delta,
                    **chosen,
                    "eval_items": len(ev),
                    "eval_coverage": coverage,
                    "eval_accuracy": accuracy,
                    "eval_routed_to_human": 1 - coverage,
                    # A target is met only on images a machine accepted: routing everything is no success.
                    "eval_meets_target": bool(coverage > 0 and accuracy >= target),
                }
            )
    return pd.DataFrame(rows)


def summarize_certified_routing(rows: pd.DataFrame) -> pd.DataFrame:
    """Per target over the splits: the share that certified a threshold (the others send every image to
    a person), the share whose evaluation part met the target on what it accepted (routing everything
    counts as not met), the same among the certified splits only (what the guarantee is about:
    at least 1 - delta; empty when none was certified), coverage and accuracy."""
    rows = rows.assign(certified=np.isfinite(rows["threshold"]))
    grouped = rows.groupby("target_accuracy")
    where_certified = rows[rows.certified].groupby("target_accuracy")["eval_meets_target"].mean()
    return pd.DataFrame(
        {
            "splits": grouped.size(),
            "share_meeting_target": grouped["eval_meets_target"].mean(),
            "share_certified": grouped["certified"].mean(),
            "share_meeting_when_certified": where_certified.reindex(grouped.size().index),
            # What the guarantee bounds (at most delta, unconditionally): a threshold certified whose accuracy
            # misses the target; measured here on the evaluation part, whose own noise adds misses.
            "share_certified_and_missed": (rows.certified & ~rows.eval_meets_target).groupby(
                rows.target_accuracy).mean(),
            "coverage_mean": grouped["eval_coverage"].mean(),
            "coverage_p05": grouped["eval_coverage"].quantile(0.05),
            "coverage_p95": grouped["eval_coverage"].quantile(0.95),
            "accuracy_mean": grouped["eval_accuracy"].mean(),
            "accuracy_p05": grouped["eval_accuracy"].quantile(0.05),
            "routed_to_human_mean": grouped["eval_routed_to_human"].mean(),
        }
    ).reset_index()


# A synthetic score whose population accuracy is known: confidence c ~ Beta(SIM_SHAPE, 1) (most mass near
# 1, as a trained classifier's), and an item with confidence c is right with probability c.
SIM_SHAPE = 50.0


def simulated_accuracy_above(threshold: float, shape: float = SIM_SHAPE) -> float:
    """The population accuracy of the items a threshold accepts in the simulation: E[c | c >= t] for
    c ~ Beta(shape, 1), i.e. shape/(shape+1) * (1 - t^(shape+1)) / (1 - t^shape)."""
    if threshold >= 1:
        return float("nan")
    t = max(float(threshold), 0.0)
    return shape / (shape + 1) * (1 - t ** (shape + 1)) / (1 - t**shape)


def simulate_guarantee(targets: tuple[float, ...] = ROUTING_TARGETS, calibration_items: int = 5_000,
                       trials: int = 400, delta: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """``certify_threshold`` where the population accuracy is known (``simulated_accuracy_above``): per
    target, the share of trials that certified a threshold, the share that certified one whose true
    accuracy misses the target (what the guarantee bounds by ``delta``), and, for contrast, the share of
    certified trials whose fresh evaluation sample of the same size missed it (the check that sampling noise
    makes stricter than the guarantee)."""
    rng = np.random.default_rng(seed)
    reference = rng.beta(SIM_SHAPE, 1.0, size=calibration_items)  # candidates fixed before any label
    candidates = np.quantile(reference, 1 - np.linspace(0.01, 1.0, 100), method="higher")
    rows = []
    for target in targets:
        certified = violated = eval_missed = 0
        for _ in range(trials):
            confidence = rng.beta(SIM_SHAPE, 1.0, size=calibration_items)
            chosen = certify_threshold(confidence, rng.random(calibration_items) < confidence, target, candidates,
                                       delta)
            if not np.isfinite(chosen["threshold"]):
                continue
            certified += 1
            violated += simulated_accuracy_above(chosen["threshold"]) < target
            fresh = rng.beta(SIM_SHAPE, 1.0, size=calibration_items)
            accepted = fresh >= chosen["threshold"]
            eval_missed += bool(accepted.any()) and (rng.random(accepted.sum()) < fresh[accepted]).mean() < target
        rows.append({"target_accuracy": target, "trials": trials, "delta": delta,
                     "share_certified": certified / trials, "share_certified_and_violated": violated / trials,
                     "share_eval_missed_when_certified": eval_missed / certified if certified else float("nan")})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RoutingStudy:
    """Everything notebook 05 shows about calibration and routing, from one model's logits."""

    temperature: float
    ece: pd.DataFrame  # calibration before and after temperature scaling, per part
    accuracy: dict[str, float]  # top-1 accuracy per part
    routing: pd.DataFrame  # thresholds fitted on validation, checked on test
    curves: dict[str, pd.DataFrame]  # risk-coverage curve per part
    certified: pd.DataFrame  # one row per (test split, target)
    certified_summary: pd.DataFrame  # one row per target
    delta: float
    panels: dict[str, tuple[pd.DataFrame, float]]  # test-set reliability before and after scaling
    simulation: pd.DataFrame  # the certification where the population accuracy is known (simulate_guarantee)

    def validation_threshold_findings(self) -> list[str]:
        """Whether validation speaks for test, and whether each validation threshold keeps its promise on test."""
        return [
            findings.generalisation_gap(
                "validation accuracy", self.accuracy["validation"], "test accuracy", self.accuracy["test"]
            )
        ] + [
            findings.target_verdict(
                f"Target {r.target_accuracy:.1%}, threshold from validation, accuracy on test",
                r.test_accuracy,
                r.target_accuracy,
            )
            for r in self.routing.itertuples()
        ]

    def certified_findings(self) -> list[str]:
        """The certification level, then per target: how often a threshold was certified and then missed the
        target on the evaluation part (what the guarantee bounds by delta), and at what coverage."""
        return [findings.certification_level(self.delta, int(self.certified.split.nunique()))] + [
            findings.routing_verdict(r.target_accuracy, r.share_certified_and_missed, self.delta, r.coverage_mean,
                                     r.share_certified)
            for r in self.certified_summary.itertuples()
        ] + [findings.simulated_guarantee(r.target_accuracy, r.trials, r.share_certified,
                                          r.share_certified_and_violated, r.share_eval_missed_when_certified,
                                          self.delta)
             for r in self.simulation.itertuples()]


def routing_study(
    logits_val: np.ndarray,
    y_val: np.ndarray,
    logits_test: np.ndarray,
    y_test: np.ndarray,
    splits: int,
    delta: float = 0.05,
    seed: int = 0,
) -> RoutingStudy:
    """Temperature fitted on validation; routing with validation thresholds; routing certified on test halves."""
    temperature = fit_temperature(logits_val, y_val)
    logits, labels = {"validation": logits_val, "test": logits_test}, {"validation": y_val, "test": y_test}
    scored = {part: confidence_and_correct(softmax(logits[part], temperature), labels[part]) for part in logits}
    certified = certified_routing(logits_test, y_test, logits_val, temperature, splits=splits, delta=delta, seed=seed)
    return RoutingStudy(
        temperature=temperature,
        ece=calibration_summary(logits, labels, temperature),
        accuracy={part: float(correct.mean()) for part, (_, correct) in scored.items()},
        routing=routing_table(*scored["validation"], *scored["test"]),
        curves={part: risk_coverage(*scored[part]) for part in scored},
        certified=certified,
        certified_summary=summarize_certified_routing(certified),
        delta=delta,
        panels=reliability_panels(logits["test"], labels["test"], temperature),
        simulation=simulate_guarantee(delta=delta, calibration_items=len(y_test) // 2, seed=seed),
    )
