"""The assembled report on a small synthetic results folder: tables, provenance checks, Markdown."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from kmnist_utils import references
from kmnist_utils.chapters import summary
from kmnist_utils.pipeline import readme
from kmnist_utils.products.results import write_table


def vs_paper(models: list[str], ours: float, std: float | None = 0.002, seeds: int = 3,
             protocol: str | None = references.PROTOCOL) -> pd.DataFrame:
    """A ``*_vs_paper`` table as the chapters write it (``protocol=None``: as written before the column)."""
    rows = []
    for model in models:
        for metric in ("accuracy", "precision", "recall", "f1"):
            reference = float(references.TABLE1.set_index("model").loc[model, metric])
            rows.append({"model": model, **({} if protocol is None else {"protocol": protocol}), "metric": metric,
                         "paper": reference, "ours_mean": ours, "ours_std": std, "seeds": seeds,
                         "difference": round(ours - reference, 4)})
    return pd.DataFrame(rows)


@pytest.fixture
def results_ctx(smoke_ctx):
    ctx = smoke_ctx
    write_table(vs_paper(["logreg"], 0.6), "logreg_vs_paper", ctx)
    write_table(vs_paper(["simple", "resnet", "improved"], 0.95), "cnn_vs_paper", ctx)
    write_table(pd.concat([vs_paper(["tuned"], 0.965),
                           vs_paper(["tuned"], 0.96, protocol=references.BEST_EPOCH_PROTOCOL)]),
                "tuned_vs_paper", ctx)
    grid = pd.DataFrame(
        [
            {"grid_index": i, "learning_rate": lr, "dropout": 0.4, "batch_size": bs, "val_acc": acc, "val_loss": 0.05}
            for i, (lr, bs, acc) in enumerate([(1e-3, 64, 0.98), (1e-3, 128, 0.99), (5e-4, 64, 0.985)])
        ]
    )
    write_table(grid, "tuning_grid", ctx)
    write_table(
        pd.DataFrame(
            [{"learning_rate": 1e-3, "dropout": 0.4, "batch_size": 128, "val_acc": 0.99, "same_as_paper": True}]
        ),
        "tuning_selected",
        ctx,
    )
    write_table(
        pd.DataFrame(
            {
                "metric": ["accuracy", "f1_macro"],
                "paper": [0.7387, 0.7338],
                "ours, first draw": [0.7, 0.69],
                "ours, mean of draws": [0.68, 0.67],
                "ours, std of draws": [0.04, 0.04],
            }
        ),
        "oneshot_siamese_vs_paper",
        ctx,
    )
    accuracies = np.linspace(0.6, 0.79, 20)  # the paper's 0.7387 is above 14 of these 20 draws
    write_table(
        pd.DataFrame({"embedding": "Siamese encoder", "shots": 1, "accuracy": accuracies}), "oneshot_draws", ctx
    )
    kshot = pd.DataFrame(
        [
            {
                "embedding": e,
                "shots": k,
                "mean": m + 0.01 * k,
                "std": 0.01,
                "ci95_low": m - 0.05,
                "ci95_high": m + 0.05,
                "min": m - 0.1,
                "max": m + 0.1,
                "draws": 20,
            }
            for e, m in (("Siamese encoder", 0.695), ("raw pixels", 0.25))
            for k in (1, 5)
        ]
    )
    write_table(kshot, "oneshot_kshot_summary", ctx)
    write_table(
        pd.DataFrame(
            [
                {
                    "seen_classes": 5,
                    "way": 5,
                    "embedding": "raw pixels",
                    "splits": 4,
                    "accuracy": 0.35,
                    "ci95_low": 0.25,
                    "ci95_high": 0.45,
                }
            ]
        ),
        "oneshot_unseen_classes",
        ctx,
    )
    write_table(
        pd.DataFrame(
            [
                {
                    "target_accuracy": 0.99,
                    "threshold": 0.5,
                    "val_coverage": 0.99,
                    "val_accuracy": 0.99,
                    "test_coverage": 0.98,
                    "test_accuracy": 0.97,
                    "test_routed_to_human": 0.02,
                    "test_meets_target": False,
                }
            ]
        ),
        "routing_thresholds",
        ctx,
    )
    write_table(
        pd.DataFrame({"notebook": ["01_a.ipynb", "02_b.ipynb"], "wall_time_s": [60.0, 120.0]}), "pipeline_timings", ctx
    )
    return ctx


def test_table1_puts_the_paper_beside_our_mean_and_std(results_ctx):
    results = summary.load_results(results_ctx.dirs.results)
    table = summary.table1(results)
    assert len(table) == 6 * 4 and set(table.metric) == {"accuracy", "precision", "recall", "f1"}
    tuned = table[(table.model == "TunedImprovedCNN") & (table.metric == "accuracy")].set_index("protocol")
    assert list(tuned.index) == [references.PROTOCOL, references.BEST_EPOCH_PROTOCOL]
    row = tuned.loc[references.PROTOCOL]
    assert row.paper == 0.97 and row.ours_mean == 0.965 and row.difference_pts == pytest.approx(-0.5)
    shown = summary.table1_display(table)
    assert shown.loc[("TunedImprovedCNN", references.PROTOCOL), "accuracy"] == \
        "0.9650 ± 0.0020 (Table I 0.970, notebook 0.9699)"
    assert row.paper_notebook == 0.9699 and row.difference_notebook_pts == pytest.approx(-0.49)
    assert row.verdict.startswith("reproduced: both inside the 95% prediction interval")
    assert shown.loc[("TunedImprovedCNN", references.BEST_EPOCH_PROTOCOL), "accuracy"].startswith("0.9600 ± 0.0020")
    markdown = readme.readme_section(results)
    assert f"| TunedImprovedCNN | {references.PROTOCOL} | 0.970 |" in markdown
    assert f"| TunedImprovedCNN | {references.BEST_EPOCH_PROTOCOL} | 0.970 |" in markdown


def test_one_seed_shows_no_std(results_ctx):
    write_table(vs_paper(["tuned"], 0.965, std=None, seeds=1), "tuned_vs_paper", results_ctx)
    shown = summary.table1_display(summary.table1(summary.load_results(results_ctx.dirs.results)))
    assert shown.loc[("TunedImprovedCNN", references.PROTOCOL), "accuracy"].startswith("0.9650 (Table I")
    row = summary.table1(summary.load_results(results_ctx.dirs.results)).query("model == 'TunedImprovedCNN'").iloc[0]
    assert pd.isna(row.interval_low) and "one seed" in row.verdict


def test_grid_and_oneshot_tables(results_ctx):
    results = summary.load_results(results_ctx.dirs.results)
    grid = summary.grid_table(results)
    assert grid.iloc[0].selected and grid.iloc[0].paper_choice and grid.selected.sum() == 1
    assert grid.gap_to_best_pts.tolist() == pytest.approx([0.0, 0.5, 1.0])
    oneshot = summary.oneshot_table(results)
    assert oneshot.attrs["paper_percentile"] == pytest.approx(70.0)
    assert oneshot.iloc[0].accuracy == references.ONE_SHOT["accuracy"] and oneshot.iloc[1].accuracy == 0.7
    lines = summary.differences(results)
    assert all(line.startswith("[smoke run: tiny data, meaningless numbers") for line in lines)
    assert any("70th percentile" in line for line in lines)
    assert any("Routing target 99.0%" in line and "misses the target" in line for line in lines)
    assert not any("per encoder seed" in line for line in lines)  # the draws carry no seed column here
    assert not oneshot.method.str.contains("encoder seeds").any()  # one encoder: no spread over encoders


def test_oneshot_table_gives_the_spread_over_encoder_seeds(results_ctx):
    write_table(pd.DataFrame({"metric": ["accuracy", "f1_macro"], "paper": [0.7387, 0.7338],
                              "ours, first draw": [0.95, 0.95], "ours, mean of draws": [0.955, 0.954],
                              "ours, std of draws": [0.01, 0.01], "ours, std over encoder seeds": [0.004, 0.005],
                              "encoder seeds": [3, 3]}), "oneshot_siamese_vs_paper", results_ctx)
    oneshot = summary.oneshot_table(summary.load_results(results_ctx.dirs.results)).set_index("method")
    row = oneshot.loc["Siamese network (ours, mean ± std over 3 encoder seeds)"]
    assert (row.accuracy, row["std"], row.macro_f1, row.draws) == (0.955, 0.004, 0.954, 20)


def write_ladder(ctx) -> pd.DataFrame:
    """Chapter 06's ladder tables, two rungs of two encoders with three draws each; returns its draws."""
    draws = pd.DataFrame([{"rung": rung, "seed": seed, "draw": d, "accuracy": base + 0.1 * seed + 0.01 * d}
                          for rung, base in ((references.SIAMESE_METHOD, 0.6), ("+ in-batch pairs", 0.7))
                          for seed in (0, 1) for d in range(3)])
    write_table(draws, "oneshot_ladder_draws", ctx)
    write_table(pd.DataFrame([
        {"rung": references.SIAMESE_METHOD, "change": "paper: its encoder", "accuracy": 0.66, "f1_macro": 0.65,
         "draw_std": 0.01, "seed_std": 0.07, "seeds": 2, "draws_per_seed": 3, "difference": 0.0,
         "ci95_low": 0.0, "ci95_high": 0.0, "interval_over": "encoder seeds"},
        {"rung": "+ in-batch pairs", "change": "pairs in batches", "accuracy": 0.76, "f1_macro": 0.75,
         "draw_std": 0.01, "seed_std": 0.07, "seeds": 2, "draws_per_seed": 3, "difference": 0.1,
         "ci95_low": 0.05, "ci95_high": 0.15, "interval_over": "encoder seeds"},
    ]), "oneshot_ladder", ctx)
    return draws


def test_oneshot_table_shows_the_ladder_with_the_std_of_all_its_draws(results_ctx):
    """The paper's method and each of our changes: the paper's row says "paper", the others what changed and
    their difference from it; the ± is the std of all the rung's draws (as in the findings), not the ladder's
    mean spread within an encoder seed."""
    draws = write_ladder(results_ctx)
    table = summary.oneshot_table(summary.load_results(results_ctx.dirs.results)).set_index("method")
    paper = table.loc[f"Siamese network, {references.SIAMESE_METHOD} (2 encoders, ± std over draws)"]
    pooled = draws[draws.rung == references.SIAMESE_METHOD].accuracy.std(ddof=1)
    assert paper.protocol == references.PROTOCOL and paper["std"] == pytest.approx(pooled) and paper.draws == 6
    assert pd.isna(paper.difference)
    ours = table.loc["Siamese network, + in-batch pairs (2 encoders, ± std over draws)"]
    assert ours.protocol == "ours: pairs in batches" and (ours.difference, ours.diff_low) == (0.1, 0.05)
    assert table.attrs["paper_percentile"] == pytest.approx(100.0)  # 0.7387 is above every paper-method draw


def test_the_readme_states_a_few_findings_a_chapter_and_the_report_all(results_ctx):
    """The README's sentences are a subset of REPORT.md's: the grid's choice against the paper's picks, chapter
    07's model against the TunedImprovedCNN (not its targets, aims and anchors), and the verdicts of the shift
    and the validation-to-test gaps; the one-shot verdict is among the paper's questions."""
    write_ladder(results_ctx)
    draws = summary.load_results(results_ctx.dirs.results)["oneshot_draws"]
    write_table(pd.concat([draws.assign(seed=0), draws.assign(seed=1, accuracy=draws.accuracy + 0.01)]),
                "oneshot_draws", results_ctx)
    write_table(pd.DataFrame({"model": ["single"] * 3 + ["ensemble"], "seed": ["0", "1", "2", "0+1+2"],
                              "accuracy": [0.980, 0.981, 0.979, 0.983]}), "beyond_test", results_ctx, schedule="cpu")
    write_table(pd.DataFrame({"seed": [0, 1, 2], "accuracy": [0.965, 0.966, 0.964]}), "tuned_seeds", results_ctx)
    write_table(pd.DataFrame({"comparison": ["official test vs training", "two halves of the training set (control)"],
                              "images_each": [100, 100], "auc": [0.68, 0.5], "ci95_low": [0.67, 0.49],
                              "ci95_high": [0.69, 0.51]}), "shift_auc", results_ctx)
    write_table(pd.DataFrame({"model": ["a", "b"], "seeds": [3, 3], "val_mean": [0.99, 0.98],
                              "test_mean": [0.97, 0.95], "gap_mean": [0.02, 0.03], "gap_std": [0.001, 0.002],
                              "test_std": [0.001, 0.001]}), "shift_validation_test_gaps", results_ctx)
    results = summary.load_results(results_ctx.dirs.results)
    headline, every = summary.headline_findings(results), summary.differences(results)
    assert set(headline) < set(every) and len(headline) == 4
    said = " | ".join(headline)
    assert "The grid search" in said and "the paper's text" in said
    assert "The grid's pick across runs" in " | ".join(every)
    assert "+ in-batch pairs" not in said and "per encoder seed" not in " | ".join(every)
    assert "misses the target" not in said and "against the aim" not in said
    assert "against TunedImprovedCNN, paired by seed" in said and "dataset paper's" not in said
    assert "measurably different population" in said and "AUC 0.680 (95% interval" not in said
    assert "What this means" in said and "Validation orders" not in said
    assert "+ in-batch pairs" in " | ".join(every) and "against the aim" in " | ".join(every)


def test_missing_tables_are_named_with_the_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks the results table.*tuning_grid.*make report"):
        summary.load_results(tmp_path)


def test_mixed_runs_are_flagged(results_ctx):
    path = results_ctx.dirs.results / "tuning_grid.json"
    payload = json.loads(path.read_text())
    payload["provenance"]["git_commit"] = "0123456789abcdef"
    path.write_text(json.dumps(payload))
    results = summary.load_results(results_ctx.dirs.results)
    assert len(summary.run_identity(results)) == 2
    assert summary.provenance_sentence(results).startswith("**Warning: these results mix 2 runs**")


def test_markdown_report_and_readme_section(results_ctx, tmp_path):
    results = summary.load_results(results_ctx.dirs.results)
    report = readme.markdown_report(results)
    assert "## Table I (all metrics)" in report and "| TunedImprovedCNN |" in report and "3.0 min" in report
    assert "tables written " in report and "attempts" not in report.split("\n")[2]  # a run of one attempt
    path = tmp_path / "README.md"
    path.write_text(f"# title\n{readme.START_START}\nOLD-START\n{readme.START_END}\n\n"
                    f"{readme.README_START}\nOLD-SECTION\n{readme.README_END}\n\n## after\n")
    assert readme.update_readme(path, results) is True
    text = path.read_text()
    assert (
        "OLD-SECTION" not in text and "OLD-START" not in text
        and text.endswith("## after\n")
        and f"| TunedImprovedCNN | {references.PROTOCOL} | 0.970 | 0.9699 | 0.9650 ± 0.0020 | [0.9551, 0.9749] |"
        in text and "**The paper's questions, answered.**" in text
    )
    assert "| `make report PROFILE=smoke` |" in text and text.count("not measured") == 1  # no smoke record given
    assert readme.update_readme(path, results) is False  # idempotent
    smoke = (pd.DataFrame({"notebook": ["01", "02"], "wall_time_s": [100.0, 182.0]}),
             {"git_commit": "abcdef1234567", "precision": "fp32", "date_utc": "2026-11-30T21:00:00+00:00",
              "device_name": "a test CPU", "run_attempts": 1, "seeds": [0]})
    assert readme.update_readme(path, results, smoke) is True
    assert "| 5 min with seed 0 (commit `abcdef1234`, fp32, 2026-11-30) on a test CPU |" in path.read_text()
    path.write_text("# no markers\n")
    with pytest.raises(ValueError, match="no generated-section markers"):
        readme.update_readme(path, results)


def test_markdown_table_escapes_pipes():
    table = readme.markdown_table(pd.DataFrame({"a": ["x|y"], "b": [0.5]}))
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 0.5 |"]


def test_seeded_draws_and_certified_routing_get_their_own_findings(results_ctx):
    draws = pd.DataFrame(
        {
            "embedding": "Siamese encoder",
            "shots": 1,
            "seed": np.repeat([0, 1, 2], 10),
            "accuracy": np.r_[np.full(10, 0.74), np.full(10, 0.76), np.full(10, 0.78)],
        }
    )
    write_table(draws, "oneshot_draws", results_ctx)
    write_table(
        pd.DataFrame(
            [
                {
                    "target_accuracy": 0.99,
                    "splits": 100,
                    "share_meeting_target": 0.99,
                    "share_certified": 1.0,
                    "share_certified_and_missed": 0.01,
                    "coverage_mean": 0.9,
                    "coverage_p05": 0.88,
                    "coverage_p95": 0.92,
                    "accuracy_mean": 0.995,
                    "accuracy_p05": 0.992,
                    "routed_to_human_mean": 0.1,
                }
            ]
        ),
        "routing_certified",
        results_ctx,
        delta=0.05,
    )
    results = summary.load_results(results_ctx.dirs.results)
    lines = summary.differences(results)
    # Our encoder's single draws against the paper's single draw, never a mean over draws per seed.
    assert any("our Siamese encoder" in line and "over 30 draws" in line for line in lines)
    assert not any("per encoder seed" in line or "std away" in line for line in lines)
    assert any("] Target 99.0%: a threshold was certified in 100% of the splits" in line for line in lines)
    assert not any("threshold from validation" in line for line in lines)
    assert "## Certified routing" in readme.markdown_report(results)
    # A target certified in no split has no accuracy: JSON null must not break the table.
    write_table(
        pd.DataFrame(
            [
                {
                    "target_accuracy": 0.999,
                    "splits": 100,
                    "share_meeting_target": 1.0,
                    "share_certified": 0.0,
                    "coverage_mean": 0.0,
                    "coverage_p05": 0.0,
                    "coverage_p95": 0.0,
                    "accuracy_mean": np.nan,
                    "accuracy_p05": np.nan,
                    "routed_to_human_mean": 1.0,
                }
            ]
        ),
        "routing_certified",
        results_ctx,
        delta=0.05,
    )
    table = summary.certified_routing_table(summary.load_results(results_ctx.dirs.results))
    assert np.isnan(table.accuracy_mean.iloc[0]) and table.splits.iloc[0] == 100


def test_the_cost_of_the_recorded_run_names_machine_precision_and_seeds(results_ctx):
    from kmnist_utils.products.results import TIMINGS_TABLE

    write_table(pd.DataFrame({"notebook": ["01_eda_pca.ipynb", "03_cnns.ipynb"], "wall_time_s": [12.0, 1800.0]}),
                TIMINGS_TABLE, results_ctx)
    results = summary.load_results(results_ctx.dirs.results)
    opening = readme.start_section(results, None)
    assert "30 min" in opening and results_ctx.precision in opening
    assert "[" in opening  # the CPU model with its vector flags, from the provenance
    text = readme.chapter_minutes(results)
    assert "01 0.2, 03 30.0" in text and text in opening
    assert "idle" not in text  # recorded before the ledger kept the runs: nothing to say about idle cores
    assert "min" not in summary.provenance_sentence(results, timed=False)  # the run's time is said once, above
    write_table(pd.DataFrame({"notebook": ["01_eda_pca.ipynb", "03_cnns.ipynb"], "wall_time_s": [12.0, 1800.0],
                              "training_core_s": [0.0, 3600.0], "idle_core_s": [0.0, 90.0]}),
                TIMINGS_TABLE, results_ctx)
    text = readme.chapter_minutes(summary.load_results(results_ctx.dirs.results))
    assert "While it trained (1.0 core-hours), the cores sat idle 2.5% of the time." in text
    assert "mix CPU kinds" not in readme.start_section(summary.load_results(results_ctx.dirs.results), None)
    # A run resumed on another CPU kind with the same cache: its time counts both, and says so.
    write_table(pd.DataFrame({"notebook": ["03_cnns.ipynb"], "wall_time_s": [1800.0]}), TIMINGS_TABLE, results_ctx,
                run_attempts=2, attempt_cpus=["AMD EPYC [avx2 fma]", "Intel Xeon [avx512f]"])
    results = summary.load_results(results_ctx.dirs.results)
    said = "its attempts on AMD EPYC [avx2 fma] and Intel Xeon [avx512f]: the minutes mix CPU kinds"
    assert said in readme.start_section(results, None) and said in summary.provenance_sentence(results)


def test_report_and_readme_count_the_same_notebooks_whether_the_assembling_one_is_timed_yet(results_ctx):
    """REPORT.md is written inside the assembling notebook, before its own time exists; the README is
    generated after. Both count the chapters only, so they agree on the number and the minutes."""
    rows = {"notebook": ["01_a.ipynb", "02_b.ipynb"], "wall_time_s": [60.0, 120.0]}
    write_table(pd.DataFrame(rows), "pipeline_timings", results_ctx)
    before = summary.provenance_sentence(summary.load_results(results_ctx.dirs.results))
    rows = {"notebook": [*rows["notebook"], summary.ASSEMBLY_NOTEBOOK], "wall_time_s": [60.0, 120.0, 5.0]}
    write_table(pd.DataFrame(rows), "pipeline_timings", results_ctx)
    after = summary.provenance_sentence(summary.load_results(results_ctx.dirs.results))
    assert before == after
    assert "its 2 chapter notebooks (the one that assembles this report not counted) took 3.0 min" in after


def test_the_papers_questions_are_answered_from_the_tables(results_ctx):
    """Each of the paper's questions and claims gets one sentence from its table and a link to its section."""
    ctx = results_ctx
    write_ladder(ctx)
    write_table(pd.DataFrame({"model": "logreg", "seed": [0, 1, 2], "accuracy": [0.60, 0.59, 0.605]}),
                "logreg_seeds", ctx)
    cnn = pd.DataFrame([{"model": m, "protocol": references.PROTOCOL, "seed": s, "accuracy": a + 0.001 * s}
                        for m, a in (("simple", 0.938), ("resnet", 0.945), ("improved", 0.967)) for s in (0, 1, 2)])
    write_table(cnn, "cnn_seeds", ctx)
    write_table(pd.DataFrame({"model": "tuned", "protocol": references.PROTOCOL, "seed": [0, 1, 2],
                              "accuracy": [0.964, 0.965, 0.971]}), "tuned_seeds", ctx)
    picks = pd.concat([pd.DataFrame({"model": "tuned", "protocol": protocol, "seed": [0, 1, 2],
                                     "accuracy": [0.97, 0.971, 0.972]}) for protocol in references.PICK_PROTOCOLS])
    write_table(picks, "tuned_picks_seeds", ctx)
    write_table(pd.DataFrame({"class_a": ["a", "b"], "class_b": ["c", "d"], "total": [30, 10]}),
                "errors_confused_pairs", ctx)
    write_table(pd.DataFrame({"index": range(80), "confidence": np.linspace(0.5, 1.0, 80)}), "errors_misclassified",
                ctx)
    write_table(pd.DataFrame({"method": ["gradient"], "trained_vs_random_rho": [0.07], "stroke_mass": [0.24],
                              "stroke_pixels": [0.20], "passes": [True]}), "saliency_sanity_check", ctx, max_rho=0.5)
    answers = summary.paper_questions(summary.load_results(ctx.dirs.results))
    assert [a.notebook[:2] for a in answers] == ["02", "03", "03", "04", "05", "05", "06"]
    assert all(a.answer.startswith("[smoke run: tiny data, meaningless numbers") for a in answers)
    answers = [dataclasses.replace(a, answer=a.answer.split("] ", 1)[1]) for a in answers]
    logreg, cnns, order, tuning, errors, saliency, oneshot = (a.answer for a in answers)
    assert order.startswith("Reproduced.") and "paired by seed" in order
    assert "against the paper's Table I 0.598" in logreg and "the paper's notebook 0.605" in logreg
    assert "Simple CNN +34." in cnns and "paired by seed (3 seeds)" in cnns and "+33.60 pt (Table I)" in cnns
    assert "TunedImprovedCNN at our grid's pick against the Improved CNN, paired by seed" in tuning
    assert "the paper's text's pick" in tuning and "the paper's notebook's pick" in tuning
    assert "+0.30 pt (Table I) and -0.21 pt (the paper's notebook)" in tuning
    assert "ranked" not in tuning or "of the grid, ranked" in tuning
    assert "the 2 most confused of the 45 class pairs hold 50% of the" in errors and "80 test errors" in errors
    assert "not reproduced by this measure" in saliency
    assert oneshot.startswith("Not reproduced.") and "The paper's Siamese method" in oneshot
    assert not any("std away" in a.answer or "seed spread" in a.answer for a in answers)
    section = readme.readme_section(summary.load_results(ctx.dirs.results))
    assert section.index("The paper's questions, answered") < section.index("| model | protocol | Table I |")
    assert "(reports/04_tuning.ipynb#The-TunedImprovedCNN)" in section
    report = readme.markdown_report(summary.load_results(ctx.dirs.results))
    assert report.index("## The paper's questions, answered") < report.index("## Table I (all metrics)")
    assert "(../reports/06_siamese_one_shot.ipynb#" in report
