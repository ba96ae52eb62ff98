"""`make demo`/`make test` set up .venv themselves; an interrupted install must recover, not fail forever.
Slow (a real install of the pinned toolchain, ~2-4 minutes and ~6 GB each): `pytest -m slow tests/test_install.py`."""
import shutil
import subprocess

import pytest

from conftest import ROOT


def _project_copy(tmp_path):
    project = tmp_path / "project"
    for name in ("settings.ini", "setup.py", "README.md", "LICENSE", "ftkit", "tools"):
        src = ROOT / name
        (shutil.copytree(src, project / name) if src.is_dir() else shutil.copy(src, project / name))
    return project


def _install(project, timeout=None):
    command = ["bash", "tools/install.sh"]
    if timeout:
        command = ["timeout", "--signal=KILL", str(timeout)] + command
    return subprocess.run(command, cwd=project, capture_output=True, text=True)


def _works(project) -> bool:
    return subprocess.run([project / ".venv/bin/python", "-c", "import ftkit, fastai.vision.all, nbdev, timm"],
                          cwd=project, capture_output=True).returncode == 0


@pytest.mark.slow
def test_interrupted_install_recovers(tmp_path):
    project = _project_copy(tmp_path)
    killed = _install(project, timeout=40)  # killed mid-install: half-built venv, no stamp
    assert killed.returncode != 0 and not (project / ".venv/.ftkit-installed").exists()
    finished = _install(project)
    assert finished.returncode == 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    assert (project / ".venv/.ftkit-installed").exists() and _works(project)
    again = _install(project)  # up to date: returns at once, installs nothing
    assert again.returncode == 0 and "installing" not in again.stdout


@pytest.mark.slow
def test_broken_interpreter_is_rebuilt(tmp_path):
    project = _project_copy(tmp_path)
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to("/nonexistent/python3")  # a venv whose interpreter is gone
    result = _install(project)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "rebuilding it from scratch" in result.stdout and _works(project)
