"""Notebook hygiene: size, clean metadata, no machine-specific paths or stray warnings in stored outputs, and the
package in sync with the notebooks (nbdev_export leaves ftkit/ unchanged)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BIN, ROOT

NOTEBOOKS = sorted((ROOT / "nbs").rglob("*.ipynb"))
NOTEBOOKS = [nb for nb in NOTEBOOKS if ".ipynb_checkpoints" not in nb.parts]
MAX_BYTES = 1_000_000
ABSOLUTE_PATH = re.compile(r"(/root/|/home/[A-Za-z0-9_.-]+/|/Users/[A-Za-z0-9_.-]+/|/tmp/|/work/|[A-Z]:\\\\Users\\\\)")
WARNING = re.compile(r"\b\w*Warning\b|warnings\.warn")


def _outputs(nb_path: Path):
    for index, cell in enumerate(json.loads(nb_path.read_text(encoding="utf-8"))["cells"]):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")] + [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            for text in texts:
                yield index, output, "".join(text) if isinstance(text, list) else text


def test_there_are_notebooks():
    assert {"index.ipynb", "00_core.ipynb"} <= {nb.name for nb in NOTEBOOKS}


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_size(nb_path):
    size = nb_path.stat().st_size
    assert size <= MAX_BYTES, f"{nb_path.name} is {size:,} bytes (> 1 MB): keep outputs small (fewer/smaller plots, less printing)"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_absolute_paths_or_warnings_in_outputs(nb_path):
    problems = []
    for index, output, text in _outputs(nb_path):
        if ABSOLUTE_PATH.search(text):
            problems.append(f"cell {index}: machine-specific path {ABSOLUTE_PATH.search(text).group(0)!r}")
        if output.get("name") == "stderr" or WARNING.search(text):
            problems.append(f"cell {index}: a warning or stderr output: {text.strip()[:120]!r}")
    assert not problems, f"{nb_path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(nb_path, tmp_path):
    "nbdev_clean would not change the notebook (no execution counts, stray metadata, widget state)."
    copy = tmp_path / nb_path.name
    shutil.copy(nb_path, copy)
    subprocess.run([BIN / "nbdev_clean", "--fname", str(copy)], check=True, cwd=ROOT, capture_output=True)
    assert json.loads(copy.read_text()) == json.loads(nb_path.read_text()), \
        f"{nb_path.name} is not clean: run `nbdev_clean` (the pre-commit hook from `make test` does it on commit)"


def test_package_in_sync_with_notebooks(tmp_path):
    "nbdev_export into a copy of the project leaves ftkit/ exactly as committed."
    project = tmp_path / "project"
    project.mkdir()
    for name in ("settings.ini", "setup.py", "nbs", "ftkit"):
        src = ROOT / name
        (shutil.copytree(src, project / name, symlinks=True) if src.is_dir() else shutil.copy(src, project / name))
    subprocess.run([BIN / "nbdev_export"], check=True, cwd=project, capture_output=True)
    def files(folder):
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.py") if "__pycache__" not in p.parts}
    exported, committed = files(project / "ftkit"), files(ROOT / "ftkit")
    stale = sorted(str(p) for p in exported.keys() | committed.keys() if exported.get(p) != committed.get(p))
    assert not stale, f"ftkit/ is out of sync with nbs/ in {stale}: run `nbdev_export` and commit"


def test_readme_in_sync_with_index():
    result = subprocess.run([BIN / "python", ROOT / "tools" / "build_readme.py", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_quarto_yml_single_source():
    "nbdev reads nbs/_quarto.yml; it must be the top-level _quarto.yml, not a copy that can drift."
    link = ROOT / "nbs" / "_quarto.yml"
    assert link.is_symlink() and link.resolve() == (ROOT / "_quarto.yml").resolve()


def test_hygiene_checks_can_fail(tmp_path):
    "The path and warning detectors really detect (a check that cannot fail is no check)."
    nb = {"cells": [{"cell_type": "code", "source": "x", "metadata": {}, "outputs": [
        {"output_type": "stream", "name": "stdout", "text": "saved to /root/cache/x.pt\n"},
        {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"}]}]}
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(AssertionError, match="machine-specific path.*stderr output"):
        test_no_absolute_paths_or_warnings_in_outputs(path)
