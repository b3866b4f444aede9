"""The Makefile's targets as a user meets them: JupyterLab as root, and an environment that belongs to
another checkout."""

import os
import subprocess

from kmnist_utils.core.paths import PROJECT_ROOT


def make(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60)


def test_make_lab_runs_as_root_where_the_user_is_root():
    # Jupyter refuses root without --allow-root; CI and many containers run as root.
    command = make("-n", "lab", "VENV=.venv").stdout
    assert "jupyter lab" in command
    assert ("--allow-root" in command) == (os.getuid() == 0)


def fake_environment(folder, owner: str):
    """A stand-in environment whose kmnist_utils comes from ``owner``, and which notes any pip install."""
    (folder / "bin").mkdir(parents=True)
    python = folder / "bin" / "python"
    python.write_text(f"""#!/bin/sh
case "$*" in
  *"pip --version"*) exit 0 ;;
  *"pip install"*) echo "$*" >> "{folder}/installs"; exit 0 ;;
  *) echo "{owner}" ;;
esac
""")
    python.chmod(0o755)
    return python


def test_an_environment_of_another_checkout_is_not_re_pointed(tmp_path):
    venv = tmp_path / "venv"
    fake_environment(venv, "/somewhere/first-clone")
    result = make("venv", f"VENV={venv}")
    assert result.returncode != 0
    assert "installed from /somewhere/first-clone, not from this checkout" in result.stdout
    assert not (venv / "installs").exists(), "pip installed into another checkout's environment"


def test_an_environment_of_this_checkout_is_updated(tmp_path):
    venv = tmp_path / "venv"
    fake_environment(venv, str(PROJECT_ROOT.resolve()))
    result = make("venv", f"VENV={venv}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "-e .[test]" in (venv / "installs").read_text()
