import numpy as np
import pandas as pd
import pytest
import torch

from kmnist_utils import siamese
from kmnist_utils.models import SiameseNet


def test_pairs_are_balanced_and_correctly_labelled():
    labels = np.repeat(np.arange(10), 30)
    pairs = siamese.sample_pairs(labels, 1000, seed=0)
    assert pairs.shape == (1000, 3) and pairs[:, 2].sum() == 500
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
    assert siamese.nearest_support(queries, supports, np.array([7, 8, 9])).tolist() == [7, 8, 9, 8]


def test_prototypes_are_class_means():
    emb = np.array([[0.0, 0.0], [2.0, 2.0], [10.0, 10.0], [12.0, 10.0]])
    labels = np.array([1, 1, 4, 4])
    np.testing.assert_allclose(siamese.prototypes(emb, labels, np.array([4, 1])), [[11.0, 10.0], [1.0, 1.0]])


def test_supports_are_distinct_per_class_and_seeded():
    labels = np.repeat(np.arange(10), 20)
    idx = siamese.draw_supports(labels, shots=5, seed=2)
    assert len(idx) == 50 and len(set(idx)) == 50
    assert labels[idx].tolist() == np.repeat(np.arange(10), 5).tolist()
    assert np.array_equal(idx, siamese.draw_supports(labels, shots=5, seed=2))
    subset = siamese.draw_supports(labels, shots=1, seed=0, classes=np.array([5, 6]))
    assert labels[subset].tolist() == [5, 6]


def test_few_shot_draws_on_separable_features():
    rng = np.random.default_rng(0)
    centers = np.eye(10) * 20
    train_labels, test_labels = np.repeat(np.arange(10), 10), np.repeat(np.arange(10), 5)
    train = centers[train_labels] + rng.normal(size=(100, 10))
    test = centers[test_labels] + rng.normal(size=(50, 10))
    draws = siamese.few_shot_draws(train, train_labels, test, test_labels, shots=1, draws=3)
    assert draws.accuracy.tolist() == [1.0, 1.0, 1.0]
    five_way = siamese.few_shot_draws(train, train_labels, test, test_labels, shots=5, draws=2, classes=np.arange(5, 10))
    assert (five_way.f1_macro == 1.0).all()  # macro averages over the five classes in play only


def test_summarize_draws_places_the_reference():
    draws = pd.DataFrame({"accuracy": np.linspace(0.6, 0.8, 101)})
    s = siamese.summarize_draws(draws, reference=0.7387)
    assert s["mean"] == pytest.approx(0.7) and s["draws"] == 101
    assert s["ci95_low"] == pytest.approx(0.605) and s["ci95_high"] == pytest.approx(0.795)
    assert s["reference_percentile"] == pytest.approx(70 / 101 * 100)  # 70 of the 101 values lie below 0.7387


def test_pairs_per_epoch_follow_the_number_of_training_images(smoke_ctx):
    from kmnist_utils import experiments
    from kmnist_utils.experiments import Parts

    def parts(n_train, n_val):
        x = np.zeros((n_train, 28, 28), np.uint8)
        return Parts(x, np.arange(n_train) % 10, x[:n_val], np.arange(n_val) % 10, x[:10], np.arange(10))

    full, half = parts(1_000, 200), experiments.restrict(parts(1_000, 200), np.arange(5))
    s = smoke_ctx.profile.siamese
    spec_full = experiments.siamese_spec(smoke_ctx, full, seed=0).objective.describe()
    spec_half = experiments.siamese_spec(smoke_ctx, half, seed=0).objective.describe()
    assert spec_full["pairs_per_epoch"] == round(1_000 * s["pairs_per_image"]) and spec_full["val_pairs"] == 200
    assert spec_half["pairs_per_epoch"] == spec_full["pairs_per_epoch"] // 2 and spec_half["val_pairs"] == 100
