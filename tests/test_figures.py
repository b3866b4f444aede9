"""Every figure function, rendered on small synthetic inputs shaped like the real ones, must be
readable: no text over text, no title over another panel's image, no legend over a bar, nothing
outside the canvas, and the provenance footer clear of every label."""

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from kmnist_utils.chapters import calibration  # noqa: E402
from kmnist_utils.products import layout, plots  # noqa: E402

RNG = np.random.default_rng(0)


def _images(n):
    return (RNG.random((n, 28, 28)) * 255).astype(np.uint8)


def _confusion():
    m = RNG.integers(0, 40, (10, 10))
    np.fill_diagonal(m, RNG.integers(900, 1000, 10))
    return m


def _history():
    rows = []
    for model, epochs in (("Simple CNN", 5), ("ResNet-like CNN", 10), ("Improved CNN", 10)):
        for seed in (0, 1):
            for epoch in range(1, epochs + 1):
                rows.append(
                    {
                        "model": model,
                        "seed": seed,
                        "epoch": epoch,
                        "train_loss": 1 / epoch,
                        "val_loss": 1.1 / epoch,
                        "train_acc": 1 - 0.1 / epoch,
                        "val_acc": 1 - 0.12 / epoch,
                    }
                )
    return pd.DataFrame(rows)


def _grid():
    rows = [
        {"learning_rate": lr, "dropout": d, "batch_size": b, "val_acc": 0.98 + RNG.random() * 0.004, "epochs": 3}
        for lr in (1e-3, 5e-4)
        for d in (0.3, 0.4, 0.5)
        for b in (64, 128)
    ]
    return pd.DataFrame(rows)


def _routing_rows():
    rows = []
    for split in range(20):
        for target, cov in ((0.99, 0.95), (0.995, 0.9), (0.999, 0.0)):
            certified = cov > 0
            rows.append(
                {
                    "split": split,
                    "target_accuracy": target,
                    "threshold": 0.9 if certified else np.inf,
                    "eval_coverage": cov + RNG.normal(0, 0.01) if certified else 0.0,
                    "eval_accuracy": target + RNG.normal(0.002, 0.001) if certified else np.nan,
                }
            )
    return pd.DataFrame(rows)


def _kshot():
    rows = []
    for name in ("Siamese encoder", "raw pixels", "PCA (64 components)", "TunedImprovedCNN features"):
        for k in (1, 5, 10):
            m = 0.3 + 0.05 * k
            rows.append({"embedding": name, "shots": k, "mean": m, "ci95_low": m - 0.05, "ci95_high": m + 0.05})
    return pd.DataFrame(rows)


def _sanity():
    return pd.DataFrame(
        {
            "method": ["gradient", "SmoothGrad", "Integrated Gradients"],
            "trained_vs_random_rho": [0.2, 0.25, 0.97],
            "passes": [True, True, False],
        }
    )


def _titles(n):
    return [f"true ki (き)\npred ha (は)\nconf 0.{i:02d}" for i in range(n)]


def _draws():
    return pd.DataFrame(
        [
            {"draw": d, "embedding": e, "accuracy": RNG.normal(m, 0.04)}
            for e, m in (("Siamese encoder", 0.7), ("raw pixels", 0.25), ("PCA (64 components)", 0.26))
            for d in range(100)
        ]
    )


def _objective_history():
    rows = [{"objective": name, "epoch": e, "val_acc": top - 0.3 / e, "seconds": per_epoch}
            for name, top, per_epoch, epochs in (("in_batch_pairs (batch 128)", 0.97, 51.0, 12),
                                                 ("pairs (batch 128)", 0.93, 86.0, 8))
            for e in range(1, epochs + 1)]
    history = pd.DataFrame(rows)
    history["minutes"] = history.groupby("objective").seconds.cumsum() / 60
    return history


def _costs():
    names = ["Simple CNN", "ResNet-like CNN", "Improved CNN", "TunedImprovedCNN",
             "ablation: recipe without rotation, scale and shift",
             "recipe: PreAct ResNet with rotation, scale and shift",
             "recipe: PreAct ResNet with rotation, scale and shift, ensemble of 3 seeds"]
    # As beyond.cost_table writes it: one value, no std; the ensemble counts the seeds it was built from.
    return pd.DataFrame({"model": names, "seeds": [3, 3, 3, 3, 1, 3, 3],
                         "accuracy_mean": np.linspace(0.93, 0.985, len(names)),
                         "accuracy_std": [0.006, 0.005, 0.004, 0.003, np.nan, 0.002, np.nan],
                         "minutes_mean": [5.5, 13, 19, 19, 25, 25, 75],
                         "minutes_std": [0.2, 0.5, 0.4, 0.6, np.nan, 0.3, np.nan], "ensemble": [False] * 6 + [True]})


CASES = {
    "plot_objective_curves": lambda: plots.plot_objective_curves(_objective_history()),
    "plot_accuracy_vs_minutes": lambda: plots.plot_accuracy_vs_minutes(
        _costs(), {"target, single model": 0.982, "target, ensemble": 0.985}),
    "plot_domain_extremes": lambda: plots.plot_domain_extremes(
        _images(30), RNG.random(30), {"most test-like test images": np.arange(10),
                                      "most training-like training images": np.arange(10, 20),
                                      "most test-like training images": np.arange(20, 30)}),
    "plot_class_examples": lambda: plots.plot_class_examples(_images(200), np.repeat(np.arange(10), 20)),
    "plot_class_distribution": lambda: plots.plot_class_distribution(
        pd.DataFrame(
            {"train": [4800] * 10, "validation": [1200] * 10, "test": [1000] * 10}, index=[f"c{i}" for i in range(10)]
        )
    ),
    "plot_mean_images": lambda: plots.plot_mean_images(RNG.random((10, 28, 28))),
    "plot_pca": lambda: plots.plot_pca(
        RNG.normal(size=(2000, 2)), RNG.integers(0, 10, 2000), np.sort(RNG.random(50))[::-1] / 10
    ),
    "plot_confusions": lambda: plots.plot_confusions(
        {"Simple CNN (seed 0), test set": _confusion(), "Improved CNN (seed 0), test set": _confusion()}
    ),
    "plot_learning_curves": lambda: plots.plot_learning_curves(_history()),
    "plot_grid_heatmap": lambda: plots.plot_grid_heatmap(_grid(), _grid().iloc[3]),
    "plot_image_grid": lambda: plots.plot_image_grid(
        _images(32), _titles(32), ncols=8, title="Misclassified test images"
    ),
    "plot_saliency": lambda: plots.plot_saliency(
        _images(6),
        {m: RNG.random((6, 28, 28)) for m in _sanity().method},
        ["WRONG\ntrue ki (き)\npred ha (は)"] * 6,
        sanity=_sanity(),
    ),
    "plot_reliability": lambda: plots.plot_reliability(
        calibration.reliability_panels(RNG.normal(size=(500, 10)) * 4, RNG.integers(0, 10, 500), 1.3)
    ),
    "plot_risk_coverage": lambda: plots.plot_risk_coverage(
        {
            "validation": calibration.risk_coverage(RNG.random(500), RNG.random(500) < 0.98),
            "test": calibration.risk_coverage(RNG.random(500), RNG.random(500) < 0.97),
        },
        pd.DataFrame(
            {
                "target_accuracy": [0.99, 0.995, 0.999],
                "threshold": [0.3, 0.6, 0.99],
                "test_coverage": [0.99, 0.97, 0.86],
                "test_accuracy": [0.973, 0.985, 0.998],
                "test_routed_to_human": [0.01, 0.03, 0.14],
            }
        ),
    ),
    "plot_errors": lambda: plots.plot_errors(
        RNG.integers(0, 255, (40, 28, 28), dtype=np.uint8),
        pd.DataFrame(
            {
                "index": np.arange(16),
                "true": RNG.integers(0, 10, 16),
                "predicted": RNG.integers(0, 10, 16),
                "confidence": RNG.uniform(0.5, 1, 16),
            }
        ),
        "The 16 most confident errors",
    ),
    "plot_certified_routing": lambda: plots.plot_certified_routing(_routing_rows()),
    "plot_draw_distribution": lambda: plots.plot_draw_distribution(_draws(), 0.7387),
    "plot_kshot": lambda: plots.plot_kshot(_kshot()),
    "plot_unseen": lambda: plots.plot_unseen(
        pd.DataFrame(
            [
                {
                    "seen_classes": n,
                    "way": 10 - n,
                    "embedding": e,
                    "accuracy": 0.5 + 0.01 * n,
                    "ci95_low": 0.45,
                    "ci95_high": 0.6 + 0.01 * n,
                }
                for n in (5, 6, 7, 8)
                for e in ("Siamese encoder (pairs)", "prototypical encoder", "raw pixels", "PCA")
            ]
        )
    ),
    "plot_embedding_2d": lambda: plots.plot_embedding_2d(
        RNG.normal(size=(1000, 2)), RNG.integers(0, 10, 1000), "Siamese embeddings (PCA to 2-D)"
    ),
}


@pytest.fixture(scope="module", autouse=True)
def style():
    plots.apply_style()


def test_every_figure_function_has_a_case():
    functions = {name for name, f in inspect.getmembers(plots, inspect.isfunction) if name.startswith("plot_")}
    assert functions == set(CASES), "add a synthetic case for every plots.plot_* function"


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_readable(name):
    fig = CASES[name]()
    try:
        assert layout.layout_problems(fig) == []
        plots.add_footer(fig, "kmnist-report · profile=paper · seeds=0,1,2 · cpu · 0123456789 · 2026-11-26 12:00 UTC")
        assert layout.layout_problems(fig, canvas_check=False) == []
    finally:
        plt.close(fig)


def test_the_checker_sees_defects():
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(2, 2))
    top.imshow(np.zeros((28, 28)))
    bottom.imshow(np.zeros((28, 28)))
    bottom.set_title("a long title\non three\nlines", fontsize=14)  # reaches up into the image above
    fig.text(0.5, 0.5, "over", fontsize=30)
    fig.text(0.5, 0.5, "over", fontsize=30)
    fig.text(1.2, 0.5, "outside")
    problems = layout.layout_problems(fig)
    plt.close(fig)
    assert any("overlaps text" in p for p in problems)
    assert any("covers the image of another panel" in p for p in problems)
    assert any("leaves the canvas" in p for p in problems)


def test_the_checker_sees_a_legend_over_bars():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(range(3), [1, 1, 1], label="bars")
    ax.legend(loc="center")
    problems = layout.layout_problems(fig)
    plt.close(fig)
    assert any("covers a bar" in p for p in problems)


def _texts(fig):
    """Every axes' title, x-label and y-label, and the figure's suptitle."""
    axes = fig.get_axes()
    return ([a.get_title() for a in axes], [a.get_xlabel() for a in axes], [a.get_ylabel() for a in axes],
            fig._suptitle.get_text() if fig._suptitle else "")


def test_figure_content_titles_labels_and_panels():
    # What each figure must say, so that a title moved into a label or a lost panel turns a test red.
    fig = CASES["plot_confusions"]()
    titles, xlabels, ylabels, _ = _texts(fig)
    first_lines = [t.split("\n")[0] for t in titles if t][:2]
    assert first_lines == ["Simple CNN (seed 0), test set", "Improved CNN (seed 0), test set"]
    assert not any("seed 0" in x for x in xlabels) and any("predicted" in x.lower() for x in xlabels)
    # Every panel has its colour bar, labelled with what the shades count.
    assert len(fig.axes) == 4 and ylabels[2:] == ["images (power scale, exponent 0.3)"] * 2
    plt.close(fig)

    fig = CASES["plot_pca"]()
    titles, xlabels, ylabels, _ = _texts(fig)
    assert any(t.startswith("PCA of 2,000 training images") for t in titles)
    assert any(t.startswith("Explained variance of the first") for t in titles)
    assert any(x.startswith("PC 1 (") for x in xlabels) and any(y.startswith("PC 2 (") for y in ylabels)
    plt.close(fig)

    fig = CASES["plot_image_grid"]()
    titles, xlabels, _, suptitle = _texts(fig)
    assert suptitle == "Misclassified test images" and titles[:32] == _titles(32) and not any(xlabels[:32])
    assert sum(1 for a in fig.get_axes() if a.get_images()) == 32
    plt.close(fig)

    fig = CASES["plot_learning_curves"]()
    titles, xlabels, _, _ = _texts(fig)
    assert sum(1 for a in fig.get_axes() if a.get_lines()) >= 2 and all("epoch" in x for x in xlabels if x)
    plt.close(fig)

    fig = CASES["plot_errors"]()
    titles, _, _, suptitle = _texts(fig)
    assert suptitle == "The 16 most confident errors" and all(t.startswith("true ") for t in titles[:16])
    plt.close(fig)


def test_cost_and_objective_figures_draw_what_they_are_given():
    fig = CASES["plot_accuracy_vs_minutes"]()
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert len(labels) == len(_costs()) and "TunedImprovedCNN (3 seeds)" in labels
    assert "ablation: recipe without rotation, scale and shift (one seed)" in labels
    assert [round(line.get_ydata()[0], 3) for line in ax.get_lines() if line.get_linestyle() == "--"] == [0.982, 0.985]
    points = [c for c in ax.containers]  # one error bar container per model
    assert len(points) == len(_costs())
    assert points[3].lines[0].get_xydata()[0].tolist() == pytest.approx([19, _costs().accuracy_mean[3]])
    assert points[3].has_yerr and not points[4].has_yerr and not points[6].has_yerr  # one seed, the ensemble
    assert labels[6] == _costs().model[6]  # the ensemble's name says how many seeds it holds
    plt.close(fig)
    # A model 30 pt below the rest sits on the bottom edge, named with its accuracy, and leaves the axis alone.
    low = pd.concat([pd.DataFrame({"model": ["Logistic Regression"], "seeds": [3], "accuracy_mean": [0.60],
                                   "accuracy_std": [0.002], "minutes_mean": [0.1], "minutes_std": [0.0],
                                   "ensemble": [False]}), _costs()], ignore_index=True)
    fig = plots.plot_accuracy_vs_minutes(low)
    ax = fig.axes[0]
    assert "Logistic Regression (3 seeds): 0.600, below the axis" in ax.get_legend_handles_labels()[1]
    assert ax.get_ylim()[0] == pytest.approx(0.92)
    plt.close(fig)
    fig = plots.plot_accuracy_vs_minutes(_costs(), {"target": 0.995})  # a target above every point stays in view
    assert fig.axes[0].get_ylim()[1] > 0.995
    plt.close(fig)
    fig = CASES["plot_objective_curves"]()
    lines = fig.axes[0].get_lines()
    assert [len(line.get_xdata()) for line in lines] == [12, 8]
    assert lines[1].get_xdata()[-1] == pytest.approx(8 * 86 / 60)
    plt.close(fig)


def test_every_figure_draws_the_numbers_it_is_given():
    # Layout alone passes an empty figure or one drawn from the wrong column: here each figure is drawn
    # from known inputs and its artists are read back.
    images = _images(200)
    labels = np.repeat(np.arange(10), 20)
    fig = plots.plot_class_examples(images, labels, per_class=4)
    shown = [a.get_images()[0].get_array() for a in fig.axes if a.get_images()]
    assert len(shown) == 40 and all(any(np.array_equal(s, images[i]) for i in np.flatnonzero(labels == row))
                                    for row in range(10) for s in shown[row * 4:(row + 1) * 4])
    plt.close(fig)

    counts = pd.DataFrame({"train": np.arange(10) * 10 + 100, "test": np.arange(10) + 50},
                          index=[f"c{i}" for i in range(10)])
    fig = plots.plot_class_distribution(counts)
    heights = sorted(round(p.get_height()) for p in fig.axes[0].patches if p.get_height() > 0)
    assert heights == sorted([*counts.train, *counts.test])
    plt.close(fig)

    means = RNG.random((10, 28, 28))
    fig = plots.plot_mean_images(means)
    assert all(np.allclose(a.get_images()[0].get_array(), means[i]) for i, a in enumerate(fig.axes))
    plt.close(fig)

    grid = _grid()
    fig = plots.plot_grid_heatmap(grid, grid.iloc[3], {"the paper's text": {"learning_rate": 1e-3, "dropout": 0.4,
                                                                            "batch_size": 64}})
    cells = sorted(float(t.get_text()) for a in fig.axes for t in a.texts)
    assert cells == pytest.approx(sorted(grid.val_acc.round(4)), abs=1e-4)
    assert len(fig.axes) == 3  # two panels and one colour bar
    boxes = [p for a in fig.axes for p in a.patches if isinstance(p, matplotlib.patches.Rectangle)
             and not p.get_fill()]
    assert len(boxes) == 2  # the selected point and the paper's choice
    plt.close(fig)

    maps = {m: RNG.random((6, 28, 28)) for m in _sanity().method}
    fig = plots.plot_saliency(_images(6), maps, ["t"] * 6, sanity=_sanity())
    rows = np.asarray(fig.axes).reshape(4, 6)
    assert np.allclose(rows[3, 2].get_images()[0].get_array(), maps["Integrated Gradients"][2])
    labels_text = " ".join(t.get_text() for t in fig.texts) + " ".join(t.get_text() for a in fig.axes for t in a.texts)
    assert "FAILS" in labels_text and labels_text.count("passes") == 2
    plt.close(fig)

    logits, y = RNG.normal(size=(500, 10)) * 4, RNG.integers(0, 10, 500)
    panels = calibration.reliability_panels(logits, y, 1.3)
    fig = plots.plot_reliability(panels)
    top, counts = np.asarray(fig.axes).reshape(2, len(panels))
    for ax, ax_count, (table, _) in zip(top, counts, panels.values()):
        filled = table[table["count"] > 0]
        assert sorted(round(p.get_height(), 6) for p in ax.patches) == sorted(filled.accuracy.round(6))
        assert sorted(p.get_height() for p in ax_count.patches) == sorted(filled["count"])  # images per bin
        assert sum(int(t.get_text()) for t in ax_count.texts) == len(y)
        # A bin of a few images is an outline, never a full bar.
        few = set(filled[filled["count"] < plots.RELIABILITY_MIN_BIN].accuracy.round(6))
        hollow = {round(p.get_height(), 6) for p in ax.patches if p.get_facecolor()[3] == 0}
        assert few and hollow == few
    plt.close(fig)
    # Four panels (chapter 07: a seed and the ensemble, before and after scaling) sit two a row, so the
    # figure keeps the width of two panels.
    four = {**panels, **{f"ensemble {k}": v for k, v in panels.items()}}
    fig = plots.plot_reliability(four)
    assert fig.get_size_inches()[0] <= 11 and len([a for a in fig.axes if a.get_visible()]) == 8
    plt.close(fig)

    curve = calibration.risk_coverage(RNG.random(300), RNG.random(300) < 0.98)
    routing = pd.DataFrame({"target_accuracy": [0.99], "threshold": [0.5], "test_coverage": [0.8],
                            "test_accuracy": [0.995], "test_routed_to_human": [0.2]})
    fig = plots.plot_risk_coverage({"test": curve}, routing)
    lines = fig.axes[0].get_lines()
    assert np.allclose(lines[0].get_ydata(), curve.accuracy)
    assert np.allclose(lines[1].get_ydata(), 0.99)  # the target line
    assert lines[2].get_xydata()[0].tolist() == [0.8, 0.995]
    plt.close(fig)

    rows = _routing_rows()
    fig = plots.plot_certified_routing(rows)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["target 99.0%\n20/20 certified", "target 99.5%\n20/20 certified",
                     "target 99.9%\n0/20 certified"]
    assert [round(float(s.get_segments()[0][0][1]), 4) for s in fig.axes[0].collections] == [0.99, 0.995, 0.999]
    plt.close(fig)

    draws = _draws()
    fig = plots.plot_draw_distribution(draws, 0.7387)
    assert any(np.allclose(line.get_xdata(), 0.7387) for line in fig.axes[0].get_lines())  # the paper's line
    assert sum(len(p.get_paths()) for p in fig.axes[0].collections) >= draws.embedding.nunique()
    assert "(100 draws each)" in fig.axes[0].get_title()
    plt.close(fig)
    # Three encoder seeds pooled in the Siamese rows: the title counts encoders x draws, not just draws.
    pooled = pd.concat([draws.assign(seed=0), draws[draws.embedding == "Siamese encoder"].assign(seed=1),
                        draws[draws.embedding == "Siamese encoder"].assign(seed=2)])
    title = plots.plot_draw_distribution(pooled, 0.7387).axes[0].get_title()
    assert "(Siamese encoder: 3 encoders x 100 draws; the others: 100 draws each)" in title
    two = pooled[pooled.embedding != "PCA (64 components)"]  # one group of each count: both named
    title = plots.plot_draw_distribution(two, 0.7387).axes[0].get_title()
    assert "(Siamese encoder: 3 encoders x 100 draws; raw pixels: 100 draws)" in title
    plt.close("all")

    kshot = _kshot()
    fig = plots.plot_kshot(kshot)
    first = kshot[kshot.embedding == "Siamese encoder"]
    containers = fig.axes[0].containers
    assert len(containers) == kshot.embedding.nunique()
    assert np.allclose(containers[0].lines[0].get_ydata(), first["mean"])
    plt.close(fig)

    unseen = pd.DataFrame([{"seen_classes": 5, "way": 5, "embedding": e, "accuracy": a, "ci95_low": a - 0.02,
                            "ci95_high": a + 0.02} for e, a in (("encoder", 0.61), ("raw pixels", 0.42))])
    fig = plots.plot_unseen(unseen)
    ys = [c.lines[0].get_ydata()[0] for c in fig.axes[0].containers]
    assert ys == pytest.approx([0.61, 0.42])
    (chance,) = [c for c in fig.axes[0].collections if c.get_label().startswith("chance")]
    (segment,) = chance.get_segments()  # one seen count: a visible segment at 1 / way, not a lone point
    assert segment[:, 1] == pytest.approx([1 / 5, 1 / 5]) and segment[1, 0] - segment[0, 0] > 0.5
    plt.close(fig)

    coords = RNG.normal(size=(300, 2))
    fig = plots.plot_embedding_2d(coords, RNG.integers(0, 10, 300), "t")
    drawn = fig.axes[0].collections[0].get_offsets()
    assert len(drawn) == 300 and {tuple(p) for p in np.round(drawn, 6)} == {tuple(p) for p in np.round(coords, 6)}
    plt.close(fig)
