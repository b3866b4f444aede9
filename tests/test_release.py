"""A referee's checks on the committed products: each reads what a run wrote (``results/``, ``reports/``) and
fails when that product is wrong. ``$KMNIST_CHECK_PRODUCTS`` points them at another run's folder (a smoke run,
to check the checks)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from kmnist_utils import references, settings
from kmnist_utils.chapters import summary
from kmnist_utils.core.paths import PROJECT_ROOT

ROOT = Path(os.environ.get("KMNIST_CHECK_PRODUCTS") or PROJECT_ROOT)
RESULTS, REPORTS = ROOT / "results", ROOT / "reports"


def table(name: str) -> pd.DataFrame:
    return pd.read_csv(RESULTS / f"{name}.csv")


def provenance(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text(encoding="utf-8"))["provenance"]


def profile() -> settings.Profile:
    return settings.PROFILES[provenance("cnn_seeds")["profile"]]


def schedule_epochs(model: str) -> int:
    return profile().tuned_epochs if model == "tuned" else profile().epochs[model]


def test_every_paper_row_kept_its_schedules_last_epoch():
    for name in ("cnn_seeds", "tuned_seeds"):
        rows = table(name)
        paper = rows[rows.protocol == references.PROTOCOL]
        assert len(paper), f"{name} has no row of the paper's protocol"
        assert (paper.weights == "last").all(), f"{name}: a paper row kept other weights than the last epoch's"
        expected = paper.model.map(schedule_epochs)
        assert (paper.kept_epoch == expected).all() and (paper.epochs_run == expected).all(), (
            f"{name}: a paper row did not keep its schedule's last epoch")


def test_the_protocol_column_says_paper_only_where_the_protocol_is_the_papers():
    rows = table("report_table1")
    beyond = rows.paper.isna()
    assert not (rows[beyond].protocol == references.PROTOCOL).any(), "a row beyond the paper is labelled 'paper'"
    for name in ("cnn_seeds_best_epoch", "tuned_seeds_best_epoch"):
        variant = table(name)
        assert (variant.protocol == references.BEST_EPOCH_PROTOCOL).all() and (variant.weights == "best").all()
    best = rows[rows.protocol == references.BEST_EPOCH_PROTOCOL]
    assert len(best) and not (best.protocol == references.PROTOCOL).any()


def test_the_papers_siamese_method_row_has_every_encoder_and_its_spread():
    rows = table("report_oneshot")
    method = rows[rows.method.str.contains(references.SIAMESE_METHOD, regex=False)]
    assert len(method) == 1, "one row for the paper's Siamese method"
    row, seeds = method.iloc[0], len(provenance("cnn_seeds")["seeds"])
    assert row.protocol == references.PROTOCOL
    assert f"{seeds} encoder" in row.method, f"the paper's method row names {seeds} encoders: {row.method}"
    assert row.draws == seeds * profile().siamese.draws and pd.notna(row["std"]), "its spread over draws"


def test_no_count_is_filled_in_rather_than_counted():
    rows = table("report_table1")
    accuracy = rows[rows.metric == "accuracy"]
    counted = {**table("cnn_seeds").groupby("model").size().to_dict(),
               **table("tuned_seeds").groupby("model").size().to_dict(),
               "logreg": len(table("logreg_seeds"))}
    for model, seeds in counted.items():
        shown = accuracy[(accuracy.model == settings.DISPLAY_NAMES[model]) & (accuracy.protocol == references.PROTOCOL)]
        assert len(shown) == 1 and int(shown.seeds.iloc[0]) == seeds, f"{model}: Table I says {shown.seeds.tolist()}"
    beyond = accuracy[accuracy.paper.isna()]
    members = (table("beyond_test").model == "single").sum()
    assert len(beyond) and (beyond.seeds == members).all(), f"chapter 07's rows say {beyond.seeds.tolist()} seeds"
    ladder = table("oneshot_ladder_draws")
    method = table("report_oneshot")
    paper_method = method[method.method.str.contains(references.SIAMESE_METHOD, regex=False)].iloc[0]
    assert paper_method.draws == (ladder.rung == references.SIAMESE_METHOD).sum()


def test_every_comparison_with_the_paper_names_its_spread():
    spread = ("seed spread", "interval", "one seed", "rounding", "central 95%", "percentile", "every seed gave",
              "runs on record", "noisy measurement")
    # The paper's numbers, and chapter 07's published anchors (the dataset paper's models and the best published).
    lines = [line for line in summary.differences(summary.load_results(RESULTS))
             if "paper's" in line or "published" in line]
    bare = [line for line in lines if re.search(r"\d", line) and not any(word in line for word in spread)]
    assert lines and not bare, f"comparisons with the paper that name no spread: {bare}"


def test_chapter_07_describes_the_recipe_it_chose():
    chosen = settings.get_schedule(provenance("beyond_test")["schedule"])
    text = nbformat.reads((REPORTS / "07_beyond_paper.ipynb").read_text(encoding="utf-8"), as_version=4)
    shown = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/markdown", ""))
                      for c in text.cells if c.cell_type == "code" for o in c.outputs)
    assert chosen.description in shown, "chapter 07 does not state the recipe its provenance names"


def executed_text(notebook: str) -> str:
    executed = nbformat.reads((REPORTS / notebook).read_text(encoding="utf-8"), as_version=4)
    return "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                     for c in executed.cells if c.cell_type == "code" for o in c.outputs)


def shows_run(text: str, label: str, epochs: int) -> bool:
    """Whether an executed notebook's outputs hold a line for the run ``label`` starts: its progress line's
    end ("trained in N s"), or the line of a cache hit with its history from the checkpoint."""
    ended = (rf"(trained in \d+ s|loaded from the checkpoint cache \(.+\), trained {epochs} epochs? in \d+ s, "
             "val_acc by epoch)")
    return re.search(rf"^{re.escape(label)}.*: {ended}", text, re.MULTILINE) is not None


def runs_of_each_chapter() -> dict[str, list[tuple[str, int]]]:
    """Notebook -> (label start, epochs) of every run its tables list: the CNNs, the grid and the tuned
    runs, and the one-shot ladder."""
    grid = [(f"improved seed {r.seed}: {r.epochs} epochs, batch {r.batch_size}, lr {r.learning_rate:g} "
             f"dropout={r.dropout:g}, ", r.epochs) for r in table("tuning_grid").itertuples()]
    tuned = [(f"improved seed {r.seed}: {r.epochs_run} epochs, ", r.epochs_run)
             for r in table("tuned_seeds").itertuples()]
    ladder = table("oneshot_ladder_history").groupby(["rung", "seed"], sort=False).epoch.max()
    return {
        "03_cnns.ipynb": [(f"{r.model} seed {r.seed}: {r.epochs_run} epochs, ", r.epochs_run)
                          for r in table("cnn_seeds").itertuples()],
        "04_tuning.ipynb": grid + tuned,
        "06_siamese_one_shot.ipynb": [(f"{rung} (siamese) seed {seed}: {epochs} epochs, ", epochs)
                                      for (rung, seed), epochs in ladder.items()],
    }


def test_an_executed_notebook_shows_each_models_training_or_its_history_from_the_cache():
    for notebook, runs in runs_of_each_chapter().items():
        text = executed_text(notebook)
        silent = [label for label, epochs in runs if not shows_run(text, label, epochs)]
        assert runs and not silent, f"{notebook} says nothing of how these runs were trained: {silent}"


def test_the_total_time_counts_every_attempt():
    ledger = json.loads((RESULTS / "pipeline_attempts.json").read_text(encoding="utf-8"))
    last = ledger["attempts"][-1]
    counted = [a for a in ledger["attempts"] if a.get("cache") == last.get("cache")]
    timings = table("pipeline_timings").set_index("notebook")
    for notebook, seconds in timings.wall_time_s.items():
        spent = sum(a["notebooks"][notebook]["seconds"] for a in counted if notebook in a["notebooks"])
        assert seconds == pytest.approx(spent, abs=0.1), f"{notebook}: {seconds} s against {spent} s in the ledger"
    finished = all(any(a["notebooks"].get(n, {}).get("finished") for a in counted) for n in ledger["run"]["notebooks"])
    assert provenance("pipeline_timings")["complete"] is finished, "the timings' complete flag is not the ledger's"
    cpus = list(dict.fromkeys(a.get("cpu") or "an unrecorded CPU" for a in counted))
    assert provenance("pipeline_timings")["attempt_cpus"] == cpus, "the timings do not name every CPU they count"


def test_every_table_and_figure_comes_from_the_run_of_the_products():
    """A table or figure an earlier run wrote and this one does not (a chapter that stopped writing it) would
    sit beside the new products unnoticed: every one must carry the commit of the run that wrote the others."""
    from PIL import Image

    commits = {}
    for path in sorted(RESULTS.glob("*.json")):
        found = json.loads(path.read_text(encoding="utf-8")).get("provenance", {}).get("git_commit")
        if found:
            commits[path.name] = found[:10]
    run = provenance("report_table1")["git_commit"][:10]
    for path in sorted((ROOT / "figures").glob("*.png")):
        commits[path.name] = run if run in str(Image.open(path).info) else "another run"
    stale = {name: commit for name, commit in commits.items() if commit != run}
    assert len(commits) > 20 and not stale, f"products of another run than {run}: {stale}; delete them"


def test_the_readme_and_report_md_agree_on_every_number_they_share():
    if ROOT != PROJECT_ROOT:
        pytest.skip("the README describes the committed products only")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    report = (RESULTS / "REPORT.md").read_text(encoding="utf-8")
    table_one = readme[readme.index("<!-- results:start"):readme.index("<!-- results:end")]
    numbers = set(re.findall(r"\b0\.\d{4}\b", table_one))
    assert numbers and not {n for n in numbers if n not in report}, "README numbers missing from REPORT.md"
