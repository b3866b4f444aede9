import dataclasses

import pytest
import torch

from kmnist_utils import settings
from kmnist_utils.core import paths
from kmnist_utils.engine import context
from kmnist_utils.engine.device import pick_device
from kmnist_utils.engine.seeding import seed_everything


def test_smoke_profile_shares_the_papers_method():
    paper, smoke = settings.PAPER, settings.SMOKE
    for name in ("batch_size", "learning_rate", "dropout", "grid", "split_seed"):
        assert getattr(smoke, name) == getattr(paper, name), name
    assert isinstance(smoke.siamese, settings.SiameseSettings)
    same = {f.name for f in dataclasses.fields(settings.SiameseSettings)
            if getattr(smoke.siamese, f.name) == getattr(paper.siamese, f.name)}
    assert {"embedding_dim", "head", "batch_size", "learning_rate", "shots", "pca_components"} <= same


def test_paper_profile_matches_the_paper():
    p = settings.PAPER
    assert dict(p.epochs) == {"simple": 5, "resnet": 10, "improved": 10}
    assert p.batch_size == 64 and p.learning_rate == 1e-3 and p.dropout == 0.4
    assert dict(p.grid) == {"learning_rate": (1e-3, 5e-4), "dropout": (0.3, 0.4, 0.5), "batch_size": (64, 128)}
    assert p.grid_epochs == 3 and p.tuned_epochs == 10
    assert p.logreg_train_size == 10_000
    assert p.train_subset is None and p.val_subset is None and p.test_subset is None
    assert len(p.seeds) == 3


def test_smoke_profile_is_tiny():
    # The smoke profile runs every chapter in the test suite: every size that scales its time is small, and
    # it differs from the paper profile only in those sizes (plus calibration, off: no timing in tests).
    s, p = settings.SMOKE, settings.PAPER
    assert max(s.epochs.values()) == 1 and s.grid_epochs == 1 and s.tuned_epochs == 1 and len(s.seeds) == 1
    assert s.train_subset <= 2048 and s.val_subset <= 1024 and s.test_subset <= 1000 and s.pca_points <= 2000
    assert s.logreg_train_size <= 1000 and s.routing_splits <= 10 and not s.calibrate
    siamese = s.siamese
    assert siamese.epochs == 1 and siamese.unseen_epochs == 1 and siamese.draws <= 5 and siamese.unseen_draws <= 5
    assert len(siamese.unseen_seen_counts) * siamese.unseen_splits <= 2
    smoke_07, paper_07 = settings.get_schedule(s.beyond_schedule), settings.get_schedule(p.beyond_schedule)
    assert smoke_07.epochs <= 2 and max(smoke_07.widths) < max(paper_07.widths)
    # What is not a size is the paper's: the two profiles cannot drift apart in method.
    assert (s.batch_size, s.learning_rate, s.dropout, s.split_seed, dict(s.grid)) == (
        p.batch_size, p.learning_rate, p.dropout, p.split_seed, dict(p.grid))
    assert (siamese.embedding_dim, siamese.head, siamese.objective, siamese.learning_rate) == (
        p.siamese.embedding_dim, p.siamese.head, p.siamese.objective, p.siamese.learning_rate)


def test_profile_from_env(monkeypatch):
    monkeypatch.setenv(context.PROFILE_ENV_VAR, "smoke")
    assert context.chosen_profile().name == "smoke"
    assert context.chosen_profile("paper").name == "paper"  # an explicit parameter wins
    monkeypatch.delenv(context.PROFILE_ENV_VAR)
    assert context.chosen_profile().name == "paper"


def test_unknown_profile_lists_the_choices():
    with pytest.raises(ValueError, match=r"Unknown profile 'fast'. Choose one of: paper, smoke"):
        settings.get_profile("fast")


@pytest.mark.parametrize("bad", [[], [-1], [1, 1], ["0"], [True], 1.5])
def test_bad_seeds_are_rejected(bad):
    with pytest.raises(ValueError, match="seeds must be"):
        context.setup("smoke", seeds=bad, output_root="/tmp/unused-kmnist")


def test_setup_with_seed_override(tmp_path):
    ctx = context.setup("smoke", seeds=[5, 7], output_root=tmp_path)
    assert ctx.seeds == (5, 7) and ctx.seed == 5 and ctx.profile.seeds == (5, 7)
    assert ctx.dirs.figures == tmp_path.resolve() / "figures" and ctx.dirs.figures.is_dir()


def test_only_paper_writes_committed_folders(tmp_path):
    assert paths.output_dirs("paper") == paths.committed_dirs()
    assert paths.output_dirs("smoke").figures == paths.PROJECT_ROOT / "runs" / "smoke" / "figures"
    with pytest.raises(ValueError, match="may not write into the committed"):
        paths.output_dirs("smoke", output_root=paths.PROJECT_ROOT)


def test_device_choice(monkeypatch):
    assert pick_device("cpu") == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == "cuda"  # cuda first where it exists, even beside mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == "cpu"
    with pytest.raises(ValueError, match="Unknown device 'gpu0'"):
        pick_device("gpu0")
    with pytest.raises(ValueError, match="must be a string"):
        pick_device(0)


def test_unavailable_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        pick_device("cuda")


def test_seed_everything_repeats_all_generators():
    import random

    import numpy as np
    import torch

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    seed_everything(11)
    first = draw()
    seed_everything(11)
    assert draw() == first
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(-1)


def test_a_relative_output_root_is_taken_from_the_project(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # wherever the kernel or the shell happens to be
    dirs = paths.output_dirs("smoke", "runs/elsewhere")
    assert dirs.results == paths.PROJECT_ROOT / "runs" / "elsewhere" / "results"


def test_every_writer_takes_the_output_lock(tmp_path, monkeypatch):
    import subprocess
    import sys

    from kmnist_utils.core import runlock

    root = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom kmnist_utils.core import runlock\n"
         f"runlock.acquire(Path({str(root)!r}), 'kmnist-report pipeline, profile smoke')\n"
         "print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(runlock.OutputInUse, match="Another process is writing to .*kmnist-report pipeline"):
            context.setup("smoke", output_root=root)
        # A kernel started by that pipeline writes under the pipeline's lock.
        monkeypatch.setenv(runlock.HELD_ENV_VAR, str(root.resolve()))
        assert context.setup("smoke", output_root=root).dirs.results == root.resolve() / "results"
    finally:
        holder.kill()
        holder.wait()
    monkeypatch.delenv(runlock.HELD_ENV_VAR)
    context.setup("smoke", output_root=root)  # the holder died: its lock went with it
    assert root.resolve() in runlock._held
    runlock.release(root)


def test_precision_is_fp32_unless_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(context.PRECISION_ENV_VAR, raising=False)
    assert context.setup("smoke", output_root=tmp_path, lock=False).precision == "fp32"
    assert context.setup("smoke", output_root=tmp_path, lock=False, precision="bf16").precision == "bf16"
    monkeypatch.setenv(context.PRECISION_ENV_VAR, "bf16")
    ctx = context.setup("smoke", output_root=tmp_path, lock=False)
    assert ctx.precision == "bf16" and "precision=bf16" in ctx.describe()
    from kmnist_utils.chapters import cnns

    assert cnns.cnn_spec(ctx, "simple", 0).config.precision == "bf16"  # every spec follows the context
    monkeypatch.setenv(context.NATIVE_BF16_ENV_VAR, "0")
    assert context.setup("smoke", output_root=tmp_path, lock=False, precision="auto").precision == "fp32"
    with pytest.raises(ValueError, match="Unknown precision 'fp16'.*fp32, bf16, auto"):
        context.setup("smoke", output_root=tmp_path, lock=False, precision="fp16")


def test_a_kernel_in_another_checkout_stops_and_says_why(tmp_path, monkeypatch):
    from kmnist_utils.core import paths

    other = tmp_path / "second-checkout"
    (other / "kmnist_utils").mkdir(parents=True)
    (other / "kmnist_utils" / "__init__.py").write_text("")
    (other / "notebooks").mkdir()
    assert paths.checkout_of(other / "notebooks") == other and paths.checkout_of(tmp_path) is None
    monkeypatch.chdir(other / "notebooks")  # where JupyterLab or papermill starts a kernel of that checkout
    with pytest.raises(ValueError, match=f"runs in the checkout {other} but imports kmnist_utils from "
                                         f"{paths.PACKAGE_CHECKOUT}.*make lab"):
        context.setup("smoke", output_root=tmp_path / "out", lock=False)
    monkeypatch.chdir(paths.PACKAGE_CHECKOUT / "notebooks")
    context.setup("smoke", output_root=tmp_path / "out", lock=False)  # its own checkout: fine
    monkeypatch.chdir(tmp_path)
    context.setup("smoke", output_root=tmp_path / "out", lock=False)  # no checkout at all (a test folder): fine


def test_a_parameter_no_notebook_declares_is_caught():
    # papermill -p seed 3 (for seeds) only warns and runs on with the default seeds.
    injected = "# Parameters\nseed = 3\nprofile = \"smoke\"\n"
    own = "# Parameters (papermill injects overrides after this cell)\nprofile = None\nfoo = 1\n"
    assert context.undeclared_parameters([own, injected]) == ["seed"]
    assert context.undeclared_parameters(["# Parameters\nseeds = [3]\n"]) == []


def test_a_notebook_run_by_hand_never_replaces_the_committed_products(monkeypatch, capsys):
    # Run All in JupyterLab on a fresh clone (paper profile, no output_root): runs/paper/, said first.
    from kmnist_utils.core import runlock

    monkeypatch.delenv(runlock.HELD_ENV_VAR, raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", "notebooks/03_cnns.ipynb")
    ctx = context.setup("paper", calibrate=False)
    out = capsys.readouterr().out
    assert ctx.dirs.results == paths.PROJECT_ROOT / "runs" / "paper" / "results" != paths.committed_dirs().results
    first, second = out.splitlines()[:2]
    assert "writes into" in first and "runs/paper" in first and 'output_root = "."' in first
    assert "In the recorded paper run" in second and "03_cnns.ipynb took" in second and "min" in second
    # The pipeline's own kernels (the lock already held) write the committed folders.
    monkeypatch.setenv(runlock.HELD_ENV_VAR, str(paths.PROJECT_ROOT))
    assert context.setup("paper", calibrate=False).dirs == paths.committed_dirs()
