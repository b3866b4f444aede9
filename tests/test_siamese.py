import numpy as np
import pandas as pd
import pytest
import torch

from kmnist_utils.chapters import fewshot, oneshot, siamese
from kmnist_utils.core.data import Parts
from kmnist_utils.engine.models import SiameseNet
from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.stats import curves


def test_pairs_are_balanced_and_correctly_labelled():
    labels = np.repeat(np.arange(10), 30)
    pairs = siamese.sample_pairs(labels, 1000, seed=0)
    assert pairs.shape == (1000, 3) and pairs[:, 2].sum() == 500
    assert 200 < pairs[:500, 2].sum() < 300  # shuffled: a batch of the first pairs holds both kinds
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    assert np.array_equal(same, pairs[:, 2] == 1)
    assert not np.any(pairs[pairs[:, 2] == 1, 0] == pairs[pairs[:, 2] == 1, 1])  # never an image with itself


def test_pairs_are_seeded():
    labels = np.repeat(np.arange(5), 8)
    assert np.array_equal(siamese.sample_pairs(labels, 64, seed=3), siamese.sample_pairs(labels, 64, seed=3))
    assert not np.array_equal(siamese.sample_pairs(labels, 64, seed=3), siamese.sample_pairs(labels, 64, seed=4))


def test_pairs_cover_classes_and_respect_a_subset():
    labels = np.array([5, 5, 7, 7, 9, 9, 5, 7])  # non-contiguous class ids
    pairs = siamese.sample_pairs(labels, 400, seed=1)
    assert set(labels[pairs[:, :2].ravel()]) == {5, 7, 9}
    negatives = pairs[pairs[:, 2] == 0]
    assert np.all(labels[negatives[:, 0]] != labels[negatives[:, 1]])


def test_bad_pair_requests():
    with pytest.raises(ValueError, match="two classes"):
        siamese.sample_pairs(np.zeros(10, dtype=int), 10, seed=0)
    with pytest.raises(ValueError, match="at least two images"):
        siamese.sample_pairs(np.array([0, 0, 1]), 10, seed=0)


def test_network_output_shape_and_symmetry():
    torch.manual_seed(0)
    net = SiameseNet(embedding_dim=16).eval()
    a, b = torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    assert net(a, b).shape == (3,)
    torch.testing.assert_close(net(a, b), net(b, a))  # |z1 - z2| makes the score symmetric
    assert net.encoder(a).shape == (3, 16)


def test_nearest_support_on_a_hand_made_example():
    supports = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    queries = np.array([[1.0, 1.0], [9.0, 1.0], [1.0, 8.0], [6.0, 0.0]])
    assert fewshot.nearest_support(queries, supports, np.array([7, 8, 9])).tolist() == [7, 8, 9, 8]


def test_prototypes_are_class_means():
    emb = np.array([[0.0, 0.0], [2.0, 2.0], [10.0, 10.0], [12.0, 10.0]])
    labels = np.array([1, 1, 4, 4])
    np.testing.assert_allclose(fewshot.prototypes(emb, labels, np.array([4, 1])), [[11.0, 10.0], [1.0, 1.0]])


def test_supports_are_distinct_per_class_and_seeded():
    labels = np.repeat(np.arange(10), 20)
    idx = fewshot.draw_supports(labels, shots=5, seed=2)
    assert len(idx) == 50 and len(set(idx)) == 50
    assert labels[idx].tolist() == np.repeat(np.arange(10), 5).tolist()
    assert np.array_equal(idx, fewshot.draw_supports(labels, shots=5, seed=2))
    subset = fewshot.draw_supports(labels, shots=1, seed=0, classes=np.array([5, 6]))
    assert labels[subset].tolist() == [5, 6]


def test_few_shot_draws_on_separable_features():
    rng = np.random.default_rng(0)
    centers = np.eye(10) * 20
    train_labels, test_labels = np.repeat(np.arange(10), 10), np.repeat(np.arange(10), 5)
    train = centers[train_labels] + rng.normal(size=(100, 10))
    test = centers[test_labels] + rng.normal(size=(50, 10))
    draws = fewshot.few_shot_draws(train, train_labels, test, test_labels, shots=1, draws=3)
    assert draws.accuracy.tolist() == [1.0, 1.0, 1.0]
    five_way = fewshot.few_shot_draws(
        train, train_labels, test, test_labels, shots=5, draws=2, classes=np.arange(5, 10)
    )
    assert (five_way.f1_macro == 1.0).all()  # macro averages over the five classes in play only


def test_only_the_support_rows_are_embedded_and_the_draws_do_not_change():
    rng = np.random.default_rng(1)
    y_train, y_test = np.repeat(np.arange(10), 30), np.repeat(np.arange(10), 4)
    x_train, x_test = (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for n in (300, 40))
    parts = Parts(x_train, y_train, x_train[:10], y_train[:10], x_test, y_test)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 8)).eval()
    rows = fewshot.support_rows(y_train, [1, 5], draws=4, seed=3)
    every = [fewshot.draw_supports(y_train, k, derived_seed(3, d)) for k in (1, 5) for d in range(4)]
    assert np.array_equal(rows, np.unique(np.concatenate(every))) and len(rows) < len(y_train)
    full_train, full_test = oneshot.embed_parts(encoder, parts, "cpu")
    z_train, z_test = oneshot.embed_parts(encoder, parts, "cpu", rows)
    assert np.allclose(z_train[rows], full_train[rows], atol=1e-6) and np.allclose(z_test, full_test, atol=1e-6)
    assert np.isnan(np.delete(z_train, rows, axis=0)).all()
    for k in (1, 5):
        sparse = fewshot.few_shot_draws(z_train, y_train, z_test, y_test, shots=k, draws=4, seed=3)
        full = fewshot.few_shot_draws(full_train, y_train, full_test, y_test, shots=k, draws=4, seed=3)
        pd.testing.assert_frame_equal(sparse, full)
    with pytest.raises(ValueError, match="never embedded: embed the rows of fewshot.support_rows"):
        fewshot.few_shot_draws(z_train, y_train, z_test, y_test, shots=10, draws=4, seed=3)


def test_summarize_draws_places_the_reference():
    draws = pd.DataFrame({"accuracy": np.linspace(0.6, 0.8, 101)})
    s = fewshot.summarize_draws(draws, reference=0.7387)
    assert s["mean"] == pytest.approx(0.7) and s["draws"] == 101
    assert s["ci95_low"] == pytest.approx(0.605) and s["ci95_high"] == pytest.approx(0.795)
    assert s["reference_percentile"] == pytest.approx(70 / 101 * 100)  # 70 of the 101 values lie below 0.7387


def test_pairs_per_epoch_follow_the_number_of_training_images(smoke_ctx):
    def parts(n_train, n_val):
        x = np.zeros((n_train, 28, 28), np.uint8)
        return Parts(x, np.arange(n_train) % 10, x[:n_val], np.arange(n_val) % 10, x[:10], np.arange(10))

    full, half = parts(1_000, 200), oneshot.restrict(parts(1_000, 200), np.arange(5))
    s = smoke_ctx.profile.siamese
    spec_full = oneshot.siamese_spec(smoke_ctx, full, seed=0, objective="pairs").objective.describe()
    spec_half = oneshot.siamese_spec(smoke_ctx, half, seed=0, objective="pairs").objective.describe()
    assert spec_full["pairs_per_epoch"] == round(1_000 * s.pairs_per_image) and spec_full["val_pairs"] == 200
    assert spec_half["pairs_per_epoch"] == spec_full["pairs_per_epoch"] // 2 and spec_half["val_pairs"] == 100
    in_batch = oneshot.siamese_spec(smoke_ctx, full, seed=0)  # the profile's objective
    assert in_batch.objective.describe() == {"kind": "in_batch_pairs", "val_pairs": 200,
                                             "validation": siamese.VALIDATION_VERSION}
    assert in_batch.config.batch_size == s.in_batch_size and in_batch.config.patience == s.patience
    episodes = oneshot.siamese_spec(smoke_ctx, full, seed=0, objective="prototypical").objective
    per_episode = episodes.way * (episodes.shot + episodes.query)
    assert episodes.episodes_per_epoch * per_episode == pytest.approx(1_000, rel=0.1)  # one pass over the images
    with pytest.raises(ValueError, match="Siamese objective must be one of"):
        oneshot.siamese_spec(smoke_ctx, full, seed=0, objective="triplets")


def test_euclidean_head_ranks_pairs_by_distance():
    torch.manual_seed(0)
    net = SiameseNet(embedding_dim=8, head="euclidean").eval()
    z = torch.randn(5, 8)
    scores = net.score(z[:1], z)  # the first embedding against all five
    distances = (z - z[:1]).pow(2).sum(1)
    assert torch.equal(scores.argsort(descending=True), distances.argsort())
    assert net(torch.rand(2, 1, 28, 28), torch.rand(2, 1, 28, 28)).shape == (2,)
    with pytest.raises(ValueError, match="head must be one of"):
        SiameseNet(head="cosine")


def test_similarities_and_the_head_as_a_metric():
    supports = np.array([[1.0, 0.0], [0.0, 5.0]])
    queries = np.array([[3.0, 0.5], [1.0, 1.2]])  # the second is nearer [1, 0] but points towards [0, 5]
    assert fewshot.nearest_support(queries, supports, np.array([0, 1])).tolist() == [0, 0]
    assert fewshot.nearest_support(queries, supports, np.array([0, 1]), fewshot.cosine_similarity).tolist() == [0, 1]
    net = SiameseNet(embedding_dim=2).eval()
    with torch.no_grad():
        net.compare.weight.copy_(torch.tensor([[-1.0, -1.0]]))  # score = -L1 distance
        net.compare.bias.zero_()
    scores = fewshot.head_similarity(net)(queries, supports)
    np.testing.assert_allclose(scores, -np.abs(queries[:, None] - supports[None]).sum(-1))
    assert next(net.parameters()).dtype == torch.float32  # the network is left as it was


def test_few_shot_draws_accept_a_metric_by_name_or_function():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 10)
    features = np.eye(3)[labels] * 5 + rng.normal(size=(30, 3)) * 0.1
    by_name = fewshot.few_shot_draws(features, labels, features, labels, shots=1, draws=2, metric="cosine")
    by_function = fewshot.few_shot_draws(
        features, labels, features, labels, shots=1, draws=2, metric=fewshot.cosine_similarity
    )
    assert by_name.accuracy.tolist() == by_function.accuracy.tolist() == [1.0, 1.0]


def test_episodes_are_seeded_and_shaped():
    labels = np.repeat(np.arange(6), 20)
    episodes = siamese.sample_episodes(labels, episodes=4, way=3, shot=1, query=2, seed=0)
    assert episodes.shape == (4, 9)
    for row in episodes:
        per_class = labels[row].reshape(3, 3)
        assert (per_class == per_class[:, :1]).all() and len(set(per_class[:, 0])) == 3 and len(set(row)) == 9
    assert np.array_equal(episodes, siamese.sample_episodes(labels, 4, 3, 1, 2, seed=0))
    with pytest.raises(ValueError, match="way must be between 2"):
        siamese.sample_episodes(labels, 1, way=7, shot=1, query=1, seed=0)
    with pytest.raises(ValueError, match="shot \\+ query"):
        siamese.sample_episodes(labels, 1, way=2, shot=10, query=11, seed=0)


def test_prototypical_objective_trains_the_encoder():
    from kmnist_utils.engine.training import TrainConfig, fit, make_tensor_split

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 40)
    x = rng.integers(0, 40, (160, 28, 28)).astype(np.uint8)
    for i, label in enumerate(y):  # each class brightens its own quarter of the image
        x[i, (label // 2) * 14 : (label // 2 + 1) * 14, (label % 2) * 14 : (label % 2 + 1) * 14] += 180
    data = make_tensor_split(x, y, x, y)
    objective = siamese.PrototypicalObjective(episodes_per_epoch=20, val_episodes=8, way=4, shot=1, query=5)
    torch.manual_seed(0)
    state = fit(
        SiameseNet(embedding_dim=8),
        data,
        TrainConfig(3, 1, 1e-3, seed=0, precision="fp32"),
        objective=objective,
        progress=False,
    )
    assert state.history[-1]["val_acc"] > 0.9 and state.history[-1]["val_loss"] < state.history[0]["val_loss"]
    assert objective.describe()["kind"] == "prototypical"


def test_class_splits_are_distinct_partitions():
    splits = fewshot.class_splits(10, seen=8, splits=5, seed=0)
    assert len({tuple(seen) for seen, _ in splits}) == 5
    for seen, novel in splits:
        assert len(seen) == 8 and len(novel) == 2 and set(seen) | set(novel) == set(range(10))
    with pytest.raises(ValueError, match="only 45 ways"):
        fewshot.class_splits(10, seen=8, splits=46, seed=0)
    with pytest.raises(ValueError, match="at least two classes"):
        fewshot.class_splits(10, seen=9, splits=1, seed=0)


def test_mean_interval_and_unseen_summary():
    mean, low, high = fewshot.mean_interval(np.array([0.4, 0.5, 0.6]))
    assert mean == pytest.approx(0.5) and low == pytest.approx(0.5 - 4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    assert np.isnan(fewshot.mean_interval(np.array([0.4]))[1])
    rows = pd.DataFrame(
        [
            {"seen_classes": 5, "way": 5, "split": s, "embedding": e, "accuracy": a}
            for s, (ours, pix) in enumerate([(0.6, 0.4), (0.62, 0.41), (0.58, 0.39)])
            for e, a in (("encoder", ours), ("pixels", pix))
        ]
    )
    summary = oneshot.summarize_unseen(rows).set_index("embedding")
    assert summary.loc["encoder", "accuracy"] == pytest.approx(0.6)
    assert summary.loc["pixels", "ci95_high"] > 0.4 > summary.loc["pixels", "ci95_low"]
    assert not summary.isna().any().any()  # every row complete: no differences mixed into the accuracy table
    (difference,) = oneshot.unseen_differences(rows, ("encoder",), ("pixels",)).itertuples()
    assert (difference.encoder, difference.baseline, difference.splits) == ("encoder", "pixels", 3)
    assert difference.difference == pytest.approx(0.2) and difference.ci95_low > 0.15


def test_seed_summary_separates_draw_and_seed_spread():
    draws = pd.DataFrame({"seed": [0, 0, 1, 1], "accuracy": [0.6, 0.7, 0.8, 0.9]})
    out = oneshot.seed_summary(draws)
    assert out["mean"] == pytest.approx(0.75) and out["seeds"] == 2 and out["draws_per_seed"] == 2
    assert out["draw_std"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert out["seed_std"] == pytest.approx(np.std([0.65, 0.85], ddof=1))
    assert np.isnan(oneshot.seed_summary(draws[draws.seed == 0])["seed_std"])


def test_oneshot_vs_paper_table():
    draws = pd.DataFrame(
        {"seed": [0, 0, 1, 1], "draw": [0, 1, 0, 1], "accuracy": [0.6, 0.7, 0.8, 0.9], "f1_macro": [0.5, 0.6, 0.7, 0.8]}
    )
    table = oneshot.oneshot_vs_paper(draws, {"accuracy": 0.74, "f1_macro": 0.73}).set_index("metric")
    assert table.loc["accuracy", "ours, first draw"] == 0.6 and table.loc["accuracy", "paper"] == 0.74
    assert table.loc["f1_macro", "ours, mean of draws"] == pytest.approx(0.65)
    assert table.loc["accuracy", "encoder seeds"] == 2


def _metric_draws(seeds=(0, 1), draws=5):
    rows = [
        {"embedding": name, "seed": s, "draw": d, "accuracy": base + 0.01 * s + 0.001 * d}
        for name, base in ((oneshot.PROTOCOL_ROW, 0.85), ("Siamese encoder, cosine distance", 0.80))
        for s in seeds
        for d in range(draws)
    ]
    return pd.DataFrame(rows)


def test_spread_and_kshot_summaries_per_embedding():
    draws = _metric_draws()
    spread = oneshot.spread_by_embedding(draws)
    assert list(spread.index) == [oneshot.PROTOCOL_ROW, "Siamese encoder, cosine distance"]
    assert spread.loc[oneshot.PROTOCOL_ROW, "seed_std"] == pytest.approx(np.std([0.852, 0.862], ddof=1))
    kshot = oneshot.kshot_summary(draws.assign(shots=1))
    assert list(kshot.embedding) == list(spread.index) and kshot["draws"].eq(10).all()


def test_oneshot_findings_compare_every_metric_with_the_protocol():
    lines = oneshot.oneshot_findings(_metric_draws(), reference=0.7387, targets={"target": 0.80, "aim": 0.86})
    # Single draws against the paper's single draw; no mean over draws per seed judged against one draw.
    assert len(lines) == 4 and not any("per encoder seed" in line or "std away" in line for line in lines)
    assert "above" in lines[0] and "draws" in lines[0]
    assert "against the target: 0.8570, meets the target 0.8" in lines[1]
    assert "against the aim: 0.8570, misses the target 0.86 by 0.30 pt" in lines[2]
    assert "cosine" in lines[3] and "paired by seed" in lines[3]


def _quarter_data(n_per_class: int = 40, classes: int = 4):
    from kmnist_utils.engine.training import make_tensor_split

    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.integers(0, 40, (len(y), 28, 28)).astype(np.uint8)
    for i, label in enumerate(y):  # each class brightens its own quarter of the image
        x[i, (label // 2) * 14 : (label // 2 + 1) * 14, (label % 2) * 14 : (label % 2 + 1) * 14] += 180
    return make_tensor_split(x, y, x, y)


def test_in_batch_loss_weighs_same_and_different_pairs_half_and_half():
    net = SiameseNet(embedding_dim=2, head="euclidean")
    z = torch.tensor([[0.0, 0.0], [0.0, 0.1], [3.0, 0.0], [3.0, 0.1], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 1, 1, 2])
    loss, accuracy = siamese.in_batch_pair_loss(net, z, labels)
    scores = net.score(z[:, None], z[None, :])
    first, second = torch.triu_indices(5, 5, 1)
    same = labels[first] == labels[second]  # 2 same-class pairs of 10
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        scores[first, second], same.float(), reduction="none")
    torch.testing.assert_close(loss, 0.5 * bce[same].mean() + 0.5 * bce[~same].mean())
    # bias 0: every logit <= 0, so every pair is called 'different': half the balanced accuracy.
    assert float(accuracy) == pytest.approx(0.5)
    # A batch without any same-class pair still gives a finite loss over the pairs it has.
    loss_only_different, _ = siamese.in_batch_pair_loss(net, z[[0, 2, 4]], labels[[0, 2, 4]])
    assert torch.isfinite(loss_only_different)


def test_in_batch_objective_trains_the_encoder_and_validates_one_shot():
    from kmnist_utils.engine.training import TrainConfig, fit

    data = _quarter_data()
    objective = siamese.InBatchPairObjective(val_pairs=64, batch_size=32)
    torch.manual_seed(0)
    state = fit(SiameseNet(embedding_dim=8, head="euclidean"), data, TrainConfig(3, 32, 3e-3, seed=0),
                objective=objective, progress=False)
    assert len(objective.epoch_items(data, 0, 0)) == len(data.y_train)  # one pass over the images an epoch
    # 160 images in batches of 53: the last batch would hold one image and no pair, so it sits out.
    odd = siamese.InBatchPairObjective(val_pairs=64, batch_size=53)
    assert len(odd.epoch_items(data, 0, 0)) == 159
    with pytest.raises(ValueError, match="at least 2 images"):
        siamese.InBatchPairObjective(val_pairs=64, batch_size=1)
    with pytest.raises(ValueError, match="holds no pair"):
        siamese.in_batch_pair_loss(SiameseNet(embedding_dim=2), torch.zeros(1, 2), torch.zeros(1, dtype=torch.long))
    assert state.history[-1]["val_acc"] > 0.9  # the validation 1-shot accuracy
    assert state.history[-1]["val_loss"] < state.history[0]["val_loss"]
    assert objective.describe()["kind"] == "in_batch_pairs"


def test_validation_one_shot_is_one_for_separable_embeddings_and_chance_for_noise():
    y = torch.arange(5).repeat_interleave(20)
    perfect = torch.nn.Identity()
    x = torch.nn.functional.one_hot(y, 5).float() * 10
    assert siamese.validation_one_shot(perfect, x, y, draws=5) == 1.0
    noise = torch.randn(100, 16, generator=torch.Generator().manual_seed(0))
    assert 0.05 < siamese.validation_one_shot(perfect, noise, y, draws=20) < 0.4  # 5-way: chance 0.2


def test_plateau_epoch_and_table():
    assert curves.plateau_epoch([0.80, 0.88, 0.91, 0.913, 0.912], tolerance=0.005) == 3
    assert curves.plateau_epoch([0.80, 0.88, 0.91, 0.93], tolerance=0.005) == 4
    with pytest.raises(ValueError, match="at least one epoch"):
        curves.plateau_epoch([])
    history = pd.DataFrame({"objective": ["a"] * 3 + ["b"] * 2, "epoch": [1, 2, 3, 1, 2],
                            "val_acc": [0.8, 0.9, 0.902, 0.6, 0.7], "seconds": [60.0] * 3 + [120.0] * 2})
    table = curves.plateau_table(history).set_index("objective")
    assert table.loc["a", "plateau_epoch"] == 2 and table.loc["a", "minutes_to_plateau"] == pytest.approx(2.0)
    assert table.loc["b", "best_epoch"] == 2 and table.loc["b", "epochs"] == 2


def test_objectives_compared_at_equal_time():
    history = pd.DataFrame({"objective": ["fast"] * 4 + ["slow"] * 2, "epoch": [1, 2, 3, 4, 1, 2],
                            "val_acc": [0.5, 0.6, 0.7, 0.8, 0.55, 0.65], "seconds": [30.0] * 4 + [60.0] * 2})
    history["minutes"] = history.groupby("objective").seconds.cumsum() / 60
    table = curves.at_equal_time(history)
    at_one = table[table.minutes == 1.0].set_index("objective")
    assert at_one.loc["fast", "epoch"] == 2 and at_one.loc["fast", "val_1shot"] == 0.6
    assert at_one.loc["slow", "epoch"] == 1 and at_one.loc["slow", "val_1shot"] == 0.55
    assert set(table.minutes) == {1.0, 2.0}


# --------------------------------------------------------------------------- the paper's method


def test_paper_pairs_are_drawn_as_the_papers_code_drew_them():
    """Anchors uniform over all images, same class with probability one half (a binomial count, the anchor
    itself allowed as its partner), a different class uniform over the others; seeded."""
    labels = np.repeat(np.arange(10), 30)
    pairs = siamese.paper_pairs(labels, 20_000, seed=3)
    assert pairs.shape == (20_000, 3) and np.array_equal(pairs, siamese.paper_pairs(labels, 20_000, seed=3))
    same = pairs[:, 2] == 1
    assert np.array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)
    assert abs(same.mean() - 0.5) < 0.02 and same.sum() != 10_000  # a binomial count, not fixed at one half
    assert (pairs[same, 0] == pairs[same, 1]).any()  # the paper's code may pair an image with itself
    other = labels[pairs[~same, 1]]
    assert np.bincount(other, minlength=10).min() > 0.08 * len(other)  # every other class drawn
    with pytest.raises(ValueError, match="at least two classes"):
        siamese.paper_pairs(np.zeros(5, int), 10, seed=0)


def test_the_papers_encoder_and_head():
    torch.manual_seed(0)
    net = SiameseNet(embedding_dim=256, head="weighted_l1", encoder="paper")
    convs = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1)), (128, 128, (3, 3), (1, 1))]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net.encoder.project.in_features == 128 * 3 * 3 and net.compare.in_features == 256
    x1, x2 = torch.rand(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    z1, z2 = net.encoder(x1), net.encoder(x2)
    assert z1.shape == (4, 256) and (z1 >= 0).all()  # the embedding is ReLU'd, as in the paper's code
    torch.testing.assert_close(net(x1, x2), net.compare((z1 - z2).abs()).squeeze(1))
    with pytest.raises(ValueError, match="encoder must be one of"):
        SiameseNet(encoder="resnet")


def test_paper_pair_objective_trains_the_papers_network():
    from kmnist_utils.engine.training import TrainConfig, fit

    data = _quarter_data()
    objective = siamese.PaperPairObjective(pairs_per_epoch=256, val_pairs=64)
    assert objective.describe()["kind"] == "paper_pairs"
    items = objective.epoch_items(data, 0, 0)
    assert items.shape == (256, 3) and torch.equal(items, objective.epoch_items(data, 0, 0))
    assert not torch.equal(items, objective.epoch_items(data, 0, 1))
    torch.manual_seed(0)
    state = fit(SiameseNet(embedding_dim=16, encoder="paper"), data, TrainConfig(3, 32, 1e-3, seed=0),
                objective=objective, progress=False)
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"] and state.kept_epoch("last") == 3


def _ladder_draws(differences: dict[str, float], seeds=(0, 1, 2), draws=20) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = 0.74 + 0.01 * rng.standard_normal((len(seeds), draws))
    rows = []
    for rung, shift in differences.items():
        for i, seed in enumerate(seeds):
            for draw in range(draws):
                rows.append({"rung": rung, "seed": seed, "draw": draw, "accuracy": base[i, draw] + shift + 0.001 * i,
                             "f1_macro": 0.7})
    return pd.DataFrame(rows)


def test_ladder_table_pairs_every_rung_with_the_papers_method_over_seeds_and_draws():
    draws = _ladder_draws({oneshot.PAPER_RUNG: 0.0, "+ in-batch pairs": 0.05, oneshot.OURS_RUNG: 0.0})
    table = oneshot.ladder_table(draws, {oneshot.OURS_RUNG: "ours"}).set_index("rung")
    assert list(table.index) == [oneshot.PAPER_RUNG, "+ in-batch pairs", oneshot.OURS_RUNG]
    assert table.loc[oneshot.PAPER_RUNG, "difference"] == 0
    better = table.loc["+ in-batch pairs"]
    assert better.difference == pytest.approx(0.05) and better.ci95_low > 0 and better.interval_over == "encoder seeds"
    assert table.loc[oneshot.OURS_RUNG, "change"] == "ours" and table.loc["+ in-batch pairs", "change"] == (
        "+ in-batch pairs")  # a rung without a description is named by itself
    assert 0 <= table.loc[oneshot.PAPER_RUNG, "paper_percentile"] <= 100
    assert np.isnan(table.loc["+ in-batch pairs", "paper_percentile"])
    lines = oneshot.ladder_findings(draws, table.reset_index())
    assert "percentile" in lines[0] and "better, beyond the noise" in lines[1] and "includes 0" not in lines[1]
    # The last rung is back at the paper's level: a step down from the rung before it, and said so.
    assert np.isnan(table.loc[oneshot.PAPER_RUNG, "step_difference"])
    assert table.loc["+ in-batch pairs", "step_difference"] == pytest.approx(0.05)
    ours = table.loc[oneshot.OURS_RUNG]
    assert ours.step_difference == pytest.approx(-0.05) and ours.step_ci95_high < 0
    assert "against the rung before it (+ in-batch pairs)" in lines[2] and "worse, beyond the noise" in lines[2]
    assert "rung before" not in lines[1]  # the first change's rung before is the paper's method itself
    one_seed = oneshot.ladder_table(draws[draws.seed == 0]).set_index("rung")
    assert one_seed.loc["+ in-batch pairs", "interval_over"] == "draws (one seed)"
    with pytest.raises(ValueError, match="not drawn over the paper method's seeds and draws"):
        oneshot.ladder_table(draws[(draws.rung == oneshot.PAPER_RUNG) | (draws.seed == 0)])


def test_ladder_specs_follow_the_papers_schedule_on_all_training_images(smoke_ctx):
    x = np.zeros((100, 28, 28), np.uint8)
    parts = Parts(x, np.arange(100) % 10, x[:20], np.arange(20) % 10, x[:10], np.arange(10))
    runs = oneshot.ladder_runs(smoke_ctx, parts)
    p = smoke_ctx.profile.siamese.paper
    assert [r for r, *_ in runs] == [r.name for r in oneshot.LADDER for _ in smoke_ctx.seeds] + [oneshot.OURS_RUNG]
    rung, seed, spec, pool = runs[0]
    assert rung == oneshot.PAPER_RUNG and len(pool.y_train) == 120  # training and validation images together
    assert spec.hparams == {"embedding_dim": 256, "head": "weighted_l1", "encoder": "paper"}
    assert (spec.config.epochs, spec.config.batch_size, spec.config.learning_rate, spec.config.keep) == (
        p.epochs, 128, 1e-3, "last")
    assert spec.objective.describe()["pairs_per_epoch"] == p.pairs_per_epoch
    assert runs[-1][2].config.keep == "best" and runs[-1][3] is parts
    changes = oneshot.ladder_changes(smoke_ctx, parts)  # the numbers of the run's own settings
    assert f"{p.pairs_per_epoch:,} random pairs an epoch from the 120 training images, {p.epochs} epochs" in (
        changes[oneshot.PAPER_RUNG])
    assert "the 100-image split" in changes[oneshot.OURS_RUNG]
    from kmnist_utils.settings import PAPER
    assert (PAPER.siamese.paper.pairs_per_epoch, PAPER.siamese.paper.epochs, PAPER.siamese.paper.embedding_dim) == (
        60_000, 10, 256)
