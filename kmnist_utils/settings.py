"""Torch-free settings every layer reads: one record per network of the report, and the error for a bad
setting (a notebook parameter, a command-line option or an environment variable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping


@dataclass(frozen=True)
class ModelRecord:
    """One network of the report: everything the rest of the package reads about it. Adding a network is
    one record here and its class in ``models``."""

    name: str  # registry name, part of every checkpoint key
    network: str  # its class in ``kmnist_utils.models``
    display: str  # how tables and figures name it
    paper_epochs: int | None = None  # chapter 03 trains it for this many epochs in the paper profile (None: not)
    tuned: bool = False  # chapter 04 tunes it: its dropout is the profile's, and the grid's runs are its first epochs
    pairs: bool = False  # it compares two images (the Siamese network) instead of classifying one
    # Constructor arguments for the per-machine memory-format timing (``chip``); None: not timed.
    calibration: Mapping[str, Any] | None = field(default=None)


MODEL_RECORDS: tuple[ModelRecord, ...] = (
    ModelRecord("simple", "SimpleCNN", "Simple CNN", paper_epochs=5, calibration=MappingProxyType({})),
    ModelRecord("resnet", "ResNetLikeCNN", "ResNet-like CNN", paper_epochs=10, calibration=MappingProxyType({})),
    ModelRecord("improved", "ImprovedCNN", "Improved CNN", paper_epochs=10, tuned=True,
                calibration=MappingProxyType({})),
    ModelRecord("siamese", "SiameseNet", "Siamese network", pairs=True,
                calibration=MappingProxyType({"head": "euclidean"})),
    ModelRecord("preact_resnet", "PreActResNet", "PreAct ResNet"),
)
RECORDS: Mapping[str, ModelRecord] = MappingProxyType({r.name: r for r in MODEL_RECORDS})
CNNS = tuple(r.name for r in MODEL_RECORDS if r.paper_epochs)  # chapter 03's networks, in its order
TUNED = next(r.name for r in MODEL_RECORDS if r.tuned)  # the network chapter 04 tunes
CALIBRATED = tuple(r.name for r in MODEL_RECORDS if r.calibration is not None)
# Rows that are not a network of their own: chapter 04's tuned model and chapter 02's baseline.
DISPLAY_NAMES: Mapping[str, str] = MappingProxyType(
    {**{r.name: r.display for r in MODEL_RECORDS}, "tuned": "TunedImprovedCNN", "logreg": "Logistic Regression"})


class SettingError(ValueError):
    """A bad setting, shown as its one-line message, which says what is wrong and what to do.

    In a notebook IPython prints ``_render_traceback_()`` instead of the frames, so a bad parameter
    passed through plain papermill (or typed in JupyterLab) ends in one clear line rather than a page
    of traceback into this package's internals.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
