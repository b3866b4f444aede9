import pytest
import torch

from kmnist_utils.engine import models

# Counted by hand from the paper's layer list (weights + biases, BatchNorm scale + shift).
EXPECTED_PARAMETERS = {"simple": 1_625_866, "resnet": 1_674_218, "improved": 1_906_282}


@pytest.mark.parametrize("name", models.CLASSIFIERS)
def test_shapes_and_parameter_counts(name):
    model = models.build_model(name)
    assert models.count_parameters(model) == EXPECTED_PARAMETERS[name]
    out = model.eval()(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10) and torch.isfinite(out).all()


def test_feature_sizes_follow_the_paper():
    x = torch.rand(2, 1, 28, 28)
    assert models.SimpleCNN().features(x).shape == (2, 128)
    assert models.ResNetLikeCNN().features(x).shape == (2, 128)
    assert models.ImprovedCNN().features(x).shape == (2, 256)
    assert models.ImprovedCNN().fc1.in_features == 128 * 7 * 7


def test_skips_are_identity_only_when_channels_match():
    assert isinstance(models.ResidualBlock(32, 32).skip, torch.nn.Identity)
    assert isinstance(models.ResidualBlock(1, 32).skip, torch.nn.Conv2d)
    assert isinstance(models.ImprovedCNNBlock(64, 128).skip, torch.nn.Conv2d)


def test_dropout_is_a_parameter():
    assert models.ImprovedCNN(dropout=0.3).dropout.p == 0.3
    with pytest.raises(ValueError, match="dropout"):
        models.ImprovedCNN(dropout=1.0)


def test_both_residual_blocks_of_the_resnet_like_cnn_end_in_a_relu():
    """As the paper's code builds them (``return self.relu(out)``): block 2's output is never negative."""
    torch.manual_seed(0)
    model = models.build_model("resnet")
    seen = {}
    model.block2.register_forward_hook(lambda module, inputs, output: seen.update(out=output))
    model(torch.randn(4, 1, 28, 28))
    assert seen["out"].min().item() == 0.0 and (seen["out"] > 0).any()
    block = models.ResidualBlock(3, 3)
    x = torch.randn(2, 3, 8, 8)
    expected = torch.relu(block.conv2(torch.relu(block.conv1(x))) + x)
    torch.testing.assert_close(block(x), expected)


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model .vgg.; choose one of simple, resnet, improved, siamese"):
        models.build_model("vgg")


def test_every_reader_of_the_networks_follows_their_records(smoke_ctx):
    # Adding a network is one record in settings (and its class in models): everything else is derived.
    from kmnist_utils import settings
    from kmnist_utils.chapters import cnns
    from kmnist_utils.engine import chip, runner

    for record in settings.MODEL_RECORDS:
        assert type(models.build_model(record.name, **(record.calibration or {}))).__name__ == record.network
        assert settings.DISPLAY_NAMES[record.name] == record.display
        assert (record.name in chip.CALIBRATED_MODELS) == (record.calibration is not None)
        if record.paper_epochs:
            assert settings.PAPER.epochs[record.name] == record.paper_epochs and settings.SMOKE.epochs[record.name] == 1
            spec = cnns.cnn_spec(smoke_ctx, record.name, seed=0)
            assert ("dropout" in spec.hparams) == record.tuned
            assert bool(runner.milestones(smoke_ctx, spec)) == record.tuned
    assert settings.CNNS == tuple(r.name for r in settings.MODEL_RECORDS if r.paper_epochs)
    # No module names a network by a string of its own to decide what to do with it.
    import re
    from pathlib import Path

    names = "|".join(r.name for r in settings.MODEL_RECORDS)
    compared = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)""")
    package = Path(models.__file__).parent
    found = [f"{p.name}:{i}" for p in package.glob("*.py")
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if compared.search(line)]
    assert not found, f"compare with the record's fields instead: {found}"
