"""The scripts under benchmarks/: each runs on the smoke profile and reports what it says it measures."""

import pandas as pd
import pytest

from kmnist_utils.chapters import fewshot, oneshot


def test_the_protocol_script_needs_no_font_package(monkeypatch, tmp_path, real_kmnist):
    # The GPU image has no matplotlib-fontja: a timing script must not import it.
    import json
    import runpy
    import sys

    from kmnist_utils.core.paths import PROJECT_ROOT

    monkeypatch.setitem(sys.modules, "matplotlib_fontja", None)  # any import of it now fails
    out = tmp_path / "protocol.json"
    monkeypatch.setattr(sys, "argv", ["paper_protocol.py", "--profile", "smoke", "--device", "cpu", "--out", str(out),
                                      "--skip", "simple", "resnet", "improved", "grid", "tuned", "picks", "fp32"])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "paper_protocol.py"), run_name="__main__")
    assert [s["stage"] for s in json.loads(out.read_text())["stages"]] == ["logreg seed 0"]


def test_the_one_encoder_benchmark_runs(tmp_path, monkeypatch, real_kmnist):
    import json
    import runpy
    import sys

    from kmnist_utils.core.paths import PROJECT_ROOT

    monkeypatch.setattr(sys, "argv", ["siamese_one_encoder.py", "--profile", "smoke", "--device", "cpu",
                                      "--out", str(tmp_path)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "siamese_one_encoder.py"), run_name="__main__")
    payload = json.loads((tmp_path / "siamese_seed0.json").read_text())
    assert payload["settings"]["head"] == "euclidean" and set(payload["test_1shot"]) == {"euclidean", "cosine",
                                                                                        "learned head"}
    # What it reports is the test 1-shot accuracy of the chapter's encoder for that seed: recomputed here
    # from the same cached encoder, on the test set, with the chapter's draws.
    from kmnist_utils.engine import context, runner

    ctx = context.setup("smoke", seeds=[0], device="cpu", output_root=tmp_path / "run")
    parts = runner.load_parts(ctx)
    encoder = oneshot.siamese_encoders(ctx, parts, unseen=False)[0]
    z_train, z_test = oneshot.embed_parts(encoder.model.encoder, parts, ctx.device)
    settings = ctx.profile.siamese
    expected = fewshot.few_shot_draws(z_train, parts.y_train, z_test, parts.y_test, shots=1, draws=settings.draws)
    reported = payload["test_1shot"]["euclidean"]
    assert reported["mean"] == pytest.approx(expected.accuracy.mean()) and reported["draws"] == settings.draws
    assert payload["epochs_run"] == len(payload["history"]) == settings.epochs
    assert payload["test_1shot"]["cosine"]["mean"] != reported["mean"]  # each metric scored on its own


def test_the_objective_benchmark_runs(tmp_path, monkeypatch):
    import runpy
    import sys

    from kmnist_utils.core.paths import PROJECT_ROOT

    monkeypatch.setattr(sys, "argv", ["siamese_in_batch.py", "--profile", "smoke", "--device", "cpu",
                                      "--epochs", "in_batch_pairs=2", "pairs=1", "--out", str(tmp_path)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "siamese_in_batch.py"), run_name="__main__")
    history = pd.read_csv(tmp_path / "results" / "siamese_objective_histories.csv")
    assert history.groupby("objective").epoch.max().to_dict() == {
        "in_batch_pairs (batch 128)": 2, "in_batch_pairs (batch 256)": 2, "pairs (batch 128)": 1}
    schedule = pd.read_csv(tmp_path / "results" / "siamese_objective_schedule.csv")
    assert len(schedule) == 3 and (tmp_path / "figures" / "siamese_objective_curves.png").is_file()


def test_the_budget_check_reads_a_run_and_says_what_it_met(tmp_path, monkeypatch, smoke_ctx, capsys):
    import runpy
    import sys

    from kmnist_utils.chapters import anchors
    from kmnist_utils.core.paths import PROJECT_ROOT
    from kmnist_utils.products.results import TIMINGS_TABLE, write_table

    write_table(pd.DataFrame({"notebook": ["03_cnns.ipynb", "06_siamese_one_shot.ipynb", "07_beyond_paper.ipynb"],
                              "wall_time_s": [1000.0, 150.0, 1200.0], "attempts": [1, 2, 1]}), TIMINGS_TABLE, smoke_ctx)
    draws = pd.DataFrame([{"embedding": oneshot.PROTOCOL_ROW, "shots": 1, "seed": s, "draw": d,
                           "accuracy": 0.90 + 0.01 * s} for s in range(3) for d in range(4)])
    write_table(draws, "oneshot_draws", smoke_ctx)
    write_table(pd.DataFrame({"model": ["single"] * 3 + ["ensemble"], "accuracy": [0.985, 0.987, 0.986, 0.984]}),
                anchors.BEYOND_TEST, smoke_ctx)
    out = tmp_path / "check"
    monkeypatch.setattr(sys, "argv", ["budget_check.py", "--results", str(smoke_ctx.dirs.results), "--out", str(out)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "budget_check.py"), run_name="__main__")
    table = pd.read_csv(out / "budget_check.csv").set_index("check")
    assert table.loc["06 time / 03 time", "value"] == pytest.approx(0.15) and table.loc["06 time / 03 time", "met"]
    assert table.loc["07 time / 03 time", "value"] == pytest.approx(1.2) and not table.loc["07 time / 03 time", "met"]
    assert table.loc["06 mean test 1-shot", "value"] == pytest.approx(0.91) and table.loc["06 mean test 1-shot", "met"]
    assert table.loc["07 mean single-model test accuracy", "met"]  # 0.986 against 0.982
    assert not table.loc["07 ensemble test accuracy", "met"]  # 0.984 against 0.985
    printed = capsys.readouterr().out
    assert "07 time / 03 time: 1.2000 (1200 s against 1000 s), misses the limit 1 by 0.2000." in printed


def test_the_budget_check_of_one_chapter_takes_chapter_03_from_a_reference_run(tmp_path, monkeypatch, smoke_ctx):
    import json
    import runpy
    import sys

    from kmnist_utils.chapters import anchors
    from kmnist_utils.core.paths import PROJECT_ROOT
    from kmnist_utils.products.results import TIMINGS_TABLE, write_table

    write_table(pd.DataFrame({"notebook": ["07_beyond_paper.ipynb"], "wall_time_s": [900.0], "attempts": [1]}),
                TIMINGS_TABLE, smoke_ctx)
    write_table(pd.DataFrame({"model": ["single"] * 3 + ["ensemble"], "accuracy": [0.97, 0.972, 0.974, 0.976]}),
                anchors.BEYOND_TEST, smoke_ctx)
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / f"{TIMINGS_TABLE}.json").write_text(json.dumps({
        "provenance": {}, "columns": ["notebook", "wall_time_s", "attempts"],
        "rows": [{"notebook": "03_cnns.ipynb", "wall_time_s": 1000.0, "attempts": 1}]}))
    out = tmp_path / "check"
    argv = ["budget_check.py", "--results", str(smoke_ctx.dirs.results), "--out", str(out)]
    script = str(PROJECT_ROOT / "benchmarks" / "budget_check.py")
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit, match="reference timings lack 03_cnns.ipynb"):
        runpy.run_path(script, run_name="__main__")
    monkeypatch.setattr(sys, "argv", argv + ["--reference", str(reference)])
    runpy.run_path(script, run_name="__main__")
    table = pd.read_csv(out / "budget_check.csv").set_index("check")
    # Only what the run timed is checked: no chapter 06 rows.
    assert list(table.index) == ["07 time / 03 time", "07 mean single-model test accuracy", "07 ensemble test accuracy"]
    assert table.loc["07 time / 03 time", "value"] == pytest.approx(0.9) and table.loc["07 time / 03 time", "met"]
