"""The paper's three CNNs (section II.C) exactly as described, the Siamese network of section IV,
the pre-activation ResNet of chapter 07, and a registry to build them."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from kmnist_utils.settings import CNNS, MODEL_RECORDS


class SimpleCNN(nn.Module):
    """conv 1->32, ReLU, conv 32->64, ReLU, maxpool 2, FC 64*14*14->128, ReLU, FC 128->10."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 14 * 14, 128)
        self.fc2 = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        return F.relu(self.fc1(torch.flatten(x, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a ReLU between them, plus a skip (1x1 conv if channels differ), and a ReLU
    after the add: the paper's code ends both of its blocks so (its text lists the ReLU after block 1 only)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(x))) + self.skip(x))


class ResNetLikeCNN(nn.Module):
    """Residual block 1->32 (ends in a ReLU), maxpool 2, residual block 32->64 (ends in a ReLU),
    FC 64*14*14->128, ReLU, FC 128->10."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.block1 = ResidualBlock(1, 32)
        self.block2 = ResidualBlock(32, 64)
        self.fc1 = nn.Linear(64 * 14 * 14, 128)
        self.fc2 = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.block1(x), 2)
        return F.relu(self.fc1(torch.flatten(self.block2(x), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


class ImprovedCNNBlock(nn.Module):
    """conv3x3-BN-ReLU, conv3x3-BN, residual add (1x1 conv on a channel mismatch), ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.skip(x))


class ImprovedCNN(nn.Module):
    """Blocks 1->32 + pool, 32->64 + pool, 64->128; FC 128*7*7->256, ReLU, dropout, FC 256->10."""

    def __init__(self, dropout: float = 0.4, n_classes: int = 10) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.block1 = ImprovedCNNBlock(1, 32)
        self.block2 = ImprovedCNNBlock(32, 64)
        self.block3 = ImprovedCNNBlock(64, 128)
        self.fc1 = nn.Linear(128 * 7 * 7, 256)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(256, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.block1(x), 2)
        x = F.max_pool2d(self.block2(x), 2)
        return F.relu(self.fc1(torch.flatten(self.block3(x), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.features(x)))


class SiameseEncoder(nn.Module):
    """Three conv-BN-ReLU stages (32, 64, 128 channels; 2x2 max-pooling after the first two), global
    average pooling and a linear projection to ``embedding_dim``: a compact version of the
    Improved CNN's feature extractor, with no class-specific head."""

    def __init__(self, embedding_dim: int = 64) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(stage(1, 32), nn.MaxPool2d(2), stage(32, 64), nn.MaxPool2d(2), stage(64, 128))
        self.project = nn.Linear(128, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.body(x).mean(dim=(2, 3)))


class PaperSiameseEncoder(nn.Module):
    """The paper's Siamese encoder, as its code built it: conv 1->64, ReLU, pool, conv 64->128, ReLU, pool,
    conv 128->128, ReLU, pool (3x3 kernels, padding 1; 28 -> 14 -> 7 -> 3), then a fully connected layer
    128*3*3 -> ``embedding_dim`` with ReLU. No normalisation layer: both branches may share one pass."""

    def __init__(self, embedding_dim: int = 256) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.project = nn.Linear(128 * 3 * 3, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.project(torch.flatten(self.body(x), 1)))


SIAMESE_HEADS = ("weighted_l1", "euclidean")
SIAMESE_ENCODERS = {"ours": SiameseEncoder, "paper": PaperSiameseEncoder}


class SiameseNet(nn.Module):
    """Shared encoder on both images and a comparison head whose score g is the logit of 'same class'.

    ``weighted_l1`` (Koch et al. 2015, and the paper's code): g = w . |z1 - z2| + b, one linear unit on
    the elementwise distance. ``euclidean``: g = b - s ||z1 - z2||^2 with a learned scale s > 0, so the
    score ranks pairs exactly as the Euclidean distance used for one-shot recognition does.
    ``encoder``: "ours" (``SiameseEncoder``) or "paper" (``PaperSiameseEncoder``).
    """

    def __init__(self, embedding_dim: int = 64, head: str = "weighted_l1", encoder: str = "ours") -> None:
        super().__init__()
        if head not in SIAMESE_HEADS:
            raise ValueError(f"head must be one of {SIAMESE_HEADS}, got {head!r}")
        if encoder not in SIAMESE_ENCODERS:
            raise ValueError(f"encoder must be one of {tuple(SIAMESE_ENCODERS)}, got {encoder!r}")
        self.head = head
        self.encoder = SIAMESE_ENCODERS[encoder](embedding_dim)
        if head == "weighted_l1":
            self.compare = nn.Linear(embedding_dim, 1)
        else:
            self.log_scale = nn.Parameter(torch.zeros(()))
            self.bias = nn.Parameter(torch.zeros(()))

    def score(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        """The head's logit for embeddings that broadcast against each other (last axis: features)."""
        if self.head == "weighted_l1":
            return (z1 - z2).abs() @ self.compare.weight.squeeze(0) + self.compare.bias.squeeze(0)
        return self.bias - self.log_scale.exp() * (z1 - z2).pow(2).sum(-1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        z = self.encoder(torch.cat([x1, x2]))  # one pass: BatchNorm sees both branches together
        return self.score(z[: len(x1)], z[len(x1) :])


class PreActBlock(nn.Module):
    """Pre-activation residual block (He et al., 2016): BN, ReLU, 3x3 conv, BN, ReLU, 3x3 conv, plus the
    input (a strided 1x1 convolution of the activated input where the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.shortcut = (None if in_channels == out_channels and stride == 1
                         else nn.Conv2d(in_channels, out_channels, 1, stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(activated)
        return self.conv2(F.relu(self.bn2(self.conv1(activated)))) + skip


class PreActResNet(nn.Module):
    """A pre-activation ResNet for 28 x 28 images (chapter 07, beyond the paper).

    A 3x3 stem convolution to ``widths[0]`` channels, then one stage per width with ``blocks``
    pre-activation blocks each (every stage after the first halves the resolution: 28, 14, 7),
    BN, ReLU, global average pooling and one linear layer. ``widths=(16, 32, 64), blocks=3`` is the
    ResNet-preact-20 of the KMNIST benchmarks.
    """

    def __init__(self, widths: tuple[int, ...] | list[int] = (16, 32, 64), blocks: int = 1,
                 n_classes: int = 10) -> None:
        super().__init__()
        widths = tuple(widths)
        if not widths or blocks < 1 or min(widths) < 1:
            raise ValueError(f"PreActResNet needs one or more positive widths and blocks >= 1, got {widths}, {blocks}")
        self.stem = nn.Conv2d(1, widths[0], 3, padding=1, bias=False)
        layers, channels = [], widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks):
                layers.append(PreActBlock(channels, width, stride=2 if stage > 0 and block == 0 else 1))
                channels = width
        self.stages = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stages(self.stem(x))))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class Features(nn.Module):
    """A classifier's penultimate layer (its ``features``) as a module, for embedding images."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


MODELS: dict[str, Callable[..., nn.Module]] = {r.name: globals()[r.network] for r in MODEL_RECORDS}
CLASSIFIERS = CNNS


def build_model(name: str, **hparams) -> nn.Module:
    """A fresh model by registry name (``simple``, ``resnet``, ``improved``, ``siamese``, ``preact_resnet``)."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    return MODELS[name](**hparams)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
