import numpy as np
import pytest
import torch
from torch import nn

from kmnist_utils.chapters import saliency
from kmnist_utils.engine.models import SimpleCNN


class Constant(nn.Module):
    """Ignores its input: every attribution must be zero."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.arange(10, dtype=torch.float32))

    def forward(self, x):
        return self.bias.expand(len(x), 10)


class Linear(nn.Module):
    """logit_c = sum(w_c * x): the gradient of logit c is w_c, known in closed form."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10, bias=False)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture
def images():
    return torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_gradient_saliency_shape_and_sign(images):
    torch.manual_seed(0)
    maps = saliency.gradient_saliency(SimpleCNN(), images)
    assert maps.shape == (4, 28, 28) and (maps >= 0).all() and maps.sum() > 0


def test_zero_for_a_constant_model(images):
    for method in (saliency.gradient_saliency, saliency.smoothgrad, saliency.integrated_gradients):
        assert torch.count_nonzero(method(Constant(), images)) == 0


def test_gradient_equals_the_weights_of_the_predicted_class(images):
    torch.manual_seed(0)
    model = Linear()
    maps = saliency.gradient_saliency(model, images)
    predicted = model(images).argmax(1)
    expected = model.fc.weight[predicted].abs().view(4, 28, 28)
    torch.testing.assert_close(maps, expected)


def test_integrated_gradients_is_exact_for_a_linear_model(images):
    torch.manual_seed(0)
    model = Linear()
    predicted = model(images).argmax(1)
    expected = (images.view(4, -1) * model.fc.weight[predicted]).abs().view(4, 28, 28)
    torch.testing.assert_close(saliency.integrated_gradients(model, images, steps=8), expected)


def test_smoothgrad_is_seeded(images):
    torch.manual_seed(0)
    model = SimpleCNN()
    a = saliency.smoothgrad(model, images, samples=3, seed=1)
    b = saliency.smoothgrad(model, images, samples=3, seed=1)
    assert torch.equal(a, b) and a.shape == (4, 28, 28)


def test_bad_shape_is_an_error():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        saliency.gradient_saliency(SimpleCNN(), torch.rand(28, 28))


def test_rank_correlations_and_sanity_check(images):
    maps = torch.rand(3, 28, 28)
    np.testing.assert_allclose(saliency.rank_correlations(maps, maps), 1.0)
    np.testing.assert_allclose(saliency.rank_correlations(maps, -maps), -1.0)
    with pytest.raises(ValueError, match="same shape"):
        saliency.rank_correlations(maps, maps[:2])
    torch.manual_seed(0)
    trained, random = SimpleCNN(), SimpleCNN()
    table = saliency.sanity_check(trained, trained, images, {"gradient": saliency.gradient_saliency})
    assert table.loc[0, "trained_vs_random_rho"] == pytest.approx(1.0)  # same weights: identical maps
    table = saliency.sanity_check(trained, random, images, {"gradient": saliency.gradient_saliency})
    assert table.loc[0, "trained_vs_random_rho"] < 0.99


def test_stroke_share_and_sanity_flag():
    images = torch.zeros(2, 1, 4, 4)
    images[:, :, 0, :] = 1.0  # one row of ink: a quarter of the pixels
    on_strokes = images[:, 0].clone()
    mass, ink = saliency.stroke_share(on_strokes, images)
    assert mass == pytest.approx(1.0) and ink == pytest.approx(0.25)
    uniform = torch.ones(2, 4, 4)
    assert saliency.stroke_share(uniform, images)[0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="must match"):
        saliency.stroke_share(torch.ones(2, 3, 3), images)


def test_sanity_check_marks_methods_that_ignore_the_weights():
    torch.manual_seed(0)
    trained, random_model = SimpleCNN().eval(), SimpleCNN().eval()
    x = torch.rand(4, 1, 28, 28)

    def input_only(model, images):
        return images.amax(dim=1)  # the same map whatever the weights

    table = saliency.sanity_check(
        trained, random_model, x, {"gradient": saliency.gradient_saliency, "input": input_only}
    )
    flags = dict(zip(table.method, table.passes))
    assert flags["input"] == False  # noqa: E712  (numpy bool)
    assert table.set_index("method").loc["input", "trained_vs_random_rho"] == pytest.approx(1.0)


def test_methods_and_maps_for_figure_7(images):
    model = Linear()
    chosen = saliency.methods(seed=3)
    assert list(chosen) == ["gradient", "SmoothGrad", "Integrated Gradients"]
    maps = saliency.attribution_maps(model, images, chosen)
    assert set(maps) == set(chosen) and all(m.shape == (4, 28, 28) and isinstance(m, np.ndarray) for m in maps.values())
    assert np.array_equal(
        maps["SmoothGrad"], saliency.attribution_maps(model, images, saliency.methods(seed=3))["SmoothGrad"]
    )


def test_sanity_findings_say_pass_or_fail():
    import pandas as pd

    table = pd.DataFrame(
        {
            "method": ["gradient", "IG"],
            "trained_vs_random_rho": [0.1, 0.9],
            "stroke_mass": [0.6, 0.5],
            "stroke_pixels": [0.2, 0.2],
        }
    )
    lines = saliency.sanity_findings(table)
    assert len(lines) == 3 and "passes" in lines[1] and "FAILS" in lines[2]
    assert lines[0].startswith("Failing the randomisation check: IG (") and lines[0].endswith("passing: gradient.")
    assert saliency.sanity_findings(table.head(1))[0].startswith("Every method passes")
    assert saliency.sanity_findings(table.tail(1))[0].startswith("Every method fails the randomisation check (IG)")
