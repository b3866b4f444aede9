"""The engine against the chip: FLOP counts, the matmul ceiling and the per-machine calibration."""

import json

import pytest
import torch

from kmnist_utils.engine import chip, context


def test_step_flops_are_the_networks_own():
    # Forward + backward of one batch, counted by torch's flop counter: fixed by the architecture.
    per_image = {}
    for name in ("simple", "resnet", "improved"):
        model, x, y, loss = chip.step_parts(name, 8)
        per_image[name] = chip.step_flops(model, x, y, loss) / 8
    assert per_image["improved"] == pytest.approx(188.877824e6, rel=1e-6)
    assert per_image["simple"] == pytest.approx(97.248768e6, rel=1e-6)
    assert per_image["simple"] < per_image["resnet"] < per_image["improved"]
    model, x, y, loss = chip.step_parts("siamese", 8)
    assert len(x) == 16 and chip.step_flops(model, x, y, loss) / 16 == pytest.approx(44.304384e6, rel=1e-6)


def test_matmul_ceiling_and_step_timing_are_positive():
    assert chip.matmul_gflops(torch.float32, size=256, min_seconds=0.05) > 0.1
    model, x, y, loss = chip.step_parts("simple", 8)
    assert 0 < chip.seconds_per_step(model, x, y, loss, steps=2, warmup=1) < 10


def fake_measure(calls):
    def measure(threads, precision):
        calls.append((threads, precision))
        return {name: {"nchw_s": 1.0, "channels_last_s": 0.5 if name == "resnet" else 1.0,
                       "channels_last": name == "resnet"} for name in chip.CALIBRATED_MODELS}
    return measure


def test_calibration_is_measured_once_per_machine_and_cached(tmp_path, capsys):
    calls = []
    first = chip.calibration(tmp_path, 1, "fp32", measure=fake_measure(calls))
    assert first == {"simple": False, "resnet": True, "improved": False, "siamese": False}
    assert "calibrating the memory format" in capsys.readouterr().out
    assert chip.calibration(tmp_path, 1, "fp32", measure=fake_measure(calls)) == first and len(calls) == 1
    stored = json.loads(next((tmp_path / "calibration").glob("*.json")).read_text())
    assert stored["cpu"] and stored["threads"] == 1 and stored["measured"]["resnet"]["channels_last_s"] == 0.5
    chip.calibration(tmp_path, 2, "fp32", measure=fake_measure(calls))  # other threads: another machine setting
    assert len(calls) == 2
    for path in (tmp_path / "calibration").glob("*.json"):  # a damaged file is measured again
        path.write_text("{broken")
    chip.calibration(tmp_path, 1, "fp32", measure=fake_measure(calls))
    assert len(calls) == 3
    assert chip.calibration(tmp_path, 1, "bf16", measure=fake_measure(calls)) == dict.fromkeys(
        chip.CALIBRATED_MODELS, True) and len(calls) == 3  # bf16 always runs channels_last


def test_the_paper_profile_trains_in_the_calibrated_layout(tmp_path, monkeypatch):
    from kmnist_utils.chapters import cnns

    monkeypatch.setattr(context, "calibration", lambda cache, threads, precision: {"improved": True, "simple": False})
    ctx = context.setup("paper", output_root=tmp_path, lock=False, device="cpu")
    assert cnns.cnn_spec(ctx, "improved", 0).config.channels_last
    assert not cnns.cnn_spec(ctx, "simple", 0).config.channels_last
    from kmnist_utils.products.provenance import provenance

    assert provenance(ctx)["channels_last"] == {"improved": True, "simple": False}
    smoke = context.setup("smoke", output_root=tmp_path, lock=False, device="cpu")
    assert dict(smoke.channels_last) == {}  # tests never depend on a timing
    quiet = context.setup("paper", output_root=tmp_path, lock=False, device="cpu", calibrate=False)
    assert dict(quiet.channels_last) == {}  # a script that trains nothing measures nothing
