"""The assembled report: tables and findings built from the results folder alone (nothing is trained
here). Notebook 08 shows them and writes them as CSV; ``readme`` renders the same tables as Markdown
for the README's Results section and REPORT.md, so README and results cannot drift apart unnoticed
(``tests/test_readme.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from kmnist_utils import references
from kmnist_utils.chapters import anchors, shift
from kmnist_utils.products.provenance import mixed_cpus, over_attempts, short_commit
from kmnist_utils.products.results import (  # timings: absent when notebooks run one by one
    TIMINGS_TABLE,
    read_table_file,
)
from kmnist_utils.settings import CNNS, DISPLAY_NAMES, PAPER, TUNED
from kmnist_utils.stats import findings
from kmnist_utils.stats.metrics import mean_std_text, paper_comparison
from kmnist_utils.stats.selection import ranked
from kmnist_utils.stats.yardsticks import binomial_se, paired_interval, prediction_interval, prediction_interval_summary

TABLE1_SOURCES = ("logreg_vs_paper", "cnn_vs_paper", "tuned_vs_paper")
REQUIRED = (*TABLE1_SOURCES, "tuning_grid", "tuning_selected", "oneshot_siamese_vs_paper", "oneshot_draws",
            "oneshot_kshot_summary", "oneshot_unseen_classes", "routing_thresholds")
CERTIFIED_ROUTING = "routing_certified"  # written by notebook 05 since certified routing; older runs lack it
PICKS_TABLE = "tuned_picks_seeds"  # the TunedImprovedCNN at the paper's own picks; older runs lack it
UNSEEN_DIFFERENCES = "oneshot_unseen_differences"  # paired differences to the baselines; older runs lack it
# The notebook that assembles the others' results: REPORT.md is written before its own time is recorded.
ASSEMBLY_NOTEBOOK = "08_report.ipynb"


@dataclass(frozen=True)
class Results:
    """Every table of one results folder, with the provenance each was written with."""

    folder: Path
    tables: dict[str, pd.DataFrame]
    provenance: dict[str, dict]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def load_results(folder: str | Path, required: tuple[str, ...] = REQUIRED) -> Results:
    """Read every ``*.json`` table under ``folder``; name the missing ones and how to produce them."""
    folder = Path(folder)
    tables, provenance = {}, {}
    for path in sorted(folder.glob("*.json")):
        table = read_table_file(path)
        if table is not None:
            tables[path.stem], provenance[path.stem] = table
    missing = [name for name in required if name not in tables]
    if missing:
        raise FileNotFoundError(
            f"{folder} lacks the results table(s) {', '.join(missing)}. Run notebooks 01-06 first "
            "(`make report`, or `make report PROFILE=smoke` for a quick run)."
        )
    return Results(folder, tables, provenance)


# --------------------------------------------------------------------------- provenance


# Every table a number of the README or REPORT.md comes from (those a run lacks are skipped).
REPORTED = (*REQUIRED, TIMINGS_TABLE, CERTIFIED_ROUTING, UNSEEN_DIFFERENCES, PICKS_TABLE, anchors.BEYOND_TABLE1,
            anchors.BEYOND_TEST, shift.AUC_TABLE, shift.GAP_TABLE)


def run_identity(results: Results, names: tuple[str, ...] = REPORTED) -> pd.DataFrame:
    """One row per distinct (commit, profile, seeds, device) among the tables: one row = one run."""
    rows = [
        {
            "commit": p.get("git_commit"),
            "profile": p.get("profile"),
            "seeds": ",".join(map(str, p.get("seeds", []))),
            "device": p.get("device_name"),
            "table": name,
        }
        for name, p in results.provenance.items()
        if name in names
    ]
    frame = pd.DataFrame(rows)
    keys = ["commit", "profile", "seeds", "device"]
    return frame.groupby(keys, sort=False).agg(tables=("table", lambda t: ", ".join(sorted(t)))).reset_index()


def run_dates(results: Results, names: tuple[str, ...] = REPORTED) -> tuple[str, str]:
    dates = sorted(results.provenance[n]["date_utc"] for n in names if n in results.provenance)
    return dates[0], dates[-1]


def provenance_sentence(results: Results, timed: bool = True) -> str:
    """Which run every number comes from (``timed``: and how long its chapters took), or a warning naming the
    runs when they are mixed."""
    runs = run_identity(results)
    first, last = run_dates(results)
    if len(runs) != 1:
        listed = "; ".join(
            f"{short_commit(r.commit)} {r.profile} seeds {r.seeds} on {r.device}" for r in runs.itertuples()
        )
        return (
            f"**Warning: these results mix {len(runs)} runs** ({listed}); rerun `make report` for one consistent set."
        )
    run = runs.iloc[0]
    timings = results.tables.get(TIMINGS_TABLE)
    took = ""
    if timings is not None and timed:
        attempts = int(results.provenance[TIMINGS_TABLE].get("run_attempts") or 1)
        over = over_attempts(attempts, " (a resumed run rewrites its tables)")
        # The assembling notebook writes REPORT.md before its own time is recorded: leaving it out of
        # the count gives REPORT.md and the README the same sentence.
        chapters = timings[timings.notebook != ASSEMBLY_NOTEBOOK]
        took = (f"; its {len(chapters)} chapter notebooks (the one that assembles this report not counted) took "
                f"{chapters.wall_time_s.sum() / 60:.1f} min{over}{mixed_cpus(results.provenance[TIMINGS_TABLE])}")
    return (
        f"All numbers come from one run: profile `{run.profile}`, seed(s) {run.seeds}, "
        f"commit `{short_commit(run.commit)}`, {run.device}, tables written {first[:16].replace('T', ' ')} to "
        f"{last[:16].replace('T', ' ')} UTC{took}."
    )


# --------------------------------------------------------------------------- tables


def table1(results: Results) -> pd.DataFrame:
    """Table I: per model, protocol and metric, both of the paper's runs (Table I, its notebook), ours (mean ±
    std over seeds), the differences, the 95% prediction interval for one more run of ours and its verdict,
    recomputed here from each table's mean, std and seeds (``metrics.paper_comparison``), so every run's
    tables are judged by today's yardsticks; then chapter 07's rows (beyond the paper: no paper value)."""
    sources = [*TABLE1_SOURCES, *([anchors.BEYOND_TABLE1] if anchors.BEYOND_TABLE1 in results.tables else [])]
    long = pd.concat([results[name] for name in sources], ignore_index=True)
    # Chapter 07's rows, and tables written before the column, give no test-set size: the official one's.
    images = (long.test_images if "test_images" in long else pd.Series(np.nan, index=long.index)).fillna(
        references.TEST_IMAGES)
    rows = pd.DataFrame([paper_comparison(r.model, r.protocol, r.metric, float(r.ours_mean), r.ours_std, int(r.seeds),
                                          int(n)) for r, n in zip(long.itertuples(), images)])
    return rows.assign(model=rows.model.map(lambda name: DISPLAY_NAMES.get(name, name)),
                       difference_pts=rows.difference * 100, difference_notebook_pts=rows.difference_notebook * 100)


def table1_display(
    table: pd.DataFrame, metrics: tuple[str, ...] = references.METRICS
) -> pd.DataFrame:
    """One row per model and protocol: 'ours (Table I, its notebook)' per metric, for reading."""
    shown = {}
    for metric in metrics:
        part = table[table.metric == metric].set_index(["model", "protocol"])
        shown[metric] = [
            f"{mean_std_text(r.ours_mean, r.ours_std)} "
            + (f"(Table I {r.paper:.3f}, notebook {r.paper_notebook:.4f})" if pd.notna(r.paper)
               else "(not in the paper)")
            for r in part.itertuples()
        ]
        index = part.index
    frame = pd.DataFrame(shown, index=index)
    accuracy = table[table.metric == "accuracy"]
    frame["accuracy: 95% prediction interval, one more run"] = [
        f"[{lo:.4f}, {hi:.4f}]" if pd.notna(lo) else ""
        for lo, hi in zip(accuracy.interval_low, accuracy.interval_high)]
    frame["accuracy: verdict"] = accuracy.verdict.to_numpy()
    frame["seeds"] = table[table.metric == metrics[0]].seeds.to_numpy()
    return frame


def grid_table(results: Results) -> pd.DataFrame:
    """The grid search, best first, beside the paper's notebook's run of the same grid, with the selected
    point and both of the paper's picks marked."""
    grid = ranked(results["tuning_grid"])
    chosen = results["tuning_selected"].iloc[0]

    def marks(config) -> pd.Series:
        return ((grid.learning_rate == config["learning_rate"]) & (grid.dropout == config["dropout"])
                & (grid.batch_size == config["batch_size"]))

    points = zip(grid.learning_rate.astype(float), grid.dropout.astype(float), grid.batch_size.astype(int))
    return pd.DataFrame(
        {
            "learning_rate": grid.learning_rate,
            "dropout": grid.dropout,
            "batch_size": grid.batch_size,
            "val_acc": grid.val_acc.round(4),
            "val_loss": grid.val_loss.round(4),
            "gap_to_best_pts": grid.gap_to_best_pts.round(2),
            "val_acc_paper_notebook": [references.NOTEBOOK_GRID.get(p) for p in points],
            "selected": marks(chosen).to_numpy(),
            "paper_choice": marks(references.TUNED_CONFIG).to_numpy(),
            "paper_notebook_choice": marks(references.NOTEBOOK_TUNED_CONFIG).to_numpy(),
        }
    ).reset_index(drop=True)


LADDER_TABLE = "oneshot_ladder"  # the paper's Siamese method and our changes; absent from older runs
OURS_ONESHOT_PROTOCOL = "ours: our encoder and schedule, supports from the 48,000-image split"
BASELINE_PROTOCOL = "ours: a baseline under the same draws"


def oneshot_table(results: Results) -> pd.DataFrame:
    """10-way one-shot: the paper's single draw; the paper's method and our changes, each with its
    difference from the paper's method and 95% interval (where the run has them); then our encoder's
    first draw and mean, and the baselines under the same draws. A ``protocol`` column says "paper"
    or what changed."""
    ours = results["oneshot_siamese_vs_paper"].set_index("metric")
    draws = results["oneshot_draws"]
    siamese_1shot = draws[(draws.embedding == "Siamese encoder") & (draws.shots == 1)].accuracy
    kshot = results["oneshot_kshot_summary"]
    rows = [{"method": "Siamese network (paper, one draw)", "protocol": references.PROTOCOL,
             "accuracy": references.ONE_SHOT["accuracy"], "macro_f1": references.ONE_SHOT["f1_macro"], "draws": 1}]
    percentile_of = siamese_1shot
    if LADDER_TABLE in results.tables:
        ladder_draws = results.tables.get("oneshot_ladder_draws")
        for row in results[LADDER_TABLE].itertuples():
            first = row.rung == references.SIAMESE_METHOD
            # The std of all the rung's draws, as for the embeddings below and in the findings; the ladder
            # table's draw_std is the mean spread within one encoder seed.
            pooled = None if ladder_draws is None else ladder_draws[ladder_draws.rung == row.rung].accuracy
            rows.append({
                "method": f"Siamese network, {row.rung} ({int(row.seeds)} encoder{'s' if row.seeds > 1 else ''}, "
                          "± std over draws)",
                "protocol": references.PROTOCOL if first else f"ours: {row.change}",
                "accuracy": row.accuracy, "macro_f1": row.f1_macro,
                "std": row.draw_std if pooled is None or len(pooled) < 2 else float(pooled.std(ddof=1)),
                "seed_std": row.seed_std, "draws": int(row.seeds * row.draws_per_seed),
                "difference": None if first else row.difference,
                "diff_low": None if first else row.ci95_low, "diff_high": None if first else row.ci95_high,
            })
        if ladder_draws is not None:
            percentile_of = ladder_draws[ladder_draws.rung == references.SIAMESE_METHOD].accuracy
    rows.append({"method": "Siamese network (ours, first draw)", "protocol": OURS_ONESHOT_PROTOCOL,
                 "accuracy": ours.loc["accuracy", "ours, first draw"],
                 "macro_f1": ours.loc["f1_macro", "ours, first draw"], "draws": 1})
    if "encoder seeds" in ours and int(ours.loc["accuracy", "encoder seeds"]) > 1:  # one encoder: no such spread
        rows.append(
            {
                "method": f"Siamese network (ours, mean ± std over {int(ours.loc['accuracy', 'encoder seeds'])} "
                "encoder seeds)",
                "protocol": OURS_ONESHOT_PROTOCOL,
                "accuracy": ours.loc["accuracy", "ours, mean of draws"],
                "macro_f1": ours.loc["f1_macro", "ours, mean of draws"],
                "std": ours.loc["accuracy", "ours, std over encoder seeds"],
                "draws": int(siamese_1shot.size),
            }
        )
    for row in kshot[kshot.shots == 1].itertuples():
        rows.append(
            {
                "method": f"{row.embedding} (ours, mean ± std over draws)",
                "protocol": OURS_ONESHOT_PROTOCOL if row.embedding.startswith("Siamese") else BASELINE_PROTOCOL,
                "accuracy": row.mean,
                "std": row.std,
                "ci95_low": row.ci95_low,
                "ci95_high": row.ci95_high,
                "draws": row.draws,
            }
        )
    table = pd.DataFrame(rows)
    for column in ("std", "seed_std", "ci95_low", "ci95_high", "difference", "diff_low", "diff_high", "macro_f1"):
        if column not in table:
            table[column] = None
    table.attrs["paper_percentile"] = float((percentile_of < references.ONE_SHOT["accuracy"]).mean() * 100)
    return table


def kshot_table(results: Results) -> pd.DataFrame:
    """Mean accuracy per embedding and number of shots."""
    kshot = results["oneshot_kshot_summary"]
    return kshot.pivot(index="embedding", columns="shots", values="mean").loc[kshot.embedding.unique()].round(4)


def certified_routing_table(results: Results) -> pd.DataFrame | None:
    """Per target: thresholds certified on a calibration part of the test set, checked on the rest
    (``None`` for a results folder written before certified routing existed)."""
    if CERTIFIED_ROUTING not in results.tables:
        return None
    r = results[CERTIFIED_ROUTING].astype(float)  # JSON null (no accepted item in any split) -> NaN
    return pd.DataFrame(
        {
            "target_accuracy": r.target_accuracy,
            "splits": r.splits.astype(int),
            "share_certified": r.share_certified.round(3),
            "share_meeting_target": r.share_meeting_target.round(3),
            **({"share_meeting_when_certified": r.share_meeting_when_certified.round(3)}
               if "share_meeting_when_certified" in r else {}),
            "coverage_mean": r.coverage_mean.round(4),
            "accuracy_mean": r.accuracy_mean.round(4),
            "routed_to_human_mean": r.routed_to_human_mean.round(4),
        }
    )


def certification_level(results: Results) -> str:
    """The sentence that goes beside the certified-routing table: test set, delta and number of splits."""
    where = results.provenance[CERTIFIED_ROUTING]
    return findings.certification_level(float(where.get("delta", 0.05)), int(results[CERTIFIED_ROUTING].splits.iloc[0]))


def unseen_table(results: Results) -> pd.DataFrame:
    """One-shot on unseen classes: per number of seen classes and embedding, mean and interval over class splits."""
    table = results["oneshot_unseen_classes"]
    columns = [
        c for c in ("seen_classes", "way", "embedding", "splits", "accuracy", "ci95_low", "ci95_high") if c in table
    ]
    return table[columns].round(4) if "seen_classes" in table else table.round(4)


def unseen_verdicts(results: Results) -> list[str]:
    """The transfer verdict per encoder and number of seen classes (``findings.transfer_verdicts``)."""
    if UNSEEN_DIFFERENCES not in results.tables:
        return []
    return findings.transfer_verdicts(results["oneshot_unseen_classes"], results[UNSEEN_DIFFERENCES])


def routing_table(results: Results) -> pd.DataFrame:
    """Confidence thresholds chosen on validation, and what they give on the test set."""
    r = results["routing_thresholds"]
    return pd.DataFrame(
        {
            "target_accuracy": r.target_accuracy,
            "threshold": r.threshold.round(4),
            "val_coverage": r.val_coverage.round(4),
            "test_coverage": r.test_coverage.round(4),
            "test_accuracy": r.test_accuracy.round(4),
            "test_routed_to_human": r.test_routed_to_human.round(4),
            "test_meets_target": r.test_meets_target,
        }
    )


def timings_table(results: Results) -> pd.DataFrame:
    """Wall time per notebook and the machine it ran on (empty when the notebooks ran one by one)."""
    if TIMINGS_TABLE not in results.tables:
        return pd.DataFrame(columns=["notebook", "wall_time_s", "minutes", "device"])
    timings = results[TIMINGS_TABLE]
    where = results.provenance[TIMINGS_TABLE]
    return timings.assign(minutes=(timings.wall_time_s / 60).round(2), device=where.get("device_name"))


def differences(results: Results) -> list[str]:
    """Sentences on how far each headline number is from the paper's, chapter by chapter, each computed by
    ``findings`` and stamped with the run's profile."""
    accuracy = paper_accuracy_rows(results)
    lines = [*table1_sentences(accuracy), *grid_sentences(results, accuracy), *oneshot_sentences(results),
             *routing_sentences(results), *beyond_sentences(results)]
    return [findings.no_nan(findings.for_profile(_profile(results), line)) for line in lines]


def headline_findings(results: Results) -> list[str]:
    """What the README states in sentences beside Table I and the paper's questions (which already say the
    one-shot verdict): the grid's choice against the paper's two picks, chapter 07's model against the
    TunedImprovedCNN and the verdicts on the train/test shift; every other finding is in REPORT.md."""
    lines = [grid_sentences(results, paper_accuracy_rows(results))[0], *beyond_sentences(results, headline=True)]
    return [findings.no_nan(findings.for_profile(_profile(results), line)) for line in lines]


def _profile(results: Results) -> str:
    profiles = sorted({str(p) for p in run_identity(results).profile})
    return profiles[0] if profiles == [findings.RESULTS_PROFILE] else "/".join(profiles) or "unknown"


def paper_accuracy_rows(results: Results) -> pd.DataFrame:
    """Table I's accuracy rows that have a paper value."""
    table = table1(results)
    return table[(table.metric == "accuracy") & table.paper.notna()]


def table1_sentences(accuracy: pd.DataFrame) -> list[str]:
    """Chapters 02-04: every Table I accuracy against both of the paper's runs, judged by the 95% prediction
    interval for one more run of ours."""
    return [findings.versus_paper_runs(f"{row.model}, test accuracy ({row.protocol})", row.ours_mean, row.ours_std,
                                       int(row.seeds), _paper_runs(row), references.ROUNDINGS, int(row.test_images))
            for row in accuracy.itertuples()]


def grid_sentences(results: Results, accuracy: pd.DataFrame) -> list[str]:
    """Chapter 04: the grid's choice against both of the paper's picks, judged by how much another run of the
    grid moves a gap (its run against the paper's notebook's), the pick across the runs on record, and
    whether the tuned model is the Improved CNN."""
    chosen = results["tuning_selected"].iloc[0]
    lines = findings.grid_findings(results["tuning_grid"], chosen)
    headline = accuracy[accuracy.protocol == references.PROTOCOL]  # one row per model: the paper's protocol
    tuned, improved = (headline[headline.model == DISPLAY_NAMES[m]].iloc[0] for m in ("tuned", "improved"))
    if tuned.ours_mean == improved.ours_mean and _is_improved_default(chosen):
        lines.append(
            "The chosen point is the Improved CNN's own configuration, so the TunedImprovedCNN (the same "
            "settings and epochs) is the very same trained model, taken from the checkpoint cache."
        )
    return lines


def oneshot_sentences(results: Results, headline: bool = False) -> list[str]:
    """Chapter 06: the ladder from the paper's Siamese method, and our encoder's draws against the paper's
    (``headline``: the paper's method, and our encoder's draws)."""
    lines = []
    if "oneshot_ladder_draws" in results.tables and LADDER_TABLE in results.tables:
        ladder = oneshot_ladder_lines(results["oneshot_ladder_draws"], results[LADDER_TABLE])
        lines += ladder[:1] if headline else ladder
    draws = results["oneshot_draws"]
    ours = draws[(draws.embedding == "Siamese encoder") & (draws.shots == 1)]
    over_draws = findings.draws_versus_reference(
        "One-shot, our Siamese encoder (the paper's one-shot rule, not its method)", ours.accuracy,
        references.ONE_SHOT["accuracy"])
    # Our encoder's single draws against the paper's single draw: never a mean over draws per seed, whose
    # spread is not that of one draw.
    return lines + [over_draws]


def routing_sentences(results: Results) -> list[str]:
    """Chapter 05: each certified routing target, or each validation threshold's target on test."""
    if CERTIFIED_ROUTING not in results.tables:
        return [findings.target_verdict(
            f"Routing target {r.target_accuracy:.1%} (threshold from validation), accuracy on test",
            r.test_accuracy, r.target_accuracy) for r in results["routing_thresholds"].itertuples()]
    delta = float(results.provenance[CERTIFIED_ROUTING].get("delta", 0.05))
    rows = results[CERTIFIED_ROUTING]
    return [findings.routing_verdict(r.target_accuracy, r.share_certified_and_missed, delta, r.coverage_mean,
                                     r.share_certified) for r in rows.itertuples()]


def beyond_sentences(results: Results, headline: bool = False) -> list[str]:
    """Chapter 07: the targets and anchors, then the train/test shift and the validation-to-test gaps
    (``headline``: the targets, the TunedImprovedCNN, and the last sentence of each of the other two: its
    verdict)."""
    lines = []
    if anchors.BEYOND_TEST in results.tables and "tuned_seeds" in results.tables:
        schedule = results.provenance[anchors.BEYOND_TEST].get("schedule", "unknown")
        lines += [f"Beyond the paper (chapter 07, {schedule} schedule): {line}" for line in
                  anchors.test_findings(results[anchors.BEYOND_TEST], results["tuned_seeds"], headline=headline)]
    if shift.AUC_TABLE in results.tables:
        aucs = results[shift.AUC_TABLE]
        said = shift.shift_findings(aucs)
        lines += [f"Train/test shift (chapter 07): {line}" for line in (said[-1:] if headline else said)]
        if shift.GAP_TABLE in results.tables:
            said = shift.gap_findings(results[shift.GAP_TABLE], shift.shifted(aucs))
            lines += [f"Validation against test (chapter 07): {line}" for line in (said[-1:] if headline else said)]
    return lines


def oneshot_ladder_lines(draws: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The one-shot ladder's sentences (``findings``, as chapter 06 states them)."""
    method = draws[draws.rung == references.SIAMESE_METHOD]
    lines = [findings.draws_versus_reference("One-shot, the paper's Siamese method", method.accuracy,
                                             references.ONE_SHOT["accuracy"])]
    for row in table[table.rung != references.SIAMESE_METHOD].itertuples():
        lines.append(findings.interval_verdict(f"One-shot, {row.rung}", row.difference, row.ci95_low, row.ci95_high,
                                               "the paper's method", row.interval_over))
    return lines


def _is_improved_default(chosen: pd.Series) -> bool:
    return (float(chosen.learning_rate), float(chosen.dropout), int(chosen.batch_size)) == (
        PAPER.learning_rate,
        PAPER.dropout,
        PAPER.batch_size,
    ) and PAPER.tuned_epochs == PAPER.epochs[TUNED]


# --------------------------------------------------------------------------- the paper's questions


@dataclass(frozen=True)
class Answer:
    """One of the paper's questions or claims, the sentence its table supports, and where the evidence is."""

    question: str
    answer: str
    notebook: str
    section: str


def paper_questions(results: Results) -> list[Answer]:
    """The paper's three questions and its claims, each answered by one sentence computed from the tables, led
    by its verdict, with the chapter section of its evidence; the questions whose tables the run lacks are
    left out."""
    accuracy = paper_accuracy_rows(results)
    logreg = accuracy[accuracy.protocol == references.PROTOCOL].set_index("model").loc[DISPLAY_NAMES["logreg"]]
    interval = prediction_interval_summary(logreg.ours_mean, logreg.ours_std, int(logreg.seeds),
                                           int(logreg.test_images))
    answers = [Answer(
        "How well does multinomial logistic regression do on flattened images?",
        _lead(findings.reproduction_label(interval, _paper_runs(logreg), references.ROUNDINGS))
        + findings.versus_paper_runs("Logistic regression on standardised pixels", logreg.ours_mean, logreg.ours_std,
                                     int(logreg.seeds), _paper_runs(logreg), references.ROUNDINGS,
                                     int(logreg.test_images)),
        "02_logistic_regression.ipynb", "Table I, row 1: ours beside the paper")]
    if "cnn_seeds" in results.tables and "logreg_seeds" in results.tables:
        answers.append(Answer("How much improvement is obtained with CNNs?", cnn_gain_sentence(results),
                              "03_cnns.ipynb", "Table I, rows 2-4: ours beside the paper"))
    if "cnn_seeds" in results.tables:
        answers.append(Answer("Claim: the ResNet-like CNN is slightly better than the Simple CNN and slightly worse "
                              "than the Improved CNN.", ordering_sentence(results), "03_cnns.ipynb",
                              "Table I, rows 2-4: ours beside the paper"))
    if "cnn_seeds" in results.tables and "tuned_seeds" in results.tables:
        answers.append(Answer("How important is validation-based hyperparameter tuning compared to default settings?",
                              tuning_sentence(results), "04_tuning.ipynb", "The TunedImprovedCNN"))
    if "errors_confused_pairs" in results.tables and "errors_misclassified" in results.tables:
        answers.append(Answer("Claim: the remaining errors are mostly visually ambiguous characters.",
                              errors_sentence(results), "05_error_analysis.ipynb", "The most confused class pairs"))
    if "saliency_sanity_check" in results.tables:
        answers.append(Answer("Claim: the saliency maps highlight the strokes and largely ignore the background.",
                              saliency_sentence(results), "05_error_analysis.ipynb",
                              "Figure 7 · Saliency maps, and whether they explain the model"))
    if "oneshot_ladder_draws" in results.tables:
        method = results["oneshot_ladder_draws"]
        method = method[method.rung == references.SIAMESE_METHOD].accuracy
        answers.append(Answer(
            "Claim: a Siamese network reaches 0.7387 in 10-way one-shot recognition.",
            _draw_verdict(method) + findings.draws_versus_reference("The paper's Siamese method", method,
                                                                    references.ONE_SHOT["accuracy"]),
            "06_siamese_one_shot.ipynb", "The paper's method, then our changes one at a time"))
    profile = _profile(results)  # a smoke run's answers say that they mean nothing
    return [replace(a, answer=findings.no_nan(findings.for_profile(profile, a.answer))) for a in answers]


def _lead(label: str) -> str:
    """'Reproduced. ' from a verdict's label."""
    return label[0].upper() + label[1:] + ". "


def _paper_runs(row) -> dict[str, float]:
    return {"Table I": float(row.paper), "the paper's notebook": float(row.paper_notebook)}


def _draw_verdict(draws: pd.Series) -> str:
    """'Reproduced within draw-to-draw noise. ' when the paper's single draw lies in the central 95% of ours."""
    low, high = np.percentile(draws, [2.5, 97.5])
    inside = low <= references.ONE_SHOT["accuracy"] <= high
    return "Reproduced within draw-to-draw noise. " if inside else "Not reproduced. "


def _seed_accuracy(results: Results, table: str, model: str | None = None) -> pd.Series:
    """Test accuracy by seed from a per-seed table, its paper-protocol rows (of ``model`` where given)."""
    rows = results[table]
    rows = rows[rows.protocol == references.PROTOCOL] if "protocol" in rows else rows
    return (rows if model is None else rows[rows.model == model]).set_index("seed").accuracy


def _paired(a: pd.Series, b: pd.Series) -> tuple[list[float], list[float]]:
    """The values of the seeds both have, in the same order."""
    seeds = [s for s in a.index if s in set(b.index)]
    return [float(a[s]) for s in seeds], [float(b[s]) for s in seeds]


def _paper_difference(model_a: str, model_b: str) -> dict[str, float]:
    """model_a - model_b in each of the paper's runs, in percentage points."""
    return {label: (references.reported_runs(model_a)[label] - references.reported_runs(model_b)[label]) * 100
            for label in references.PAPER_RUNS}


def _difference_verdict(a: pd.Series, b: pd.Series, paper: dict[str, float], floor_note: bool = True
                        ) -> tuple[float, str]:
    """Our mean difference a - b paired by seed, in percentage points, and the paper's differences (``paper``, in
    points) against the 95% prediction interval for one more pair of our runs, its std at least the binomial
    standard error of a difference of two accuracies."""
    ours, theirs = _paired(a, b)
    gains = [(x - y) * 100 for x, y in zip(ours, theirs)]
    floor = math.hypot(binomial_se(float(np.mean(ours)), references.TEST_IMAGES),
                       binomial_se(float(np.mean(theirs)), references.TEST_IMAGES)) * 100
    verdict = findings.interval_reproduction(prediction_interval(gains, floor=floor), paper,
                                             {"Table I": 2 * references.ROUNDING * 100}, digits=2, unit=" pt",
                                             floor_note=floor_note)
    return float(np.mean(gains)), verdict.replace("one more run of ours", "one more pair of our runs")


def cnn_gain_sentence(results: Results) -> str:
    """Each CNN's gain over logistic regression, paired by seed, against the paper's gains in both its runs."""
    logreg = _seed_accuracy(results, "logreg_seeds")
    parts = []
    for name in CNNS:
        paper = _paper_difference(name, "logreg")
        gain, verdict = _difference_verdict(_seed_accuracy(results, "cnn_seeds", name), logreg, paper,
                                            floor_note=False)
        parts.append(f"the {DISPLAY_NAMES[name]} {gain:+.2f} pt against the paper's "
                     + " and ".join(f"{value:+.2f} pt ({label})" for label, value in paper.items()) + f", {verdict}")
    seeds = f"{len(logreg)} seed{'s' if len(logreg) > 1 else ''}"
    return (f"Over logistic regression, paired by seed ({seeds}): " + "; ".join(parts)
            + ". Each interval's std is at least the binomial standard error of a difference of two accuracies.")


def tuning_sentence(results: Results) -> str:
    """The TunedImprovedCNN (our grid's pick, and the paper's picks where the run has them) against the Improved
    CNN, paired by seed; the paper's own tuned-minus-untuned differences against where one more pair of our runs
    would fall; and where the Improved CNN's own configuration ranks in our grid."""
    improved = _seed_accuracy(results, "cnn_seeds", TUNED)
    tuned = {"our grid's pick": _seed_accuracy(results, "tuned_seeds")}
    if PICKS_TABLE in results.tables:
        tuned |= {references.PICK_NAMES[protocol]: group.set_index("seed").accuracy
                  for protocol, group in results[PICKS_TABLE].groupby("protocol", sort=False)}
    interval = paired_interval(*_paired(tuned["our grid's pick"], improved), references.TEST_IMAGES)
    lead = ("One seed: not measured. " if interval is None else "Tuning helps. " if interval.low > 0 else
            "Tuning hurts. " if interval.high < 0 else "No measurable effect. ")
    paper = _paper_difference("tuned", "improved")
    _, verdict = _difference_verdict(tuned["our grid's pick"], improved, paper)
    grid = ranked(results["tuning_grid"])
    untuned = grid[(grid.learning_rate == PAPER.learning_rate) & (grid.dropout == PAPER.dropout)
                   & (grid.batch_size == PAPER.batch_size)]
    rank = (f" The untuned Improved CNN's own configuration ({references.config_text(PAPER.__dict__)}) is a point of "
            f"the grid, ranked {int(untuned.index[0]) + 1} of {len(grid)}." if len(untuned) else "")
    return (lead + " ".join(findings.tuning_effect(tuned, improved))
            + " The paper's own tuned-minus-untuned differences, each run at its own pick: "
            + " and ".join(f"{value:+.2f} pt ({label})" for label, value in paper.items()) + f"; {verdict}." + rank)


def errors_sentence(results: Results) -> str:
    """How concentrated the TunedImprovedCNN's test errors are in a few class pairs and in one class, and how
    confident they are (what a table can say of 'visually ambiguous, not systematic failures on classes')."""
    pairs, wrong = results["errors_confused_pairs"], results["errors_misclassified"]
    total, top = len(wrong), pairs.head(10)
    share = top.total.sum() / total if total else float("nan")
    confident = float((wrong.confidence >= 0.9).mean()) if total else float("nan")
    members = pd.concat([top[["class_a", "total"]].rename(columns={"class_a": "cls"}),
                         top[["class_b", "total"]].rename(columns={"class_b": "cls"})])
    busiest = members.groupby("cls").total.agg(["size", "sum"]).sort_values(["size", "sum"], ascending=False)
    cls, (pairs_in, errors_in) = busiest.index[0], busiest.iloc[0]
    return (f"Partly testable: the {len(top)} most confused of the 45 class pairs hold {share:.0%} of the "
            f"TunedImprovedCNN's {total} test errors (first seed), one class, {cls}, is in {pairs_in} of those pairs "
            f"({errors_in} errors), and {confident:.0%} of the errors are made with a confidence of 0.9 or more; "
            "that the characters are visually ambiguous is read from the images (Figure 6 and the confused "
            "pairs' examples), not measured.")


def ordering_sentence(results: Results) -> str:
    """The paper's ordering, Simple < ResNet-like < Improved, each step paired by seed."""
    by_model = {name: _seed_accuracy(results, "cnn_seeds", name) for name in CNNS}
    steps = list(zip(CNNS, CNNS[1:]))
    said = [findings.paired_comparison(DISPLAY_NAMES[b], by_model[b], DISPLAY_NAMES[a], by_model[a]) for a, b in steps]
    intervals = [paired_interval(*_paired(by_model[b], by_model[a]), references.TEST_IMAGES) for a, b in steps]
    missing = [f"{DISPLAY_NAMES[b]} over {DISPLAY_NAMES[a]}" for (a, b), interval in zip(steps, intervals)
               if interval is None or interval.low <= 0]
    lead = ("Reproduced." if not missing else
            f"Not shown for {' and '.join(missing)} (the order holds in the means, within the noise).")
    return " ".join([lead, *said])


def saliency_sentence(results: Results) -> str:
    """The paper's plain-gradient maps: the randomisation check and the share of the attribution on strokes,
    led by whether that reproduces the paper's reading."""
    row = results["saliency_sanity_check"].set_index("method").loc["gradient"]
    max_rho = float(results.provenance["saliency_sanity_check"].get("max_rho", 0.5))
    said = findings.saliency_verdict("The paper's method (absolute gradient)", float(row.trained_vs_random_rho),
                                     max_rho, float(row.stroke_mass), float(row.stroke_pixels))
    return ("Not reproduced. " if "not reproduced" in said else "Reproduced. " if "reproduced" in said else "") + said
