"""Chapter 07: batch augmentation, the pre-activation ResNet, SGD with a one-cycle schedule, and the
chapter's tables (synthetic data)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from kmnist_utils import settings
from kmnist_utils.chapters import anchors, beyond
from kmnist_utils.engine.augment import AugmentSettings, augment_batch, cutout
from kmnist_utils.engine.checkpoints import CheckpointStore, key_of, train_cached
from kmnist_utils.engine.models import PreActResNet, build_model
from kmnist_utils.engine.training import Classification, TrainConfig, fit, learning_rate_at, make_tensor_split


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=generator(seed))


# --------------------------------------------------------------------------- augmentation


def test_identity_settings_change_nothing():
    x = images()
    assert torch.equal(augment_batch(x, AugmentSettings(), generator()), x)


def test_augmentation_is_seeded_and_per_image():
    x = images(1).expand(8, -1, -1, -1).contiguous()  # the same image 8 times
    settings = AugmentSettings(rotate_deg=15, scale=0.1, shift_px=2, cutout_px=6)
    a, b = augment_batch(x, settings, generator(3)), augment_batch(x, settings, generator(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert not torch.equal(a, augment_batch(x, settings, generator(4)))
    # Per-image parameters: copies of one image come out different from each other.
    assert len({tuple(img.flatten()[:784:7].tolist()) for img in a}) == 8


def test_cutout_zeroes_one_square_of_the_given_size():
    x = torch.ones(64, 1, 28, 28)
    out = cutout(x, 6, generator(1))
    zeros = (out == 0).sum(dim=(1, 2, 3))
    assert int(zeros.max()) == 36 and int(zeros.min()) >= 1  # a full square inside, or part of it at a border
    for image in out[zeros == 36]:
        rows, cols = torch.nonzero(image[0] == 0, as_tuple=True)
        assert int(rows.max() - rows.min()) == 5 and int(cols.max() - cols.min()) == 5


def test_small_shift_moves_a_dot_by_at_most_the_range():
    x = torch.zeros(32, 1, 28, 28)
    x[:, 0, 14, 14] = 1.0
    out = augment_batch(x, AugmentSettings(shift_px=2), generator(0))
    centres = [torch.nonzero(img[0] > 0.2).float().mean(0) for img in out]
    assert all(float((c - 14).abs().max()) <= 2.5 for c in centres)


@pytest.mark.parametrize("bad", [dict(rotate_deg=-1), dict(scale=1.0), dict(shift_px=-2), dict(cutout_px=-1)])
def test_bad_augmentation_ranges_are_refused(bad):
    with pytest.raises(ValueError, match="augmentation ranges"):
        AugmentSettings(**bad)


def test_augment_batch_needs_a_batch():
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        augment_batch(torch.rand(28, 28), AugmentSettings(cutout_px=4), generator())


# --------------------------------------------------------------------------- the network


@pytest.mark.parametrize("widths,blocks", [((4, 8, 16), 1), ((8, 16), 2)])
def test_preact_resnet_shapes(widths, blocks):
    model = PreActResNet(widths, blocks)
    assert model(images(3)).shape == (3, 10)
    assert model.features(images(3)).shape == (3, widths[-1])


def test_preact_resnet_is_in_the_registry_and_checks_its_arguments():
    assert isinstance(build_model("preact_resnet", widths=[4, 8], blocks=1), PreActResNet)
    with pytest.raises(ValueError, match="positive widths"):
        PreActResNet((), 1)


# --------------------------------------------------------------------------- optimizer and schedule


def test_one_cycle_warms_up_then_anneals_to_zero():
    config_ = TrainConfig(3, 32, 0.1, seed=0, optimizer="sgd", lr_schedule="onecycle")
    rates = [learning_rate_at(config_, step, 100) for step in range(100)]
    peak = int(np.argmax(rates))
    assert rates[0] == pytest.approx(0.1 / 25) and max(rates) == pytest.approx(0.1, rel=1e-2)
    assert 15 <= peak <= 25 and rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert all(a <= b for a, b in zip(rates[:peak], rates[1 : peak + 1]))
    assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1 :]))
    assert learning_rate_at(dataclasses.replace(config_, lr_schedule="constant"), 50, 100) == 0.1
    with pytest.raises(ValueError, match="step must be in"):
        learning_rate_at(config_, 100, 100)


def test_bad_optimizer_or_schedule_is_refused():
    with pytest.raises(ValueError, match="optimizer must be one of"):
        TrainConfig(1, 32, 0.1, seed=0, optimizer="lamb")
    with pytest.raises(ValueError, match="lr_schedule one of"):
        TrainConfig(1, 32, 0.1, seed=0, lr_schedule="step")
    with pytest.raises(ValueError, match="label_smoothing"):
        Classification(label_smoothing=1.0)


def toy_data(n: int = 256):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, n)
    x = (rng.random((n, 28, 28)) * 40).astype(np.uint8)
    for i, label in enumerate(y):  # a learnable bright bar whose row is the label
        x[i, 2 + 2 * label, 4:24] = 255
    return make_tensor_split(x[: n * 3 // 4], y[: n * 3 // 4], x[n * 3 // 4 :], y[n * 3 // 4 :])


def test_augmented_one_cycle_training_resumes_exactly(tmp_path):
    data = toy_data()
    schedule = settings.get_schedule("smoke")
    full = beyond.Rung("every ingredient", schedule.augment, 0.1, 0.2)
    spec = beyond.spec(schedule, full, seed=0, epochs=2)
    whole = train_cached(spec, data, CheckpointStore(tmp_path / "a"), progress=False, verbose=False)

    class Interrupt(Exception):
        pass

    def stop_after_first(state):
        raise Interrupt

    torch.manual_seed(0)
    model = build_model(spec.model, **spec.hparams)
    saved = []
    with pytest.raises(Interrupt):
        fit(model, data, spec.config, progress=False, objective=Classification(0.1, schedule.augment, 0.2),
            on_epoch_end=lambda state: (saved.append(dataclasses.replace(state)), stop_after_first(state)))
    resumed = fit(model, data, spec.config, state=saved[0], progress=False,
                  objective=Classification(0.1, schedule.augment, 0.2))
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in whole.state.history])
    for name, tensor in whole.model.state_dict().items():
        torch.testing.assert_close(resumed.best_model[name], tensor)


def test_a_shorter_one_cycle_run_is_not_continued(tmp_path):
    # One-cycle depends on the total epochs: a finished 1-epoch run is not the start of a 2-epoch run.
    data, store = toy_data(), CheckpointStore(tmp_path)
    schedule = settings.get_schedule("smoke")
    short = beyond.spec(schedule, beyond.ablation_rungs(schedule)[0], seed=0, epochs=1)
    train_cached(short, data, store, progress=False, verbose=False)
    longer = dataclasses.replace(short, config=dataclasses.replace(short.config, epochs=2))
    assert store.longest_prefix(longer.meta(data)) is None
    constant = dataclasses.replace(longer, config=dataclasses.replace(longer.config, lr_schedule="constant"))
    train_cached(dataclasses.replace(constant, config=dataclasses.replace(constant.config, epochs=1)), data, store,
                 progress=False, verbose=False)
    assert store.longest_prefix(constant.meta(data)).epoch == 1


def test_ingredients_change_the_checkpoint_key():
    data = toy_data(64)
    schedule = settings.get_schedule("smoke")
    full = dataclasses.replace(schedule, mixup=0.2, label_smoothing=0.1)
    rungs = [beyond.recipe(full), *beyond.ablation_rungs(full)]
    keys = {key_of(beyond.spec(full, rung, 0).meta(data)) for rung in rungs}
    assert len(keys) == len(rungs) == 4


# --------------------------------------------------------------------------- the chapter's tables


def test_the_recipe_is_the_schedules_and_the_ablation_removes_one_ingredient_at_a_time():
    schedule = settings.get_schedule("cpu")
    recipe = beyond.recipe(schedule)
    assert recipe.augment == schedule.augment and recipe.mixup == schedule.mixup
    assert recipe.name == "PreAct ResNet with rotation, scale and shift"
    assert [r.name for r in beyond.ablation_rungs(schedule)] == ["without rotation, scale and shift"]
    full = dataclasses.replace(schedule, mixup=0.2, label_smoothing=0.1,
                               augment=dataclasses.replace(schedule.augment, elastic_alpha=34.0, cutout_px=6))
    rungs = beyond.ablation_rungs(full)
    assert [r.name for r in rungs] == ["without rotation, scale, shift, elastic distortion and cutout",
                                       "without mixup", "without label smoothing"]
    whole = beyond.recipe(full)
    for rung, kept in zip(rungs, [(None, 0.1, 0.2), (whole.augment, 0.1, 0.0), (whole.augment, 0.0, 0.2)]):
        assert (rung.augment, rung.label_smoothing, rung.mixup) == kept
    bare = dataclasses.replace(schedule, augment=AugmentSettings())
    assert beyond.ablation_rungs(bare) == [] and beyond.recipe(bare).name == "PreAct ResNet, no ingredients"


def test_one_call_trains_the_recipes_seeds_and_each_ablation_run_once_with_the_first_seed(smoke_ctx):
    three = dataclasses.replace(smoke_ctx, profile=dataclasses.replace(smoke_ctx.profile, seeds=(0, 1, 2)))
    schedule = settings.get_schedule("smoke")
    specs = beyond.chapter_specs(three, schedule)
    recipe = beyond.recipe(schedule)
    assert [(s.name, s.config.seed) for s in specs] == [(recipe.name, 0), (recipe.name, 1), (recipe.name, 2),
                                                         ("without rotation, scale and shift", 0)]
    assert len({key_of(s.meta(toy_data(64))) for s in specs}) == len(specs)
    # Every run keeps its last epoch's weights (the one-cycle schedule ends there), and its log names it.
    assert {s.config.keep for s in specs} == {"last"}
    assert specs[-1].display() == "without rotation, scale and shift (preact_resnet)"


def _ablation_runs(val: list[float], test: list[float]) -> pd.DataFrame:
    names = ["PreAct ResNet with rotation, scale and shift", "without rotation, scale and shift"]
    return pd.DataFrame([{"step": n, "seed": 0, "val_acc_kept": v, "test_accuracy": t, "train_seconds": 60.0}
                         for n, v, t in zip(names, val, test)])


def _recipe_runs(val_accs: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"seed": range(len(val_accs)), "val_acc_kept": val_accs,
                         "train_seconds": [60.0] * len(val_accs)})


def _singles(accuracies: list[float]) -> pd.DataFrame:
    """A test table of the recipe: one ``single`` row per seed and the ensemble's."""
    return pd.DataFrame({"model": ["single"] * len(accuracies) + ["ensemble"], "accuracy": [*accuracies, 0.5]})


def test_ablation_table_measures_each_ingredient_on_both_sets_against_the_recipes_spread():
    runs = _ablation_runs([0.990, 0.993], [0.982, 0.975])
    table = beyond.ablation_table(runs, _recipe_runs([0.990, 0.991, 0.992]), _singles([0.982, 0.980, 0.984]))
    assert table.recipe_gain_val.tolist() == pytest.approx([0.0, -0.003])
    assert table.recipe_gain_test.tolist() == pytest.approx([0.0, 0.007])
    assert table.seed_std_val.iloc[0] == pytest.approx(0.001) and table.seed_std_test.iloc[0] == pytest.approx(0.002)
    assert table.spread_seeds.iloc[0] == 3 and table.train_minutes.tolist() == pytest.approx([1.0, 1.0])
    one_seed = beyond.ablation_table(runs, _recipe_runs([0.990]), _singles([0.982]))
    assert one_seed.seed_std_val.iloc[0] == 0.0 and one_seed.noise_floor_test.iloc[0] == 0.0
    # The floor is at least the binomial standard error: 0.09 pt at 99% on 12,000 validation images.
    floored = beyond.ablation_table(runs, _recipe_runs([0.99, 0.99005, 0.99]), _singles([0.98, 0.98, 0.98]),
                                    val_images=12_000, test_images=10_000)
    assert floored.binomial_se_val.iloc[0] == pytest.approx(np.sqrt(0.99 * 0.01 / 12_000), rel=1e-3)
    assert floored.noise_floor_val.iloc[0] == floored.binomial_se_val.iloc[0] > floored.seed_std_val.iloc[0]
    assert floored.noise_floor_test.iloc[0] == pytest.approx(np.sqrt(0.98 * 0.02 / 10_000), rel=1e-3)


def test_ablation_findings_say_where_validation_and_test_disagree():
    runs = _ablation_runs([0.990, 0.993], [0.982, 0.975])
    table = beyond.ablation_table(runs, _recipe_runs([0.990, 0.991, 0.992]), _singles([0.982, 0.980, 0.984]))
    line, = beyond.ablation_findings(table)
    assert line.startswith("Rotation, scale and shift adds -0.30 pt on validation, a loss beyond its noise floor "
                           "of 0.10 pt, and +0.70 pt on test, more than its noise floor of 0.20 pt")
    assert line.endswith("validation and test disagree.")
    agreeing = _ablation_runs([0.990, 0.9895], [0.982, 0.9815])
    line, = beyond.ablation_findings(beyond.ablation_table(agreeing, _recipe_runs([0.990, 0.991, 0.992]),
                                                           _singles([0.982, 0.980, 0.984])))
    assert "within its noise floor" in line and line.endswith("validation and test agree.")
    line, = beyond.ablation_findings(beyond.ablation_table(runs, _recipe_runs([0.990]), _singles([0.982])))
    assert "no noise floor measured" in line and "cannot be told from noise" in line


def scores(seeds=(0, 1, 2)) -> beyond.TestScores:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 200)
    logits = []
    for s in seeds:
        z = rng.normal(size=(200, 10))
        z[np.arange(200), y] += 2.0 + s  # better models for larger seeds
        logits.append(z)
    return beyond.TestScores(tuple(seeds), logits, [z[:50] for z in logits], y)


def test_test_table_and_table1_rows():
    s = scores()
    table = s.table()
    assert list(table.model) == ["single"] * 3 + ["ensemble"]
    assert table.accuracy.iloc[0] < table.accuracy.iloc[2]
    assert table.accuracy.iloc[3] == pytest.approx(float((s.ensemble_pred == s.y_test).mean()))
    plain = beyond.ablation_rungs(settings.get_schedule("cpu"))[0]  # a recipe without ingredients
    rows = beyond.table1_rows(table, settings.get_schedule("cpu"), plain)
    accuracy = rows[rows.metric == "accuracy"]
    single, ensemble = accuracy.iloc[0], accuracy.iloc[1]
    # The ensemble is one model built from the three seeds: their count, and no spread.
    assert "ensemble of 3 seeds" in ensemble.model and ensemble.seeds == 3 and np.isnan(ensemble.ours_std)
    assert single.seeds == 3 and ensemble.ours_mean == pytest.approx(table.accuracy.iloc[3], abs=1e-4)
    assert single.ours_mean == pytest.approx(table.accuracy.iloc[:3].mean(), abs=1e-4)
    assert single.ours_std == pytest.approx(table.accuracy.iloc[:3].std(ddof=1), abs=1e-4)
    assert rows.paper.isna().all() and "cpu schedule" in single.model
    # The protocol describes the recipe chosen, never the ingredients of a rung it does not have.
    assert single.protocol.endswith("no augmentation, no mixup, no label smoothing")
    full = beyond.describe(beyond.Rung("all", settings.BEYOND_AUGMENT, 0.1, 0.2))
    assert "augmentation (rotation, scale and shift)" in full and "input mixup (Beta 0.2)" in full
    assert "label smoothing 0.1" in full


def test_findings_follow_the_numbers():
    test = pd.DataFrame({"model": ["single"] * 3 + ["ensemble"], "seed": ["0", "1", "2", "0+1+2"],
                         "accuracy": [0.991, 0.992, 0.990, 0.9925]})
    tuned = pd.DataFrame({"seed": [0, 1, 2], "accuracy": [0.972, 0.971, 0.973]})
    lines = anchors.test_findings(test, tuned)
    assert "meets the target 0.982" in lines[0] and "meets the target 0.986" in lines[1]
    assert "above the dataset paper's PreActResNet-18's" in lines[2]
    assert "above the dataset paper's best single model's" in lines[3]
    assert "meets the target 0.985" in lines[4] and "meets the target 0.989" in lines[5]
    # Paired by seed, never two groups' stds side by side.
    assert "paired by seed" in lines[7] and "PreAct ResNet is better" in lines[7]
    # One ensemble is one number: the sentence says no spread was measured and where one more member would fall.
    assert "no ensemble-to-ensemble spread was measured" in lines[6]
    assert "one more of its members would fall in [0.9860, 0.9960]" in lines[6]
    assert not any("std away" in line or "2 std" in line for line in lines)
    one = anchors.test_findings(test.iloc[[0, 3]], tuned)
    assert "one member, so no seed spread either" in one[6]
    low = test.assign(accuracy=[0.98, 0.981, 0.979, 0.982])
    lines = anchors.test_findings(low, tuned)
    assert "misses the target 0.982 by 0.20 pt" in lines[0] and "misses the target 0.985 by 0.30 pt" in lines[4]


def test_error_overlap_and_pairs():
    overlap = beyond.error_overlap(np.array([1, 2, 3]), np.array([2, 3, 4, 5]), "old")
    assert dict(zip(overlap.errors, overlap.images)) == {"old only": 2, "both": 2, "new model only": 1}
    assert "fixes 2 (50%)" in beyond.overlap_finding(overlap, "old")
    from kmnist_utils.core.data import class_label

    def wrong(pairs: dict[tuple[int, int], int]) -> pd.DataFrame:
        rows = [(t, p) for (t, p), n in pairs.items() for _ in range(n)]
        return pd.DataFrame(rows, columns=["true", "predicted"])

    # The old model errs most on 0/1, then on 2/3, 4/5 and 6/7; its 1/2 errors (6) are outside its top 2.
    old = wrong({(0, 1): 9, (2, 3): 8, (4, 5): 8, (1, 2): 6})
    new = wrong({(1, 2): 5, (2, 1): 2, (0, 1): 3})
    both = beyond.pairs_beside(new, old, "old", top=2).set_index(["class_a", "class_b"])
    assert list(both.columns) == ["old", "new model"]
    assert both.loc[(class_label(0), class_label(1))].tolist() == [9, 3]
    # Counted from the error list, never filled with 0: the old model's 6 errors on 1/2 are there.
    assert both.loc[(class_label(1), class_label(2))].tolist() == [6, 7]


def overconfident_scores(scale: float = 3.0, n: int = 4000) -> tuple[beyond.TestScores, np.ndarray]:
    """Three models whose logits are calibrated ones times ``scale``: labels drawn from softmax(z), the
    models output scale * z, so the temperature that calibrates each is ``scale``."""
    rng = np.random.default_rng(1)
    logits, labels = [], None
    base = rng.normal(size=(n, 10)) * 1.5
    probs = np.exp(base) / np.exp(base).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=p) for p in probs])
    for seed in range(3):
        logits.append(scale * (base + rng.normal(scale=0.05, size=base.shape)))
    half = n // 2
    return beyond.TestScores((0, 1, 2), [z[half:] for z in logits], [z[:half] for z in logits], labels[half:]), \
        labels[:half]


def test_calibration_check_fits_a_temperature_per_model():
    s, y_val = overconfident_scores(scale=3.0)
    table, temperatures = beyond.calibration_check(s, y_val)
    assert set(table.model) == set(temperatures) and len(table) == 8
    single, ensemble = temperatures.values()
    assert single == pytest.approx(3.0, rel=0.1)  # the scale the logits were inflated by
    assert ensemble != single  # fitted on the ensemble's own log-probabilities
    test = table[table.split == "test"].set_index(["model", "scaling"])
    for model in temperatures:  # scaling fitted on validation improves the test set
        assert test.loc[(model, "after"), "ece"] < test.loc[(model, "before"), "ece"]
        assert test.loc[(model, "after"), "nll"] < test.loc[(model, "before"), "nll"]
    panels = beyond.reliability_panels(s, temperatures)
    assert len(panels) == 4 and all(0 <= ece <= 1 for _, ece in panels.values())


def test_schedules_are_named_and_unknown_ones_refused():
    assert settings.PAPER.beyond_schedule == "cpu" and settings.SMOKE.beyond_schedule == "smoke"
    assert set(settings.BEYOND_SCHEDULES) == {"cpu", "smoke"}  # nothing that was never run
    with pytest.raises(ValueError, match="Unknown schedule 'full'"):
        settings.get_schedule("full")


def test_channels_last_schedules_refuse_the_widths_that_crash_torch():
    cpu = settings.get_schedule("cpu")
    with pytest.raises(ValueError, match="channels_last needs widths of at least 8"):
        dataclasses.replace(cpu, widths=(4, 8, 16))
    assert dataclasses.replace(cpu, widths=(4, 8, 16), channels_last=False).widths == (4, 8, 16)


# --------------------------------------------------------------------------- elastic distortion, mixup, cost


def test_elastic_distortion_is_smooth_seeded_and_of_simards_size():
    from kmnist_utils.engine.augment import elastic_field

    field = elastic_field(64, 28, 28, alpha=34.0, sigma=4.0, generator=generator(0), device="cpu")
    assert field.shape == (64, 28, 28, 2)
    rms = float(field.pow(2).sum(-1).sqrt().mean())
    assert 1.0 < rms < 4.0  # about two pixels: a distortion, not a new character
    neighbour_step = float((field[:, 1:] - field[:, :-1]).abs().mean())
    assert neighbour_step < 0.2 * float(field.abs().mean())  # smooth: neighbours move together
    torch.testing.assert_close(field, elastic_field(64, 28, 28, 34.0, 4.0, generator(0), "cpu"))
    x = images(4)
    moved = augment_batch(x, AugmentSettings(elastic_alpha=34.0), generator(1))
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert torch.equal(augment_batch(x, AugmentSettings(elastic_alpha=0.0), generator(1)), x)
    with pytest.raises(ValueError, match="elastic_alpha >= 0"):
        AugmentSettings(elastic_alpha=-1.0)


def test_mixup_blends_images_and_losses_with_one_weight_a_batch():
    data = toy_data(64)
    objective = Classification(mixup=0.4)
    assert objective.describe()["mixup"] == 0.4 and Classification().describe() is None
    objective.epoch_items(data, seed=0, epoch=0)
    seen = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            seen.append(x)
            return torch.zeros(len(x), 10)

    items = torch.arange(8)
    loss, _ = objective.batch_loss(Spy(), data, items)
    mixed, plain = seen[0], data.x_train[items]
    assert not torch.equal(mixed, plain)
    # Uniform logits: cross-entropy is log(10) against any label, whatever the blend.
    assert float(loss) == pytest.approx(math.log(10), rel=1e-6)
    again = Classification(mixup=0.4)
    again.epoch_items(data, seed=0, epoch=0)
    seen.clear()
    again.batch_loss(Spy(), data, items)
    torch.testing.assert_close(seen[0], mixed)  # seeded by (seed, epoch): exact resumes
    with pytest.raises(ValueError, match="mixup"):
        Classification(mixup=-0.1)


def test_cost_table_has_every_model_with_its_seed_spread():
    cnn = pd.DataFrame({"model": ["simple", "simple", "improved", "improved"], "seed": [0, 1, 0, 1],
                        "accuracy": [0.93, 0.94, 0.97, 0.96], "train_seconds": [60.0, 120.0, 600.0, 600.0]})
    tuned = pd.DataFrame({"seed": [0], "accuracy": [0.972], "train_seconds": [660.0]})
    rungs = pd.DataFrame({"step": ["base", "without augmentation"], "seed": [0, 0], "test_accuracy": [0.98, 0.97],
                          "train_seconds": [900.0, 880.0]})
    recipe_runs = pd.DataFrame({"seed": [0, 1], "train_seconds": [900.0, 960.0]})
    recipe_test = pd.DataFrame({"model": ["single", "single", "ensemble"], "accuracy": [0.985, 0.987, 0.99]})
    logreg = pd.DataFrame({"model": ["logreg"], "seed": [0], "accuracy": [0.6], "fit_seconds": [6.0]})
    table = beyond.cost_table(cnn, tuned, rungs, recipe_runs, recipe_test, "base", logreg).set_index("model")
    # Every classifier its title promises: the recipe's first-seed run once, as the recipe, and the
    # recipe's ensemble at the cost of all its members.
    assert list(table.index) == ["Logistic Regression", "Simple CNN", "Improved CNN", "TunedImprovedCNN",
                                 "ablation: recipe without augmentation", "recipe: base",
                                 "recipe: base, ensemble of 2 seeds"]
    ensemble = table.loc["recipe: base, ensemble of 2 seeds"]
    assert ensemble.accuracy_mean == 0.99 and ensemble.minutes_mean == pytest.approx(31.0) and ensemble.ensemble
    assert ensemble.seeds == 2 and np.isnan(ensemble.accuracy_std)  # one model built from two seeds
    assert table.loc["Logistic Regression", "minutes_mean"] == pytest.approx(0.1)
    ablated = table.loc["ablation: recipe without augmentation"]
    assert ablated.seeds == 1 and np.isnan(ablated.minutes_std) and ablated.accuracy_mean == 0.97
    assert table.loc["Simple CNN", "minutes_mean"] == pytest.approx(1.5)
    assert table.loc["Simple CNN", "accuracy_std"] == pytest.approx(np.std([0.93, 0.94], ddof=1))
    # One seed measures no spread: the std is empty, never a 0 that reads as "no variation".
    assert np.isnan(table.loc["TunedImprovedCNN", "accuracy_std"]) and table.loc["TunedImprovedCNN", "seeds"] == 1
    assert table.loc["recipe: base", "accuracy_mean"] == pytest.approx(0.986)  # singles only, no ensemble


def test_budget_findings_say_what_the_ensembles_minutes_bought_and_whether_that_covers_a_miss():
    costs = pd.DataFrame({"model": ["Simple CNN", "recipe: r", "recipe: r, ensemble of 3 seeds"],
                          "accuracy_mean": [0.93, 0.978, 0.981], "minutes_mean": [5.0, 25.0, 75.0],
                          "seeds": [3, 3, 3], "accuracy_std": [0.004, 0.001, float("nan")],
                          "ensemble": [False, False, True]})
    first, second = beyond.budget_findings(costs, 0.982)
    assert first.startswith("The ensemble spends 3.0 times the CPU minutes") and "+0.30 pt" in first
    # One ensemble against where one more single model would fall, the test set's binomial floor under the std.
    assert ("the ensemble's 0.9810 is inside the 95% prediction interval for one more single model of the recipe "
            "[0.9707, 0.9853] (its width set by the test set's binomial standard error)") in first
    assert "std away" not in first
    one = beyond.budget_findings(costs.assign(seeds=[1, 1, 1], accuracy_std=float("nan")), 0.982)[0]
    assert "one model's seed spread was not measured (one seed)" in one
    assert "missed by 0.40 pt" in second and "not enough to cover it" in second
    assert len(beyond.budget_findings(costs.assign(accuracy_mean=[0.93, 0.983, 0.985]), 0.982)) == 1
    assert "enough to cover it" in beyond.budget_findings(costs.assign(accuracy_mean=[0.93, 0.981, 0.985]), 0.982)[1]


def test_the_tuned_model_is_compared_as_an_ensemble_of_as_many_seeds(monkeypatch, smoke_ctx):
    """Like with like: the recipe's ensemble beside the TunedImprovedCNN's ensemble, not beside one seed."""
    import types

    import torch

    from kmnist_utils.core.data import Parts

    class Fixed(torch.nn.Module):  # a "model" whose logits favour one class for every image
        def __init__(self, favourite: int, strength: float) -> None:
            super().__init__()
            self.logits = torch.nn.Parameter(torch.zeros(10))
            with torch.no_grad():
                self.logits[favourite] = strength

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits.expand(len(x), 10)

    x = np.zeros((4, 28, 28), np.uint8)
    parts = Parts(x, np.arange(4), x, np.arange(4), x, np.array([0, 0, 1, 2]))
    models = [Fixed(0, 2.0), Fixed(1, 2.5), Fixed(0, 2.0)]  # seed 1 alone says 1; the ensemble says 0
    runs = [types.SimpleNamespace(trained=types.SimpleNamespace(model=m)) for m in models]
    monkeypatch.setattr(beyond.tuning, "tuned_runs", lambda ctx, parts, seeds: runs)
    wrong = beyond.tuned_ensemble_errors(smoke_ctx, parts)
    assert sorted(wrong["index"]) == [2, 3] and set(wrong.predicted) == {0}


def test_the_chapters_prose_describes_the_recipe_its_schedule_fixes():
    # The recipe is fixed in the schedule; the notebook's reasoning must not drift from it.
    from kmnist_utils.core.paths import NOTEBOOKS_DIR
    from kmnist_utils.pipeline import nbtools

    cells = nbtools.read(NOTEBOOKS_DIR / "07_beyond_paper.ipynb").cells
    prose = " ".join(" ".join(c.source.split()) for c in cells if c.cell_type == "markdown")
    schedule = settings.get_schedule("cpu")
    fixed = beyond.recipe(schedule)
    assert f"buys about {schedule.epochs} epochs" in prose
    assert fixed.augment is not None and "random rotations, scalings and shifts" in prose
    assert (fixed.augment.rotate_deg, fixed.augment.scale, fixed.augment.shift_px) != (0, 0, 0)
    assert fixed.augment.elastic_alpha == 0 and fixed.augment.cutout_px == 0
    assert fixed.mixup == 0 and fixed.label_smoothing == 0
    assert "Mixup slows fitting by design, and we judged it unlikely to pay" in prose
