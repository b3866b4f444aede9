"""Gradient attributions (plain gradients, SmoothGrad, Integrated Gradients) and their sanity check.

Plain gradient saliency is the paper's (section III.D, Simonyan et al.): back-propagate the
predicted class's logit to the input and show the maximum absolute gradient over channels.
The sanity check follows Adebayo et al. (2018, the paper's reference [12]): maps that barely
change when the model's weights are randomised do not explain the model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from kmnist_utils.core.data import Parts
from kmnist_utils.engine.checkpoints import TrainedModel
from kmnist_utils.engine.context import RunContext
from kmnist_utils.engine.models import build_model
from kmnist_utils.engine.seeding import derived_seed
from kmnist_utils.engine.training import to_tensor_images
from kmnist_utils.stats import findings

# A method passes the randomisation check when its maps for the trained and the randomised model
# correlate (mean Spearman rho over images) below this: the maps then depend on what was learned.
SANITY_MAX_RHO = 0.5
INK_LEVEL = 0.5  # pixels brighter than this (in [0, 1]) are the character's strokes


def _target_logits(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(x)
    if target is None:
        target = logits.argmax(1)
    return logits.gather(1, target.view(-1, 1)).sum(), target


def _check_images(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")


def gradient_saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """|d logit_target / d x|, maximised over channels: (N, H, W), non-negative.

    ``target=None`` explains each image's predicted class. The model is put in eval mode.
    """
    _check_images(x)
    model.eval()
    device = next(model.parameters()).device
    x = x.detach().to(device).requires_grad_(True)
    score, _ = _target_logits(model, x, None if target is None else target.to(device))
    (grad,) = torch.autograd.grad(score, x, allow_unused=True)
    if grad is None:  # the output does not depend on the input at all
        grad = torch.zeros_like(x)
    return grad.abs().amax(dim=1).detach()


def smoothgrad(
    model: nn.Module, x: torch.Tensor, samples: int = 25, noise: float = 0.15, seed: int = 0
) -> torch.Tensor:
    """Mean gradient saliency over ``samples`` noisy copies (Smilkov et al. 2017).

    ``noise`` is the noise's standard deviation as a share of the pixel range."""
    _check_images(x)
    with torch.no_grad():
        target = model.eval()(x.to(next(model.parameters()).device)).argmax(1)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(x.shape[0], *x.shape[2:], device=target.device)
    for _ in range(samples):
        noisy = x.detach().cpu() + noise * torch.randn(x.shape, generator=generator)
        total += gradient_saliency(model, noisy, target)
    return total / samples


def integrated_gradients(
    model: nn.Module, x: torch.Tensor, steps: int = 32, baseline: torch.Tensor | None = None
) -> torch.Tensor:
    """|(x - baseline) * mean gradient along the straight path| (Sundararajan et al. 2017), max over channels."""
    _check_images(x)
    model.eval()
    device = next(model.parameters()).device
    x = x.detach().to(device)
    baseline = torch.zeros_like(x) if baseline is None else baseline.to(device)
    with torch.no_grad():
        target = model(x).argmax(1)
    total = torch.zeros_like(x)
    for alpha in (torch.arange(steps, dtype=x.dtype) + 0.5) / steps:  # midpoint rule
        point = (baseline + alpha * (x - baseline)).requires_grad_(True)
        score, _ = _target_logits(model, point, target)
        (grad,) = torch.autograd.grad(score, point, allow_unused=True)
        if grad is not None:
            total += grad
    return ((x - baseline) * total / steps).abs().amax(dim=1)


def rank_correlations(maps_a: torch.Tensor, maps_b: torch.Tensor) -> np.ndarray:
    """Spearman rank correlation between corresponding maps (one value per image)."""
    if maps_a.shape != maps_b.shape:
        raise ValueError(f"maps must have the same shape, got {tuple(maps_a.shape)} and {tuple(maps_b.shape)}")
    a = maps_a.reshape(len(maps_a), -1).cpu().numpy()
    b = maps_b.reshape(len(maps_b), -1).cpu().numpy()
    return np.array([spearmanr(u, v).statistic for u, v in zip(a, b)])


def methods(seed: int) -> dict:
    """The three attribution methods of figure 7, by display name (SmoothGrad's noise seeded)."""
    return {
        "gradient": gradient_saliency,
        "SmoothGrad": lambda model, images: smoothgrad(model, images, seed=seed),
        "Integrated Gradients": integrated_gradients,
    }


def attribution_maps(model: nn.Module, images: torch.Tensor, chosen: dict) -> dict[str, np.ndarray]:
    """Each method's maps of ``images`` as numpy arrays, by method name."""
    return {name: method(model, images).cpu().numpy() for name, method in chosen.items()}


def sanity_check(trained: nn.Module, randomised: nn.Module, x: torch.Tensor, methods: dict) -> pd.DataFrame:
    """Per method: how similar the maps of the trained and the randomised model are, how similar each
    is to the input image itself (an edge-detector-like map resembles the input whatever the weights),
    the share of the trained maps' mass on stroke pixels, and whether the method passes the check."""
    rows = []
    image = x.amax(dim=1)
    for name, method in methods.items():
        with_weights, without = method(trained, x), method(randomised, x)
        stroke_mass, stroke_pixels = stroke_share(with_weights, x)
        rows.append(
            {
                "method": name,
                "trained_vs_random_rho": float(np.nanmean(rank_correlations(with_weights, without))),
                "trained_vs_image_rho": float(np.nanmean(rank_correlations(with_weights, image))),
                "random_vs_image_rho": float(np.nanmean(rank_correlations(without, image))),
                "stroke_mass": stroke_mass,
                "stroke_pixels": stroke_pixels,
            }
        )
    table = pd.DataFrame(rows)
    table["passes"] = table.trained_vs_random_rho < SANITY_MAX_RHO
    return table


def sanity_findings(table: pd.DataFrame) -> list[str]:
    """Which methods fail, then one sentence per method of a :func:`sanity_check` table: passes or fails,
    and what it highlights."""
    fails = table.trained_vs_random_rho >= SANITY_MAX_RHO
    return [findings.sanity_summary(list(table.method[fails]), list(table.method[~fails]))] + [
        findings.saliency_verdict(r.method, r.trained_vs_random_rho, SANITY_MAX_RHO, r.stroke_mass, r.stroke_pixels)
        for r in table.itertuples()
    ]


def stroke_share(
    maps: torch.Tensor | np.ndarray, images: torch.Tensor | np.ndarray, ink: float = INK_LEVEL
) -> tuple[float, float]:
    """Share of the attribution mass on stroke pixels, and the share of pixels that are strokes.

    Maps concentrated on the strokes give a first number well above the second; maps spread over
    the background give about the same or less. ``images`` in [0, 1], shape (N, H, W) or (N, 1, H, W).
    """
    maps = torch.as_tensor(maps, dtype=torch.float64).cpu()
    images = torch.as_tensor(images, dtype=torch.float64).cpu()
    if images.ndim == 4:
        images = images.amax(dim=1)
    if maps.shape != images.shape:
        raise ValueError(f"maps and images must match, got {tuple(maps.shape)} and {tuple(images.shape)}")
    strokes = images > ink
    total = maps.sum()
    mass = float((maps * strokes).sum() / total) if total > 0 else float("nan")
    return mass, float(strokes.double().mean())


# --------------------------------------------------------------------------- wired to a run (chapter 05)


# Index of the randomised twin's seed in the derived-seed sequence of a run seed; far from the
# small indices (epochs, draws) that other uses of the same base take.
RANDOM_TWIN_INDEX = 90_000


def randomised_twin(ctx: RunContext, trained: TrainedModel) -> torch.nn.Module:
    """The same architecture with fresh random weights (seeded), for the saliency sanity check."""
    torch.manual_seed(derived_seed(ctx.seed, RANDOM_TWIN_INDEX))
    return build_model(trained.meta["model"], **trained.meta["hparams"]).to(ctx.device).eval()


def test_images(ctx: RunContext, parts: Parts, indices: np.ndarray) -> torch.Tensor:
    """The test images at ``indices`` as a float tensor on the run's device."""
    return to_tensor_images(parts.x_test[np.asarray(indices)], ctx.device)


def saliency_sanity(
    ctx: RunContext, parts: Parts, trained: TrainedModel, methods: dict, probe_size: int = 64
) -> tuple[pd.DataFrame, torch.nn.Module]:
    """The randomisation check of every method on a seeded sample of test images, and the randomised twin."""
    twin = randomised_twin(ctx, trained)
    probe = np.random.default_rng(ctx.seed).choice(len(parts.y_test), min(probe_size, len(parts.y_test)), replace=False)
    return sanity_check(trained.model, twin, test_images(ctx, parts, probe), methods), twin


def beside_random(maps: dict[str, np.ndarray], twin: nn.Module, images: torch.Tensor) -> dict[str, np.ndarray]:
    """The trained model's gradient maps above those of its randomised twin: the sanity check made
    visible (maps that look alike do not explain the model)."""
    return {"trained: gradient": maps["gradient"],
            **attribution_maps(twin, images, {"random: gradient": gradient_saliency})}
