"""Chapter 07, beyond the paper: the next steps its conclusion names (augmentation, a deeper residual
network, more regularisation), chosen on the validation split and tested once.

The recipe is built up one ingredient at a time (the ablation ladder, one seed a rung); the rung with
the best validation accuracy is the recipe, trained once per seed of the run; the seeds' softmax
outputs averaged are the ensemble. Only then is the test set scored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from kmnist_utils import calibration, errors, metrics, tuning
from kmnist_utils.augment import AugmentSettings
from kmnist_utils.checkpoints import TrainedModel, TrainSpec
from kmnist_utils.config import BeyondSchedule, RunContext
from kmnist_utils.data import Parts
from kmnist_utils.models import DISPLAY_NAMES, build_model, count_parameters
from kmnist_utils.results import read_table
from kmnist_utils.runner import logits_of, test_predictions, train, training_summary
from kmnist_utils.training import Classification, TrainConfig

MODEL = "preact_resnet"


@dataclass(frozen=True)
class Rung:
    """One step of the ablation ladder: the network and optimizer of the schedule plus these ingredients."""

    name: str
    augment: AugmentSettings | None
    label_smoothing: float
    mixup: float = 0.0


def ladder(schedule: BeyondSchedule) -> list[Rung]:
    """Each rung adds one ingredient of the schedule to the one before; the last is the full recipe.
    Ingredients the schedule does not use get no rung."""
    aug = schedule.augment
    distorted = replace(aug, cutout_px=0)
    steps: list[tuple[str, AugmentSettings | None, float, float]] = [("PreAct ResNet, SGD one-cycle", None, 0.0, 0.0)]
    if distorted.has_affine:  # one rung: each distortion alone is not worth a run on two cores
        names = [name for name, on in (("rotation, scale and shift", distorted.rotate_deg or distorted.scale
                                        or distorted.shift_px), ("elastic distortion", distorted.elastic_alpha)) if on]
        steps.append(("+ " + " and ".join(names), distorted, 0.0, 0.0))
    if aug.cutout_px > 0:
        steps.append(("+ cutout", aug, 0.0, 0.0))
    if schedule.mixup > 0:
        steps.append(("+ mixup", aug, 0.0, schedule.mixup))
    if schedule.label_smoothing > 0:
        steps.append(("+ label smoothing", aug, schedule.label_smoothing, schedule.mixup))
    return [Rung(name, None if augment is None or augment.is_identity else augment, smoothing, mixup)
            for name, augment, smoothing, mixup in steps]


def describe(rung: Rung) -> str:
    """What a rung trains with, every ingredient named as present or absent: chapter 07's titles and rows
    describe the recipe that was chosen, not the ladder's last rung."""
    augment = rung.augment
    if augment is None:
        augmented = "no augmentation"
    else:
        kinds = [name for name, on in (("rotation", augment.rotate_deg), ("scale", augment.scale),
                                       ("shift", augment.shift_px), ("elastic distortion", augment.elastic_alpha),
                                       ("cutout", augment.cutout_px)) if on]
        augmented = "augmentation (" + ", ".join(kinds) + ")"
    mixup = f"input mixup (Beta {rung.mixup:g})" if rung.mixup else "no mixup"
    smoothing = f"label smoothing {rung.label_smoothing:g}" if rung.label_smoothing else "no label smoothing"
    return f"PreAct ResNet, SGD one-cycle, {augmented}, {mixup}, {smoothing}"


def spec(schedule: BeyondSchedule, rung: Rung, seed: int, epochs: int | None = None,
         precision: str = "fp32", threads: int | None = None) -> TrainSpec:
    """The run of ``rung`` with ``seed`` (``epochs`` defaults to the schedule's)."""
    config = TrainConfig(
        precision=precision,
        threads=threads,
        epochs=schedule.epochs if epochs is None else epochs,
        batch_size=schedule.batch_size,
        learning_rate=schedule.learning_rate,
        seed=seed,
        optimizer="sgd",
        weight_decay=schedule.weight_decay,
        lr_schedule="onecycle",
        keep="last",
        channels_last=schedule.channels_last,
    )
    hparams = {"widths": list(schedule.widths), "blocks": schedule.blocks}
    return TrainSpec(MODEL, config, hparams,
                     objective=Classification(rung.label_smoothing, rung.augment, rung.mixup))


def _summary(trained: TrainedModel) -> dict:
    return {"epochs": trained.state.epoch, **training_summary(trained)}


@dataclass
class Ablation:
    """The ladder's runs: one row per rung (its first-seed run) scored on validation only, and the trained
    models."""

    runs: pd.DataFrame
    trained: list[TrainedModel]


def network_summary(schedule: BeyondSchedule) -> str:
    """The schedule's network, with its number of trainable parameters."""
    network = build_model(MODEL, widths=schedule.widths, blocks=schedule.blocks)
    return f"{count_parameters(network):,} trainable parameters\n{network}"


def ablation_specs(ctx: RunContext, schedule: BeyondSchedule) -> list[tuple[Rung, int, TrainSpec]]:
    """The ladder's runs: every rung with the run's first seed."""
    return [(r, ctx.seed, spec(schedule, r, ctx.seed, precision=ctx.precision, threads=ctx.threads_per_run))
            for r in ladder(schedule)]


def ablation(ctx: RunContext, parts: Parts, schedule: BeyondSchedule) -> Ablation:
    """Every run of ``ablation_specs`` trained side by side (cached), scored on validation only: one row per
    rung with its validation accuracy."""
    plan = ablation_specs(ctx, schedule)
    trained = train(ctx, [s for _, _, s in plan], parts)
    table = pd.DataFrame([{"step": r.name, "seed": seed, **_summary(t)} for (r, seed, _), t in zip(plan, trained)])
    return Ablation(table, trained)


def choose(runs: pd.DataFrame, schedule: BeyondSchedule) -> Rung:
    """The rung with the best validation accuracy on the first seed; on a tie, the more complete one.

    The choice comes before any rung has its other seeds, so the chapter trains the chosen rung's
    remaining seeds and nothing else: the ladder costs (rungs + seeds - 1) runs whatever it chooses,
    which is what lets it fit a fixed CPU budget. Whether the margin is more than noise is said
    afterwards, against the spread of those seeds (``ablation_findings``).
    """
    accuracy = runs.groupby("step", sort=False).val_acc_kept.first().to_numpy()
    best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
    return ladder(schedule)[int(best[-1])]


def ablation_table(runs: pd.DataFrame, recipe_runs: pd.DataFrame, val_images: int | None = None) -> pd.DataFrame:
    """Per rung, in ladder order: the first seed's validation accuracy, what the rung adds to the one
    before, the seed spread of validation accuracy (std over the recipe's seeds, ``recipe_runs``; 0.0
    with one seed), the binomial standard error of a validation accuracy on ``val_images`` images, and
    the noise floor a difference must exceed: the larger of the two."""
    table = runs[["step", "seed", "val_acc_kept"]].rename(columns={"val_acc_kept": "val_acc"})
    table = table.reset_index(drop=True)
    table["adds_val_acc"] = table.val_acc.diff().fillna(0.0)  # the first rung adds nothing: it is the base
    table["train_minutes"] = (runs.train_seconds / 60).to_numpy()
    table["spread_seeds"] = len(recipe_runs)
    table["seed_std"] = float(recipe_runs.val_acc_kept.std(ddof=1)) if len(recipe_runs) > 1 else 0.0
    accuracy = float(recipe_runs.val_acc_kept.mean())
    table["binomial_se"] = (math.sqrt(accuracy * (1 - accuracy) / val_images) if val_images else 0.0)
    table["noise_floor"] = table[["seed_std", "binomial_se"]].max(axis=1)
    return table


def _noise_clause(gap: float, table: pd.DataFrame) -> str:
    spread, seeds = float(table.seed_std.iloc[0]), int(table.spread_seeds.iloc[0])
    binomial = float(table.binomial_se.iloc[0]) if "binomial_se" in table else 0.0
    floor = max(spread if seeds >= 2 else 0.0, binomial)
    if floor == 0:
        return " (no seed spread measured, so this cannot be told from noise)"
    parts = []
    if seeds >= 2:
        parts.append(f"seed spread {spread * 100:.3f} pt over {seeds} seeds")
    else:
        parts.append("one seed, so no seed spread measured")
    if binomial:
        parts.append(f"binomial standard error of the validation accuracy {binomial * 100:.3f} pt")
    basis = f"the noise floor of {floor * 100:.3f} pt ({'; '.join(parts)})"
    if abs(gap) <= floor:
        return f", within {basis}: noise"
    return f", {abs(gap) / floor:.1f} times {basis}"


def ablation_findings(table: pd.DataFrame, chosen: Rung) -> list[str]:
    """One sentence per rung after the first: what it adds on validation, and whether that is more than
    the noise floor (the larger of the seed spread and the validation set's binomial standard error);
    then which rung became the recipe and by how much it led."""
    lines = [f"{row.step}: {row.adds_val_acc * 100:+.3f} pt validation accuracy over the rung before"
             + _noise_clause(row.adds_val_acc, table) + "." for row in table.iloc[1:].itertuples()]
    chosen_row = table[table.step == chosen.name].iloc[0]
    head = (f"Recipe: '{chosen.name}' ({describe(chosen)}), the best rung on validation ({chosen_row.val_acc:.4f}, "
            "first seed)")
    others = table[table.step != chosen.name]
    if others.empty:
        return lines + [head + "."]
    runner_up = others.loc[others.val_acc.idxmax()]
    gap = float(chosen_row.val_acc - runner_up.val_acc)
    clause = _noise_clause(gap, table)
    lead = f"; it leads the next best, '{runner_up.step}', by {gap * 100:.3f} pt" + clause
    if clause.endswith(": noise"):
        lead += ", so the ladder cannot tell the two apart"
    return lines + [head + lead + "."]


def rung_test_accuracy(ctx: RunContext, parts: Parts, done: Ablation) -> pd.DataFrame:
    """The ablation's runs with their test accuracy added: for the cost figure, scored only after the
    recipe was chosen on validation."""
    accuracy = [float((logits_of(t.model, parts.x_test, ctx.device).argmax(1) == parts.y_test).mean())
                for t in done.trained]
    return done.runs.assign(test_accuracy=accuracy)


def cost_table(cnn_seeds: pd.DataFrame, tuned_seeds: pd.DataFrame, rungs: pd.DataFrame,
               recipe_runs: pd.DataFrame, recipe_test: pd.DataFrame, recipe_name: str,
               logreg_seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Test accuracy against training minutes on one core, mean and std over seeds, for every classifier of
    the report: logistic regression (chapter 02, where given), chapter 03's CNNs, chapter 04's
    TunedImprovedCNN (its final runs; the grid search is not counted), every rung of chapter 07's ladder,
    the recipe's seeds, and their ensemble (its cost: the training of all its members)."""
    single = recipe_test[recipe_test.model == "single"].reset_index(drop=True)
    ensemble = recipe_test[recipe_test.model == "ensemble"]
    frames = [
        *([] if logreg_seeds is None else [logreg_seeds.rename(columns={"fit_seconds": "train_seconds"}).assign(
            model=DISPLAY_NAMES["logreg"])]),
        cnn_seeds.assign(model=cnn_seeds.model.map(lambda m: DISPLAY_NAMES.get(m, m))),
        tuned_seeds.assign(model=DISPLAY_NAMES["tuned"]),
        # The rung that became the recipe is drawn once, as the recipe, with all its seeds.
        rungs[rungs.step != recipe_name].rename(columns={"test_accuracy": "accuracy"}).assign(
            model=lambda t: "ladder: " + t.step),
        pd.DataFrame({"model": f"recipe: {recipe_name}", "seed": recipe_runs.seed,
                      "accuracy": single.accuracy, "train_seconds": recipe_runs.train_seconds}),
        pd.DataFrame({"model": f"recipe: {recipe_name}, ensemble of {len(recipe_runs)} seeds",
                      "seed": ensemble.get("seed", pd.Series(["all"] * len(ensemble))).astype(str),
                      "accuracy": ensemble.accuracy, "train_seconds": float(recipe_runs.train_seconds.sum())}),
    ]
    runs = pd.concat([f[["model", "seed", "accuracy", "train_seconds"]] for f in frames], ignore_index=True)
    runs["minutes"] = runs.train_seconds / 60
    grouped = runs.groupby("model", sort=False)
    table = pd.DataFrame({"seeds": grouped.size(), "accuracy_mean": grouped.accuracy.mean(),
                          "accuracy_std": grouped.accuracy.std(ddof=1), "minutes_mean": grouped.minutes.mean(),
                          "minutes_std": grouped.minutes.std(ddof=1)}).reset_index()
    table["ensemble"] = table.model.str.contains(", ensemble of ")
    return table.fillna({"accuracy_std": 0.0, "minutes_std": 0.0})


def report_costs(ctx: RunContext, parts: Parts, done: Ablation, recipe_runs: pd.DataFrame,
                 recipe_test: pd.DataFrame, recipe_name: str) -> pd.DataFrame:
    """``cost_table`` of this run: chapters 03 and 04 from their tables, the ladder scored on test now."""
    return cost_table(read_table("cnn_seeds", ctx)[0], read_table("tuned_seeds", ctx)[0],
                      rung_test_accuracy(ctx, parts, done), recipe_runs, recipe_test, recipe_name,
                      read_table("logreg_seeds", ctx)[0])


def train_seeds(ctx: RunContext, parts: Parts, schedule: BeyondSchedule, rung: Rung) -> list[TrainedModel]:
    """The chosen recipe once per seed of the run, for the schedule's full length (the ablation's run of
    this rung, the first seed's, comes from the checkpoint cache)."""
    return train(ctx, [spec(schedule, rung, seed, precision=ctx.precision, threads=ctx.threads_per_run)
                       for seed in ctx.seeds], parts)


def seed_rows(ctx: RunContext, trained: list[TrainedModel]) -> pd.DataFrame:
    """Validation-side summary of every seed's run (nothing on the test set)."""
    return pd.DataFrame([{"seed": seed, **_summary(t)} for seed, t in zip(ctx.seeds, trained)])


@dataclass
class TestScores:
    """Test-set outputs of every seed's model and of their ensemble (the mean of their softmax outputs)."""

    seeds: tuple[int, ...]
    logits: list[np.ndarray]  # per seed, test images x classes
    val_logits: list[np.ndarray]
    y_test: np.ndarray

    @cached_property
    def probs(self) -> list[np.ndarray]:
        return [calibration.softmax(z) for z in self.logits]

    @cached_property
    def ensemble_probs(self) -> np.ndarray:
        return np.mean(self.probs, axis=0)

    @property
    def ensemble_pred(self) -> np.ndarray:
        return self.ensemble_probs.argmax(1)

    def table(self) -> pd.DataFrame:
        """One row per seed and one for the ensemble: accuracy, weighted and macro precision/recall/F1."""
        rows = [{"model": "single", "seed": str(s), **metrics.classification_metrics(self.y_test, p.argmax(1))}
                for s, p in zip(self.seeds, self.probs)]
        rows.append({"model": "ensemble", "seed": "+".join(map(str, self.seeds)),
                     **metrics.classification_metrics(self.y_test, self.ensemble_pred)})
        return pd.DataFrame(rows)


def score_on_test(ctx: RunContext, parts: Parts, trained: list[TrainedModel]) -> TestScores:
    """The one evaluation on the test set, after everything was chosen (also keeps validation logits for
    the calibration check)."""
    return TestScores(
        seeds=tuple(ctx.seeds),
        logits=[logits_of(t.model, parts.x_test, ctx.device) for t in trained],
        val_logits=[logits_of(t.model, parts.x_val, ctx.device) for t in trained],
        y_test=parts.y_test,
    )


def ensemble_logits(probs: list[np.ndarray]) -> np.ndarray:
    """Log of the mean softmax: logits whose softmax is the ensemble's output (for calibration)."""
    return np.log(np.clip(np.mean(probs, axis=0), 1e-12, None))


def calibration_check(scores: TestScores, y_val: np.ndarray) -> tuple[pd.DataFrame, dict[str, float]]:
    """ECE and NLL before and after temperature scaling (temperature fitted on validation), for the first
    seed's model and for the ensemble; returns the table and the temperatures."""
    models = {
        f"single (seed {scores.seeds[0]})": (scores.val_logits[0], scores.logits[0]),
        "ensemble": (ensemble_logits([calibration.softmax(z) for z in scores.val_logits]),
                     ensemble_logits(scores.probs)),
    }
    frames, temperatures = [], {}
    for name, (val, test) in models.items():
        temperatures[name] = calibration.fit_temperature(val, y_val)
        frames.append(calibration.calibration_summary({"validation": val, "test": test},
                                                      {"validation": y_val, "test": scores.y_test},
                                                      temperatures[name]).assign(model=name))
    return pd.concat(frames, ignore_index=True), temperatures


def pairs_beside(new_wrong: pd.DataFrame, old_wrong: pd.DataFrame, old_name: str, top: int = 10) -> pd.DataFrame:
    """The ``top`` most confused class pairs of either model, with each model's errors on every pair
    counted from its complete list of misclassified test images (``true``, ``predicted``): a pair outside
    one model's own top list still shows that model's real count."""
    counted = {name: errors.confused_pairs(metrics.confusion(wrong.true.to_numpy(), wrong.predicted.to_numpy()),
                                           top=N_PAIRS).set_index(["class_a", "class_b"]).total
               for name, wrong in ((old_name, old_wrong), ("new model", new_wrong))}
    both = pd.DataFrame(counted)
    if both.isna().any().any():
        raise ValueError("every class pair must be counted for both models")
    chosen = set(both[old_name].nlargest(top).index) | set(both["new model"].nlargest(top).index)
    both = both[both.index.isin(chosen)].reset_index()
    return both.sort_values([old_name, "new model"], ascending=False, kind="mergesort").reset_index(drop=True)


N_PAIRS = 45  # unordered pairs of the ten classes


def error_overlap(new_wrong: np.ndarray, old_wrong: np.ndarray, old_name: str) -> pd.DataFrame:
    """How many test images each model gets wrong, and how many of them both get wrong."""
    new, old = set(map(int, new_wrong)), set(map(int, old_wrong))
    return pd.DataFrame([
        {"errors": f"{old_name} only", "images": len(old - new)},
        {"errors": "both", "images": len(old & new)},
        {"errors": "new model only", "images": len(new - old)},
    ])


def overlap_finding(overlap: pd.DataFrame, old_name: str) -> str:
    counts = dict(zip(overlap.errors, overlap.images))
    old_total = counts[f"{old_name} only"] + counts["both"]
    fixed = counts[f"{old_name} only"]
    share = f" ({fixed / old_total:.0%})" if old_total else ""
    return (f"Of the {old_total} test images the {old_name} gets wrong, the new model fixes {fixed}{share} and "
            f"still misses {counts['both']}; it adds {counts['new model only']} errors of its own.")


def tuned_ensemble_errors(ctx: RunContext, parts: Parts) -> pd.DataFrame:
    """Every test image the TunedImprovedCNN's ensemble gets wrong: chapter 04's models of the run's seeds
    (from the checkpoint cache), softmax outputs averaged as for the recipe's ensemble. The like-for-like
    partner of ``ensemble_errors``: an ensemble of as many seeds, not a single model."""
    runs = tuning.tuned_runs(ctx, parts, ctx.seeds)
    probs = np.mean([test_predictions(run.trained.model, parts.x_test, ctx.device)[1] for run in runs], axis=0)
    return errors.misclassified(parts.y_test, probs.argmax(1), probs)


def ensemble_errors(scores: TestScores) -> pd.DataFrame:
    """Every test image the ensemble gets wrong (index, true, predicted, confidence), most confident first."""
    return errors.misclassified(scores.y_test, scores.ensemble_pred, scores.ensemble_probs)


def confused_pairs(scores: TestScores, top: int = 10) -> pd.DataFrame:
    return errors.confused_pairs(metrics.confusion(scores.y_test, scores.ensemble_pred), top=top)


def reliability_panels(scores: TestScores, temperatures: dict[str, float]) -> dict[str, tuple[pd.DataFrame, float]]:
    """Test-set reliability before and after scaling, for the first seed's model and for the ensemble."""
    single, ensemble = temperatures
    return {
        **calibration.reliability_panels(scores.logits[0], scores.y_test, temperatures[single],
                                         name=f"seed {scores.seeds[0]}"),
        **calibration.reliability_panels(ensemble_logits(scores.probs), scores.y_test, temperatures[ensemble],
                                         name="ensemble"),
    }


TABLE1_METRICS = ("accuracy", "precision", "recall", "f1")


def table1_rows(test: pd.DataFrame, schedule: BeyondSchedule, recipe: Rung) -> pd.DataFrame:
    """Table I rows of this chapter (the paper has none: its column stays empty), in the layout of
    ``paper.compare_with_paper``: the single model's mean ± std over seeds, and the ensemble; the
    protocol column describes the recipe that was chosen (``describe``)."""
    single, ensemble = test[test.model == "single"], test[test.model == "ensemble"]
    names = {"single": f"PreAct ResNet ({schedule.name} schedule)",
             "ensemble": f"PreAct ResNet, ensemble of {len(single)} seeds ({schedule.name} schedule)"}
    rows = []
    for kind, frame in (("single", single), ("ensemble", ensemble)):
        for metric in TABLE1_METRICS:
            std = frame[metric].std(ddof=1) if len(frame) > 1 else float("nan")
            rows.append({"model": names[kind], "protocol": f"ours: chapter 07's recipe, {describe(recipe)}",
                         "metric": metric, "paper": float("nan"),
                         "ours_mean": round(float(frame[metric].mean()), 4), "ours_std": round(float(std), 4),
                         "seeds": len(frame) if kind == "single" else 1, "difference": float("nan")})
    return pd.DataFrame(rows)
