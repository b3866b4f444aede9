import pytest
import torch

from kmnist_utils import models

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


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model .vgg.; choose one of simple, resnet, improved, siamese"):
        models.build_model("vgg")
