"""Plot style, saving figures with provenance, and the figures of the report."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kmnist_utils.core.atomic import write_bytes
from kmnist_utils.core.data import N_CLASSES, class_label
from kmnist_utils.core.paths import ShownPath
from kmnist_utils.products.layout import layout_problems
from kmnist_utils.products.provenance import provenance, provenance_line

if TYPE_CHECKING:  # a type only: products sit below the engine and never load it
    from kmnist_utils.engine.context import RunContext

JAPANESE_FONT = "IPAexGothic"
FAR_BELOW = 0.10  # accuracy this far under the best model's leaves the cost figure's axis
PALETTE = "tab10"


def _register_japanese_font() -> None:
    """Add IPAexGothic from the matplotlib-fontja wheel, so hiragana render on any machine."""
    import matplotlib_fontja  # only where figures are drawn: timing scripts run without the font package

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


def add_footer(fig: Figure, line: str) -> None:
    """Put ``line`` in small grey type under everything the figure draws, so it covers no label."""
    fig.canvas.draw()
    tight = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    fig.text(tight.x1 / width, (tight.y0 - 0.04) / height, line, ha="right", va="top", fontsize=6, color="0.5")


def save_figure(fig: Figure, name: str, ctx: RunContext, seeds: Sequence[int] | None = None) -> Path:
    """Save ``fig`` as ``<figures>/<name>.png`` with a provenance footer and PNG metadata; ``seeds``: the
    seeds the figure's runs used where that is not the run's (the grid trains one).

    A layout defect (text over text or over another panel, a legend over bars) is reported as a
    warning naming the figure: the file is still written, since it holds a real run's result.
    """
    if not name or "/" in name or name.endswith(".png"):
        raise ValueError(f"figure name must be a bare stem such as 'fig01_examples', got {name!r}")
    problems = layout_problems(fig)
    add_footer(fig, provenance_line(ctx, seeds))
    problems += [p for p in layout_problems(fig, canvas_check=False) if p not in problems]
    if problems:
        warnings.warn(f"figure {name}: " + "; ".join(problems[:5]), stacklevel=2)
    buffer = io.BytesIO()
    extra = {} if seeds is None else {"figure_seeds": list(map(int, seeds))}
    metadata = {"Title": name, "Description": json.dumps(provenance(ctx, **extra), ensure_ascii=False)}
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata=metadata)
    return ShownPath(write_bytes(ctx.dirs.figures / f"{name}.png", buffer.getvalue()))


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
    # Outside the axes: inside, it covers the bars whatever corner it takes.
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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


def plot_pca(
    coords: np.ndarray, labels: np.ndarray, explained: np.ndarray, n_show: int = 50, max_points: int = 5_000
) -> Figure:
    """Figure 2: 2-D PCA scatter coloured by class (a random subset of ``max_points``, drawn in random
    order), and the explained variance of the leading PCs."""
    fig, (ax_scatter, ax_var) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [1.3, 1]})
    _class_scatter(ax_scatter, coords, np.asarray(labels), max_points)
    ax_scatter.set_xlabel(f"PC 1 ({explained[0]:.1%} of variance)")
    ax_scatter.set_ylabel(f"PC 2 ({explained[1]:.1%} of variance)")
    shown = min(max_points, len(coords))
    ax_scatter.set_title(f"PCA of {len(coords):,} training images ({shown:,} shown; pixels in [0, 1])")
    legend = ax_scatter.legend(markerscale=1.5, fontsize=9, loc="upper right", framealpha=0.9)
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
    """Counts heatmap, rows = true class, columns = predicted class, both labelled with kana, with a colour
    bar that says how shades map to counts."""
    labels = [class_label(i) for i in range(N_CLASSES)]
    # A power scale: with a linear one, off-diagonal counts of 10-50 next to ~1,000 are invisible.
    sns.heatmap(
        matrix,
        annot=True,
        fmt="d",
        cmap="Blues",
        cbar=True,
        cbar_kws={"label": "images (power scale, exponent 0.3)", "shrink": 0.75},
        square=True,
        xticklabels=labels,
        yticklabels=labels,
        annot_kws={"fontsize": 8},
        norm=PowerNorm(0.3, vmin=0, vmax=max(1, matrix.max())),
        ax=ax,
    )
    accuracy = np.trace(matrix) / matrix.sum()
    ax.set_title(f"{title}\naccuracy {accuracy:.4f} on {matrix.sum():,} images")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(axis="x", rotation=90)
    ax.tick_params(axis="y", rotation=0)


def plot_confusions(matrices: dict[str, np.ndarray]) -> Figure:
    """One confusion-matrix panel per entry, side by side (Figures 3, 4 and 5)."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(8.5 * len(matrices), 7.2), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        draw_confusion(ax, matrix, title)
    fig.tight_layout()
    return fig


def plot_learning_curves(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, training vs validation, one colour per model (mean ± sd when several seeds ran)."""
    long = pd.concat(
        [
            history.assign(split="train", loss=history.train_loss, accuracy=history.train_acc),
            history.assign(split="validation", loss=history.val_loss, accuracy=history.val_acc),
        ]
    )
    seeds = history.groupby("model").seed.nunique().min() if "seed" in history else 1
    spread = f"mean ± sd over {seeds} seeds" if seeds > 1 else "one seed: no spread measured"
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        sns.lineplot(
            data=long,
            x="epoch",
            y=metric,
            hue="model",
            style="split",
            errorbar="sd" if seeds > 1 else None,
            marker="o",
            ax=ax,
        )
        ax.set_title(f"{metric} per epoch ({spread})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].get_legend().remove()
    fig.tight_layout()
    return fig


def plot_objective_curves(history: pd.DataFrame) -> Figure:
    """Validation 1-shot accuracy against cumulative training minutes, one line per run (``objective``),
    a marker at the end of every epoch: objectives compared at equal wall time."""
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    for name, run in history.groupby("objective", sort=False):
        ax.plot(run.minutes, run.val_acc, marker="o", label=name)
    ax.set_xlabel("training minutes (one worker, one thread)")
    ax.set_ylabel("validation 10-way 1-shot accuracy")
    ax.set_title("Siamese objectives at equal wall time (one seed: no spread measured)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_accuracy_vs_minutes(costs: pd.DataFrame, targets: dict[str, float] | None = None) -> Figure:
    """Test accuracy against training minutes on one core, one point per model with mean ± std over its
    seeds as error bars (a model with one seed gets none, and its label says so); ``targets`` are drawn
    as labelled horizontal lines."""
    fig, ax = plt.subplots(figsize=(11, 7.5))
    palette = sns.color_palette("tab10", len(costs))
    # A model far below the rest (logistic regression, 30 pt under the CNNs) would flatten every other
    # difference: it is drawn as a marker on the bottom edge, its accuracy in its label.
    accuracy = costs.accuracy_mean
    floor = float(accuracy[accuracy >= accuracy.max() - FAR_BELOW].min()) - 0.01
    for (_, row), colour in zip(costs.iterrows(), palette):
        ensemble = bool(row.get("ensemble", False))
        label = row.model + ("" if ensemble else " (one seed)" if row.seeds < 2 else f" ({int(row.seeds)} seeds)")
        if row.accuracy_mean < floor:
            ax.plot(row.minutes_mean, floor, marker="v", ls="none", color=colour, clip_on=False,
                    label=f"{label}: {row.accuracy_mean:.3f}, below the axis")
            continue
        spread = row.seeds > 1 and not ensemble  # an ensemble is one model: no spread to draw
        ax.errorbar(row.minutes_mean, row.accuracy_mean, xerr=row.minutes_std if spread else None,
                    yerr=row.accuracy_std if spread else None, fmt="o", capsize=3, color=colour, label=label)
    # Room above the highest point or target, so that every target line and its label is drawn.
    top = max([float((accuracy + costs.accuracy_std.fillna(0.0)).max()), *(targets or {}).values()])
    ax.set_ylim(floor, top + 0.004)
    for i, (name, value) in enumerate((targets or {}).items()):
        ax.axhline(value, color="grey", linestyle="--", linewidth=1)
        # Targets a few tenths of a point apart: their labels take turns at the right and left ends.
        ax.annotate(f"{name} {value:.3f}", (1.0 - i % 2, value), xycoords=("axes fraction", "data"),
                    ha="left" if i % 2 else "right", va="bottom", fontsize=8, color="dimgrey",
                    xytext=(4 if i % 2 else -4, 0), textcoords="offset points")
    ax.set_xlim(left=0)
    ax.set_xlabel("training minutes per model, one CPU core")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy against training cost, every classifier of the report (mean ± std over seeds)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_grid_heatmap(results: pd.DataFrame, best: pd.Series | None = None,
                      paper_choices: dict[str, dict] | None = None) -> Figure:
    """Validation accuracy by learning rate x dropout, one panel per batch size, one shared colour bar;
    the selected point boxed in red, each of the paper's picks (``paper_choices``: label -> configuration;
    at most two) boxed in white, dashed then dotted. The title says how many seeds the grid trained."""
    sizes = sorted(results.batch_size.unique())
    vmin, vmax = results.val_acc.min(), results.val_acc.max()
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes) + 1.2, 3.9), squeeze=False, layout="constrained")
    paper_choices = dict(paper_choices or {})
    styles = ("--", ":")
    if len(paper_choices) > len(styles):
        raise ValueError(f"at most {len(styles)} paper picks can be marked, got {len(paper_choices)}")

    def box(ax, table, point, inset, **style) -> None:
        row = list(table.index).index(float(point["learning_rate"]))
        col = list(table.columns).index(float(point["dropout"]))
        ax.add_patch(plt.Rectangle((col + inset, row + inset), 1 - 2 * inset, 1 - 2 * inset, fill=False, **style))

    for ax, size in zip(axes[0], sizes):
        table = results[results.batch_size == size].pivot(index="learning_rate", columns="dropout", values="val_acc")
        table = table.sort_index(ascending=False)
        sns.heatmap(table, annot=True, fmt=".4f", cmap="viridis", vmin=vmin, vmax=vmax, cbar=False, ax=ax)
        ax.set_title(f"batch size {size}")
        ax.set_xlabel("dropout")
        ax.set_ylabel("learning rate")
        if best is not None and int(best.batch_size) == size:
            box(ax, table, best, 0.06, edgecolor="red", lw=3)
        for (_, choice), style, inset in zip(paper_choices.items(), styles, (0.14, 0.2)):
            if int(choice["batch_size"]) == size:
                box(ax, table, choice, inset, edgecolor="white", lw=2, ls=style)
    colorbar = fig.colorbar(axes[0, 0].collections[0], ax=axes[0].tolist(), shrink=0.9)
    colorbar.set_label("validation accuracy")
    epochs = int(results.epochs.iloc[0])
    seeds = sorted(results.seed.unique()) if "seed" in results else []
    trained = (f"one seed (seed {seeds[0]})" if len(seeds) == 1 else f"{len(seeds)} seeds") if seeds else ""
    marks = ["red: selected"] + [f"white {'dashed' if style == '--' else 'dotted'}: {label}"
                                 for label, style in zip(paper_choices, styles)]
    fig.suptitle(f"Grid search: validation accuracy after {epochs} epoch{'s' * (epochs != 1)}"
                 f"{', ' + trained if trained else ''}\n"
                 f"({'; '.join(marks)})")
    return fig


# --------------------------------------------------------------------------- error analysis figures


def _image_axis(ax, image: np.ndarray, title: str = "", cmap: str | None = None, fontsize: int = 8) -> None:
    ax.imshow(image, cmap=cmap)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def error_titles(rows: pd.DataFrame) -> list[str]:
    """'true X / pred Y / conf 0.97' titles for rows of :func:`misclassified`."""
    return [
        f"true {class_label(r.true)}\npred {class_label(r.predicted)}\nconf {r.confidence:.2f}"
        for r in rows.itertuples()
    ]


def plot_errors(x_test: np.ndarray, rows: pd.DataFrame, title: str, ncols: int = 8) -> Figure:
    """Rows of ``errors.misclassified`` as an image grid, each titled with true class, prediction and confidence."""
    return plot_image_grid(x_test[rows["index"].to_numpy()], error_titles(rows), ncols=ncols, title=title)


def plot_image_grid(images: np.ndarray, titles: list[str], ncols: int = 8, title: str | None = None) -> Figure:
    """Images in a grid, each with its own (multi-line) title."""
    nrows = max(1, -(-len(images) // ncols))
    title_lines = max((t.count("\n") + 1 for t in titles), default=1)
    # Constrained layout reserves each row's titles; the height leaves them room above the image.
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(ncols * 1.5, nrows * (1.45 + 0.16 * title_lines)), squeeze=False, layout="constrained"
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, text in zip(axes.flat, images, titles):
        _image_axis(ax, image, text)
    if title:
        fig.suptitle(title)
    return fig


def plot_saliency(
    images: np.ndarray, maps: dict[str, np.ndarray], titles: list[str], sanity: pd.DataFrame | None = None
) -> Figure:
    """Figure 7: originals on top, one row of heatmaps per attribution method below.

    With ``sanity`` (from ``saliency.sanity_check``) each method's row names its trained-vs-random
    correlation, and a method that fails the check is labelled FAILS in red.
    """
    n, rows = len(images), 1 + len(maps)
    fig, axes = plt.subplots(rows, n, figsize=(n * 1.9, rows * 2.3), squeeze=False)
    for col in range(n):
        _image_axis(axes[0, col], images[col], titles[col])
        for row, (name, method_maps) in enumerate(maps.items(), start=1):
            _image_axis(axes[row, col], method_maps[col], cmap="hot")
    checks = {} if sanity is None else sanity.set_index("method").to_dict("index")
    for row, name in enumerate(["input", *maps], start=0):
        label, color = name, "black"
        if name in checks:
            check = checks[name]
            label = f"{name}\nrandomisation rho {check['trained_vs_random_rho']:.2f}\n" + (
                "passes" if check["passes"] else "FAILS"
            )
            color = "black" if check["passes"] else "tab:red"
        axes[row, 0].text(
            -0.12,
            0.5,
            label,
            transform=axes[row, 0].transAxes,
            rotation=90,
            ha="right",
            va="center",
            fontsize=8,
            color=color,
            multialignment="center",
        )
    fig.tight_layout()
    return fig


# A reliability bin with fewer images than this is drawn as an outline: its accuracy is too noisy to
# read as a full bar (at 20 images the binomial standard error of an accuracy near 0.5 is 0.11).
RELIABILITY_MIN_BIN = 20


def plot_reliability(panels: dict[str, tuple[pd.DataFrame, float]]) -> Figure:
    """Reliability diagrams: accuracy against confidence per bin, and under each the number of test
    images in every bin (log scale: most predictions sit in the top bin, so a bar far from the diagonal
    may stand on a handful of images; bins of fewer than ``RELIABILITY_MIN_BIN`` images are outlines);
    ``panels`` maps a title to (table, ECE). At most two panels a row, so that the figure stays legible
    at the width of a page column."""
    columns = min(2, len(panels))
    pairs = -(-len(panels) // columns)
    fig, axes = plt.subplots(2 * pairs, columns, figsize=(5.4 * columns, 4.6 * pairs + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.2] * pairs})
    for index, (name, (table, ece)) in enumerate(panels.items()):
        ax, ax_count = axes[2 * (index // columns), index % columns], axes[2 * (index // columns) + 1, index % columns]
        filled = table[table["count"] > 0]
        centers = (filled.bin_lower + filled.bin_upper) / 2
        width = float(table.bin_upper.iloc[0] - table.bin_lower.iloc[0])
        solid = (filled["count"] >= RELIABILITY_MIN_BIN).to_numpy()
        ax.bar(centers[solid], filled.accuracy[solid], width=width * 0.95, color="tab:blue", alpha=0.8,
               label="accuracy")
        ax.bar(centers[~solid], filled.accuracy[~solid], width=width * 0.95, facecolor="none", edgecolor="tab:blue",
               hatch="//", label=f"accuracy, bin of < {RELIABILITY_MIN_BIN} images")
        ax.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
        ax.plot(filled.confidence, filled.accuracy, "o", color="tab:red", ms=4, label="(mean confidence, accuracy)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name}: ECE {ece:.4f}", fontsize=10)
        ax.tick_params(labelbottom=False)
        ax_count.bar(centers, filled["count"], width=width * 0.95, color="0.5")
        ax_count.set_yscale("log")
        ax_count.set_xlim(0, 1)
        ax_count.set_ylim(0.8, max(10.0, float(filled["count"].max()) * 3))
        for x, n in zip(centers, filled["count"]):
            ax_count.annotate(f"{int(n)}", (x, n), ha="center", va="bottom", fontsize=7)
        ax_count.set_xlabel("confidence (top-1 softmax)")
        ax_count.set_ylabel("images per bin")
    for index in range(len(panels), pairs * columns):  # an odd number of panels leaves one slot empty
        axes[2 * (index // columns), index % columns].set_visible(False)
        axes[2 * (index // columns) + 1, index % columns].set_visible(False)
    # One legend above the panels: inside a panel it covers the bars of its low-confidence bins.
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.75 / (4.6 * pairs + 0.6)))
    return fig


def plot_risk_coverage(curves: dict[str, pd.DataFrame], routing: pd.DataFrame) -> Figure:
    """Accuracy of accepted predictions against coverage, with the chosen thresholds marked."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in curves.items():
        ax.plot(curve.coverage, curve.accuracy, label=name)
    for target in sorted(routing.target_accuracy.unique()):
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        # under the line, a third of the way in: the curves run at full accuracy there
        ax.annotate(f"target {target:.1%}", (0.3, target), xycoords=("axes fraction", "data"), va="top",
                    fontsize=8, color="dimgrey")
    for _, row in routing.iterrows():
        if np.isfinite(row.threshold):
            ax.plot(
                row.test_coverage,
                row.test_accuracy,
                "o",
                ms=7,
                label=f"target {row.target_accuracy:.1%}: t={row.threshold:.4f}, routes {row.test_routed_to_human:.1%}",
            )
    ax.set_xlabel("coverage (share of predictions accepted automatically)")
    ax.set_ylabel("accuracy of accepted predictions")
    ax.set_ylim(max(0.9, min(c.accuracy.min() for c in curves.values()) - 0.005), 1.0005)
    ax.set_title("Confidence-based routing: risk-coverage (thresholds chosen on validation)")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def plot_certified_routing(rows: pd.DataFrame) -> Figure:
    """Over the random calibration/evaluation splits of the test set, per target: the accuracy of what
    the certified threshold accepts on the evaluation part, and the share it accepts (coverage)."""
    targets = sorted(rows.target_accuracy.unique())
    fig, (ax_acc, ax_cov) = plt.subplots(1, 2, figsize=(12, 4.8))
    labels = []
    for i, target in enumerate(targets):
        part = rows[rows.target_accuracy == target]
        certified = part[np.isfinite(part.threshold) & (part.eval_coverage > 0)]
        labels.append(f"target {target:.1%}\n{len(certified)}/{len(part)} certified")
        if len(certified):
            ax_acc.boxplot(certified.eval_accuracy, positions=[i], widths=0.5, showfliers=True)
        ax_acc.hlines(target, i - 0.35, i + 0.35, color="tab:red", lw=2, label="target" if i == 0 else None)
        ax_cov.boxplot(part.eval_coverage, positions=[i], widths=0.5)
    for ax in (ax_acc, ax_cov):
        ax.set_xticks(range(len(targets)), labels)
        ax.set_xlim(-0.6, len(targets) - 0.4)
    ax_acc.set_ylabel("accuracy of accepted predictions\n(evaluation part)")
    ax_acc.set_title("Accuracy where a threshold was certified")
    ax_acc.legend(loc="lower left", fontsize=8)
    ax_cov.set_ylabel("coverage (share accepted automatically)")
    ax_cov.set_ylim(-0.02, 1.02)
    ax_cov.set_title("Coverage; the rest goes to a person")
    fig.suptitle(f"Certified routing over {rows.split.nunique()} random calibration/evaluation splits of the test set")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- one-shot figures


def draw_count_text(draws: pd.DataFrame, by: str = "embedding") -> str:
    """How many values each histogram of ``draws`` pools: '100 support draws each', or per group
    '3 encoders x 100 draws' where a group pools several encoder seeds; the count most groups share is
    said once ('the others: 100 draws each'), so the title fits above the plot."""
    parts = []
    for name, group in draws.groupby(by, sort=False):
        seeds = group.seed.nunique() if "seed" in group else 1
        per = group.draw.nunique()
        parts.append((name, f"{seeds} encoders x {per} draws" if seeds > 1 else f"{per} draws"))
    texts = [text for _, text in parts]
    common = max(texts, key=texts.count)
    if texts.count(common) == len(texts):
        return f"{common} each"
    if texts.count(common) == 1:
        return "; ".join(f"{name}: {text}" for name, text in parts)
    return "; ".join(f"{name}: {text}" for name, text in parts if text != common) + f"; the others: {common} each"


def plot_draw_distribution(draws: pd.DataFrame, reference: float, metric: str = "accuracy",
                           by: str = "embedding") -> Figure:
    """Histogram of a metric over support draws (pooled over encoder seeds, as the title counts), per
    ``by`` group, with the paper's single number."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    sns.histplot(data=draws, x=metric, hue=by, bins=30, element="step", stat="count", ax=ax)
    ax.axvline(reference, color="black", ls="--", lw=1.5)
    ax.text(reference, ax.get_ylim()[1] * 0.95, f" paper: {reference:.4f}", va="top", fontsize=9)
    ax.set_title(f"10-way one-shot {metric} over random support draws\n({draw_count_text(draws, by)})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_kshot(summary: pd.DataFrame) -> Figure:
    """Mean accuracy (with the 95% interval over draws) against shots per class, per embedding."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, group in summary.groupby("embedding", sort=False):
        group = group.sort_values("shots")
        ax.errorbar(
            group.shots,
            group["mean"],
            yerr=[group["mean"] - group.ci95_low, group.ci95_high - group["mean"]],
            marker="o",
            capsize=4,
            label=name,
        )
    ax.set_xlabel("labelled support images per class (k)")
    ax.set_ylabel("test accuracy (nearest prototype)")
    ax.set_xticks(sorted(summary.shots.unique()))
    ax.set_title("k-shot accuracy, mean and 95% interval over support draws")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_unseen(summary: pd.DataFrame, chance: bool = True) -> Figure:
    """1-shot accuracy on classes never seen in training against the number of seen classes, per
    embedding, with the 95% interval over class splits (and chance, 1 / way)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    offsets = np.linspace(-0.15, 0.15, summary.embedding.nunique())
    for offset, (name, group) in zip(offsets, summary.groupby("embedding", sort=False)):
        group = group.sort_values("seen_classes")
        low = (group.accuracy - group.ci95_low).fillna(0)
        high = (group.ci95_high - group.accuracy).fillna(0)
        ax.errorbar(group.seen_classes + offset, group.accuracy, yerr=[low, high], marker="o", capsize=4, label=name)
    if chance:
        ways = summary.drop_duplicates("seen_classes").sort_values("seen_classes")
        # a segment across each group of markers: a line through one seen count would be a single point
        ax.hlines(1 / ways.way, ways.seen_classes - 0.3, ways.seen_classes + 0.3, linestyles=":", colors="0.4",
                  label="chance (1 / way)")
    ax.set_xticks(sorted(summary.seen_classes.unique()))
    ax.set_xlabel("classes seen in training (the other 10 - n are the test classes)")
    ax.set_ylabel("1-shot accuracy on unseen classes")
    ax.set_title("One-shot on classes the encoder never saw\nmean and 95% interval over class splits")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def _class_scatter(ax, coords: np.ndarray, labels: np.ndarray, max_points: int, seed: int = 0) -> None:
    """Points coloured by class, at most ``max_points`` of them, drawn in random order so that no class
    is painted over all the others (plotting class by class hides the first classes under the last)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(coords))[:max_points]
    colors = np.asarray(sns.color_palette(PALETTE, N_CLASSES))
    ax.scatter(coords[order, 0], coords[order, 1], s=3, alpha=0.5, c=colors[labels[order]], rasterized=True)
    for cls in range(N_CLASSES):  # legend entries only
        ax.scatter([], [], s=12, color=colors[cls], label=class_label(cls))


def plot_embedding_2d(
    coords: np.ndarray,
    labels: np.ndarray,
    title: str,
    axis_labels: tuple[str, str] = ("PC 1", "PC 2"),
    max_points: int = 5_000,
) -> Figure:
    """2-D projection of embeddings coloured by class (a random subset of ``max_points``)."""
    fig, ax = plt.subplots(figsize=(9, 7))
    _class_scatter(ax, coords, np.asarray(labels), max_points)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    legend = ax.legend(markerscale=1.5, fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    for handle in legend.legend_handles:
        handle.set_alpha(1)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_domain_extremes(images: np.ndarray, scores: np.ndarray, groups: dict[str, np.ndarray]) -> Figure:
    """One row of images per group (``shift.extremes``), each titled with the detector's probability that
    it is a test image."""
    ncols = max(len(rows) for rows in groups.values())
    fig = plt.figure(figsize=(ncols * 1.3, len(groups) * 1.9), layout="constrained")
    for subfig, (name, rows) in zip(np.atleast_1d(fig.subfigures(len(groups), 1)), groups.items()):
        axes = np.atleast_1d(subfig.subplots(1, ncols))
        for ax in axes:
            ax.axis("off")
        for ax, row in zip(axes, rows):
            _image_axis(ax, images[row], f"p(test) {scores[row]:.2f}", cmap="gray")
        subfig.suptitle(name[0].upper() + name[1:], fontsize=10)
    return fig
