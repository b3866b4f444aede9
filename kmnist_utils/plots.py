"""Plot style, saving figures with provenance, and the figures of the report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kmnist_utils.atomic import write_bytes
from kmnist_utils.config import RunContext
from kmnist_utils.data import N_CLASSES, class_label
from kmnist_utils.provenance import provenance, provenance_line

JAPANESE_FONT = "IPAexGothic"
PALETTE = "tab10"


def _register_japanese_font() -> None:
    """Add IPAexGothic from the matplotlib-fontja wheel, so hiragana render on any machine."""
    import matplotlib_fontja

    font_manager.fontManager.addfont(matplotlib_fontja.get_font_ttf_path())


def apply_style() -> None:
    """One consistent look; Latin text in DejaVu Sans, kana falling back to IPAexGothic."""
    _register_japanese_font()
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE)
    matplotlib.rcParams.update(
        {
            "font.family": ["DejaVu Sans", JAPANESE_FONT],
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "axes.titlesize": "medium",
            "image.cmap": "gray_r",
        }
    )


def save_figure(fig: Figure, name: str, ctx: RunContext) -> Path:
    """Save ``fig`` as ``<figures>/<name>.png`` with a provenance footer and PNG metadata."""
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"figure name must be a bare stem such as 'fig01_examples', got {name!r}")
    fig.text(0.995, 0.002, provenance_line(ctx), ha="right", va="bottom", fontsize=6, color="0.5")
    buffer = io.BytesIO()
    metadata = {"Title": name, "Description": json.dumps(provenance(ctx), ensure_ascii=False)}
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata=metadata)
    return write_bytes(ctx.dirs.figures / f"{name}.png", buffer.getvalue())


# --------------------------------------------------------------------------- EDA figures


def plot_class_examples(images: np.ndarray, labels: np.ndarray, per_class: int = 8, seed: int = 0) -> Figure:
    """Figure 1: ``per_class`` random images of every class, one row per class."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(N_CLASSES, per_class, figsize=(per_class * 0.9, N_CLASSES * 0.95))
    for cls in range(N_CLASSES):
        members = np.flatnonzero(labels == cls)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for col, ax in enumerate(axes[cls]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if col < len(chosen):
                ax.imshow(images[chosen[col]], vmin=0, vmax=255)
        axes[cls, 0].set_ylabel(class_label(cls), rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle("KMNIST: random training images of the ten classes", y=1.0)
    fig.tight_layout()
    return fig


def plot_class_distribution(counts: pd.DataFrame) -> Figure:
    """Grouped bars of images per class for each split; ``counts`` has one column per split."""
    long = counts.reset_index(names="class").melt(id_vars="class", var_name="split", value_name="images")
    fig, ax = plt.subplots(figsize=(10, 4))
    sns.barplot(data=long, x="class", y="images", hue="split", ax=ax)
    ax.set_xlabel("")
    ax.set_title("Images per class in each split")
    ax.tick_params(axis="x", rotation=0)
    fig.tight_layout()
    return fig


def plot_mean_images(means: np.ndarray) -> Figure:
    """One panel per class showing its mean image (pixel values in [0, 1])."""
    fig, axes = plt.subplots(1, N_CLASSES, figsize=(N_CLASSES * 1.3, 1.9))
    for cls, ax in enumerate(axes):
        ax.imshow(means[cls], vmin=0, vmax=1)
        ax.set_title(class_label(cls), fontsize=10)
        ax.axis("off")
    fig.suptitle("Mean training image per class")
    fig.tight_layout()
    return fig


def plot_pca(coords: np.ndarray, labels: np.ndarray, explained: np.ndarray, n_show: int = 50) -> Figure:
    """Figure 2: 2-D PCA scatter coloured by class, and the explained variance of the leading PCs."""
    fig, (ax_scatter, ax_var) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1.3, 1]})
    colors = sns.color_palette(PALETTE, N_CLASSES)
    for cls in range(N_CLASSES):
        pts = coords[labels == cls]
        ax_scatter.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.35, color=colors[cls], label=class_label(cls), rasterized=True)
    ax_scatter.set_xlabel(f"PC 1 ({explained[0]:.1%} of variance)")
    ax_scatter.set_ylabel(f"PC 2 ({explained[1]:.1%} of variance)")
    ax_scatter.set_title(f"PCA of {len(coords):,} training images (pixels in [0, 1])")
    legend = ax_scatter.legend(markerscale=6, fontsize=9, loc="upper right", framealpha=0.9)
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    n_show = min(n_show, len(explained))
    ks = np.arange(1, n_show + 1)
    ax_var.bar(ks, explained[:n_show], color="tab:blue", label="per component")
    ax_cum = ax_var.twinx()
    ax_cum.plot(ks, np.cumsum(explained[:n_show]), color="tab:red", marker=".", label="cumulative")
    ax_cum.set_ylim(0, 1)
    ax_cum.grid(False)
    ax_var.set_xlabel("principal component")
    ax_var.set_ylabel("explained variance ratio")
    ax_cum.set_ylabel("cumulative explained variance", color="tab:red")
    ax_var.set_title(f"Explained variance of the first {n_show} components")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- model figures


def draw_confusion(ax, matrix: np.ndarray, title: str) -> None:
    """Counts heatmap, rows = true class, columns = predicted class, both labelled with kana."""
    labels = [class_label(i) for i in range(N_CLASSES)]
    sns.heatmap(matrix, annot=True, fmt="d", cmap="Blues", cbar=False, square=True, xticklabels=labels,
                yticklabels=labels, annot_kws={"fontsize": 8}, ax=ax)
    accuracy = np.trace(matrix) / matrix.sum()
    ax.set_title(f"{title}\naccuracy {accuracy:.4f} on {matrix.sum():,} images")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(axis="x", rotation=90)
    ax.tick_params(axis="y", rotation=0)


def plot_confusions(matrices: dict[str, np.ndarray]) -> Figure:
    """One confusion-matrix panel per entry, side by side (Figures 3, 4 and 5)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(7.5 * len(matrices), 7.2), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        draw_confusion(ax, matrix, title)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, training vs validation, one colour per model (mean ± sd over seeds)."""
    long = pd.concat(
        [
            history.assign(split="train", loss=history.train_loss, accuracy=history.train_acc),
            history.assign(split="validation", loss=history.val_loss, accuracy=history.val_acc),
        ]
    )
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        sns.lineplot(data=long, x="epoch", y=metric, hue="model", style="split", errorbar="sd", marker="o", ax=ax)
        ax.set_title(f"{metric} per epoch (mean ± sd over seeds)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].get_legend().remove()
    fig.tight_layout()
    return fig


def plot_grid_heatmap(results: pd.DataFrame, best: pd.Series | None = None) -> Figure:
    """Validation accuracy by learning rate x dropout, one panel per batch size; the best point boxed."""
    sizes = sorted(results.batch_size.unique())
    vmin, vmax = results.val_acc.min(), results.val_acc.max()
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.5 * len(sizes), 3.8), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        table = results[results.batch_size == size].pivot(index="learning_rate", columns="dropout", values="val_acc")
        table = table.sort_index(ascending=False)
        sns.heatmap(table, annot=True, fmt=".4f", cmap="viridis", vmin=vmin, vmax=vmax, cbar=False, ax=ax)
        ax.set_title(f"batch size {size}")
        ax.set_xlabel("dropout")
        ax.set_ylabel("learning rate")
        if best is not None and int(best.batch_size) == size:
            row = list(table.index).index(best.learning_rate)
            col = list(table.columns).index(best.dropout)
            ax.add_patch(plt.Rectangle((col, row), 1, 1, fill=False, edgecolor="red", lw=3))
    epochs = int(results.epochs.iloc[0])
    fig.suptitle(f"Grid search: validation accuracy after {epochs} epoch(s) (red box: selected)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- error analysis figures


def _image_axis(ax, image: np.ndarray, title: str = "", cmap: str | None = None, fontsize: int = 8) -> None:
    ax.imshow(image, cmap=cmap)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def plot_image_grid(images: np.ndarray, titles: list[str], ncols: int = 8, title: str | None = None) -> Figure:
    """Images in a grid, each with its own (multi-line) title."""
    nrows = max(1, -(-len(images) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 1.6, nrows * 2.0), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles):
        _image_axis(ax, image, text)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_saliency(images: np.ndarray, maps: dict[str, np.ndarray], titles: list[str]) -> Figure:
    """Figure 7: originals on top, one row of heatmaps per attribution method below."""
    n, rows = len(images), 1 + len(maps)
    fig, axes = plt.subplots(rows, n, figsize=(n * 1.9, rows * 2.1), squeeze=False)
    for col in range(n):
        _image_axis(axes[0, col], images[col], titles[col])
        for row, (name, method_maps) in enumerate(maps.items(), start=1):
            _image_axis(axes[row, col], method_maps[col], cmap="hot")
    for row, name in enumerate(["input", *maps], start=0):
        axes[row, 0].text(-0.15, 0.5, name, transform=axes[row, 0].transAxes, rotation=90, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_reliability(tables: dict[str, pd.DataFrame], eces: dict[str, float]) -> Figure:
    """Reliability diagrams: accuracy against confidence per bin, one panel per calibration."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5.2 * len(tables), 4.8), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items()):
        filled = table[table["count"] > 0]
        centers = (filled.bin_lower + filled.bin_upper) / 2
        width = float(table.bin_upper.iloc[0] - table.bin_lower.iloc[0])
        ax.bar(centers, filled.accuracy, width=width * 0.95, color="tab:blue", alpha=0.8, label="accuracy")
        ax.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
        ax.plot(filled.confidence, filled.accuracy, "o", color="tab:red", ms=4, label="(mean confidence, accuracy)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top-1 softmax)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name}: ECE {eces[name]:.4f}")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_risk_coverage(curves: dict[str, pd.DataFrame], routing: pd.DataFrame) -> Figure:
    """Accuracy of accepted predictions against coverage, with the chosen thresholds marked."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in curves.items():
        ax.plot(curve.coverage, curve.accuracy, label=name)
    for _, row in routing.iterrows():
        if np.isfinite(row.threshold):
            ax.plot(row.test_coverage, row.test_accuracy, "o", ms=7,
                    label=f"target {row.target_accuracy:.1%}: t={row.threshold:.4f}, routes {row.test_routed_to_human:.1%}")
    ax.set_xlabel("coverage (share of predictions accepted automatically)")
    ax.set_ylabel("accuracy of accepted predictions")
    ax.set_ylim(max(0.9, min(c.accuracy.min() for c in curves.values()) - 0.005), 1.0005)
    ax.set_title("Confidence-based routing: risk-coverage (thresholds chosen on validation)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- one-shot figures


def plot_draw_distribution(draws: pd.DataFrame, reference: float, metric: str = "accuracy") -> Figure:
    """Histogram of a metric over support draws, per embedding, with the paper's single number."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.histplot(data=draws, x=metric, hue="embedding", bins=30, element="step", stat="count", ax=ax)
    ax.axvline(reference, color="black", ls="--", lw=1.5)
    ax.text(reference, ax.get_ylim()[1] * 0.95, f" paper: {reference:.4f}", va="top", fontsize=9)
    ax.set_title(f"10-way one-shot {metric} over {draws.draw.nunique()} random support draws")
    fig.tight_layout()
    return fig


def plot_kshot(summary: pd.DataFrame) -> Figure:
    """Mean accuracy (with the 95% interval over draws) against shots per class, per embedding."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, group in summary.groupby("embedding", sort=False):
        group = group.sort_values("shots")
        ax.errorbar(group.shots, group["mean"], yerr=[group["mean"] - group.ci95_low, group.ci95_high - group["mean"]],
                    marker="o", capsize=4, label=name)
    ax.set_xlabel("labelled support images per class (k)")
    ax.set_ylabel("test accuracy (nearest prototype)")
    ax.set_xticks(sorted(summary.shots.unique()))
    ax.set_title("k-shot accuracy, mean and 95% interval over support draws")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_embedding_2d(coords: np.ndarray, labels: np.ndarray, title: str) -> Figure:
    """2-D projection of embeddings coloured by class."""
    fig, ax = plt.subplots(figsize=(8, 7))
    colors = sns.color_palette(PALETTE, N_CLASSES)
    for cls in range(N_CLASSES):
        pts = coords[labels == cls]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.4, color=colors[cls], label=class_label(cls), rasterized=True)
    legend = ax.legend(markerscale=5, fontsize=9, loc="best", framealpha=0.9)
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    ax.set_title(title)
    fig.tight_layout()
    return fig
