"""Layout defects a reader would see in a figure: text over text, text over another panel's image,
a legend over bars, text outside the canvas.

Used by the figure tests (every ``plots.plot_*`` on synthetic inputs) and by ``plots.save_figure``,
which warns when a figure made from real results has such a defect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

TOLERANCE_PX = 1.0  # overlaps smaller than this (anti-aliasing, rounding) are not defects


@dataclass(frozen=True)
class Placed:
    """A drawn text, where it landed (display pixels) and the axes it belongs to (None: the figure)."""

    text: str
    box: Bbox
    axes: Axes | None


def _axis_texts(ax: Axes) -> list[Text]:
    if not ax.axison:
        return []
    texts: list[Text] = []
    for axis in (ax.xaxis, ax.yaxis):
        if not axis.get_visible():
            continue
        texts += [axis.label, axis.offsetText]
        for tick in axis._update_ticks():  # the ticks that are actually drawn (inside the view limits)
            texts += [tick.label1, tick.label2]
    return texts


def _axes_texts(ax: Axes) -> list[Text]:
    texts = [ax.title, ax._left_title, ax._right_title, *ax.texts, *_axis_texts(ax)]
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        texts += [*legend.get_texts(), legend.get_title()]
    return texts


def placed_texts(fig: Figure) -> list[Placed]:
    """Every visible, non-empty text of the figure with its drawn extent."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    candidates: list[tuple[Text, Axes | None]] = [
        (t, ax) for ax in fig.axes if ax.get_visible() for t in _axes_texts(ax)
    ]
    candidates += [(t, None) for t in fig.texts]  # the suptitle is among them
    for legend in fig.legends:
        candidates += [(t, None) for t in legend.get_texts()]
    placed, seen = [], set()
    for text, ax in candidates:
        if id(text) in seen or not text.get_visible() or not text.get_text().strip():
            continue
        seen.add(id(text))
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            placed.append(Placed(text.get_text(), box, ax))
    return placed


def _overlap(a: Bbox, b: Bbox, tolerance: float) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance)


def _shown(text: str) -> str:
    return text.replace("\n", " / ")[:40]


def _drawn_panels(fig: Figure) -> list[Axes]:
    """Axes that show an image: a text of another axes must not cover them."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.images]


def layout_problems(fig: Figure, tolerance: float = TOLERANCE_PX, canvas_check: bool = True) -> list[str]:
    """Human-readable defects of ``fig``; an empty list means none was found.

    ``canvas_check=False`` once the provenance footer sits below the canvas (saving with a tight
    bounding box takes it in).
    """
    placed = placed_texts(fig)
    problems = []
    canvas = fig.bbox
    for item in placed if canvas_check else ():
        b = item.box
        if (
            b.x0 < canvas.x0 - tolerance
            or b.y0 < canvas.y0 - tolerance
            or b.x1 > canvas.x1 + tolerance
            or b.y1 > canvas.y1 + tolerance
        ):
            problems.append(f"text {_shown(item.text)!r} leaves the canvas")
    boxes = np.array([[p.box.x0, p.box.y0, p.box.x1, p.box.y1] for p in placed]) if placed else np.zeros((0, 4))
    for i in range(len(placed)):
        j = np.arange(i + 1, len(placed))
        width = np.minimum(boxes[i, 2], boxes[j, 2]) - np.maximum(boxes[i, 0], boxes[j, 0])
        height = np.minimum(boxes[i, 3], boxes[j, 3]) - np.maximum(boxes[i, 1], boxes[j, 1])
        for k in j[(width > tolerance) & (height > tolerance)]:
            problems.append(f"text {_shown(placed[i].text)!r} overlaps text {_shown(placed[k].text)!r}")
    for ax in _drawn_panels(fig):
        panel = ax.bbox
        for item in placed:
            if item.axes is not ax and _overlap(item.box, panel, tolerance):
                problems.append(f"text {_shown(item.text)!r} covers the image of another panel")
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        frame = legend.get_window_extent(renderer)
        for patch in ax.patches:
            if (
                isinstance(patch, Rectangle)
                and patch.get_visible()
                and patch.get_height() != 0
                and _overlap(frame, patch.get_window_extent(renderer), tolerance)
            ):
                problems.append(f"the legend of {_shown(ax.get_title()) or 'a panel'!r} covers a bar")
                break
    return problems
