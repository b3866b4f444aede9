"""JupyterLab as its users meet it: `make lab` started the way a user starts it, a real Chromium driven
through Playwright, every chapter opened from the file browser and run from the Run menu (smoke profile).

Chromium is Debian's (`apt-get install chromium`; `.ci/run` installs it where it is missing); Playwright
never downloads a browser of its own here. The screenshots land in ``runs/lab-screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from kmnist_utils.core.paths import NOTEBOOKS_DIR, PROJECT_ROOT, committed_dirs

CHROMIUM = Path(os.environ.get("KMNIST_CHROMIUM", "/usr/bin/chromium"))
# Headless, and nothing that reaches for the network (a closed network refuses it, many times a start).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
CHAPTERS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = PROJECT_ROOT / "runs" / "lab-screenshots"
MAX_OUTPUT_LINES = 40  # a cell's output a person reads at a glance; progress is one updating line per run
RUN_TIMEOUT_S = 600


@dataclass(frozen=True)
class Lab:
    url: str
    token: str

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not CHROMIUM.is_file():
        pytest.fail(f"No Chromium at {CHROMIUM}: install Debian's with `apt-get install chromium` "
                    "(or set $KMNIST_CHROMIUM to a Chromium binary).", pytrace=False)
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": FLAGS}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab started by `make lab PROFILE=smoke` on a free localhost port with a token, with the
    settings of a first start (empty Jupyter config, settings and workspaces)."""
    home = tmp_path_factory.mktemp("jupyter")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    env.pop("KMNIST_PROFILE", None)  # the profile comes from `make lab PROFILE=...`, as a user gives it
    # expose_app_in_browser lets the test read the notebook's model (an error is an output of type "error";
    # Lab renders it like any stderr text).
    args = (f"--no-browser --ServerApp.ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={token} --LabApp.expose_app_in_browser=True")
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "lab", "PROFILE=smoke",
                               f"VENV={sys.prefix}", f"LAB_ARGS={args}"], stdout=log, stderr=subprocess.STDOUT,
                              env=env, start_new_session=True)
    found = Lab(f"http://127.0.0.1:{port}", token)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                found.api("status")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`make lab` did not serve: {(home / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield found
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def open_from_file_browser(page, lab: Lab, notebook: Path, workspace: str) -> None:
    page.goto(f"{lab.url}/lab/workspaces/{workspace}?reset&token={lab.token}")
    page.locator(".jp-DirListing-item", has_text=notebook.parent.name).first.dblclick(timeout=60_000)
    page.locator(".jp-DirListing-item", has_text=notebook.name).first.dblclick(timeout=30_000)
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=30_000)


def run_all_from_the_menu(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click()


def wait_until_idle(page, lab: Lab, kernel_id: str) -> float:
    """Seconds until the kernel is idle with no cell queued or running, twice in a row."""
    start, quiet = time.monotonic(), 0
    while quiet < 2:
        if time.monotonic() - start > RUN_TIMEOUT_S:
            pytest.fail(f"the notebook was still running after {RUN_TIMEOUT_S} s")
        time.sleep(0.5)
        busy = page.locator(".jp-CodeCell .jp-InputPrompt", has_text="*").count()
        idle = lab.api(f"kernels/{kernel_id}")["execution_state"] == "idle"
        started = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[\d+\]")).count() > 0
        quiet = quiet + 1 if idle and started and not busy else 0
    return time.monotonic() - start


def session_of(lab: Lab, notebook: Path, timeout_s: float = 60) -> dict:
    """The notebook's session, once Lab has started it (the toolbar may name the kernel a moment before)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [s for s in lab.api("sessions") if s["path"].endswith(notebook.name) and s.get("kernel")]
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"Lab started no kernel session for {notebook.name}")


# The error outputs of the notebook in view, as "ename: evalue", from Lab's own model of it.
ERRORS_JS = """() => {
  const model = window.jupyterapp.shell.currentWidget.content.model;
  const found = [];
  for (let i = 0; i < model.cells.length; i++) {
    const outputs = model.cells.get(i).outputs;
    for (let j = 0; outputs && j < outputs.length; j++) {
      const output = outputs.get(j).toJSON();
      if (output.output_type === "error") found.push(`${output.ename}: ${output.evalue}`);
    }
  }
  return found;
}"""
TEXT_OUTPUTS = ", ".join(f'.jp-OutputArea-output[data-mime-type="{kind}"]' for kind in (
    "application/vnd.jupyter.stdout", "application/vnd.jupyter.stderr", "text/plain"))


def output_texts(page) -> list[str]:
    """Every printed output (streams and plain text, progress lines among them), in order."""
    return page.eval_on_selector_all(TEXT_OUTPUTS, "nodes => nodes.map(n => n.textContent)")


def snapshot(dirs) -> dict[str, float]:
    folders = (dirs.figures, dirs.results, dirs.reports)
    return {str(p): p.stat().st_mtime for folder in folders if folder.exists() for p in folder.rglob("*")}


def screenshots(page, notebook: Path) -> None:
    """What a Lab user sees: the first outputs (where the run writes, what it costs), and the first figure."""
    news = page.locator(".Toastify__toast").get_by_role("button", name="No", exact=True)
    if news.count():  # Lab's first-start question about Jupyter news: answered, so it covers nothing
        news.first.click()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    views = ((notebook.stem, ".jp-OutputArea-output"), (f"{notebook.stem}-figure", ".jp-OutputArea-output img"),
             (f"{notebook.stem}-training", '.jp-OutputArea-output:has-text("training ")'))
    for name, target in views:
        found = page.locator(target)
        if found.count():
            found.first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)  # Lab renders the cells scrolled into view after the scroll
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@pytest.mark.slow
@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_runs_in_jupyterlab_from_the_run_menu(lab, page, notebook):
    committed = snapshot(committed_dirs())
    page.set_viewport_size({"width": 1400, "height": 900})
    open_from_file_browser(page, lab, notebook, f"test-{notebook.stem}")
    kernelspec = nbformat.read(notebook, as_version=4).metadata["kernelspec"]
    page.locator(".jp-NotebookPanel-toolbar .jp-Toolbar-kernelName", has_text=kernelspec["display_name"]
                 ).wait_for(timeout=30_000)  # Lab started the notebook's own kernel, and asked nothing
    assert page.locator(".jp-Dialog").count() == 0, "Lab asked the user to pick a kernel"
    session = session_of(lab, notebook)
    assert session["kernel"]["name"] == kernelspec["name"]
    try:
        run_all_from_the_menu(page)
        seconds = wait_until_idle(page, lab, session["kernel"]["id"])
        texts = output_texts(page)
        errors = page.evaluate(ERRORS_JS)
        assert not errors, f"{notebook.name}: cells show errors in Lab: {errors}"
        first = texts[0] if texts else ""
        # The kernel is this checkout's (its folders are), and its first output says where it writes.
        assert "This notebook writes into" in first and str(PROJECT_ROOT / "runs" / "smoke") in first, first
        if "save_figure(" in notebook.read_text(encoding="utf-8"):
            shown = page.eval_on_selector_all(".jp-OutputArea-output img",
                                              "images => images.filter(i => i.complete && i.naturalWidth > 0).length")
            assert shown >= 1, f"{notebook.name} draws figures but Lab shows none"
        long = [text for text in texts if text.count("\n") >= MAX_OUTPUT_LINES]
        assert not long, f"{notebook.name}: an output of {long[0].count(chr(10)) + 1} lines: {long[0][:1500]}"
        screenshots(page, notebook)
        print(f"{notebook.name}: Run All took {seconds:.0f} s in Lab")
    finally:
        lab.api(f"sessions/{session['id']}", method="DELETE")  # the kernel ends, and with it its folder lock
    assert snapshot(committed_dirs()) == committed, "a Lab run changed the committed products"
