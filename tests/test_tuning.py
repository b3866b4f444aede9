import pandas as pd
import pytest

from kmnist_utils import settings
from kmnist_utils.chapters import tuning
from kmnist_utils.engine import context
from kmnist_utils.stats import selection


def test_paper_grid_has_twelve_points_in_a_fixed_order():
    points = tuning.grid_points(dict(settings.PAPER.grid))
    assert len(points) == 12
    assert {p["learning_rate"] for p in points} == {1e-3, 5e-4}
    assert {p["dropout"] for p in points} == {0.3, 0.4, 0.5}
    assert {p["batch_size"] for p in points} == {64, 128}
    assert len({tuple(sorted(p.items())) for p in points}) == 12
    # scikit-learn's order: keys sorted, the last key (learning_rate) varying fastest
    assert points[:3] == [{"batch_size": 64, "dropout": 0.3, "learning_rate": 1e-3},
                          {"batch_size": 64, "dropout": 0.3, "learning_rate": 5e-4},
                          {"batch_size": 64, "dropout": 0.4, "learning_rate": 1e-3}]
    assert points[-1] == {"batch_size": 128, "dropout": 0.5, "learning_rate": 5e-4}


def test_grid_needs_every_key():
    with pytest.raises(ValueError, match="batch_size"):
        tuning.grid_points({"learning_rate": [1e-3], "dropout": [0.4]})


def test_grid_spec_maps_the_point(tmp_path):
    ctx = context.setup("paper", output_root=tmp_path, lock=False, calibrate=False)  # a mapping: nothing timed
    spec = tuning.grid_spec(ctx, {"learning_rate": 5e-4, "dropout": 0.3, "batch_size": 128}, seed=2, epochs=3)
    assert spec.model == "improved" and spec.hparams == {"dropout": 0.3}
    assert (spec.config.learning_rate, spec.config.batch_size, spec.config.epochs, spec.config.seed) == (
        5e-4,
        128,
        3,
        2,
    )
    tuned = tuning.tuned_spec(ctx, {"learning_rate": 1e-3, "dropout": 0.4, "batch_size": 128}, seed=0)
    assert tuned.config.epochs == 10


def results(*rows):
    return pd.DataFrame(rows, columns=["grid_index", "learning_rate", "dropout", "batch_size", "val_acc", "val_loss"])


def test_selects_the_best_validation_accuracy():
    r = results((0, 1e-3, 0.3, 64, 0.95, 0.2), (1, 1e-3, 0.4, 128, 0.97, 0.1), (2, 5e-4, 0.5, 64, 0.96, 0.05))
    assert selection.select_best(r).grid_index == 1


def test_ties_go_to_lower_loss_then_earlier_point():
    r = results((0, 1e-3, 0.3, 64, 0.97, 0.2), (1, 1e-3, 0.4, 64, 0.97, 0.1), (2, 5e-4, 0.5, 64, 0.97, 0.1))
    assert selection.select_best(r).grid_index == 1
    assert selection.select_best(r.iloc[::-1]).grid_index == 1  # row order does not matter
    ranked = selection.ranked(r)
    assert ranked.grid_index.tolist() == [1, 2, 0] and ranked.gap_to_best_pts.tolist() == [0, 0, 0]


def test_empty_results_are_an_error():
    with pytest.raises(ValueError, match="no grid results"):
        selection.select_best(results())


def test_the_paper_picks_train_beside_our_grids_pick_each_configuration_once(smoke_ctx, real_kmnist, monkeypatch):
    """Our grid's pick (protocol "paper") and the paper's text's and notebook's picks, one training call; a pick
    that is our grid's own trains once and serves both rows."""
    from kmnist_utils import references
    from kmnist_utils.engine import runner

    parts = runner.load_parts(smoke_ctx)
    calls = []
    real_train = tuning.train_and_test

    def counting(ctx, parts, specs):
        calls.append([(s.config.batch_size, s.hparams["dropout"]) for s in specs])
        return real_train(ctx, parts, specs)

    monkeypatch.setattr(tuning, "train_and_test", counting)
    picked = tuning.picked_runs(smoke_ctx, parts, [0], references.NOTEBOOK_TUNED_CONFIG)
    assert list(picked) == [references.PROTOCOL, *references.PICK_PROTOCOLS]
    assert calls == [[(64, 0.5), (128, 0.4)]]  # one call; our pick is the notebook's: trained once
    text, notebook = (picked[p][0] for p in references.PICK_PROTOCOLS)
    assert picked[references.PROTOCOL][0] is notebook
    assert (text.trained.meta["config"]["batch_size"], text.trained.meta["hparams"]) == (128, {"dropout": 0.4})
    assert text.trained.meta["config"]["epochs"] == smoke_ctx.profile.tuned_epochs
