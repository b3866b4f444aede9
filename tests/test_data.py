
import numpy as np
import pytest
from conftest import fake_checksums, idx_bytes, make_fake_kmnist, write_gz

from kmnist_utils.core import data
from kmnist_utils.core.data import KMNISTDataError


def load(root):
    return data.load_kmnist(root, download=False, checksums=fake_checksums(data.raw_dir(root)))


def test_decodes_synthetic_files(fake_root):
    ds = load(fake_root)
    assert ds.x_train.shape == (40, 28, 28) and ds.x_train.dtype == np.uint8
    assert ds.y_train.dtype == np.int64 and set(ds.y_train) == set(range(10))
    assert ds.x_test.shape == (20, 28, 28) and len(ds.y_test) == 20


def test_env_var_root_is_read_by_setup_and_used(fake_root, monkeypatch, tmp_path):
    from kmnist_utils.engine import context

    monkeypatch.setenv(data.DATA_ENV_VAR, str(fake_root))
    ctx = context.setup("smoke", output_root=tmp_path / "out", lock=False)
    assert ctx.data_root == str(fake_root)
    assert data.resolve_data_root(ctx.data_root) == fake_root
    assert data.locate_raw_files(ctx.data_root, download=False) == data.raw_dir(fake_root)


def test_missing_root_names_the_env_var(tmp_path, monkeypatch):
    with pytest.raises(KMNISTDataError, match=r"nowhere \(\$KMNIST_DATA or a caller\) does not exist"):
        data.locate_raw_files(tmp_path / "nowhere")


def test_missing_file_is_named(fake_root):
    (data.raw_dir(fake_root) / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(KMNISTDataError, match="Missing KMNIST file.*t10k-labels-idx1-ubyte.gz"):
        data.load_kmnist(fake_root, download=False)


def test_explicit_root_never_downloads(fake_root, monkeypatch):
    (data.raw_dir(fake_root) / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setattr(data, "download_kmnist", lambda root: pytest.fail("must not download"))
    with pytest.raises(KMNISTDataError, match="Missing"):
        data.locate_raw_files(fake_root, download=True)


@pytest.fixture
def no_shared(tmp_path, monkeypatch):
    """No ../shared/data beside the project, as in a user's clone."""
    monkeypatch.setattr(data, "SHARED_DATA_ROOT", tmp_path / "no-shared")


def test_existing_files_never_touch_the_network(fake_root, monkeypatch, no_shared):
    monkeypatch.setattr(data, "DEFAULT_DATA_ROOT", fake_root)
    monkeypatch.setattr(data, "download_kmnist", lambda root: pytest.fail("must not download"))
    assert data.locate_raw_files() == data.raw_dir(fake_root)


def test_default_root_downloads_when_files_are_absent(tmp_path, monkeypatch, no_shared):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_ROOT", tmp_path / "data")
    calls = []
    monkeypatch.setattr(data, "download_kmnist", lambda root: calls.append(root) or make_fake_kmnist(root))
    assert data.locate_raw_files() == data.raw_dir(tmp_path / "data")
    assert calls == [tmp_path / "data"]


def test_md5_mismatch_reports_expected_and_actual(fake_root):
    sums = fake_checksums(data.raw_dir(fake_root))
    actual = sums["train-labels-idx1-ubyte.gz"]
    sums["train-labels-idx1-ubyte.gz"] = "0" * 32
    with pytest.raises(KMNISTDataError, match=f"md5 mismatch.*train-labels.*expected 0{{32}}, got {actual}"):
        data.load_kmnist(fake_root, download=False, checksums=sums)


def test_official_checksums_reject_synthetic_files(fake_root):
    with pytest.raises(KMNISTDataError, match="md5 mismatch"):
        data.load_kmnist(fake_root, download=False)


def test_truncated_gzip(fake_root):
    path = data.raw_dir(fake_root) / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(
        KMNISTDataError, match="train-images-idx3-ubyte.gz is not a readable gzip file.*truncated or corrupt"
    ):
        data.read_idx_images(path)


def test_corrupt_gzip(fake_root):
    path = data.raw_dir(fake_root) / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(KMNISTDataError, match="not a readable gzip file"):
        data.read_idx_images(path)


def test_wrong_magic_suggests_swapped_files(tmp_path):
    path = write_gz(tmp_path / "x.gz", idx_bytes(np.zeros(5), data.LABELS_MAGIC))
    with pytest.raises(KMNISTDataError, match="holds labels where images were expected.*look swapped"):
        data.read_idx_images(path)
    other = write_gz(tmp_path / "y.gz", idx_bytes(np.zeros(5), 1234))
    with pytest.raises(KMNISTDataError, match="magic number 1234, expected 2049"):
        data.read_idx_labels(other)


def test_wrong_image_shape(tmp_path):
    path = write_gz(tmp_path / "x.gz", idx_bytes(np.zeros((3, 32, 32)), data.IMAGES_MAGIC))
    with pytest.raises(KMNISTDataError, match="32x32 pixels, expected 28x28"):
        data.read_idx_images(path)


def test_declared_size_larger_than_content(tmp_path):
    payload = idx_bytes(np.zeros((4, 28, 28)), data.IMAGES_MAGIC)
    payload = payload[:4] + (5).to_bytes(4, "big") + payload[8:]  # header says 5 images, 4 present
    path = write_gz(tmp_path / "x.gz", payload)
    with pytest.raises(KMNISTDataError, match=r"declares shape \(5, 28, 28\).*truncated"):
        data.read_idx_images(path)


def test_header_too_short(tmp_path):
    path = write_gz(tmp_path / "x.gz", b"\x00\x00")
    with pytest.raises(KMNISTDataError, match="too short"):
        data.read_idx_labels(path)


def test_label_out_of_range(tmp_path):
    path = write_gz(tmp_path / "y.gz", idx_bytes(np.array([1, 2, 12]), data.LABELS_MAGIC))
    with pytest.raises(KMNISTDataError, match="label 12"):
        data.read_idx_labels(path)


def test_image_label_count_mismatch(fake_root):
    folder = data.raw_dir(fake_root)
    write_gz(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(39), data.LABELS_MAGIC))
    with pytest.raises(KMNISTDataError, match="40 images but train-labels-idx1-ubyte.gz holds 39 labels"):
        load(fake_root)


def test_never_writes_into_data_root(fake_root):
    before = sorted(p.name for p in data.raw_dir(fake_root).iterdir())
    load(fake_root)
    assert sorted(p.name for p in data.raw_dir(fake_root).iterdir()) == before


def test_class_names():
    assert data.class_label(0) == "o (お)"
    assert data.class_label(9) == "wo (を)"
    assert [r for r, _ in data.CLASS_NAMES] == ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    with pytest.raises(ValueError, match="0..9"):
        data.class_label(10)


def test_split_sizes_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(10), 600)
    a = data.train_val_split(labels, seed=3)
    b = data.train_val_split(labels, seed=3)
    c = data.train_val_split(labels, seed=4)
    assert len(a.train_idx) == 4800 and len(a.val_idx) == 1200
    assert not set(a.train_idx) & set(a.val_idx)
    assert sorted(np.concatenate([a.train_idx, a.val_idx])) == list(range(6000))
    assert np.bincount(labels[a.val_idx]).tolist() == [120] * 10
    np.testing.assert_array_equal(a.train_idx, b.train_idx)
    np.testing.assert_array_equal(a.val_idx, b.val_idx)
    assert not np.array_equal(a.val_idx, c.val_idx)


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="val_fraction"):
        data.train_val_split(np.zeros(10, dtype=int), seed=0, val_fraction=1.5)


def test_real_data_is_the_official_release(real_kmnist):
    assert real_kmnist.x_train.shape == (60000, 28, 28)
    assert real_kmnist.x_test.shape == (10000, 28, 28)
    assert real_kmnist.y_train[:10].tolist() == [8, 7, 0, 1, 4, 2, 4, 8, 1, 1]
    assert np.bincount(real_kmnist.y_train).tolist() == [6000] * 10
    assert np.bincount(real_kmnist.y_test).tolist() == [1000] * 10
    assert data.to_unit_float(real_kmnist.x_test).mean() == pytest.approx(0.1846, abs=1e-4)
    split = data.train_val_split(real_kmnist.y_train, seed=0)
    assert (len(split.train_idx), len(split.val_idx)) == (48000, 12000)


def test_a_users_clone_downloads_into_data_through_load_official(tmp_path, monkeypatch, no_shared):
    # The path every notebook takes: load_official() with nothing configured.
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_ROOT", tmp_path / "data")
    data._cached_official.cache_clear()
    calls = []
    monkeypatch.setattr(data, "download_kmnist", lambda root: calls.append(root) or make_fake_kmnist(root))
    with pytest.raises(KMNISTDataError, match="md5 mismatch.*Delete it; the next run downloads it again"):
        data.load_official()  # synthetic files fail the official md5s, after the download
    assert calls == [tmp_path / "data"]
    data._cached_official.cache_clear()


def test_without_network_the_error_says_where_to_put_the_files(tmp_path, monkeypatch, no_shared):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_ROOT", tmp_path / "data")
    data._cached_official.cache_clear()

    def offline(url, *args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    monkeypatch.setattr("urllib.request.OpenerDirector.open", lambda self, *a, **k: offline(None))
    with pytest.raises(KMNISTDataError) as error:
        data.load_official()
    message = str(error.value)
    assert "Could not download KMNIST" in message and "network" in message
    assert f"into {data.raw_dir(tmp_path / 'data')}" in message and "train-images-idx3-ubyte.gz" in message
    assert "KMNIST_DATA=" not in message  # the user never set it
    data._cached_official.cache_clear()


def test_shared_data_beside_the_project_is_found_without_make(fake_root, monkeypatch):
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "SHARED_DATA_ROOT", fake_root)
    where = data.find_data_root()
    assert where.path == fake_root and not where.downloads and "beside the project" in where.source


def test_empty_and_swapped_files_are_named(fake_root, monkeypatch):
    folder = data.raw_dir(fake_root)
    sums = fake_checksums(folder)
    monkeypatch.setattr(data, "OFFICIAL_MD5", sums)
    train, test = folder / "train-labels-idx1-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    a, b = train.read_bytes(), test.read_bytes()
    train.write_bytes(b)
    test.write_bytes(a)
    with pytest.raises(KMNISTDataError, match="is the official t10k-labels-idx1-ubyte.gz, not train-labels.*swapped"):
        data.load_kmnist(fake_root, download=False, checksums=sums)
    train.write_bytes(b"")
    with pytest.raises(KMNISTDataError, match=r"train-labels-idx1-ubyte.gz is empty \(0 bytes\)"):
        data.load_kmnist(fake_root, download=False, checksums=sums)


def test_advice_depends_on_whether_we_download_there(fake_root, monkeypatch, tmp_path):
    path = data.raw_dir(fake_root) / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"not gzip")
    with pytest.raises(KMNISTDataError, match="Replace it with the official file"):
        data.read_idx_images(path)
    monkeypatch.setattr(data, "DEFAULT_DATA_ROOT", fake_root)
    with pytest.raises(KMNISTDataError, match="Delete it; the next run downloads it again"):
        data.read_idx_images(path)
