"""Data augmentation of whole batches on the device, with random parameters drawn per image.

torchvision's v2 transforms applied to a batch tensor draw one set of parameters for the whole
batch (every image rotated by the same angle); here every image gets its own rotation, scale,
shift and cutout square, in two tensor operations for the batch (``affine_grid`` + ``grid_sample``
and one mask), so augmentation costs no per-image Python and runs wherever the batch lives. A
library such as kornia does the same; these 40 lines keep the GPU machine's environment to the
packages it has.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from kmnist_utils.settings import AugmentSettings


def _uniform(n: int, half_width: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * half_width


def gaussian_kernel(sigma: float, device: torch.device | str) -> torch.Tensor:
    """A normalised 1-D Gaussian of standard deviation ``sigma``, truncated at 3 sigma."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def elastic_field(n: int, height: int, width: int, alpha: float, sigma: float, generator: torch.Generator,
                  device: torch.device | str) -> torch.Tensor:
    """Per-image smooth random displacements (n, height, width, 2) in pixels (x, y): uniform noise in
    [-1, 1] blurred by a separable Gaussian of ``sigma`` pixels, times ``alpha`` (Simard et al. 2003; the
    blur shrinks the noise, so their sigma 4, alpha 34 move a pixel by about 2 pixels, rms)."""
    noise = torch.rand(n * 2, 1, height, width, generator=generator, device=device) * 2 - 1
    kernel = gaussian_kernel(sigma, device)
    pad = len(kernel) // 2
    smooth = F.conv2d(F.pad(noise, (pad, pad, 0, 0), mode="reflect" if pad < width else "replicate"),
                      kernel.view(1, 1, 1, -1))
    smooth = F.conv2d(F.pad(smooth, (0, 0, pad, pad), mode="reflect" if pad < height else "replicate"),
                      kernel.view(1, 1, -1, 1))
    return (alpha * smooth).view(n, 2, height, width).permute(0, 2, 3, 1)


def random_affine(x: torch.Tensor, settings: AugmentSettings, generator: torch.Generator) -> torch.Tensor:
    """Rotate, scale and shift every image of ``x`` (B, C, H, W) by its own random parameters, and
    distort it elastically when the settings ask for it (one resampling for all of it)."""
    n, _, height, width = x.shape
    angle = _uniform(n, math.radians(settings.rotate_deg), generator, x.device)
    zoom = 1 + _uniform(n, settings.scale, generator, x.device)
    # affine_grid works in [-1, 1] coordinates: a shift of one pixel is 2 / size.
    shift = torch.stack([_uniform(n, settings.shift_px * 2 / width, generator, x.device),
                         _uniform(n, settings.shift_px * 2 / height, generator, x.device)], dim=1)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    if settings.elastic_alpha > 0:
        field = elastic_field(n, height, width, settings.elastic_alpha, settings.elastic_sigma, generator, x.device)
        grid = grid + field * torch.tensor([2 / width, 2 / height], dtype=x.dtype, device=x.device)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square at a random centre of every image of ``x`` (B, C, H, W)."""
    n, _, height, width = x.shape
    centre_y = torch.randint(0, height, (n, 1, 1), generator=generator, device=x.device)
    centre_x = torch.randint(0, width, (n, 1, 1), generator=generator, device=x.device)
    rows = torch.arange(height, device=x.device).view(1, height, 1)
    cols = torch.arange(width, device=x.device).view(1, 1, width)
    low = size // 2  # the square spans [centre - size // 2, centre - size // 2 + size)
    inside = ((rows >= centre_y - low) & (rows < centre_y - low + size)
              & (cols >= centre_x - low) & (cols < centre_x - low + size))
    return x.masked_fill(inside.unsqueeze(1), 0.0)


def augment_batch(x: torch.Tensor, settings: AugmentSettings, generator: torch.Generator) -> torch.Tensor:
    """``x`` (B, C, H, W) with every image transformed by its own random draw from ``settings``."""
    if x.dim() != 4:
        raise ValueError(f"augment_batch needs a batch of images (B, C, H, W), got shape {tuple(x.shape)}")
    if settings.has_affine:
        x = random_affine(x, settings, generator)
    if settings.cutout_px > 0:
        x = cutout(x, settings.cutout_px, generator)
    return x
