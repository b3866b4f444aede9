"""Chapter 07, beyond the paper: the next steps its conclusion names (augmentation, a deeper residual
network, more regularisation), chosen on the validation split and tested once.

The recipe is built up one ingredient at a time (the ablation ladder); the rung with the best
validation accuracy is the recipe, trained once per seed; the seeds' softmax outputs averaged are
the ensemble. Only then is the test set scored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from kmnist_utils import calibration, errors, metrics
from kmnist_utils.augment import AugmentSettings
from kmnist_utils.checkpoints import TrainedModel, TrainSpec, train_cached
from kmnist_utils.config import BeyondSchedule, RunContext
from kmnist_utils.data import Parts
from kmnist_utils.experiments import checkpoint_store, logits_of, pretrain, tensor_split, training_summary
from kmnist_utils.training import Classification, TrainConfig

MODEL = "preact_resnet"
@dataclass(frozen=True)
class Rung:
    """One step of the ablation ladder: the network and optimizer of the schedule plus these ingredients."""

    name: str
    augment: AugmentSettings | None
    label_smoothing: float


def ladder(schedule: BeyondSchedule) -> list[Rung]:
    """Each rung adds one ingredient to the one before; the last is the schedule's full recipe."""
    affine_only = replace(schedule.augment, cutout_px=0)
    return [
        Rung("PreAct ResNet, SGD one-cycle", None, 0.0),
        Rung("+ rotation, scale and shift", affine_only, 0.0),
        Rung("+ cutout", schedule.augment, 0.0),
        Rung("+ label smoothing", schedule.augment, schedule.label_smoothing),
    ]


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
        channels_last=schedule.channels_last,
    )
    hparams = {"widths": list(schedule.widths), "blocks": schedule.blocks}
    return TrainSpec(MODEL, config, hparams, objective=Classification(rung.label_smoothing, rung.augment))


def _train(ctx: RunContext, parts: Parts, specs: list[TrainSpec]) -> list[TrainedModel]:
    pretrain(ctx, [(s, parts) for s in specs])  # side by side where faster; each run cached
    return [train_cached(s, tensor_split(ctx, parts), checkpoint_store(ctx), progress=False) for s in specs]


def _summary(trained: TrainedModel) -> dict:
    return {"epochs": trained.state.epoch, **training_summary(trained)}


def ablation(ctx: RunContext, parts: Parts, schedule: BeyondSchedule) -> pd.DataFrame:
    """Every rung of the ladder trained with the first seed for ``ablation_epochs``, scored on validation
    only: one row per rung with its validation accuracy and what it adds to the rung before."""
    rungs = ladder(schedule)
    trained = _train(ctx, parts, [spec(schedule, r, ctx.seed, schedule.ablation_epochs, ctx.precision,
                                          ctx.threads_per_run) for r in rungs])
    table = pd.DataFrame([{"step": r.name, "seed": ctx.seed, **_summary(t)} for r, t in zip(rungs, trained)])
    table["adds_val_acc"] = table.val_acc_at_best.diff()
    return table


def choose(table: pd.DataFrame, schedule: BeyondSchedule) -> Rung:
    """The rung with the best validation accuracy (the simpler one on a tie)."""
    best = table.val_acc_at_best.to_numpy().argmax()  # first maximum: the earlier, simpler rung
    return ladder(schedule)[int(best)]


def train_seeds(ctx: RunContext, parts: Parts, schedule: BeyondSchedule, rung: Rung) -> list[TrainedModel]:
    """The chosen recipe once per seed of the run, for the schedule's full length."""
    return _train(ctx, parts, [spec(schedule, rung, seed, precision=ctx.precision, threads=ctx.threads_per_run)
                                     for seed in ctx.seeds])


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


def pairs_beside(new_pairs: pd.DataFrame, old_pairs: pd.DataFrame, old_name: str) -> pd.DataFrame:
    """The most confused pairs of either model, with each model's error count on the pair."""
    keys = ["class_a", "class_b"]
    both = pd.merge(old_pairs[[*keys, "total"]].rename(columns={"total": old_name}),
                    new_pairs[[*keys, "total"]].rename(columns={"total": "new model"}), on=keys, how="outer")
    return both.fillna(0).astype({old_name: int, "new model": int}).sort_values(
        [old_name, "new model"], ascending=False, kind="mergesort").reset_index(drop=True)


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


def table1_rows(test: pd.DataFrame, schedule: BeyondSchedule) -> pd.DataFrame:
    """Table I rows of this chapter (the paper has none: its column stays empty), in the layout of
    ``paper.compare_with_paper``: the single model's mean ± std over seeds, and the ensemble."""
    single, ensemble = test[test.model == "single"], test[test.model == "ensemble"]
    names = {"single": f"PreAct ResNet ({schedule.name} schedule)",
             "ensemble": f"PreAct ResNet, ensemble of {len(single)} seeds ({schedule.name} schedule)"}
    rows = []
    for kind, frame in (("single", single), ("ensemble", ensemble)):
        for metric in TABLE1_METRICS:
            std = frame[metric].std(ddof=1) if len(frame) > 1 else float("nan")
            rows.append({"model": names[kind], "metric": metric, "paper": float("nan"),
                         "ours_mean": round(float(frame[metric].mean()), 4), "ours_std": round(float(std), 4),
                         "seeds": len(frame) if kind == "single" else 1, "difference": float("nan")})
    return pd.DataFrame(rows)
