"""N runs trained as one batched model give what N separate runs give (same inits, same data order).

Grouped kernels sum in another order than the plain ones, and the rounding of that order depends
on the CPU's kernels (AVX2, AVX-512, bf16), so the tolerances come from what is compared, not from one
machine:

- One optimizer step (``test_the_first_step_matches``): the loss before the step is one forward pass,
  equal up to summation-order rounding, at most a few hundred ulps of the precision (fp32: 1e-5
  relative; bf16, whose activations round to 8 bits: 1e-2). Adam's first update is
  ``lr * g / (|g| + eps)``, so every weight moves by at most ``lr`` and two runs differ by at most
  ``2 * lr`` anywhere; where ``|g|`` is far above ``eps`` (the update is within 0.1% of ``lr``) the
  update does not depend on rounding at all and must agree to ``1e-3 * lr``: a learning rate 10% off,
  another run's batch or another run's weights fail this.
- Two epochs (``test_a_batched_run_matches_separate_runs``): Adam's normalised step turns 1e-7
  gradient differences in near-zero gradients (biases before batch norm) into full ``lr`` steps, and
  these compound; measured: 6.6e-3 relative in the epoch-2 training loss on an AVX-512 EPYC, 1e-4 on
  an AVX2 one. The check is therefore loose (5e-2), which still fails on a wrong data order (12-30%
  on this toy data) and on a wrong model; the first-step test is the tight one.
"""

import numpy as np
import pytest
import torch
from torch import nn

from kmnist_utils import batched, cnns, runner
from kmnist_utils.checkpoints import CheckpointStore, TrainSpec, train_cached
from kmnist_utils.models import SiameseEncoder, build_model
from kmnist_utils.training import TrainConfig, fit, make_tensor_split

ARCHITECTURES = (("simple", {}), ("resnet", {}), ("improved", {"dropout": 0.0}))


def toy(seed=0, n_train=160, n_val=64):
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, label * 2 : label * 2 + 6, 5:20] = 220  # a bar whose height says the class
        return x, y

    return (*make(n_train), *make(n_val))


def seeded(name, hparams, seed):
    torch.manual_seed(seed)
    return build_model(name, **hparams)


@pytest.mark.parametrize("name,hparams", ARCHITECTURES)
def test_grouped_forward_equals_each_model(name, hparams):
    models = [seeded(name, hparams, seed) for seed in (0, 1, 2)]
    grouped = batched.group(models)
    x = torch.rand(5, 3, 28, 28)  # model n sees channel n
    for mode in ("eval", "train"):  # train mode: batch statistics per model
        for m in (*models, grouped):
            getattr(m, mode)()
        out = grouped(x).reshape(5, 3, -1)
        for i, model in enumerate(models):
            assert torch.allclose(out[:, i], model(x[:, i : i + 1]), atol=1e-5), (name, mode, i)


def test_grouped_batch_norm_keeps_separate_running_statistics():
    encoders = [SiameseEncoder(8) for _ in range(2)]
    grouped = batched.group(encoders).train()
    x = torch.rand(6, 2, 28, 28)
    grouped(x)
    batched.write_back(grouped)
    reference = SiameseEncoder(8)
    reference.load_state_dict(encoders[1].state_dict() | {k: v for k, v in SiameseEncoder(8).state_dict().items()
                                                          if "running" in k or "num_batches" in k})
    reference.train()(x[:, 1:2])
    for (key, value), expected in zip(encoders[1].state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(value.float(), expected.float(), atol=1e-6), key


def test_dropout_rate_per_model():
    torch.manual_seed(0)
    drop = batched.GroupedDropout([0.0, 0.5, 0.9]).train()
    kept = (drop(torch.ones(2000, 3 * 10)).reshape(2000, 3, 10) != 0).float().mean(dim=(0, 2))
    assert kept.tolist() == pytest.approx([1.0, 0.5, 0.1], abs=0.02)
    assert torch.equal(drop.eval()(torch.ones(4, 30)), torch.ones(4, 30))


def test_grouping_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="one architecture"):
        batched.group([build_model("simple"), build_model("resnet")])

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.inner = nn.LayerNorm(4)

    with pytest.raises(TypeError, match="cannot group layer inner of type LayerNorm"):
        batched.group([Odd(), Odd()])
    with pytest.raises(ValueError, match="same epochs, batch size, precision, memory format and threads"):
        batched.fit_batched([build_model("simple")] * 2, make_tensor_split(*toy(), "cpu"),
                            [TrainConfig(1, 32, 1e-3, seed=0), TrainConfig(2, 32, 1e-3, seed=1)])


@pytest.mark.parametrize("name,hparams", [ARCHITECTURES[0], ARCHITECTURES[2]])
def test_a_batched_run_matches_separate_runs(name, hparams):
    data = make_tensor_split(*toy(n_train=256), "cpu")
    configs = [TrainConfig(2, 32, lr, seed=seed, precision="fp32") for seed, lr in ((0, 1e-3), (1, 5e-4), (2, 1e-3))]
    separate = []
    for config in configs:
        model = seeded(name, hparams, config.seed)
        separate.append((model, fit(model, data, config, progress=False)))
    models = [seeded(name, hparams, c.seed) for c in configs]
    states = batched.fit_batched(models, data, configs)
    for (alone, alone_state), together, state in zip(separate, models, states):
        for key in ("train_loss", "val_loss"):
            assert [h[key] for h in state.history] == pytest.approx([h[key] for h in alone_state.history],
                                                                    rel=5e-2, abs=1e-5)
        # 64 validation images: a difference of a few images is the compounding described above.
        assert [h["val_acc"] for h in state.history] == pytest.approx([h["val_acc"] for h in alone_state.history],
                                                                      abs=4 / 64)
        assert state.epoch == 2
        for key, value in alone_state.model.items():  # the last epoch's weights (the best may tie)
            assert torch.allclose(state.model[key].float(), value.float(), atol=0.05), key


LOSS_RTOL = {"fp32": 1e-5, "bf16": 1e-2}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])  # bf16 runs on every CPU: emulated where not native
@pytest.mark.parametrize("name,hparams", [ARCHITECTURES[0], ARCHITECTURES[2]])
def test_the_first_step_matches(name, hparams, precision):
    data = make_tensor_split(*toy(n_train=32), "cpu")  # one batch: one optimizer step
    configs = [TrainConfig(1, 32, lr, seed=seed, precision=precision) for seed, lr in ((0, 1e-3), (1, 5e-4))]
    initial = [seeded(name, hparams, c.seed).state_dict() for c in configs]
    separate = [fit(seeded(name, hparams, c.seed), data, c, progress=False) for c in configs]
    states = batched.fit_batched([seeded(name, hparams, c.seed) for c in configs], data, configs)
    for config, start, alone, together in zip(configs, initial, separate, states):
        assert together.history[0]["train_loss"] == pytest.approx(alone.history[0]["train_loss"],
                                                                   rel=LOSS_RTOL[precision])
        lr, settled = config.learning_rate, 0
        for key, before in start.items():
            if not before.is_floating_point():
                continue
            step_alone = alone.model[key].float() - before.float()
            step_together = together.model[key].float() - before.float()
            gap = (step_together - step_alone).abs()
            assert gap.max() <= 2 * lr * (1 + 1e-3), key  # Adam's first step moves a weight by at most lr
            clear = step_alone.abs() > (1 - 1e-3) * lr  # |g| >> eps: the update ignores rounding
            assert torch.all(gap[clear] <= 1e-3 * lr), (key, gap[clear].max())
            settled += int(clear.sum())
        # The tight check must cover much of the network (the rest: zero gradients behind dead ReLUs, and
        # near-zero ones such as biases before batch norm).
        assert settled > 0.3 * sum(v.numel() for v in start.values() if v.is_floating_point())


def test_group_checkpoints_are_what_train_cached_loads(tmp_path):
    data = make_tensor_split(*toy(n_train=128, n_val=64), "cpu")
    store = CheckpointStore(tmp_path)
    specs = [TrainSpec("improved", TrainConfig(1, 32, 1e-3, seed=s, precision="fp32"), {"dropout": d})
             for s, d in ((0, 0.3), (0, 0.5))]
    written = batched.train_group_cached(specs, data, store)
    assert len(written) == 2 and all(p.is_file() for p in written)
    assert batched.train_group_cached(specs, data, store) == []  # finished: nothing to do
    loaded = [train_cached(spec, data, store, progress=False) for spec in specs]
    assert [t.from_cache for t in loaded] == [False, False]  # trained by this process, not an earlier run
    assert loaded[0].state.history[0]["val_loss"] != loaded[1].state.history[0]["val_loss"]  # two dropout rates


def test_train_groups_runs_when_the_context_asks(smoke_ctx, capsys, tmp_path):
    import dataclasses

    from kmnist_utils.data import Parts

    x, y, xv, yv = toy(n_train=128, n_val=64)
    parts = Parts(x, y, xv, yv, xv[:10], yv[:10])
    separate = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "separate", workers=1)
    specs = [cnns.cnn_spec(smoke_ctx, "simple", seed) for seed in (0, 1)]
    runner.train(separate, specs, parts)
    assert "batched model" not in capsys.readouterr().out  # opt-in: the context did not ask
    grouped = dataclasses.replace(smoke_ctx, cache_dir=tmp_path / "grouped", batched=True)
    runner.train(grouped, specs, parts)
    assert "training 2 simple run(s) as one batched model" in capsys.readouterr().out
    store = runner.checkpoint_store(grouped)
    assert all(store.is_finished(spec.meta(runner.tensor_split(grouped, parts))) for spec in specs)


def test_batched_training_is_opt_in_everywhere(tmp_path, monkeypatch):
    from kmnist_utils import config

    monkeypatch.delenv(config.BATCHED_ENV_VAR, raising=False)
    assert not config.setup("smoke", output_root=tmp_path, lock=False).batched  # on every device
    monkeypatch.setenv(config.BATCHED_ENV_VAR, "1")
    assert config.setup("smoke", output_root=tmp_path, lock=False).batched
    monkeypatch.setenv(config.BATCHED_ENV_VAR, "yes")
    with pytest.raises(ValueError, match="KMNIST_BATCHED must be 1 or 0"):
        config.setup("smoke", output_root=tmp_path, lock=False)
