"""The papermill pipeline on small synthetic notebooks (the real ones run under nbval)."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from kmnist_utils import report

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
def test_full_run_writes_a_timing_table(tmp_path):
    nbs, out = tmp_path / "nbs", tmp_path / "out"
    nbs.mkdir()
    make_notebook(nbs / "01_a.ipynb", "x = 1")
    (out / "reports").mkdir(parents=True)
    (out / "reports" / ".01_a.ipynb.old.tmp.ipynb").write_text("left by a killed run")
    timings = report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
    assert timings["notebook"].tolist() == ["01_a.ipynb"] and (timings["wall_time_s"] > 0).all()
    assert (out / "results" / "pipeline_timings.json").is_file()
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["01_a.ipynb"]


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
    lock = out / report.LOCK_NAME
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
        with pytest.raises(report.PipelineError, match="Another kmnist-report run is writing to .*pid 4242"):
            report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
        assert not (out / "reports" / "01_a.ipynb").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died without unlocking: flock locks die with their process, so no stale lock remains.
    report.run_pipeline("smoke", device="cpu", notebooks_dir=nbs, output_root=str(out))
    assert (out / "reports" / "01_a.ipynb").is_file()
