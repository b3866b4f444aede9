"""The scripts under benchmarks/: each runs on the smoke profile and reports what it says it measures."""

import pandas as pd
import pytest

from kmnist_utils import fewshot, oneshot


def test_the_protocol_script_needs_no_font_package(monkeypatch, tmp_path, real_kmnist):
    # The GPU image has no matplotlib-fontja: a timing script must not import it.
    import json
    import runpy
    import sys

    from kmnist_utils.paths import PROJECT_ROOT

    monkeypatch.setitem(sys.modules, "matplotlib_fontja", None)  # any import of it now fails
    out = tmp_path / "protocol.json"
    monkeypatch.setattr(sys, "argv", ["paper_protocol.py", "--profile", "smoke", "--device", "cpu", "--out", str(out),
                                      "--skip", "simple", "resnet", "improved", "grid", "tuned", "fp32"])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "paper_protocol.py"), run_name="__main__")
    assert [s["stage"] for s in json.loads(out.read_text())["stages"]] == ["logreg seed 0"]


def test_the_one_encoder_benchmark_runs(tmp_path, monkeypatch, real_kmnist):
    import json
    import runpy
    import sys

    from kmnist_utils.paths import PROJECT_ROOT

    monkeypatch.setattr(sys, "argv", ["siamese_one_encoder.py", "--profile", "smoke", "--device", "cpu",
                                      "--out", str(tmp_path)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "siamese_one_encoder.py"), run_name="__main__")
    payload = json.loads((tmp_path / "siamese_seed0.json").read_text())
    assert payload["settings"]["head"] == "euclidean" and set(payload["test_1shot"]) == {"euclidean", "cosine",
                                                                                        "learned head"}
    # What it reports is the test 1-shot accuracy of the chapter's encoder for that seed: recomputed here
    # from the same cached encoder, on the test set, with the chapter's draws.
    from kmnist_utils import config, runner

    ctx = config.setup("smoke", seeds=[0], device="cpu", output_root=tmp_path / "run")
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

    from kmnist_utils.paths import PROJECT_ROOT

    monkeypatch.setattr(sys, "argv", ["siamese_in_batch.py", "--profile", "smoke", "--device", "cpu",
                                      "--epochs", "in_batch_pairs=2", "pairs=1", "--out", str(tmp_path)])
    runpy.run_path(str(PROJECT_ROOT / "benchmarks" / "siamese_in_batch.py"), run_name="__main__")
    history = pd.read_csv(tmp_path / "results" / "siamese_objective_histories.csv")
    assert history.groupby("objective").epoch.max().to_dict() == {
        "in_batch_pairs (batch 128)": 2, "in_batch_pairs (batch 256)": 2, "pairs (batch 128)": 1}
    schedule = pd.read_csv(tmp_path / "results" / "siamese_objective_schedule.csv")
    assert len(schedule) == 3 and (tmp_path / "figures" / "siamese_objective_curves.png").is_file()
