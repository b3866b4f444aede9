"""Chapter 07, beyond the paper: the next steps its conclusion names (augmentation, a deeper residual
network), with a recipe fixed in advance and tested once.

The recipe is the schedule's (``settings.BEYOND_SCHEDULES``): chosen before any run from the published
KMNIST results, not by a short ladder on a validation split that does not resemble the test set
(``shift``). It trains once per seed of the run; the seeds' softmax outputs averaged are the ensemble.
Beside it, in the same training call, the ablation: the recipe without each of its ingredients, one seed
each, at the recipe's full length. Nothing is chosen from the ablation; it is reported on validation
and on test, and says where the two disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from kmnist_utils import references
from kmnist_utils.chapters import calibration, errors, tuning
from kmnist_utils.core.data import Parts
from kmnist_utils.engine.augment import AugmentSettings
from kmnist_utils.engine.checkpoints import TrainedModel, TrainSpec
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.models import build_model, count_parameters
from kmnist_utils.engine.runner import logits_of, seed_histories, test_predictions, train, training_summary
from kmnist_utils.engine.training import Classification, TrainConfig
from kmnist_utils.products.results import read_table
from kmnist_utils.settings import DISPLAY_NAMES, BeyondSchedule
from kmnist_utils.stats import findings, metrics
from kmnist_utils.stats.yardsticks import prediction_interval_summary

MODEL = "preact_resnet"


@dataclass(frozen=True)
class Rung:
    """One run of the chapter: the network and optimizer of the schedule plus these ingredients."""

    name: str
    augment: AugmentSettings | None
    label_smoothing: float
    mixup: float = 0.0


def _augment_words(augment: AugmentSettings) -> str:
    kinds = [name for name, on in (("rotation", augment.rotate_deg), ("scale", augment.scale),
                                   ("shift", augment.shift_px), ("elastic distortion", augment.elastic_alpha),
                                   ("cutout", augment.cutout_px)) if on]
    return ", ".join(kinds[:-1]) + (" and " if len(kinds) > 1 else "") + kinds[-1]


def _ingredients(rung: Rung) -> list[str]:
    return [*([_augment_words(rung.augment)] if rung.augment is not None else []),
            *([f"input mixup (Beta {rung.mixup:g})"] if rung.mixup else []),
            *([f"label smoothing {rung.label_smoothing:g}"] if rung.label_smoothing else [])]


def recipe(schedule: BeyondSchedule) -> Rung:
    """The schedule's recipe, every ingredient it has: fixed before any run, never chosen from one."""
    augment = None if schedule.augment.is_identity else schedule.augment
    full = Rung("", augment, schedule.label_smoothing, schedule.mixup)
    words = _ingredients(full)
    return replace(full, name="PreAct ResNet" + (" with " + "; ".join(words) if words else ", no ingredients"))


def ablation_rungs(schedule: BeyondSchedule) -> list[Rung]:
    """The recipe without each of its ingredients, one at a time (none for a recipe without ingredients)."""
    full = recipe(schedule)
    rungs = []
    if full.augment is not None:
        rungs.append(Rung(f"without {_augment_words(full.augment)}", None, full.label_smoothing, full.mixup))
    if full.mixup:
        rungs.append(Rung("without mixup", full.augment, full.label_smoothing, 0.0))
    if full.label_smoothing:
        rungs.append(Rung("without label smoothing", full.augment, 0.0, full.mixup))
    return rungs


def describe(rung: Rung) -> str:
    """What a run trains with, every ingredient named as present or absent: chapter 07's titles and rows
    describe the recipe that ran."""
    augmented = "no augmentation" if rung.augment is None else f"augmentation ({_augment_words(rung.augment)})"
    mixup = f"input mixup (Beta {rung.mixup:g})" if rung.mixup else "no mixup"
    smoothing = f"label smoothing {rung.label_smoothing:g}" if rung.label_smoothing else "no label smoothing"
    return f"PreAct ResNet, SGD one-cycle, {augmented}, {mixup}, {smoothing}"


def spec(schedule: BeyondSchedule, rung: Rung, seed: int, epochs: int | None = None,
         precision: str = "fp32", threads: int | None = None) -> TrainSpec:
    """The run of ``rung`` with ``seed`` (``epochs`` defaults to the schedule's); its logs name the rung."""
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
    return TrainSpec(MODEL, config, hparams, objective=Classification(rung.label_smoothing, rung.augment, rung.mixup),
                     name=rung.name)


def _summary(trained: TrainedModel) -> dict:
    return {"epochs": trained.state.epoch, **training_summary(trained)}


def network_summary(schedule: BeyondSchedule) -> str:
    """The schedule's network, with its number of trainable parameters."""
    network = build_model(MODEL, widths=schedule.widths, blocks=schedule.blocks)
    return f"{count_parameters(network):,} trainable parameters\n{network}"


def recipe_summary(schedule: BeyondSchedule) -> str:
    """The recipe the schedule fixes, its ablation runs and its network, as the chapter prints them."""
    fixed = recipe(schedule)
    ablated = "; ".join(f"recipe {r.name}" for r in ablation_rungs(schedule)) or "none"
    return (f"Recipe: {fixed.name} ({describe(fixed)}), {schedule.epochs} epochs.\nAblation runs: {ablated}\n"
            + network_summary(schedule))


@dataclass
class Chapter:
    """The chapter's runs: the recipe once per seed of the run, and each ablation rung with the first seed."""

    recipe: Rung
    trained: list[TrainedModel]
    rungs: list[Rung]
    ablation: list[TrainedModel]


def chapter_specs(ctx: RunContext, schedule: BeyondSchedule) -> list[TrainSpec]:
    """The recipe with every seed of the run, then every ablation rung with the first seed."""
    def run(rung: Rung, seed: int) -> TrainSpec:
        return spec(schedule, rung, seed, precision=ctx.precision, threads=ctx.threads_per_run)
    return [run(recipe(schedule), s) for s in ctx.seeds] + [run(r, ctx.seed) for r in ablation_rungs(schedule)]


def train_chapter(ctx: RunContext, parts: Parts, schedule: BeyondSchedule) -> Chapter:
    """Every run of ``chapter_specs`` in one training call (cached), so that the plan keeps every core busy."""
    trained = train(ctx, chapter_specs(ctx, schedule), parts)
    seeds = len(ctx.seeds)
    return Chapter(recipe(schedule), trained[:seeds], ablation_rungs(schedule), trained[seeds:])


def histories(ctx: RunContext, chapter: Chapter) -> pd.DataFrame:
    """Every recipe seed's per-epoch history, for the learning curves."""
    return seed_histories(ctx.seeds, chapter.trained, model=chapter.recipe.name)


def hardest_title(wrong: pd.DataFrame, count: int = 16) -> str:
    return f"The ensemble's {min(count, len(wrong))} most confident errors (of {len(wrong)})"


def seed_rows(ctx: RunContext, trained: list[TrainedModel]) -> pd.DataFrame:
    """Validation-side summary of every seed's run (nothing on the test set)."""
    return pd.DataFrame([{"seed": seed, **_summary(t)} for seed, t in zip(ctx.seeds, trained)])


def ablation_runs(ctx: RunContext, parts: Parts, chapter: Chapter) -> pd.DataFrame:
    """The recipe's first-seed run and every ablation rung (same seed), with validation and test accuracy
    of the kept (last-epoch) weights."""
    runs = [(chapter.recipe, chapter.trained[0]), *zip(chapter.rungs, chapter.ablation)]
    return pd.DataFrame([{"step": rung.name, "seed": ctx.seed, **_summary(t),
                          "test_accuracy": float((logits_of(t.model, parts.x_test, ctx.device).argmax(1)
                                                  == parts.y_test).mean())} for rung, t in runs])


def _floor(seed_values: pd.Series, images: int | None) -> tuple[float, float, int]:
    """(seed std, binomial standard error of an accuracy on ``images`` images, seeds)."""
    std = float(seed_values.std(ddof=1)) if len(seed_values) > 1 else 0.0
    accuracy = float(seed_values.mean())
    binomial = math.sqrt(accuracy * (1 - accuracy) / images) if images else 0.0
    return std, binomial, len(seed_values)


def ablation_table(runs: pd.DataFrame, recipe_runs: pd.DataFrame, recipe_test: pd.DataFrame,
                   val_images: int | None = None, test_images: int | None = None) -> pd.DataFrame:
    """Per run of ``ablation_runs`` (the recipe first): validation and test accuracy, what the recipe gains
    over the run on each (0 for the recipe itself: it is the reference), and the noise floor of a
    difference on each: the larger of the seed std over the recipe's seeds (validation from
    ``recipe_runs``, ``seed_rows``; test from the ``single`` rows of ``recipe_test``, ``TestScores.table``)
    and the binomial standard error of an accuracy on that many images."""
    table = runs[["step", "seed", "val_acc_kept", "test_accuracy", "train_seconds"]].rename(
        columns={"val_acc_kept": "val_acc", "test_accuracy": "test_acc"}).reset_index(drop=True)
    table["recipe_gain_val"] = table.val_acc.iloc[0] - table.val_acc
    table["recipe_gain_test"] = table.test_acc.iloc[0] - table.test_acc
    table["train_minutes"] = table.pop("train_seconds") / 60
    sides = (("val", recipe_runs.val_acc_kept, val_images),
             ("test", recipe_test[recipe_test.model == "single"].accuracy, test_images))
    for side, values, images in sides:
        std, binomial, seeds = _floor(values, images)
        table[f"seed_std_{side}"], table[f"binomial_se_{side}"] = std, binomial
        table[f"noise_floor_{side}"] = max(std, binomial)
    table["spread_seeds"] = len(recipe_runs)
    return table


def _verdict(gain: float, floor: float) -> int:
    return 0 if abs(gain) <= floor else (1 if gain > 0 else -1)


def _side(gain: float, floor: float, set_name: str) -> str:
    if floor == 0:
        return f"{findings.points(gain)} on {set_name} (no noise floor measured)"
    judged = {1: "more than", -1: "a loss beyond", 0: "within"}[_verdict(gain, floor)]
    return f"{findings.points(gain)} on {set_name}, {judged} its noise floor of {floor * 100:.2f} pt"


def ablation_findings(table: pd.DataFrame) -> list[str]:
    """Per ablated ingredient: what it adds to the recipe on validation and on test, each against its noise
    floor, and whether the two sets agree (same verdict: gain, loss or noise)."""
    lines = []
    floors = table.iloc[0]
    for row in table.iloc[1:].itertuples():
        ingredient = row.step.removeprefix("without ")
        head = (f"{ingredient[0].upper() + ingredient[1:]} adds "
                f"{_side(row.recipe_gain_val, floors.noise_floor_val, 'validation')}, and "
                f"{_side(row.recipe_gain_test, floors.noise_floor_test, 'test')}")
        if floors.noise_floor_val == 0 or floors.noise_floor_test == 0:
            lines.append(head + ": one seed and no image count, so it cannot be told from noise on either set.")
            continue
        agree = (_verdict(row.recipe_gain_val, floors.noise_floor_val)
                 == _verdict(row.recipe_gain_test, floors.noise_floor_test))
        lines.append(head + (": validation and test agree." if agree else ": validation and test disagree."))
    return lines


def cost_table(cnn_seeds: pd.DataFrame, tuned_seeds: pd.DataFrame, rungs: pd.DataFrame,
               recipe_runs: pd.DataFrame, recipe_test: pd.DataFrame, recipe_name: str,
               logreg_seeds: pd.DataFrame | None = None) -> pd.DataFrame:
    """Test accuracy against training minutes on one core, mean and std over seeds, for every classifier of
    the report: logistic regression (chapter 02, where given), chapter 03's CNNs, chapter 04's
    TunedImprovedCNN (its final runs; the grid search is not counted), every ablation run of chapter 07
    (``rungs``: ``ablation_runs``), the recipe's seeds, and their ensemble (its cost: the training of all
    its members, and its count the seeds it was built from). A model scored once has no std (empty, not 0)."""
    single = recipe_test[recipe_test.model == "single"].reset_index(drop=True)
    ensemble = recipe_test[recipe_test.model == "ensemble"]
    frames = [
        *([] if logreg_seeds is None else [logreg_seeds.rename(columns={"fit_seconds": "train_seconds"}).assign(
            model=DISPLAY_NAMES["logreg"])]),
        cnn_seeds.assign(model=cnn_seeds.model.map(lambda m: DISPLAY_NAMES.get(m, m))),
        tuned_seeds.assign(model=DISPLAY_NAMES["tuned"]),
        # The recipe's own first-seed run is drawn once, as the recipe, with all its seeds.
        rungs[rungs.step != recipe_name].rename(columns={"test_accuracy": "accuracy"}).assign(
            model=lambda t: "ablation: recipe " + t.step),
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
    table.loc[table.ensemble, "seeds"] = len(recipe_runs)
    return table


def report_costs(ctx: RunContext, rungs: pd.DataFrame, recipe_runs: pd.DataFrame, recipe_test: pd.DataFrame,
                 recipe_name: str) -> pd.DataFrame:
    """``cost_table`` of this run: chapters 02-04 from their tables, chapter 07's runs as given."""
    return cost_table(read_table("cnn_seeds", ctx)[0], read_table("tuned_seeds", ctx)[0], rungs, recipe_runs,
                      recipe_test, recipe_name, read_table("logreg_seeds", ctx)[0])


def validation_test_runs(ctx: RunContext, recipe_runs: pd.DataFrame, test: pd.DataFrame,
                         rungs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every classifier of the run with a validation and a test accuracy per seed (columns ``seed``,
    ``val_acc``, ``test_acc``): chapter 03's CNNs and chapter 04's TunedImprovedCNN from their tables (the
    weights they are scored with), the recipe's seeds and each ablation run."""
    def frame(table: pd.DataFrame, val: str, test_col: str) -> pd.DataFrame:
        return pd.DataFrame({"seed": table.seed.to_numpy(), "val_acc": table[val].to_numpy(),
                             "test_acc": table[test_col].to_numpy()})
    cnn, tuned = read_table("cnn_seeds", ctx)[0], read_table("tuned_seeds", ctx)[0]
    runs = {DISPLAY_NAMES.get(m, m): frame(g, "val_acc_kept", "accuracy") for m, g in cnn.groupby("model", sort=False)}
    runs[DISPLAY_NAMES["tuned"]] = frame(tuned, "val_acc_kept", "accuracy")
    single = test[test.model == "single"].reset_index(drop=True)
    runs["chapter 07 recipe"] = pd.DataFrame({"seed": recipe_runs.seed.to_numpy(),
                                              "val_acc": recipe_runs.val_acc_kept.to_numpy(),
                                              "test_acc": single.accuracy.to_numpy()})
    for row in rungs.iloc[1:].itertuples():
        runs[f"chapter 07 recipe {row.step}"] = pd.DataFrame({"seed": [row.seed], "val_acc": [row.val_acc_kept],
                                                              "test_acc": [row.test_accuracy]})
    return runs


def budget_findings(costs: pd.DataFrame, target_single: float) -> list[str]:
    """What more CPU minutes bought in this run: the ensemble against one model of the recipe, and, where the
    single-model target is missed, whether that purchase would have covered the shortfall."""
    recipe_rows = costs[costs.model.str.startswith("recipe: ")]
    single, ensemble = recipe_rows[~recipe_rows.ensemble].iloc[0], recipe_rows[recipe_rows.ensemble].iloc[0]
    factor = ensemble.minutes_mean / single.minutes_mean
    gain = ensemble.accuracy_mean - single.accuracy_mean
    # One ensemble is one number: judged by where one more single model of the recipe would fall.
    interval = prediction_interval_summary(float(single.accuracy_mean), float(single.accuracy_std),
                                           int(single.seeds), references.TEST_IMAGES)
    where = ("one model's seed spread was not measured (one seed)" if interval is None else
             f"the ensemble's {ensemble.accuracy_mean:.4f} is "
             + findings.interval_verdict_text(float(ensemble.accuracy_mean), interval,
                                              of="one more single model of the recipe"))
    lines = [f"The ensemble spends {factor:.1f} times the CPU minutes of one model of the recipe "
             f"({ensemble.minutes_mean:.0f} against {single.minutes_mean:.0f} one-core minutes) and adds "
             f"{findings.points(gain)} of test accuracy over the single models' mean; {where}."]
    short = target_single - single.accuracy_mean
    if short > 0:
        covered = "enough" if gain >= short else "not enough"
        lines.append(f"The single-model target is missed by {short * 100:.2f} pt; in this run {factor:.1f} times "
                     f"the minutes, spent as an ensemble, bought {findings.points(gain)}: {covered} to cover it. "
                     "A longer schedule for one model was not measured.")
    return lines


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


def errors_beside_tuned(ctx: RunContext, parts: Parts, scores: TestScores,
                        old_name: str = "TunedImprovedCNN ensemble") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The recipe's ensemble's errors (``ensemble_errors``), and beside the TunedImprovedCNN's ensemble of as
    many seeds: the most confused class pairs of either (``pairs_beside``) and the overlap of their errors."""
    wrong, old_wrong = ensemble_errors(scores), tuned_ensemble_errors(ctx, parts)
    return (wrong, pairs_beside(wrong, old_wrong, old_name),
            error_overlap(wrong["index"], old_wrong["index"], old_name))


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




def table1_rows(test: pd.DataFrame, schedule: BeyondSchedule, recipe: Rung) -> pd.DataFrame:
    """Table I rows of this chapter (the paper has none: its column stays empty), in the layout of
    ``references.compare_with_paper``: the single model's mean ± std over seeds, and the ensemble of those
    seeds (one model: no std, and the seeds it was built from as its count); the protocol column describes
    the recipe that was chosen (``describe``)."""
    single, ensemble = test[test.model == "single"], test[test.model == "ensemble"]
    names = {"single": f"PreAct ResNet ({schedule.name} schedule)",
             "ensemble": f"PreAct ResNet, ensemble of {len(single)} seeds ({schedule.name} schedule)"}
    rows = []
    for kind, frame in (("single", single), ("ensemble", ensemble)):
        for metric in references.METRICS:
            std = frame[metric].std(ddof=1) if len(frame) > 1 else float("nan")
            rows.append({"model": names[kind], "protocol": f"ours: chapter 07's recipe, {describe(recipe)}",
                         "metric": metric, "paper": float("nan"),
                         "ours_mean": round(float(frame[metric].mean()), 4), "ours_std": round(float(std), 4),
                         "seeds": len(single), "difference": float("nan")})
    return pd.DataFrame(rows)
