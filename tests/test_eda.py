import numpy as np
from conftest import fake_checksums

from kmnist_utils.chapters import eda
from kmnist_utils.core import data


def test_counts_summary_and_means(fake_root):
    ds = data.load_kmnist(fake_root, download=False, checksums=fake_checksums(data.raw_dir(fake_root)))
    parts = data.split_parts(ds, data.train_val_split(ds.y_train, seed=0))
    counts = eda.class_counts(parts)
    assert list(counts.columns) == ["train", "validation", "test"]
    assert counts.sum().tolist() == [30, 10, 20]  # 4 per class -> 1 held out each
    assert counts.index[3] == "tsu (つ)"
    summary = eda.dataset_summary(parts)
    assert summary.loc["test", "images"] == 20 and summary.loc["train", "image shape"] == "28x28"
    means = eda.mean_images(ds.x_train, ds.y_train)
    assert means.shape == (10, 28, 28) and 0 <= means.min() and means.max() <= 1


def test_pca_is_fitted_on_all_and_thins_only_the_scatter():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(300, 28, 28), dtype=np.uint8)
    labels = np.arange(300) % 10
    full = eda.fit_pca(images, labels, n_components=20)
    thin = eda.fit_pca(images, labels, n_components=20, max_points=50, seed=1)
    assert full.coords.shape == (300, 2) and thin.coords.shape == (50, 2) and len(thin.labels) == 50
    np.testing.assert_allclose(full.explained_variance_ratio, thin.explained_variance_ratio)
    ratio = full.explained_variance_ratio
    assert np.all(np.diff(ratio) <= 1e-12) and ratio.sum() <= 1
    table = eda.explained_variance_table(full, ks=(1, 2, 10, 50))
    assert table["components"].tolist() == [1, 2, 10]  # 50 > the 20 fitted components


def test_split_parts_subsets_are_seeded_prefixes(fake_root):
    ds = data.load_kmnist(fake_root, download=False, checksums=fake_checksums(data.raw_dir(fake_root)))
    split = data.train_val_split(ds.y_train, seed=0)
    full, small = data.split_parts(ds, split), data.split_parts(ds, split, train_size=5, val_size=3, test_size=7)
    assert (len(small.y_train), len(small.y_val), len(small.y_test)) == (5, 3, 7)
    assert np.array_equal(small.x_train, full.x_train[:5]) and np.array_equal(small.y_val, full.y_val[:3])
    again = data.split_parts(ds, split, test_size=7)
    assert np.array_equal(again.y_test, small.y_test)
