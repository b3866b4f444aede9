"""Progress a person can watch: one line per training run, updated in a notebook, printed elsewhere, and
copied to the pipeline's terminal; a run trained in the notebook's own process is not silent."""

import dataclasses

import numpy as np

from kmnist_utils.core.data import Parts
from kmnist_utils.engine import parallel, progress, runner
from kmnist_utils.engine.checkpoints import TrainSpec
from kmnist_utils.engine.training import TrainConfig

HISTORY = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_acc": 0.5 + e / 100, "seconds": 40.0}
           for e in (1, 2, 3)]


def tiny_parts(seed=0, n_train=96, n_val=32) -> Parts:
    rng = np.random.default_rng(seed)
    image = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)  # noqa: E731
    return Parts(image(n_train), np.arange(n_train) % 10, image(n_val), np.arange(n_val) % 10,
                 image(20), np.arange(20) % 10)


def test_an_epoch_line_says_epoch_losses_accuracy_and_time_left():
    line = progress.epoch_text("simple seed 0", HISTORY, epochs=10)
    assert line.startswith("simple seed 0: epoch 3/10, train_loss 0.3333, val_loss 0.4000, val_acc 0.5300")
    assert line.endswith("40 s an epoch, about 5 min left")
    assert progress.epoch_text("x", HISTORY, epochs=3).endswith("done")
    assert progress.epoch_text("x", HISTORY, epochs=4).endswith("about 40 s left")


class FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, bundle, raw):
        self.shown.append(("update", bundle["text/plain"]))


def test_in_a_notebook_each_run_has_one_line_that_updates(monkeypatch, tmp_path):
    shown = []

    def display(bundle, raw, display_id):
        assert raw and display_id
        shown.append(("new", bundle["text/plain"]))
        return FakeHandle(shown)

    monkeypatch.setattr("IPython.display.display", display)
    log = tmp_path / "progress.log"
    lines = progress.Lines(str(log), notebook=True)
    for text in ("a: epoch 1/2", "b: epoch 1/2", "a: epoch 2/2"):
        lines.show(text[0], text)
    assert shown == [("new", "a: epoch 1/2"), ("new", "b: epoch 1/2"), ("update", "a: epoch 2/2")]
    assert log.read_text().splitlines() == ["a: epoch 1/2", "b: epoch 1/2", "a: epoch 2/2"]  # for the pipeline


def test_outside_a_notebook_every_update_is_printed(capsys):
    progress.Lines(notebook=False).show("a", "a: epoch 1/2")
    assert capsys.readouterr().out == "a: epoch 1/2\n"
    assert not progress.in_notebook()  # pytest is no Jupyter kernel


def test_a_run_trained_in_this_process_shows_its_epochs(tmp_path, capsys):
    """The lone run of a call trains in the notebook's process: it prints (or, in a notebook, updates) a
    line every epoch, like the runs in worker processes."""
    from kmnist_utils.engine import context

    ctx = dataclasses.replace(context.setup("smoke", output_root=tmp_path / "out", lock=False),
                              cache_dir=tmp_path / "cache", workers=1)
    spec = TrainSpec("simple", TrainConfig(2, 32, 1e-3, seed=0, precision="fp32", threads=1))
    runner.train(ctx, [spec], tiny_parts())
    out = capsys.readouterr().out
    label = spec.label()
    assert f"{label}: epoch 1/2, train_loss" in out and f"{label}: epoch 2/2," in out and "done" in out


def test_worker_runs_report_their_epochs_to_the_caller(tmp_path):
    shown = []
    spec = TrainSpec("simple", TrainConfig(2, 32, 1e-3, seed=0, precision="fp32"))
    parts = tiny_parts()
    arrays = (parts.x_train, parts.y_train, parts.x_val, parts.y_val)
    jobs = [parallel.Job(dataclasses.replace(spec, config=dataclasses.replace(spec.config, seed=s)), arrays, "cpu",
                         tmp_path / "store") for s in (0, 1)]
    parallel.run_jobs(jobs, workers=2, show=lambda name, text: shown.append((name, text)))
    for key, job in enumerate(jobs):
        texts = [text for name, text in shown if name == str(key)]
        assert texts[0] == f"{job.label()}: waiting for a worker"
        assert any(": epoch 2/2," in t for t in texts) and "trained in" in texts[-1]  # the last word is the end


def test_runs_that_share_a_label_keep_a_line_each(tmp_path):
    """One spec on two different training sets (the unseen-class study's class splits) has one label: each
    run still has its own line, and neither's end is dropped as the other's stale epoch."""
    shown = []
    spec = TrainSpec("simple", TrainConfig(1, 32, 1e-3, seed=0, precision="fp32"))
    parts, other = tiny_parts(), tiny_parts(seed=1)
    jobs = [parallel.Job(spec, (p.x_train, p.y_train, p.x_val, p.y_val), "cpu", tmp_path / "store")
            for p in (parts, other)]
    assert jobs[0].label() == jobs[1].label()
    parallel.run_jobs(jobs, workers=2, show=lambda name, text: shown.append((name, text)))
    ends = {name: text for name, text in shown}
    assert sorted(ends) == ["0", "1"] and all("trained in" in text for text in ends.values())
    assert any("(2/2 done" in text for text in ends.values())


def progress_notebook(path, cache, epochs: int = 2) -> None:
    """A notebook that trains two tiny runs side by side (worker processes) into ``cache``."""
    import nbformat

    code = f"""import dataclasses
import numpy as np
from kmnist_utils.core.data import Parts
from kmnist_utils.engine import context, runner
from kmnist_utils.engine.checkpoints import TrainSpec
from kmnist_utils.engine.training import TrainConfig

rng = np.random.default_rng(0)
image = lambda n: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
parts = Parts(image(96), np.arange(96) % 10, image(32), np.arange(32) % 10, image(20), np.arange(20) % 10)
ctx = dataclasses.replace(context.setup("smoke", output_root={str(path.parent / "out")!r}, lock=False),
                          cache_dir=__import__("pathlib").Path({str(cache)!r}), workers=2)
specs = [TrainSpec("simple", TrainConfig({epochs}, 32, 1e-3, seed=s, precision="fp32")) for s in (0, 1)]
trained = runner.train(ctx, specs, parts)"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def test_a_stored_notebook_keeps_one_final_line_per_run_and_the_terminal_every_epoch(tmp_path):
    """Through the pipeline: the executed notebook holds each run's last line (no scroll of epochs), the
    terminal gets every epoch line labelled with the notebook."""
    import io

    import nbformat

    from kmnist_utils.engine import context
    from kmnist_utils.pipeline import report

    notebook = tmp_path / "09_progress.ipynb"
    progress_notebook(notebook, tmp_path / "cache")
    ctx = dataclasses.replace(context.setup("smoke", output_root=tmp_path / "out", lock=False),
                              cache_dir=tmp_path / "cache")
    terminal = io.StringIO()
    run = report.run_notebook(notebook, ctx, {}, kernel_name="python3", terminal=terminal)
    outputs = nbformat.read(run.output, as_version=4).cells[0].outputs
    lines = [o for o in outputs if o.output_type == "display_data"]
    assert len(lines) == 2 and all("trained in" in o.data["text/plain"] for o in lines)
    streamed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "epoch" not in streamed  # no per-epoch scroll in the stored notebook
    said = terminal.getvalue()
    assert said.count("  09 | ") >= 4 and ": epoch 2/2," in said and ": epoch 1/2," in said
