"""The papermill pipeline on small synthetic notebooks (the real ones run under nbval)."""

import dataclasses

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kmnist_utils.core import runlock
from kmnist_utils.engine.context import setup
from kmnist_utils.pipeline import report

PARAMS = "profile = None\nseeds = None\ndevice = 'auto'\noutput_root = None"


def make_notebook(path, body: str) -> None:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(body)]
    nbformat.write(nb, path)


def test_discovery_is_numeric_and_filters(tmp_path):
    for name in ["10_last.ipynb", "02_second.ipynb", "01_first.ipynb", "notes.ipynb", "3_bad.ipynb"]:
        make_notebook(tmp_path / name, "pass")
    assert [p.name for p in report.discover_notebooks(tmp_path)] == [
        "01_first.ipynb",
        "02_second.ipynb",
        "10_last.ipynb",
    ]
    assert [p.name for p in report.discover_notebooks(tmp_path, only=["02"])] == ["02_second.ipynb"]
    with pytest.raises(report.PipelineError, match="None of"):
        report.discover_notebooks(tmp_path, only=["99"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(report.PipelineError, match="No numbered notebooks"):
        report.discover_notebooks(empty)


@pytest.mark.slow
def test_pipeline_runs_in_order_and_stops_at_the_first_failure(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    nbs.mkdir()
    make_notebook(nbs / "01_ok.ipynb", "assert profile == 'smoke' and seeds == [3]\nprint('fine')")
    make_notebook(nbs / "02_boom.ipynb", "raise ValueError('planted failure')")
    make_notebook(nbs / "03_never.ipynb", "print('must not run')")
    with pytest.raises(report.PipelineError) as info:
        report.run_pipeline("smoke", seeds=[3], device="cpu", notebooks_dir=nbs, output_root=str(out))
    message = str(info.value)
    assert "02_boom.ipynb failed in cell 2 of the executed copy" in message  # papermill injects a cell
    assert "`raise ValueError('planted failure')`" in message and "ValueError: planted failure" in message
    assert (out / ".failed" / "02_boom.ipynb").is_file()
    reports = out / "reports"
    assert sorted(p.name for p in reports.iterdir()) == ["01_ok.ipynb"]  # no partial 02, no 03
    executed = nbformat.read(reports / "01_ok.ipynb", as_version=4)
    assert "fine" in executed.cells[-1].outputs[0]["text"]


@pytest.mark.slow
def test_kernel_output_reaches_the_terminal_and_a_relative_root_is_one_folder(tmp_path, monkeypatch, capfd):
    import shutil
    import uuid

    from kmnist_utils.core.paths import PROJECT_ROOT

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    body = ("import os, sys\nfrom kmnist_utils.engine import context\n"
            "ctx = context.setup(profile, output_root=output_root)\n"
            "(ctx.dirs.results / 'from_kernel.txt').write_text(str(ctx.dirs.results))\n"
            "(ctx.dirs.results / 'pythonpath.txt').write_text(os.environ.get('PYTHONPATH', ''))\n"
            "print('epoch 1/3 done')\nprint('WARNING: planted', file=sys.stderr)")
    make_notebook(nbs / "01_a.ipynb", body)
    monkeypatch.chdir(tmp_path)  # a relative root means the same folder wherever the command runs
    relative = f"runs/test-relative-{uuid.uuid4().hex[:8]}"
    try:
        report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=relative)
        out = capfd.readouterr().out
        assert "01 | epoch 1/3 done" in out and "01 | WARNING: planted" in out  # streamed, labelled
        assert "without encryption" not in out
        results = PROJECT_ROOT / relative / "results"
        assert (results / "from_kernel.txt").read_text() == str(results)  # the kernel wrote where the pipeline did
        assert (PROJECT_ROOT / relative / "reports" / "01_a.ipynb").is_file() and not (tmp_path / "runs").exists()
        # The kernel imports this checkout's package, whichever checkout the environment was installed from.
        assert (results / "pythonpath.txt").read_text().split(":")[0] == str(PROJECT_ROOT)
    finally:
        shutil.rmtree(PROJECT_ROOT / relative, ignore_errors=True)


def test_a_bad_data_root_fails_before_any_kernel_starts(tmp_path, monkeypatch):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    make_notebook(nbs / "01_a.ipynb", f"open({str(tmp_path / 'ran')!r}, 'w').close()")
    monkeypatch.setenv("KMNIST_DATA", str(tmp_path / "no-such-folder"))
    with pytest.raises(report.PipelineError, match="does not exist"):
        report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(tmp_path / "out"))
    assert not (tmp_path / "ran").exists()
    (tmp_path / "empty" / "KMNIST" / "raw").mkdir(parents=True)
    monkeypatch.setenv("KMNIST_DATA", str(tmp_path / "empty"))
    with pytest.raises(report.PipelineError, match="Missing KMNIST file"):
        report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(tmp_path / "out"))


@pytest.mark.slow
def test_a_bad_parameter_through_plain_papermill_is_one_line(tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    make_notebook(tmp_path / "01_a.ipynb", "from kmnist_utils.engine import context\n"
                  "ctx = context.setup(profile, seeds=seeds, output_root=output_root)")
    for parameters, message in (({"profile": "papr"}, "Unknown profile 'papr'"),
                                ({"profile": "smoke", "seeds": [1, 1]}, "seeds must be distinct")):
        with pytest.raises(PapermillExecutionError) as info:
            pm.execute_notebook(str(tmp_path / "01_a.ipynb"), str(tmp_path / "out.ipynb"), parameters=parameters,
                                cwd=str(tmp_path), progress_bar=False)
        shown = [line for line in info.value.traceback if line.strip()]
        assert len(shown) == 1 and message in shown[0] and shown[0].startswith("SettingError"), shown


def test_prefixed_stream_labels_whole_lines():
    import io

    target = io.StringIO()
    stream = report.PrefixedStream(target, "03 | ")
    stream.write("epoch 1")
    stream.write(" done\nepoch 2\rbar\n\n")
    stream.write("tail")
    stream.flush()
    assert target.getvalue() == "03 | epoch 1 done\n03 | epoch 2\n03 | bar\n03 | tail\n"


def test_eta_from_the_last_comparable_run(tmp_path):
    from pathlib import Path

    import pandas as pd

    from kmnist_utils.engine import context
    from kmnist_utils.products.results import TIMINGS_TABLE, write_table

    ctx = context.setup("smoke", output_root=tmp_path)
    assert report.last_timings(ctx) == {}
    timings = pd.DataFrame({"notebook": ["01_a.ipynb", "02_b.ipynb"], "wall_time_s": [60.0, 240.0]})
    write_table(timings, TIMINGS_TABLE, ctx, complete=False)  # a run stopped part-way: no estimate
    assert report.last_timings(ctx) == {}
    write_table(timings, TIMINGS_TABLE, ctx, complete=True)
    expected = report.last_timings(ctx)
    assert expected == {"01_a.ipynb": 60.0, "02_b.ipynb": 240.0}
    eta = report.eta_text(expected, [Path("01_a.ipynb"), Path("02_b.ipynb")])
    assert eta == " (expected: 1.0 min; about 5 min left in all)"
    assert report.eta_text(expected, [Path("03_new.ipynb")]) == ""
    other_seeds = context.setup("smoke", seeds=[1, 2], output_root=tmp_path)
    assert report.last_timings(other_seeds) == {}  # another run shape: no estimate rather than a wrong one


def test_the_run_states_its_estimate_and_what_it_rests_on(tmp_path):
    from pathlib import Path

    import pandas as pd

    from kmnist_utils.engine import context
    from kmnist_utils.products.results import write_table

    ctx = context.setup("smoke", seeds=[0, 1, 2], output_root=tmp_path, lock=False)
    notebooks = [Path("01_a.ipynb"), Path("02_b.ipynb")]
    recorded = ({"01_a.ipynb": 60.0, "02_b.ipynb": 540.0},
                {"profile": "smoke", "seeds": [0], "device_name": "AMD EPYC [avx2]", "precision": "fp32",
                 "git_commit": "abcdef1234567"})
    text = report.estimate_text(ctx, notebooks, recorded)
    assert "about 30 min" in text and "AMD EPYC [avx2]" in text and "scaled to 3 seed(s)" in text
    assert "none" in report.estimate_text(ctx, notebooks, ({}, {}))
    assert "none" in report.estimate_text(ctx, notebooks, (recorded[0], {**recorded[1], "profile": "paper"}))
    write_table(pd.DataFrame({"notebook": ["01_a.ipynb", "02_b.ipynb"], "wall_time_s": [30.0, 90.0]}),
                report.TIMINGS_TABLE, ctx, complete=True)
    assert "about 2 min (the last run" in report.estimate_text(ctx, notebooks, recorded)


def test_an_estimate_never_rests_on_a_stopped_run(tmp_path):
    import pandas as pd

    from kmnist_utils.engine import context
    from kmnist_utils.products.results import TIMINGS_TABLE, write_table

    ctx = context.setup("smoke", output_root=tmp_path, lock=False)
    every = [p.name for p in report.discover_notebooks()]
    rows = pd.DataFrame({"notebook": every, "wall_time_s": [1.0] * len(every)})
    for complete, estimate in ((True, True), (False, False), (None, False)):  # a table that does not say: no estimate
        write_table(rows, TIMINGS_TABLE, ctx, **({} if complete is None else {"complete": complete}))
        assert bool(report.last_timings(ctx)) is estimate

def test_ctrl_c_and_a_full_disk_end_in_one_line(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise report.Interrupted("interrupted during 03_cnns.ipynb; its partial notebook is at /x/03_cnns.ipynb")

    monkeypatch.setattr(report, "run_pipeline", interrupted)
    assert report.main(["--profile", "smoke"]) == 130
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Ctrl-C" in err and "/x/03_cnns.ipynb" in err and "resumes" in err

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", "/data/results/table1.csv")

    monkeypatch.setattr(report, "run_pipeline", full)
    assert report.main(["--profile", "smoke"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "No space left on device (/data/results/table1.csv)" in err and "GiB free" in err


def test_a_kernel_failure_from_a_full_disk_says_so(tmp_path):
    from kmnist_utils.engine import context

    ctx = context.setup("smoke", output_root=tmp_path)

    class KernelError(Exception):
        evalue = "[enforce fail at inline_container.cc:664] . unexpected pos 8896 vs 8790"

    hint = report.disk_hint(KernelError(), ctx)
    assert "full or read-only disk" in hint and "GiB free" in hint and "needs about" in hint
    assert report.disk_hint(ValueError("planted"), ctx) == ""


def test_a_full_output_disk_names_the_file_that_failed_and_leaves_no_truncated_notebook(tmp_path, monkeypatch):
    import errno
    import shutil

    from papermill.exceptions import PapermillExecutionError

    from kmnist_utils.engine import context

    out = tmp_path / "out"
    ctx = context.setup("smoke", output_root=out, lock=False)
    ctx = dataclasses.replace(ctx, cache_dir=tmp_path / "cache")
    figure = out / "figures" / "fig02_pca_train.png"
    notebook = tmp_path / "02_eda.ipynb"
    make_notebook(notebook, "pass")

    def kernel_fails_on_the_full_disk(source, output, **kwargs):
        shutil.copyfile(source, output)  # papermill has written the executed copy so far
        raise PapermillExecutionError(3, 3, "save_figure(fig, 'fig02_pca_train')", "OSError",
                                      f"[Errno 28] No space left on device: '{figure}'", [])

    real_copyfile = shutil.copyfile

    def full_disk(src, dst, *args, **kwargs):  # the output disk takes half a file, then is full
        if str(dst).startswith(str(out)):
            with open(dst, "wb") as handle:
                handle.write(open(src, "rb").read()[:40])
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr(report.pm, "execute_notebook", kernel_fails_on_the_full_disk)
    monkeypatch.setattr(shutil, "copyfile", full_disk)
    monkeypatch.setattr(shutil, "move", lambda src, dst: full_disk(src, dst))
    with pytest.raises(report.PipelineError) as info:
        report.run_notebook(notebook, ctx, {})
    message = str(info.value)
    assert "fig02_pca_train.png" in message and "full or read-only disk" in message
    kept = report.work_copy(notebook, ctx)
    assert str(kept) in message and nbformat.read(kept, as_version=4).cells  # whole, where the message says
    leftovers = list((out / ".failed").glob("*")) if (out / ".failed").exists() else []
    assert all(nbformat.read(p, as_version=4) for p in leftovers if p.suffix == ".ipynb")
    assert not [p for p in leftovers if p.name.startswith(".")]  # no half-written temporary either


def test_make_help_lists_every_target_and_lab_honours_profile():
    import re
    import subprocess

    from kmnist_utils.core.paths import PROJECT_ROOT

    makefile = (PROJECT_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    shown = subprocess.run(["make", "-s", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    assert targets <= {line.split()[1] for line in shown.splitlines() if line.startswith("  make ")}
    lab = subprocess.run(["make", "-n", "lab", "PROFILE=smoke"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    lab = lab.stdout
    assert "KMNIST_PROFILE=smoke" in lab and "--notebook-dir=." in lab


def test_papermill_sees_a_type_for_every_parameter():
    import papermill as pm

    from kmnist_utils.core.paths import NOTEBOOKS_DIR

    for path in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        params = pm.inspect_notebook(str(path))
        # Every chapter takes the run's four; chapter 07 also its schedule (``--schedule``).
        extra = {"schedule"} if path.name.startswith("07_") else set()
        assert set(params) == {"profile", "seeds", "device", "output_root"} | extra, path.name
        assert all(p["inferred_type_name"] not in ("None", "", None) for p in params.values()), path.name


def test_schedule_reaches_only_the_notebooks_that_declare_it(tmp_path):
    plain, scheduled = tmp_path / "01_a.ipynb", tmp_path / "07_b.ipynb"
    make_notebook(plain, "x = 1")
    make_notebook(scheduled, "x = 1")
    nb = nbformat.read(scheduled, as_version=4)
    nb.cells[0].source += '\nschedule = None  # type: Optional[str]'
    nbformat.write(nb, scheduled)
    ctx = setup("smoke", device="cpu", output_root=str(tmp_path / "out"), lock=False)
    params = report.notebook_parameters(ctx, False, "cpu", None, schedule="cpu")
    assert "schedule" not in report.declared_parameters(plain, params)
    assert report.declared_parameters(scheduled, params)["schedule"] == "cpu"
    assert "schedule" not in report.notebook_parameters(ctx, False, "cpu", None)  # None: the profile decides
    with pytest.raises(ValueError, match="Unknown schedule 'fastest'"):
        report.notebook_parameters(ctx, False, "cpu", None, schedule="fastest")


@pytest.mark.slow
def test_full_run_writes_a_timing_table(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    nbs.mkdir()
    # A training call as runner.record_runs writes it: one run on two cores, one core idle for 10 s of 20.
    call = {"cores": 2, "runs": [{"run": "r", "epochs": 1, "threads": 1, "start": 0.0, "end": 20.0},
                                 {"run": "s", "epochs": 1, "threads": 1, "start": 0.0, "end": 10.0}]}
    make_notebook(nbs / "01_a.ipynb", "import json, os\n"
                  f"open(os.environ['KMNIST_RUN_LOG'], 'a').write(json.dumps({call!r}) + '\\n')")
    (out / "reports").mkdir(parents=True)
    (out / "reports" / ".01_a.ipynb.old.tmp.ipynb").write_text("left by a killed run")
    timings = report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
    assert timings["notebook"].tolist() == ["01_a.ipynb"] and (timings["wall_time_s"] > 0).all()
    assert timings.training_core_s.tolist() == [40.0] and timings.idle_core_s.tolist() == [10.0]
    assert (out / "results" / "pipeline_timings.json").is_file()
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["01_a.ipynb"]
    import json

    ledger = json.loads((out / "results" / "pipeline_attempts.json").read_text())
    assert ledger["attempts"][0]["notebooks"]["01_a.ipynb"]["calls"] == [call]
    assert ledger["attempts"][0]["cpu"] and ledger["attempts"][0]["cache"]


def test_cli_reports_bad_profile(capsys):
    assert report.main(["--profile", "nope"]) == 1
    assert "Unknown profile 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_second_run_into_the_same_folders_is_refused_while_the_first_holds_the_lock(tmp_path):
    import subprocess
    import sys

    nbs, out = tmp_path / "nbs", tmp_path / "out"
    nbs.mkdir()
    make_notebook(nbs / "01_a.ipynb", "x = 1")
    lock = out / runlock.LOCK_NAME
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(lock)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "f.write('pid 4242, profile paper'); f.flush()\n"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(report.PipelineError, match="Another process is writing to .*pid 4242"):
            report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
        assert not (out / "reports" / "01_a.ipynb").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died without unlocking: flock locks die with their process, so no stale lock remains.
    report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
    assert (out / "reports" / "01_a.ipynb").is_file()


@pytest.mark.slow
def test_ctrl_c_stops_with_one_line_and_keeps_the_partial_notebook(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    nbs, out = tmp_path / "nbs", tmp_path / "out"
    nbs.mkdir()
    # As when worker processes train: a pool busy in the background and a kernel printing epoch lines.
    make_notebook(nbs / "01_slow.ipynb", "import multiprocessing, time\n"
                  "from concurrent.futures import ProcessPoolExecutor\n"
                  "pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('spawn'))\n"
                  "futures = [pool.submit(time.sleep, 100) for _ in range(2)]\n"
                  "for i in range(600):\n    print('epoch', i, flush=True)\n"
                  "    if i == 3:\n        print('sleeping', flush=True)\n    time.sleep(0.2)")
    script = ("import sys\nfrom pathlib import Path\nfrom kmnist_utils.pipeline import report\n"
              "run = report.run_pipeline\n"
              f"report.run_pipeline = lambda *a, **k: run(*a, notebooks_dir=Path({str(nbs)!r}), **k)\n"
              f"sys.exit(report.main(['--profile', 'smoke', '--output-root', {str(out)!r}]))")
    # A terminal's Ctrl-C: SIGINT to the whole foreground process group (which the kernel is not in).
    run = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for line in run.stdout:
            if "sleeping" in line:
                break
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=60)
    finally:
        run.kill()
    assert run.returncode == 130
    assert err.strip().count("\n") == 0 and "stopped by Ctrl-C" in err and "resumes" in err, err
    assert (out / ".failed" / "01_slow.ipynb").is_file() and not (out / "reports" / "01_slow.ipynb").exists()


def test_after_a_stopped_run_the_estimate_rests_on_the_profiles_recorded_run(tmp_path):
    """A stopped run's own times are no estimate, but the notebooks still to run have one: the smoke
    profile's recorded run (never 'none', never 'about 0 min left' with notebooks to go)."""
    import pandas as pd

    from kmnist_utils.engine import context
    from kmnist_utils.products.results import TIMINGS_TABLE, write_table

    ctx = context.setup("smoke", output_root=tmp_path, lock=False)
    notebooks = report.discover_notebooks()
    write_table(pd.DataFrame({"notebook": [notebooks[0].name], "wall_time_s": [12.0]}), TIMINGS_TABLE, ctx,
                complete=False)
    text = report.estimate_text(ctx, notebooks[1:])
    assert "none" not in text and "from the recorded smoke run" in text, text
    expected = report.expected_seconds(ctx)
    eta = report.eta_text(expected, notebooks[1:])
    assert eta and "about 0 min left" not in eta
    assert report.eta_text({notebooks[1].name: 60.0}, notebooks[1:]) == ""  # a partial sum would understate


def test_a_write_that_fills_the_disk_names_its_file(tmp_path, monkeypatch):
    from pathlib import Path

    from kmnist_utils.core import atomic
    from kmnist_utils.engine import context

    def full(self, data):  # a write that fails half-way names no file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    target = tmp_path / "figures" / "fig07_saliency_tuned.png"
    with pytest.raises(OSError) as info:
        atomic.write_bytes(target, b"png")
    assert info.value.errno == 28 and info.value.filename == str(target)
    assert not target.exists() and not list(target.parent.glob(".*"))

    class KernelError(Exception):
        evalue = f"[Errno 28] No space left on device: '{target}'"

    ctx = context.setup("smoke", output_root=tmp_path / "out", lock=False)
    assert f"Writing {target} failed." in report.disk_hint(KernelError(), ctx)


def test_a_failure_message_ends_its_sentences_once(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    from kmnist_utils.engine import context

    ctx = dataclasses.replace(context.setup("smoke", output_root=tmp_path / "out", lock=False),
                              cache_dir=tmp_path / "cache")
    notebook = tmp_path / "05_x.ipynb"
    make_notebook(notebook, "pass")

    def fails(source, output, **kwargs):
        raise PapermillExecutionError(2, 2, "routing(table)", "ValueError", "the model has no points there.", [])

    import unittest.mock

    with unittest.mock.patch.object(report.pm, "execute_notebook", fails), pytest.raises(report.PipelineError) as info:
        report.run_notebook(notebook, ctx, {})
    assert "no points there. The executed" in str(info.value) and ".." not in str(info.value)


def test_a_read_only_output_folder_is_named_in_the_free_space_line(monkeypatch, capsys):
    from kmnist_utils.core.paths import PROJECT_ROOT

    smoke = PROJECT_ROOT / "runs" / "smoke"

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system", str(smoke / "figures"))

    monkeypatch.setattr(report, "run_pipeline", read_only)
    assert report.main(["--profile", "smoke"]) == 1
    assert f"outputs in {smoke}:" in capsys.readouterr().err


def test_papermill_with_a_misspelt_parameter_stops_before_anything_runs(tmp_path):
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    make_notebook(tmp_path / "01_a.ipynb", "from kmnist_utils.engine import context\n"
                  "ctx = context.setup(profile, seeds=seeds, output_root=output_root)\nprint('ran')")
    with pytest.raises(PapermillExecutionError) as info:
        pm.execute_notebook(str(tmp_path / "01_a.ipynb"), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "smoke", "seed": 3, "output_root": str(tmp_path / "o")},
                            kernel_name="python3", progress_bar=False)
    assert "Unknown parameter(s) seed" in str(info.value)


def test_an_executed_notebook_names_no_folder_of_the_machine(tmp_path, monkeypatch):
    """Papermill records where a notebook ran from and to; the product keeps those as project paths."""
    import nbformat

    from kmnist_utils.core import paths

    executed = nbformat.v4.new_notebook(metadata={"papermill": {
        "input_path": str(paths.PROJECT_ROOT / "notebooks" / "03_cnns.ipynb"),
        "output_path": "/elsewhere/.cache/running/ab12/03_cnns.ipynb"}})
    fixed = report.project_relative(executed, paths.PROJECT_ROOT / "notebooks" / "03_cnns.ipynb",
                                    paths.PROJECT_ROOT / "reports" / "03_cnns.ipynb")
    assert fixed.metadata.papermill == {"input_path": "notebooks/03_cnns.ipynb",
                                        "output_path": "reports/03_cnns.ipynb"}
    plain = nbformat.v4.new_notebook()
    assert report.project_relative(plain, tmp_path / "a.ipynb", tmp_path / "b.ipynb").metadata == {}
    # What a cell shows of a saved figure, and a run's first line: project paths too.
    saved = paths.ShownPath(paths.PROJECT_ROOT / "figures" / "fig01.png")
    assert repr(saved) == "saved figures/fig01.png" and saved.name == "fig01.png"
    assert paths.shown(tmp_path / "x") == str(tmp_path / "x")  # outside the project: as given
    from kmnist_utils.engine import context

    ctx = context.setup("smoke", output_root="runs/smoke", lock=False)
    assert "figures=runs/smoke/figures results=runs/smoke/results" in ctx.describe()
    assert str(paths.PROJECT_ROOT) not in ctx.describe()
