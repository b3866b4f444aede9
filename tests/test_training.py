"""The engine on tiny synthetic data: learning, best-state restore, determinism, caching, resume."""

import dataclasses

import numpy as np
import pytest
import torch

from kmnist_utils.chapters import siamese
from kmnist_utils.engine import checkpoints, training
from kmnist_utils.engine.checkpoints import CheckpointStore, TrainSpec, key_of, train_cached
from kmnist_utils.engine.training import FitState, TrainConfig, fit


def toy_split(n_train=256, n_val=128, seed=0) -> training.TensorSplit:
    """Two easily separable 'classes': bright top half vs bright bottom half, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 2, size=n)
        x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            rows = slice(0, 14) if label == 0 else slice(14, 28)
            x[i, rows] = np.clip(x[i, rows].astype(int) + 150, 0, 255)
        return x, y

    x_tr, y_tr = make(n_train)
    x_va, y_va = make(n_val)
    return training.make_tensor_split(x_tr, y_tr, x_va, y_va)


def simple_model(seed=0):
    from kmnist_utils.engine.models import SimpleCNN

    torch.manual_seed(seed)
    return SimpleCNN()


def test_loss_decreases_and_accuracy_rises():
    data = toy_split()
    state = fit(simple_model(), data, TrainConfig(3, 32, 1e-3, seed=0, precision="fp32"), progress=False)
    losses = [h["train_loss"] for h in state.history]
    assert losses[-1] < losses[0] * 0.5
    assert state.history[-1]["val_acc"] > 0.9


def test_keep_best_restores_the_lowest_validation_loss_epoch():
    """Validation labels inverted: the better the model fits, the worse its validation loss, so the
    best epoch is the first, and with keep="best" the final weights must be epoch 1's, not the last's."""
    data = toy_split()
    inverted = training.TensorSplit(data.x_train, data.y_train, data.x_val, 1 - data.y_val, data.fingerprint)
    model = simple_model()
    snapshots = []
    state = fit(model, inverted, TrainConfig(4, 32, 1e-3, seed=0, precision="fp32", keep="best"),
                on_epoch_end=lambda s: snapshots.append(training.snapshot(model)), progress=False)
    losses = [h["val_loss"] for h in state.history]
    assert state.best_epoch == 1 + losses.index(min(losses)) == 1 and state.kept_epoch("best") == 1
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshots[0][name])
    assert any(not torch.equal(snapshots[0][n], snapshots[-1][n]) for n in snapshots[0])


def test_the_default_is_the_papers_protocol_final_weights_with_the_best_epoch_still_recorded():
    """The paper's code restored a live reference, i.e. the last epoch: that is the default. The run still
    records the lowest-validation-loss epoch and its weights, so the variant needs no training, and keep
    stays out of the checkpoint key (one run serves both)."""
    data = toy_split()
    inverted = training.TensorSplit(data.x_train, data.y_train, data.x_val, 1 - data.y_val, data.fingerprint)
    model = simple_model()
    snapshots = []
    config = TrainConfig(3, 32, 1e-3, seed=0, precision="fp32")
    assert config.keep == "last"
    state = fit(model, inverted, config, on_epoch_end=lambda s: snapshots.append(training.snapshot(model)),
                progress=False)
    assert state.kept_epoch("last") == 3 and state.best_epoch == 1
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshots[-1][name])
        assert torch.equal(state.kept_weights("best")[name], snapshots[0][name])
    metas = [TrainSpec("simple", dataclasses.replace(config, keep=k)).meta(data) for k in ("best", "last")]
    assert metas[0] == metas[1] and "keep" not in metas[0]["config"]
    with pytest.raises(ValueError, match="keep must be one of"):
        TrainConfig(1, 32, 1e-3, seed=0, keep="middle")
    with pytest.raises(ValueError, match="keep must be one of"):
        state.kept_weights("middle")


def test_a_cached_run_gives_both_sets_of_weights(tmp_path):
    data, store = toy_split(), CheckpointStore(tmp_path)
    inverted = training.TensorSplit(data.x_train, data.y_train, data.x_val, 1 - data.y_val, data.fingerprint)
    spec = TrainSpec("simple", TrainConfig(3, 32, 1e-3, seed=0, precision="fp32"))
    first = train_cached(spec, inverted, store, progress=False)
    again = train_cached(dataclasses.replace(spec, config=dataclasses.replace(spec.config, keep="best")), inverted,
                         store, progress=False)
    assert again.from_cache and (first.kept_epoch, again.kept_epoch) == (3, 1)
    variant = first.with_keep("best")
    assert variant.keep == "best" and variant.kept_epoch == 1 and first.with_keep("last") is first
    for name, tensor in variant.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name])
    assert any(not torch.equal(first.model.state_dict()[n], variant.model.state_dict()[n])
               for n in variant.model.state_dict())


def test_restore_uses_a_copy_not_a_live_reference():
    data = toy_split()
    model = simple_model()
    state = fit(model, data, TrainConfig(2, 32, 1e-3, seed=0, precision="fp32"), progress=False)
    frozen = {k: v.clone() for k, v in state.best_model.items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # later training steps must not leak into the saved best state
    for name, tensor in state.best_model.items():
        torch.testing.assert_close(tensor, frozen[name])


def test_seeded_runs_repeat_exactly_on_cpu():
    data = toy_split()
    config = TrainConfig(2, 32, 1e-3, seed=7, precision="fp32")
    a = fit(simple_model(7), data, config, progress=False)
    b = fit(simple_model(7), data, config, progress=False)
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    for name in a.best_model:
        assert torch.equal(a.best_model[name], b.best_model[name])


def test_bad_config_and_precision():
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(0, 32, 1e-3, seed=0)
    with pytest.raises(ValueError, match="precision must be one of"):
        training.resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(1, 32, 1e-3, seed=0, precision="half")
    assert training.resolve_precision("fp32", "cpu") == "fp32"
    assert training.resolve_precision("bf16", "cpu") == "bf16"  # asked for: bf16 on any CPU, emulated if need be
    assert TrainConfig(1, 32, 1e-3, seed=0).precision == "fp32"  # one precision for every machine unless asked


def test_auto_precision_follows_the_native_bf16_switch(monkeypatch):
    from kmnist_utils.engine import device

    assert not device.native_bf16("cpu", allowed=False)
    assert training.resolve_precision("auto", "cpu", native=False) == "fp32"
    monkeypatch.setattr(device.torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert training.resolve_precision("auto", "cpu") == "bf16"
    assert training.resolve_precision("auto", "cpu", native=device.native_bf16("cpu", allowed=False)) == "fp32"
    monkeypatch.setattr(device.torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert training.resolve_precision("auto", "cpu") == "fp32"


def test_the_native_bf16_switch_is_read_by_setup(tmp_path, monkeypatch):
    from kmnist_utils.engine import context, device

    monkeypatch.setattr(device.torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.delenv(context.NATIVE_BF16_ENV_VAR, raising=False)
    assert context.setup("smoke", output_root=tmp_path, lock=False, precision="auto").precision == "bf16"
    monkeypatch.setenv(context.NATIVE_BF16_ENV_VAR, "0")
    assert context.setup("smoke", output_root=tmp_path, lock=False, precision="auto").precision == "fp32"
    monkeypatch.setenv(context.NATIVE_BF16_ENV_VAR, "off")
    with pytest.raises(ValueError, match="KMNIST_NATIVE_BF16 must be 1 or 0"):
        context.setup("smoke", output_root=tmp_path, lock=False)


def test_bf16_runs_the_convolutions_in_bf16_and_the_loss_in_fp32():
    data = toy_split()
    seen, states, models = {}, {}, {}
    for precision in ("fp32", "bf16"):
        model = simple_model()
        dtypes = seen.setdefault(precision, set())
        first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        first_conv.register_forward_hook(lambda m, i, out, dtypes=dtypes: dtypes.add(out.dtype) if m.training else None)
        states[precision] = fit(model, data, TrainConfig(2, 32, 1e-3, seed=0, precision=precision), progress=False)
        models[precision] = model
    assert seen == {"fp32": {torch.float32}, "bf16": {torch.bfloat16}}
    # The weights stay fp32 (autocast, not a bf16 model), but they differ: bf16 really was used.
    weights = {
        p: torch.cat([t.flatten() for t in m.state_dict().values() if t.is_floating_point()]) for p, m in models.items()
    }
    assert weights["bf16"].dtype == torch.float32 and not torch.equal(weights["bf16"], weights["fp32"])
    losses = {p: np.array([h["train_loss"] for h in s.history]) for p, s in states.items()}
    assert np.allclose(losses["bf16"], losses["fp32"], rtol=0.1)  # same course, within bf16's rounding


def spec(epochs=2, seed=0):
    return TrainSpec("simple", TrainConfig(epochs, 32, 1e-3, seed=seed, precision="fp32"))


def test_cache_miss_then_hit(tmp_path):
    data, store = toy_split(), CheckpointStore(tmp_path)
    first = train_cached(spec(), data, store, progress=False)
    second = train_cached(spec(), data, store, progress=False)
    assert not first.from_cache and second.from_cache
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, second.model.state_dict()[name])
    assert second.state.history == first.state.history
    other = train_cached(spec(seed=1), data, store, progress=False)  # a different key: trains again
    assert not other.from_cache
    assert len(list(tmp_path.glob("*.pt"))) == 2 and not list(tmp_path.glob("*.partial.pt"))


def test_key_depends_on_everything_that_matters(monkeypatch):
    data = toy_split()
    base_spec = TrainSpec("improved", TrainConfig(2, 32, 1e-3, seed=0, precision="fp32"), {"dropout": 0.4})
    base = key_of(base_spec.meta(data))
    assert key_of(base_spec.meta(data)) == base
    changed = {"epochs": 3, "batch_size": 64, "learning_rate": 5e-4, "seed": 1, "precision": "bf16", "patience": 2,
               "optimizer": "sgd", "weight_decay": 5e-4, "lr_schedule": "onecycle", "channels_last": True,
               "threads": 1}
    # keep only picks which recorded weights a run is scored with: the same run, the same key.
    assert set(changed) | {"keep"} == {f.name for f in dataclasses.fields(TrainConfig)}, (
        "a new TrainConfig field needs a case here"
    )
    for name, value in changed.items():
        other = dataclasses.replace(base_spec, config=dataclasses.replace(base_spec.config, **{name: value}))
        assert key_of(other.meta(data)) != base, name
    assert key_of(dataclasses.replace(base_spec, model="simple", hparams={}).meta(data)) != base
    assert key_of(dataclasses.replace(base_spec, hparams={"dropout": 0.3}).meta(data)) != base
    assert key_of(base_spec.meta(toy_split(seed=1))) != base
    objective = siamese.PairObjective(100, 20)
    assert key_of(dataclasses.replace(base_spec, objective=objective).meta(data)) != base
    monkeypatch.setattr(checkpoints, "ENGINE_VERSION", checkpoints.ENGINE_VERSION + 1)
    assert key_of(base_spec.meta(data)) != base


def test_a_networks_version_is_part_of_its_key_above_one(monkeypatch):
    """A network whose computation changes without new parameters (the ResNet-like CNN's final ReLU) must not
    load the old network's checkpoints: its record's version is in the key; version 1 keeps the older keys."""
    from kmnist_utils import settings

    data = toy_split()
    resnet = TrainSpec("resnet", TrainConfig(2, 32, 1e-3, seed=0, precision="fp32"))
    assert settings.RECORDS["resnet"].version == 2 and resnet.meta(data)["architecture"] == 2
    simple = TrainSpec("simple", TrainConfig(2, 32, 1e-3, seed=0, precision="fp32"))
    assert "architecture" not in simple.meta(data)
    before = key_of(simple.meta(data))
    bumped = dataclasses.replace(settings.RECORDS["simple"], version=2)
    monkeypatch.setattr(checkpoints, "RECORDS", {**settings.RECORDS, "simple": bumped})
    assert key_of(simple.meta(data)) != before


def test_corrupt_checkpoint_is_reported_and_retrained(tmp_path, capsys):
    data, store = toy_split(), CheckpointStore(tmp_path)
    trained = train_cached(spec(), data, store, progress=False)
    path = store.path(trained.meta)
    path.write_bytes(b"garbage")
    again = train_cached(spec(), data, store, progress=False)
    assert not again.from_cache and "unusable" in capsys.readouterr().err
    assert path.is_file()


def test_a_flipped_bit_inside_the_weights_is_detected(tmp_path, capsys):
    import zipfile

    data, store = toy_split(), CheckpointStore(tmp_path)
    trained = train_cached(spec(), data, store, progress=False)
    path = store.path(trained.meta)
    with zipfile.ZipFile(path) as archive:  # the largest entry is a weight tensor
        entry = max(archive.infolist(), key=lambda info: info.file_size)
    raw = bytearray(path.read_bytes())
    # The entry's data starts after its 30-byte local header, name and extra field.
    name_len = int.from_bytes(raw[entry.header_offset + 26 : entry.header_offset + 28], "little")
    extra_len = int.from_bytes(raw[entry.header_offset + 28 : entry.header_offset + 30], "little")
    start = entry.header_offset + 30 + name_len + extra_len
    raw[start + entry.file_size // 2] ^= 0x04  # one bit of one weight
    path.write_bytes(bytes(raw))
    assert torch.load(path, weights_only=True)  # torch alone reads the damaged file without complaint
    again = train_cached(spec(), data, store, progress=False)
    err = capsys.readouterr().err
    assert not again.from_cache and "fails the CRC check" in err and "training again" in err
    for name, tensor in trained.model.state_dict().items():  # retrained to the same weights
        assert torch.equal(tensor, again.model.state_dict()[name])


def test_mismatched_checkpoint_is_retrained(tmp_path, capsys):
    data, store = toy_split(), CheckpointStore(tmp_path)
    trained = train_cached(spec(), data, store, progress=False)
    payload = torch.load(store.path(trained.meta), weights_only=True)
    payload["meta"]["engine"] = -1
    torch.save(payload, store.path(trained.meta))
    assert not train_cached(spec(), data, store, progress=False).from_cache
    assert "does not match" in capsys.readouterr().err


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    data = toy_split()
    full = train_cached(spec(epochs=3), data, CheckpointStore(tmp_path / "a"), progress=False)

    store = CheckpointStore(tmp_path / "b")
    meta = spec(epochs=3).meta(data)

    class Interrupt(Exception):
        pass

    def stop_after_first(state: FitState):
        store.save(meta, state, partial=True)
        raise Interrupt

    torch.manual_seed(0)
    with pytest.raises(Interrupt):
        fit(simple_model(0), data, spec(epochs=3).config, on_epoch_end=stop_after_first, progress=False)
    assert store.path(meta, partial=True).is_file()
    resumed = train_cached(spec(epochs=3), data, store, progress=False)
    assert [h["train_loss"] for h in resumed.state.history] == [h["train_loss"] for h in full.state.history]
    assert not store.path(meta, partial=True).exists()


def test_longer_run_continues_a_finished_shorter_one_exactly(tmp_path):
    data = toy_split()
    direct = train_cached(spec(epochs=3), data, CheckpointStore(tmp_path / "a"), progress=False)
    store = CheckpointStore(tmp_path / "b")
    short = train_cached(spec(epochs=1), data, store, progress=False)
    longer = train_cached(spec(epochs=3), data, store, progress=False)
    assert not longer.from_cache
    assert longer.state.history[0] == short.state.history[0]  # epoch 1 was not trained again
    assert [h["train_loss"] for h in longer.state.history] == [h["train_loss"] for h in direct.state.history]
    for name, tensor in direct.model.state_dict().items():
        assert torch.equal(tensor, longer.model.state_dict()[name])


def test_milestones_store_the_shorter_run_on_the_way(tmp_path):
    data, store = toy_split(), CheckpointStore(tmp_path)
    train_cached(spec(epochs=3), data, store, progress=False, milestones=(1, 5))
    assert store.is_finished(spec(epochs=1).meta(data)) and not store.is_finished(spec(epochs=2).meta(data))
    reference = train_cached(spec(epochs=1), data, CheckpointStore(tmp_path / "ref"), progress=False)
    from_milestone = train_cached(spec(epochs=1), data, store, progress=False)
    assert from_milestone.from_cache
    assert from_milestone.state.history == [
        {**reference.state.history[0], "seconds": from_milestone.state.history[0]["seconds"]}
    ]


def test_validation_score_is_computed_once_and_kept(tmp_path, monkeypatch):
    from kmnist_utils.engine import checkpoints

    data, store = toy_split(), CheckpointStore(tmp_path)
    trained = train_cached(spec(epochs=1), data, store, progress=False)
    first = checkpoints.validation_score(trained, data, store)
    assert first == training.evaluate(trained.model, data.x_val, data.y_val, precision="fp32")
    monkeypatch.setattr(checkpoints, "evaluate", lambda *a, **k: pytest.fail("evaluated again"))
    reloaded = train_cached(spec(epochs=1), data, store, progress=False)
    assert reloaded.from_cache and checkpoints.validation_score(reloaded, data, store) == first


def test_patience_stops_once_validation_loss_stops_improving():
    rng = np.random.default_rng(0)
    noise = lambda n: rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)  # noqa: E731  (a one-line helper)
    data = training.make_tensor_split(noise(128), rng.integers(0, 10, 128), noise(64), rng.integers(0, 10, 64))
    state = fit(simple_model(), data, TrainConfig(30, 32, 1e-2, seed=0, precision="fp32", patience=2), progress=False)
    assert state.epoch < 30  # random labels: the validation loss soon stops improving
    assert state.epoch - state.best_epoch == 2 and len(state.history) == state.epoch


def test_patience_rules():
    config = TrainConfig(10, 32, 1e-3, seed=0, patience=3)
    assert not config.stops_after(FitState(epoch=4, best_epoch=2))
    assert config.stops_after(FitState(epoch=5, best_epoch=2))
    assert TrainConfig(10, 32, 1e-3, seed=0).stops_after(FitState(epoch=10, best_epoch=10))
    assert not TrainConfig(10, 32, 1e-3, seed=0).stops_after(FitState(epoch=9, best_epoch=1))
    with pytest.raises(ValueError, match="patience"):
        TrainConfig(10, 32, 1e-3, seed=0, patience=0)


def test_patience_is_part_of_the_key_only_when_set():
    data = toy_split(32, 16)
    plain = TrainSpec("simple", TrainConfig(3, 16, 1e-3, seed=0)).meta(data)
    assert "patience" not in plain["config"]
    patient = TrainSpec("simple", TrainConfig(3, 16, 1e-3, seed=0, patience=2)).meta(data)
    assert patient["config"]["patience"] == 2 and key_of(plain) != key_of(patient)


def test_a_full_disk_while_saving_a_checkpoint_is_one_clear_error(tmp_path, monkeypatch):
    data, store = toy_split(), CheckpointStore(tmp_path)

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 8896 vs 8790")

    monkeypatch.setattr(torch, "save", full)
    message = r"Could not write checkpoint .*unexpected pos.*MiB free.*finished checkpoints are kept"
    with pytest.raises(OSError, match=message):
        train_cached(spec(epochs=1), data, store, progress=False)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left behind


def test_epoch_line_for_runs_without_a_progress_bar():
    state = fit(simple_model(), toy_split(), TrainConfig(1, 32, 1e-3, seed=0, precision="fp32"), progress=False)
    last = state.history[-1]
    assert state.line("simple seed 0", 5) == (f"simple seed 0: epoch 1/5, val_loss {last['val_loss']:.4f}, "
                                              f"val_acc {last['val_acc']:.4f}, {last['seconds']:.0f} s")
