"""Every branch of every generated finding, on synthetic numbers."""

import pandas as pd
import pytest

from kmnist_utils.stats import findings, selection


def test_one_seed_says_no_spread_was_measured():
    text = findings.versus_reference("Simple CNN", [0.9332], 0.934)
    assert "one seed" in text and "no spread was measured" in text and "no prediction interval" in text
    assert "0.08 pt below" in text and "inside" not in text and "outside" not in text


def test_a_reference_is_judged_by_the_prediction_interval_for_one_more_run():
    """mean ± t(n-1) s sqrt(1 + 1/n): with 3 seeds t = 4.30, not 2, and never 'k std away'."""
    inside = findings.versus_reference("ResNet-like CNN", [0.940, 0.943, 0.946], 0.944)
    assert "inside the 95% prediction interval for one more run of ours [0.9281, 0.9579]" in inside
    assert "0.10 pt below" in inside
    outside = findings.versus_reference("Improved CNN", [0.969, 0.970, 0.971], 0.955)
    assert "outside the 95% prediction interval" in outside and "above" in outside
    for text in (inside, outside):
        assert "std away" not in text and "seed spread" not in text


def test_the_old_two_std_sentence_is_gone():
    """The TunedImprovedCNN of the committed run, 0.9652 ± 0.0008 over 3 seeds against 0.970, was called
    'outside the seed spread (6.0 std away)'; its best-epoch row, 0.9661 ± 0.0017, '2.3 std away'. A 3-seed std
    with the binomial floor under it gives an interval that holds 0.970 in both."""
    last = findings.versus_reference_summary("TunedImprovedCNN", 0.9652, 0.0008, 3, 0.970, rounding=0.0005)
    best = findings.versus_reference_summary("TunedImprovedCNN", 0.9661, 0.0017, 3, 0.970, rounding=0.0005)
    for text in (last, best):
        assert "std away" not in text and "inside the 95% prediction interval" in text
        assert "its width set by the test set's binomial standard error" in text
    assert "[0.9571, 0.9751]" in best


def test_the_binomial_floor_sets_the_width_when_the_seeds_agree_too_well():
    """Chapter 07's 0.9801 ± 0.0003 against 0.9782 was '7.4 std away' on a 0.03 pt std; the test set alone
    moves an accuracy of 98% by 0.14 pt."""
    text = findings.versus_reference_summary("PreAct ResNet", 0.9801, 0.0003, 3, 0.9782)
    assert "inside the 95% prediction interval" in text and "binomial" in text and "std away" not in text
    wide = findings.versus_reference_summary("PreAct ResNet", 0.9801, 0.0003, 3, 0.9782, n_images=10**9)
    assert "outside" in wide and "binomial" not in wide


def test_both_of_the_papers_runs_every_verdict():
    runs = {"Table I": 0.967, "the paper's notebook": 0.972}
    both = findings.versus_paper_runs("Improved CNN", 0.9674, 0.0033, 3, runs, {"Table I": 0.0005})
    assert "reproduced: both inside" in both and "the paper's own 2 runs differ by 0.50 pt" in both
    one = findings.versus_paper_runs("Improved CNN", 0.9674, 0.0002, 3, runs, n_images=10**9)
    assert "within the paper's own run-to-run noise: Table I inside" in one and "the paper's notebook outside" in one
    neither = findings.versus_paper_runs("Improved CNN", 0.990, 0.0002, 3, runs)
    assert "not reproduced: neither inside" in neither
    lone = findings.versus_paper_runs("Improved CNN", 0.9674, float("nan"), 1, runs)
    assert "one seed" in lone and "cannot call it reproduced or not" in lone and "nan" not in lone


def test_paired_comparison_pairs_by_seed():
    tuned = pd.Series([0.9640, 0.9650, 0.9665], index=[0, 1, 2])
    improved = pd.Series([0.9676, 0.9695, 0.9650], index=[0, 1, 2])
    text = findings.paired_comparison("TunedImprovedCNN", tuned, "Improved CNN", improved)
    assert "per seed -0.36, -0.45, +0.15 pt" in text and "includes 0" in text and "std" not in text
    reordered = findings.paired_comparison("TunedImprovedCNN", tuned[::-1], "Improved CNN", improved)
    assert reordered.replace("+0.15, -0.45, -0.36", "-0.36, -0.45, +0.15") == text
    better = findings.paired_comparison("a", pd.Series([0.98, 0.981, 0.979]), "b", pd.Series([0.97, 0.97, 0.969]))
    assert "a is better, beyond the noise" in better
    one = findings.paired_comparison("a", pd.Series([0.98], index=[5]), "b", pd.Series([0.97, 0.96], index=[5, 6]))
    assert "one pair, so no interval" in one
    with pytest.raises(ValueError, match="share no seed"):
        findings.paired_comparison("a", pd.Series([0.98], index=[1]), "b", pd.Series([0.97], index=[2]))


def test_mean_and_spread_text():
    assert findings.mean_and_spread([0.5]) == "0.5000 (one seed)"
    assert findings.mean_and_spread([0.5, 0.7]) == "0.6000 ± 0.1414 (2 seeds)"


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="finite values"):
        findings.versus_reference("x", [], 0.5)
    with pytest.raises(ValueError, match="finite values"):
        findings.mean_and_spread([0.5, float("nan")])


def test_generalisation_gap_direction_is_computed():
    assert "test is 1.73 pt lower" in findings.generalisation_gap("validation", 0.9896, "test", 0.9723)
    assert "validation is 0.50 pt lower" in findings.generalisation_gap("validation", 0.97, "test", 0.975)
    assert "are equal" in findings.generalisation_gap("validation", 0.97, "test", 0.97)


def test_target_verdict():
    assert "meets the target" in findings.target_verdict("99% target", 0.9931, 0.99)
    missed = findings.target_verdict("99% target", 0.9736, 0.99)
    assert "misses the target 0.99 by 1.64 pt" in missed


def test_draws_versus_reference():
    below = findings.draws_versus_reference("Siamese", [0.6, 0.7, 0.8, 0.65], 0.7387)
    assert "below" in below and "75th percentile" in below
    above = findings.draws_versus_reference("Siamese", [0.8, 0.82], 0.7387)
    assert "at or above" in above and "0th percentile" in above and "outside the central 95%" in above
    assert "inside the central 95%" in below and "over 4 draws (std of all 4: 0.0854)" in below


def test_interval_verdict_every_branch():
    assert findings.interval_verdict("x", 0.02, 0.01, 0.03, "the paper's method", "encoder seeds").endswith(
        "better, beyond the noise.")
    assert findings.interval_verdict("x", -0.02, -0.03, -0.01, "p", "seeds").endswith("worse, beyond the noise.")
    assert "includes 0" in findings.interval_verdict("x", 0.01, -0.01, 0.03, "p", "seeds")
    lone = findings.interval_verdict("x", 0.01, float("nan"), float("nan"), "p", "seeds")
    assert "no interval" in lone and "nan" not in lone


def test_the_papers_rounding_counts_as_part_of_the_reference():
    """0.9674 against a reported 0.967 that stands for [0.9665, 0.9675)."""
    interval_edge = findings.versus_reference_summary("m", 0.9700, 0.0001, 3, 0.9655, n_images=10**9)
    assert "outside" in interval_edge
    assert "inside" in findings.versus_reference_summary("m", 0.9700, 0.0001, 3, 0.9655, rounding=0.005,
                                                         n_images=10**9)
    assert "one seed" in findings.versus_reference("m", [0.9690], 0.967, rounding=0.0005)


def test_routing_verdict_judges_the_guarantee_by_what_it_promises():
    """The guarantee bounds, unconditionally, the chance of certifying a threshold that misses: compared with
    delta, not a share among certified splits with 1 - delta."""
    kept = findings.routing_verdict(0.99, 0.03, 0.05, 0.9, 1.0)
    assert "in 3.0% of all splits a certified threshold missed" in kept and "consistent with the guarantee" in kept
    assert "10.0% of the images go to a person" in kept and "send every image" not in kept
    noisy = findings.routing_verdict(0.995, 0.10, 0.05, 0.8, 1.0)
    assert "stricter than the guarantee and does not show it broken" in noisy
    # 60% certified, 4% of all splits missed: 6.7% of the certified ones, which a conditional reading would
    # call a broken promise at 1 - delta = 95%; unconditionally it is within delta.
    partly = findings.routing_verdict(0.995, 0.04, 0.05, 0.5, 0.6)
    assert "certified in 60% of the splits (the other 40% send every image to a person)" in partly
    assert "consistent with the guarantee" in partly
    # 11 of 200 splits certified, all of them missed: the two shares read alike (not "6%" beside "5.5%").
    rare = findings.routing_verdict(0.999, 0.055, 0.05, 0.03, 0.055)
    assert "certified in 5.5% of the splits (the other 94.5% send" in rare and "in 5.5% of all splits" in rare
    nothing = findings.routing_verdict(0.999, 0.0, 0.05, 0.0, 0.0)
    assert "no threshold could be certified" in nothing and "the target is not met" in nothing


def test_target_verdict_when_nothing_is_accepted():
    assert "accepts nothing" in findings.target_verdict("t", float("nan"), 0.99)


def test_no_nan_guard():
    assert findings.no_nan("accuracy 0.97, finance and nano are fine") == "accuracy 0.97, finance and nano are fine"
    with pytest.raises(ValueError, match="nan"):
        findings.no_nan("gap of nan points")


def test_variation_and_show():
    assert (
        findings.variation("the subset", [0.6]) == "One seed: how much the subset moves the accuracy was not measured."
    )
    text = findings.variation("the subset", [0.59, 0.60, 0.61])
    assert "3 seeds" in text and "1.00 pt" in text and "0.5900 to 0.6100" in text
    from types import SimpleNamespace

    paper_run = SimpleNamespace(profile=SimpleNamespace(name="paper"))
    shown = findings.show(paper_run, ["a", "b"])
    assert shown.data == "- a\n- b"
    with pytest.raises(ValueError, match="nan"):
        findings.show(paper_run, ["std nan"])
    smoke_run = SimpleNamespace(profile=SimpleNamespace(name="smoke"))
    lines = findings.show(smoke_run, ["Simple CNN: 0.1000, 87.00 pt below the paper", "b"]).data.splitlines()
    assert all(line.startswith("- [smoke run: tiny data, meaningless numbers") for line in lines)


def test_ranking_certainty_every_branch():
    assert "whether the ranking is stable is unknown" in findings.ranking_certainty(0.001, None)
    assert "another run could rank them the other way" in findings.ranking_certainty(0.001, 0.0096)
    assert "beyond the noise on one run's gap between two points" in findings.ranking_certainty(0.02, 0.0096)


def test_the_grids_own_noise_and_its_picks():
    noise = findings.grid_noise_sentence([0.001, -0.002, 0.003, -0.004], 0.01, "the paper's notebook's")
    assert "one seed each" in noise and "± 1.00 pt of noise" in noise and "over 4 points" in noise
    same = {"learning_rate": 1e-3, "dropout": 0.4, "batch_size": 128}
    assert "all picked the same point" in findings.grid_picks({"a": same, "b": dict(same)})
    moved = findings.grid_picks({"a": same, "b": {**same, "dropout": 0.5}, "c": same})
    assert "2 different points from 3 runs" in moved and "noisy measurement" in moved


def test_saliency_verdict_every_branch():
    good = findings.saliency_verdict("gradient", 0.2, 0.5, 0.6, 0.2)
    assert "passes the randomisation check" in good and "concentrated on the strokes" in good and "3.0x" in good
    assert "is reproduced by this measure" in good
    bad = findings.saliency_verdict("Integrated Gradients", 0.97, 0.5, 0.9, 0.2)
    assert "FAILS the randomisation check" in bad and "reproduced" not in bad
    assert "mostly off the strokes" in findings.saliency_verdict("g", 0.1, 0.5, 0.1, 0.2)
    assert "spread about evenly" in findings.saliency_verdict("g", 0.1, 0.5, 0.2, 0.2)
    # The committed gradient maps: 26% of the mass on strokes that are 20% of the pixels. Denser on the
    # strokes, but three quarters lie off them: "concentrated on the strokes" would not follow the measure.
    measured = findings.saliency_verdict("gradient", 0.09, 0.5, 0.256, 0.2003)
    assert "concentrated" not in measured and "74% of it lies off them" in measured
    assert "is not reproduced by this measure" in measured


def test_training_stop_every_branch():
    assert "stopped after 12 epochs, 3 without" in findings.training_stop("seed 0", 12, 9, 40, 3)
    capped = findings.training_stop("seed 0", 10, 10, 10, None)
    assert "ran all 10 epochs" in capped and "still improving" in capped and "longer training may help" in capped
    assert "best validation loss at epoch 7." in findings.training_stop("seed 0", 10, 8 - 1, 10, None)


def test_transfer_verdicts_read_the_paired_differences():
    from kmnist_utils.chapters import oneshot

    rows = []
    for split, (enc, pix, pca) in enumerate([(0.60, 0.40, 0.45), (0.62, 0.41, 0.44), (0.61, 0.42, 0.46)]):
        rows += [{"seen_classes": 5, "way": 5, "split": split, "embedding": e, "accuracy": a}
                 for e, a in (("encoder", enc), ("pixels", pix), ("PCA", pca))]
    for split, (enc, pix, pca) in enumerate([(0.70, 0.75, 0.74), (0.71, 0.76, 0.75), (0.69, 0.77, 0.73)]):
        rows += [{"seen_classes": 8, "way": 2, "split": split, "embedding": e, "accuracy": a}
                 for e, a in (("encoder", enc), ("pixels", pix), ("PCA", pca))]
    for split, (enc, pix, pca) in enumerate([(0.70, 0.60, 0.72), (0.71, 0.76, 0.70), (0.69, 0.65, 0.68)]):
        rows += [{"seen_classes": 7, "way": 3, "split": split, "embedding": e, "accuracy": a}
                 for e, a in (("encoder", enc), ("pixels", pix), ("PCA", pca))]
    rows = pd.DataFrame(rows)
    summary = oneshot.summarize_unseen(rows)
    differences = oneshot.unseen_differences(rows, ["encoder"], ["pixels", "PCA"])
    five, seven, eight = findings.transfer_verdicts(summary, differences)
    assert five.startswith("encoder, 5 classes seen (5-way 1-shot on the others, 0.6100) transfers")
    assert "+20.00 pt against pixels (95% interval" in five
    assert "does not transfer: a baseline is better" in eight and "-6.00 pt against pixels" in eight
    assert "transfer not shown: an interval includes zero" in seven
    one = rows.query("split == 0")
    verdicts = findings.transfer_verdicts(oneshot.summarize_unseen(one),
                                          oneshot.unseen_differences(one, ["encoder"], ["pixels", "PCA"]))
    assert "one split: no interval" in verdicts[0]


def test_choice_versus_paper_every_branch():
    grid = pd.DataFrame({"learning_rate": [1e-3, 5e-4, 1e-3], "dropout": [0.3, 0.5, 0.5],
                         "batch_size": [128, 64, 64], "val_acc": [0.9870, 0.9866, 0.9820],
                         "val_loss": [0.05, 0.05, 0.06], "grid_index": [0, 1, 2]})
    ranked = selection.ranked(grid)
    paper_near = {"learning_rate": 5e-4, "dropout": 0.5, "batch_size": 64}
    paper_far = {"learning_rate": 1e-3, "dropout": 0.5, "batch_size": 64}
    assert findings.choice_versus_paper(ranked, {"learning_rate": 1e-3, "dropout": 0.3, "batch_size": 128},
                                        None) == "Our grid chose the configuration of the paper's text."
    near = findings.choice_versus_paper(ranked, paper_near, 0.0096, "the paper's notebook")
    assert near == ("the pick of the paper's notebook ranks 2 of 3, 0.04 pt below ours "
                    "(within the noise: not told apart)")
    far = findings.choice_versus_paper(ranked, paper_far, 0.002)
    assert "ranks 3 of 3, 0.50 pt" in far and "(beyond the noise)" in far
    assert "not told apart from noise" in findings.choice_versus_paper(ranked, paper_far, None)
    assert "not a point of this grid" in findings.choice_versus_paper(
        ranked, {"learning_rate": 1e-2, "dropout": 0.5, "batch_size": 64}, None)


def test_grid_findings_read_the_grid_against_the_papers_notebook():
    from kmnist_utils import references

    grid = pd.DataFrame([{"grid_index": i, "learning_rate": lr, "dropout": d, "batch_size": b, "val_acc": acc,
                          "val_loss": 0.05, "seed": 0, "epochs": 3}
                         for i, ((lr, d, b), acc) in enumerate(references.NOTEBOOK_GRID.items())])
    lines = findings.grid_findings(grid, references.NOTEBOOK_TUNED_CONFIG)
    assert lines[0].startswith("The grid search (one seed, 3 epochs a point) chose lr 0.001, dropout 0.5, batch 64")
    assert "the pick of the paper's text ranks 10 of 12" in lines[0]
    assert "Our grid chose the configuration of the paper's notebook" in lines[0]
    assert "± 0.00 pt of noise" in lines[1]  # the same grid twice: no noise
    assert "2 different points from 3 runs" in lines[-1] and "docs/history.md" in lines[-1]
